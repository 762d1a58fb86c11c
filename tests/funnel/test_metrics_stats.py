"""The pure math of the metrics engine (``funnel.metrics.stats``): no database."""

from __future__ import annotations

import math

import pytest

from funnel.metrics.stats import littles_law_ratio, quantiles, ratio, step_takts


class TestQuantiles:
    # Reference values from numpy 2 (np.quantile, method="linear"), worked out by hand:
    # the rank of fraction q among n sorted values is q × (n − 1), interpolated linearly.

    def test_it_interpolates_between_closest_ranks(self) -> None:
        # [1, 2, 3, 4, 10]: p50 at rank 2 → 3; p85 at rank 3.4 → 4 + 0.4 × 6 = 6.4;
        # p95 at rank 3.8 → 4 + 0.8 × 6 = 8.8 (np.quantile gives 3.0, 6.4, 8.8).
        assert quantiles([10, 1, 4, 2, 3], [0.5, 0.85, 0.95]) == pytest.approx([3.0, 6.4, 8.8])

    def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(self) -> None:
        # [3, 5] → rank 0.5 → 4 (the style guide's example: 3 h + 5 h → median 4 h).
        assert quantiles([3.0, 5.0], [0.5]) == [4.0]

    def test_one_value_is_every_percentile(self) -> None:
        assert quantiles([7.5], [0.0, 0.5, 0.85, 1.0]) == [7.5, 7.5, 7.5, 7.5]

    def test_the_extremes_are_min_and_max(self) -> None:
        assert quantiles([2.0, 9.0, 4.0], [0.0, 1.0]) == [2.0, 9.0]

    def test_it_matches_numpy_on_a_longer_sample(self) -> None:
        values = [0.5, 12.0, 3.25, 7.0, 7.0, 1.0, 48.0, 0.0, 22.5, 5.5, 2.0]
        # Sorted: 0, 0.5, 1, 2, 3.25, 5.5, 7, 7, 12, 22.5, 48 (n = 11, ranks q × 10).
        # p50 → rank 5 → 5.5; p85 → rank 8.5 → 12 + 0.5 × 10.5 = 17.25;
        # p95 → rank 9.5 → 22.5 + 0.5 × 25.5 = 35.25; p10 → rank 1 → 0.5.
        assert quantiles(values, [0.5, 0.85, 0.95, 0.1]) == pytest.approx([5.5, 17.25, 35.25, 0.5])

    def test_it_leaves_out_missing_values(self) -> None:
        # None and NaN are not durations: [1, 3] remain → median 2.
        assert quantiles([1.0, None, math.nan, 3.0], [0.5]) == [2.0]

    def test_no_values_give_none_for_every_fraction(self) -> None:
        assert quantiles([], [0.5, 0.85]) == [None, None]
        assert quantiles([None, math.nan], [0.5]) == [None]

    def test_it_returns_plain_floats(self) -> None:
        (value,) = quantiles([1, 2], [0.5])
        assert type(value) is float


class TestRatio:
    def test_it_divides(self) -> None:
        assert ratio(3, 4) == 0.75

    def test_a_zero_denominator_gives_none(self) -> None:
        assert ratio(3, 0) is None
        assert ratio(0.0, 0.0) is None

    def test_an_unknown_part_gives_none(self) -> None:
        assert ratio(None, 4) is None
        assert ratio(3, None) is None

    def test_a_zero_numerator_is_zero(self) -> None:
        assert ratio(0, 5) == 0.0


class TestLittlesLawRatio:
    def test_a_stable_step_is_near_one(self) -> None:
        # 10 completed in 100 h → 0.1 per hour; mean 20 h → expected WIP 2; avg WIP 2 → 1.
        assert littles_law_ratio(
            avg_wip=2.0, completed=10, window_hours=100.0, mean_hours=20.0
        ) == pytest.approx(1.0)

    def test_it_is_avg_wip_over_throughput_times_mean(self) -> None:
        # 4 completed in 168 h → 1/42 per hour; mean 21 h → 0.5; avg WIP 1.5 → 3.
        assert littles_law_ratio(
            avg_wip=1.5, completed=4, window_hours=168.0, mean_hours=21.0
        ) == pytest.approx(3.0)

    def test_no_completions_give_none(self) -> None:
        # Throughput 0 (and no mean) → no ratio.
        assert littles_law_ratio(avg_wip=1.0, completed=0, window_hours=24, mean_hours=None) is None
        assert littles_law_ratio(avg_wip=1.0, completed=0, window_hours=24, mean_hours=5) is None

    def test_unknowns_and_an_empty_window_give_none(self) -> None:
        assert littles_law_ratio(avg_wip=None, completed=2, window_hours=24, mean_hours=5) is None
        assert littles_law_ratio(avg_wip=1.0, completed=2, window_hours=0, mean_hours=5) is None

    def test_a_zero_mean_gives_none(self) -> None:
        # Visits that took no time: throughput × mean = 0 → undefined.
        assert littles_law_ratio(avg_wip=0.0, completed=2, window_hours=24, mean_hours=0) is None


class TestStepTakts:
    def test_without_losses_every_step_has_the_stream_takt(self) -> None:
        # 160 h / 8 wins = 20 h at every step.
        assert step_takts(available_hours=160.0, target_wins=8, loss_rates=[0.0, 0.0, 0.0]) == [
            20.0,
            20.0,
            20.0,
        ]

    def test_losses_downstream_shorten_the_takt_upstream(self) -> None:
        # Conversions 1 − loss: step 1 0.5, step 2 0.8, step 3 1.0.
        # Step 3: required 10 / 1 = 10 arrivals → 100 h / 10 = 10 h.
        # Step 2: required 10 / (0.8 × 1) = 12.5 → 100 / 12.5 = 8 h.
        # Step 1: required 10 / (0.5 × 0.8) = 25 → 100 / 25 = 4 h.
        assert step_takts(
            available_hours=100.0, target_wins=10, loss_rates=[0.5, 0.2, 0.0]
        ) == pytest.approx([4.0, 8.0, 10.0])

    def test_an_unknown_conversion_leaves_it_and_every_earlier_step_without_takt(self) -> None:
        # Step 2 has no completed visits (loss rate None): step 3 still has 100 / 10 = 10 h.
        assert step_takts(available_hours=100.0, target_wins=10, loss_rates=[0.0, None, 0.0]) == [
            None,
            None,
            10.0,
        ]

    def test_a_step_that_loses_everything_leaves_earlier_steps_without_takt(self) -> None:
        # Step 2 converts 0 → no number of arrivals can meet the target.
        assert step_takts(available_hours=100.0, target_wins=10, loss_rates=[0.0, 1.0, 0.0]) == [
            None,
            None,
            10.0,
        ]

    def test_without_targets_there_is_no_takt(self) -> None:
        assert step_takts(available_hours=None, target_wins=10, loss_rates=[0.0]) == [None]
        assert step_takts(available_hours=100.0, target_wins=None, loss_rates=[0.0]) == [None]

    def test_no_steps_give_no_takts(self) -> None:
        assert step_takts(available_hours=100.0, target_wins=10, loss_rates=[]) == []
