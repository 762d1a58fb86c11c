"""The leads pages in real Chromium: an SDR accepts and rejects leads on a phone (390×844), a
seller pulls the next lead, a manager sees a breach on the hand-off board and disqualifies a
lead through the dialog, and a manager sets up the waterfall from a preset. Nothing sticks out
sideways at either size; screenshots go to artifacts/screenshots/leads-*.png."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import Page, expect

from funnel.eventlog.services import deal_create, deal_move
from funnel.leads.models import Handoff, HandoffDecision, Side
from funnel.leads.setup import HandoffSpec, seller_limit_set, waterfall_save
from funnel.models import DealStatus
from streams.models import Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import PASSWORD, MembershipFactory, TeamFactory, UserFactory

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STEPS = [
    ("Capture", "Marketing"),
    ("Nurture", "Marketing"),
    ("MQL review", "SDR"),
    ("Qualify", "SDR"),
    ("SQL queue", "Sales"),
    ("Discovery", "Sales"),
]


def _team(*, waterfall: bool = True) -> SimpleNamespace:
    ns = SimpleNamespace()
    ns.team = TeamFactory(name="Northwind")
    for name, first, role in [
        ("morgan", "Morgan", Role.MANAGER),
        ("sam", "Sam", Role.REP),  # an SDR
        ("sofia", "Sofia", Role.REP),  # a seller
        ("vivian", "Vivian", Role.LEADERSHIP),
    ]:
        user = UserFactory(username=name, first_name=first, last_name="Lee")
        MembershipFactory(user=user, team=ns.team, role=role)
        setattr(ns, name, user)
    ns.stream = stream_create(
        team=ns.team,
        name="Inbound",
        lanes=[LaneSpec("Marketing"), LaneSpec("SDR"), LaneSpec("Sales")],
        steps=[StepSpec(name=name, lane=lane) for name, lane in STEPS],
    )
    ns.steps = {s.name: s for s in ns.stream.steps.all()}
    if waterfall:
        waterfall_save(
            stream=ns.stream,
            user=ns.morgan,
            preset="sirius_2006",
            inquiry_stage="Inquiry",
            won_stage="Won",
            recycle_step=ns.steps["Nurture"],
            handoffs=[
                HandoffSpec(
                    ns.steps["MQL review"], "MQL", Side.MARKETING, Side.SDR, "SAL", 60, 240
                ),
                HandoffSpec(
                    ns.steps["SQL queue"],
                    "SQL",
                    Side.SDR,
                    Side.SALES,
                    "Opportunity",
                    480,
                    pull=True,
                ),
            ],
        )
        seller_limit_set(stream=ns.stream, user=ns.morgan, seller=ns.sofia, wip_limit=3)
    return ns


@transaction.atomic  # one metrics recompute (eager Celery) per lead, not one per write
def _lead(ns: SimpleNamespace, name: str, *path: str, ago: timedelta):
    """A case created at ``path[0]`` and moved along the rest, arriving at the last step
    ``ago`` before now (each earlier step an hour before); returns its open visit."""
    arrived = timezone.now() - ago
    times = [arrived - timedelta(hours=len(path) - 1 - i) for i in range(len(path))]
    deal = deal_create(
        stream=ns.stream, name=name, created_at=times[0], first_step=ns.steps[path[0]]
    )
    for step, moment in zip(path[1:], times[1:], strict=True):
        deal_move(deal=deal, step=ns.steps[step], at=moment)
    return deal.visits.get(exited_at__isnull=True)


def _fits(page: Page, width: int) -> None:
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_an_sdr_accepts_and_rejects_leads_with_one_tap_on_a_phone(phone_page, live_server):
    page = phone_page
    ns = _team()
    first = _lead(ns, "Contoso trial", "Capture", "MQL review", ago=timedelta(hours=3))
    second = _lead(ns, "Fabrikam webinar", "Capture", "MQL review", ago=timedelta(minutes=20))
    login(page, "sam", PASSWORD)
    page.goto(f"/streams/{ns.stream.slug}/")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="Hand-off board").click()
    expect(page.get_by_role("heading", name="Hand-off board", level=1)).to_be_visible()
    old = page.locator(f"#arrival-{first.pk}")
    expect(old).to_have_class("arrival breached")
    expect(old.locator(".badge-breach")).to_contain_text("Breached by 2 h")
    _fits(page, 390)
    save_screenshot(page, "leads-board-phone")

    accept = old.get_by_role("button", name="Accept Contoso trial")
    box = accept.bounding_box()
    assert box and box["height"] >= 44 and box["width"] >= 300  # a full-width thumb target
    with page.expect_navigation():
        accept.tap()
    expect(page.locator(".messages")).to_contain_text("Accepted “Contoso trial”: it is SAL now.")
    assert HandoffDecision.objects.get(visit=first).kind == "accept"

    row = page.locator(f"#arrival-{second.pk}")
    row.locator("summary", has_text="Reject").tap()
    row.get_by_label("Note (optional)").first.fill("Bounced email")
    reasons = row.get_by_role("group", name="Reject “Fabrikam webinar” because…")
    _fits(page, 390)
    save_screenshot(page, "leads-board-reject-phone")
    with page.expect_navigation():
        reasons.get_by_role("button", name="Wrong contact").tap()
    expect(page.locator(".messages")).to_contain_text(
        "Rejected “Fabrikam webinar” (Wrong contact): it is back at Capture."
    )
    expect(page.get_by_role("heading", name="Nothing waiting")).to_be_visible()
    decision = HandoffDecision.objects.get(visit=second)
    assert (decision.kind, decision.reason.label, decision.note, decision.actor) == (
        "reject",
        "Wrong contact",
        "Bounced email",
        ns.sam,
    )


def test_a_seller_pulls_the_next_lead(browser, live_server):
    ns = _team()
    oldest = _lead(
        ns, "Adatum rollout", "Capture", "MQL review", "SQL queue", ago=timedelta(hours=2)
    )
    _lead(ns, "Litware pilot", "Capture", "MQL review", "SQL queue", ago=timedelta(minutes=30))
    for size, name in (({"width": 1440, "height": 900}, "desktop"), (None, "phone")):
        context = browser.new_context(
            base_url=live_server.url,
            viewport=size or {"width": 390, "height": 844},
            is_mobile=size is None,
            has_touch=size is None,
        )
        page = context.new_page()
        login(page, "sofia", PASSWORD)
        page.goto(f"/streams/{ns.stream.slug}/queue/")
        expect(page.locator(".wip-line")).to_contain_text("0 of 3 open deals you own")
        rows = page.locator(".queue-table tbody tr")
        expect(rows.first).to_contain_text("Adatum rollout")
        _fits(page, 1440 if size else 390)
        save_screenshot(page, f"leads-queue-{name}")
        if size is None:
            with page.expect_navigation():
                page.get_by_role("button", name="Pull next lead").tap()
            expect(page.locator(".messages")).to_contain_text(
                "You pulled “Adatum rollout”: it is yours now."
            )
            page.goto(f"/streams/{ns.stream.slug}/queue/")
            expect(page.locator(".wip-line")).to_contain_text("1 of 3 open deals you own")
            expect(rows).to_have_count(1)
            # At the limit, the server refuses and the page says why.
            seller_limit_set(stream=ns.stream, user=ns.morgan, seller=ns.sofia, wip_limit=1)
            page.reload()
            with page.expect_navigation():
                page.get_by_role("button", name="Pull next lead").tap()
            expect(page.locator(".pull-refused")).to_contain_text(
                "Not pulled: Sofia Lee owns 1 open deals and the limit is 1"
            )
            expect(page.locator(".pull-refused")).to_be_focused()
            _fits(page, 390)
            save_screenshot(page, "leads-queue-refused-phone")
        context.close()
    oldest.deal.refresh_from_db()
    assert oldest.deal.owner == ns.sofia
    assert HandoffDecision.objects.get(visit=oldest).actor == ns.sofia


def test_a_manager_sees_a_breach_and_disqualifies_a_lead_after_confirming(page, live_server):
    ns = _team()
    late = _lead(ns, "Tailspin expo", "Capture", "MQL review", ago=timedelta(hours=5))
    _lead(ns, "Wingtip download", "Capture", "MQL review", ago=timedelta(minutes=5))
    _lead(ns, "Proseware referral", "Capture", "SQL queue", ago=timedelta(hours=1))
    login(page, "morgan", PASSWORD)
    page.goto(f"/streams/{ns.stream.slug}/handoffs/")
    expect(page.locator("#board-summary")).to_contain_text("3 waiting, 1 past the SLA")
    row = page.locator(f"#arrival-{late.pk}")
    expect(row).to_have_class("arrival breached escalated")
    expect(row.locator(".badge-breach")).to_contain_text("Breached by 4 h")  # 5 h − 1 h SLA
    expect(row.locator(".badge-escalated")).to_have_text("Escalated to the managers")
    # A wall screen may reload the board every minute; off until asked for.
    refresh = page.get_by_role("button", name="Refresh every minute")
    expect(refresh).to_have_attribute("aria-pressed", "false")
    refresh.click()
    expect(refresh).to_have_attribute("aria-pressed", "true")
    _fits(page, 1440)
    save_screenshot(page, "leads-board-desktop")
    refresh.click()

    mql = Handoff.objects.get(stream=ns.stream, offered_stage="MQL")
    page.get_by_role("link", name="MQL at MQL review (2)").click()
    expect(page.locator(".board-table tbody tr")).to_have_count(2)

    row = page.locator(f"#arrival-{late.pk}")
    row.locator("summary", has_text="Disqualify").click()
    row.get_by_role("button", name="Spam or fake contact").click()
    dialog = page.get_by_role("dialog", name="Disqualify “Tailspin expo”?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("because “Spam or fake contact”")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert not HandoffDecision.objects.exists()
    row.get_by_role("button", name="Spam or fake contact").click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Yes, disqualify “Tailspin expo”").click()
    expect(page.locator(".messages")).to_contain_text("the case is closed as lost")
    assert page.url.endswith(f"?handoff={mql.pk}")
    late.deal.refresh_from_db()
    assert (late.deal.status, late.deal.lost_reason) == (DealStatus.LOST, "Spam or fake contact")


def test_a_manager_sets_up_the_waterfall_from_a_preset(page, browser, live_server):
    ns = _team(waterfall=False)
    login(page, "morgan", PASSWORD)
    page.goto(f"/streams/{ns.stream.slug}/handoffs/")
    expect(page.get_by_role("heading", name="No lead waterfall yet")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("link", name="Set up the waterfall").click()
    page.get_by_label("Sirius 2012").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Fill in these stages").click()
    page.get_by_label("Sirius 2006").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Fill in these stages").click()
    first = page.get_by_role("group", name="Hand-off 1: MQL")
    second = page.get_by_role("group", name="Hand-off 2: SQL")
    expect(first.get_by_label("Offered as")).to_have_value("MQL")
    first.get_by_label("At step").select_option(label="3. MQL review (SDR)")
    first.get_by_label("SLA", exact=True).fill("4 weeks")
    second.get_by_label("At step").select_option(label="5. SQL queue (Sales)")
    second.get_by_label("SLA", exact=True).fill("1 day")
    page.get_by_label("Recycled leads go to").select_option(label="2. Nurture (Marketing)")
    with page.expect_navigation():
        page.get_by_role("button", name="Save the waterfall").click()
    # Refused, and said next to the field (and in the summary), nothing saved.
    sla = page.get_by_role("group", name="Hand-off 1: MQL").get_by_label("SLA", exact=True)
    expect(sla).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_handoff-0-sla_error")).to_contain_text("“weeks” is not a unit")
    assert not Handoff.objects.exists()
    save_screenshot(page, "leads-setup-error-desktop")
    sla.fill("4 hours")
    page.get_by_role("group", name="Hand-off 1: MQL").get_by_label("Tell the managers after").fill(
        "1 day"
    )
    page.get_by_role("group", name="Hand-off 2: SQL").get_by_label("Tell the managers after").fill(
        "2 days"
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Save the waterfall").click()
    expect(page.locator(".messages")).to_contain_text(
        "Waterfall saved: Inquiry → MQL → SAL → SQL → Opportunity → Won."
    )
    mql, sql = Handoff.objects.filter(stream=ns.stream).order_by("position")
    assert (mql.step.name, mql.sla_minutes, mql.escalate_minutes) == ("MQL review", 240, 480)
    assert (sql.step.name, sql.sla_minutes, sql.escalate_minutes, sql.pull) == (
        "SQL queue",
        480,
        960,
        True,
    )
    page.get_by_label("WIP limit for Sofia Lee").fill("4")
    with page.expect_navigation():
        page.get_by_role("button", name="Save the limit of Sofia Lee").click()
    expect(page.locator(".messages")).to_contain_text("Sofia Lee may own 4 open deals.")
    _fits(page, 1440)
    save_screenshot(page, "leads-setup-desktop")

    phone = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    small = phone.new_page()
    login(small, "morgan", PASSWORD)
    small.goto(f"/streams/{ns.stream.slug}/leads/setup/")
    _fits(small, 390)
    save_screenshot(small, "leads-setup-phone")
    phone.close()


CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_the_leads_pages_break_no_content_security_policy(page, live_server):
    """No inline script or style: the policy reports nothing on the three pages, and the
    board's script runs (its refresh button is shown by it)."""
    ns = _team()
    _lead(ns, "Northwind trial", "Capture", "MQL review", ago=timedelta(hours=2))
    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.add_init_script(CSP_WATCH)
    login(page, "morgan", PASSWORD)
    for path in ("handoffs/", "queue/", "leads/setup/"):
        response = page.goto(f"/streams/{ns.stream.slug}/{path}")
        assert response is not None and response.status == 200
        assert response.headers.get("content-security-policy")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__csp") == [] and console == [], path
        if path == "handoffs/":
            expect(page.get_by_role("button", name="Refresh every minute")).to_be_visible()


def test_the_keyboard_turns_a_lead_down_and_enter_in_the_note_sends_nothing(page, live_server):
    ns = _team()
    visit = _lead(ns, "Keyboard lead", "Capture", "MQL review", ago=timedelta(minutes=15))
    login(page, "sam", PASSWORD)
    page.goto(f"/streams/{ns.stream.slug}/handoffs/")
    row = page.locator(f"#arrival-{visit.pk}")
    row.get_by_role("button", name="Accept Keyboard lead").focus()
    page.keyboard.press("Tab")  # to "Reject…"
    page.keyboard.press("Enter")  # opens it
    note = row.locator(f"#note-reject-{visit.pk}")
    expect(note).to_be_visible()
    page.keyboard.press("Tab")
    expect(note).to_be_focused()
    page.keyboard.type("Asked to call back")
    page.keyboard.press("Enter")  # the form's default button is disabled: nothing is sent
    page.wait_for_timeout(300)
    assert not HandoffDecision.objects.exists()
    page.keyboard.press("Tab")  # the first reason
    expect(row.get_by_role("button", name="Not enough information")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    decision = HandoffDecision.objects.get(visit=visit)
    assert (decision.kind, decision.reason.label, decision.note) == (
        "reject",
        "Not enough information",
        "Asked to call back",
    )
