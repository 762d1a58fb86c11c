"""The statistics of the qualification lab (docs/metrics.md, "Qualification lab"): pure
functions over counts, no database.

- :func:`wilson`: the Wilson score interval of a proportion (Wilson 1927).
- :func:`newcombe`: the hybrid score interval of a difference of two independent proportions
  (Newcombe 1998, method 10), built from the two Wilson intervals.
- :func:`katz`: the log interval of a ratio of two proportions, the lift (Katz et al. 1978).
- :func:`fisher_p`: Fisher's exact test, two-sided (scipy).
- :func:`bh_q`: Benjamini–Hochberg adjusted p-values (q), monotone, capped at 1.
- :func:`worth_detecting`: the win rates, either side of a base rate, of an effect that matters.
- :func:`deals_needed`: the closed deals a two-proportion test needs to detect such an effect.
- :func:`verdict`: a criterion's verdict from its q, difference and lift interval.
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
    empty. A side without wins (or without losses) gets the Haldane correction: 0.5 added to
    each of the four cells, for the value and the interval alike (the ratio is otherwise 0
    or infinite and the log interval undefined)."""
    if n_1 <= 0 or n_2 <= 0:
        return None
    a, b, c, d = won_1, n_1 - won_1, won_2, n_2 - won_2
    if 0 in (a, b, c, d):
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    m_1, m_2 = a + b, c + d
    ratio = (a / m_1) / (c / m_2)
    se = math.sqrt(1 / a - 1 / m_1 + 1 / c - 1 / m_2)
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


def worth_detecting(base_rate: float, lift: float = DETECT_LIFT) -> tuple[float, float]:
    """``(lower, higher)``: the win rates, below and above ``base_rate``, of the smallest
    effect worth detecting: the win rate × or ÷ ``lift``, or the loss rate ÷ or × ``lift``,
    whichever is nearer the base rate. So above a base rate of 0.4 the loss rate sets it
    (at 0.8: 0.7 … 0.867, where a win rate × 1.5 is impossible), below it the win rate."""
    loss = 1 - base_rate
    higher = min(base_rate * lift, 1 - loss / lift)
    lower = max(base_rate / lift, 1 - loss * lift)
    return lower, higher


def deals_needed(
    base_rate: float | None,
    share_met: float | None,
    lift: float = DETECT_LIFT,
    alpha: float = ALPHA,
    power: float = POWER,
) -> int | None:
    """Closed deals (met and not met together) a two-sided two-proportion z-test needs to
    detect a win rate p1 among the deals that meet a criterion against ``base_rate`` among
    those that do not, p1 the higher rate of :func:`worth_detecting`, with ``share_met`` of
    the deals meeting it (held within 5–95 %: an all-or-nothing share would need infinitely
    many). Normal approximation with unequal groups:

        N = (z_α/2·√(p̄q̄(1/r + 1/(1−r))) + z_β·√(p1q1/r + p2q2/(1−r)))² / (p1 − p2)²

    None without a base rate strictly between 0 and 1."""
    if base_rate is None or base_rate <= 0 or base_rate >= 1:
        return None
    r = min(0.95, max(0.05, share_met if share_met is not None else 0.5))
    p2 = base_rate
    p1 = worth_detecting(p2, lift)[1]
    p_bar = r * p1 + (1 - r) * p2
    z_a = float(norm.ppf(1 - alpha / 2))
    z_b = float(norm.ppf(power))
    root = z_a * math.sqrt(p_bar * (1 - p_bar) * (1 / r + 1 / (1 - r))) + z_b * math.sqrt(
        p1 * (1 - p1) / r + p2 * (1 - p2) / (1 - r)
    )
    return math.ceil(root * root / (p1 - p2) ** 2)


def verdict(
    q: float | None,
    difference: float | None,
    lift: tuple[float, float, float] | None,
    base_rate: float | None,
    n: int,
    share_met: float | None,
    q_level: float = ALPHA,
) -> tuple[str, int | None]:
    """``(verdict, deals_needed)`` of a criterion tested on ``n`` closed deals.

    - ``predicts_win`` / ``predicts_loss``: q < ``q_level``, by the sign of the difference;
    - ``no_effect``: the lift's 95 % interval holds 1 and lies inside the band of
      :func:`worth_detecting` (as lifts over ``base_rate``, the not-met win rate): the data
      rule out any effect that matters, either way;
    - ``not_yet`` otherwise (untested, or an interval still reaching an effect that matters),
      with ``deals_needed``: the larger of the z-test's :func:`deals_needed` and, when the
      lift itself lies inside the band, the deals that would narrow its log interval to fit
      inside it (the half-width shrinks as 1/√n: n · (half-width / room)²)."""
    if q is not None and difference is not None and q < q_level:
        return ("predicts_win" if difference > 0 else "predicts_loss"), None
    needed = deals_needed(base_rate, share_met)
    if q is None or lift is None or base_rate is None or not 0 < base_rate < 1:
        return "not_yet", needed
    value, low, high = lift
    lower, higher = worth_detecting(base_rate)
    band_low, band_high = lower / base_rate, higher / base_rate
    if low <= 1 <= high and band_low < low and high < band_high:
        return "no_effect", None
    if band_low < value < band_high and value > 0:
        half = (math.log(high) - math.log(low)) / 2
        room = min(math.log(band_high / value), math.log(value / band_low))
        narrowing = math.ceil(n * (half / room) ** 2)
        needed = max(needed or 0, narrowing)
    return "not_yet", needed
