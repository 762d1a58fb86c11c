"""Login lockout in Chromium: a person who mistypes their password too often is told, on the
login page, that logging in is locked and what to do; an administrator's reset lets them in.
Live server, demo data, django-axes on (the suite turns it off elsewhere)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from vsm_project.demo import DEMO_PASSWORD

from .conftest import save_screenshot, submit_login_form

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lockout(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    yield
    call_command("axes_reset", verbosity=0)


def test_a_locked_out_person_is_told_so_and_an_admin_reset_lets_them_in(page: Page, demo, lockout):
    page.goto("/accounts/login/")
    for _ in range(2):
        submit_login_form(page, "alice", "not-her-password")
        expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")
    submit_login_form(page, "alice", "not-her-password")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Too many failed log-ins for “alice” from your address")
    expect(alert).to_contain_text("logging in is locked for 15 minutes")
    expect(alert).to_contain_text("ask an administrator to unlock it")
    save_screenshot(page, "login-locked-out-1440x900")
    # The right password does not help while locked out.
    page.get_by_role("link", name="Back to log in").click()
    submit_login_form(page, "alice", DEMO_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Too many failed log-ins")
    # An administrator unlocks her.
    call_command("axes_reset_username", "alice", verbosity=0)
    page.goto("/accounts/login/")
    submit_login_form(page, "alice", DEMO_PASSWORD)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
