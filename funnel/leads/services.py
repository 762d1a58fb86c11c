"""Writes of leads, hand-offs and pull (docs/leads.md): the receiving side's decisions on
arrivals and the seller's pull from the ready-for-sales queue. The manager's setup (the
waterfall and its hand-offs, the reason lists, the WIP limits) is in ``funnel.leads.setup``.

Each function validates first and raises ``ValidationError({field: reason})`` (every field at
once where they are independent), then writes in one transaction; ``PermissionDenied`` when
the user may not do it at all (docs/leads.md "Who does what"):

- managers of the stream's team (and admins) do everything;
- a rep of the team decides on arrivals at the hand-offs other than the pull, and pulls when
  they have a :class:`SellerLimit` in the stream;
- leadership changes nothing.

Locks (PostgreSQL): a decision locks the deal (``funnel.eventlog.services.deal_lock``) and then
its visit, as ``deal_move`` does; a pull locks the seller's limit row, then the step's WIP
limit row when the pull step has one, then the deal and the visit (the next in the queue is
found skipping deals another pull holds). So two pulls of one seller count their open deals
one after the other, and two sellers pulling one lead are served one after the other: the
second is refused naming who pulled it (:class:`LeadTaken`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from funnel.eventlog.services import deal_close, deal_lock, deal_move
from funnel.eventlog.working import _w_one, stream_calendars
from funnel.leads.models import (
    DecisionKind,
    Handoff,
    HandoffDecision,
    HandoffReason,
    ReasonKind,
    Waterfall,
)
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
from streams.models import ProcessStep, Role, ValueStream
from streams.selectors import role_in_team
from streams.times import when_text

#: A decision may be dated this far ahead of the server's clock (a phone's clock).
CLOCK_SKEW = timedelta(minutes=5)
NOTE_MAX = HandoffDecision._meta.get_field("note").max_length
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
