"""The Forecast dashboard and the deals list's forecast columns in Chromium, on the demo data
(``demo_seed(deals=40)``), the stream's default forecast computed by the real job first (eager
Celery, in the test's thread, as the live server would on the first read): a manager sees the
fan chart drawn by plotly.js and every forecast beside its track record at 1440x900; on a
phone (390x844) the page needs no sideways scrolling; the deals list sorts by win chance."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from funnel.forecasts.snapshots import deal_forecasts, read_forecast
from streams.models import ValueStream
from vsm_project.demo import DEMO_PASSWORD

from .conftest import fits_width, login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

#: The first read of a page may compute the forecast again (its quarter-hour passed).
SLOW_MS = 120_000


@pytest.fixture
def forecast(demo):
    """The demo stream with its default forecast computed."""
    cache.clear()
    stream = ValueStream.objects.get(slug=demo.stream_slug)
    snapshot, job = read_forecast(stream, {})
    assert snapshot is not None, job and job.error
    return stream


def _open(page: Page, stream: ValueStream) -> None:
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/dashboards/streams/{stream.slug}/forecast/", timeout=SLOW_MS)
    expect(page.locator("h1")).to_contain_text("Forecast")


def test_a_manager_sees_the_fan_chart_beside_the_track_record(page: Page, forecast):
    _open(page, forecast)
    expect(page.locator(".board-tabs [aria-current=page]")).to_have_text("Forecast")
    fan = page.locator("#chart-fan .plot")
    expect(fan.locator(".main-svg").first).to_be_visible()
    # Three bands and the median drawn: the bands' filled areas and the median's line.
    expect(fan.locator(".scatterlayer .trace")).to_have_count(7)
    expect(page.locator("#chart-track")).to_be_visible()
    # The coverage chart sits beside the fan, not under it.
    fan_box = page.locator("#chart-fan").bounding_box()
    track_box = page.locator("#chart-track").bounding_box()
    assert track_box["x"] > fan_box["x"] + fan_box["width"] - 1
    assert abs(track_box["y"] - fan_box["y"]) < 5
    for key in ("by_date", "when", "target", "deals"):
        expect(page.locator(f"#track-{key}-title")).to_be_visible()
    expect(page.locator("#chart-deals .plot .main-svg").first).to_be_visible()
    save_screenshot(page, "forecast-1440x900")


def test_the_dashboard_fits_a_phone(phone_page: Page, forecast):
    _open(phone_page, forecast)
    expect(phone_page.locator("#chart-fan .plot .main-svg").first).to_be_visible()
    expect(phone_page.locator("#chart-deals")).to_be_attached()
    assert fits_width(phone_page)
    save_screenshot(phone_page, "forecast-390x844")


def test_the_deals_list_sorts_by_win_chance(page: Page, forecast):
    rows = deal_forecasts(forecast)
    assert len({round(100 * r["win_probability"]) for r in rows.values()}) > 1
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/deals/")
    with page.expect_navigation():
        page.get_by_role("link", name="win chance").click()
    assert "sort=win" in page.url
    wins = [
        int(w)
        for w in page.locator("[data-win]").evaluate_all("els => els.map(el => el.dataset.win)")
    ]
    assert len(wins) >= 5 and wins == sorted(wins, reverse=True), wins
    # The likeliest deal of the forecast heads the list.
    best = max(rows.values(), key=lambda r: r["win_probability"])
    assert round(100 * best["win_probability"]) == wins[0]
    expect(page.get_by_label("Sort")).to_have_value("win")
