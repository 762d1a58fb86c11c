"""Stored forecasts (funnel/forecasts/records.py): one per stream, week and kind, scored when
their horizon has passed, and their coverage. The stream is test_view's hand-worked one."""

from __future__ import annotations

from datetime import date, timedelta
from unittest import mock

import pytest
from django.db import IntegrityError, transaction

from funnel.forecasts import records
from funnel.forecasts.models import ForecastRecord, RecordKind
from funnel.forecasts.records import (
    forecast_record,
    forecasts_record_all,
    forecasts_score_due,
    stored_track_record,
)
from streams.models import StreamState
from tests.funnel.forecasts.test_view import N, stream  # noqa: F401
from tests.funnel.test_metrics import at, vsm  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_forecast_is_stored_once_a_week(stream):  # noqa: F811
    assert forecast_record(stream.stream, now=N, runs=500, seed=1) == 2
    wins = ForecastRecord.objects.get(stream=stream.stream, kind=RecordKind.WINS)
    revenue = ForecastRecord.objects.get(stream=stream.stream, kind=RecordKind.REVENUE)
    # Made on Monday 30 June, the last day of Q2: it counts the wins up to 1 July 00:00.
    assert wins.week == date(2025, 6, 30) and wins.made_at == N
    assert wins.horizon_end == at("2025-07-01T00:00Z")
    assert (wins.median, wins.band(95), wins.actual) == (0.0, (0.0, 0.0), None)
    assert revenue.median == 0.0 and revenue.runs == 500
    # Later the same week: nothing more.
    assert forecast_record(stream.stream, now=N + timedelta(days=3), runs=500) == 0
    assert ForecastRecord.objects.filter(stream=stream.stream).count() == 2
    # The next week: two more.
    assert forecast_record(stream.stream, now=N + timedelta(days=7), runs=500) == 2


def test_the_wins_record_keeps_the_chance_of_reaching_the_target(stream):  # noqa: F811
    """At N, the last day of Q2: H's win is the quarter's one and nothing else can close by
    30 June. A target of 8 a 30 days is ⌈24.3⌉ = 25 over Q2's 91 days: never reached (0). One
    a 91 days is 1: reached already (1). No target: no chance. The revenue record has none."""

    def recorded() -> tuple:
        ForecastRecord.objects.all().delete()
        forecast_record(stream.stream, now=N, runs=200, seed=1)
        by_kind = dict(
            ForecastRecord.objects.values_list("kind", "target_probability").order_by("kind")
        )
        return by_kind[RecordKind.WINS], by_kind[RecordKind.REVENUE]

    assert recorded() == (0.0, None)
    stream.stream.target_won_deals_per_period, stream.stream.period_days = 1, 91
    stream.stream.save()
    assert recorded() == (1.0, None)
    stream.stream.target_won_deals_per_period = None
    stream.stream.save()
    assert recorded() == (None, None)


def test_two_recorders_racing_in_the_same_week_store_one_record_per_kind(stream):  # noqa: F811
    """The second recorder passed the "already recorded?" check before the first wrote: the
    unique constraint and ON CONFLICT DO NOTHING keep one row per kind."""
    assert forecast_record(stream.stream, now=N, runs=200, seed=1) == 2
    with mock.patch.object(records, "_week_recorded", return_value=False):
        assert forecast_record(stream.stream, now=N + timedelta(hours=1), runs=200) == 0
    assert ForecastRecord.objects.filter(stream=stream.stream).count() == 2
    row = ForecastRecord.objects.get(stream=stream.stream, kind=RecordKind.WINS)
    with pytest.raises(IntegrityError), transaction.atomic():
        row.pk = None
        row.save()


def test_a_record_is_scored_when_its_horizon_has_passed(stream):  # noqa: F811
    """Made as of N − 20 d (10 June; the log as it stood then), counting to 1 July: H was won
    on 20 June, 30,000."""
    made = N - timedelta(days=20)
    assert forecast_record(stream.stream, now=N, as_of=made, runs=500, seed=2) == 2
    forecast_record(stream.stream, now=N, runs=500, seed=3)  # this week's: horizon 1 July
    assert forecasts_score_due(now=N) == 0  # 1 July has not come
    assert forecasts_score_due(now=N + timedelta(days=1)) == 4
    scored = {
        (r.week, r.kind): r.actual for r in ForecastRecord.objects.filter(stream=stream.stream)
    }
    assert scored == {
        (date(2025, 6, 9), "wins"): 1.0,
        (date(2025, 6, 9), "revenue"): 30000.0,
        (date(2025, 6, 30), "wins"): 0.0,
        (date(2025, 6, 30), "revenue"): 0.0,
    }
    assert forecasts_score_due(now=N + timedelta(days=2)) == 0  # scored once


def test_a_past_forecast_is_scored_at_once_when_asked(stream):  # noqa: F811
    made = N - timedelta(days=20)
    forecast_record(stream.stream, now=N + timedelta(days=1), as_of=made, runs=200, score=True)
    wins = ForecastRecord.objects.get(stream=stream.stream, kind=RecordKind.WINS)
    assert wins.actual == 1.0 and wins.scored_at == N + timedelta(days=1)


def _record(target, week, kind, median, bands, actual, made=None):
    made = made or at(f"{week.isoformat()}T00:00Z")
    fields = {}
    for level, (low, high) in zip((50, 85, 95), bands, strict=True):
        fields[f"low_{level}"], fields[f"high_{level}"] = low, high
    return ForecastRecord.objects.create(
        stream=target,
        week=week,
        kind=kind,
        made_at=made,
        horizon_end=made + timedelta(days=28),
        runs=100,
        median=median,
        actual=actual,
        **fields,
    )


def test_stored_coverage_and_typical_error(stream):  # noqa: F811
    """Four scored wins forecasts, bands 50 % [4, 6], 85 % [3, 7], 95 % [2, 8], median 5:
    actuals 5 (inside all), 7 (85 and 95), 3 (85 and 95), 8 (95 only). Coverage ¼, ¾, 1;
    errors 0, 2, 2, 3: the median 2. One unscored forecast is left out."""
    s = stream.stream
    bands = ((4, 6), (3, 7), (2, 8))
    for i, actual in enumerate((5, 7, 3, 8, None)):
        _record(s, date(2025, 3, 3) + timedelta(weeks=i), RecordKind.WINS, 5, bands, actual)
    _record(s, date(2025, 3, 3), RecordKind.REVENUE, 100, ((90, 110), (80, 120), (0, 200)), 150)
    stored = stored_track_record(s)
    assert stored["count"] == 4
    assert stored["coverage"] == {"50": 0.25, "85": 0.75, "95": 1.0}
    assert stored["typical_error"] == 2.0
    assert stored["revenue"] == {
        "count": 1,
        "coverage": {"50": 0.0, "85": 0.0, "95": 1.0},
        "typical_error": 50.0,
    }
    # As of an earlier instant only the forecasts whose horizon had passed then count.
    early = stored_track_record(s, before=at("2025-04-08T00:00Z"))
    assert early["count"] == 2  # made 3 and 10 March, horizons 31 March and 7 April


def test_no_stored_forecast_gives_an_empty_record(stream):  # noqa: F811
    stored = stored_track_record(stream.stream)
    assert stored["count"] == 0 and stored["typical_error"] is None
    assert stored["coverage"] == {"50": None, "85": None, "95": None}


def test_the_weekly_task_records_every_current_stream_with_deals(stream):  # noqa: F811
    from streams.models import ValueStream
    from tests.factories import TeamFactory

    empty = ValueStream.objects.create(team=TeamFactory(), name="Empty", slug="empty")
    future = ValueStream.objects.create(
        team=stream.team, name="Mid-market sales", slug="future", state=StreamState.FUTURE
    )
    with mock.patch.object(records, "RECORD_RUNS", 200):
        assert forecasts_record_all(now=N) == 2
        assert forecasts_record_all(now=N) == 0  # the same week
    streams = set(ForecastRecord.objects.values_list("stream_id", flat=True))
    assert streams == {stream.stream.pk} and not {empty.pk, future.pk} & streams


def test_one_stream_failing_does_not_stop_the_others(stream):  # noqa: F811
    calls = []

    def failing(s, **kwargs):
        calls.append(s.pk)
        raise RuntimeError("bad data")

    with mock.patch.object(records, "forecast_record", side_effect=failing):
        assert forecasts_record_all(now=N) == 0
    assert calls == [stream.stream.pk]


def test_a_week_whose_monday_run_was_missed_is_recorded_by_the_next_run(stream):  # noqa: F811
    # The workers were down on Monday 30 June; the first run after, on Wednesday, records
    # that week's forecast (its week is still the Monday), and a later run adds nothing.
    with mock.patch.object(records, "RECORD_RUNS", 200):
        assert forecasts_record_all(now=N + timedelta(days=2)) == 2
        assert forecasts_record_all(now=N + timedelta(days=2, hours=1)) == 0
    weeks = set(ForecastRecord.objects.values_list("week", flat=True))
    assert weeks == {date(2025, 6, 30)}


def test_beat_records_every_hour_and_scores_daily(settings):
    entries = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    record = entries["funnel.tasks.forecasts_record"]
    # Every hour of every day: a week already recorded is skipped, a missed one made up.
    assert record.day_of_week == set(range(7)) and record.hour == set(range(24))
    assert record.minute == {37}
    assert entries["funnel.tasks.forecasts_score"].day_of_week == set(range(7))
    from vsm_project.celery import app

    app.loader.import_default_modules()
    assert {
        "funnel.tasks.compute_forecast",
        "funnel.tasks.forecasts_record",
        "funnel.tasks.forecasts_score",
    } <= set(app.tasks)


def test_the_tasks_record_and_score(stream):  # noqa: F811
    from funnel.forecasts.tasks import forecasts_record, forecasts_score

    with (
        mock.patch.object(records, "RECORD_RUNS", 200),
        mock.patch("django.utils.timezone.now", return_value=N),
    ):
        assert forecasts_record.apply().get() == 2
    with mock.patch("django.utils.timezone.now", return_value=N + timedelta(days=1)):
        assert forecasts_score.apply().get() == 2
