"""The demo's year of weekly stored forecasts (vsm_project/demo_forecasts.py) and the history
behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Min

from funnel.forecasts.backtest import actual
from funnel.forecasts.models import ForecastRecord, RecordKind
from funnel.models import Deal
from streams.models import ValueStream
from vsm_project.demo import DEMO_TEAM_SLUG, HISTORY_DAYS, demo_seed
from vsm_project.demo_forecasts import WEEKS, demo_forecast_dates, demo_forecasts_add

pytestmark = pytest.mark.django_db

#: A Wednesday: the anchor's week began on Monday 1 June 2026.
ANCHOR = datetime(2026, 6, 3, tzinfo=UTC)


def test_the_forecast_dates_are_a_year_of_mondays_up_to_the_anchors_week():
    dates = demo_forecast_dates(ANCHOR)
    assert len(dates) == WEEKS + 1 == 53
    assert dates[-1] == datetime(2026, 6, 1, tzinfo=UTC)
    assert dates[0] == datetime(2026, 6, 1, tzinfo=UTC) - timedelta(weeks=52)
    assert all(d.weekday() == 0 and d <= ANCHOR for d in dates)


def test_the_demo_stores_a_scored_year_of_weekly_forecasts():
    demo_seed(deals=120, seed=5, anchor=ANCHOR)
    stream = ValueStream.objects.get(team__slug=DEMO_TEAM_SLUG, state="current")
    records = ForecastRecord.objects.filter(stream=stream)
    assert records.count() == 2 * 53
    weeks = sorted(set(records.values_list("week", flat=True)))
    assert weeks == [d.date() for d in demo_forecast_dates(ANCHOR)]
    # Each forecast counts to the end of its quarter; those that ended by the anchor are
    # scored with what the log says was won.
    for record in records.filter(kind=RecordKind.WINS):
        assert record.horizon_end > record.made_at
        if record.horizon_end <= ANCHOR:
            assert record.actual == actual(stream, record.made_at, record.horizon_end)[0]
        else:
            assert record.actual is None
        assert record.low_95 <= record.median <= record.high_95
    scored = records.filter(actual__isnull=False).count()
    assert 2 * 40 <= scored < 2 * 53  # Q2 2026's forecasts are not over yet
    # The history behind them: the demo's year of deals (the earliest forecasts see only the
    # start of it; docs/forecasts.md "Demo data").
    first = Deal.objects.filter(stream=stream).aggregate(m=Min("created_at"))["m"]
    assert ANCHOR - timedelta(days=HISTORY_DAYS + 1) < first < ANCHOR - timedelta(weeks=50)
    earliest = records.filter(kind=RecordKind.WINS).order_by("made_at").first()
    latest = records.filter(kind=RecordKind.WINS).order_by("made_at").last()
    assert earliest.median <= latest.median  # a year ago the stream had barely begun
    # Asked again (seed_demo --if-missing): nothing added.
    assert demo_forecasts_add(team_slug=DEMO_TEAM_SLUG, anchor=ANCHOR) == 0
    assert records.count() == 2 * 53
