"""The statistics of the qualification lab (docs/metrics.md, "Qualification lab"): pure
functions over counts, no database.

- :func:`wilson`: the Wilson score interval of a proportion (Wilson 1927).
- :func:`newcombe`: the hybrid score interval of a difference of two independent proportions
  (Newcombe 1998, method 10), built from the two Wilson intervals.
- :func:`katz`: the log interval of a ratio of two proportions, the lift (Katz et al. 1978).
- :func:`fisher_p`: Fisher's exact test, two-sided (scipy).
- :func:`bh_q`: Benjamini–Hochberg adjusted p-values (q), monotone, capped at 1.
- :func:`deals_needed`: the closed deals a two-proportion test needs to detect a given lift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import fisher_exact, norm

#: Two-sided 95 %.
Z95 = float(norm.ppf(0.975))
#: The lift ``deals_needed`` is asked to detect, its significance and power.
DETECT_LIFT = 1.5
ALPHA = 0.05
POWER = 0.8
#: Sides of a criterion (met, not met) with fewer deals than this get no p, q nor verdict.
MIN_SIDE = 5


def interval(value: float | None, low: float | None, high: float | None) -> dict | None:
    """A figure with its interval as the lab's JSON has it; None when there is no value."""
    if value is None:
        return None
    return {"value": value, "low": low, "high": high}


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float, float] | None:
    """``(proportion, low, high)``: the Wilson score interval; None for ``n == 0``."""
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return p, max(0.0, centre - half), min(1.0, centre + half)


def newcombe(
    won_1: int, n_1: int, won_2: int, n_2: int, z: float = Z95
) -> tuple[float, float, float] | None:
    """``(p1 − p2, low, high)``: Newcombe's hybrid score interval; None when a side is empty."""
    one, two = wilson(won_1, n_1, z), wilson(won_2, n_2, z)
    if one is None or two is None:
        return None
    (p1, l1, u1), (p2, l2, u2) = one, two
    d = p1 - p2
    return d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def katz(
    won_1: int, n_1: int, won_2: int, n_2: int, z: float = Z95
) -> tuple[float, float, float] | None:
    """``(p1 / p2, low, high)``: the ratio with Katz's log interval. None when a side is
    empty or has no wins (the ratio is 0 or infinite and the log interval undefined)."""
    if n_1 <= 0 or n_2 <= 0 or won_1 <= 0 or won_2 <= 0:
        return None
    ratio = (won_1 / n_1) / (won_2 / n_2)
    se = math.sqrt(1 / won_1 - 1 / n_1 + 1 / won_2 - 1 / n_2)
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)


def fisher_p(won_1: int, n_1: int, won_2: int, n_2: int) -> float:
    """Fisher's exact two-sided p of the 2×2 table (won, lost) × (side 1, side 2)."""
    table = [[won_1, n_1 - won_1], [won_2, n_2 - won_2]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def bh_q(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg q of each p (None stays None and is not counted as a test):
    q_(i) = min over j ≥ i of p_(j) · m / j, capped at 1."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    q: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(m, 0, -1):
        p, i = tested[rank - 1]
        running = min(running, p * m / rank)
        q[i] = running
    return q


def deals_needed(
    base_rate: float | None,
    share_met: float | None,
    lift: float = DETECT_LIFT,
    alpha: float = ALPHA,
    power: float = POWER,
) -> int | None:
    """Closed deals (met and not met together) a two-sided two-proportion z-test needs to
    detect a win rate ``lift`` × ``base_rate`` among the deals that meet a criterion against
    ``base_rate`` among those that do not, with ``share_met`` of the deals meeting it (held
    within 5–95 %: an all-or-nothing share would need infinitely many). Normal
    approximation with unequal groups:

        N = (z_α/2·√(p̄q̄(1/r + 1/(1−r))) + z_β·√(p1q1/r + p2q2/(1−r)))² / (p1 − p2)²

    None without a base rate above 0 (a lift of nothing is nothing)."""
    if base_rate is None or base_rate <= 0 or base_rate >= 1:
        return None
    r = min(0.95, max(0.05, share_met if share_met is not None else 0.5))
    p2 = base_rate
    p1 = min(0.999, p2 * lift)
    if p1 <= p2:
        return None
    p_bar = r * p1 + (1 - r) * p2
    z_a = float(norm.ppf(1 - alpha / 2))
    z_b = float(norm.ppf(power))
    root = z_a * math.sqrt(p_bar * (1 - p_bar) * (1 / r + 1 / (1 - r))) + z_b * math.sqrt(
        p1 * (1 - p1) / r + p2 * (1 - p2) / (1 - r)
    )
    return math.ceil(root * root / (p1 - p2) ** 2)
