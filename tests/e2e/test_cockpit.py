"""The leadership cockpit in Chromium on the demo data (issue 19: "the cockpit on a phone"):
the home page of the VP at 390x844 and 1440x900, numbers visible, no sideways scrolling, each
number's link opening its dashboard, changes written in words, no CSP violation, and the team
dashboard page of a manager (screenshots in artifacts/screenshots/cockpit-*.png)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from vsm_project.demo import DEMO_PASSWORD

from .conftest import fits_width, login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FIGURES = ("pipeline", "win_rate", "velocity", "stalled", "forecast", "worst_step")
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def cockpit_numbers(page: Page, slug: str) -> dict[str, str]:
    stream = page.locator(f'[data-cockpit-stream="{slug}"]')
    expect(stream).to_be_visible()
    numbers = {}
    for key in FIGURES:
        link = stream.locator(f'[data-figure-link="{key}"]')
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0
        assert box["x"] + box["width"] <= page.viewport_size["width"], key
        numbers[key] = link.inner_text().strip()
        assert numbers[key], key
    return numbers


def test_the_cockpit_on_a_phone(phone_page: Page, demo):
    phone_page.add_init_script(WATCH)
    login(phone_page, "vp", DEMO_PASSWORD)
    slug = demo.stream_slug
    numbers = cockpit_numbers(phone_page, slug)
    assert numbers["pipeline"].endswith("open deals")
    assert numbers["win_rate"].endswith("%")
    # The seed stored the default forecast: its chance shows at once, not "not computed yet".
    assert numbers["forecast"].endswith("% likely"), numbers["forecast"]
    assert fits_width(phone_page), "the cockpit scrolls sideways on a phone"
    # Each change is written in words beside its arrow (the arrow is hidden from readers).
    changes = phone_page.locator(f'[data-cockpit-stream="{slug}"] [data-change]')
    assert changes.count() >= 4
    first = changes.first.inner_text()
    assert "previous 90 days" in first or "No earlier figure" in first
    save_screenshot(phone_page, "cockpit-home-390x844")
    assert phone_page.evaluate("window.__csp") == []
    # The numbers link to their dashboards.
    expected = {
        "win_rate": f"/dashboards/streams/{slug}/funnel/",
        "stalled": f"/dashboards/streams/{slug}/flow/",
        "worst_step": f"/dashboards/streams/{slug}/waste/",
        "forecast": f"/dashboards/streams/{slug}/forecast/",
        "pipeline": "/deals/",
    }
    for key, path in expected.items():
        phone_page.goto("/")
        link = phone_page.locator(f'[data-cockpit-stream="{slug}"] [data-figure-link="{key}"]')
        with phone_page.expect_navigation():
            link.click()
        assert path in phone_page.url, (key, phone_page.url)
        assert "Page not found" not in phone_page.title()
    # The win rate the cockpit shows is the one the Funnel dashboard shows.
    phone_page.goto(f"/dashboards/streams/{slug}/funnel/")
    tile = phone_page.locator('[data-tile="win_rate"] .kpi-value')
    assert tile.inner_text().strip() == numbers["win_rate"]


def test_the_cockpit_on_a_desktop_and_the_team_page(page: Page, demo):
    login(page, "vp", DEMO_PASSWORD)
    numbers = cockpit_numbers(page, demo.stream_slug)
    assert fits_width(page)
    save_screenshot(page, "cockpit-home-1440x900")
    page.context.clear_cookies()
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/dashboards/")
    team_link = page.locator('a[href^="/dashboards/teams/"]').first
    with page.expect_navigation():
        team_link.click()
    assert cockpit_numbers(page, demo.stream_slug) == numbers
    save_screenshot(page, "cockpit-team-1440x900")
    # The team's table under the cockpit reads the same win rate; the demo's map has a
    # ready-for-sales hand-off, so it is of the deals past it (docs/metrics.md §3).
    row = page.locator("table.data tbody tr").first
    assert row.locator("td").first.inner_text().strip() == numbers["win_rate"]
    detail = page.locator(f'[data-cockpit-stream="{demo.stream_slug}"] [data-figure="win_rate"]')
    expect(detail).to_contain_text("deals closed past the ready-for-sales hand-off")


def test_a_rep_gets_no_cockpit(phone_page: Page, demo):
    login(phone_page, "alice", DEMO_PASSWORD)
    expect(phone_page.locator("h1")).to_be_visible()
    assert phone_page.locator("[data-cockpit-team]").count() == 0
