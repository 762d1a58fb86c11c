"""The forecast snapshot (funnel/forecasts/snapshots.py): computed by its job with the
back-test beside it, read fresh, stale after a change, requeued by the catch-up after a lost
message; the back-test cached per horizon and week; the deals list's rows per stream. The
stream is test_view's hand-worked one."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from unittest import mock

import pytest

from funnel.forecasts import snapshots
from funnel.forecasts.models import ForecastSnapshot
from funnel.forecasts.snapshots import (
    backtest_dates,
    deal_forecasts,
    horizon_weeks,
    read_forecast,
)
from streams.models import Job, JobState
from tests.funnel.forecasts.test_records import _record
from tests.funnel.forecasts.test_view import N, stream  # noqa: F401
from tests.funnel.test_metrics import at, deal, vsm  # noqa: F401

pytestmark = pytest.mark.django_db

PARAMS = {"by": "2025-09-30", "runs": "500"}


@pytest.fixture(autouse=True)
def short_backtest(monkeypatch):
    """Back-tests over four weeks, not a year, at 200 runs (the hand stream is small)."""
    monkeypatch.setattr(snapshots, "BACKTEST_YEAR", timedelta(weeks=4))
    monkeypatch.setattr(snapshots, "BACKTEST_RUNS", 200)


def test_backtest_dates_are_the_mondays_of_the_year_whose_horizon_had_passed(monkeypatch):
    monkeypatch.setattr(snapshots, "BACKTEST_YEAR", timedelta(days=364))
    dates = backtest_dates(date(2025, 6, 30), 13)
    assert dates[-1] == at("2025-03-31T00:00Z")  # 13 weeks before 30 June
    assert dates[0] == at("2024-07-01T00:00Z")  # 52 weeks before it
    assert len(dates) == 40  # the 52 weeks' Mondays whose 13 weeks had passed, and the first
    assert all(b - a == timedelta(weeks=1) for a, b in itertools.pairwise(dates))
    assert backtest_dates(date(2025, 6, 30), 53) == []  # a longer horizon than the look-back


def test_horizon_weeks_round_up(stream):  # noqa: F811
    assert horizon_weeks(N, date(2025, 6, 30), stream.stream) == 1  # one day
    assert horizon_weeks(N, date(2025, 9, 30), stream.stream) == 14  # 92 days
    assert horizon_weeks(N, date(2025, 7, 6), stream.stream) == 1  # exactly 7 days


def test_computed_with_its_track_record_read_fresh_and_stale_after_a_change(stream):  # noqa: F811
    s = stream.stream
    _record(s, date(2025, 3, 3), "wins", 5, ((4, 6), (3, 7), (2, 8)), 7)
    with mock.patch("django.utils.timezone.now", return_value=N):
        snapshot, job = read_forecast(s, PARAMS, now=N)
    assert job is not None and job.state == JobState.DONE
    assert job.result == {"deals": 2}
    result = snapshot.result
    assert result["wins_by"]["by"] == "2025-09-30" and result["runs"] == 500
    record = result["track_record"]
    # 14 weeks ahead, four weeks of look-back: no date has its horizon passed yet.
    assert (record["horizon_weeks"], record["count"], record["points"]) == (14, 0, [])
    assert record["stored"]["count"] == 1
    assert record["stored"]["coverage"] == {"50": 0.0, "85": 1.0, "95": 1.0}
    again, job = read_forecast(s, PARAMS, now=N + timedelta(minutes=1))
    assert (again.pk, job) == (snapshot.pk, None)
    s.target_won_deals_per_period = 12
    s.save()
    with mock.patch("django.utils.timezone.now", return_value=N + timedelta(minutes=2)):
        fresh, job = read_forecast(s, PARAMS, now=N + timedelta(minutes=2))
    assert job is not None and job.state == JobState.DONE  # recomputed (eager)
    assert fresh.pk == snapshot.pk and fresh.job_id == job.pk


def test_a_short_horizon_is_back_tested_at_each_past_week(stream):  # noqa: F811
    """By 7 July, one week ahead: the four Mondays from 2 to 23 June, each forecast with the
    log as of then and scored; H's win on 20 June falls in the week from 16 June."""
    with mock.patch("django.utils.timezone.now", return_value=N):
        snapshot, _ = read_forecast(stream.stream, {"by": "2025-07-06", "runs": "200"}, now=N)
    record = snapshot.result["track_record"]
    assert record["horizon_weeks"] == 1 and record["count"] == 4
    points = {p["date"][:10]: p for p in record["points"]}
    assert sorted(points) == ["2025-06-02", "2025-06-09", "2025-06-16", "2025-06-23"]
    assert [points[d]["actual"] for d in sorted(points)] == [0, 0, 1, 0]
    assert points["2025-06-16"]["actual_revenue"] == 30000.0
    assert set(record["coverage"]) == {"50", "85", "95"}
    assert record["revenue"]["count"] == 4 and record["needed"]["n"] == 25
    # 25 more wins were never reached: within two horizons (two weeks) of 2 June, known by
    # 30 June; of 23 June, not known yet.
    assert points["2025-06-02"]["needed_known"] is True
    assert points["2025-06-02"]["actual_needed_hours"] is None
    assert points["2025-06-23"]["needed_known"] is False


def test_the_back_test_is_cached_per_horizon_and_week(stream):  # noqa: F811
    calls = []
    real = snapshots.compute_track_record

    def counted(*args, **kwargs):
        calls.append((*args[1:], kwargs.get("needed")))
        return real(*args, **kwargs)

    with (
        mock.patch.object(snapshots, "compute_track_record", side_effect=counted),
        mock.patch("django.utils.timezone.now", return_value=N),
    ):
        read_forecast(stream.stream, {"by": "2025-07-06", "runs": "200"}, now=N)
        read_forecast(stream.stream, {"by": "2025-07-06", "runs": "300"}, now=N)  # same horizon
        read_forecast(stream.stream, {"by": "2025-07-20", "runs": "200"}, now=N)  # 3 weeks
    assert calls == [(date(2025, 6, 30), 1, 25), (date(2025, 6, 30), 3, 25)]
    keys = set(
        ForecastSnapshot.objects.filter(view_key__startswith="backtest|").values_list(
            "view_key", flat=True
        )
    )
    # N of "when N more wins": what is left to Q3's target of 25.
    assert keys == {"backtest|h=1w|n=25|2025-06-30", "backtest|h=3w|n=25|2025-06-30"}


def test_the_job_reports_its_progress(stream):  # noqa: F811
    from streams import services

    messages = []
    original = services.job_progress

    def spy(**kwargs):
        messages.append(kwargs.get("message"))
        return original(**kwargs)

    with (
        mock.patch.object(services, "job_progress", side_effect=spy),
        mock.patch("funnel.view_jobs.job_progress", side_effect=spy),
        mock.patch("django.utils.timezone.now", return_value=N),
    ):
        read_forecast(stream.stream, {"by": "2025-07-06", "runs": "200"}, now=N)
    assert "Simulating the open deals" in messages
    assert "Back-testing: date 1 of 4" in messages and "Back-testing: date 4 of 4" in messages
    assert messages[-1] == "Storing the forecast"


def test_the_catch_up_queues_a_forecast_job_whose_message_was_lost(stream):  # noqa: F811
    from vsm_project.tasks import _requeuers

    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        snapshot, job = read_forecast(stream.stream, PARAMS, now=N)
    assert snapshot is None and job.state == JobState.QUEUED
    with mock.patch("django.utils.timezone.now", return_value=N):
        assert _requeuers()[job.kind](job)  # eager: it runs
    job.refresh_from_db()
    assert job.state == JobState.DONE
    assert read_forecast(stream.stream, PARAMS, now=N + timedelta(minutes=1))[1] is None


def test_a_bad_parameter_queues_nothing(stream):  # noqa: F811
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        read_forecast(stream.stream, {"when_wins": "-3"}, now=N)
    assert list(caught.value.message_dict) == ["when_wins"]
    assert not Job.objects.exists()


def test_deal_forecasts_are_the_default_views_rows_of_that_stream_only(stream):  # noqa: F811
    from streams.services import LaneSpec, StepSpec, stream_create

    other = stream_create(
        team=stream.team,
        name="Renewals",
        lanes=[LaneSpec("AE")],
        steps=[StepSpec("Renew", "AE", planned_process_hours=1, planned_lead_hours=24)],
    )
    assert deal_forecasts(stream.stream) == {}  # none computed yet
    with mock.patch("django.utils.timezone.now", return_value=N):
        rows = deal_forecasts(stream.stream, refresh=True, now=N)
    assert set(rows) == {stream.o1.pk, stream.o2.pk}
    assert rows[stream.o1.pk]["close"]["50"] == "2025-08-23"
    assert deal_forecasts(other) == {}
    # A view with parameters is not what the deals list shows.
    ForecastSnapshot.objects.all().delete()
    with mock.patch("django.utils.timezone.now", return_value=N):
        read_forecast(stream.stream, PARAMS, now=N)
    assert deal_forecasts(stream.stream) == {}


def test_the_track_record_holds_each_deals_close_dates(stream):  # noqa: F811
    """The back-test's close dates in the payload (worked out by hand in
    test_backtest_close_dates.py); a track record cached before they were back-tested is
    computed again."""
    with mock.patch("django.utils.timezone.now", return_value=N):
        snapshot, _ = read_forecast(stream.stream, {"by": "2025-07-06", "runs": "200"}, now=N)
    record = snapshot.result["track_record"]
    close = record["close_dates"]
    assert close["name"] == "close dates" and set(close["coverage"]) == {"50", "85", "95"}
    points = record["points"]
    assert close["count"] == sum(p["close_dates"]["scored"] for p in points)
    for key in ("open_outside", "censored", "lost", "no_dates"):
        assert close[key] == sum(p["close_dates"][key] for p in points)
    cached = ForecastSnapshot.objects.get(view_key="backtest|h=1w|n=25|2025-06-30")
    cached.result = {k: v for k, v in cached.result.items() if k != "close_dates"}
    cached.save()
    assert "close_dates" in snapshots.cached_track_record(stream.stream, N, 1, 25)
