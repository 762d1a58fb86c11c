"""The demo data's kaizen cycles: every phase, and one adopted with a measured improvement
that is on the future-state map."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.utils import timezone

from kaizen.models import CycleCheck, KaizenCycle, Outcome, Phase, Verdict
from kaizen.selectors import open_cycle_step_ids
from kaizen.templatetags.kaizen import standard_change
from streams.models import ValueStream
from vsm_project.demo import demo_seed

pytestmark = pytest.mark.django_db

ANCHOR = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_demo_has_cycles_in_every_phase_and_an_adopted_measured_improvement():
    result = demo_seed(anchor=ANCHOR)  # 500 deals
    cycles = KaizenCycle.objects.select_related("check_result", "step")

    assert {c.phase for c in cycles} == set(Phase.values)
    assert {c.outcome for c in cycles if c.phase == Phase.CLOSED} == set(Outcome.values)
    adopted = cycles.get(outcome=Outcome.ADOPTED)
    check = adopted.check_result
    assert check.verdict == Verdict.IMPROVED
    assert not adopted.adopted_without_evidence and adopted.evidence_override is None
    # Acting on a Check with too few deals carries the manager's written reason.
    for c in cycles:
        if c.phase in (Phase.ACT, Phase.CLOSED) and c.check_result is not None:
            thin = c.check_result.verdict == Verdict.INSUFFICIENT_DATA
            assert bool(c.evidence_override) == thin, c.title
    assert check.effect < -0.2 and check.p_value < 0.05
    assert min(check.n_before, check.n_after) >= 10
    future = ValueStream.objects.get(slug=result.future_slug)
    step = future.steps.get(name=adopted.step.name)
    assert step.planned_lead_hours == adopted.adopted_standard["after"]
    assert adopted.adopted_standard["after"] == round(check.value_after)
    # The Act reads as the map and the compare page do: the current state's 7 d → the adopted
    # standard; the demo's future state held no other target for the step ("3 d" before).
    planned_now = adopted.step.planned_lead_hours
    assert planned_now == 168
    assert adopted.adopted_standard["current"] == adopted.adopted_standard["before"] == 168
    assert standard_change(adopted.adopted_standard).startswith(
        "planned lead time of Discovery meeting: 7 d on the current-state map → "
    )
    assert "shorter plan" in standard_change(adopted.adopted_standard)
    # Every cycle past Do has its Check; the follow-up links back to the adapted one.
    assert all(c.check_result for c in cycles if c.phase in (Phase.CHECK, Phase.ACT))
    adapted = cycles.get(outcome=Outcome.ADAPTED)
    assert adapted.follow_ups.get().phase == Phase.CHECK
    # Open cycles carry their bursts on the current-state map; closed ones do not.
    current = ValueStream.objects.get(slug=result.stream_slug)
    open_steps = {c.step_id for c in cycles if c.is_open}
    assert open_cycle_step_ids(current) == open_steps
    assert adopted.step_id not in open_steps


def test_no_seeded_check_or_cycle_is_dated_after_the_anchor():
    # The default anchor is today 00:00 UTC: a Check stamped "today, 10:00 UTC" read "As of"
    # a time still to come for anyone seeding before ten.
    demo_seed(deals=30, anchor=ANCHOR)
    for cycle in KaizenCycle.objects.select_related("check_result"):
        assert cycle.checked_at is None or cycle.checked_at <= ANCHOR, cycle.title
        if hasattr(cycle, "check_result"):
            assert cycle.check_result.computed_at <= ANCHOR, cycle.title
    assert CycleCheck.objects.count() >= 4


def test_a_demo_seeded_before_ten_utc_has_no_check_in_the_future():
    # 06:08 in Berlin: the reviewer's morning.
    with time_machine.travel(datetime(2026, 12, 6, 5, 8, tzinfo=UTC), tick=False):
        demo_seed(deals=30)
        now = timezone.now()
    assert CycleCheck.objects.exists()
    assert all(c.computed_at <= now for c in CycleCheck.objects.all())
    assert all(c.checked_at <= now for c in KaizenCycle.objects.filter(checked_at__isnull=False))


def test_the_adopted_standard_is_worded_against_the_current_state_map():
    standard = {
        "step_name": "Discovery meeting",
        "unit": "hours",
        "current": 168.0,  # 7 d on the current-state map
        "before": 72.0,  # the future state's own target, never reached
        "after": 106.0,  # the measured standard: 4.4 d
    }
    assert standard_change(standard) == (
        "planned lead time of Discovery meeting: 7 d on the current-state map → 4.4 d on the "
        "future-state map (the new standard), a shorter plan than today's; it replaces the "
        "future state's earlier plan of 3 d"
    )
    # Recorded before the current state's value was kept: worded against the future state.
    old = {k: v for k, v in standard.items() if k != "current"}
    assert standard_change(old).startswith(
        "planned lead time of Discovery meeting: 3 d (the future state's previous plan) → 4.4 d"
    )
