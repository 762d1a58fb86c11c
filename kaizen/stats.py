"""The statistics of the kaizen Check (metrics.md §6): plain values in, dataclasses out,
testable without a database.

- Durations (time in step, sales cycle): two-sided Mann–Whitney U test on the raw durations
  (``scipy.stats.mannwhitneyu``, ``method="auto"``: exact for small samples without ties, the
  normal approximation with tie and continuity correction otherwise); effect = relative change
  of the medians, ``(after − before) / before``.
- Proportions (%C&A, conversion, win rate): two-sided Fisher's exact test on the 2×2 counts
  (``scipy.stats.fisher_exact``); effect = after's proportion − before's.
- Verdict: ``improved`` when p < 0.05 and the effect points the way the cycle aimed,
  ``worse`` when p < 0.05 the other way, ``inconclusive`` otherwise (a zero or unknown effect
  included), ``insufficient_data`` when either side has fewer than :data:`MIN_ITEMS` items.
  With too few items nothing is tested (p is None); the medians or proportions are still
  given, and ``needed_before`` / ``needed_after`` say how many more items each side needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from kaizen.models import Direction, Verdict

#: Fewer items than this on either side: ``insufficient_data`` (metrics.md §6).
MIN_ITEMS = 10
#: Significance level of both tests.
ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """Before against after, as the Check reports it."""

    n_before: int
    n_after: int
    #: Medians (durations) or proportions (0–1); None without items.
    value_before: float | None
    value_after: float | None
    #: Relative change of the medians, or difference of the proportions; None when unknown.
    effect: float | None
    #: Two-sided p-value; None when not tested (too few items).
    p_value: float | None
    #: Mann–Whitney U of the after sample, or Fisher's odds ratio; None when not tested or
    #: not finite.
    statistic: float | None
    verdict: str
    needed_before: int
    needed_after: int


def needed(n: int) -> int:
    """How many more items a side needs before the Check may judge it."""
    return max(0, MIN_ITEMS - n)


def judge(
    *, p_value: float | None, effect: float | None, direction: str, n_before: int, n_after: int
) -> str:
    """The verdict of metrics.md §6 (see the module docstring)."""
    if n_before < MIN_ITEMS or n_after < MIN_ITEMS:
        return Verdict.INSUFFICIENT_DATA
    if p_value is None or p_value >= ALPHA or effect is None or effect == 0:
        return Verdict.INCONCLUSIVE
    aimed_down = direction == Direction.DECREASE
    return Verdict.IMPROVED if (effect < 0) == aimed_down else Verdict.WORSE


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _comparison(
    *,
    n_before: int,
    n_after: int,
    value_before: float | None,
    value_after: float | None,
    effect: float | None,
    p_value: float | None,
    statistic: float | None,
    direction: str,
) -> Comparison:
    """The figures of one comparison with their verdict and the items each side still needs."""
    return Comparison(
        n_before=n_before,
        n_after=n_after,
        value_before=value_before,
        value_after=value_after,
        effect=effect,
        p_value=p_value,
        statistic=statistic,
        verdict=judge(
            p_value=p_value,
            effect=effect,
            direction=direction,
            n_before=n_before,
            n_after=n_after,
        ),
        needed_before=needed(n_before),
        needed_after=needed(n_after),
    )


def compare_durations(
    before: Sequence[float], after: Sequence[float], *, direction: str
) -> Comparison:
    """Durations before and after the change (any one unit)."""
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    median_b = float(np.median(b)) if b.size else None
    median_a = float(np.median(a)) if a.size else None
    effect = None
    if median_b is not None and median_a is not None and median_b != 0:
        effect = (median_a - median_b) / median_b
    p_value = statistic = None
    if b.size >= MIN_ITEMS and a.size >= MIN_ITEMS:
        if np.ptp(np.concatenate([b, a])) == 0:
            # Every duration the same: nothing differs (scipy would give nan).
            p_value, statistic = 1.0, a.size * b.size / 2
        else:
            result = scipy_stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
            p_value, statistic = float(result.pvalue), float(result.statistic)
    return _comparison(
        n_before=int(b.size),
        n_after=int(a.size),
        value_before=median_b,
        value_after=median_a,
        effect=effect,
        p_value=p_value,
        statistic=statistic,
        direction=direction,
    )


def compare_proportions(
    *, hits_before: int, n_before: int, hits_after: int, n_after: int, direction: str
) -> Comparison:
    """Successes out of items, before and after the change."""
    if not (0 <= hits_before <= n_before and 0 <= hits_after <= n_after):
        raise ValueError("successes must be between 0 and the number of items")
    share_b = hits_before / n_before if n_before else None
    share_a = hits_after / n_after if n_after else None
    effect = None if share_b is None or share_a is None else share_a - share_b
    p_value = statistic = None
    if n_before >= MIN_ITEMS and n_after >= MIN_ITEMS:
        table = [[hits_after, n_after - hits_after], [hits_before, n_before - hits_before]]
        result = scipy_stats.fisher_exact(table, alternative="two-sided")
        p_value = min(1.0, float(result.pvalue))
        statistic = _finite(float(result.statistic))
    return _comparison(
        n_before=n_before,
        n_after=n_after,
        value_before=share_b,
        value_after=share_a,
        effect=effect,
        p_value=p_value,
        statistic=statistic,
        direction=direction,
    )
