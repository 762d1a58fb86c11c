"""The planted-signal simulation: three criteria with a real effect on winning among ten;
the lab ranks them first and gives no noise criterion a q below 0.05 (fixed seed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from funnel.qualification.lab import LabView, compute_lab
from funnel.qualification.simulate import simulate_lab
from tests.factories import TeamFactory, make_stream

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 1, tzinfo=UTC)
EFFECTS = [2.5, 0, 0, 2.0, 0, 0, 0, 1.8, 0, 0]
PLANTED = {"c1", "c4", "c8"}


@pytest.fixture
def planted():
    stream = make_stream(TeamFactory(), name="Planted")
    sim = simulate_lab(stream, closed=2000, effects=EFFECTS, open_deals=50, start=START, seed=7)
    view = LabView(start=START, end=START + timedelta(days=400), as_of=sim.criteria[0].known_by_id)
    return stream, sim, compute_lab(stream, view)


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
