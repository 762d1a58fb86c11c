"""Writes of kaizen cycles: the PDCA record, phase by phase, and the stored Check.

Phases move only in order, Plan → Do → Check → Act → Closed:

- **Plan** (:func:`cycle_plan`, :func:`cycle_update`): problem, current condition, the metric
  with its baseline measured automatically (the stream's metric snapshot, the rolling 90 days,
  when planned today; the event log's 90 days before the plan when there is no snapshot yet
  or the plan is recorded late),
  target value and date, root cause, countermeasure, prediction, owner. Managers plan; reps
  propose (a plan they own, which they may edit while it is a plan).
- **Do** (:func:`cycle_start_do`): needs the date the change started (not in the future, not
  before the plan), what was done, notes.
- **Check** (:func:`cycle_start_check`): the Check is computed by a Celery task
  (:func:`cycle_check`, queued on commit and every few minutes while in Check or Act).
- **Act** (:func:`cycle_start_act`, once a Check is stored; a Check with *insufficient data*
  needs the manager's written override, and an adoption on it is "adopted without
  evidence"), then one decision that closes the cycle: :func:`cycle_adopt` (the new
  standard, written on the future-state map where the metric has a planned figure there),
  :func:`cycle_adapt` (a follow-up cycle linked to this one) or :func:`cycle_abandon` (with
  the reason).

Every function validates first and raises ``ValidationError({field: reason})``, or
``PermissionDenied`` when the user's role does not allow it (``kaizen.selectors``), then writes
in one transaction. The database keeps the order too (``kaizen.models``).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from funnel.common.text import required_text
from funnel.eventlog.moments import date_range_error
from funnel.metrics.engine import stream_basis
from funnel.metrics.query import DEFAULT_WINDOW, MetricsQuery
from funnel.metrics.snapshots import metrics_stored
from kaizen.checks import change_moment, check_compute, metric_sample, summarize
from kaizen.metrics import DURATION, spec, value_from_result
from kaizen.models import (
    CycleCheck,
    CycleComment,
    Direction,
    KaizenCycle,
    Metric,
    Outcome,
    Phase,
    Verdict,
)
from kaizen.selectors import (
    cycle_can_comment,
    cycle_can_manage,
    cycle_can_propose,
    cycle_is_planner,
    possible_owners,
)
from streams.future_states import stream_draw_future_state_with_free_name
from streams.models import ProcessStep, Role, StreamState, ValueStream
from streams.selectors import latest_future_state, role_in_team
from streams.services import MAX_PLANNED_HOURS, step_update
from vsm_project.background import enqueue_on_commit

#: What a plan holds (``cycle_update`` in Plan).
PLAN_FIELDS = (
    "title",
    "step",
    "problem",
    "current_condition",
    "metric",
    "direction",
    "target_value",
    "target_date",
    "root_cause",
    "countermeasure",
    "prediction",
    "window_days",
    "owner",
)
#: What may be added to the record from Do until the decision.
DO_NOTES_FIELDS = ("change_description", "do_notes")
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 7, 366
MAX_COMMENT = 4000


def _today(now: datetime) -> date:
    return timezone.localdate(now)


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


def _locked(cycle: KaizenCycle) -> KaizenCycle:
    """The cycle's row, locked until the transaction ends, so two phase moves of one cycle
    cannot both pass the phase check."""
    return (
        KaizenCycle.objects.select_for_update(of=("self",))
        .select_related("stream", "step")
        .get(pk=cycle.pk)
    )


def _in_phase(cycle: KaizenCycle, *phases: str, doing: str) -> None:
    if cycle.phase not in phases:
        allowed = " or ".join(Phase(p).label for p in phases)
        now_in = cycle.get_phase_display()
        raise ValidationError(
            {"phase": f"{doing} needs the cycle in {allowed}; it is in {now_in}."}
        )


# --- Plan ---------------------------------------------------------------------------------


def baseline_measure(
    *,
    stream: ValueStream,
    step: ProcessStep | None,
    metric: str,
    planned_on: date,
    now: datetime,
) -> dict[str, Any]:
    """The baseline of a plan made on ``planned_on``: the metric as the stream's rolling
    metric snapshot has it (the figure the team sees on its map and dashboards) when planned
    today. Without a snapshot yet, or for a plan recorded late, the same 90-day window,
    ending now or at the plan, is read from the event log (the Check's definitions, which are
    the engine's). Nothing is computed by the metrics engine here."""
    step_id = step.pk if step is not None else None
    basis = stream_basis(stream)
    if planned_on >= _today(now):
        result = metrics_stored(MetricsQuery(stream_id=stream.pk, basis=basis))
        if result is not None:
            value, n = value_from_result(result, metric=metric, step_id=step_id)
            return {
                "baseline_value": value,
                "baseline_n": n,
                "baseline_start": result.window_start,
                "baseline_end": result.window_end,
            }
        end = now
    else:
        end = change_moment(planned_on)
    start = end - DEFAULT_WINDOW
    sample = metric_sample(
        metric=metric, stream_id=stream.pk, step_id=step_id, start=start, end=end, basis=basis
    )
    value, n = summarize(metric, sample)
    return {"baseline_value": value, "baseline_n": n, "baseline_start": start, "baseline_end": end}


def _check_plan(values: dict[str, Any], stream: ValueStream, errors: dict[str, str]) -> None:
    if not str(values["title"] or "").strip():
        errors["title"] = "Name the cycle: what is being improved, in a few words."
    metric = values["metric"]
    if metric not in Metric.values:
        errors["metric"] = f"'{metric}' is not a metric; use one of {', '.join(Metric.values)}."
        return
    metric_spec = spec(metric)
    step = values["step"]
    if step is not None and step.stream_id != stream.pk:
        errors["step"] = "That step belongs to another map."
    elif step is None and metric_spec.scope == "step":
        errors["step"] = f"{metric_spec.label} is measured at a step: choose the step."
    direction = values.get("direction")
    if direction not in (None, "") and direction not in Direction.values:
        errors["direction"] = "Use decrease or increase."
    target = values["target_value"]
    if target is not None:
        if not isinstance(target, int | float) or math.isnan(target) or math.isinf(target):
            errors["target_value"] = "Give the target as a number."
        elif metric_spec.is_proportion and not 0 <= target <= 1:
            errors["target_value"] = "A share is between 0 and 1 (0.85 for 85 %)."
        elif metric_spec.kind == DURATION and target < 0:
            errors["target_value"] = "A duration cannot be negative."
        elif metric_spec.unit == "hours" and target > MAX_PLANNED_HOURS:
            errors["target_value"] = f"{target} hours is more than a year; check the unit."
    window = values["window_days"]
    if not isinstance(window, int) or not MIN_WINDOW_DAYS <= window <= MAX_WINDOW_DAYS:
        errors["window_days"] = (
            f"The Check window is {MIN_WINDOW_DAYS} to {MAX_WINDOW_DAYS} days on each side."
        )
    target_date = values["target_date"]
    if target_date is not None and (reason := date_range_error(target_date)):
        errors["target_date"] = reason
    elif target_date is not None and target_date < values["planned_on"]:
        errors["target_date"] = (
            f"The target date cannot be before the plan ({values['planned_on']:%Y-%m-%d})."
        )
    owner = values["owner"]
    if owner is not None and not possible_owners(stream).filter(pk=owner.pk).exists():
        errors["owner"] = "The owner is a manager or rep of the stream's team."


def plan_problems(
    *, stream: ValueStream, values: dict[str, Any], planned_on: date
) -> dict[str, str]:
    """What :func:`cycle_plan` would refuse in ``values`` (the plan's fields, any missing),
    without writing: lets a form that already refused some fields name the rest at once."""
    full: dict[str, Any] = {
        "title": "",
        "step": None,
        "metric": "",
        "target_value": None,
        "target_date": None,
        "window_days": 56,
        "owner": None,
    }
    full.update({name: value for name, value in values.items() if value is not None})
    full["planned_on"] = planned_on
    errors: dict[str, str] = {}
    _check_plan(full, stream, errors)
    return errors


def _direction(values: dict[str, Any]) -> str:
    """As given; else the metric's usual better way (shorter times, higher shares)."""
    return values.get("direction") or spec(values["metric"]).better


def _rep_owner(user: AbstractBaseUser, stream: ValueStream, owner: Any) -> Any:
    """A rep proposes cycles they own; managers and admins name any owner of the team."""
    if user.is_staff or role_in_team(user, stream.team_id) == Role.MANAGER:
        return owner
    if owner is not None and owner.pk != user.pk:
        raise PermissionDenied("A rep proposes cycles they own; a manager can reassign them.")
    return user


@transaction.atomic
def cycle_plan(
    *,
    user: AbstractBaseUser,
    stream: ValueStream,
    title: str,
    metric: str,
    step: ProcessStep | None = None,
    problem: str = "",
    current_condition: str = "",
    direction: str | None = None,
    target_value: float | None = None,
    target_date: date | None = None,
    root_cause: str = "",
    countermeasure: str = "",
    prediction: str = "",
    window_days: int = 56,
    owner: AbstractBaseUser | None = None,
    planned_on: date | None = None,
    follow_up_of: KaizenCycle | None = None,
    now: datetime | None = None,
) -> KaizenCycle:
    """Write a plan (a new cycle in Plan), with its baseline measured now. ``planned_on``
    (default today) records a plan made earlier."""
    now = now or timezone.now()
    _require(
        cycle_can_propose(user=user, stream=stream),
        "Only the team's managers and reps plan kaizen cycles.",
    )
    owner = _rep_owner(user, stream, owner) if owner is not None else user
    today = _today(now)
    planned_on = planned_on or today
    values = {
        "title": title,
        "step": step,
        "metric": metric,
        "direction": direction,
        "target_value": target_value,
        "target_date": target_date,
        "window_days": window_days,
        "owner": owner,
        "planned_on": planned_on,
    }
    errors: dict[str, str] = {}
    if stream.state != StreamState.CURRENT:
        errors["stream"] = "Kaizen cycles run on a current-state map, where the deals flow."
    if planned_on > today:
        errors["planned_on"] = "A plan cannot be dated in the future."
    _check_plan(values, stream, errors)
    if errors:
        raise ValidationError(errors)
    baseline = baseline_measure(
        stream=stream, step=step, metric=metric, planned_on=planned_on, now=now
    )
    return KaizenCycle.objects.create(
        stream=stream,
        step=step,
        title=title.strip(),
        owner=owner,
        proposed_by=user,
        phase=Phase.PLAN,
        problem=problem.strip(),
        current_condition=current_condition.strip(),
        metric=metric,
        direction=_direction(values),
        target_value=target_value,
        planned_on=planned_on,
        target_date=target_date,
        root_cause=root_cause.strip(),
        countermeasure=countermeasure.strip(),
        prediction=prediction.strip(),
        window_days=window_days,
        follow_up_of=follow_up_of,
        **baseline,
    )


@transaction.atomic
def cycle_update(
    *, cycle: KaizenCycle, user: AbstractBaseUser, now: datetime | None = None, **fields: Any
) -> KaizenCycle:
    """Change the record: the plan while in Plan (managers, and the rep who proposed it);
    what was done and the notes from Do until the decision, and the change date while in Do
    (managers). A new metric or step re-measures the baseline."""
    now = now or timezone.now()
    cycle = _locked(cycle)
    unknown = set(fields) - set(PLAN_FIELDS) - set(DO_NOTES_FIELDS) - {"change_date"}
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    if not fields:
        # An empty update writes nothing, but it is still a write: only someone who may change
        # the record now gets a success (else leadership and reps would read 200 as allowed).
        _require(
            cycle_is_planner(user=user, cycle=cycle)
            if cycle.phase == Phase.PLAN
            else cycle_can_manage(user=user, cycle=cycle),
            "Only the team's managers (and, in Plan, the rep who proposed it) change this cycle.",
        )
    plan = set(fields) & set(PLAN_FIELDS)
    if plan:
        _require(
            cycle_is_planner(user=user, cycle=cycle),
            "Only the team's managers and the rep who proposed it change this plan.",
        )
        if cycle.phase != Phase.PLAN:
            raise ValidationError(
                {
                    name: "The plan is fixed once the change has started (Do): the Check "
                    "compares against what was planned."
                    for name in plan
                }
            )
    if set(fields) & {"change_date", *DO_NOTES_FIELDS}:
        _require(
            cycle_can_manage(user=user, cycle=cycle),
            "Only the team's managers record the Do phase.",
        )
        if "change_date" in fields and cycle.phase != Phase.DO:
            raise ValidationError(
                {"change_date": "The change date is set in Do and fixed once the Check starts."}
            )
        if set(fields) & set(DO_NOTES_FIELDS):
            _in_phase(cycle, Phase.DO, Phase.CHECK, Phase.ACT, doing="Recording what was done")
    if fields.get("owner") is not None:
        fields["owner"] = _rep_owner(user, cycle.stream, fields["owner"])
    values = {name: getattr(cycle, name) for name in PLAN_FIELDS}
    values |= {name: value for name, value in fields.items() if name in PLAN_FIELDS}
    values["planned_on"] = cycle.planned_on
    errors: dict[str, str] = {}
    if plan:
        _check_plan(values, cycle.stream, errors)
    if "change_date" in fields:
        _check_change_date(fields["change_date"], cycle, now, errors)
    if errors:
        raise ValidationError(errors)
    remeasure = values["metric"] != cycle.metric or getattr(values["step"], "pk", None) != (
        cycle.step_id
    )
    if remeasure:
        baseline = baseline_measure(
            stream=cycle.stream,
            step=values["step"],
            metric=values["metric"],
            planned_on=cycle.planned_on,
            now=now,
        )
        for name, value in baseline.items():
            setattr(cycle, name, value)
    if "direction" in fields or values["metric"] != cycle.metric:
        fields["direction"] = _direction({**values, "direction": fields.get("direction")})
    for name, value in fields.items():
        setattr(cycle, name, value.strip() if isinstance(value, str) else value)
    cycle.save()
    return cycle


@transaction.atomic
def cycle_delete(*, cycle: KaizenCycle, user: AbstractBaseUser) -> None:
    """Withdraw a plan nobody has acted on (managers, and the rep who proposed it). Cycles
    past Plan are history: they end with a decision in Act instead."""
    cycle = _locked(cycle)
    _require(
        cycle_is_planner(user=user, cycle=cycle),
        "Only the team's managers and the rep who proposed it withdraw this plan.",
    )
    _in_phase(cycle, Phase.PLAN, doing="Withdrawing a cycle")
    cycle.delete()


# --- Do, Check, Act -----------------------------------------------------------------------


def _check_change_date(
    change_date: date | None, cycle: KaizenCycle, now: datetime, errors: dict[str, str]
) -> None:
    if change_date is None:
        errors["change_date"] = "Give the date the change started."
    elif change_date > _today(now):
        errors["change_date"] = "The change has to have started: the date cannot be in the future."
    elif change_date < cycle.planned_on:
        errors["change_date"] = (
            f"The change cannot start before it was planned ({cycle.planned_on:%Y-%m-%d})."
        )


@transaction.atomic
def cycle_start_do(
    *,
    cycle: KaizenCycle,
    user: AbstractBaseUser,
    change_date: date | None,
    change_description: str = "",
    do_notes: str = "",
    now: datetime | None = None,
) -> KaizenCycle:
    """Plan → Do: the change started on ``change_date``."""
    now = now or timezone.now()
    cycle = _locked(cycle)
    _require(cycle_can_manage(user=user, cycle=cycle), "Only the team's managers start a change.")
    _in_phase(cycle, Phase.PLAN, doing="Starting the change")
    errors: dict[str, str] = {}
    _check_change_date(change_date, cycle, now, errors)
    if errors:
        raise ValidationError(errors)
    cycle.phase = Phase.DO
    cycle.change_date = change_date
    cycle.change_description = change_description.strip()
    cycle.do_notes = do_notes.strip()
    cycle.save()
    return cycle


def _queue_check(cycle_id: int) -> None:
    # By name: kaizen.tasks imports this module (tests/test_architecture.py). Redis down
    # never fails the committed move; the 5-minute check_open_cycles catches up.
    enqueue_on_commit("kaizen.tasks.check_cycle", cycle_id)


@transaction.atomic
def cycle_start_check(
    *, cycle: KaizenCycle, user: AbstractBaseUser, now: datetime | None = None
) -> KaizenCycle:
    """Do → Check; the Check is computed by a task once this commits."""
    cycle = _locked(cycle)
    _require(cycle_can_manage(user=user, cycle=cycle), "Only the team's managers start the Check.")
    _in_phase(cycle, Phase.DO, doing="Checking")
    if cycle.change_date is None:  # the database refuses it too
        raise ValidationError({"change_date": "No Check before the change has a date (Do)."})
    cycle.phase = Phase.CHECK
    cycle.save()
    _queue_check(cycle.pk)
    return cycle


MAX_OVERRIDE = 2000


def _insufficient(check: CycleCheck | None) -> str:
    """Why the Check cannot carry a decision ("" when it can): none stored yet, or too few
    items on a side of the change."""
    if check is None:
        return "The Check has not been computed yet."
    if check.verdict != Verdict.INSUFFICIENT_DATA:
        return ""
    needed = []
    if check.needed_before:
        needed.append(f"{check.needed_before} more before the change")
    if check.needed_after:
        needed.append(f"{check.needed_after} more after it")
    return (
        f"The Check has insufficient data ({check.n_before} before the change and "
        f"{check.n_after} after; it needs {' and '.join(needed) or 'more'})."
    )


def _override(reason: str, why_not: str, doing: str) -> str:
    """The manager's written reason for acting without evidence, checked."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {
                "override_reason": f"{why_not} {doing} without evidence needs a written reason "
                "(it is kept on the cycle and the cycle is labelled “adopted without evidence” "
                "if adopted); or wait until the Check has enough data."
            }
        )
    if len(reason) > MAX_OVERRIDE:
        raise ValidationError(
            {"override_reason": f"Keep the reason under {MAX_OVERRIDE} characters."}
        )
    return reason


@transaction.atomic
def cycle_start_act(
    *, cycle: KaizenCycle, user: AbstractBaseUser, override_reason: str = ""
) -> KaizenCycle:
    """Check → Act, once the Check has been computed. A Check with insufficient data carries
    no decision: moving on then needs the manager's ``override_reason``, kept on the cycle
    (``evidence_override``)."""
    cycle = _locked(cycle)
    _require(cycle_can_manage(user=user, cycle=cycle), "Only the team's managers act.")
    _in_phase(cycle, Phase.CHECK, doing="Acting")
    check = CycleCheck.objects.filter(cycle=cycle).first()
    if check is None:
        raise ValidationError(
            {"phase": "The Check has not been computed yet; it takes a moment after Check starts."}
        )
    why_not = _insufficient(check)
    cycle.evidence_override = _override(override_reason, why_not, "Acting") if why_not else None
    cycle.phase = Phase.ACT
    cycle.save()
    return cycle


def _decide(cycle: KaizenCycle, user: AbstractBaseUser, *, verb: str, doing: str) -> KaizenCycle:
    """The cycle's row, locked, for an Act decision (adopt, adapt, abandon): only the team's
    managers decide, and only in Act."""
    cycle = _locked(cycle)
    _require(cycle_can_manage(user=user, cycle=cycle), f"Only the team's managers {verb}.")
    _in_phase(cycle, Phase.ACT, doing=doing)
    return cycle


def _close(cycle: KaizenCycle, outcome: str, notes: str, now: datetime) -> None:
    cycle.phase = Phase.CLOSED
    cycle.outcome = outcome
    cycle.decision_notes = notes.strip()
    cycle.closed_on = max(_today(now), cycle.change_date)
    cycle.save()


def _record_standard(
    cycle: KaizenCycle, user: AbstractBaseUser, planned_value: float
) -> dict[str, Any]:
    """Write the adopted value as the step's planned figure on the future-state map (drawn
    from the current state first if it has none), through the map's own service."""
    metric = spec(cycle.metric)
    if metric.map_field is None or cycle.step is None:
        raise ValidationError(
            {
                "planned_value": f"{metric.label} has no planned figure on the map; describe "
                "the new standard in words and leave the planned value empty."
            }
        )
    if math.isnan(planned_value) or math.isinf(planned_value):
        raise ValidationError({"planned_value": "Give the planned value as a number."})
    future = latest_future_state(cycle.stream) or stream_draw_future_state_with_free_name(
        stream=cycle.stream
    )
    step = future.steps.filter(name=cycle.step.name).first()
    if step is None:
        raise ValidationError(
            {
                "planned_value": f"The future-state map “{future.name}” has no step named "
                f"“{cycle.step.name}”; add or rename it there, or leave the planned value empty."
            }
        )
    before = getattr(step, metric.map_field)
    # What the current-state map plans: the page words the change against it, as the map and
    # the compare page do (the future state may hold an earlier target, ``before``).
    current = getattr(cycle.step, metric.map_field)
    try:
        step_update(
            step=step, version=future.version, user=user, **{metric.map_field: planned_value}
        )
    except ValidationError as exc:
        raise ValidationError({"planned_value": exc.messages}) from exc
    return {
        "stream_id": future.pk,
        "stream_slug": future.slug,
        "stream_name": future.name,
        "step_id": step.pk,
        "step_name": step.name,
        "field": metric.map_field,
        "unit": metric.map_unit,
        "before": before,
        "current": current,
        "after": planned_value,
    }


@transaction.atomic
def cycle_adopt(
    *,
    cycle: KaizenCycle,
    user: AbstractBaseUser,
    standard: str,
    planned_value: float | None = None,
    override_reason: str = "",
    now: datetime | None = None,
) -> KaizenCycle:
    """Act: adopt the change as the new standard and close the cycle. ``standard`` says what
    the standard is; ``planned_value`` (in the map's unit: hours, or % for %C&A) becomes the
    step's planned figure on the future-state map.

    Adopting needs a Check that can say something (any verdict but *insufficient data*, as it
    stands now). Without one the manager overrides with a written reason (``override_reason``,
    or the one given when moving to Act); the cycle is then "adopted without evidence". An
    adoption on evidence clears an earlier override."""
    now = now or timezone.now()
    cycle = _decide(cycle, user, verb="adopt", doing="Adopting")
    errors: dict[str, str] = {}
    if not standard.strip():
        errors["standard"] = "Write down the new standard: what everyone now does."
    why_not = _insufficient(CycleCheck.objects.filter(cycle=cycle).first())
    override = None
    if why_not:
        try:
            override = _override(override_reason or cycle.evidence_override, why_not, "Adopting")
        except ValidationError as exc:
            errors.update({k: v[0].message for k, v in exc.error_dict.items()})
    if errors:
        raise ValidationError(errors)
    cycle.evidence_override = override
    if planned_value is not None:
        cycle.adopted_standard = _record_standard(cycle, user, planned_value)
    _close(cycle, Outcome.ADOPTED, standard, now)
    return cycle


#: The plan fields a follow-up takes over from the cycle it adapts (not the target date: the
#: follow-up sets its own; its countermeasure is what the adaptation changes).
FOLLOW_UP_CARRIES = (
    "step",
    "metric",
    "problem",
    "current_condition",
    "direction",
    "target_value",
    "root_cause",
    "prediction",
    "window_days",
)


@transaction.atomic
def cycle_adapt(
    *,
    cycle: KaizenCycle,
    user: AbstractBaseUser,
    notes: str,
    title: str = "",
    now: datetime | None = None,
) -> KaizenCycle:
    """Act: close the cycle as adapted and plan a follow-up cycle linked to it (same stream,
    step, metric and direction; ``notes``, what changes, become its countermeasure). Returns
    the follow-up."""
    now = now or timezone.now()
    cycle = _decide(cycle, user, verb="adapt", doing="Adapting")
    if not notes.strip():
        raise ValidationError({"notes": "Say what the follow-up cycle changes."})
    _close(cycle, Outcome.ADAPTED, notes, now)
    return cycle_plan(
        user=user,
        stream=cycle.stream,
        title=title.strip() or f"{cycle.title} (follow-up)",
        countermeasure=notes,
        # The owner carries over while still in the team; otherwise whoever adapts owns it.
        owner=possible_owners(cycle.stream).filter(pk=cycle.owner_id).first(),
        follow_up_of=cycle,
        now=now,
        **{name: getattr(cycle, name) for name in FOLLOW_UP_CARRIES},
    )


@transaction.atomic
def cycle_abandon(
    *, cycle: KaizenCycle, user: AbstractBaseUser, reason: str, now: datetime | None = None
) -> KaizenCycle:
    """Act: abandon the change, saying why, and close the cycle."""
    now = now or timezone.now()
    cycle = _decide(cycle, user, verb="abandon", doing="Abandoning")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the change is abandoned."})
    _close(cycle, Outcome.ABANDONED, reason, now)
    return cycle


@transaction.atomic
def cycle_comment_add(*, cycle: KaizenCycle, user: AbstractBaseUser, body: str) -> CycleComment:
    _require(
        cycle_can_comment(user=user, cycle=cycle), "Only the team's managers and reps comment."
    )
    body = required_text(
        body,
        field="body",
        missing="Write a comment first.",
        limit=MAX_COMMENT,
        too_long=f"Keep a comment under {MAX_COMMENT} characters.",
    )
    return CycleComment.objects.create(cycle=cycle, author=user, body=body)


# --- The stored Check ------------------------------------------------------------------------

#: Phases whose Check is computed and kept fresh; a closed cycle keeps the Check it was
#: decided on.
CHECKED_PHASES = (Phase.CHECK, Phase.ACT)


def cycle_check(*, cycle_id: int, now: datetime) -> CycleCheck | None:
    """Compute a cycle's Check from the event log and store it (an upsert: a rerun is safe).
    Nothing happens, and None is returned, unless the cycle is in Check or Act. A ``now``
    later than the clock is taken as the clock: a Check is never dated after it was computed
    (the page says "As of" that moment), and no deal after now exists to count."""
    now = min(now, timezone.now())
    cycle = KaizenCycle.objects.filter(pk=cycle_id, phase__in=CHECKED_PHASES).first()
    if cycle is None:
        return None
    result = check_compute(
        metric=cycle.metric,
        stream_id=cycle.stream_id,
        step_id=cycle.step_id,
        change_date=cycle.change_date,
        window_days=cycle.window_days,
        direction=cycle.direction,
        now=now,
        basis=stream_basis(cycle.stream),
    )
    c = result.comparison
    with transaction.atomic():
        # A decision taken while this was computing froze the Check it was taken on.
        if not KaizenCycle.objects.select_for_update().filter(
            pk=cycle_id, phase__in=CHECKED_PHASES
        ):
            return None
        KaizenCycle.objects.filter(pk=cycle_id, checked_at__isnull=True).update(checked_at=now)
        check, _ = CycleCheck.objects.update_or_create(
            cycle_id=cycle_id,
            defaults={
                "computed_at": now,
                "metric": result.metric,
                "baseline_start": result.baseline_start,
                "change_at": result.change_at,
                "after_end": result.after_end,
                "n_before": c.n_before,
                "n_after": c.n_after,
                "value_before": c.value_before,
                "value_after": c.value_after,
                "effect": c.effect,
                "p_value": c.p_value,
                "statistic": c.statistic,
                "verdict": c.verdict,
                "needed_before": c.needed_before,
                "needed_after": c.needed_after,
                "series": result.chart.as_json(),
                "basis": result.basis,
            },
        )
    return check


def cycles_check_open(*, now: datetime) -> int:
    """Recompute the Check of every cycle in Check or Act (the beat job): new deals and visits
    since the last run count. Returns how many were computed."""
    ids = list(
        KaizenCycle.objects.filter(phase__in=CHECKED_PHASES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return sum(1 for pk in ids if cycle_check(cycle_id=pk, now=now) is not None)
