"""The lab's probability for the outcome, the flow for the timing (funnel/forecasts/
outcome.py; docs/forecasts.md). Fixed seeds; tolerances stated beside each assertion."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone

from funnel.forecasts.model import measure
from funnel.forecasts.outcome import (
    combine_outcomes,
    lab_note,
    lab_probabilities,
)
from funnel.forecasts.simulation import simulate_deals
from funnel.qualification.models import LabSnapshot
from funnel.qualification.snapshots import lab_view_from_params
from tests.funnel.forecasts.test_simulation import deals, exponential_step
from tests.funnel.test_metrics import NOW, deal, vsm  # noqa: F401


def test_the_labs_probability_sets_the_share_of_won_runs_and_the_flow_the_timing():
    # The flow wins each deal half the time (exponential 10 h step, 50 % lost).
    model = exponential_step(lost=500, won=500)
    runs = simulate_deals(model, deals([0, 0, 0], [0.0, 4.0, 0.0]), seed=1)
    before = runs.close_quantiles()
    outcomes = combine_outcomes(runs, np.array([0.8, 0.1, np.nan]), model, seed=2)
    assert outcomes.source.tolist() == ["lab", "lab", "flow"]
    assert outcomes.outcome_source == "mixed" and outcomes.lab_deals == 2
    # 10,000 runs: the share's standard error is at most 0.005; within 0.02.
    assert runs.win_probability()[:2] == pytest.approx([0.8, 0.1], abs=0.02)
    assert runs.win_probability()[2] == pytest.approx(0.5, abs=0.02)  # untouched
    after = runs.close_quantiles()
    # The close times given a win are resampled from the flow's won runs of the same deal:
    # their 50 / 85 / 95 % quantiles within 5 % (1,000 resampled wins for the 10 % deal).
    assert after[0] == pytest.approx(before[0], rel=0.05)
    assert after[1] == pytest.approx(before[1], rel=0.08)
    assert np.array_equal(after[2], before[2])


def test_a_lab_probability_of_zero_or_one_decides_every_run():
    model = exponential_step(lost=500, won=500)
    runs = simulate_deals(model, deals([0, 0], [0.0, 0.0]), runs=2000, seed=3)
    outcomes = combine_outcomes(runs, np.array([1.0, 0.0]), model, seed=4)
    assert outcomes.outcome_source == "lab"
    assert runs.won[0].all() and not runs.won[1].any()
    assert np.isfinite(runs.end[0]).all()


def test_a_deal_the_flow_never_won_in_its_runs_gets_won_times_from_extra_runs():
    # One win in 1,000 closes: in 50 runs the flow (almost surely) never wins the deal; the
    # 20,000 extra runs find about 20 won times.
    model = exponential_step(lost=999, won=1)
    runs = simulate_deals(model, deals([0], [0.0]), runs=50, seed=5)
    assert not runs.won.any()
    outcomes = combine_outcomes(runs, np.array([0.6]), model, seed=6)
    assert outcomes.rescued == [0] and outcomes.source.tolist() == ["lab"]
    assert runs.won.any() and np.isfinite(runs.end[runs.won]).all()


def test_a_deal_the_flow_can_never_win_keeps_the_flows_outcome():
    model = exponential_step(lost=10, won=0)
    runs = simulate_deals(model, deals([0], [0.0]), runs=100, seed=7)
    outcomes = combine_outcomes(runs, np.array([0.7]), model, seed=8)
    assert outcomes.no_timing == [0] and outcomes.outcome_source == "flow"
    assert not runs.won.any()


def _snapshot(stream, deals: dict, *, status="ok", model_ok=True):
    _, key, _ = lab_view_from_params(stream, {})
    now = timezone.now()
    return LabSnapshot.objects.create(
        stream=stream,
        view_key=key,
        requested_at=now,
        computed_at=now,
        result={
            "model": {"status": status},
            "open_deals": {"model_ok": model_ok, "steps": {"1": {"auc": 0.7}}},
        },
        open_deals=deals,
    )


@pytest.mark.django_db
def test_lab_probabilities_are_read_for_deals_still_at_the_step_they_were_scored_at(vsm):  # noqa: F811
    q, d = vsm.qualify, vsm.discovery
    a = deal(vsm, (q, "2025-03-10T09:00Z", None))
    b = deal(vsm, (q, "2025-03-09T09:00Z", "2025-03-10T09:00Z"), (d, "2025-03-10T09:00Z", None))
    c = deal(vsm, (q, "2025-03-11T09:00Z", None))
    model, open_deals, _ = measure(vsm.stream, now=NOW)
    assert lab_probabilities(vsm.stream, open_deals, model).status == "none"
    # A scored at Qualify (still there), B scored at Qualify but now at Discovery, C none.
    _snapshot(
        vsm.stream,
        {str(a.pk): {"probability": 0.62, "step": q.pk}, str(b.pk): {"probability": 0.3,
         "step": q.pk}},
    )  # fmt: skip
    lab = lab_probabilities(vsm.stream, open_deals, model)
    assert lab.status == "ok" and lab.scored == 1
    assert lab.by_deal(open_deals) == {a.pk: 0.62, b.pk: None, c.pk: None}
    assert lab.missing == {
        "moved to another step since the lab view was computed": 1,
        "no lab probability (its step has no lab model, or it opened since)": 1,
    }
    runs = simulate_deals(model, open_deals, runs=100, seed=1)
    note = lab_note(lab, combine_outcomes(runs, lab.probability, model, seed=2))
    assert note.startswith("1 of 3 open deals use the qualification lab's calibrated win")
    assert "1 deal: moved to another step since the lab view was computed." in note


@pytest.mark.django_db
def test_no_lab_probability_below_the_labs_floor(vsm):  # noqa: F811
    deal(vsm, (vsm.qualify, "2025-03-10T09:00Z", None))
    model, open_deals, _ = measure(vsm.stream, now=NOW)
    _snapshot(vsm.stream, {}, status="not_enough", model_ok=False)
    lab = lab_probabilities(vsm.stream, open_deals, model)
    assert lab.status == "not_enough" and lab.scored == 0
    runs = simulate_deals(model, open_deals, runs=10, seed=1)
    assert "does not have enough closed deals" in lab_note(
        lab, combine_outcomes(runs, lab.probability, model)
    )
