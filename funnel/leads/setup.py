"""The manager's setup of leads (docs/leads.md): a stream's waterfall and hand-offs, the reason
lists, and the sellers' and steps' WIP limits. Managers of the stream's team (and admins) do
it; anyone else gets ``PermissionDenied``. Each function validates first and raises
``ValidationError({field: reason})`` (a hand-off's fields as ``handoffs.<i>.<field>``,
``i`` its index in the list given to :func:`waterfall_save`), then writes in one transaction.

The receiving side's decisions and the seller's pull are in ``funnel.leads.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from funnel.leads.models import (
    MAX_SLA_MINUTES,
    Handoff,
    HandoffDecision,
    HandoffReason,
    ReasonKind,
    SellerLimit,
    Side,
    StepWipLimit,
    Waterfall,
    WaterfallPreset,
)
from funnel.leads.presets import DEFAULT_REASONS
from funnel.leads.services import _raise, person
from funnel.metrics.snapshots import metrics_changed
from streams.models import ProcessStep, Role, StreamState, ValueStream
from streams.selectors import require_stream_edit, team_ids_with_role

STAGE_MAX = Handoff._meta.get_field("offered_stage").max_length
LABEL_MAX = HandoffReason._meta.get_field("label").max_length
SELLER_LIMIT_MAX = 500
STEP_LIMIT_MAX = 100_000
_MANAGERS_ONLY = "Only the team's managers change the waterfall, its reasons and limits."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- The waterfall ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoffSpec:
    """A hand-off as the setup page and the API send it: its step and the rest of its fields
    (docs/leads.md "The waterfall")."""

    step: ProcessStep
    offered_stage: str
    giver: str
    receiver: str
    accepted_stage: str = ""
    sla_minutes: int | None = None
    escalate_minutes: int | None = None
    pull: bool = False


def _handoff_errors(i: int, spec: HandoffSpec, stream: ValueStream) -> dict[str, str]:
    errors: dict[str, str] = {}
    key = f"handoffs.{i}."
    if spec.step.stream_id != stream.pk:
        errors[key + "step"] = f"Step “{spec.step.name}” is not a step of {stream.name}."
    offered = (spec.offered_stage or "").strip()
    if not offered:
        errors[key + "offered_stage"] = "Name the stage a lead reaches when it arrives (MQL)."
    elif len(offered) > STAGE_MAX:
        errors[key + "offered_stage"] = f"A stage name has at most {STAGE_MAX} characters."
    if len((spec.accepted_stage or "").strip()) > STAGE_MAX:
        errors[key + "accepted_stage"] = f"A stage name has at most {STAGE_MAX} characters."
    for name in ("giver", "receiver"):
        if getattr(spec, name) not in Side.values:
            errors[key + name] = f"Choose one of {', '.join(Side.values)}."
    sla, escalate = spec.sla_minutes, spec.escalate_minutes
    if sla is not None:
        if not _is_int(sla) or sla <= 0:
            errors[key + "sla_minutes"] = (
                "An SLA is a whole number of working minutes above 0 (or empty: no SLA)."
            )
        elif sla > MAX_SLA_MINUTES:
            errors[key + "sla_minutes"] = (
                f"{sla} minutes is over {MAX_SLA_MINUTES} working minutes (60 working days of "
                "8 hours): check the unit."
            )
    if escalate is not None:
        if sla is None:
            errors[key + "escalate_minutes"] = "Escalation needs an SLA to come after."
        elif not _is_int(escalate) or escalate <= 0:
            errors[key + "escalate_minutes"] = "Escalation is a whole number of working minutes."
        elif escalate > MAX_SLA_MINUTES:
            errors[key + "escalate_minutes"] = (
                f"{escalate} minutes is over {MAX_SLA_MINUTES} working minutes: check the unit."
            )
        elif _is_int(sla) and escalate <= sla:
            errors[key + "escalate_minutes"] = (
                f"Escalate after the SLA: more than {sla} minutes, not {escalate}."
            )
    return errors


def _waterfall_errors(
    *,
    stream: ValueStream,
    preset: str,
    inquiry_stage: str,
    won_stage: str,
    recycle_step: ProcessStep | None,
    handoffs: Sequence[HandoffSpec],
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if stream.state != StreamState.CURRENT:
        errors["stream"] = "Leads flow through the current state; a future state is a design."
    if preset not in WaterfallPreset.values:
        errors["preset"] = f"Choose a preset: {', '.join(WaterfallPreset.values)}."
    for name, value in (("inquiry_stage", inquiry_stage), ("won_stage", won_stage)):
        if not (value or "").strip():
            errors[name] = "Name the stage."
        elif len(value.strip()) > STAGE_MAX:
            errors[name] = f"A stage name has at most {STAGE_MAX} characters."
    steps = [spec.step.pk for spec in handoffs]
    if recycle_step is not None:
        if recycle_step.stream_id != stream.pk:
            errors["recycle_step"] = f"Step “{recycle_step.name}” is not a step of {stream.name}."
        elif recycle_step.pk in steps:
            errors["recycle_step"] = (
                f"“{recycle_step.name}” is a hand-off: a recycled lead would be offered again "
                "at once. Choose a nurture step."
            )
    seen: set[int] = set()
    for i, spec in enumerate(handoffs):
        errors.update(_handoff_errors(i, spec, stream))
        if spec.step.pk in seen:
            errors[f"handoffs.{i}.step"] = f"“{spec.step.name}” is a hand-off already."
        seen.add(spec.step.pk)
    pulls = [i for i, spec in enumerate(handoffs) if spec.pull]
    if len(pulls) > 1:
        errors[f"handoffs.{pulls[1]}.pull"] = "Only one hand-off is the ready-for-sales queue."
    return errors


@transaction.atomic
def waterfall_save(
    *,
    stream: ValueStream,
    user: AbstractBaseUser,
    preset: str,
    inquiry_stage: str,
    won_stage: str,
    recycle_step: ProcessStep | None,
    handoffs: list[HandoffSpec],
) -> Waterfall:
    """Save the stream's waterfall and its hand-offs (managers).

    Hand-offs are matched by step: one at a step that had one is updated in place (its
    decisions stay with it); one at a new step is added; a step no longer named loses its
    hand-off, which is refused when that hand-off has decisions (naming it and how many). The
    hand-offs are numbered in map order of their steps. A stream's first waterfall starts
    with the default reason lists when it has no reasons yet.
    """
    require_stream_edit(user, stream, _MANAGERS_ONLY)
    ValueStream.objects.select_for_update().filter(pk=stream.pk).first()  # one save at a time
    errors = _waterfall_errors(
        stream=stream,
        preset=preset,
        inquiry_stage=inquiry_stage,
        won_stage=won_stage,
        recycle_step=recycle_step,
        handoffs=handoffs,
    )
    kept = {spec.step.pk for spec in handoffs}
    removed = (
        Handoff.objects.filter(stream=stream)
        .exclude(step_id__in=kept)
        .select_related("step")
        .annotate(used=Exists(HandoffDecision.objects.filter(handoff=OuterRef("pk"))))
    )
    used = [h for h in removed if h.used]
    if used:
        names = ", ".join(
            f"{h.offered_stage} at “{h.step.name}” "
            f"({HandoffDecision.objects.filter(handoff=h).count()} decisions)"
            for h in used
        )
        errors["handoffs"] = (
            f"These hand-offs have decisions and cannot be removed: {names}. Keep them (their "
            "step and history stay); change their names or SLA instead."
        )
    _raise(errors)

    waterfall, created = Waterfall.objects.get_or_create(stream=stream)
    pull_before = (
        Handoff.objects.filter(stream=stream, pull=True).values_list("step_id", flat=True).first()
    )
    Handoff.objects.filter(pk__in=[h.pk for h in removed]).delete()
    existing = {h.step_id: h for h in Handoff.objects.filter(stream=stream)}
    # Out of the way of the unique position and "one pull" first, then the final values.
    for n, handoff in enumerate(existing.values()):
        Handoff.objects.filter(pk=handoff.pk).update(position=F_OFFSET + n, pull=False)
    ordered = sorted(handoffs, key=lambda spec: (spec.step.position, spec.step.pk))
    for position, spec in enumerate(ordered):
        fields = {
            "position": position,
            "offered_stage": spec.offered_stage.strip(),
            "accepted_stage": (spec.accepted_stage or "").strip(),
            "giver": spec.giver,
            "receiver": spec.receiver,
            "sla_minutes": spec.sla_minutes,
            "escalate_minutes": spec.escalate_minutes,
            "pull": spec.pull,
        }
        handoff = existing.get(spec.step.pk)
        if handoff is None:
            Handoff.objects.create(stream=stream, step=spec.step, **fields)
        else:
            Handoff.objects.filter(pk=handoff.pk).update(**fields)
    waterfall.preset = preset
    waterfall.inquiry_stage = inquiry_stage.strip()
    waterfall.won_stage = won_stage.strip()
    waterfall.recycle_step = recycle_step
    waterfall.updated_by = user
    waterfall.save()
    if created and not HandoffReason.objects.filter(stream=stream).exists():
        HandoffReason.objects.bulk_create(
            HandoffReason(stream=stream, kind=kind, label=label, position=n)
            for kind, labels in DEFAULT_REASONS.items()
            for n, label in enumerate(labels)
        )
    if pull_before != next((spec.step.pk for spec in handoffs if spec.pull), None):
        # The stream's win rate of the deals past the ready-for-sales hand-off counts from
        # that step (docs/metrics.md §3): its figures are computed again.
        metrics_changed(stream_id=stream.pk)
    return waterfall


#: Positions hand-offs are parked at while a save renumbers them (above any real position).
F_OFFSET = 20_000


# --- Reasons ----------------------------------------------------------------------------------


def _label_errors(
    stream: ValueStream, kind: str, label: str, exclude: int | None = None
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if kind not in ReasonKind.values:
        errors["kind"] = f"Choose a list: {', '.join(ReasonKind.values)}."
    label = (label or "").strip()
    if not label:
        errors["label"] = "A reason needs a label."
    elif len(label) > LABEL_MAX:
        errors["label"] = f"A label has at most {LABEL_MAX} characters."
    elif "kind" not in errors:
        taken = HandoffReason.objects.filter(
            stream=stream, kind=kind, label__iexact=label, retired_at__isnull=True
        )
        if exclude is not None:
            taken = taken.exclude(pk=exclude)
        if taken.exists():
            errors["label"] = f"The {kind} list already has “{label}”."
    return errors


def _reasons_unique(exc: IntegrityError) -> ValidationError:
    return ValidationError(
        {"label": "Another reason of this list has this label, saved at the same moment."}
    )


@transaction.atomic
def reason_create(
    *, stream: ValueStream, user: AbstractBaseUser, kind: str, label: str
) -> HandoffReason:
    """Add a reason at the end of the stream's ``kind`` list (managers)."""
    require_stream_edit(user, stream, _MANAGERS_ONLY)
    _raise(_label_errors(stream, kind, label))
    top = HandoffReason.objects.filter(stream=stream, kind=kind).aggregate(top=Max("position"))
    try:
        with transaction.atomic():
            return HandoffReason.objects.create(
                stream=stream,
                kind=kind,
                label=label.strip(),
                position=(top["top"] + 1) if top["top"] is not None else 0,
            )
    except IntegrityError as exc:
        raise _reasons_unique(exc) from exc


def _locked_reason(reason: HandoffReason) -> HandoffReason:
    return HandoffReason.objects.select_for_update().select_related("stream").get(pk=reason.pk)


@transaction.atomic
def reason_update(
    *,
    reason: HandoffReason,
    user: AbstractBaseUser,
    label: str | None = None,
    position: int | None = None,
) -> HandoffReason:
    """Change a reason's label or position (managers). A new label of a reason that decisions
    used retires it and adds one with the new label in its place, so past decisions keep the
    words they were given with. Returns the reason as it is now."""
    reason = _locked_reason(reason)
    require_stream_edit(user, reason.stream, _MANAGERS_ONLY)
    errors: dict[str, str] = {}
    if reason.retired_at is not None:
        errors["reason"] = "This reason is retired."
    if label is not None:
        errors.update(_label_errors(reason.stream, reason.kind, label, exclude=reason.pk))
    if position is not None and (not _is_int(position) or not 0 <= position <= 32_767):
        errors["position"] = "A position is a whole number from 0."
    _raise(errors)
    if position is not None:
        reason.position = position
    if label is not None and label.strip() != reason.label:
        if reason.decisions.exists():
            reason.retired_at = timezone.now()
            reason.save(update_fields=["retired_at"])
            return HandoffReason.objects.create(
                stream=reason.stream,
                kind=reason.kind,
                label=label.strip(),
                position=reason.position,
            )
        reason.label = label.strip()
    try:
        with transaction.atomic():
            reason.save(update_fields=["label", "position"])
    except IntegrityError as exc:
        raise _reasons_unique(exc) from exc
    return reason


@transaction.atomic
def reason_retire(*, reason: HandoffReason, user: AbstractBaseUser) -> HandoffReason:
    """Take a reason off its list (managers): retired, never deleted, so the decisions that
    gave it keep it."""
    reason = _locked_reason(reason)
    require_stream_edit(user, reason.stream, _MANAGERS_ONLY)
    _raise({"reason": "This reason is already retired."} if reason.retired_at else {})
    reason.retired_at = timezone.now()
    reason.save(update_fields=["retired_at"])
    return reason


# --- Limits -----------------------------------------------------------------------------------


@transaction.atomic
def seller_limit_set(
    *, stream: ValueStream, user: AbstractBaseUser, seller: AbstractBaseUser, wip_limit: int | None
) -> SellerLimit | None:
    """Set ``seller``'s WIP limit in the stream (managers); None takes it away (the seller can
    no longer pull). A seller is a rep or manager of the stream's team."""
    require_stream_edit(user, stream, _MANAGERS_ONLY)
    errors: dict[str, str] = {}
    if stream.team_id not in team_ids_with_role(seller, (Role.REP, Role.MANAGER)):
        errors["seller"] = f"{person(seller)} is not a rep or manager of team {stream.team}."
    if wip_limit is not None and (not _is_int(wip_limit) or not 1 <= wip_limit <= SELLER_LIMIT_MAX):
        errors["wip_limit"] = (
            f"A WIP limit is a whole number of open deals from 1 to {SELLER_LIMIT_MAX} "
            "(empty: no limit, no pulling)."
        )
    _raise(errors)
    if wip_limit is None:
        SellerLimit.objects.filter(stream=stream, user=seller).delete()
        return None
    limit, _ = SellerLimit.objects.select_for_update().get_or_create(
        stream=stream, user=seller, defaults={"wip_limit": wip_limit}
    )
    if limit.wip_limit != wip_limit:
        limit.wip_limit = wip_limit
        limit.save(update_fields=["wip_limit", "updated_at"])
    return limit


@transaction.atomic
def step_wip_limit_set(
    *, step: ProcessStep, user: AbstractBaseUser, wip_limit: int | None
) -> StepWipLimit | None:
    """Set a step's WIP limit (managers); None takes it away. At the pull hand-off's step it
    counts the pulled leads still there: a pull is refused at the limit."""
    require_stream_edit(user, step.stream, _MANAGERS_ONLY)
    if wip_limit is not None and (not _is_int(wip_limit) or not 1 <= wip_limit <= STEP_LIMIT_MAX):
        raise ValidationError(
            {"wip_limit": f"A step's WIP limit is a whole number from 1 to {STEP_LIMIT_MAX}."}
        )
    if wip_limit is None:
        StepWipLimit.objects.filter(step=step).delete()
        return None
    limit, _ = StepWipLimit.objects.update_or_create(step=step, defaults={"wip_limit": wip_limit})
    return limit
