"""A rep logs a deal from creation to a win on a phone, only through the UI; the timeline
shows every visit with its time in step. Real Chromium at 390×844, live server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from funnel.models import Deal, DealStatus
from vsm_project.demo import DEMO_PASSWORD

from .conftest import DESKTOP, PHONE, fits_width, login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def local(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M")


def act_earlier(page: Page, form_id: str, when: datetime) -> None:
    """Open the form's "Earlier than now?" panel, type the time and submit the form."""
    form = page.locator(f"#{form_id}")
    form.locator("details.when summary").click()
    form.get_by_label("When it happened").fill(local(when))


@pytest.fixture
def phone(browser, live_server):
    # UTC in the browser, so a typed local time is the UTC time we check against.
    context = browser.new_context(
        base_url=live_server.url,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        timezone_id="UTC",
    )
    yield context.new_page()
    context.close()


def test_a_rep_logs_a_deal_through_four_steps_a_rework_and_a_win(phone, demo):
    page = phone
    # Ten days ago on the hour: every duration below is worked out from this instant.
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=10)
    login(page, "alice", DEMO_PASSWORD)
    page.goto("/deals/")

    page.get_by_role("link", name="New deal").click()
    page.get_by_label("Deal name").fill("Globex expansion")
    page.get_by_label("Account").fill("Globex")
    page.get_by_label("Amount").fill("48000")
    page.get_by_label("Starts at step").select_option(label="1. Lead capture")
    page.get_by_label("Started").fill(local(t0))
    page.get_by_role("button", name="Create deal").click()
    expect(page.locator(".now-at")).to_contain_text("Lead capture")

    def next_step(label: str, when: datetime) -> None:
        act_earlier(page, "next-form", when)
        page.get_by_role("button", name=f"Move to {label} →").click()
        expect(page.locator(".messages")).to_contain_text(f"Moved to {label}.")

    next_step("Lead nurturing", t0 + timedelta(hours=2))  # Lead capture: 2 h
    page.get_by_role("button", name="30 min").click()  # work logged on Lead nurturing
    expect(page.locator(".messages")).to_contain_text("Logged 30 min on Lead nurturing")
    next_step("Qualification call", t0 + timedelta(days=1, hours=2))  # nurturing: 1 d
    next_step("Discovery meeting", t0 + timedelta(days=1, hours=5))  # qualification: 3 h

    # Rework: sent back to nurturing from discovery, a day later.
    page.get_by_text("Move to another step, or send back").click()
    step = page.get_by_label("Step", exact=True)
    step.select_option(label="2. Lead nurturing (send back: rework)")
    act_earlier(page, "move-form", t0 + timedelta(days=2, hours=5))  # discovery: 1 d
    page.locator("#move-form").get_by_role("button", name="Move").click()
    expect(page.locator(".now-at")).to_contain_text("Lead nurturing")

    next_step("Qualification call", t0 + timedelta(days=3, hours=5))  # nurturing again: 1 d
    act_earlier(page, "won-form", t0 + timedelta(days=3, hours=9))  # qualification again: 4 h
    page.get_by_role("button", name="Won…", exact=True).click()
    dialog = page.get_by_role("dialog", name="Mark “Globex expansion” as Won?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Yes, mark as won").click()
    expect(page.locator("h1 .badge")).to_have_text("Won")
    expect(page.get_by_role("heading", name="Quick actions")).to_have_count(0)

    entries = page.locator(".timeline li.visit")
    expect(entries).to_have_count(6)
    assert entries.locator(".step").all_inner_texts() == [
        "Lead capture",
        "Lead nurturing",
        "Qualification call",
        "Discovery meeting",
        "Lead nurturing",
        "Qualification call",
    ]
    assert entries.locator(".duration").all_inner_texts() == [
        "2 h",
        "1 d",
        "3 h",
        "1 d",
        "1 d",
        "4 h",
    ]
    assert [i for i in range(6) if "rework" in (entries.nth(i).get_attribute("class") or "")] == [
        4,
        5,
    ]
    expect(entries.nth(1).locator(".work")).to_have_text("30 min of work")
    assert fits_width(page)
    save_screenshot(page, "deal-won-timeline-390x844")

    deal = Deal.objects.get(name="Globex expansion")
    assert (deal.status, deal.closed_at) == (DealStatus.WON, t0 + timedelta(days=3, hours=9))
    assert deal.owner.username == "alice"


def test_refused_actions_say_why_next_to_the_field(phone, demo):
    page = phone
    login(page, "alice", DEMO_PASSWORD)
    deal = Deal.objects.filter(
        owner__username="alice", status=DealStatus.OPEN, visits__exited_at__isnull=True
    ).first()
    page.goto(f"/deals/{deal.pk}/")
    # A move dated in the future is refused and nothing moves.
    act_earlier(page, "next-form", datetime.now(UTC) + timedelta(days=2))
    page.locator("#next-form button[type=submit]").click()
    expect(page.locator("#next-at-error")).to_contain_text("in the future")
    # Lost without a reason is refused with a message on the reason field.
    page.get_by_role("button", name="Lost…", exact=True).click()
    expect(page.locator("#lost-reason-error")).to_contain_text("Say why")
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    assert deal.visits.filter(exited_at__isnull=True).count() == 1


def test_a_rep_cannot_act_on_another_reps_deal(phone, demo):
    page = phone
    login(page, "alice", DEMO_PASSWORD)
    bobs = Deal.objects.filter(owner__username="bob", status=DealStatus.OPEN).first()
    page.goto("/deals/")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"/deals/{bobs.pk}/close/",
        form={"outcome": "won"},
        headers={"X-CSRFToken": csrf, "Referer": page.url},
    )
    assert response.status == 404
    bobs.refresh_from_db()
    assert bobs.status == DealStatus.OPEN


# --- Confirm, undo, reopen ------------------------------------------------------------------


def _open_deal_of(username: str) -> Deal:
    return (
        Deal.objects.filter(
            owner__username=username, status=DealStatus.OPEN, visits__exited_at__isnull=True
        )
        .order_by("pk")
        .first()
    )


@pytest.mark.parametrize("viewport", ["phone", "laptop"])
def test_a_rep_closes_a_deal_as_won_through_the_confirmation_and_undoes_it(
    browser, live_server, demo, viewport
):
    size = PHONE if viewport == "phone" else DESKTOP
    context = browser.new_context(
        base_url=live_server.url, viewport=size, is_mobile=viewport == "phone"
    )
    page = context.new_page()
    deal = _open_deal_of("alice")
    step = deal.visits.get(exited_at__isnull=True).step.name
    login(page, "alice", DEMO_PASSWORD)
    page.goto(f"/deals/{deal.pk}/")
    save_screenshot(page, f"deal-page-{viewport}")

    # A mis-tap asks first; cancelling (or Escape) changes nothing.
    page.get_by_role("button", name="Won…").click()
    dialog = page.get_by_role("dialog", name=f"Mark “{deal.name}” as Won?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("You can undo it for 10 minutes.")
    expect(dialog.get_by_role("button", name="Yes, mark as won")).to_be_focused()
    save_screenshot(page, f"deal-confirm-won-{viewport}")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Won…").click()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN

    page.get_by_role("button", name="Won…").click()
    dialog.get_by_role("button", name="Yes, mark as won").click()
    expect(page.locator("h1 .badge")).to_have_text("Won")
    expect(page.locator(".messages")).to_contain_text("You can undo this for 10 minutes.")
    expect(page.locator(".undo-left")).to_contain_text("min left")
    expect(page.locator(".timeline li.event-closed")).to_contain_text("Closed as Won")
    save_screenshot(page, f"deal-undo-{viewport}")

    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".messages")).to_contain_text(f"the deal is open again at {step}")
    expect(page.locator("h1 .badge")).to_have_text("Open")
    expect(page.locator(".now-at")).to_contain_text(step)
    expect(page.locator(".timeline li.event")).to_have_count(2)
    expect(page.locator(".timeline li.event-undone")).to_contain_text("Close undone")
    assert fits_width(page)
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.closed_at is None
    context.close()


def test_without_javascript_a_close_is_confirmed_on_a_page_of_its_own(browser, live_server, demo):
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, java_script_enabled=False
    )
    page = context.new_page()
    deal = _open_deal_of("alice")
    login(page, "alice", DEMO_PASSWORD)
    page.goto(f"/deals/{deal.pk}/")
    page.get_by_label("Lost, because…").fill("Chose a competitor")
    page.get_by_role("button", name="Lost…").click()
    expect(page.get_by_role("heading", name=f"Mark “{deal.name}” as Lost?")).to_be_visible()
    expect(page.locator(".confirm-close")).to_contain_text("Lost: Chose a competitor")
    save_screenshot(page, "deal-confirm-page-390x844")
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    page.get_by_role("button", name="Yes, mark as lost").click()
    expect(page.locator("h1 .badge")).to_have_text("Lost")
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason) == (DealStatus.LOST, "Chose a competitor")
    context.close()


def test_a_manager_reopens_a_lost_deal_with_a_reason_and_sees_it_in_the_timeline(page, demo):
    lost = Deal.objects.filter(status=DealStatus.LOST).order_by("pk").first()
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/deals/")
    page.get_by_label("Status").select_option(label="Lost")
    page.get_by_label("Search").fill(lost.name)
    page.get_by_role("button", name="Show deals").click()
    page.get_by_role("link", name=lost.name, exact=True).click()

    page.get_by_role("button", name="Reopen deal").click()  # no reason: refused, said why
    expect(page.locator("#id_reason_error")).to_contain_text("required")
    page.get_by_label("Why reopen it?").fill("The customer found budget after all")
    page.get_by_role("button", name="Reopen deal").click()
    expect(page.locator("h1 .badge")).to_have_text("Open")
    reopened = page.locator(".timeline li.event-reopened")
    expect(reopened).to_contain_text("Reopened")
    expect(reopened).to_contain_text(f"was lost: {lost.lost_reason}")
    expect(reopened).to_contain_text("“The customer found budget after all”")
    expect(reopened).to_contain_text("Morgan Reyes")
    save_screenshot(page, "deal-reopened-1440x900")
    lost.refresh_from_db()
    assert lost.status == DealStatus.OPEN


# --- The deals list -------------------------------------------------------------------------


def test_the_deals_list_searches_filters_and_pages_on_a_laptop(page, demo):
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/deals/")
    table = page.locator("table.deal-table")
    expect(table.locator("thead th").first).to_be_visible()
    page.get_by_label("Status").select_option(label="Any status")
    page.get_by_role("button", name="Show deals").click()
    # The demo's deals and its leads (demo_leads: six per deal), 25 a page.
    cases = Deal.objects.count()
    expect(page.locator(".pager")).to_contain_text(f"Page 1 of {-(-cases // 25)}")
    expect(table.locator("tbody tr")).to_have_count(25)
    page.get_by_role("link", name="Next →").click()
    assert "status=all" in page.url and "page=2" in page.url
    expect(table.locator("tbody tr")).to_have_count(min(25, cases - 25))
    save_screenshot(page, "deal-list-1440x900")

    deal = Deal.objects.exclude(account="").order_by("pk").first()
    page.get_by_label("Search").fill(deal.account)
    page.get_by_role("button", name="Show deals").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text(deal.name)
    assert "page=" not in page.url  # a new search starts at its first page

    page.get_by_label("Search").fill("no such deal")
    page.get_by_role("button", name="Show deals").click()
    expect(page.get_by_role("heading", name="No deals match “no such deal”")).to_be_visible()
    page.get_by_role("link", name="Clear filters").first.click()
    expect(table.locator("tbody tr").first).to_be_visible()


def test_the_deals_list_is_cards_on_a_phone_and_filters_by_step_and_stalled(phone_page, demo):
    page = phone_page
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/deals/")
    rows = page.locator("table.deal-table tbody tr")
    assert rows.first.evaluate("row => getComputedStyle(row).display") == "block"
    expect(page.locator("table.deal-table thead")).to_have_css("position", "absolute")
    assert fits_width(page)
    save_screenshot(page, "deal-list-390x844")

    page.get_by_label("At step").select_option(label="3. Qualification call")
    page.get_by_label("Only stalled deals").check()
    page.get_by_role("button", name="Show deals").click()
    assert "stalled=on" in page.url and "step=" in page.url
    # The URL changes when the navigation commits, before the new list is parsed: wait for
    # either the rows or the empty state of the new page before counting.
    expect(page.locator("table.deal-table tbody tr, .empty-state").first).to_be_visible()
    expected = Deal.objects.filter(
        status=DealStatus.OPEN,
        visits__exited_at__isnull=True,
        visits__step__name="Qualification call",
    ).count()
    if page.locator(".empty-state").count():
        expect(page.locator(".empty-state")).to_contain_text("Clear filters")
    else:
        assert 0 < rows.count() <= expected
        for text in rows.locator("td[data-label=Step]").all_inner_texts():
            assert "Qualification call" in text and "Stalled" in text
    expect(page.get_by_label("Only stalled deals")).to_be_checked()  # filters kept in the URL
