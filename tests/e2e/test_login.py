"""Logging in and out, roles on the home page, access to deals, and the pages on a phone:
real Chromium against the live server, with the demo data."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from funnel.models import Deal
from vsm_project.demo import DEMO_PASSWORD, SeedResult

from .conftest import fits_width, login, save_screenshot, submit_login_form

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOGIN_ERROR = "Please enter a correct username and password"
NEW_PASSWORD = "kaizen-flow-cadence-2025"


def _path(page: Page) -> str:
    return urlsplit(page.url).path


def _has_session(page: Page) -> bool:
    return any(cookie["name"] == "sessionid" for cookie in page.context.cookies())


@pytest.mark.parametrize(
    ("username", "role_code", "badge"),
    [
        ("manager", "manager", "Manager"),
        ("alice", "rep", "Rep"),
        ("vp", "leadership", "Leadership (read-only)"),
        ("admin", "admin", "Admin"),
    ],
)
def test_it_shows_each_demo_user_the_team_with_their_role_and_the_stream(
    page: Page, demo: SeedResult, username: str, role_code: str, badge: str
) -> None:
    login(page, username, DEMO_PASSWORD)

    assert _path(page) == "/"
    team = page.locator("section.card.team").filter(
        has=page.get_by_role("heading", level=2, name="Acme Sales", exact=True)
    )
    expect(team).to_have_count(1)
    expect(team.locator("span.badge[data-role]")).to_have_attribute("data-role", role_code)
    expect(team.locator(f"span.badge[data-role={role_code}]")).to_have_text(badge)
    stream_link = team.locator(f'a[href="/streams/{demo.stream_slug}/"]')
    expect(stream_link).to_be_visible()
    if username == "manager":
        save_screenshot(page, "home-manager-1440x900")
        stream_link.click()
        expect(page).to_have_url(re.compile(rf"/streams/{demo.stream_slug}/$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("New business")
        expect(page.locator("table.data tbody tr")).to_have_count(8)
        save_screenshot(page, "stream-manager-1440x900")


def test_it_keeps_a_wrong_password_on_the_login_page_with_a_clear_error(
    page: Page, demo: SeedResult
) -> None:
    login(page, "alice", "not-the-password")

    assert _path(page) == "/accounts/login/"
    alert = page.locator(".error-summary[role=alert]")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(LOGIN_ERROR)
    expect(page.locator("#id_password")).to_have_attribute("aria-invalid", "true")
    assert not _has_session(page)
    save_screenshot(page, "login-wrong-password-1440x900")
    page.goto("/")
    assert _path(page) == "/accounts/login/"


def test_it_sends_an_anonymous_visitor_to_the_login_page_and_back_after_login(
    page: Page, demo: SeedResult
) -> None:
    page.goto("/")
    url = urlsplit(page.url)
    assert url.path == "/accounts/login/"
    assert parse_qs(url.query)["next"] == ["/"]

    page.goto("/deals/")
    url = urlsplit(page.url)
    assert (url.path, parse_qs(url.query)["next"]) == ("/accounts/login/", ["/deals/"])
    submit_login_form(page, "manager", DEMO_PASSWORD)
    assert _path(page) == "/deals/"
    expect(page.get_by_role("heading", level=1, name="Deals")).to_be_visible()


def test_it_logs_out_with_the_header_button(page: Page, demo: SeedResult) -> None:
    login(page, "manager", DEMO_PASSWORD)
    assert _has_session(page)

    with page.expect_navigation():
        page.locator("header.topbar").get_by_role("button", name="Log out").click()

    assert _path(page) == "/accounts/login/"
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    page.goto("/")
    url = urlsplit(page.url)
    assert (url.path, parse_qs(url.query)["next"]) == ("/accounts/login/", ["/"])


def test_it_changes_the_password_through_the_pages(page: Page, demo: SeedResult) -> None:
    login(page, "alice", DEMO_PASSWORD)
    page.locator("header.topbar").get_by_role("link", name="Password").click()
    expect(page).to_have_url(re.compile(r"/accounts/password/$"))

    page.get_by_label("Old password").fill(DEMO_PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Change password").click()

    assert _path(page) == "/accounts/password/done/"
    expect(page.get_by_role("heading", level=1, name="Password changed")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()
    login(page, "alice", DEMO_PASSWORD)
    expect(page.locator(".error-summary[role=alert]")).to_contain_text(LOGIN_ERROR)
    login(page, "alice", NEW_PASSWORD)
    assert _path(page) == "/"
    expect(page.locator("section.card.team h2")).to_have_text("Acme Sales")


def test_it_fits_the_home_page_on_a_phone(phone_page: Page, demo: SeedResult) -> None:
    login(phone_page, "manager", DEMO_PASSWORD)

    assert _path(phone_page) == "/"
    expect(phone_page.locator("section.card.team h2")).to_have_text("Acme Sales")
    expect(phone_page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(phone_page.get_by_role("button", name="Log out")).to_be_visible()
    assert phone_page.evaluate("window.innerWidth") == 390
    assert fits_width(phone_page), "the home page scrolls sideways on a 390 px wide phone"
    save_screenshot(phone_page, "home-manager-390x844")


@pytest.mark.parametrize("where", ["login", "deal list", "deal", "stream"])
def test_it_fits_the_other_pages_on_a_phone(phone_page: Page, demo: SeedResult, where: str) -> None:
    if where != "login":
        login(phone_page, "manager", DEMO_PASSWORD)
    deal = Deal.objects.filter(stream__slug=demo.stream_slug).order_by("pk").first()
    url = {
        "login": "/accounts/login/",
        "deal list": "/deals/",
        "deal": f"/deals/{deal.pk}/",
        "stream": f"/streams/{demo.stream_slug}/",
    }[where]

    response = phone_page.goto(url)

    assert response is not None and response.status == 200
    assert fits_width(phone_page), f"{url} scrolls sideways on a 390 px wide phone"
    save_screenshot(phone_page, f"{where.replace(' ', '-')}-390x844")


def test_it_shows_a_rep_her_own_deal_but_not_another_reps(page: Page, demo: SeedResult) -> None:
    own = Deal.objects.filter(owner__username="alice").order_by("pk").first()
    others = Deal.objects.filter(owner__username="bob").order_by("pk").first()
    assert own is not None and others is not None, "the seeded demo has deals for alice and bob"
    steps = list(own.visits.order_by("entered_at", "pk").values_list("step__name", flat=True))
    login(page, "alice", DEMO_PASSWORD)

    response = page.goto(f"/deals/{others.pk}/")
    assert response is not None and response.status == 404
    expect(page.get_by_text(others.name, exact=True)).to_have_count(0)
    save_screenshot(page, "deal-of-another-rep-404-1440x900")

    response = page.goto(f"/deals/{own.pk}/")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_contain_text(own.name)
    expect(page.get_by_role("heading", level=2, name="Path")).to_be_visible()
    expect(page.locator("ol.timeline > li.visit strong.step")).to_have_text(steps)
    save_screenshot(page, "deal-alice-1440x900")


def test_it_logs_in_with_the_keyboard_only(page: Page, demo: SeedResult) -> None:
    page.goto("/accounts/login/")
    save_screenshot(page, "login-1440x900")
    expect(page.locator("#id_username")).to_be_focused()

    page.keyboard.type("manager")
    page.keyboard.press("Tab")
    expect(page.locator("#id_password")).to_be_focused()
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Log in")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert _path(page) == "/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Morgan Reyes")
