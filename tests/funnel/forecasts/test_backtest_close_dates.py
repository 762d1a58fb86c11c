"""Back-tests of each deal's close dates (funnel/forecasts/close_dates.py, docs/forecasts.md
"Back-tests of each deal's close date"): a hand-worked log and a stationary one."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from funnel.forecasts.backtest import backtest
from tests.funnel.forecasts.test_backtest import _stationary_log
from tests.funnel.test_metrics import at, deal, lost, vsm, won  # noqa: F401

pytestmark = pytest.mark.django_db

T = at("2025-03-01T00:00Z")
NOW = at("2025-03-11T00:00Z")  # ten days (240 h) after T
#: Runs per date: the 288 h time is 3.1 % of the times, and its share of 10,000 runs is above
#: the 95 % band's 2.5 % end by more than three standard deviations (0.17 points).
RUNS = 10_000


def _iso(moment):
    return moment.isoformat()


@pytest.fixture
def hand(vsm):  # noqa: F811
    """Before T, 25 deals went through Qualify and were won when they left it: 4 after 48 h,
    17 after 96 h, 4 after 144 h. Every open deal at T is in Qualify, and every completed
    Qualify visit was won: a deal ``a`` hours into Qualify closes (given won: always) ``t − a``
    hours after T, t drawn from the step's times longer than ``a``. Those times are the
    Kaplan–Meier estimate of the 32 visits entered in the window (docs/forecasts.md): the
    seven open at T count as longer than their ages, and f's, open at 288 h, is longer than
    every completed one, so 1/26 of the chance stays "at least 288 h" and is put there. As
    one time per visit: 5 of 48 h, 21 of 96 h, 5 of 144 h and 1 of 288 h (3.1 %). Over
    ``RUNS`` runs a deal ``a`` hours in has its median and 50 % band at 96 − a, its 85 % band
    from 48 − a to 144 − a, and its 95 % band from 48 − a to 288 − a (the 288 h time is more
    than the top 2.5 %)."""
    start = at("2025-01-05T00:00Z")
    for k, hours in enumerate([48] * 4 + [96] * 17 + [144] * 4):
        entered = start + timedelta(days=2 * k)
        won(vsm, (vsm.qualify, _iso(entered), _iso(entered + timedelta(hours=hours))))
    day_before = "2025-02-28T00:00Z"  # age 24 h at T: bands 72 | 24–120 | 24–264
    deals = {
        # Won 72 h after T: inside every band, error 0.
        "a": won(vsm, (vsm.qualify, day_before, "2025-03-04T00:00Z")),
        # Won 96 h after T: outside the 50 % band, inside the 85 % and 95 %; error 1 day.
        "b": won(vsm, (vsm.qualify, day_before, "2025-03-05T00:00Z")),
        # 12 h in at T (bands 84 | 36–132 | 36–276): won 192 h after T, inside the 95 % band
        # only; error 4.5 days.
        "c": won(vsm, (vsm.qualify, "2025-02-28T12:00Z", "2025-03-09T00:00Z")),
        # Lost: not scored.
        "d": lost(vsm, (vsm.qualify, day_before, "2025-03-03T00:00Z")),
        # Still open at NOW, 240 h after T, before its 95 % band's end (264 h): censored. At
        # 288 h after T it is past it: outside all.
        "e": deal(vsm, (vsm.qualify, day_before, None)),
        # 288 h in at T, older than every completed time: no time is longer than its age, so
        # its rest is a time drawn at random stretched by 288 ÷ 288 = 1, and its 95 % band
        # ends at 288 h, after NOW: left out (censored).
        "f": deal(vsm, (vsm.qualify, "2025-02-17T00:00Z", None)),
        # Won two days after NOW: still open as of NOW, before its 264 h: censored.
        "g": won(vsm, (vsm.qualify, day_before, "2025-03-13T00:00Z")),
    }
    return vsm, deals


def test_each_deals_close_dates_against_a_hand_worked_log(hand):
    ns, _ = hand
    result = backtest(
        ns.stream, [T], timedelta(days=7), runs=RUNS, seed=11, now=NOW, close_dates=True
    )
    point = result.points[0].close_dates
    assert point.inside == {0.5: 1, 0.85: 2, 0.95: 3}  # a | a, b | a, b, c
    assert point.scored == 3  # a, b, c won
    assert sorted(point.errors_days) == pytest.approx([0.0, 1.0, 4.5])
    # e, f, g still open, none past its 95 % band yet; d lost.
    assert (point.open_outside, point.censored, point.lost, point.no_dates) == (0, 3, 1, 0)
    record = result.records["close_dates"]
    assert record.count == 3
    assert record.coverage == {0.5: pytest.approx(1 / 3), 0.85: pytest.approx(2 / 3), 0.95: 1.0}
    assert record.typical_error == pytest.approx(1.0)  # the median of 0, 1 and 4.5 days
    assert result.all_verdicts()[-2:] == [
        f"Close dates: the {level}% band held the actual result only {share}% of the time "
        "(over 3 deals' close dates): the bands are too narrow"
        for level, share in ((50, 33), (85, 67))
    ]
    # The stream's figures are not changed by it.
    plain = backtest(ns.stream, [T], timedelta(days=7), runs=RUNS, seed=11, now=NOW)
    assert "close_dates" not in plain.records
    assert plain.points[0].wins == result.points[0].wins


def test_a_close_after_now_is_not_known_yet(hand):
    ns, _ = hand
    # As of 13 Mar 2025, 288 h after T, g has been won (at that instant): 288 h against its
    # median of 72, outside every band, an error of 9 days; e is past its 264 h: outside
    # every band. f's 95 % band ends at 288 h: not past it yet, still left out.
    later = backtest(
        ns.stream, [T], timedelta(days=7), runs=RUNS, seed=11, close_dates=True,
        now=at("2025-03-13T00:00Z"),
    )  # fmt: skip
    point = later.points[0].close_dates
    assert (point.scored, point.open_outside, point.censored) == (5, 1, 1)  # a b c g e | f
    assert sorted(point.errors_days) == pytest.approx([0.0, 1.0, 4.5, 9.0])
    # A day later, f is past its 288 h: counted outside too.
    latest = backtest(
        ns.stream, [T], timedelta(days=7), runs=RUNS, seed=11, close_dates=True,
        now=at("2025-03-14T00:00Z"),
    )  # fmt: skip
    point = latest.points[0].close_dates
    assert (point.scored, point.open_outside, point.censored) == (6, 2, 0)
    assert latest.records["close_dates"].coverage == {
        0.5: pytest.approx(1 / 6),
        0.85: pytest.approx(2 / 6),
        0.95: pytest.approx(3 / 6),  # a, b, c
    }


def test_close_date_coverage_on_a_stationary_log_is_near_nominal(vsm):  # noqa: F811
    origin = _stationary_log(vsm)
    dates = [origin + timedelta(days=150 + 7 * k) for k in range(20)]
    began = time.monotonic()
    result = backtest(
        vsm.stream, dates, timedelta(days=14), runs=400, seed=3, window=timedelta(days=120),
        now=origin + timedelta(days=330), close_dates=True,
    )  # fmt: skip
    assert time.monotonic() - began < 5
    record = result.records["close_dates"]
    # About 5 deals open at each date, half of them won: some 50 scored in all.
    assert record.count >= 40
    assert record.censored == 0 and record.open_outside == 0  # all closed by day 330
    assert abs(record.coverage[0.5] - 0.5) <= 0.2
    assert record.coverage[0.85] >= 0.7 and record.coverage[0.95] >= 0.8
    assert record.verdicts == []
    # An exponential stay of mean 5 days: the median forecast is typically 2 to 3 days off.
    assert record.typical_error <= 4
