"""Writes to the map and to background jobs. Every function validates its input and raises
``django.core.exceptions.ValidationError`` with a dict that names the field and the reason;
pages, the API and imports all call these, never the ORM directly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, F, Max, Min, Value, When
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
    TimeBasis,
    ValueClass,
    ValueStream,
)
from streams.times import when_text

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
    motion_waste: bool = False
    unused_talent: bool = False


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
    name = name.strip()
    if not name:
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
            motion_waste=spec.motion_waste,
            unused_talent=spec.unused_talent,
        )
        for i, spec in enumerate(steps)
    )
    return stream


# --- Background jobs --------------------------------------------------------------------------


def job_create(*, kind: str, params: dict, total: int = 0, created_by=None, team=None) -> Job:
    return Job.objects.create(
        kind=kind, params=params, total=total, created_by=created_by, team=team
    )


def job_joinable(*, kind: str, key: str, since: datetime) -> Job | None:
    """The latest job of ``kind`` doing ``key`` (its ``params["key"]``), queued or running and
    created since ``since``: a request for the same work joins it rather than start another."""
    return (
        Job.objects.filter(
            kind=kind,
            params__key=key,
            state__in=[JobState.QUEUED, JobState.RUNNING],
            created_at__gte=since,
        )
        .order_by("-created_at")
        .first()
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


# --- Editing a map ------------------------------------------------------------------------
#
# Every edit names the map ``version`` it was based on. The stream row is locked, the version
# compared, the edit made, and the version bumped, in one transaction: of two managers editing
# the same map, the second save is refused with a message instead of silently overwriting.

#: More steps than this is not a map anyone can read; 200 must stay legible and fast.
MAX_STEPS = 500
_SHIFT = 10_000  # positions are moved out of the way by this much while renumbering


class StaleVersionError(ValidationError):
    """The edit was based on an older version of the map (the API answers 409)."""

    def __init__(self, stream: ValueStream, version: int) -> None:
        who = f" by {stream.updated_by}" if stream.updated_by_id else ""
        when = when_text(stream.updated_at)
        super().__init__(
            {
                "version": (
                    f"This map was changed{who} at {when} since you opened it (you edited "
                    f"version {version}, it is now version {stream.version}). Nothing was saved: "
                    "reload the map to see the changes, then make your edit again."
                )
            }
        )
        self.current_version = stream.version


def _locked(stream_id: int, version: int | None) -> ValueStream:
    # ``of=("self",)``: PostgreSQL refuses FOR UPDATE on the nullable side of the outer join
    # to ``updated_by``; only the stream row needs the lock.
    stream = (
        ValueStream.objects.select_for_update(of=("self",))
        .select_related("updated_by")
        .get(pk=stream_id)
    )
    if version is None:
        raise ValidationError({"version": "Say which version of the map this edit is based on."})
    if version != stream.version:
        raise StaleVersionError(stream, version)
    return stream


def _refuse_delete(records: int, field: str, reason: str) -> None:
    """A delete refused (400 naming ``field``) while ``records`` rows of the event log or of
    the map depend on the object: deleting it would take them with it."""
    if records:
        raise ValidationError({field: reason})


def _bump(stream: ValueStream, user) -> None:
    stream.version += 1
    stream.updated_by = user if getattr(user, "is_authenticated", False) else None
    stream.save(update_fields=["version", "updated_by", "updated_at"])


def _check_stream_fields(fields: dict, errors: dict[str, str]) -> None:
    if "name" in fields and not str(fields["name"]).strip():
        errors["name"] = "A value stream needs a name."
    if "period_days" in fields and (fields["period_days"] or 0) <= 0:
        errors["period_days"] = "The period must be at least one day."
    target = fields.get("target_won_deals_per_period")
    if target is not None and target <= 0:
        errors["target_won_deals_per_period"] = "The target must be at least one won deal."
    hours = fields.get("available_selling_hours_per_period")
    if hours is not None and hours <= 0:
        errors["available_selling_hours_per_period"] = "Available hours must be more than zero."
    currency = fields.get("currency")
    if currency is not None and (len(currency) != 3 or not currency.isalpha()):
        errors["currency"] = "Use a three-letter ISO currency code such as USD or EUR."
    if "time_basis" in fields and fields["time_basis"] not in TIME_BASES:
        errors["time_basis"] = "Choose elapsed (calendar) time or working time."


STREAM_EDITABLE = (
    "name",
    "description",
    "period_days",
    "target_won_deals_per_period",
    "available_selling_hours_per_period",
    "currency",
    "time_basis",
)
#: The values of ``ValueStream.time_basis``: the time the stream's durations are shown in by
#: default (docs/metrics.md, "Working time").
TIME_BASES = tuple(TimeBasis.values)


@transaction.atomic
def stream_update(*, stream: ValueStream, version: int, user, **fields) -> ValueStream:
    """Change a map's name, description, period, targets, currency or default time basis."""
    unknown = set(fields) - set(STREAM_EDITABLE)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    stream = _locked(stream.pk, version)
    errors: dict[str, str] = {}
    _check_stream_fields(fields, errors)
    if "name" in fields and (
        ValueStream.objects.filter(
            team=stream.team, name=fields["name"].strip(), state=stream.state
        )
        .exclude(pk=stream.pk)
        .exists()
    ):
        errors["name"] = f"Team {stream.team} already has a map named '{fields['name']}'."
    if errors:
        raise ValidationError(errors)
    for name, value in fields.items():
        setattr(stream, name, value.strip() if isinstance(value, str) else value)
    if "currency" in fields:
        stream.currency = stream.currency.upper()
    stream.save()
    _bump(stream, user)
    return stream


@transaction.atomic
def stream_delete(*, stream: ValueStream, version: int) -> None:
    """Delete a map. A map with deals keeps them: it cannot be deleted here."""
    stream = _locked(stream.pk, version)
    deals = stream.deals.count()
    _refuse_delete(
        deals,
        "stream",
        f"This map has {deals} deal(s) logged against it; deleting it would delete their history.",
    )
    stream.delete()


# Lanes


def _check_lane(stream: ValueStream, name: str | None, cost, errors: dict, exclude=None) -> None:
    if name is not None:
        if not name.strip():
            errors["name"] = "A lane needs a name."
        elif stream.lanes.filter(name=name.strip()).exclude(pk=exclude).exists():
            errors["name"] = f"This map already has a lane named '{name.strip()}'."
    if cost is not None and cost < 0:
        errors["hourly_cost"] = "An hourly cost cannot be negative."


@transaction.atomic
def lane_add(*, stream: ValueStream, version: int, user, name: str, hourly_cost=None) -> Lane:
    stream = _locked(stream.pk, version)
    errors: dict[str, str] = {}
    _check_lane(stream, name, hourly_cost, errors)
    if errors:
        raise ValidationError(errors)
    position = (stream.lanes.aggregate(m=Max("position"))["m"] or 0) + 1
    lane = Lane.objects.create(
        stream=stream, name=name.strip(), position=position, hourly_cost=hourly_cost
    )
    _bump(stream, user)
    return lane


_UNSET = object()


@transaction.atomic
def lane_update(
    *, lane: Lane, version: int, user, name: str | None = None, hourly_cost=_UNSET
) -> Lane:
    stream = _locked(lane.stream_id, version)
    errors: dict[str, str] = {}
    _check_lane(stream, name, None if hourly_cost is _UNSET else hourly_cost, errors, lane.pk)
    if errors:
        raise ValidationError(errors)
    lane = Lane.objects.get(pk=lane.pk)
    if name is not None:
        lane.name = name.strip()
    if hourly_cost is not _UNSET:
        lane.hourly_cost = hourly_cost
    lane.save()
    _bump(stream, user)
    return lane


@transaction.atomic
def lane_delete(*, lane: Lane, version: int, user) -> None:
    stream = _locked(lane.stream_id, version)
    steps = list(lane.steps.values_list("name", flat=True))
    _refuse_delete(
        len(steps),
        "lane",
        f"Lane '{lane.name}' still has {len(steps)} step(s) ({', '.join(steps[:5])}"
        f"{'…' if len(steps) > 5 else ''}); put them in another lane first.",
    )
    lane.delete()
    _bump(stream, user)


# Steps

#: What a step's services set, with a new step's defaults (in the order the API shows them).
STEP_DEFAULTS = {
    "name": "",
    "lane": None,
    "stage": None,
    "value_class": ValueClass.VALUE_ADD,
    "planned_process_hours": 0.0,
    "planned_lead_hours": 0.0,
    "planned_pct_complete_accurate": 100.0,
    "planned_wip": 0,
    "notes": "",
    "motion_waste": False,
    "unused_talent": False,
}
STEP_FIELDS = tuple(STEP_DEFAULTS)


def _check_step(
    stream: ValueStream, values: dict, errors: dict, exclude: int | None = None
) -> None:
    spec = StepSpec(
        name=values["name"],
        lane="",
        value_class=values["value_class"],
        planned_process_hours=values["planned_process_hours"],
        planned_lead_hours=values["planned_lead_hours"],
        planned_pct_complete_accurate=values["planned_pct_complete_accurate"],
        planned_wip=values["planned_wip"],
    )
    step_errors: dict[str, str] = {}
    _validate_step("s", spec, step_errors)
    errors.update({key.removeprefix("s."): message for key, message in step_errors.items()})
    name = (values["name"] or "").strip()
    if name and stream.steps.filter(name=name).exclude(pk=exclude).exists():
        errors["name"] = f"This map already has a step named '{name}'."
    lane = values["lane"]
    if lane is None:
        errors["lane"] = "Put the step in a lane."
    elif lane.stream_id != stream.pk:
        errors["lane"] = "That lane belongs to another map."
    stage = values.get("stage")
    if stage is not None and stage.stream_id != stream.pk:
        errors["stage"] = "That funnel stage belongs to another map."


def _renumber_steps(stream: ValueStream, ordered_ids: list[int]) -> None:
    """Give the steps positions 1…n in ``ordered_ids`` order (two updates, constraint-safe)."""
    ProcessStep.objects.filter(stream=stream).update(position=F("position") + _SHIFT)
    if ordered_ids:
        ProcessStep.objects.filter(pk__in=ordered_ids).update(
            position=Case(*(When(pk=pk, then=Value(i + 1)) for i, pk in enumerate(ordered_ids)))
        )


def _renumber_stages(stream: ValueStream) -> None:
    """Stages follow the map: order them by their first step; empty stages go last."""
    firsts = {
        stage_id: first
        for stage_id, first in stream.steps.filter(stage__isnull=False)
        .values_list("stage_id")
        .annotate(first=Min("position"))
    }
    stages = sorted(
        stream.stages.values_list("pk", "position"),
        key=lambda row: (firsts.get(row[0], _SHIFT), row[1]),
    )
    FunnelStage.objects.filter(stream=stream).update(position=F("position") + _SHIFT)
    for i, (pk, _) in enumerate(stages):
        FunnelStage.objects.filter(pk=pk).update(position=i + 1)


def _broken_stage(stream: ValueStream) -> FunnelStage | None:
    """A stage whose steps are not consecutive, if any."""
    order = list(stream.steps.order_by("position").values_list("stage_id", flat=True))
    seen: set[int] = set()
    previous = None
    for stage_id in order:
        if stage_id is not None and stage_id != previous and stage_id in seen:
            return FunnelStage.objects.get(pk=stage_id)
        if stage_id is not None:
            seen.add(stage_id)
        previous = stage_id
    return None


def _keep_stages_consecutive(stream: ValueStream, step: ProcessStep) -> None:
    """After ``step`` landed somewhere new, make every stage consecutive again: if it broke a
    stage's run, the step joins the stage of the step before it (or after it, at the top)."""
    if _broken_stage(stream) is None:
        _renumber_stages(stream)
        return
    neighbours = list(stream.steps.order_by("position").values_list("pk", "stage_id"))
    index = [pk for pk, _ in neighbours].index(step.pk)
    before = neighbours[index - 1][1] if index > 0 else None
    after = neighbours[index + 1][1] if index + 1 < len(neighbours) else None
    ProcessStep.objects.filter(pk=step.pk).update(stage_id=before if index > 0 else after)
    broken = _broken_stage(stream)
    if broken is not None:
        raise ValidationError({"position": f"That would split funnel stage '{broken.name}'."})
    _renumber_stages(stream)


@transaction.atomic
def step_add(
    *, stream: ValueStream, version: int, user, position: int | None = None, **fields
) -> ProcessStep:
    """Add a step at ``position`` (1-based; the end when None), shifting later steps."""
    stream = _locked(stream.pk, version)
    values = STEP_DEFAULTS | fields
    errors: dict[str, str] = {}
    if set(fields) - set(STEP_FIELDS):
        errors.update({f: "Unknown step field." for f in set(fields) - set(STEP_FIELDS)})
    else:
        _check_step(stream, values, errors)
    ordered = list(stream.steps.order_by("position").values_list("pk", flat=True))
    if len(ordered) >= MAX_STEPS:
        errors["name"] = f"A map holds at most {MAX_STEPS} steps."
    if position is not None and not 1 <= position <= len(ordered) + 1:
        errors["position"] = f"Position must be between 1 and {len(ordered) + 1}."
    if errors:
        raise ValidationError(errors)
    values["name"] = values["name"].strip()
    step = ProcessStep.objects.create(stream=stream, position=len(ordered) + 1 + _SHIFT, **values)
    index = len(ordered) if position is None else position - 1
    _renumber_steps(stream, [*ordered[:index], step.pk, *ordered[index:]])
    if values["stage"] is not None and _broken_stage(stream) is not None:
        # A stage the caller chose is kept or refused, never silently swapped for a neighbour's.
        raise ValidationError(
            {
                "stage": "A funnel stage covers consecutive steps; at this position the step is "
                "not next to the stage's other steps."
            }
        )
    _keep_stages_consecutive(stream, step)
    _bump(stream, user)
    step.refresh_from_db()
    return step


@transaction.atomic
def step_update(*, step: ProcessStep, version: int, user, **fields) -> ProcessStep:
    """Change a step's name, lane, value class, planned figures, notes or stage."""
    stream = _locked(step.stream_id, version)
    step = ProcessStep.objects.get(pk=step.pk)
    errors: dict[str, str] = {}
    unknown = set(fields) - set(STEP_FIELDS)
    if unknown:
        raise ValidationError({f: "This field cannot be changed here." for f in unknown})
    values = {name: getattr(step, name) for name in STEP_FIELDS} | fields
    _check_step(stream, values, errors, exclude=step.pk)
    if errors:
        raise ValidationError(errors)
    for name, value in fields.items():
        setattr(step, name, value.strip() if name == "name" else value)
    step.save()
    if "stage" in fields and _broken_stage(stream) is not None:
        raise ValidationError(
            {
                "stage": "A funnel stage covers consecutive steps; this step is not next to the "
                "stage's other steps."
            }
        )
    _renumber_stages(stream)
    _bump(stream, user)
    return step


@transaction.atomic
def step_move(*, step: ProcessStep, version: int, user, position: int) -> ProcessStep:
    """Move a step to ``position`` (1-based) and shift the steps in between."""
    stream = _locked(step.stream_id, version)
    ordered = list(stream.steps.order_by("position").values_list("pk", flat=True))
    if not isinstance(position, int) or not 1 <= position <= len(ordered):
        raise ValidationError({"position": f"Position must be between 1 and {len(ordered)}."})
    ordered.remove(step.pk)
    ordered.insert(position - 1, step.pk)
    _renumber_steps(stream, ordered)
    _keep_stages_consecutive(stream, step)
    _bump(stream, user)
    return ProcessStep.objects.get(pk=step.pk)


@transaction.atomic
def step_delete(*, step: ProcessStep, version: int, user) -> None:
    """Delete a step that no deal has visited; later steps move up."""
    stream = _locked(step.stream_id, version)
    visits = step.visits.count()
    _refuse_delete(
        visits,
        "step",
        f"Deals have visited '{step.name}' {visits} time(s); deleting it would delete their "
        "history. Rename it or change its value class instead.",
    )
    step.delete()
    _renumber_steps(stream, list(stream.steps.order_by("position").values_list("pk", flat=True)))
    _renumber_stages(stream)
    _bump(stream, user)


# Funnel stages


def _stage_span(
    stream: ValueStream, first: ProcessStep | None, last: ProcessStep | None, errors: dict
) -> list[int]:
    """Ids of the steps from ``first`` to ``last`` in map order."""
    if first is None:
        errors["first_step"] = "Choose the stage's first step."
    elif first.stream_id != stream.pk:
        errors["first_step"] = "That step belongs to another map."
    if last is None:
        errors["last_step"] = "Choose the stage's last step."
    elif last.stream_id != stream.pk:
        errors["last_step"] = "That step belongs to another map."
    if errors:
        return []
    if last.position < first.position:
        errors["last_step"] = "The last step comes before the first step on the map."
        return []
    return list(
        stream.steps.filter(position__gte=first.position, position__lte=last.position)
        .order_by("position")
        .values_list("pk", flat=True)
    )


def _assign_stage(stream: ValueStream, stage: FunnelStage, step_ids: list[int]) -> None:
    ProcessStep.objects.filter(stage=stage).exclude(pk__in=step_ids).update(stage=None)
    ProcessStep.objects.filter(pk__in=step_ids).update(stage=stage)
    broken = _broken_stage(stream)
    if broken is not None:
        raise ValidationError(
            {
                "first_step": f"These steps sit inside stage '{broken.name}'; a stage cannot split "
                "another. Shrink that stage first."
            }
        )
    _renumber_stages(stream)


@transaction.atomic
def stage_add(
    *,
    stream: ValueStream,
    version: int,
    user,
    name: str,
    first_step: ProcessStep | None,
    last_step: ProcessStep | None,
) -> FunnelStage:
    """Add a funnel stage over the steps from ``first_step`` to ``last_step``; steps it covers
    leave the stage they were in."""
    stream = _locked(stream.pk, version)
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "A funnel stage needs a name."
    elif stream.stages.filter(name=name.strip()).exists():
        errors["name"] = f"This map already has a stage named '{name.strip()}'."
    step_ids = _stage_span(stream, first_step, last_step, errors)
    if errors:
        raise ValidationError(errors)
    position = (stream.stages.aggregate(m=Max("position"))["m"] or 0) + 1 + _SHIFT
    stage = FunnelStage.objects.create(stream=stream, name=name.strip(), position=position)
    _assign_stage(stream, stage, step_ids)
    _bump(stream, user)
    stage.refresh_from_db()
    return stage


@transaction.atomic
def stage_update(
    *,
    stage: FunnelStage,
    version: int,
    user,
    name: str | None = None,
    first_step: ProcessStep | None = None,
    last_step: ProcessStep | None = None,
) -> FunnelStage:
    """Rename a stage and/or change the steps it covers (give both ends)."""
    stream = _locked(stage.stream_id, version)
    errors: dict[str, str] = {}
    if name is not None:
        if not name.strip():
            errors["name"] = "A funnel stage needs a name."
        elif stream.stages.filter(name=name.strip()).exclude(pk=stage.pk).exists():
            errors["name"] = f"This map already has a stage named '{name.strip()}'."
    step_ids = None
    if first_step is not None or last_step is not None:
        step_ids = _stage_span(stream, first_step, last_step, errors)
    if errors:
        raise ValidationError(errors)
    if name is not None:
        FunnelStage.objects.filter(pk=stage.pk).update(name=name.strip())
    if step_ids is not None:
        _assign_stage(stream, stage, step_ids)
    _bump(stream, user)
    return FunnelStage.objects.get(pk=stage.pk)


@transaction.atomic
def stage_delete(*, stage: FunnelStage, version: int, user) -> None:
    """Delete a funnel stage; its steps stay on the map without a stage."""
    stream = _locked(stage.stream_id, version)
    stage.delete()
    _renumber_stages(stream)
    _bump(stream, user)
