"""The summary box (metrics.md §3) computed by ``streams.metrics.map_summary``, against
figures worked out by hand in the comments. Pure functions: no database."""

from __future__ import annotations

import pytest

from streams.metrics import StepFigures, map_summary
from vsm_project import demo


def fig(pt: float | None, lt: float | None, ca: float | None, wip: float | None = 0) -> StepFigures:
    return StepFigures(process_hours=pt, lead_hours=lt, pct_complete_accurate=ca, wip=wip)


THREE_STEPS = [fig(0.5, 24, 90), fig(2, 72, 80), fig(4, 48, 100)]


def test_it_sums_lead_and_process_time_in_map_order():
    summary = map_summary(THREE_STEPS, available_hours=None, target_wins=None)
    # LT = 24 + 72 + 48 = 144 h; PT = 0.5 + 2 + 4 = 6.5 h
    assert summary.lead_time_hours == 144
    assert summary.process_time_hours == 6.5
    assert summary.steps == 3


def test_it_divides_process_time_by_lead_time_for_the_activity_ratio():
    summary = map_summary(THREE_STEPS, available_hours=None, target_wins=None)
    # 6.5 / 144 = 0.045138…
    assert summary.activity_ratio == pytest.approx(0.045139, abs=1e-6)


def test_it_multiplies_the_steps_pct_complete_accurate():
    summary = map_summary(THREE_STEPS, available_hours=None, target_wins=None)
    # 0.9 × 0.8 × 1.0 = 0.72 → 72 %
    assert summary.rolled_pct_complete_accurate == pytest.approx(72.0)


def test_it_divides_available_hours_by_target_wins_for_takt():
    summary = map_summary(THREE_STEPS, available_hours=400, target_wins=10)
    # 400 h / 10 won deals = 40 h per won deal
    assert summary.takt_hours == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("available", "target"), [(None, 10), (400, None), (None, None), (0, 10), (400, 0)]
)
def test_it_leaves_takt_empty_without_both_targets(available, target):
    assert (
        map_summary(THREE_STEPS, available_hours=available, target_wins=target).takt_hours is None
    )


def test_it_has_no_activity_ratio_when_the_lead_time_is_zero():
    # PT 0 + 0 = 0 h over LT 0 + 0 = 0 h: no ratio rather than a division by zero
    summary = map_summary([fig(0, 0, 100), fig(0, 0, 90)], available_hours=None, target_wins=None)
    assert summary.lead_time_hours == 0
    assert summary.activity_ratio is None
    # 1.0 × 0.9 = 90 %
    assert summary.rolled_pct_complete_accurate == pytest.approx(90.0)


def test_an_empty_map_has_zero_times_and_no_ratios():
    summary = map_summary([], available_hours=480, target_wins=12)
    assert summary.lead_time_hours == 0
    assert summary.process_time_hours == 0
    assert summary.activity_ratio is None
    assert summary.rolled_pct_complete_accurate is None
    assert summary.steps == 0
    # takt depends only on the stream's targets: 480 / 12 = 40 h
    assert summary.takt_hours == pytest.approx(40.0)


def test_it_skips_unknown_figures():
    steps = [
        fig(1, 10, 90),
        fig(None, 30, None),  # PT and %C&A unknown: not added, not multiplied
        fig(3, None, 50),  # LT unknown
    ]
    summary = map_summary(steps, available_hours=None, target_wins=None)
    # LT = 10 + 30 = 40 h; PT = 1 + 3 = 4 h; ratio 4 / 40 = 0.1; rolled 0.9 × 0.5 = 45 %
    assert summary.lead_time_hours == 40
    assert summary.process_time_hours == 4
    assert summary.activity_ratio == pytest.approx(0.1)
    assert summary.rolled_pct_complete_accurate == pytest.approx(45.0)
    assert summary.steps == 3


def test_no_known_pct_complete_accurate_gives_no_rolled_figure():
    summary = map_summary([fig(1, 2, None)], available_hours=None, target_wins=None)
    assert summary.rolled_pct_complete_accurate is None


def test_a_zero_pct_complete_accurate_rolls_to_zero():
    # 0.9 × 0 = 0 %: one step that always needs rework spoils the whole stream
    summary = map_summary([fig(1, 2, 90), fig(1, 2, 0)], available_hours=None, target_wins=None)
    assert summary.rolled_pct_complete_accurate == 0


def demo_planned_figures() -> list[StepFigures]:
    return [
        fig(
            s.spec.planned_process_hours,
            s.spec.planned_lead_hours,
            s.spec.planned_pct_complete_accurate,
            s.spec.planned_wip,
        )
        for s in demo.STEPS
    ]


def test_the_demo_streams_planned_summary_worked_by_hand():
    # Planned figures of the 8 demo steps (vsm_project/demo.py), in map order:
    #   step                   PT h    LT h   %C&A
    #   Lead capture           0.25     24     95
    #   Lead nurturing         1.00    240     80
    #   Qualification call     0.75     72     85
    #   Discovery meeting      2.00    168     85
    #   Solution demo          3.00    168     80
    #   Proposal & ROI model   4.00    120     75
    #   Negotiation            3.00    240     70
    #   Contract review        2.00    168     90
    assert [s.spec.name for s in demo.STEPS] == [
        "Lead capture",
        "Lead nurturing",
        "Qualification call",
        "Discovery meeting",
        "Solution demo",
        "Proposal & ROI model",
        "Negotiation",
        "Contract review",
    ]
    summary = map_summary(demo_planned_figures(), available_hours=480, target_wins=12)
    # LT = 24 + 240 + 72 + 168 + 168 + 120 + 240 + 168 = 1200 h (50 days)
    assert summary.lead_time_hours == pytest.approx(1200)
    # PT = 0.25 + 1 + 0.75 + 2 + 3 + 4 + 3 + 2 = 16 h
    assert summary.process_time_hours == pytest.approx(16)
    # activity ratio = 16 / 1200 = 0.013333… (1.3 %)
    assert summary.activity_ratio == pytest.approx(0.0133333, abs=1e-7)
    # rolled %C&A = .95 × .80 = .76; × .85 = .646; × .85 = .5491; × .80 = .43928;
    #               × .75 = .32946; × .70 = .230622; × .90 = .2075598 → 20.75598 %
    assert summary.rolled_pct_complete_accurate == pytest.approx(20.75598, abs=1e-5)
    # takt = 480 available selling hours / 12 target won deals = 40 h per won deal
    assert summary.takt_hours == pytest.approx(40)
    assert summary.steps == 8
