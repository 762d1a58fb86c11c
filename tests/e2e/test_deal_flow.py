"""A rep logs a deal from creation to a win on a phone, only through the UI; the timeline
shows every visit with its time in step. Real Chromium at 390×844, live server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from funnel.models import Deal, DealStatus
from vsm_project.demo import DEMO_PASSWORD

from .conftest import PHONE, login, save_screenshot

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
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
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
