"""Small pure functions the engine finishes its figures with: plain values in, plain values
out, testable without a database."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def quantiles(values: Sequence[float], fractions: Sequence[float]) -> list[float | None]:
    """Percentiles with linear interpolation between closest ranks (numpy's default, the same
    as PostgreSQL's ``percentile_cont``); Nones when there are no values."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return [None] * len(fractions)
    return [float(q) for q in np.quantile(np.asarray(clean, dtype=float), list(fractions))]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is unknown or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def littles_law_ratio(
    *, avg_wip: float | None, completed: int, window_hours: float, mean_hours: float | None
) -> float | None:
    """metrics.md §2: ``avg_wip / (throughput_per_hour × mean_hours)``; near 1 when stable."""
    if avg_wip is None or mean_hours is None or window_hours <= 0:
        return None
    return ratio(avg_wip, (completed / window_hours) * mean_hours)


def step_takts(
    *, available_hours: float | None, target_wins: int | None, loss_rates: Sequence[float | None]
) -> list[float | None]:
    """metrics.md §3 ``step_takt_hours`` for steps in map order.

    Required arrivals at step s = target wins / Π conversion of s and every later step, where a
    step's conversion is the share of its completed visits that did not end in a loss
    (1 − ``loss_rate``). A step whose own or a later step's conversion is unknown or zero has
    no takt (None).
    """
    takts: list[float | None] = [None] * len(loss_rates)
    if not available_hours or not target_wins:
        return takts
    product = 1.0
    for i in range(len(loss_rates) - 1, -1, -1):
        rate = loss_rates[i]
        if rate is None or product == 0.0:
            break
        product *= 1.0 - rate
        if product == 0.0:
            break
        takts[i] = available_hours / (target_wins / product)
    return takts


@dataclass
class XmR:
    """Natural process limits of a series (metrics.md §6): mean ± 2.66 × mean moving range;
    None when the series has fewer than two values."""

    mean: float | None = None
    mean_moving_range: float | None = None
    upper: float | None = None
    lower: float | None = None


def xmr(values: Sequence[float]) -> XmR:
    """The XmR limits of a series; all None with fewer than two values (no moving range)."""
    if len(values) < 2:
        return XmR(None, None, None, None)
    series = np.asarray(values, dtype=float)
    mean = float(series.mean())
    moving_range = float(np.abs(np.diff(series)).mean())
    return XmR(mean, moving_range, mean + 2.66 * moving_range, mean - 2.66 * moving_range)
