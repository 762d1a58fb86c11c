"""Target attainment (issue 19, point 2; docs/forecasts.md "Target attainment").

The stream sets a target of won deals per planning period (``ValueStream``:
``target_won_deals_per_period`` over ``period_days``). For a period asked for (a quarter, a
month), the target is scaled to its length, **target × days ÷ period_days, rounded up** (a
target of 12 per 30 days over a 91-day quarter is ⌈36.4⌉ = 37: a part of a deal cannot be
won, and rounding down would make the target easier than the plan). The period's total wins
are those already won in it (the log's deals won with ``closed_at`` in ``[period start,
now]``) plus, per scenario, the forecast wins from now to the period's end
(:func:`funnel.forecasts.pipeline.scenario_wins`: today's open deals and new deals). Across
the scenarios: the expected total, its 50 / 85 / 95 % bands, and the share of scenarios in
which it reaches the target, read as the probability of reaching it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from funnel.forecasts.model import FlowModel, TimeAxis
from funnel.forecasts.pipeline import Bands, NewDeals, cumulative_wins, scenario_wins
from funnel.forecasts.simulation import DealRuns
from funnel.models import Deal, DealStatus
from streams.models import ValueStream


@dataclass(frozen=True)
class Attainment:
    """The period's target against its forecast total wins."""

    period_start: datetime
    period_end: datetime
    #: The stream's target scaled to the period (rounded up).
    target: int
    #: Deals already won in the period, up to now.
    won_so_far: int
    #: Won so far + the forecast wins from now to the period's end, across the scenarios.
    total: Bands
    #: Share of the scenarios whose total reaches the target.
    probability: float

    @property
    def expected(self) -> float:
        return self.total.mean


def period_target(stream: ValueStream, start: datetime, end: datetime) -> int | None:
    """The stream's target of won deals scaled to ``[start, end)``: target × days ÷
    period_days, rounded up (None when the stream sets no target). Days count the period's
    length exactly (a period of 91.5 days is 91.5)."""
    target = stream.target_won_deals_per_period
    if not target or not stream.period_days:
        return None
    days = (end - start).total_seconds() / 86400
    # Rounding up a product that is whole up to float error (12 × 60 / 30) stays whole.
    return max(0, math.ceil(round(target * days / stream.period_days, 9)))


def won_between(stream: ValueStream, start: datetime, end: datetime) -> int:
    """Deals of the stream won with ``closed_at`` in ``[start, end]``."""
    return Deal.objects.filter(
        stream=stream, status=DealStatus.WON, closed_at__gte=start, closed_at__lte=end
    ).count()


def attainment(
    forecast_wins: np.ndarray,
    won_so_far: int,
    target: int,
    *,
    period_start: datetime,
    period_end: datetime,
) -> Attainment:
    """The figures from the per-scenario forecast wins to the period's end (no database)."""
    total = won_so_far + np.asarray(forecast_wins, dtype=float)
    return Attainment(
        period_start=period_start,
        period_end=period_end,
        target=int(target),
        won_so_far=int(won_so_far),
        total=Bands.of(total),
        probability=float((total >= target).mean()) if len(total) else float("nan"),
    )


def target_attainment(
    stream: ValueStream,
    deal_runs: DealRuns,
    model: FlowModel,
    axis: TimeAxis,
    *,
    period_start: datetime,
    period_end: datetime,
    seed: int | None = None,
    new: NewDeals | None = None,
) -> Attainment | None:
    """The stream's target over ``[period_start, period_end)`` against the forecast: wins
    already closed in the period (``closed_at`` from ``period_start`` to ``axis.now``) plus
    each scenario's wins from ``axis.now`` to ``period_end`` (``scenario_wins`` over the same
    ``deal_runs``, with new deals; ``new``/``seed`` as there). None when the stream sets no
    target. A period that ended before now adds no forecast wins; one that starts after now
    counts no wins so far and forecasts only the wins between its start and end (each
    scenario's cumulative wins to the end minus those to the start)."""
    target = period_target(stream, period_start, period_end)
    if target is None:
        return None
    now = axis.now
    so_far = won_between(stream, period_start, min(now, period_end)) if now > period_start else 0
    hours = axis.hours_until(period_end) if period_end > now else 0.0
    if hours <= 0:
        forecast = np.zeros(max(deal_runs.runs, 1))
    elif period_start > now:
        cumulative = cumulative_wins(
            deal_runs, model, [axis.hours_until(period_start), hours], seed=seed, new=new
        )
        forecast = cumulative[1] - cumulative[0]
    else:
        forecast = scenario_wins(deal_runs, model, hours, seed=seed, new=new).wins
    return attainment(forecast, so_far, target, period_start=period_start, period_end=period_end)
