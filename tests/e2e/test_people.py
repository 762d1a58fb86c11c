"""People and time zones in Chromium: a manager invites someone from the team's People page,
the invited person opens the emailed link, sets a password and logs in; the manager changes
their role and deactivates them after confirming; the browser proposes its time zone at the
first page and every page then names it; the pages fit a phone."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Browser, expect

from streams.models import InactiveMembership, Membership, Role, UserProfile
from vsm_project.demo import DEMO_PASSWORD

from .conftest import DESKTOP, PHONE, fits_width, login, save_screenshot, submit_login_form

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
LINK = re.compile(r"https?://[^/\s]+(/accounts/invitation/[^/\s]+/[^/\s]+/)")


def test_a_manager_invites_someone_who_sets_a_password_and_logs_in(
    page, browser: Browser, live_server, demo
):
    mail.outbox.clear()
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/")
    page.get_by_role("link", name="People").first.click()
    expect(page.locator("h1")).to_have_text("People of Acme Sales")

    # Every error at once, next to its field; nothing sent.
    page.get_by_label("Email", exact=True).fill("not an email")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.locator(".error-summary")).to_contain_text("Email")
    expect(page.locator("#invite_email_error")).to_be_visible()
    assert not mail.outbox

    page.get_by_label("Email", exact=True).fill("dana@example.com")
    page.get_by_label("Name", exact=True).fill("Dana Ito")
    page.get_by_label("Role", exact=True).select_option(label="Rep")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.locator(".messages")).to_contain_text("Invitation sent to dana@example.com")
    row = page.locator('li.person[data-user="dana@example.com"]')
    expect(row).to_contain_text("Invited, no password yet")
    save_screenshot(page, "people-1440x900")
    # A refresh does not send it again (post/redirect/get).
    page.reload()
    assert len(mail.outbox) == 1

    # The invited person, in their own browser, in Tokyo.
    context = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, timezone_id="Asia/Tokyo"
    )
    try:
        dana = context.new_page()
        path = LINK.search(mail.outbox[0].body).group(1)
        dana.goto(path)
        expect(dana.locator("h1")).to_have_text("Welcome, Dana")
        # A password the rules refuse is reported on the field it was typed in.
        dana.get_by_label("New password", exact=True).fill("short")
        dana.get_by_label("New password confirmation").fill("short")
        dana.get_by_role("button", name="Set my password").click()
        expect(dana.locator("#id_new_password1_error")).to_contain_text(
            "New password: This password is too short"
        )
        expect(dana.get_by_label("New password", exact=True)).to_have_attribute(
            "aria-invalid", "true"
        )
        expect(dana.locator("#id_new_password2_error")).to_have_count(0)
        save_screenshot(dana, "invitation-password-too-short-1440x900")
        dana.get_by_label("New password", exact=True).fill("Flow-and-pull-2026")
        dana.get_by_label("New password confirmation").fill("Flow-and-pull-2026")
        dana.get_by_role("button", name="Set my password").click()
        expect(dana.locator(".messages")).to_contain_text("Password set")
        submit_login_form(dana, "dana@example.com", "Flow-and-pull-2026")
        expect(dana.locator("h1")).to_contain_text("Welcome, Dana")
        expect(dana.locator(".team")).to_contain_text("Acme Sales")
        # The browser proposed its zone at the first page: the page is shown again in it.
        expect(dana.locator("#tz-label")).to_have_text("Times in Asia/Tokyo · change")
        assert UserProfile.objects.get(user__username="dana@example.com").time_zone == (
            "Asia/Tokyo"
        )
        # The link worked once.
        dana.goto(path)
        expect(dana.locator("h1")).to_have_text("This link no longer works")
    finally:
        context.close()

    # The manager makes Dana leadership, then deactivates her after confirming.
    page.goto("/teams/acme-sales/people/")
    row = page.locator('li.person[data-user="dana@example.com"]')
    expect(row).to_contain_text("Active")
    row.get_by_label("Role of Dana Ito").select_option(label="Leadership (read-only)")
    row.get_by_role("button", name="Change role").click()
    expect(page.locator(".messages")).to_contain_text("Dana Ito is now leadership")
    assert Membership.objects.get(user__username="dana@example.com").role == Role.LEADERSHIP
    page.locator('li.person[data-user="dana@example.com"]').get_by_role(
        "link", name="Deactivate…"
    ).click()
    expect(page.locator("h1")).to_have_text("Deactivate Dana Ito?")
    page.get_by_role("button", name="Yes, deactivate").click()
    expect(page.locator('li.person[data-user="dana@example.com"]')).to_contain_text("Deactivated")
    assert InactiveMembership.objects.filter(user__username="dana@example.com").exists()

    # The last manager cannot step down.
    manager_row = page.locator('li.person[data-user="manager"]')
    manager_row.get_by_label(re.compile("Role of")).select_option(label="Rep")
    manager_row.get_by_role("button", name="Change role").click()
    expect(page.locator(".field-error")).to_contain_text("last manager")
    assert Membership.objects.get(user__username="manager").role == Role.MANAGER


def test_the_account_page_changes_the_zone_and_times_follow(page, demo):
    login(page, "vp", DEMO_PASSWORD)
    page.goto("/accounts/settings/")
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Save the time zone").click()
    expect(page.locator(".messages")).to_contain_text("Times are now shown in America/New_York")
    expect(page.locator("#tz-label")).to_have_text("Times in America/New_York · change")
    page.goto("/kaizen/")
    expect(page.locator("#tz-label")).to_have_text("Times in America/New_York · change")


def test_the_people_page_fits_a_phone(phone_page, demo):
    login(phone_page, "manager", DEMO_PASSWORD)
    phone_page.goto("/teams/acme-sales/people/")
    expect(phone_page.locator("li.person")).to_have_count(
        Membership.objects.filter(team__slug="acme-sales").count()
    )
    assert fits_width(phone_page)
    save_screenshot(phone_page, "people-390x844")
    phone_page.goto("/accounts/settings/")
    assert fits_width(phone_page)
    assert PHONE["width"] == 390
