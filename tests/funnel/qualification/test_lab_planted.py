"""The planted-signal simulation: three criteria with a real effect on winning among ten;
the lab ranks them first and gives no noise criterion a q below 0.05 (fixed seed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from funnel.models import Deal, Visit
from funnel.qualification.lab import LabView, compute_lab
from funnel.qualification.models import CriterionScore
from funnel.qualification.simulate import simulate_lab
from funnel.qualification.stats import bh_q
from tests.factories import TeamFactory, make_stream
from tests.shared_data import shared_data

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 1, tzinfo=UTC)
EFFECTS = [2.5, 0, 0, 2.0, 0, 0, 0, 1.8, 0, 0]
PLANTED = {"c1", "c4", "c8"}
#: The team weights C2 (noise) 5 of 5 and C4 (planted) 4; it gives C1 and C8 no weight.
WEIGHTS = [None, 5, 0, 4, 1, 1, 1, None, 1, 0]


@pytest.fixture(scope="module")
def planted(django_db_setup, django_db_blocker):
    """Simulated and computed once for the module (2,000 closed deals), in a transaction
    rolled back after it; what a test writes is undone after that test."""
    with shared_data(django_db_blocker):
        stream = make_stream(TeamFactory(), name="Planted")
        sim = simulate_lab(
            stream,
            closed=2000,
            effects=EFFECTS,
            weights=WEIGHTS,
            open_deals=50,
            start=START,
            seed=7,
        )
        view = LabView(
            start=START, end=START + timedelta(days=400), as_of=sim.criteria[0].known_by_id
        )
        yield stream, sim, compute_lab(stream, view)


def test_the_planted_criteria_rank_first_and_no_noise_is_significant(planted):
    _, _, result = planted
    ranked = [c["key"] for c in result["criteria"]]
    assert set(ranked[:3]) == PLANTED
    for c in result["criteria"]:
        if c["key"] in PLANTED:
            assert c["verdict"] == "predicts_win" and c["q"] < 0.05
        else:
            assert c["q"] is None or c["q"] >= 0.05
            assert c["verdict"] in ("no_effect", "not_yet")
    assert result["model"]["status"] == "ok"
    assert result["model"]["auc"]["low"] > 0.6


def test_the_myths_are_the_weighted_noise_and_the_unweighted_effects(planted):
    _, _, result = planted
    myths = {m["key"]: m for m in result["myths"]}
    assert set(myths) == {"c2", "c1", "c8"}
    assert myths["c2"]["kind"] == "weighted_no_effect"
    assert myths["c2"]["text"].startswith("The team weights C2 5 of 5, but deals that met it won ")
    assert (myths["c1"]["kind"], myths["c8"]["kind"]) == ("unweighted_effect",) * 2
    assert myths["c1"]["text"].startswith("The team gives C1 no weight, yet deals that met it won")


def test_open_deals_get_a_probability_from_their_steps_model(planted):
    _, _, result = planted
    open_deals = result["open_deals"]
    assert open_deals["model_ok"] is True
    deals = Deal.objects.in_bulk([int(k) for k in open_deals["deals"]])
    assert open_deals["deals_scored"] == len(deals) > 0
    expected = sum(
        float(deals[int(k)].amount) * v["probability"] for k, v in open_deals["deals"].items()
    )
    assert open_deals["expected_value"] == pytest.approx(expected, rel=1e-3)
    # The unweighted pipeline is over the same deals (those with a probability).
    plain = sum(float(deals[int(k)].amount) for k in open_deals["deals"])
    assert open_deals["pipeline"] == pytest.approx(plain, rel=1e-6)
    assert open_deals["deals_open"] >= open_deals["deals_scored"]
    assert all(0 < v["probability"] < 1 for v in open_deals["deals"].values())
    assert all(len(v["drivers"]) <= 3 for v in open_deals["deals"].values())


def test_open_deals_are_scored_on_their_criteria_at_first_entry_to_their_step(planted):
    """The step's model is trained on closed deals' criteria as of their first entry to the
    step, so an open deal is scored on its own as of its first entry to its current step: a
    score given after that entry (here: every criterion at its top level) changes nothing
    until the deal moves on. Each step model's out-of-sample AUC and Brier are stored."""
    stream, sim, result = planted
    open_deals = result["open_deals"]
    key, entry = next(iter(open_deals["deals"].items()))
    first = (
        Visit.objects.filter(deal_id=int(key), step_id=entry["step"]).order_by("entered_at").first()
    )
    for criterion in sim.criteria:
        CriterionScore.objects.create(
            deal_id=int(key),
            criterion=criterion,
            level=len(criterion.levels) - 1,
            scored_at=first.entered_at + timedelta(minutes=1),
        )
    view = LabView(start=START, end=START + timedelta(days=400), as_of=result["view"]["as_of"])
    again = compute_lab(stream, view)["open_deals"]["deals"][key]
    assert again["probability"] == entry["probability"]
    step = open_deals["steps"][str(entry["step"])]
    reached = set(
        Visit.objects.filter(step_id=entry["step"], deal__status__in=["won", "lost"]).values_list(
            "deal_id", flat=True
        )
    )
    won = Deal.objects.filter(pk__in=reached, status="won").count()
    assert (step["won"], step["lost"], step["folds"]) == (won, len(reached) - won, 5)
    assert 0.6 < step["auc"] <= 1 and 0 < step["brier"] < 0.25


def test_every_threshold_of_every_criterion_is_one_bh_family(planted):
    """q of each threshold (and of each criterion, its met-level threshold) is BH over the
    p of all thresholds of all criteria tested (p as stored: 3 significant digits)."""
    _, _, result = planted
    splits = [t for c in result["criteria"] for t in c["thresholds"]]
    assert len(splits) == 3 * len(result["criteria"])  # the evidence scale: 3 thresholds
    expected = bh_q([t["p"] for t in splits])
    for split, q in zip(splits, expected, strict=True):
        assert split["q"] == pytest.approx(q, rel=1e-2, abs=1e-12)
    for c in result["criteria"]:
        at_met = [t for t in c["thresholds"] if t["label"] == c["met_label"]]
        assert [(t["n_met"], t["q"]) for t in at_met] == [(c["n_met"], c["q"])]


def test_the_stored_view_keeps_the_open_deals_apart_and_gives_them_back(planted):
    """The job stores the open deals' probabilities in their own column, so the Quality page
    does not decode them; the API's and the deal page's reader puts them back."""
    from funnel.qualification.models import LabSnapshot
    from funnel.qualification.snapshots import lab_snapshot_result, lab_view_read

    stream, sim, result = planted
    params = {"start": "2025-01-01", "end": "2026-02-04", "as_of": str(sim.criteria[0].known_by_id)}
    lab_view_read(stream, params)  # eager Celery: the job computes and stores the view
    stored = LabSnapshot.objects.get(stream=stream)
    assert "deals" not in stored.result["open_deals"]
    assert set(stored.open_deals) == set(result["open_deals"]["deals"])
    whole = lab_snapshot_result(stored)
    assert whole["open_deals"]["deals"] == stored.open_deals
    assert whole["open_deals"]["expected_value"] == stored.result["open_deals"]["expected_value"]
    page_read, _ = lab_view_read(stream, params)
    assert "open_deals" in page_read.get_deferred_fields()
