"""The Leads dashboard in Chromium, on a small real log computed by the real job (eager
Celery inside the live server's request): twelve leads over the last five weeks through a
Sirius 2006 waterfall (MQL → SAL, SQL → Opportunity pulled by sellers), accepted, rejected,
recycled, disqualified, pulled and left waiting. A manager reads the page at 1440x900 and
every section's charts are drawn by plotly.js; on a 390x844 phone the page does not scroll
sideways. Screenshots go to ``artifacts/screenshots/leads-*.png``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import Page, expect

from funnel.eventlog.services import deal_move
from funnel.leads.models import DecisionKind
from funnel.leads.services import handoff_decide, lead_pull
from tests.factories import PASSWORD
from tests.funnel.leads.conftest import build, lead

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

#: Close-ups of each section, for people checking the layout (not kept in the repository).
SHOTS = Path("/tmp/h4")
SECTIONS = ("waterfall", "handoffs", "sla", "queue", "separation", "waste")
DRAWN = (
    "waterfall",
    "flow",
    "response",
    "sla",
    "sla_week",
    "waste_summary",
    "first_touch",
    "reasons",
)


def _iso(moment) -> str:
    return moment.isoformat()


def _sections(page: Page, size: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".kpi-tiles").screenshot(path=str(SHOTS / f"leads-{size}-tiles.png"))
    page.screenshot(path=str(SHOTS / f"leads-{size}-top.png"))  # the first screenful
    for key in SECTIONS:
        section = page.locator(f"#section-{key}")
        section.screenshot(path=str(SHOTS / f"leads-{size}-{key}.png"))


@pytest.fixture
def log(transactional_db):
    """The lead stream of tests/funnel/leads/conftest.py with a few weeks of leads, written in
    one transaction: the live server sees it committed, and the stream's metrics are
    recomputed once at the commit, not after each of the 44 writes (eager Celery: 0.2 s
    each, most of this fixture's time)."""
    with transaction.atomic():
        return _log()


def _log():
    ns = build()
    now = timezone.now().replace(microsecond=0)
    for i in range(12):
        created = now - timedelta(days=35 - 3 * i, hours=2)
        offered = created + timedelta(hours=1 + i % 4)
        visit = lead(
            ns,
            ("Capture", _iso(created)),
            ("MQL", _iso(offered)),
            name=f"Lead {i + 1}",
        )
        if i == 11:
            continue  # still waiting at MQL
        decided = offered + timedelta(minutes=20 + 50 * (i % 5))
        kind = {3: DecisionKind.REJECT, 6: DecisionKind.RECYCLE, 9: DecisionKind.DISQUALIFY}
        choice = kind.get(i, DecisionKind.ACCEPT)
        reason = {
            DecisionKind.REJECT: ns.reject_reason,
            DecisionKind.RECYCLE: ns.recycle_reason,
            DecisionKind.DISQUALIFY: ns.disqualify_reason,
        }.get(choice)
        handoff_decide(visit=visit, kind=choice, user=ns.sdr, reason=reason, at=decided)
        if choice != DecisionKind.ACCEPT:
            continue
        deal = visit.deal
        deal_move(deal=deal, step=ns.steps["Qualify"], at=decided + timedelta(hours=1))
        if i % 2 == 0:
            deal_move(deal=deal, step=ns.steps["SQL"], at=decided + timedelta(days=1), actor=ns.sdr)
            if i in (0, 2):
                sql_visit = deal.visits.get(exited_at__isnull=True)
                seller = ns.seller1 if i == 0 else ns.seller2
                lead_pull(stream=ns.stream, user=seller, visit=sql_visit)
                deal_move(deal=deal, step=ns.steps["Discovery"], actor=seller)
    return ns


def test_a_manager_reads_the_leads_dashboard(page: Page, log):
    login(page, "manager", PASSWORD)
    page.goto(f"/dashboards/streams/{log.stream.slug}/funnel/")
    page.locator(".board-tabs").get_by_role("link", name="Leads").click()
    expect(page.locator("h1")).to_contain_text("Leads")
    for key in DRAWN:
        expect(page.locator(f"#chart-{key} .plot .main-svg").first).to_be_visible()
    expect(page.locator('[data-tile="created"] .kpi-value')).to_have_text("12")
    expect(page.locator("[data-verdict]")).to_be_visible()
    # Every chart says how to read it, and has its data table and CSV.
    cards = page.locator(".chart-card")
    assert cards.count() == 16
    for i in range(cards.count()):
        card = cards.nth(i)
        assert card.locator(".how").inner_text().strip()
        assert card.locator(".csv-link").get_attribute("href").split("?")[0].endswith(".csv")
    # The response histogram's data table lists the hand-off's bins.
    page.locator("#chart-response summary").click()
    expect(page.locator("#chart-response table")).to_contain_text("MQL")
    save_screenshot(page, "leads-1440x900")
    _sections(page, "1440")
    # A filter goes into the URL and the page shows that view (computed by the job).
    page.locator("#id_source").select_option("referral")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert page.url.endswith("/leads/?source=referral")  # the empty fields left out
    expect(page.locator("#leads-empty")).to_contain_text("No leads in this window")


def test_the_leads_dashboard_on_a_phone(phone_page: Page, log):
    login(phone_page, "manager", PASSWORD)
    phone_page.goto(f"/dashboards/streams/{log.stream.slug}/leads/")
    for key in DRAWN:
        expect(phone_page.locator(f"#chart-{key} .plot .main-svg").first).to_be_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    save_screenshot(phone_page, "leads-390x844")
    _sections(phone_page, "390")
