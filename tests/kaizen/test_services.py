"""The PDCA services: who may do what, the phase order, the baseline, the Act decisions (the
adopted standard on the future-state map) and the stored Check that keeps up with new deals.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from kaizen.models import CycleCheck, Direction, KaizenCycle, Metric, Outcome, Phase, Verdict
from kaizen.selectors import open_cycle_step_ids
from kaizen.services import (
    cycle_abandon,
    cycle_adapt,
    cycle_adopt,
    cycle_check,
    cycle_comment_add,
    cycle_delete,
    cycle_plan,
    cycle_start_act,
    cycle_start_check,
    cycle_start_do,
    cycle_update,
    cycles_check_open,
)
from kaizen.tasks import check_cycle
from streams.models import StreamState
from tests.factories import metrics_snapshot

from .conftest import CHANGE, CHANGE_AT, NOW, TODAY, cycle_at, visits_halving

pytestmark = pytest.mark.django_db


# --- Plan ---------------------------------------------------------------------------------


def test_a_plan_takes_its_baseline_from_the_streams_metric_snapshot(ns):
    step = ns.steps_a[1]
    start, end = NOW - timedelta(days=90), NOW - timedelta(minutes=5)
    metrics_snapshot(
        ns.stream_a,
        start=start,
        end=end,
        steps={step: {"median_hours": 40.0, "n_completed": 33, "pct_complete_accurate": 0.8}},
        win_rate=0.25,
        closed=12,
    )

    cycle = cycle_plan(
        user=ns.manager_a,
        stream=ns.stream_a,
        step=step,
        title="Book the next meeting before hanging up",
        metric=Metric.TIME_IN_STEP,
        target_value=24,
        now=NOW,
    )

    assert (cycle.phase, cycle.planned_on, cycle.owner, cycle.proposed_by) == (
        Phase.PLAN,
        TODAY,
        ns.manager_a,
        ns.manager_a,
    )
    assert (cycle.baseline_value, cycle.baseline_n) == (40.0, 33)
    assert (cycle.baseline_start, cycle.baseline_end) == (start, end)
    assert cycle.direction == Direction.DECREASE  # shorter is better, unless told otherwise

    rate = cycle_plan(
        user=ns.manager_a, stream=ns.stream_a, title="Better demos", metric=Metric.WIN_RATE, now=NOW
    )
    assert (rate.baseline_value, rate.baseline_n, rate.direction) == (0.25, 12, Direction.INCREASE)


def test_a_plan_recorded_late_takes_its_baseline_from_the_event_log_before_it(ns):
    step = ns.steps_a[1]
    visits_halving(ns.stream_a, step)  # 20 visits of 10 … 29 h completed 28 days before 03-03
    cycle = cycle_plan(
        user=ns.manager_a,
        stream=ns.stream_a,
        step=step,
        title="x",
        metric=Metric.TIME_IN_STEP,
        planned_on=CHANGE,
        now=NOW,
    )
    # The 90 days before 03-03 hold the 20 "before" visits: median 19.5 h.
    assert (cycle.baseline_value, cycle.baseline_n) == (19.5, 20)
    assert cycle.baseline_end == CHANGE_AT
    assert cycle.baseline_start == CHANGE_AT - timedelta(days=90)


def test_a_rep_proposes_a_cycle_they_own_and_may_not_name_another_owner(ns):
    cycle = cycle_plan(
        user=ns.rep_a1, stream=ns.stream_a, title="Idea", metric=Metric.WIN_RATE, now=NOW
    )
    assert (cycle.owner, cycle.proposed_by, cycle.phase) == (ns.rep_a1, ns.rep_a1, Phase.PLAN)
    with pytest.raises(PermissionDenied):
        cycle_plan(
            user=ns.rep_a1,
            stream=ns.stream_a,
            title="Idea",
            metric=Metric.WIN_RATE,
            owner=ns.rep_a2,
            now=NOW,
        )


@pytest.mark.parametrize("who", ["leader_a", "manager_b", "rep_b"])
def test_leadership_and_other_teams_cannot_plan(ns, who):
    with pytest.raises(PermissionDenied):
        cycle_plan(
            user=getattr(ns, who),
            stream=ns.stream_a,
            title="x",
            metric=Metric.WIN_RATE,
            now=NOW,
        )
    assert not KaizenCycle.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "  "}, "title"),
        ({"metric": Metric.TIME_IN_STEP, "step": None}, "step"),
        ({"metric": "vibes"}, "metric"),
        ({"metric": Metric.WIN_RATE, "target_value": 1.5}, "target_value"),
        ({"metric": Metric.TIME_IN_STEP, "target_value": -1}, "target_value"),
        ({"window_days": 3}, "window_days"),
        ({"target_date": date(2025, 1, 1)}, "target_date"),
        ({"planned_on": date(2025, 7, 1)}, "planned_on"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(ns, changes, field):
    values = {
        "title": "Faster",
        "metric": Metric.TIME_IN_STEP,
        "step": ns.steps_a[0],
        "window_days": 28,
    } | changes
    with pytest.raises(ValidationError) as error:
        cycle_plan(user=ns.manager_a, stream=ns.stream_a, now=NOW, **values)
    assert field in error.value.message_dict


def test_a_plan_refuses_a_step_of_another_map_and_the_future_state(ns):
    with pytest.raises(ValidationError) as error:
        cycle_plan(
            user=ns.manager_a,
            stream=ns.stream_a,
            step=ns.future_a.steps.first(),
            title="x",
            metric=Metric.TIME_IN_STEP,
            now=NOW,
        )
    assert "step" in error.value.message_dict
    assert ns.future_a.state == StreamState.FUTURE
    with pytest.raises(ValidationError) as error:
        cycle_plan(
            user=ns.manager_a, stream=ns.future_a, title="x", metric=Metric.WIN_RATE, now=NOW
        )
    assert "stream" in error.value.message_dict


def test_the_proposer_and_managers_edit_a_plan_until_do_then_it_is_fixed(ns):
    cycle = cycle_plan(
        user=ns.rep_a1, stream=ns.stream_a, title="Idea", metric=Metric.WIN_RATE, now=NOW
    )
    cycle = cycle_update(cycle=cycle, user=ns.rep_a1, now=NOW, prediction="Win rate +10 points")
    assert cycle.prediction == "Win rate +10 points"
    cycle = cycle_update(cycle=cycle, user=ns.manager_a, now=NOW, owner=ns.rep_a2)
    assert cycle.owner == ns.rep_a2
    for other in (ns.rep_a2, ns.leader_a, ns.manager_b):
        with pytest.raises(PermissionDenied):
            cycle_update(cycle=cycle, user=other, now=NOW, prediction="mine now")

    cycle_start_do(cycle=cycle, user=ns.manager_a, change_date=TODAY, now=NOW)
    with pytest.raises(ValidationError) as error:
        cycle_update(cycle=cycle, user=ns.manager_a, now=NOW, target_value=0.5)
    assert "target_value" in error.value.message_dict
    cycle = cycle_update(cycle=cycle, user=ns.manager_a, now=NOW, do_notes="Script shared")
    assert cycle.do_notes == "Script shared"


def test_changing_the_metric_of_a_plan_measures_the_baseline_again(ns):
    metrics_snapshot(
        ns.stream_a,
        start=NOW - timedelta(days=90),
        end=NOW,
        steps={ns.steps_a[0]: {"median_hours": 5.0, "n_completed": 9, "loss_rate": 0.25}},
    )
    cycle = cycle_plan(
        user=ns.manager_a,
        stream=ns.stream_a,
        step=ns.steps_a[0],
        title="x",
        metric=Metric.TIME_IN_STEP,
        now=NOW,
    )
    assert (cycle.baseline_value, cycle.direction) == (5.0, Direction.DECREASE)
    cycle = cycle_update(cycle=cycle, user=ns.manager_a, now=NOW, metric=Metric.CONVERSION)
    assert (cycle.baseline_value, cycle.baseline_n) == (0.75, 9)
    assert cycle.direction == Direction.INCREASE


def test_a_rep_may_withdraw_their_own_plan_but_nothing_past_plan(ns):
    mine = cycle_plan(user=ns.rep_a1, stream=ns.stream_a, title="a", metric="win_rate", now=NOW)
    with pytest.raises(PermissionDenied):
        cycle_delete(cycle=mine, user=ns.rep_a2)
    cycle_delete(cycle=mine, user=ns.rep_a1)
    started = cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    with pytest.raises(ValidationError):
        cycle_delete(cycle=started, user=ns.manager_a)


# --- Phase order --------------------------------------------------------------------------


def test_do_needs_a_change_date_that_is_neither_future_nor_before_the_plan(ns):
    cycle = cycle_plan(
        user=ns.manager_a,
        stream=ns.stream_a,
        title="x",
        metric="win_rate",
        planned_on=date(2025, 2, 20),
        now=NOW,
    )
    for change_date in (None, TODAY + timedelta(days=1), date(2025, 2, 19)):
        with pytest.raises(ValidationError) as error:
            cycle_start_do(cycle=cycle, user=ns.manager_a, change_date=change_date, now=NOW)
        assert "change_date" in error.value.message_dict
    cycle = cycle_start_do(
        cycle=cycle,
        user=ns.manager_a,
        change_date=CHANGE,
        change_description=" New script ",
        now=NOW,
    )
    assert (cycle.phase, cycle.change_date, cycle.change_description) == (
        Phase.DO,
        CHANGE,
        "New script",
    )


def test_phases_move_only_in_order(ns):
    cycle = cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    with pytest.raises(ValidationError, match="needs the cycle in Do"):
        cycle_start_check(cycle=cycle, user=ns.manager_a, now=NOW)
    with pytest.raises(ValidationError, match="needs the cycle in Check"):
        cycle_start_act(cycle=cycle, user=ns.manager_a)
    with pytest.raises(ValidationError, match="needs the cycle in Act"):
        cycle_adopt(cycle=cycle, user=ns.manager_a, standard="x", now=NOW)
    cycle_start_do(cycle=cycle, user=ns.manager_a, change_date=CHANGE, now=NOW)
    cycle_start_check(cycle=cycle, user=ns.manager_a, now=NOW)
    # No Act before the Check has been computed.
    with pytest.raises(ValidationError, match="not been computed"):
        cycle_start_act(cycle=cycle, user=ns.manager_a)
    cycle_check(cycle_id=cycle.pk, now=NOW)
    assert cycle_start_act(cycle=cycle, user=ns.manager_a, override_reason="x").phase == Phase.ACT


@pytest.mark.parametrize("who", ["rep_a1", "leader_a", "manager_b"])
def test_only_managers_move_a_cycle_through_do_check_and_act(ns, who):
    user = getattr(ns, who)
    plan = cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    do = cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    check = cycle_at(Phase.CHECK, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    act = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    attempts = [
        lambda: cycle_start_do(cycle=plan, user=user, change_date=CHANGE, now=NOW),
        lambda: cycle_start_check(cycle=do, user=user, now=NOW),
        lambda: cycle_start_act(cycle=check, user=user),
        lambda: cycle_adopt(cycle=act, user=user, standard="x", now=NOW),
        lambda: cycle_adapt(cycle=act, user=user, notes="x", now=NOW),
        lambda: cycle_abandon(cycle=act, user=user, reason="x", now=NOW),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    phases = dict(KaizenCycle.objects.values_list("pk", "phase"))
    assert [phases[c.pk] for c in (plan, do, check, act)] == ["plan", "do", "check", "act"]


def test_starting_the_check_computes_it_once_committed(ns, django_capture_on_commit_callbacks):
    visits_halving(ns.stream_a, ns.steps_a[1])
    cycle = cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, step=ns.steps_a[1])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        cycle_start_check(cycle=cycle, user=ns.manager_a, now=NOW)
    assert len(callbacks) == 1
    check = CycleCheck.objects.get(cycle=cycle)
    assert check.verdict == Verdict.IMPROVED
    assert check.effect == pytest.approx(-0.5)
    assert (check.n_before, check.n_after) == (20, 20)
    assert check.series["weeks"][0]["start"] == "2025-02-03T00:00:00+00:00"


# --- Act ----------------------------------------------------------------------------------


def test_acting_on_a_check_with_insufficient_data_needs_a_written_override(ns):
    cycle = cycle_at(Phase.CHECK, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    assert cycle.check_result.verdict == Verdict.INSUFFICIENT_DATA
    for blank in ("", "   "):
        with pytest.raises(ValidationError) as refused:
            cycle_start_act(cycle=cycle, user=ns.manager_a, override_reason=blank)
        assert "insufficient data (0 before the change and 0 after" in str(
            refused.value.message_dict["override_reason"]
        )
    assert KaizenCycle.objects.get(pk=cycle.pk).phase == Phase.CHECK

    cycle = cycle_start_act(
        cycle=cycle, user=ns.manager_a, override_reason="  The customers asked for it  "
    )
    assert (cycle.phase, cycle.evidence_override) == (Phase.ACT, "The customers asked for it")
    # The reason given at Act carries the adoption, which is then without evidence.
    cycle = cycle_adopt(cycle=cycle, user=ns.manager_a, standard="New way", now=NOW)
    assert cycle.outcome == Outcome.ADOPTED and cycle.adopted_without_evidence


def test_adopting_without_evidence_needs_a_reason_even_when_the_check_lost_its_data(ns):
    step = ns.steps_a[1]
    visits_halving(ns.stream_a, step)
    cycle = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, step=step)
    assert cycle.evidence_override is None  # improved: acted on evidence
    # The Check is recomputed in Act; with its visits gone it has insufficient data.
    from funnel.models import Visit

    Visit.objects.filter(step=step).delete()
    cycle_check(cycle_id=cycle.pk, now=NOW)
    with pytest.raises(ValidationError) as refused:
        cycle_adopt(cycle=cycle, user=ns.manager_a, standard="", now=NOW)
    assert set(refused.value.message_dict) == {"standard", "override_reason"}  # both at once
    cycle = cycle_adopt(
        cycle=cycle, user=ns.manager_a, standard="New way", override_reason="Judgement", now=NOW
    )
    assert cycle.adopted_without_evidence and cycle.evidence_override == "Judgement"


def test_adopting_on_evidence_clears_an_override_given_at_act(ns):
    step = ns.steps_a[1]
    cycle = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, step=step)
    assert cycle.evidence_override  # no data when it moved to Act
    visits_halving(ns.stream_a, step)
    assert cycle_check(cycle_id=cycle.pk, now=NOW).verdict == Verdict.IMPROVED
    cycle = cycle_adopt(cycle=cycle, user=ns.manager_a, standard="New way", now=NOW)
    assert cycle.evidence_override is None and not cycle.adopted_without_evidence


def test_history_counts_adoptions_without_evidence_apart(ns):
    from kaizen.selectors import improvement_history

    step = ns.steps_a[1]
    visits_halving(ns.stream_a, step)
    evidenced = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, step=step)
    cycle_adopt(cycle=evidenced, user=ns.manager_a, standard="On evidence", now=NOW)
    for title in ("Hunch one", "Hunch two"):
        hunch = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
        cycle_adopt(cycle=hunch, user=ns.manager_a, standard=title, now=NOW)
    dropped = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    cycle_abandon(cycle=dropped, user=ns.manager_a, reason="No effect", now=NOW)

    history = improvement_history(KaizenCycle.objects.all(), today=TODAY)

    # 4 closed; 2 adopted without evidence are left out: 1 adopted of the 2 decided on
    # evidence (the adopted one and the abandoned one).
    assert (history.closed, history.adopted, history.adopted_without_evidence) == (4, 1, 2)
    assert history.abandoned == 1
    assert history.share_adopted == pytest.approx(0.5)
    assert [a.cycle.pk for a in history.adopted_cycles] == [evidenced.pk]
    assert {c.decision_notes for c in history.unevidenced_cycles} == {"Hunch one", "Hunch two"}
    june = history.months[-1]
    assert (june.closed, june.adopted, june.unevidenced) == (4, 1, 2)


def test_adopting_writes_the_new_standard_on_the_future_state_map(ns):
    step = ns.steps_a[1]
    visits_halving(ns.stream_a, step)
    cycle = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, step=step)
    future_step = ns.future_a.steps.get(name=step.name)
    version = ns.future_a.version
    assert step.pk in open_cycle_step_ids(ns.stream_a)

    cycle = cycle_adopt(
        cycle=cycle,
        user=ns.manager_a,
        standard="Book the next meeting on the call",
        planned_value=9.75,
        now=NOW,
    )

    assert (cycle.phase, cycle.outcome, cycle.closed_on) == (Phase.CLOSED, Outcome.ADOPTED, TODAY)
    assert cycle.decision_notes == "Book the next meeting on the call"
    future_step.refresh_from_db()
    ns.future_a.refresh_from_db()
    assert future_step.planned_lead_hours == 9.75
    assert ns.future_a.version == version + 1 and ns.future_a.updated_by == ns.manager_a
    assert cycle.adopted_standard == {
        "stream_id": ns.future_a.pk,
        "stream_slug": ns.future_a.slug,
        "stream_name": ns.future_a.name,
        "step_id": future_step.pk,
        "step_name": step.name,
        "field": "planned_lead_hours",
        "unit": "hours",
        "before": 8.0,
        "current": step.planned_lead_hours,
        "after": 9.75,
    }
    # Closed: the burst is gone, and the Check it was decided on stays as it was.
    assert step.pk not in open_cycle_step_ids(ns.stream_a)
    assert cycle_check(cycle_id=cycle.pk, now=NOW + timedelta(days=1)) is None
    assert CycleCheck.objects.get(cycle=cycle).computed_at == NOW


def test_adopting_draws_a_future_state_when_there_is_none_and_sets_pct_c_and_a(team_setup):
    ns = team_setup
    step = ns.steps_a[0]
    cycle = cycle_at(
        Phase.ACT,
        stream=ns.stream_a,
        user=ns.manager_a,
        step=step,
        metric=Metric.PCT_COMPLETE_ACCURATE,
    )
    cycle = cycle_adopt(
        cycle=cycle, user=ns.manager_a, standard="Checklist", planned_value=92.5, now=NOW
    )
    future = ns.stream_a.future_states.get()
    assert future.steps.get(name=step.name).planned_pct_complete_accurate == 92.5
    assert cycle.adopted_standard["field"] == "planned_pct_complete_accurate"


def test_adopting_refuses_a_planned_value_the_map_cannot_hold_naming_it(ns):
    rate = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric=Metric.WIN_RATE)
    with pytest.raises(ValidationError) as error:
        cycle_adopt(cycle=rate, user=ns.manager_a, standard="x", planned_value=0.3, now=NOW)
    assert "planned_value" in error.value.message_dict
    # The planned lead time cannot be shorter than the planned process time (1 h).
    slow = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, step=ns.steps_a[2])
    with pytest.raises(ValidationError) as error:
        cycle_adopt(cycle=slow, user=ns.manager_a, standard="x", planned_value=0.5, now=NOW)
    assert "planned_value" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        cycle_adopt(cycle=slow, user=ns.manager_a, standard=" ", now=NOW)
    assert "standard" in error.value.message_dict
    # Without a planned value the standard is recorded in words only.
    rate = cycle_adopt(cycle=rate, user=ns.manager_a, standard="Demo script v2", now=NOW)
    assert rate.outcome == Outcome.ADOPTED and rate.adopted_standard is None


def test_adapting_closes_the_cycle_and_plans_a_linked_follow_up(ns):
    step = ns.steps_a[1]
    cycle = cycle_at(
        Phase.ACT,
        stream=ns.stream_a,
        user=ns.manager_a,
        step=step,
        owner=ns.rep_a1,
        problem="Long waits",
    )
    follow_up = cycle_adapt(
        cycle=cycle, user=ns.manager_a, notes="Also book the demo slot", now=NOW
    )
    cycle.refresh_from_db()
    assert (cycle.phase, cycle.outcome) == (Phase.CLOSED, Outcome.ADAPTED)
    assert follow_up.follow_up_of == cycle
    assert (follow_up.phase, follow_up.step, follow_up.metric, follow_up.owner) == (
        Phase.PLAN,
        step,
        Metric.TIME_IN_STEP,
        ns.rep_a1,
    )
    assert follow_up.title == "Shorter waits (follow-up)"
    assert follow_up.countermeasure == "Also book the demo slot"
    assert follow_up.problem == "Long waits"
    # The step keeps its burst: the follow-up is open.
    assert step.pk in open_cycle_step_ids(ns.stream_a)


def test_abandoning_needs_a_reason(ns):
    cycle = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    with pytest.raises(ValidationError) as error:
        cycle_abandon(cycle=cycle, user=ns.manager_a, reason="  ", now=NOW)
    assert "reason" in error.value.message_dict
    cycle = cycle_abandon(cycle=cycle, user=ns.manager_a, reason="No effect", now=NOW)
    assert (cycle.outcome, cycle.decision_notes) == (Outcome.ABANDONED, "No effect")


def test_managers_and_reps_comment_leadership_reads(ns):
    cycle = cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    comment = cycle_comment_add(cycle=cycle, user=ns.rep_a2, body=" Works for me ")
    assert (comment.author, comment.body) == (ns.rep_a2, "Works for me")
    cycle_comment_add(cycle=cycle, user=ns.manager_a, body="Thanks")
    for who in (ns.leader_a, ns.rep_b):
        with pytest.raises(PermissionDenied):
            cycle_comment_add(cycle=cycle, user=who, body="x")
    with pytest.raises(ValidationError):
        cycle_comment_add(cycle=cycle, user=ns.rep_a2, body="  ")
    assert cycle.comments.count() == 2


# --- The stored Check, refreshed ------------------------------------------------------------


def test_the_check_is_refreshed_as_new_deals_arrive(ns):
    step = ns.steps_a[1]
    visits_halving(ns.stream_a, step, n=10)
    soon = CHANGE_AT + timedelta(days=28 + 1)
    cycle = cycle_at(Phase.CHECK, stream=ns.stream_a, user=ns.manager_a, step=step, now=soon)
    first = CycleCheck.objects.get(cycle=cycle)
    assert (first.n_before, first.n_after, first.verdict) == (10, 10, Verdict.IMPROVED)

    # Ten more fast visits complete after the change.
    visits_halving(ns.stream_a, step, n=10, change_at=CHANGE_AT + timedelta(days=1))
    assert cycles_check_open(now=soon + timedelta(minutes=5)) == 1
    second = CycleCheck.objects.get(cycle=cycle)
    assert second.n_after == 20
    assert second.computed_at == soon + timedelta(minutes=5)


def test_the_tasks_compute_the_checks_of_cycles_in_check_and_act_only(ns):
    plan = cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    do = cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    act = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    assert check_cycle.delay(plan.pk).get() is None
    assert check_cycle.delay(do.pk).get() is None
    assert check_cycle.delay(act.pk).get() == Verdict.INSUFFICIENT_DATA
    assert set(CycleCheck.objects.values_list("cycle_id", flat=True)) == {act.pk}
    from kaizen.tasks import check_open_cycles

    assert check_open_cycles.delay().get() == 1


# --- The database keeps the order too ------------------------------------------------------


def test_the_database_refuses_act_before_the_check_and_decisions_on_open_cycles(ns):
    cycle = cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    KaizenCycle.objects.filter(pk=cycle.pk).update(phase=Phase.CHECK)  # no Check computed
    with pytest.raises(IntegrityError), transaction.atomic():
        KaizenCycle.objects.filter(pk=cycle.pk).update(phase=Phase.ACT)
    with pytest.raises(IntegrityError), transaction.atomic():
        KaizenCycle.objects.filter(pk=cycle.pk).update(outcome=Outcome.ADOPTED)
    with pytest.raises(IntegrityError), transaction.atomic():
        KaizenCycle.objects.filter(pk=cycle.pk).update(
            phase=Phase.CLOSED, closed_on=TODAY, outcome=Outcome.ABANDONED, decision_notes=""
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        KaizenCycle.objects.filter(pk=cycle.pk).update(phase=Phase.DO, change_date=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        KaizenCycle.objects.filter(pk=cycle.pk).update(change_date=date(2025, 1, 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        KaizenCycle.objects.create(
            stream=ns.stream_a, title="x", phase=Phase.ACT, planned_on=TODAY, change_date=TODAY
        )


def _triggers(table: str) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [table],
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
            )
        return {name for (name,) in cursor.fetchall()}


def test_the_cycle_table_keeps_its_triggers_after_the_migrations():
    # 0004 and 0005 rebuild the table on SQLite and install the same-stream rule again; the
    # trigger of the first 0004 is gone (a CHECK constraint replaced it).
    assert _triggers("kaizen_kaizencycle") == {
        "kaizen_cycle_step_same_stream_insert",
        "kaizen_cycle_step_same_stream_update",
    }


def test_a_team_with_cycles_in_every_phase_can_be_deleted(ns):
    follow_up = cycle_adapt(
        cycle=cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate"),
        user=ns.manager_a,
        notes="x",
        now=NOW,
    )
    cycle_at(Phase.CHECK, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    assert follow_up.follow_up_of is not None
    ns.team_a.delete()
    assert not KaizenCycle.objects.exists()
    assert not CycleCheck.objects.exists()


def test_dates_of_a_closed_cycle_follow_each_other(ns):
    cycle = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    cycle = cycle_abandon(cycle=cycle, user=ns.manager_a, reason="x", now=NOW)
    with pytest.raises(IntegrityError), transaction.atomic():
        KaizenCycle.objects.filter(pk=cycle.pk).update(closed_on=CHANGE - timedelta(days=1))
    assert isinstance(cycle.closed_on, date) and not isinstance(cycle.closed_on, datetime)


def test_beat_rechecks_the_open_cycles_every_few_minutes(settings):
    entry = next(
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "kaizen.tasks.check_open_cycles"
    )
    assert entry["schedule"] <= 600
    from vsm_project.celery import app

    app.loader.import_default_modules()
    assert "kaizen.tasks.check_open_cycles" in app.tasks


def test_without_a_snapshot_yet_the_baseline_is_read_from_the_event_log(ns):
    step = ns.steps_a[1]
    visits_halving(ns.stream_a, step, change_at=NOW - timedelta(days=30))
    cycle = cycle_plan(
        user=ns.manager_a, stream=ns.stream_a, step=step, title="x", metric="time_in_step", now=NOW
    )
    # The 90 days before now hold all 40 visits: 10 … 29 h and their halves 5 … 14.5 h. 19 are
    # under 13 h (5 … 12.5 h and 10, 11, 12 h); the 20th and 21st are both 13 h: median 13 h.
    assert (cycle.baseline_n, cycle.baseline_value) == (40, 13.0)
    assert (cycle.baseline_start, cycle.baseline_end) == (NOW - timedelta(days=90), NOW)


def test_a_check_is_never_dated_after_the_moment_it_was_computed(ns):
    # Asked for a Check "as of" tomorrow (a seed's story clock, a skewed caller), the service
    # dates it now: the page would otherwise read "As of" a time that has not come yet.
    cycle = cycle_at(Phase.CHECK, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    with time_machine.travel(NOW + timedelta(days=40), tick=False):
        clock = timezone.now()
        check = cycle_check(cycle_id=cycle.pk, now=clock + timedelta(days=1))
    assert check.computed_at == clock
    cycle.refresh_from_db()
    assert cycle.checked_at <= clock
