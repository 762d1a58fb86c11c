"""The Check's statistics (metrics.md §6) against values worked out by hand.

Fisher's exact test: with the margins fixed, the count of successes after the change, X, is
hypergeometric; the two-sided p-value sums P(X = k) over every k no more likely than the
observed one. For 10 items on each side, C(20, 10) = 184,756.

Mann–Whitney U, 10 items on each side, no ties: scipy uses the normal approximation with a
continuity correction (its exact distribution only up to 8 items a side): μ = n₁n₂/2 = 50,
σ = √(n₁n₂(n₁+n₂+1)/12) = √175, z = (|U − μ| − ½)/σ, p = erfc(z/√2).
"""

from __future__ import annotations

import math

import pytest

from kaizen.models import Direction, Verdict
from kaizen.stats import MIN_ITEMS, compare_durations, compare_proportions, judge

SIGMA_10_10 = math.sqrt(175)


def normal_p(u: float) -> float:
    return math.erfc((abs(u - 50) - 0.5) / SIGMA_10_10 / math.sqrt(2))


def test_it_finds_a_clear_drop_in_durations_an_improvement():
    before = list(range(11, 21))  # median 15.5
    after = list(range(1, 11))  # median 5.5, every one shorter than every before: U = 0
    result = compare_durations(before, after, direction=Direction.DECREASE)

    assert result.n_before == result.n_after == 10
    assert result.value_before == 15.5 and result.value_after == 5.5
    assert result.effect == pytest.approx((5.5 - 15.5) / 15.5)  # −64.5 %
    assert result.statistic == 0
    # z = 49.5 / √175 = 3.742 → p = 0.000183
    assert result.p_value == pytest.approx(normal_p(0), rel=1e-9)
    assert result.p_value == pytest.approx(1.8267e-4, rel=1e-4)
    assert result.verdict == Verdict.IMPROVED
    assert result.needed_before == result.needed_after == 0


def test_the_same_drop_is_worse_for_a_cycle_that_aimed_higher():
    result = compare_durations(range(11, 21), range(1, 11), direction=Direction.INCREASE)
    assert result.verdict == Verdict.WORSE


def test_a_small_shift_in_durations_is_inconclusive():
    before = list(range(1, 11))  # median 5.5
    after = [k + 0.5 for k in range(1, 11)]  # median 6.0; a_k beats k of the before: U = 55
    result = compare_durations(before, after, direction=Direction.DECREASE)

    assert result.statistic == 55
    # z = 4.5 / √175 = 0.340 → p = 0.734
    assert result.p_value == pytest.approx(normal_p(55), rel=1e-9)
    assert result.p_value == pytest.approx(0.7337, abs=1e-4)
    assert result.effect == pytest.approx(0.5 / 5.5)
    assert result.verdict == Verdict.INCONCLUSIVE


def test_identical_durations_on_both_sides_are_inconclusive_with_p_one():
    result = compare_durations([4.0] * 12, [4.0] * 12, direction=Direction.DECREASE)
    assert result.p_value == 1.0
    assert result.effect == 0
    assert result.verdict == Verdict.INCONCLUSIVE


def test_too_few_durations_on_one_side_are_insufficient_and_say_how_many_more():
    result = compare_durations(range(1, 10), range(1, 16), direction=Direction.DECREASE)

    assert (result.n_before, result.n_after) == (9, 15)
    assert result.verdict == Verdict.INSUFFICIENT_DATA
    assert result.p_value is None and result.statistic is None
    # The medians and their change are still shown: 5 → 8.
    assert (result.value_before, result.value_after) == (5.0, 8.0)
    assert result.effect == pytest.approx(0.6)
    assert (result.needed_before, result.needed_after) == (1, 0)


def test_no_items_after_the_change_need_ten():
    result = compare_durations(range(1, 21), [], direction=Direction.DECREASE)
    assert result.verdict == Verdict.INSUFFICIENT_DATA
    assert result.value_after is None and result.effect is None
    assert result.needed_after == MIN_ITEMS


def test_it_finds_a_clear_rise_in_a_proportion_an_improvement():
    # Before 2 of 10, after 9 of 10: 11 successes in 20. P(X = k) ∝ C(11, k)·C(9, 10 − k):
    # k = 1…10 → 11, 495, 5940, 27720, 58212, 58212, 27720, 5940, 495, 11 (sum 184,756).
    # Observed X = 9 (495): k ∈ {1, 2, 9, 10} → p = 1012 / 184,756 = 0.00548.
    result = compare_proportions(
        hits_before=2, n_before=10, hits_after=9, n_after=10, direction=Direction.INCREASE
    )

    assert result.p_value == pytest.approx(1012 / 184_756, rel=1e-9)
    assert (result.value_before, result.value_after) == (0.2, 0.9)
    assert result.effect == pytest.approx(0.7)
    assert result.statistic == pytest.approx(36.0)  # odds ratio (9·8) / (1·2)
    assert result.verdict == Verdict.IMPROVED


def test_a_rise_that_might_be_chance_is_inconclusive():
    # Before 4 of 10, after 8 of 10: 12 successes. P(X = k) ∝ C(12, k)·C(8, 10 − k):
    # k = 2…10 → 66, 1760, 13860, 44352, 64680, 44352, 13860, 1760, 66.
    # Observed X = 8 (13,860): k ∈ {2, 3, 4, 8, 9, 10} → p = 31,372 / 184,756 = 0.170.
    result = compare_proportions(
        hits_before=4, n_before=10, hits_after=8, n_after=10, direction=Direction.INCREASE
    )

    assert result.p_value == pytest.approx(31_372 / 184_756, rel=1e-9)
    assert result.effect == pytest.approx(0.4)
    assert result.verdict == Verdict.INCONCLUSIVE


def test_a_one_item_difference_has_p_one():
    # 5 of 10 against 6 of 10: the observed table is the most likely one (58,212 of 184,756,
    # tied with 5 of 10 after), so every table counts: p = 1.
    result = compare_proportions(
        hits_before=5, n_before=10, hits_after=6, n_after=10, direction=Direction.INCREASE
    )
    assert result.p_value == pytest.approx(1.0)
    assert result.verdict == Verdict.INCONCLUSIVE


def test_a_clear_fall_in_a_proportion_the_cycle_wanted_higher_is_worse():
    result = compare_proportions(
        hits_before=9, n_before=10, hits_after=2, n_after=10, direction=Direction.INCREASE
    )
    assert result.effect == pytest.approx(-0.7)
    assert result.verdict == Verdict.WORSE


def test_too_few_items_of_a_proportion_are_insufficient():
    result = compare_proportions(
        hits_before=3, n_before=12, hits_after=4, n_after=4, direction=Direction.INCREASE
    )
    assert result.verdict == Verdict.INSUFFICIENT_DATA
    assert result.p_value is None
    assert (result.value_before, result.value_after) == (0.25, 1.0)
    assert (result.needed_before, result.needed_after) == (0, 6)


def test_it_refuses_more_successes_than_items():
    with pytest.raises(ValueError):
        compare_proportions(
            hits_before=11, n_before=10, hits_after=1, n_after=10, direction=Direction.INCREASE
        )


@pytest.mark.parametrize(
    ("p_value", "effect", "direction", "verdict"),
    [
        (0.049, -0.2, Direction.DECREASE, Verdict.IMPROVED),
        (0.049, 0.2, Direction.DECREASE, Verdict.WORSE),
        (0.049, 0.2, Direction.INCREASE, Verdict.IMPROVED),
        (0.05, -0.2, Direction.DECREASE, Verdict.INCONCLUSIVE),  # p < 0.05, strictly
        (0.001, 0.0, Direction.DECREASE, Verdict.INCONCLUSIVE),  # no direction to point
        (0.001, None, Direction.DECREASE, Verdict.INCONCLUSIVE),  # a zero median before
    ],
)
def test_the_verdict_follows_p_and_the_direction_of_the_effect(p_value, effect, direction, verdict):
    assert judge(p_value=p_value, effect=effect, direction=direction, n_before=10, n_after=10) == (
        verdict
    )
