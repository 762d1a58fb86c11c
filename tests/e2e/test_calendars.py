"""Working calendars in Chromium: a manager reaches the team's calendars from the home page,
sees the empty state, creates a calendar (a refused span is shown next to its weekday, with
the field marked invalid), adds a closure and sees it in the coming-weeks strip, puts a lane
on it in the map editor, with no CSP violation; leadership reads the calendar without edit
controls; the strip fits a phone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from streams.calendars.models import WorkingCalendar
from streams.calendars.services import seed_calendar
from streams.models import Lane, ValueStream
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def test_a_manager_creates_a_calendar_and_sees_its_coming_weeks(page: Page, demo):
    # The demo team works on its seeded calendar: here it starts without one.
    WorkingCalendar.objects.filter(team__streams__slug=demo.stream_slug).delete()
    page.add_init_script(WATCH)
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/")
    page.get_by_role("link", name="Working calendars").first.click()
    expect(page.locator("h1")).to_have_text("Working calendars of Acme Sales")
    expect(page.locator(".empty-state")).to_contain_text("No working calendar yet")
    page.get_by_role("link", name="Create the team's calendar").click()

    page.get_by_label("Name", exact=True).fill("Berlin office")
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_label("Public holidays of").select_option("DE")
    page.get_by_label("Monday").fill("09:00–12:00, 11:00–13:00")
    page.get_by_role("button", name="Create the calendar").click()
    monday = page.get_by_label("Monday")
    expect(page.locator("#calendar_hours_monday_error")).to_contain_text("overlap")
    expect(monday).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".error-summary")).to_contain_text("Monday")
    assert not WorkingCalendar.objects.exists()

    monday.fill("09:00–12:00, 13:00–17:30")
    page.get_by_role("button", name="Create the calendar").click()
    expect(page.locator(".messages")).to_contain_text("Calendar “Berlin office” created.")
    expect(page.locator(".calendar-strip")).to_be_visible()
    expect(page.locator(".calendar-strip tbody tr")).to_have_count(6)

    # A closure tomorrow shows in the strip, named.
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    page.get_by_label("What").fill("Team offsite")
    page.get_by_label("From", exact=True).fill(tomorrow)
    page.get_by_label("To (inclusive)").fill(tomorrow)
    page.get_by_role("button", name="Add the closure").click()
    expect(page.locator(".messages")).to_contain_text("Closure “Team offsite” added.")
    day = page.locator(f'td[data-day="{tomorrow}"]')
    expect(day).to_contain_text("Closed: Team offsite")
    expect(day).to_contain_text("Off (not working)")
    save_screenshot(page, "calendar-1440x900")
    assert page.evaluate("window.__csp") == []

    # The map editor puts a lane on a calendar by name (through the API).
    page.goto(f"/streams/{demo.stream_slug}/edit/")
    legal = Lane.objects.get(stream__slug=demo.stream_slug, name="Legal")
    page.get_by_label("Working calendar of Legal").select_option(label="Berlin office")
    page.locator(f'form[data-url="/api/lanes/{legal.pk}/calendar/"]').get_by_role(
        "button", name="Save calendar"
    ).click()
    expect(page.locator("#save-status")).to_have_text("Saved.")
    legal.refresh_from_db()
    assert legal.calendar == WorkingCalendar.objects.get(name="Berlin office")
    expect(page.get_by_label("Working calendar of Legal")).to_have_value(str(legal.calendar_id))
    assert page.evaluate("window.__csp") == []


def test_leadership_reads_a_calendar_and_the_strip_fits_a_phone(phone_page: Page, demo):
    team = ValueStream.objects.get(slug=demo.stream_slug).team
    calendar = seed_calendar(team)
    login(phone_page, "vp", DEMO_PASSWORD)
    phone_page.goto(f"/teams/{team.slug}/calendars/{calendar.pk}/")
    expect(phone_page.locator("h1")).to_contain_text("Office hours")
    expect(phone_page.locator(".weekly-hours-list")).to_contain_text("09:00–17:30")
    expect(phone_page.get_by_role("button", name="Save the calendar")).to_have_count(0)
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    save_screenshot(phone_page, "calendar-390x844")
