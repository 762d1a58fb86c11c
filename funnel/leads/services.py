"""Writes of leads, hand-offs and pull (docs/leads.md): a stream's waterfall and hand-offs, the
reason lists, the sellers' and steps' WIP limits, the receiving side's decisions on arrivals,
and the seller's pull from the ready-for-sales queue.

Each function validates first and raises ``ValidationError({field: reason})`` (every field at
once where they are independent), then writes in one transaction; ``PermissionDenied`` when
the user may not do it at all (docs/leads.md "Who does what"):

- managers of the stream's team (and admins) do everything;
- a rep of the team decides on arrivals at the hand-offs other than the pull, and pulls when
  they have a :class:`SellerLimit` in the stream;
- leadership changes nothing.

A hand-off's fields are reported as ``handoffs.<i>.<field>`` (``i``: its index in the list
given to :func:`waterfall_save`).

Locks (PostgreSQL): a decision locks the deal (``funnel.eventlog.services.deal_lock``) and then
its visit, as ``deal_move`` does; a pull locks the seller's limit row, then the step's WIP
limit row when the pull step has one, then the deal and the visit (the next in the queue is
found skipping deals another pull holds). So two pulls of one seller count their open deals
one after the other, and two sellers pulling one lead are served one after the other: the
second is refused naming who pulled it (:class:`LeadTaken`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from funnel.eventlog.services import deal_close, deal_lock, deal_move
from funnel.eventlog.working import _w_one, stream_calendars
from funnel.leads.models import (
    MAX_SLA_MINUTES,
    DecisionKind,
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
from funnel.leads.pull import (
    _OWNED_SQL,
    _locked_visit,
    _next_in_queue,
    _pull_handoff,
    _row_locks,
    _seller_limit,
    _sql_row,
    pull_next,
)
from funnel.metrics.snapshots import metrics_changed
from funnel.models import Deal, DealStatus, Visit
from streams.models import ProcessStep, Role, StreamState, ValueStream
from streams.selectors import require_stream_edit, role_in_team, team_ids_with_role
from streams.times import when_text

#: A decision may be dated this far ahead of the server's clock (a phone's clock).
CLOCK_SKEW = timedelta(minutes=5)
STAGE_MAX = Handoff._meta.get_field("offered_stage").max_length
LABEL_MAX = HandoffReason._meta.get_field("label").max_length
NOTE_MAX = HandoffDecision._meta.get_field("note").max_length
SELLER_LIMIT_MAX = 500
STEP_LIMIT_MAX = 100_000
_MANAGERS_ONLY = "Only the team's managers change the waterfall, its reasons and limits."
#: The kind of reason each decision takes (accept takes none).
REASON_KIND = {
    DecisionKind.REJECT: ReasonKind.REJECT,
    DecisionKind.RECYCLE: ReasonKind.RECYCLE,
    DecisionKind.DISQUALIFY: ReasonKind.DISQUALIFY,
}


class LeadTaken(ValidationError):
    """The lead was decided (pulled) by someone else a moment before: the API answers 409."""


def _raise(errors: Mapping[str, str]) -> None:
    if errors:
        raise ValidationError(dict(errors))


def person(user: AbstractBaseUser | None) -> str:
    """How a user is named in messages: full name, else username; "someone" for nobody."""
    if user is None:
        return "someone"
    return user.get_full_name() or user.get_username()


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


# --- Decisions --------------------------------------------------------------------------------


def _check_at(at: datetime, visit: Visit, errors: dict[str, str]) -> None:
    if timezone.is_naive(at):
        errors["at"] = "The time needs a time zone (for example 2026-03-01T09:00:00+00:00)."
    elif at > timezone.now() + CLOCK_SKEW:
        errors["at"] = f"{when_text(at)} is in the future."
    elif at < visit.entered_at:
        errors["at"] = (
            f"The lead arrived at {when_text(visit.entered_at)}; it cannot be decided before."
        )


def _taken_message(decision: HandoffDecision) -> str:
    if decision.kind == DecisionKind.ACCEPT and decision.handoff.pull:
        what = "pulled"
    else:
        what = {
            DecisionKind.ACCEPT: "accepted",
            DecisionKind.REJECT: "rejected",
            DecisionKind.RECYCLE: "recycled",
            DecisionKind.DISQUALIFY: "disqualified",
        }[decision.kind]
    return f"{person(decision.actor)} {what} this lead at {when_text(decision.decided_at)}."


def _arrival(visit: Visit) -> tuple[Visit, Handoff]:
    """The (locked) visit, checked to be an undecided arrival at a hand-off: a
    ``ValidationError`` naming ``visit`` otherwise (:class:`LeadTaken` when decided)."""
    visit = Visit.objects.select_for_update().select_related("step").get(pk=visit.pk)
    handoff = Handoff.objects.filter(step_id=visit.step_id).first()
    if handoff is None:
        raise ValidationError(
            {"visit": f"The lead is at “{visit.step.name}”, which is not a hand-off."}
        )
    decision = (
        HandoffDecision.objects.select_related("actor", "handoff").filter(visit=visit).first()
    )
    if decision is not None:
        raise LeadTaken({"visit": _taken_message(decision)})
    if visit.exited_at is not None:
        raise ValidationError(
            {"visit": f"The lead left “{visit.step.name}” at {when_text(visit.exited_at)}."}
        )
    return visit, handoff


#: ``_record``'s ``now_w`` when the caller has not read it.
_READ = object()


def _record(
    *,
    visit: Visit,
    handoff: Handoff,
    deal: Deal,
    kind: str,
    user: AbstractBaseUser,
    at: datetime,
    reason: HandoffReason | None = None,
    note: str = "",
    now_w: int | object | None = _READ,
    savepoint: bool = True,
) -> HandoffDecision:
    """Store the decision with its response time, elapsed and working (the W offsets of the
    step's lane calendar; empty without a calendar). ``now_w``: W at ``at`` on that calendar
    when the caller has it (the pull), else read here. ``savepoint``: insert inside a
    savepoint, so that a decision made meanwhile is told as :class:`LeadTaken`; a caller
    holding the deal's and the visit's row locks, having seen no decision under them, passes
    False (none can be made meanwhile) and spares two round trips."""
    if now_w is _READ:
        now_w = stream_calendars(deal.stream_id).lane_w(visit.step.lane_id, at)
    response_w = None
    if now_w is not None and visit.entered_w is not None:
        response_w = max(0, now_w - visit.entered_w)
    try:
        with transaction.atomic(savepoint=savepoint):
            return HandoffDecision.objects.create(
                visit=visit,
                handoff=handoff,
                deal=deal,
                kind=kind,
                reason=reason,
                note=note,
                actor=user,
                decided_at=at,
                response_seconds=max(0, int((at - visit.entered_at).total_seconds())),
                response_w=response_w,
                owner_before_id=deal.owner_id,  # what an undo gives back (funnel.leads.undo)
            )
    except IntegrityError as exc:  # decided meanwhile (without the locks: SQLite)
        decision = HandoffDecision.objects.filter(visit=visit).first()
        if decision is None:
            raise
        raise LeadTaken({"visit": _taken_message(decision)}) from exc


def _may_decide(user: AbstractBaseUser, deal: Deal, handoff: Handoff) -> None:
    if user.is_staff:
        return
    role = role_in_team(user, deal.stream.team_id)
    if role == Role.MANAGER:
        return
    if role == Role.REP and not handoff.pull:
        return
    if role == Role.REP:
        raise PermissionDenied(
            "Sellers pull leads from the ready-for-sales queue; the team's managers decide "
            "otherwise on them."
        )
    raise PermissionDenied("Only the team's reps and managers decide on hand-offs.")


@transaction.atomic
def handoff_decide(
    *,
    visit: Visit,
    kind: str,
    user: AbstractBaseUser,
    reason: HandoffReason | None = None,
    note: str = "",
    at: datetime | None = None,
) -> HandoffDecision:
    """The receiving side's decision on one arrival (``visit``: the lead's open visit at a
    hand-off step), at ``at`` (now by default):

    - accept: the visit goes on (at the pull hand-off, accept is :func:`lead_pull`);
    - reject: the lead moves back to the step it came from (the visit's ``previous_step``);
    - recycle: it moves to the waterfall's nurture step;
    - disqualify: the case is closed as lost, its lost reason the reason's label.

    A reason from the list of the decision's kind (active, of the stream) is required except
    to accept. All in one transaction."""
    deal = deal_lock(visit.deal)
    _may_decide(user, deal, Handoff.objects.filter(step_id=visit.step_id).first() or Handoff())
    visit, handoff = _arrival(visit)
    at = at or timezone.now()
    errors: dict[str, str] = {}
    if deal.status != DealStatus.OPEN:
        errors["visit"] = f"The case is {deal.status}; a closed case is not decided on."
    if kind not in DecisionKind.values:
        errors["kind"] = f"Choose a decision: {', '.join(DecisionKind.values)}."
    elif kind == DecisionKind.ACCEPT:
        if handoff.pull:
            errors["kind"] = "At the ready-for-sales queue a seller accepts by pulling the lead."
        if reason is not None:
            errors["reason"] = "Accepting takes no reason."
    else:
        wanted = REASON_KIND[kind]
        if reason is not None:  # as stored now: retired a moment ago is retired
            reason = HandoffReason.objects.filter(pk=reason.pk).first()
        if reason is None:
            errors["reason"] = f"Give a reason from the {wanted} list to {kind} a lead."
        elif reason.stream_id != deal.stream_id:
            errors["reason"] = "That reason belongs to another stream."
        elif reason.kind != wanted:
            errors["reason"] = (
                f"“{reason.label}” is a {reason.kind} reason; {kind} takes one from the "
                f"{wanted} list."
            )
        elif reason.retired_at is not None:
            errors["reason"] = f"“{reason.label}” is retired; choose an active reason."
    if kind == DecisionKind.REJECT and visit.previous_step_id is None:
        errors["kind"] = "The lead started at this step: there is no step to send it back to."
    recycle_step = None
    if kind == DecisionKind.RECYCLE:
        waterfall = Waterfall.objects.filter(stream_id=deal.stream_id).first()
        recycle_step = waterfall.recycle_step if waterfall else None
        if recycle_step is None:
            errors["kind"] = "Recycling is off: the waterfall has no nurture step."
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        errors["note"] = f"A note has at most {NOTE_MAX} characters."
    _check_at(at, visit, errors)
    _raise(errors)

    decision = _record(
        visit=visit,
        handoff=handoff,
        deal=deal,
        kind=kind,
        user=user,
        at=at,
        reason=reason,
        note=note,
    )
    if kind == DecisionKind.REJECT:
        deal_move(
            deal=deal, step=ProcessStep.objects.get(pk=visit.previous_step_id), at=at, actor=user
        )
    elif kind == DecisionKind.RECYCLE:
        deal_move(deal=deal, step=recycle_step, at=at, actor=user)
    elif kind == DecisionKind.DISQUALIFY:
        deal_close(deal=deal, outcome=DealStatus.LOST, at=at, lost_reason=reason.label, actor=user)
    # The move and the close record the change of visits (``metrics_changed``); the Leads
    # snapshots' signature reads the decisions themselves.
    return decision


# --- Pull -------------------------------------------------------------------------------------


@transaction.atomic
def lead_pull(
    *, stream: ValueStream, user: AbstractBaseUser, visit: Visit | None = None
) -> HandoffDecision:
    """A seller pulls a lead from the stream's ready-for-sales queue: ``visit`` (an arrival at
    the pull hand-off), or the oldest waiting when None. The seller becomes the case's owner
    and an accept decision is recorded at the pull hand-off.

    Refused (``ValidationError``): without a seller limit, at or over it (saying the count and
    the limit), at the pull step's WIP limit, for a lead not waiting at the pull hand-off, and
    with :class:`LeadTaken` for a lead someone decided on (naming who).

    Locks, in ``deal_move``'s order: the seller's limit row, the step's WIP limit row (when
    the step has one), the deal, the visit; each ``FOR UPDATE`` locks its own row only. The
    next lead is chosen with ``SKIP LOCKED`` on its deal, so sellers pulling at once take
    different leads instead of waiting for each other. The usual pull (the next lead, on
    PostgreSQL, no step limit) is two statements: the hand-off with the seller's role, limit
    (locked) and calendar; then ``funnel.leads.pull.pull_next`` (docs/benchmarks.md)."""
    handoff = _pull_handoff(stream, user)
    if handoff is None:  # refused: say why in the order of the checks
        limit = _seller_limit(stream, user)
        role, wip_limit = (limit.role, limit.wip_limit) if limit else (None, None)
        if limit is None:
            role = role_in_team(user, stream.team_id)
    else:
        role, wip_limit = handoff.seller_role, handoff.seller_limit
    if not user.is_staff and role not in (Role.MANAGER, Role.REP):
        raise PermissionDenied("Only the team's sellers pull leads.")
    if wip_limit is None:
        raise ValidationError(
            {
                "seller": f"{person(user)} has no WIP limit in {stream.name}: a manager sets "
                "one before you pull leads."
            }
        )
    if handoff is None:
        raise ValidationError(
            {"stream": f"{stream.name} has no ready-for-sales hand-off to pull from."}
        )
    now = timezone.now()
    now_w = _w_one(handoff.calendar_key, now)
    if visit is None and _row_locks() and handoff.step_limit is None:
        # The usual pull (PostgreSQL, no step limit): the rest in one statement.
        owned, decision = pull_next(handoff, user, wip_limit, now, now_w)
        if decision is None:
            _refuse_pull(user, owned, wip_limit)
            raise ValidationError({"visit": "The ready-for-sales queue is empty."})
        metrics_changed(stream_id=stream.pk)
        return decision
    # Read after the seller's limit is locked: two pulls of one seller count one after the other.
    owned, step_limit = _sql_row(
        _OWNED_SQL.format(lock=" FOR UPDATE" if _row_locks() else ""),
        [stream.pk, user.pk, DealStatus.OPEN, handoff.step_id],
    )
    _refuse_pull(user, owned, wip_limit)
    if step_limit is not None:
        pulled = (
            Visit.objects.filter(step_id=handoff.step_id, exited_at__isnull=True)
            .filter(Exists(HandoffDecision.objects.filter(visit=OuterRef("pk"))))
            .count()
        )
        if pulled >= step_limit:
            raise ValidationError(
                {
                    "step": f"“{handoff.step.name}” holds {pulled} pulled leads and its limit "
                    f"is {step_limit}: move one on before pulling another."
                }
            )
    if visit is None:
        visit = _next_in_queue(handoff)
        if visit is None:
            raise ValidationError({"visit": "The ready-for-sales queue is empty."})
        deal = visit.deal
    else:
        visit, deal = _named_lead(stream, handoff, visit)
    decision = _record(
        visit=visit,
        handoff=handoff,
        deal=deal,
        kind=DecisionKind.ACCEPT,
        user=user,
        at=now,
        now_w=now_w,
        savepoint=not _row_locks(),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Deal._meta.db_table} SET owner_id = %s, updated_at = %s WHERE id = %s",
            [user.pk, connection.ops.adapt_datetimefield_value(now), deal.pk],
        )
    deal.owner, deal.updated_at = user, now
    metrics_changed(stream_id=stream.pk)
    return decision


def _refuse_pull(user: AbstractBaseUser, owned: int, wip_limit: int) -> None:
    """Refuse a pull at or over the seller's limit, saying the count and the limit."""
    if owned >= wip_limit:
        raise ValidationError(
            {
                "seller": f"{person(user)} owns {owned} open deals and the limit is "
                f"{wip_limit}: finish one before pulling another."
            }
        )


def _named_lead(stream: ValueStream, handoff: Handoff, visit: Visit) -> tuple[Visit, Deal]:
    """The lead a seller named, its deal and then its visit locked, checked to be an open,
    undecided arrival at the pull hand-off (refused as :func:`_arrival` refuses)."""
    deal = (
        Deal.objects.select_for_update(of=("self",))
        .filter(pk=visit.deal_id, stream_id=stream.pk)
        .first()
    )
    if deal is None:
        raise ValidationError({"visit": f"The lead is not in {stream.name}."})
    visit = _locked_visit(visit.pk)
    if visit is None:
        raise ValidationError({"visit": "The lead is gone."})
    elsewhere = visit.step_id != handoff.step_id
    if elsewhere and not Handoff.objects.filter(step_id=visit.step_id).exists():
        raise ValidationError(
            {"visit": f"The lead is at “{visit.step.name}”, which is not a hand-off."}
        )
    if visit.decided:
        decision = HandoffDecision.objects.select_related("actor", "handoff").get(visit=visit)
        raise LeadTaken({"visit": _taken_message(decision)})
    if visit.exited_at is not None:
        raise ValidationError(
            {"visit": f"The lead left “{visit.step.name}” at {when_text(visit.exited_at)}."}
        )
    if elsewhere:
        raise ValidationError(
            {
                "visit": f"The lead is at “{visit.step.name}”, not at the ready-for-sales "
                f"queue (“{handoff.step.name}”)."
            }
        )
    if deal.status != DealStatus.OPEN:
        raise ValidationError({"visit": f"The case is {deal.status}."})
    visit.deal = deal
    return visit, deal
