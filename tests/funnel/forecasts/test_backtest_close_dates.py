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


def _iso(moment):
    return moment.isoformat()


@pytest.fixture
def hand(vsm):  # noqa: F811
    """Before T, 25 deals went through Qualify and were won when they left it: 4 after 48 h,
    17 after 96 h, 4 after 144 h (chances 0.16 / 0.68 / 0.16). Every open deal at T is in
    Qualify, and every completed Qualify visit was won: a deal ``a`` hours into Qualify closes
    (given won: always) ``t − a`` hours after T, t drawn from the times above longer than
    ``a``. Over 500 runs (about 80 of each end value, 340 of the middle one) its median and
    50 % band are 96 − a; the 85 % and 95 % bands both run from 48 − a to 144 − a."""
    start = at("2025-01-05T00:00Z")
    for k, hours in enumerate([48] * 4 + [96] * 17 + [144] * 4):
        entered = start + timedelta(days=2 * k)
        won(vsm, (vsm.qualify, _iso(entered), _iso(entered + timedelta(hours=hours))))
    day_before = "2025-02-28T00:00Z"  # age 24 h at T: bands 72 | 24–120 | 24–120
    deals = {
        # Won 72 h after T: inside every band, error 0.
        "a": won(vsm, (vsm.qualify, day_before, "2025-03-04T00:00Z")),
        # Won 96 h after T: outside the 50 % band, inside the 85 % and 95 %; error 1 day.
        "b": won(vsm, (vsm.qualify, day_before, "2025-03-05T00:00Z")),
        # 12 h in at T (bands 84 | 36–132): won 192 h after T, outside all; error 4.5 days.
        "c": won(vsm, (vsm.qualify, "2025-02-28T12:00Z", "2025-03-09T00:00Z")),
        # Lost: not scored.
        "d": lost(vsm, (vsm.qualify, day_before, "2025-03-03T00:00Z")),
        # Still open at NOW, 240 h after T, past its 95 % band's end (120 h): outside all.
        "e": deal(vsm, (vsm.qualify, day_before, None)),
        # 288 h in at T, twice the longest completed time: its times are stretched by 2
        # (96, 192, 288 h), so its 95 % band ends at 288 h, after NOW: left out (censored).
        "f": deal(vsm, (vsm.qualify, "2025-02-17T00:00Z", None)),
        # Won two days after NOW: still open as of NOW, past its 120 h: outside all.
        "g": won(vsm, (vsm.qualify, day_before, "2025-03-13T00:00Z")),
    }
    return vsm, deals


def test_each_deals_close_dates_against_a_hand_worked_log(hand):
    ns, _ = hand
    result = backtest(
        ns.stream, [T], timedelta(days=7), runs=500, seed=11, now=NOW, close_dates=True
    )
    point = result.points[0].close_dates
    assert point.inside == {0.5: 1, 0.85: 2, 0.95: 2}  # a | a, b | a, b
    assert point.scored == 5  # a, b, c won; e, g still open past their 95 % band
    assert sorted(point.errors_days) == pytest.approx([0.0, 1.0, 4.5])
    assert (point.open_outside, point.censored, point.lost, point.no_dates) == (2, 1, 1, 0)
    record = result.records["close_dates"]
    assert record.count == 5
    assert record.coverage == {0.5: pytest.approx(0.2), 0.85: 0.4, 0.95: 0.4}
    assert record.typical_error == pytest.approx(1.0)  # the median of 0, 1 and 4.5 days
    assert result.all_verdicts()[-3:] == [
        f"Close dates: the {level}% band held the actual result only {share}% of the time "
        "(over 5 deals' close dates): the bands are too narrow"
        for level, share in ((50, 20), (85, 40), (95, 40))
    ]
    # The stream's figures are not changed by it.
    plain = backtest(ns.stream, [T], timedelta(days=7), runs=500, seed=11, now=NOW)
    assert "close_dates" not in plain.records
    assert plain.points[0].wins == result.points[0].wins


def test_a_close_after_now_is_not_known_yet(hand):
    ns, _ = hand
    # As of 13 Mar 2025, 288 h after T, g has been won (at that instant): 288 h against its
    # median of 72, outside every band, an error of 9 days. f's 95 % band ends at 288 h too:
    # not past it yet, still left out.
    later = backtest(
        ns.stream, [T], timedelta(days=7), runs=500, seed=11, close_dates=True,
        now=at("2025-03-13T00:00Z"),
    )  # fmt: skip
    point = later.points[0].close_dates
    assert (point.scored, point.open_outside, point.censored) == (5, 1, 1)  # a b c g e | f
    assert sorted(point.errors_days) == pytest.approx([0.0, 1.0, 4.5, 9.0])
    # A day later, f is past its 288 h: counted outside too.
    latest = backtest(
        ns.stream, [T], timedelta(days=7), runs=500, seed=11, close_dates=True,
        now=at("2025-03-14T00:00Z"),
    )  # fmt: skip
    point = latest.points[0].close_dates
    assert (point.scored, point.open_outside, point.censored) == (6, 2, 0)
    assert latest.records["close_dates"].coverage == {
        0.5: pytest.approx(1 / 6),
        0.85: pytest.approx(2 / 6),
        0.95: pytest.approx(2 / 6),
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
