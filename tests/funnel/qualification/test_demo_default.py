"""The demo as ``seed_demo`` seeds it by default (500 deals), in the lab's default view: it
finds the three planted criteria, and names Paper process (weighted 5, no effect planted) a
myth: with these few deals "no effect shown" (``weighted_unproven``), where the 1,500 deals
of ``test_demo.py`` rule an effect out (``weighted_no_effect``). What README.md promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from funnel.qualification.lab import LabView, compute_lab
from funnel.qualification.snapshots import default_as_of
from streams.models import ValueStream
from vsm_project.demo import demo_seed
from vsm_project.demo_criteria import DEMO_CRITERIA, PLANTED

pytestmark = pytest.mark.django_db

ANCHOR = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_default_demo_finds_the_planted_criteria_and_the_paper_process_myth():
    demo = demo_seed(seed=42, anchor=ANCHOR)
    stream = ValueStream.objects.get(slug=demo.stream_slug)
    view = LabView(start=ANCHOR - timedelta(days=365), end=ANCHOR, as_of=default_as_of(stream))
    result = compute_lab(stream, view)
    verdicts = {c["name"]: c["verdict"] for c in result["criteria"]}
    assert {n for n, v in verdicts.items() if v == "predicts_win"} == set(PLANTED), verdicts
    assert {n for n in DEMO_CRITERIA if n not in PLANTED} <= {
        n for n, v in verdicts.items() if v in ("not_yet", "no_effect")
    }
    myths = {m["name"]: m for m in result["myths"]}
    assert myths["Paper process"]["kind"] == "weighted_unproven"
    assert "no effect shown in" in myths["Paper process"]["text"]
    assert result["model"]["status"] == "ok" and result["rules"]
    assert result["open_deals"]["model_ok"] and result["open_deals"]["expected_value"] > 0
