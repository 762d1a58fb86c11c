"""Back-tests (funnel/forecasts/backtest.py) and the model read as of a past instant."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from funnel.forecasts.backtest import BacktestPoint, actual, backtest, summarise, verdicts
from funnel.forecasts.history import EventLog
from funnel.forecasts.model import measure
from funnel.forecasts.pipeline import Bands
from funnel.models import Deal, DealStatus, Visit
from tests.funnel.forecasts.test_model import log  # noqa: F401
from tests.funnel.test_metrics import W_START, at, deal, lost, vsm, won  # noqa: F401

pytestmark = pytest.mark.django_db


def _same(a, b):
    (ma, oa, _), (mb, ob, _) = a, b
    assert ma.counts.tolist() == mb.counts.tolist()
    assert [list(t) for t in ma.durations] == [pytest.approx(list(t)) for t in mb.durations]
    # The visits entered in the window, completed and still open (their Kaplan–Meier times).
    for name in ("entered_times", "entered_open"):
        assert [list(t) for t in getattr(ma, name)] == [
            pytest.approx(list(t)) for t in getattr(mb, name)
        ]
    assert [list(ma.samples(i)) for i in range(ma.n_steps)] == [
        pytest.approx(list(mb.samples(i))) for i in range(mb.n_steps)
    ]
    assert ma.entries.tolist() == mb.entries.tolist()
    assert ma.arrivals_per_hour == pytest.approx(mb.arrivals_per_hour)
    assert sorted(ma.won_amounts.tolist()) == sorted(mb.won_amounts.tolist())
    assert oa.deal_ids.tolist() == ob.deal_ids.tolist()
    assert oa.steps.tolist() == ob.steps.tolist()
    assert oa.ages == pytest.approx(ob.ages)
    assert oa.amounts.tolist() == ob.amounts.tolist()


def _truncate(stream, moment):
    """The log as it stood at ``moment``: later visits gone, later exits and closes undone."""
    Visit.objects.filter(deal__stream=stream, entered_at__gte=moment).delete()
    Visit.objects.filter(deal__stream=stream, exited_at__gte=moment).update(
        exited_at=None, exited_w=None
    )
    Deal.objects.filter(stream=stream, closed_at__gte=moment).update(
        status=DealStatus.OPEN, closed_at=None, lost_reason=""
    )
    Deal.objects.filter(stream=stream, visits__isnull=True).delete()


# Instants cutting the hand-worked log (test_model.py) through visits, closes and entries.
CUTS = [
    "2025-03-03T12:00Z",
    "2025-03-04T11:00Z",
    "2025-03-04T17:00Z",
    "2025-03-05T10:00Z",
    "2025-03-06T00:00Z",
    "2025-03-08T00:00Z",
    "2025-03-11T12:00Z",
]


@pytest.mark.parametrize("cut", CUTS)
def test_reading_as_of_an_instant_ignores_what_came_after_it(log, cut):  # noqa: F811
    moment = at(cut)
    start = moment - timedelta(days=10)
    as_of = measure(log.stream, now=moment, start=start, as_of=moment)
    _truncate(log.stream, moment)
    truncated = measure(log.stream, now=moment, start=start)
    _same(as_of, truncated)


@pytest.mark.parametrize("cut", CUTS)
def test_the_log_read_once_and_cut_in_memory_equals_the_as_of_reading(log, cut):  # noqa: F811
    moment = at(cut)
    start = moment - timedelta(days=10)
    memory = EventLog(log.stream).as_of(moment, start=start)
    _same(memory, measure(log.stream, now=moment, start=start, as_of=moment))
    assert memory[2].now == moment
    # And with the default window (the 180 days before).
    _same(EventLog(log.stream).as_of(moment), measure(log.stream, now=moment, as_of=moment))


def test_the_logs_actuals_are_the_databases(log):  # noqa: F811
    history = EventLog(log.stream)
    spans = [
        ("2025-03-01T00:00Z", "2025-03-12T00:00Z"),
        ("2025-03-04T17:00Z", "2025-03-05T00:00Z"),
        ("2025-03-04T16:00Z", "2025-03-04T17:00Z"),
    ]
    for start, end in spans:
        assert history.won_between(at(start), at(end)) == actual(log.stream, at(start), at(end))
    # A won at 4 Mar 17:00 (30,000): inside (16:00, 17:00], outside (17:00, …].
    assert history.won_between(at("2025-03-04T16:00Z"), at("2025-03-04T17:00Z")) == (1, 30000.0)


def test_as_of_now_gives_the_reading_without_it(log):  # noqa: F811
    now = at("2025-03-12T00:00Z")
    _same(
        measure(log.stream, now=now, start=W_START, as_of=now),
        measure(log.stream, now=now, start=W_START),
    )


def test_a_deal_closed_after_the_instant_is_open_then(log):  # noqa: F811
    # A won on 4 Mar 17:00, B lost on 4 Mar 13:00: at 4 Mar 12:00 both are open, A at
    # Discovery (entered 3 Mar 17:00, 19 h before), B at Qualify (3 h).
    moment = at("2025-03-04T12:00Z")
    model, open_deals, _ = measure(log.stream, now=moment, as_of=moment)
    assert open_deals.deal_ids.tolist() == [log.a.pk, log.b.pk, log.e.pk]
    assert open_deals.steps.tolist() == [1, 0, 3]
    assert open_deals.ages == pytest.approx([19.0, 3.0, 26.0])
    # A's Qualify visit was completed (moved on to Discovery); nobody won or lost yet.
    assert model.counts[:, 4:].sum() == 0
    assert model.won_amounts.tolist() == []


def _stationary_log(vsm, days=330, per_day=1.0, seed=7):  # noqa: F811
    """Deals entering Qualify as a Poisson process, staying an exponential time (mean 5
    days) and then won or lost with equal chances: the same behaviour all along."""
    rng = np.random.default_rng(seed)
    t = at("2025-01-01T00:00Z")
    end = t + timedelta(days=days)
    while True:
        t += timedelta(days=float(rng.exponential(1 / per_day)))
        if t >= end:
            break
        leave = t + timedelta(days=float(rng.exponential(5.0)))
        iso = t.isoformat()
        if leave >= end:
            deal(vsm, (vsm.qualify, iso, None), amount="1000")
        elif rng.random() < 0.5:
            won(vsm, (vsm.qualify, iso, leave.isoformat()), amount="1000")
        else:
            lost(vsm, (vsm.qualify, iso, leave.isoformat()), amount="1000")
    return at("2025-01-01T00:00Z")


def test_back_test_coverage_on_a_stationary_log_is_near_nominal(vsm):  # noqa: F811
    origin = _stationary_log(vsm)
    # 20 dates a week apart from day 150 (a 120-day window behind each), 14 days ahead each.
    dates = [origin + timedelta(days=150 + 7 * k) for k in range(20)]
    result = backtest(
        vsm.stream, dates, timedelta(days=14), runs=400, seed=3, window=timedelta(days=120)
    )
    assert result.count == 20
    assert all(p.actual_wins >= 0 and p.open_deals > 0 for p in result.points)
    # Tolerance: with 20 overlapping dates one date is 5 points of coverage; the 50 % band
    # may land within 0.2 of nominal, the 85 % and 95 % bands at most 0.15 under nominal
    # (seed 3 gives 0.45, 0.85 and 0.90), and no verdict.
    assert abs(result.coverage[0.5] - 0.5) <= 0.2
    assert result.coverage[0.85] >= 0.7
    assert result.coverage[0.95] >= 0.8
    assert result.verdicts == []
    # About 7 wins expected in 14 days; the median forecast is typically a few wins off.
    assert result.typical_error_wins <= 3
    # Every deal is worth 1,000: the revenue's error is the wins' in thousands.
    assert result.typical_error_revenue == pytest.approx(1000 * result.typical_error_wins)
    # ... and the revenue's bands are the wins' in thousands: the same coverage.
    assert result.revenue_coverage == result.coverage
    assert result.records["revenue"].count == 20


def test_back_test_of_when_n_more_wins_on_a_stationary_log(vsm):  # noqa: F811
    origin = _stationary_log(vsm)
    dates = [origin + timedelta(days=150 + 7 * k) for k in range(20)]
    # "When 5 more wins", followed up to two horizons (28 days); now: the log's end, day 330.
    result = backtest(
        vsm.stream, dates, timedelta(days=14), runs=400, seed=3, window=timedelta(days=120),
        needed=5, now=origin + timedelta(days=330),
    )  # fmt: skip
    record = result.records["needed"]
    assert record.name == "when 5 more wins" and record.count == 20
    # About half a win a day: the 5th win some 10 days after each date, always within 28.
    assert all(2 * 24 < p.actual_needed_hours < 28 * 24 for p in result.points)
    # Same tolerance as the wins' coverage above (seed 3 gives 0.45, 0.95 and 1.0).
    assert abs(record.coverage[0.5] - 0.5) <= 0.2
    assert record.coverage[0.85] >= 0.7 and record.coverage[0.95] >= 0.8
    assert record.verdicts == []
    # The median forecast typically within 4 days of the actual (seed 3: 2.9 days).
    assert record.typical_error <= 4 * 24


def _point(actual, band):
    low, high = band
    bands = Bands(
        mean=5, median=5, bands={0.5: (4, 6), 0.85: (low, high), 0.95: (0, 20)}, scenarios=1
    )
    return BacktestPoint(
        at=at("2025-03-03T00:00Z"),
        horizon_hours=24,
        wins=bands,
        revenue=bands,
        actual_wins=actual,
        actual_revenue=actual,
        open_deals=1,
    )


def test_the_verdict_says_when_the_bands_are_too_narrow():
    # 10 dates; the 85 % band (3 to 7) holds the actual in 6 of them.
    points = [_point(5, (3, 7))] * 6 + [_point(9, (3, 7))] * 4
    result = summarise(points)
    assert result.coverage == {0.5: pytest.approx(0.6), 0.85: 0.6, 0.95: 1.0}
    assert result.verdicts == [
        "the 85% band held the actual result only 60% of the time (over 10 back-tests): "
        "the bands are too narrow"
    ]
    assert result.typical_error_wins == 0.0


def test_every_figure_says_which_it_is_about_in_its_verdicts():
    points = [_point(5, (3, 7))] * 6 + [_point(9, (3, 7))] * 4
    result = summarise(points)
    assert result.revenue_coverage == result.coverage
    assert result.all_verdicts() == [
        "Wins: the 85% band held the actual result only 60% of the time (over 10 back-tests): "
        "the bands are too narrow",
        "Revenue: the 85% band held the actual result only 60% of the time (over 10 "
        "back-tests): the bands are too narrow",
    ]
    assert "needed" not in result.records


def test_no_verdict_when_the_bands_hold():
    assert verdicts({0.5: 0.4, 0.85: 0.8, 0.95: 0.9}, 20) == []  # 10 points under: holds
    assert verdicts({0.5: 0.3, 0.85: 0.85, 0.95: 0.95}, 20) == [
        "the 50% band held the actual result only 30% of the time (over 20 back-tests): "
        "the bands are too narrow"
    ]
    assert verdicts({0.5: 0.0}, 0) == []
