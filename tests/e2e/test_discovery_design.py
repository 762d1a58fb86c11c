"""The "discovered against designed" page in Chromium, on the hand-worked log of
``tests/funnel/discovery/hand_log.py`` moved to the last weeks (the default window), computed
by the real job (eager Celery inside the live server's request). A manager follows the map's
link to it: each step of the map stands beside what the deals did there, side by side on a
laptop and one under the other on a phone, with no sideways scrolling, under the CSP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD
from tests.funnel.discovery.hand_log import hand_log

from .conftest import fits_width, login, save_screenshot
from .test_csp import WATCH

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _recent_log():
    shift = timezone.now() - timedelta(days=1) - datetime(2026, 10, 1, tzinfo=UTC)
    return hand_log(shift=timedelta(days=shift.days))


def _boxes(page: Page, step: int) -> tuple[dict, dict]:
    pair = page.locator(f'li.design-pair[data-step="{step}"]')
    return (
        pair.locator(".design-designed").bounding_box(),
        pair.locator(".design-discovered").bounding_box(),
    )


def test_from_the_map_to_the_map_beside_the_deals_on_a_laptop(page: Page):
    ns = _recent_log()
    page.add_init_script(WATCH)
    login(page, "manager", PASSWORD)
    page.goto(f"/streams/{ns.stream.slug}/")
    with page.expect_navigation():
        page.locator("#design-link").click()
    expect(page.locator("#design-title")).to_have_text("Discovered against designed")
    expect(page.locator("li.design-pair")).to_have_count(5)
    qualify = page.locator(f'li.design-pair[data-step="{ns.steps["Qualify"].pk}"]')
    expect(qualify.locator("[data-pct]")).to_have_text("44% as designed")
    expect(qualify.locator(".off-map")).to_have_count(1)  # Qualify again, C's repeats
    expect(qualify).to_contain_text("not on the map: the same step again")
    designed, discovered = _boxes(page, ns.steps["Qualify"].pk)
    assert abs(designed["y"] - discovered["y"]) < 2  # side by side
    assert discovered["x"] >= designed["x"] + designed["width"]
    expect(page.locator("#design-off-map")).to_contain_text("Lead → Demo")
    assert fits_width(page)
    save_screenshot(page, "discovery-design-1440x900")
    # Back to the dashboard with the same view, and from there to this page again.
    page.locator("#design-back").click()
    expect(page.locator("h1")).to_contain_text("Discovery")
    page.locator("#design-page-link").click()
    expect(page.locator("li.design-pair")).to_have_count(5)
    assert page.evaluate("window.__csp") == []


def test_on_a_phone_the_two_stand_one_under_the_other(phone_page: Page):
    ns = _recent_log()
    login(phone_page, "manager", PASSWORD)
    phone_page.goto(f"/dashboards/streams/{ns.stream.slug}/discovery/design/")
    expect(phone_page.locator("li.design-pair")).to_have_count(5)
    designed, discovered = _boxes(phone_page, ns.steps["Demo"].pk)
    assert discovered["y"] >= designed["y"] + designed["height"] - 1  # stacked
    assert fits_width(phone_page)
    save_screenshot(phone_page, "discovery-design-390x844")
