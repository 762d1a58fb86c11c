"""Times on the dashboards' charts are in the viewer's time zone, converted at one point
(``funnel.dashboards.charts.common._local_day``), and the axes say which zone; buckets the metrics
engine counts in UTC say UTC. The rendered page is cached per zone."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from funnel.dashboards import charts
from funnel.dashboards.content import Stamp

from .test_charts import result, series, url


def _axis_title(chart) -> str:
    return chart.figures[0].spec["layout"]["xaxis"]["title"]["text"]


def test_a_won_deal_is_plotted_on_the_day_it_was_won_in_the_viewers_zone():
    with timezone.override("UTC"):
        utc = charts.cycle_time_chart(series(), result(), url)
    # Won at 10:00 UTC: already midnight of the next day in Kiritimati (UTC+14).
    with timezone.override("Pacific/Kiritimati"):
        kiritimati = charts.cycle_time_chart(series(), result(), url)
    assert [r[2] for r in utc.rows[:3]] == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert [r[2] for r in kiritimati.rows[:3]] == ["2025-03-02", "2025-03-03", "2025-03-04"]
    assert kiritimati.figures[0].spec["data"][0]["x"] == ["2025-03-02", "2025-03-03", "2025-03-04"]
    assert _axis_title(kiritimati) == "Day the deal was won (Pacific/Kiritimati)"
    assert _axis_title(utc) == "Day the deal was won (UTC)"


def test_weekly_buckets_counted_in_utc_say_so():
    with timezone.override("Europe/Berlin"):
        chart = charts.closed_per_week_chart(series(), result())
    assert _axis_title(chart) == "Week starting (UTC)"


def test_a_rendered_dashboard_is_cached_per_time_zone():
    at = datetime(2025, 3, 1, tzinfo=UTC)
    stamp = Stamp(versions=(), changed_at=(), window_start=at, window_end=at, computed_at=at)
    with timezone.override("UTC"):
        utc = stamp.key("stream", "funnel", 1)
    with timezone.override("Asia/Tokyo"):
        tokyo = stamp.key("stream", "funnel", 1)
    assert utc != tokyo


def test_the_dashboards_as_of_times_name_the_viewers_zone():
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    at = datetime(2025, 1, 6, 9, tzinfo=UTC)
    with timezone.override("Europe/Berlin"):
        status = render_to_string(
            "funnel/dashboards/_status.html",
            {
                "filters": SimpleNamespace(period=SimpleNamespace(label="Last 90 days")),
                "computed_at": at,
            },
        )
    assert "as of <time" in status and "6 Jan 2025, 10:00 (Europe/Berlin)</time>" in status
    assert "UTC</time>" not in status
