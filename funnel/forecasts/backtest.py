"""Back-tests (issue 19, point 3; docs/forecasts.md "Back-tests").

At each past instant ``T`` the model is read from the log as it stood then
(``measure(..., as_of=T)``), the wins and revenue in ``(T, T + horizon]`` are forecast from
the deals open at ``T`` plus new deals (as :func:`funnel.forecasts.pipeline.wins_by` does),
and the forecast is set beside what the log says happened. Over all the instants: how often
the actual fell inside each band (its coverage, to hold against the band's nominal level), the
typical error of the median forecast, and a verdict in plain words when a band held the
actual much less often than it should.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Count, Sum

from funnel.forecasts.model import measure
from funnel.forecasts.pipeline import BANDS, Bands, wins_by
from funnel.forecasts.simulation import simulate_deals
from funnel.models import Deal, DealStatus
from streams.models import ValueStream

#: Runs per back-test date unless asked otherwise (fewer than a live forecast's 10,000: the
#: bands' ends move by well under a win at this count).
RUNS = 2_000
#: A band is "too narrow" when its coverage is more than this under its nominal level.
SHORTFALL = 0.10


@dataclass(frozen=True)
class BacktestPoint:
    """One back-test date: the forecast made as of ``at`` and what happened."""

    at: datetime
    horizon_hours: float
    wins: Bands
    revenue: Bands
    actual_wins: int
    actual_revenue: float
    open_deals: int

    def inside(self, level: float) -> bool:
        low, high = self.wins.bands[level]
        return low <= self.actual_wins <= high


@dataclass(frozen=True)
class Backtest:
    points: list[BacktestPoint]
    #: level → share of the dates whose actual wins fell inside that band.
    coverage: dict[float, float]
    #: Median |median forecast − actual| over the dates, in wins and in revenue.
    typical_error_wins: float
    typical_error_revenue: float
    verdicts: list[str]

    @property
    def count(self) -> int:
        return len(self.points)


def actual(stream: ValueStream, start: datetime, end: datetime) -> tuple[int, float]:
    """The deals won in ``(start, end]`` by the log, and their amounts added up."""
    found = Deal.objects.filter(
        stream=stream, status=DealStatus.WON, closed_at__gt=start, closed_at__lte=end
    ).aggregate(n=Count("id"), revenue=Sum("amount"))
    return int(found["n"]), float(found["revenue"] or 0)


def verdicts(coverage: dict[float, float], count: int) -> list[str]:
    """Plain words for each band whose coverage is well under its nominal level (more than
    ``SHORTFALL`` under); none when every band holds or there is nothing to judge."""
    if not count:
        return []
    out = []
    for level in sorted(coverage):
        share = coverage[level]
        if share < level - SHORTFALL - 1e-9:
            out.append(
                f"the {level:.0%} band held the actual result only {share:.0%} of the time "
                f"(over {count} back-test{'s' if count != 1 else ''}): the bands are too narrow"
            )
    return out


def summarise(points: list[BacktestPoint]) -> Backtest:
    """Coverage per band, typical error and verdicts over the back-test points."""
    count = len(points)
    coverage = {
        level: (sum(p.inside(level) for p in points) / count if count else float("nan"))
        for level in BANDS
    }
    wins_error = [abs(p.wins.median - p.actual_wins) for p in points]
    revenue_error = [abs(p.revenue.median - p.actual_revenue) for p in points]
    return Backtest(
        points=points,
        coverage=coverage,
        typical_error_wins=float(np.median(wins_error)) if count else float("nan"),
        typical_error_revenue=float(np.median(revenue_error)) if count else float("nan"),
        verdicts=verdicts(coverage, count),
    )


def backtest(
    stream: ValueStream,
    dates: Iterable[datetime],
    horizon: timedelta,
    *,
    runs: int = RUNS,
    seed: int | None = None,
    window: timedelta | None = None,
) -> Backtest:
    """Forecast the wins and revenue in ``(T, T + horizon]`` as of each ``T`` in ``dates`` and
    compare them with the log. ``window``: the model's window before each ``T`` (default:
    the model's 180 days)."""
    points = []
    for i, moment in enumerate(sorted(dates)):
        start = moment - window if window is not None else None
        model, open_deals, axis = measure(stream, now=moment, start=start, as_of=moment)
        hours = axis.hours_until(moment + horizon)
        # One seed per date, derived from the given one: the dates' draws are independent.
        date_seed = None if seed is None else seed * 1_000_003 + i
        deal_runs = simulate_deals(model, open_deals, runs=runs, seed=date_seed)
        forecast = wins_by(deal_runs, model, hours, seed=date_seed)
        wins, revenue = actual(stream, moment, moment + horizon)
        points.append(
            BacktestPoint(
                at=moment,
                horizon_hours=hours,
                wins=forecast.wins,
                revenue=forecast.revenue,
                actual_wins=wins,
                actual_revenue=revenue,
                open_deals=len(open_deals),
            )
        )
    return summarise(points)
