"""The dashboards in Chromium on the demo data: every chart drawn by plotly.js, filters that
change the URL and the figures, CSV downloads that hold the plotted numbers, dots that open
their deal, a rep's own view, and screenshots at 1440x900 and 390x844 for people to look at
(artifacts/screenshots/dashboard-*.png)."""

from __future__ import annotations

import csv
import re
from unittest import mock

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from funnel.metrics.query import MetricsFilters, MetricsQuery
from funnel.metrics.snapshots import PREPARE_JOB, metrics_stored
from funnel.models import Deal
from funnel.tasks import prepare_metric_sets
from streams.models import Job, ValueStream
from tests.demo_snapshot import demo_restored
from vsm_project.demo import DEMO_PASSWORD

from .conftest import fits_width, login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BOARDS = {
    "funnel": 5,
    "flow": 6,
    "waste": 5,
}


@pytest.fixture(autouse=True)
def empty_cache():
    """Rendered dashboards are cached by the state of their snapshots; start each test
    without the pages of the one before."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def demo(transactional_db: None):
    """The demo team with enough deals (300, a year of history) that every chart of every
    dashboard has something to draw in the last 90 days."""
    return demo_restored(deals=300, seed=7)


def board_url(demo, board: str, query: str = "") -> str:
    return f"/dashboards/streams/{demo.stream_slug}/{board}/{query}"


def wait_for_charts(page: Page) -> list[dict]:
    """Wait until plotly.js has drawn every figure; each figure's id, traces and whether
    its SVG is in the page."""
    page.wait_for_function(
        "[...document.querySelectorAll('.plot')].every(el => el.dataset.rendered === 'true')"
    )
    return page.evaluate(
        """() => [...document.querySelectorAll('.plot')].map(el => ({
            id: el.id,
            traces: (el.data || []).length,
            drawn: el.querySelectorAll('.main-svg .trace, .main-svg .funnel, .main-svg .bars')
                .length > 0,
        }))"""
    )


def plotted(page: Page, plot_id: str, trace: int, axis: str) -> list:
    return page.evaluate(f"document.getElementById('{plot_id}').data[{trace}].{axis}")


def download_csv(page: Page, chart: str, tmp_path) -> list[list[str]]:
    with page.expect_download() as download:
        page.locator(f"#chart-{chart} a.csv-link").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_leadership_sees_every_chart_of_every_dashboard_drawn(page, demo):
    login(page, "vp", DEMO_PASSWORD)
    for board, charts in BOARDS.items():
        response = page.goto(board_url(demo, board))
        assert response.status == 200
        figures = wait_for_charts(page)
        expect(page.locator(".chart-card")).to_have_count(charts)
        expect(page.locator(".chart-empty")).to_have_count(0)
        assert figures and all(f["traces"] > 0 and f["drawn"] for f in figures), figures
        # Every chart card says when its figures are from and offers its numbers.
        expect(page.locator(".chart-card .asof-chart")).to_have_count(charts)
        expect(page.locator(".chart-card a.csv-link")).to_have_count(charts)
        assert fits_width(page)
        save_screenshot(page, f"dashboard-{board}-1440x900")
    page.goto("/dashboards/teams/acme-sales/")
    figures = wait_for_charts(page)
    assert len(figures) == 3 and all(f["traces"] > 0 for f in figures)
    save_screenshot(page, "dashboard-team-1440x900")


def test_every_dashboard_fits_a_phone(phone_page, demo):
    login(phone_page, "vp", DEMO_PASSWORD)
    for board in BOARDS:
        phone_page.goto(board_url(demo, board))
        figures = wait_for_charts(phone_page)
        assert all(f["traces"] > 0 for f in figures)
        assert fits_width(phone_page), f"the {board} dashboard scrolls sideways on a phone"
        save_screenshot(phone_page, f"dashboard-{board}-390x844")


def test_the_discovery_dashboard_fits_a_phone(phone_page, demo):
    """Its wide graph and tables scroll inside their boxes: the accept buttons' hidden labels
    (absolutely placed) once escaped the table's scroll box and widened the page to 803 px."""
    login(phone_page, "manager", DEMO_PASSWORD)  # a manager: the accept buttons are shown
    phone_page.goto(board_url(demo, "discovery"))
    expect(phone_page.locator("svg.dfg")).to_be_visible()
    figures = wait_for_charts(phone_page)
    assert figures and all(f["traces"] > 0 for f in figures)
    assert fits_width(phone_page), "the Discovery dashboard scrolls sideways on a phone"


def test_a_filter_changes_the_url_and_the_figures(page, demo):
    login(page, "vp", DEMO_PASSWORD)
    page.goto(board_url(demo, "funnel"))
    wait_for_charts(page)
    before_tile = page.locator('[data-tile="win_rate"] .kpi-detail').inner_text()
    before_funnel = plotted(page, "plot-funnel-0", 0, "x")

    with page.expect_navigation():
        page.get_by_label("Amount").select_option("small")
    assert re.search(r"[?&]amount_band=small(&|$)", page.url)
    assert "period=" not in page.url and "tz=" not in page.url  # only what was chosen
    wait_for_charts(page)
    expect(page.get_by_label("Amount")).to_have_value("small")
    assert page.locator('[data-tile="win_rate"] .kpi-detail').inner_text() != before_tile
    assert plotted(page, "plot-funnel-0", 0, "x") != before_funnel
    # Every chart's CSV is for the same filters, and so is every other dashboard's tab.
    for link in page.locator("a.csv-link").all():
        assert "amount_band=small" in link.get_attribute("href")
    page.get_by_role("link", name="Flow", exact=True).click()
    assert "amount_band=small" in page.url
    expect(page.get_by_label("Amount")).to_have_value("small")

    # A shared link opens the same view.
    page.goto(board_url(demo, "waste", "?period=180d&source=referral"))
    wait_for_charts(page)
    expect(page.get_by_label("Period")).to_have_value("180d")
    expect(page.get_by_label("Source")).to_have_value("referral")


def test_the_csv_download_holds_the_numbers_the_chart_shows(page, demo, tmp_path):
    login(page, "vp", DEMO_PASSWORD)
    page.goto(board_url(demo, "funnel"))
    wait_for_charts(page)
    rows = download_csv(page, "funnel", tmp_path)
    header, body = rows[0], rows[1:]
    assert header[:4] == ["stage", "reached", "went_on", "dropped_off"]
    assert [int(r[2]) for r in body] == plotted(page, "plot-funnel-0", 0, "x")
    assert [int(r[3]) for r in body] == plotted(page, "plot-funnel-0", 1, "x")

    page.goto(board_url(demo, "flow"))
    wait_for_charts(page)
    rows = download_csv(page, "throughput", tmp_path)
    assert rows[0][:2] == ["week_starting", "won"]
    assert [int(r[1]) for r in rows[1:]] == plotted(page, "plot-throughput-0", 0, "y")
    assert [r[0] for r in rows[1:]] == plotted(page, "plot-throughput-0", 0, "x")

    page.goto(board_url(demo, "waste"))
    wait_for_charts(page)
    rows = download_csv(page, "pareto_hours", tmp_path)
    assert [float(r[1]) for r in rows[1:]] == plotted(page, "plot-pareto_hours-0", 0, "y")


def test_clicking_a_stalled_deal_opens_it(page, demo):
    login(page, "vp", DEMO_PASSWORD)
    page.goto(board_url(demo, "flow"))
    wait_for_charts(page)
    stalled = page.evaluate(
        "document.getElementById('plot-aging-0').data.findIndex(t => t.name === 'Stalled')"
    )
    assert stalled >= 0, "the demo data has stalled deals"
    # The oldest stalled deal: the dot furthest right, with no other dot on top of it.
    ages = plotted(page, "plot-aging-0", stalled, "x")
    oldest = ages.index(max(ages))
    deal_id = plotted(page, "plot-aging-0", stalled, "customdata")[oldest][1]
    points = page.locator(f"#plot-aging-0 .scatterlayer .trace:nth-of-type({stalled + 1}) .point")
    point = points.nth(oldest)
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 4, y - 4)  # plotly.js finds the point under the mouse as it moves
    page.mouse.move(x, y)
    with page.expect_navigation():
        page.mouse.click(x, y)
    assert page.url.endswith(f"/deals/{deal_id}/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_a_rep_sees_their_own_figures_and_nothing_of_other_reps(page, phone_page, demo):
    login(page, "alice", DEMO_PASSWORD)
    page.goto(f"/dashboards/streams/{demo.stream_slug}/")  # a rep lands on their own view
    assert page.url.endswith(board_url(demo, "me"))
    figures = wait_for_charts(page)
    assert figures and all(f["traces"] > 0 for f in figures)
    save_screenshot(page, "dashboard-me-1440x900")

    stream = ValueStream.objects.get(slug=demo.stream_slug)
    alice = Deal.objects.filter(stream=stream, owner__username="alice").first().owner
    mine = metrics_stored(
        MetricsQuery(stream_id=stream.pk, filters=MetricsFilters(owner_id=alice.pk))
    )
    team = metrics_stored(MetricsQuery(stream_id=stream.pk))
    tile = page.locator('[data-tile="my_win_rate"]')
    expect(tile).to_contain_text(f"{mine.summary.won} won of {mine.summary.closed} closed")
    expect(tile).to_contain_text(f"team {round(100 * team.summary.win_rate)}%")
    assert plotted(page, "plot-my_win_rate-0", 0, "y") == [
        "You",
        "Team (everyone, you included)",
    ]

    text = page.locator("main").inner_text()
    for other in ("Bob", "Okafor", "Carol", "Lindqvist", "bob", "carol"):
        assert other not in text
    expect(page.locator("select[name=owner]")).to_have_count(0)
    linked = {int(m) for m in re.findall(r"/deals/(\d+)/", page.content())}
    assert linked, "the rep's open deals are linked"
    assert set(Deal.objects.filter(pk__in=linked).values_list("owner__username", flat=True)) == {
        "alice"
    }

    bob = Deal.objects.filter(stream=stream, owner__username="bob").first().owner_id
    for board in ("me", "funnel", "flow", "waste"):
        assert page.goto(board_url(demo, board, f"?owner={bob}")).status == 403

    login(phone_page, "alice", DEMO_PASSWORD)
    phone_page.goto(board_url(demo, "me"))
    wait_for_charts(phone_page)
    assert fits_width(phone_page)
    save_screenshot(phone_page, "dashboard-me-390x844")


def test_a_view_nobody_asked_for_shows_its_progress_then_the_dashboard(page, demo):
    login(page, "vp", DEMO_PASSWORD)
    # No worker takes the job until the page is showing its progress: the test is the worker.
    with mock.patch("funnel.tasks.prepare_metric_sets.apply_async"):
        response = page.goto(board_url(demo, "flow", "?amount_band=medium"))
    assert response.status == 202
    expect(page.get_by_role("heading", name="Preparing this view")).to_be_visible()
    bar = page.get_by_role("progressbar", name="Computing the figures")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    expect(page.get_by_label("Amount")).to_have_value("medium")  # the filters stay in view
    save_screenshot(page, "dashboard-preparing-1440x900")

    prepare_metric_sets(Job.objects.get(kind=PREPARE_JOB).pk)
    # The page notices the job is done and shows the dashboard without anyone reloading it.
    expect(page.locator(".chart-card")).to_have_count(BOARDS["flow"])
    figures = wait_for_charts(page)
    assert all(f["traces"] > 0 for f in figures)
    expect(page.get_by_role("heading", name="Preparing this view")).to_have_count(0)
