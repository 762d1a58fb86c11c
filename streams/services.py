"""Writes to the map and to background jobs. Every function validates its input and raises
``django.core.exceptions.ValidationError`` with a dict that names the field and the reason;
pages, the API and imports all call these, never the ORM directly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from streams.models import (
    FunnelStage,
    Job,
    JobState,
    Lane,
    ProcessStep,
    StreamState,
    Team,
    ValueClass,
    ValueStream,
)

#: A step's planned lead time above this (a year) is a typo, not a plan.
MAX_PLANNED_HOURS = 24 * 365


@dataclass(frozen=True)
class LaneSpec:
    name: str
    hourly_cost: Decimal | None = None


@dataclass(frozen=True)
class StepSpec:
    name: str
    lane: str
    value_class: str = ValueClass.VALUE_ADD
    planned_process_hours: float = 0
    planned_lead_hours: float = 0
    planned_pct_complete_accurate: float = 100
    planned_wip: int = 0
    notes: str = ""


@dataclass(frozen=True)
class StageSpec:
    name: str
    steps: Sequence[str] = field(default_factory=tuple)


def _unique_slug(base: str) -> str:
    slug = slugify(base)[:100] or "stream"
    candidate, n = slug, 2
    while ValueStream.objects.filter(slug=candidate).exists():
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


def _validate_step(prefix: str, spec: StepSpec, errors: dict[str, str]) -> None:
    if not spec.name.strip():
        errors[f"{prefix}.name"] = "A step needs a name."
    if spec.value_class not in ValueClass.values:
        errors[f"{prefix}.value_class"] = (
            f"'{spec.value_class}' is not a value class; use one of {', '.join(ValueClass.values)}."
        )
    for name in ("planned_process_hours", "planned_lead_hours"):
        value = getattr(spec, name)
        if value is None or value < 0:
            errors[f"{prefix}.{name}"] = "Must be zero or more hours."
        elif value > MAX_PLANNED_HOURS:
            errors[f"{prefix}.{name}"] = f"{value} hours is more than a year; check the unit."
    if (
        f"{prefix}.planned_lead_hours" not in errors
        and f"{prefix}.planned_process_hours" not in errors
        and spec.planned_lead_hours < spec.planned_process_hours
    ):
        errors[f"{prefix}.planned_lead_hours"] = (
            "Lead time includes the process time, so it cannot be shorter than it."
        )
    if not 0 <= spec.planned_pct_complete_accurate <= 100:
        errors[f"{prefix}.planned_pct_complete_accurate"] = "%C&A is a percentage from 0 to 100."
    if spec.planned_wip < 0:
        errors[f"{prefix}.planned_wip"] = "WIP cannot be negative."


@transaction.atomic
def stream_create(
    *,
    team: Team,
    name: str,
    lanes: Sequence[LaneSpec],
    steps: Sequence[StepSpec],
    stages: Sequence[StageSpec] = (),
    description: str = "",
    state: str = StreamState.CURRENT,
    drawn_from: ValueStream | None = None,
    period_days: int = 30,
    target_won_deals_per_period: int | None = None,
    available_selling_hours_per_period: float | None = None,
    currency: str = "USD",
) -> ValueStream:
    """Create a value stream with its lanes, steps (in the given order) and funnel stages.

    Each stage names consecutive steps; stages follow map order. Nothing is stored if any
    part is invalid.
    """
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "A value stream needs a name."
    elif ValueStream.objects.filter(team=team, name=name, state=state).exists():
        errors["name"] = f"Team {team} already has a {state}-state stream named '{name}'."
    if state not in StreamState.values:
        errors["state"] = f"'{state}' is not a state; use current or future."
    if drawn_from is not None and (state != StreamState.FUTURE or drawn_from.team_id != team.id):
        errors["drawn_from"] = "Only a future state of the same team is drawn from a current state."
    if period_days <= 0:
        errors["period_days"] = "The period must be at least one day."
    if target_won_deals_per_period is not None and target_won_deals_per_period <= 0:
        errors["target_won_deals_per_period"] = "The target must be at least one won deal."
    if available_selling_hours_per_period is not None and available_selling_hours_per_period <= 0:
        errors["available_selling_hours_per_period"] = "Available hours must be more than zero."
    if len(currency) != 3 or not currency.isalpha():
        errors["currency"] = "Use a three-letter ISO currency code such as USD or EUR."

    lane_names = [lane.name.strip() for lane in lanes]
    for i, lane in enumerate(lanes):
        if not lane.name.strip():
            errors[f"lanes[{i}].name"] = "A lane needs a name."
        elif lane_names.index(lane.name.strip()) != i:
            errors[f"lanes[{i}].name"] = f"Lane '{lane.name}' is listed twice."
        if lane.hourly_cost is not None and lane.hourly_cost < 0:
            errors[f"lanes[{i}].hourly_cost"] = "An hourly cost cannot be negative."

    step_names = [step.name.strip() for step in steps]
    for i, spec in enumerate(steps):
        _validate_step(f"steps[{i}]", spec, errors)
        if spec.name.strip() and step_names.index(spec.name.strip()) != i:
            errors[f"steps[{i}].name"] = f"Step '{spec.name}' is listed twice."
        if spec.lane.strip() not in lane_names:
            errors[f"steps[{i}].lane"] = f"There is no lane named '{spec.lane}'."

    stage_of_step: dict[str, int] = {}
    last_index = -1
    for k, stage in enumerate(stages):
        if not stage.name.strip():
            errors[f"stages[{k}].name"] = "A funnel stage needs a name."
        indexes = []
        for step_name in stage.steps:
            if step_name not in step_names:
                errors[f"stages[{k}].steps"] = f"There is no step named '{step_name}'."
                break
            if step_name in stage_of_step:
                errors[f"stages[{k}].steps"] = f"Step '{step_name}' is already in another stage."
                break
            stage_of_step[step_name] = k
            indexes.append(step_names.index(step_name))
        else:
            if not indexes:
                errors[f"stages[{k}].steps"] = "A funnel stage covers at least one step."
            elif sorted(indexes) != list(range(min(indexes), max(indexes) + 1)):
                errors[f"stages[{k}].steps"] = "A funnel stage covers consecutive steps."
            elif min(indexes) <= last_index:
                errors[f"stages[{k}].steps"] = "Funnel stages follow the order of the map."
            else:
                last_index = max(indexes)
    if errors:
        raise ValidationError(errors)

    stream = ValueStream.objects.create(
        team=team,
        name=name.strip(),
        slug=_unique_slug(
            f"{team.slug}-{name}" + ("-future" if state == StreamState.FUTURE else "")
        ),
        description=description,
        state=state,
        drawn_from=drawn_from,
        period_days=period_days,
        target_won_deals_per_period=target_won_deals_per_period,
        available_selling_hours_per_period=available_selling_hours_per_period,
        currency=currency.upper(),
    )
    lane_objs = {
        spec.name.strip(): Lane.objects.create(
            stream=stream, name=spec.name.strip(), position=i + 1, hourly_cost=spec.hourly_cost
        )
        for i, spec in enumerate(lanes)
    }
    stage_objs = [
        FunnelStage.objects.create(stream=stream, name=stage.name.strip(), position=k + 1)
        for k, stage in enumerate(stages)
    ]
    ProcessStep.objects.bulk_create(
        ProcessStep(
            stream=stream,
            position=i + 1,
            name=spec.name.strip(),
            lane=lane_objs[spec.lane.strip()],
            stage=stage_objs[stage_of_step[spec.name.strip()]]
            if spec.name.strip() in stage_of_step
            else None,
            value_class=spec.value_class,
            planned_process_hours=spec.planned_process_hours,
            planned_lead_hours=spec.planned_lead_hours,
            planned_pct_complete_accurate=spec.planned_pct_complete_accurate,
            planned_wip=spec.planned_wip,
            notes=spec.notes,
        )
        for i, spec in enumerate(steps)
    )
    return stream


@transaction.atomic
def stream_draw_future_state(*, stream: ValueStream, name: str | None = None) -> ValueStream:
    """Copy a current-state map (lanes, stages, steps, targets) into a linked future state."""
    if stream.state != StreamState.CURRENT:
        raise ValidationError({"stream": "A future state is drawn from a current-state map."})
    steps = list(stream.steps.select_related("lane", "stage"))
    return stream_create(
        team=stream.team,
        name=name or stream.name,
        description=stream.description,
        state=StreamState.FUTURE,
        drawn_from=stream,
        period_days=stream.period_days,
        target_won_deals_per_period=stream.target_won_deals_per_period,
        available_selling_hours_per_period=stream.available_selling_hours_per_period,
        currency=stream.currency,
        lanes=[LaneSpec(lane.name, lane.hourly_cost) for lane in stream.lanes.all()],
        steps=[
            StepSpec(
                name=s.name,
                lane=s.lane.name,
                value_class=s.value_class,
                planned_process_hours=s.planned_process_hours,
                planned_lead_hours=s.planned_lead_hours,
                planned_pct_complete_accurate=s.planned_pct_complete_accurate,
                planned_wip=s.planned_wip,
                notes=s.notes,
            )
            for s in steps
        ],
        stages=[
            StageSpec(stage.name, [s.name for s in steps if s.stage_id == stage.id])
            for stage in stream.stages.all()
        ],
    )


# --- Background jobs --------------------------------------------------------------------------


def job_create(*, kind: str, params: dict, total: int = 0, created_by=None, team=None) -> Job:
    return Job.objects.create(
        kind=kind, params=params, total=total, created_by=created_by, team=team
    )


def job_progress(*, job_id: int, done: int, total: int | None = None, message: str = "") -> None:
    """Record progress; called from inside a task, outside its data transaction, so the
    browser sees it while the work goes on."""
    updates: dict = {"done": done, "state": JobState.RUNNING, "message": message[:255]}
    if total is not None:
        updates["total"] = total
    Job.objects.filter(pk=job_id).update(**updates)
    Job.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=timezone.now())


def job_finish(*, job_id: int, result: dict, message: str = "Done") -> None:
    job = Job.objects.get(pk=job_id)
    Job.objects.filter(pk=job_id).update(
        state=JobState.DONE,
        done=job.total,
        result=result,
        message=message[:255],
        finished_at=timezone.now(),
    )


def job_fail(*, job_id: int, error: str) -> None:
    Job.objects.filter(pk=job_id).update(
        state=JobState.FAILED, error=error, message="Failed", finished_at=timezone.now()
    )


def jobs_prune(*, older_than_days: int = 30) -> int:
    """Delete finished jobs older than ``older_than_days``; returns how many."""
    cutoff = timezone.now() - timezone.timedelta(days=older_than_days)
    deleted, _ = Job.objects.filter(
        state__in=[JobState.DONE, JobState.FAILED], finished_at__lt=cutoff
    ).delete()
    return deleted
