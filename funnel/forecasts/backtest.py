"""Back-tests (issue 19, point 3; docs/forecasts.md "Back-tests").

At each past instant ``T`` the model is read from the log as it stood then (the log read once,
:class:`funnel.forecasts.history.EventLog`, cut at ``T`` in memory: the same as
``measure(..., as_of=T)``), the wins and revenue in ``(T, T + horizon]`` are forecast from
the deals open at ``T`` plus new deals (as :func:`funnel.forecasts.pipeline.wins_by` does),
and, when asked, the time to ``needed`` more wins (as :func:`~funnel.forecasts.pipeline.
wins_needed`), and each forecast is set beside what the log says happened. Over all the
instants, per figure: how often the actual fell inside each band (its coverage, to hold
against the band's nominal level), the typical error of the median forecast, the count, and a
verdict in plain words when a band held the actual much less often than it should. With
``close_dates``, also each deal's close dates (:mod:`funnel.forecasts.close_dates`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Count, Sum
from django.utils import timezone

from funnel.forecasts.close_dates import CloseDatesPoint, score_close_dates
from funnel.forecasts.history import EventLog
from funnel.forecasts.pipeline import BANDS, Bands, new_deals_for, wins_by, wins_needed
from funnel.forecasts.simulation import simulate_deals
from funnel.models import Deal, DealStatus
from streams.models import ValueStream

#: Runs per back-test date unless asked otherwise (a live forecast: 10,000). A band's end is
#: a quantile of the runs: at 500 its chance level is off by about √(p(1 − p)/500), 0.7
#: points for the 95 % band's 2.5 % end, against the 3 points by which the coverage over 52
#: dates moves by chance alone (docs/forecasts.md "Back-tests").
RUNS = 500
#: Fresh deals simulated per date for the new deals' wins (a live forecast: 100,000).
NEW_SAMPLE = 20_000
#: A band is "too narrow" when its coverage is more than this under its nominal level.
SHORTFALL = 0.10
#: "When N more wins" is followed this many horizons ahead; later counts as not reached.
NEEDED_HORIZONS = 2


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
    #: "When ``needed`` more wins": the forecast hours from ``at`` (inf: not within
    #: ``NEEDED_HORIZONS`` horizons) and the actual (None: not known yet at the log's end).
    needed_hours: Bands | None = None
    actual_needed_hours: float | None = None
    #: Each deal's close dates, scored (None: not back-tested).
    close_dates: CloseDatesPoint | None = None

    def inside(self, level: float) -> bool:
        low, high = self.wins.bands[level]
        return low <= self.actual_wins <= high

    def revenue_inside(self, level: float) -> bool:
        low, high = self.revenue.bands[level]
        return low <= self.actual_revenue <= high

    def needed_inside(self, level: float) -> bool:
        low, high = self.needed_hours.bands[level]
        return low <= self.actual_needed_hours <= high


@dataclass(frozen=True)
class FigureRecord:
    """The track record of one forecast figure over the back-test dates."""

    #: What is forecast, in words ("wins", "revenue", "when 10 more wins").
    name: str
    count: int
    #: level → share of the dates whose actual fell inside that band.
    coverage: dict[float, float]
    #: Median |median forecast − actual| over the dates (for "when": over the dates where
    #: both are finite, in hours of the basis).
    typical_error: float
    verdicts: list[str]


@dataclass(frozen=True)
class CloseDatesRecord(FigureRecord):
    """The close dates' track record: ``count`` deal close dates scored over the dates (a
    deal open at several dates counts at each), ``typical_error`` in days; and the deals left
    out or counted outside (:mod:`funnel.forecasts.close_dates`)."""

    #: Still open at the end, past their 95 % band: counted outside every band.
    open_outside: int = 0
    #: Still open at the end, not yet past their 95 % band: left out.
    censored: int = 0
    #: Lost: left out (the dates are given a win).
    lost: int = 0
    #: Never won in the runs, so without dates: left out.
    no_dates: int = 0


@dataclass(frozen=True)
class Backtest:
    points: list[BacktestPoint]
    #: level → share of the dates whose actual wins fell inside that band.
    coverage: dict[float, float]
    #: Median |median forecast − actual| over the dates, in wins and in revenue.
    typical_error_wins: float
    typical_error_revenue: float
    #: The wins' verdicts (as ``records["wins"].verdicts``).
    verdicts: list[str]
    #: Per figure ("wins", "revenue" and, when asked, "needed"): its track record.
    records: dict[str, FigureRecord] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.points)

    @property
    def revenue_coverage(self) -> dict[float, float]:
        return self.records["revenue"].coverage

    def all_verdicts(self) -> list[str]:
        """Every figure's verdicts, each saying which figure it is about."""
        return [
            f"{record.name.capitalize()}: {text}"
            for record in self.records.values()
            for text in record.verdicts
        ]


def actual(stream: ValueStream, start: datetime, end: datetime) -> tuple[int, float]:
    """The deals won in ``(start, end]`` by the log, and their amounts added up."""
    found = Deal.objects.filter(
        stream=stream, status=DealStatus.WON, closed_at__gt=start, closed_at__lte=end
    ).aggregate(n=Count("id"), revenue=Sum("amount"))
    return int(found["n"]), float(found["revenue"] or 0)


def verdicts(
    coverage: dict[float, float],
    count: int,
    unit: tuple[str, str] = ("back-test", "back-tests"),
) -> list[str]:
    """Plain words for each band whose coverage is well under its nominal level (more than
    ``SHORTFALL`` under); none when every band holds or there is nothing to judge. ``unit``:
    what is counted, one and many."""
    if not count:
        return []
    out = []
    for level in sorted(coverage):
        share = coverage[level]
        if share < level - SHORTFALL - 1e-9:
            out.append(
                f"the {level:.0%} band held the actual result only {share:.0%} of the time "
                f"(over {count} {unit[0] if count == 1 else unit[1]}): the bands are too narrow"
            )
    return out


def _record(name: str, inside: list[Callable[[float], bool]], errors: list[float]) -> FigureRecord:
    count = len(inside)
    coverage = {
        level: (sum(f(level) for f in inside) / count if count else float("nan")) for level in BANDS
    }
    return FigureRecord(
        name=name,
        count=count,
        coverage=coverage,
        typical_error=float(np.median(errors)) if errors else float("nan"),
        verdicts=verdicts(coverage, count),
    )


def _close_record(points: list[CloseDatesPoint]) -> CloseDatesRecord:
    """The close dates scored at every date, together."""
    count = sum(p.scored for p in points)
    coverage = {
        level: (sum(p.inside[level] for p in points) / count if count else float("nan"))
        for level in BANDS
    }
    errors = [e for p in points for e in p.errors_days]
    return CloseDatesRecord(
        name="close dates",
        count=count,
        coverage=coverage,
        typical_error=float(np.median(errors)) if errors else float("nan"),
        verdicts=verdicts(coverage, count, ("deal's close date", "deals' close dates")),
        open_outside=sum(p.open_outside for p in points),
        censored=sum(p.censored for p in points),
        lost=sum(p.lost for p in points),
        no_dates=sum(p.no_dates for p in points),
    )


def summarise(points: list[BacktestPoint], *, needed: int | None = None) -> Backtest:
    """Coverage per band, typical error and verdicts over the back-test points, for the wins,
    the revenue, (points with a known actual) "when ``needed`` more wins" and (points that
    scored them) each deal's close dates."""
    records = {
        "wins": _record(
            "wins",
            [p.inside for p in points],
            [abs(p.wins.median - p.actual_wins) for p in points],
        ),
        "revenue": _record(
            "revenue",
            [p.revenue_inside for p in points],
            [abs(p.revenue.median - p.actual_revenue) for p in points],
        ),
    }
    known = [p for p in points if p.needed_hours is not None and p.actual_needed_hours is not None]
    if known or needed:
        finite = [
            abs(p.needed_hours.median - p.actual_needed_hours)
            for p in known
            if math.isfinite(p.needed_hours.median) and math.isfinite(p.actual_needed_hours)
        ]
        label = f"when {needed} more wins" if needed else "when N more wins"
        records["needed"] = _record(label, [p.needed_inside for p in known], finite)
    close = [p.close_dates for p in points if p.close_dates is not None]
    if close:
        records["close_dates"] = _close_record(close)
    wins = records["wins"]
    return Backtest(
        points=points,
        coverage=wins.coverage,
        typical_error_wins=wins.typical_error,
        typical_error_revenue=records["revenue"].typical_error,
        verdicts=wins.verdicts,
        records=records,
    )


def backtest(
    stream: ValueStream,
    dates: Iterable[datetime],
    horizon: timedelta,
    *,
    runs: int = RUNS,
    seed: int | None = None,
    window: timedelta | None = None,
    needed: int | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    log: EventLog | None = None,
    close_dates: bool = False,
) -> Backtest:
    """Forecast the wins and revenue in ``(T, T + horizon]`` as of each ``T`` in ``dates`` and
    compare them with the log. ``window``: the model's window before each ``T`` (default:
    the model's 180 days). ``needed``: also back-test "when ``needed`` more wins" (followed
    up to ``NEEDED_HORIZONS`` horizons; a date whose actual is not known by ``now``, default
    the present, is left out of that figure). ``progress(done, total)`` is called before
    each date. The log is read once (``log``: one already read). ``close_dates``: also
    back-test each open deal's close dates against the log as of ``now``
    (:func:`funnel.forecasts.close_dates.score_close_dates`: its own runs, not stopped).

    Each date's runs stop at the horizon (or ``NEEDED_HORIZONS`` horizons with ``needed``):
    nothing later is asked, so the rounds after it are not simulated."""
    ordered = sorted(dates)
    log = log or EventLog(stream)
    now = now or timezone.now()
    points = []
    for i, moment in enumerate(ordered):
        if progress is not None:
            progress(i, len(ordered))
        start = moment - window if window is not None else None
        model, open_deals, axis = log.as_of(moment, start=start)
        hours = axis.hours_until(moment + horizon)
        reach = hours * NEEDED_HORIZONS if needed else hours
        # One seed per date, derived from the given one: the dates' draws are independent.
        date_seed = None if seed is None else seed * 1_000_003 + i
        deal_runs = simulate_deals(model, open_deals, runs=runs, seed=date_seed, cutoff=reach)
        new = new_deals_for(model, date_seed, sample=NEW_SAMPLE, cutoff=reach)
        forecast = wins_by(deal_runs, model, hours, seed=date_seed, new=new)
        wins, revenue = log.won_between(moment, moment + horizon)
        needed_bands = actual_needed = None
        if needed:
            when = wins_needed(
                deal_runs, model, needed, horizon_hours=reach, seed=date_seed, new=new
            )
            needed_bands = when.hours
            actual_needed = _actual_needed(log, moment, needed, reach, now)
        closes = None
        if close_dates:
            closes = score_close_dates(
                log, moment, model, open_deals, axis, now=now, runs=runs, seed=date_seed
            )
        points.append(
            BacktestPoint(
                at=moment,
                horizon_hours=hours,
                wins=forecast.wins,
                revenue=forecast.revenue,
                actual_wins=wins,
                actual_revenue=revenue,
                open_deals=len(open_deals),
                needed_hours=needed_bands,
                actual_needed_hours=actual_needed,
                close_dates=closes,
            )
        )
    return summarise(points, needed=needed)


def _actual_needed(
    log: EventLog, moment: datetime, needed: int, reach: float, now: datetime
) -> float | None:
    """Hours of the basis from ``moment`` to the ``needed``-th deal won after it; inf when it
    came later than ``reach`` hours; None when the log cannot tell yet (fewer wins so far
    and ``reach`` not over by ``now``)."""
    closes = log.win_times_after(moment)
    if len(closes) >= needed:
        hours = float(log.hours_from(moment, closes[needed - 1 : needed])[0])
        if hours <= reach:
            return hours
    seen = float(log.hours_from(moment, np.array([round(now.timestamp() * 1000)]))[0])
    return math.inf if seen >= reach else None
