"""Working time in Chromium on the demo data (its team works Mon–Fri 09:00–17:30): the
dashboards' time switch changes the URL, the figures and the words the tiles use, and stays
on the other tabs; the map's measured figures switch too."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from tests.demo_snapshot import demo_restored
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login
from .test_dashboards import board_url, wait_for_charts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def demo(transactional_db: None):
    return demo_restored(deals=300, seed=7)


def tile(page: Page, key: str) -> str:
    return page.locator(f'[data-tile="{key}"]').inner_text()


def test_the_dashboards_switch_to_working_time_and_keep_it(page, demo):
    login(page, "vp", DEMO_PASSWORD)
    page.goto(board_url(demo, "funnel"))
    wait_for_charts(page)
    expect(page.get_by_label("Time", exact=True)).to_have_value("elapsed")
    elapsed_cycle = tile(page, "sales_cycle")
    assert "calendar days" in elapsed_cycle

    with page.expect_navigation():
        page.get_by_label("Time", exact=True).select_option("working")
    assert re.search(r"[?&]time=working(&|$)", page.url)
    wait_for_charts(page)
    expect(page.get_by_label("Time", exact=True)).to_have_value("working")
    expect(page.locator('[data-time-basis="working"]')).to_have_count(1)
    working_cycle = tile(page, "sales_cycle")
    assert "working days" in working_cycle and working_cycle != elapsed_cycle
    # The other tabs keep the basis, and their charts name it.
    page.get_by_role("link", name="Flow", exact=True).click()
    assert "time=working" in page.url
    wait_for_charts(page)
    expect(page.get_by_label("Time", exact=True)).to_have_value("working")
    expect(page.locator("#chart-aging")).to_contain_text("working days at the current step")
    for link in page.locator("a.csv-link").all():
        assert "time=working" in link.get_attribute("href")


def test_the_map_switches_its_measured_figures(page, demo):
    login(page, "vp", DEMO_PASSWORD)
    page.goto(f"/streams/{demo.stream_slug}/")
    elapsed = page.locator('[data-figure="lead_time_hours"] .measured').inner_text()
    page.locator("#time-working").click()
    page.wait_for_url(re.compile(r"[?&]time=working"))
    expect(page.locator("#time-working")).to_have_attribute("aria-current", "true")
    expect(page.locator(".asof")).to_contain_text("Measured in working time")
    working = page.locator('[data-figure="lead_time_hours"] .measured').inner_text()
    assert working != elapsed
