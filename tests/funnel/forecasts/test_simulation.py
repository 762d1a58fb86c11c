"""The deal-level simulation and the pipeline forecasts on hand-built streams whose answers
are known (docs/forecasts.md). No database: the models are built from plain arrays. Every
test has a fixed seed; the tolerances are stated next to each assertion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from funnel.forecasts.model import OpenDeals, flow_model, survival_times
from funnel.forecasts.pipeline import NewDeals, wins_by, wins_needed
from funnel.forecasts.simulation import simulate_deals, simulate_paths

MEAN = 10.0


def deals(steps, ages, amounts=None) -> OpenDeals:
    n = len(steps)
    amounts = np.ones(n) if amounts is None else np.asarray(amounts, dtype=float)
    return OpenDeals(
        deal_ids=np.arange(n),
        steps=np.asarray(steps, dtype=np.int64),
        ages=np.asarray(ages, dtype=float),
        amounts=amounts,
        has_amount=np.ones(n, dtype=bool),
    )


def exponential_step(lost: int = 0, won: int = 1000, **extra):
    """One step, 20,000 completed times exponential with mean 10 h."""
    times = np.random.default_rng(7).exponential(MEAN, size=20_000)
    return flow_model([1], [[0, won, lost]], [times], **extra)


def test_a_fresh_deal_at_an_exponential_step_closes_at_the_closed_form_quantiles():
    runs = simulate_deals(exponential_step(), deals([0], [0.0]), seed=1)
    p50, p85, p95 = runs.close_quantiles()[0]
    # Exponential with mean m: the q-quantile is −m·ln(1 − q). Within 4 % (the 20,000
    # completed times and the 10,000 runs each move it by about 1 %).
    assert p50 == pytest.approx(math.log(2) * MEAN, rel=0.04)
    assert p85 == pytest.approx(-math.log(0.15) * MEAN, rel=0.04)
    assert p95 == pytest.approx(-math.log(0.05) * MEAN, rel=0.04)
    assert runs.win_probability()[0] == 1.0


def test_an_exponential_step_forgets_the_age_within_the_measured_times():
    # Memoryless: a deal 10 h in (the mean) has the same rest of time as a fresh one.
    runs = simulate_deals(exponential_step(), deals([0], [MEAN]), seed=2)
    assert runs.close_quantiles()[0][0] == pytest.approx(math.log(2) * MEAN, rel=0.06)


def test_a_loss_rate_of_half_at_one_step_gives_a_win_probability_of_half():
    runs = simulate_deals(exponential_step(lost=500, won=500), deals([0, 0], [0, 3]), seed=3)
    # 10,000 runs: the standard error is 0.005; 0.02 is four of them.
    assert runs.win_probability() == pytest.approx([0.5, 0.5], abs=0.02)


def test_a_deal_older_than_every_completed_visit_closes_later_than_a_fresh_one():
    times = np.random.default_rng(4).uniform(5, 15, size=2000)
    model = flow_model([1], [[0, 100, 0]], [times])
    longest = times.max()
    runs = simulate_deals(model, deals([0, 0, 0], [0.0, 2 * longest, 4 * longest]), seed=4)
    fresh, old, older = runs.close_quantiles()
    assert np.all(old > fresh)
    assert np.all(older > old)  # the older, the later
    # Stretched by age ÷ longest: twice the fresh deal's quantiles (within 3 %).
    assert old == pytest.approx(2 * fresh, rel=0.03)


def test_within_the_measured_times_the_rest_is_drawn_from_the_longer_ones():
    # Completed times 10, 20, 30: a deal 25 h in can only have 30 − 25 = 5 h left.
    model = flow_model([1], [[0, 10, 0]], [[10.0, 20.0, 30.0]])
    runs = simulate_deals(model, deals([0], [25.0]), runs=500, seed=5)
    assert np.all(runs.end == 5.0)


def test_a_deal_goes_through_every_later_step_and_rework_loops_end():
    # Step 0 → 1; step 1 goes back to 0 a third of the time, else wins; 1 h each.
    model = flow_model([1, 2], [[0, 10, 0, 0], [5, 0, 10, 0]], [[1.0], [1.0]])
    runs = simulate_deals(model, deals([0], [0.0]), runs=20_000, seed=6)
    assert runs.unresolved == 0
    assert runs.win_probability()[0] == 1.0
    # Number of passes through the loop is geometric: mean 2 h / (1 − 1/3) = 3 h.
    assert runs.end[0].mean() == pytest.approx(3.0, rel=0.02)


def test_a_step_without_completed_visits_follows_the_map():
    model = flow_model([1, 2], [[0, 4, 0, 0], [0, 0, 0, 0]], [[2.0], []], planned_hours=[8, 24])
    runs = simulate_deals(model, deals([0], [0.0]), runs=100, seed=7)
    # Step 2 has no measured exit: it moves on (wins, as the last step) after its planned 24 h.
    assert np.all(runs.won) and np.all(runs.end == 26.0)


def test_a_fixed_seed_gives_the_same_runs():
    model, open_deals = exponential_step(lost=300), deals([0, 0], [0, 12])
    first = simulate_deals(model, open_deals, runs=1000, seed=11)
    second = simulate_deals(model, open_deals, runs=1000, seed=11)
    assert np.array_equal(first.end, second.end) and np.array_equal(first.won, second.won)


def test_the_pipelines_expected_wins_are_the_sum_of_the_deals_win_probabilities():
    model = exponential_step(lost=400, won=600)
    runs = simulate_deals(model, deals([0] * 40, np.linspace(0, 50, 40)), runs=2000, seed=8)
    forecast = wins_by(runs, model, math.inf, new_deals=False)
    assert forecast.wins.mean == pytest.approx(runs.win_probability().sum(), rel=1e-9)
    assert forecast.expected_new_wins == 0.0


def test_revenue_by_a_date_counts_the_amounts_of_the_deals_won_by_then():
    model = flow_model([1], [[0, 1, 0]], [[10.0]])
    runs = simulate_deals(model, deals([0, 0], [0.0, 5.0], amounts=[100, 250]), runs=50)
    assert wins_by(runs, model, 6.0, new_deals=False).revenue.median == 250.0
    later = wins_by(runs, model, 11.0, new_deals=False)
    assert later.revenue.bands[0.95] == (350.0, 350.0) and later.wins.median == 2.0


def test_when_n_wins_come_in_from_the_open_deals():
    model = flow_model([1], [[0, 1, 0]], [[10.0]])
    runs = simulate_deals(model, deals([0, 0, 0], [0.0, 4.0, 8.0]), runs=50, seed=9)
    assert wins_needed(runs, model, 2, new_deals=False).likely_by[0.95] == 6.0
    never = wins_needed(runs, model, 4, new_deals=False)
    assert never.reached == 0.0 and never.hours.median == math.inf


def test_new_deals_drawn_from_their_poisson_wins_match_simulating_every_arrival():
    """The thinning shortcut of ``NewDeals`` against brute force: each scenario's arrivals
    drawn one by one (Poisson count, uniform instants) and simulated. Means within 3 %."""
    model = exponential_step(lost=300, won=700, entries=np.array([1]), arrivals_per_hour=0.2)
    horizon, scenarios = 48.0, 4000
    rng = np.random.default_rng(10)
    counts = rng.poisson(0.2 * horizon, size=scenarios)
    start = rng.random(counts.sum()) * horizon
    end, won, _ = simulate_paths(model, np.zeros(counts.sum(), int), np.zeros(counts.sum()), rng)
    in_time = won & (start + end <= horizon)
    brute = np.bincount(np.repeat(np.arange(scenarios), counts), in_time, minlength=scenarios)
    new = NewDeals(model, np.random.default_rng(11))
    assert new.expected_wins(horizon) == pytest.approx(brute.mean(), rel=0.03)
    # The first win's time, where one comes within the horizon: medians within 5 %.
    first = new.win_times(1, scenarios, np.random.default_rng(12))[0]
    first_brute = [
        (start[lo : lo + c] + end[lo : lo + c])[won[lo : lo + c]].min(initial=np.inf)
        for lo, c in zip(np.cumsum(counts) - counts, counts, strict=True)
    ]
    assert np.median(first) == pytest.approx(np.median(first_brute), rel=0.05)


def test_wins_by_adds_the_new_deals():
    model = exponential_step(entries=np.array([1]), arrivals_per_hour=0.5, won_amounts=[100.0])
    runs = simulate_deals(model, deals([0], [0.0]), runs=4000, seed=13)
    forecast = wins_by(runs, model, 24.0, seed=14)
    # The open deal wins within 24 h with chance 1 − e^(−2.4); the new ones: Λ(24) =
    # 0.5·∫₀²⁴(1 − e^(−u/10))du = 0.5·(24 − 10·(1 − e^(−2.4))) ≈ 7.45. Within 3 %.
    assert forecast.expected_open_wins == pytest.approx(1 - math.exp(-2.4), rel=0.03)
    assert forecast.expected_new_wins == pytest.approx(7.45, rel=0.03)
    assert forecast.revenue.mean == pytest.approx(
        100 * forecast.expected_new_wins + forecast.expected_open_wins, rel=1e-6
    )


def test_working_hours_from_now_land_on_working_days():
    from datetime import UTC, datetime, time

    from funnel.forecasts.model import TimeAxis
    from streams.calendars.working_time import SpanSpec, WorkingClock

    clock = WorkingClock(
        time_zone="UTC", spans=[SpanSpec(day, time(9), time(17)) for day in range(5)]
    )
    friday = datetime(2025, 3, 7, 16, 0, tzinfo=UTC)
    axis = TimeAxis(friday, clock)
    assert axis.basis == "working"
    assert axis.hours_until(datetime(2025, 3, 10, 10, 0, tzinfo=UTC)) == 2.0
    # 16 working hours: 1 on Friday, 8 on Monday, 7 on Tuesday.
    monday, tuesday, never = axis.instants([2.0, 16.0, math.inf])
    assert monday == datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
    assert tuesday == datetime(2025, 3, 11, 16, 0, tzinfo=UTC)
    assert never is None


def test_runs_stopped_at_a_cutoff_answer_only_what_happens_before_it():
    # Two steps of 10 h each, always won: every run closes 20 h from now.
    model = flow_model([1, 2], [[0, 1, 0, 0], [0, 0, 1, 0]], [[10.0], [10.0]])
    whole = simulate_deals(model, deals([0, 1], [0.0, 0.0]), runs=100, seed=1)
    assert whole.end[:, 0].tolist() == [20.0, 10.0] and whole.won.all()
    cut = simulate_deals(model, deals([0, 1], [0.0, 0.0]), runs=100, seed=1, cutoff=15.0)
    # The first deal is still going at 15 h: not won, no close time, not unresolved.
    assert not cut.won[0].any() and np.isinf(cut.end[0]).all() and cut.unresolved == 0
    assert cut.won[1].all() and (cut.end[1] == 10.0).all()
    # A residual already past the cutoff: stopped before the first round.
    late = simulate_deals(model, deals([1], [0.0]), runs=10, seed=1, cutoff=5.0)
    assert not late.won.any()


def test_the_kaplan_meier_times_put_the_open_visits_rest_at_the_longest_age():
    # Completed 1 h and 2 h, one visit still open at 5 h: S = 2/3 after 1 h, 1/3 after 2 h,
    # and the last third (the open visit) is "at least 5 h": the longest age seen.
    assert survival_times(np.array([1.0, 2.0]), np.array([5.0])).tolist() == [1.0, 2.0, 5.0]
    # Open at 0.5 h, before every completed time: it leaves the three others, a third each
    # (CDF 1/3, 2/3, 1), read at the four visits' (i + ½) ÷ 4 = 1/8, 3/8, 5/8, 7/8.
    assert survival_times(np.array([1.0, 2.0, 4.0]), np.array([0.5])).tolist() == [
        1.0,
        2.0,
        2.0,
        4.0,
    ]
    # Nothing open: the completed times themselves.
    assert survival_times(np.array([3.0, 1.0]), np.zeros(0)).tolist() == [1.0, 3.0]


def test_a_young_log_counts_its_open_visits_and_is_not_fooled_by_the_quick_ones():
    # 4,000 visits entered evenly over the 30 days before the window's end, times exponential
    # with mean 10 days (240 h): by the end only the quicker ones have finished, so the
    # completed times alone (what the model drew before) put the median close at 4.6 days
    # instead of 6.93 (10 · ln 2). With the visits still open counted as "longer than their
    # age" (Kaplan–Meier), a fresh deal's median close is the true one within 6 %, and its
    # 85 % close (19 days) within 10 % (the estimate reaches 30 days at most, S(30 d) = 5 %).
    rng = np.random.default_rng(11)
    entered = rng.uniform(0, 720, size=4000)  # hours before the end
    times = rng.exponential(240.0, size=4000)
    done = times < entered
    completed, still_open = times[done], entered[~done]
    young = flow_model(
        [1],
        [[0, int(done.sum()), 0]],
        [completed],
        entered_times=(np.sort(completed),),
        entered_open=(np.sort(still_open),),
    )
    p50, p85, _ = simulate_deals(young, deals([0], [0.0]), seed=2).close_quantiles()[0]
    assert p50 == pytest.approx(240 * math.log(2), rel=0.06)
    assert p85 == pytest.approx(-240 * math.log(0.15), rel=0.10)
    naive = flow_model([1], [[0, int(done.sum()), 0]], [completed])
    n50 = simulate_deals(naive, deals([0], [0.0]), seed=2).close_quantiles()[0][0]
    assert n50 < 0.8 * 240 * math.log(2)
