"""The fan chart's cumulative wins (funnel/forecasts/pipeline.py ``cumulative_wins``,
``fan``) and target attainment (funnel/forecasts/target.py), on hand-built streams whose
answers are worked out by hand or in closed form (docs/forecasts.md). Fixed seeds; the
tolerances are stated beside each assertion."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from funnel.forecasts.model import TimeAxis, flow_model
from funnel.forecasts.pipeline import cumulative_wins, fan, new_deals_for, scenario_wins
from funnel.forecasts.simulation import simulate_deals
from funnel.forecasts.target import attainment, period_target, target_attainment
from tests.funnel.forecasts.test_simulation import deals, exponential_step
from tests.funnel.test_metrics import NOW, vsm, won  # noqa: F401


def test_cumulative_wins_of_deals_closing_at_known_times():
    # One step, every completed visit 10 h, always won: deals 5, 0 and 9 h in close 5, 10
    # and 1 h from now in every run.
    model = flow_model([1], [[0, 1, 0]], [[10.0]])
    runs = simulate_deals(model, deals([0, 0, 0], [5.0, 0.0, 9.0]), runs=20, seed=1)
    # Closes at 5, 10 and 1 h: by 0.5 h none, by 1 h one, by 5 h two, by 10 and 20 h three.
    total = cumulative_wins(runs, model, [0.5, 1.0, 5.0, 10.0, 20.0], new_deals=False)
    assert total.shape == (5, 20)
    assert np.all(total == np.array([0, 1, 2, 3, 3])[:, None])


def test_the_fan_at_each_date_is_wins_by_at_that_date():
    model = exponential_step(lost=400, won=600)
    runs = simulate_deals(model, deals([0] * 30, np.linspace(0, 40, 30)), runs=3000, seed=2)
    horizons = [24.0 * k for k in range(1, 8)]
    total = cumulative_wins(runs, model, horizons, new_deals=False)
    # Without new deals the open deals' counts are exactly wins_by's, scenario by scenario.
    for row, h in zip(total, horizons, strict=True):
        assert np.array_equal(row, scenario_wins(runs, model, h, new_deals=False).wins)
    bands = fan(runs, model, horizons, new_deals=False)
    assert [b.median for b in bands] == [float(np.median(row)) for row in total]
    assert np.all(np.diff(total, axis=0) >= 0)  # a scenario's count never falls


def test_the_fan_with_new_deals_matches_wins_by_in_distribution():
    model = exponential_step(entries=np.array([1]), arrivals_per_hour=0.5)
    runs = simulate_deals(model, deals([0, 0], [0.0, 3.0]), runs=8000, seed=3)
    new = new_deals_for(model, seed=4)
    horizons = [12.0, 24.0, 48.0]
    total = cumulative_wins(runs, model, horizons, seed=5, new=new)
    assert np.all(np.diff(total, axis=0) >= 0)
    for row, h in zip(total, horizons, strict=True):
        alone = scenario_wins(runs, model, h, seed=6, new=new).wins
        # Two independent draws of 8,000 scenarios of the same Poisson-plus-open count: the
        # means within 2 % and the variances within 6 %.
        assert row.mean() == pytest.approx(alone.mean(), rel=0.02)
        assert row.var() == pytest.approx(alone.var(), rel=0.06)
    # Λ(48) = 0.5·(48 − 10·(1 − e^(−4.8))) ≈ 19.04 new wins, plus two open deals won within
    # 48 h with chances 1 − e^(−4.8) each (memoryless): within 3 %.
    expected = 0.5 * (48 - 10 * (1 - math.exp(-4.8))) + 2 * (1 - math.exp(-4.8))
    assert total[-1].mean() == pytest.approx(expected, rel=0.03)


def test_horizons_must_ascend():
    model = exponential_step()
    runs = simulate_deals(model, deals([0], [0.0]), runs=10, seed=1)
    with pytest.raises(ValueError):
        cumulative_wins(runs, model, [10.0, 5.0])


def test_the_target_is_scaled_to_the_period_and_rounded_up(vsm):  # noqa: F811
    stream = vsm.stream  # 8 won deals per 30 days
    start = NOW
    assert period_target(stream, start, start + timedelta(days=30)) == 8
    # 8 × 26.25 ÷ 30 = 7 exactly; 8 × 26.3 ÷ 30 = 7.01 → 8; 8 × 91 ÷ 30 = 24.27 → 25.
    assert period_target(stream, start, start + timedelta(days=26.25)) == 7
    assert period_target(stream, start, start + timedelta(days=26.3)) == 8
    assert period_target(stream, start, start + timedelta(days=91)) == 25
    stream.target_won_deals_per_period = None
    assert period_target(stream, start, start + timedelta(days=30)) is None


def test_attainment_of_a_deterministic_forecast():
    start, end = NOW, NOW + timedelta(days=10)
    found = attainment(np.full(100, 4.0), 3, 7, period_start=start, period_end=end)
    assert found.probability == 1.0 and found.expected == 7.0 and found.total.median == 7.0
    assert attainment(np.full(100, 4.0), 3, 8, period_start=start, period_end=end).probability == 0
    # Half the scenarios bring 4, half 5: with 3 won, a target of 8 is reached half the time.
    half = attainment(np.repeat([4.0, 5.0], 50), 3, 8, period_start=start, period_end=end)
    assert half.probability == 0.5 and half.expected == 7.5


@pytest.mark.django_db
def test_target_attainment_counts_the_wins_so_far_and_the_open_deals(vsm):  # noqa: F811
    # Period: 26.25 days ending 10 h from now (target 7), from 16 Feb 04:00. Three deals won
    # in it, one before it.
    end = NOW + timedelta(hours=10)
    start = end - timedelta(days=26.25)
    for day in ("2025-02-10", "2025-03-01", "2025-03-05", "2025-03-11"):
        won(vsm, (vsm.qualify, f"{day}T08:00Z", f"{day}T09:00Z"))
    # Four open deals closing 5 h from now in every run (10 h visits, 5 h in), won.
    model = flow_model([vsm.qualify.pk], [[0, 1, 0]], [[10.0]])
    runs = simulate_deals(model, deals([0] * 4, [5.0] * 4), runs=200, seed=7)
    found = target_attainment(
        vsm.stream, runs, model, TimeAxis(NOW), period_start=start, period_end=end
    )
    assert (found.target, found.won_so_far) == (7, 3)
    assert found.expected == 7.0 and found.probability == 1.0
    # A period starting after now forecasts only its own part: from 6 h on, none of the four
    # (they close at 5 h).
    later = target_attainment(
        vsm.stream, runs, model, TimeAxis(NOW),
        period_start=NOW + timedelta(hours=6), period_end=NOW + timedelta(days=30),
    )  # fmt: skip
    assert later.won_so_far == 0 and later.expected == 0.0 and later.probability == 0.0


@pytest.mark.django_db
def test_target_attainment_with_poisson_new_wins_matches_the_closed_form(vsm):  # noqa: F811
    # No open deal; new deals arrive at 0.05 an hour, always won after an exponential 10 h:
    # the new wins within 100 h are Poisson with mean 0.05·(100 − 10·(1 − e^(−10))) = 4.5.
    end = NOW + timedelta(hours=100)
    start = end - timedelta(days=30)  # target 8
    for day in ("2025-02-20", "2025-03-01", "2025-03-05"):
        won(vsm, (vsm.qualify, f"{day}T08:00Z", f"{day}T09:00Z"))
    model = exponential_step(entries=np.array([1]), arrivals_per_hour=0.05)
    runs = simulate_deals(model, deals([], []), runs=20_000, seed=8)
    found = target_attainment(
        vsm.stream, runs, model, TimeAxis(NOW), period_start=start, period_end=end, seed=9
    )
    mean = 0.05 * (100 - 10 * (1 - math.exp(-10)))
    # P(3 + X ≥ 8) = P(X ≥ 5) = 1 − Σ_{k<5} e^(−4.5)·4.5^k ÷ k! ≈ 0.4679.
    closed = 1 - sum(math.exp(-mean) * mean**k / math.factorial(k) for k in range(5))
    assert (found.target, found.won_so_far) == (8, 3)
    # 20,000 scenarios: the share's standard error is 0.0035; within 0.02 (Λ is estimated
    # from 100,000 simulated fresh deals, within about 1 %). The mean within 2 %.
    assert found.probability == pytest.approx(closed, abs=0.02)
    assert found.expected == pytest.approx(3 + mean, rel=0.02)
