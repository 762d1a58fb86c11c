"""Writes to the event log: create a deal, move it to a step, log work, close it; undo a
close, reopen a closed deal, edit a deal.

Each function validates first and raises ``ValidationError({field: reason})``, then writes in
one transaction; the database constraints are the last line of defence. Timestamps must be
timezone-aware and not in the future (a few minutes of clock skew are tolerated).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.formats import date_format

from funnel.eventlog.selectors import deal_can_edit, deal_can_reopen
from funnel.eventlog.working import StreamCalendars, offsets_adopt, stream_calendars
from funnel.metrics.snapshots import metrics_changed
from funnel.models import Deal, DealEvent, DealEventKind, DealStatus, Visit
from streams.models import ProcessStep, Role, StreamState, ValueStream
from streams.selectors import role_in_team, team_ids_with_role
from streams.times import when_text

CLOCK_SKEW = timedelta(minutes=5)
#: One log entry of more than a working day is almost always a unit mistake.
MAX_WORK_MINUTES_PER_ENTRY = 24 * 60
#: How long the person who closed a deal may undo it; after that a manager reopens it.
UNDO_WINDOW = timedelta(minutes=10)


def event_log_analyze() -> None:
    """Refresh PostgreSQL's planner statistics of deals and visits after a bulk load (the
    import, the demo seed): autovacuum may be off or late, and the metrics queries that follow
    plan badly on tables whose statistics predate the load. Nothing to do on SQLite."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Deal._meta.db_table}, {Visit._meta.db_table}")


def _check_time(name: str, value: datetime, errors: dict[str, str]) -> None:
    if timezone.is_naive(value):
        errors[name] = "The time needs a time zone (for example 2026-03-01T09:00:00+00:00)."
    elif value > timezone.now() + CLOCK_SKEW:
        errors[name] = f"{when_text(value)} is in the future."


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)


def deal_lock(deal: Deal) -> Deal:
    """Re-read the deal (with its stream) under a row lock, so two writes of one deal (moves,
    closes, scores, hand-off decisions) cannot interleave."""
    return Deal.objects.select_for_update().select_related("stream").get(pk=deal.pk)


@transaction.atomic
def deal_create(
    *,
    stream: ValueStream,
    name: str,
    owner: AbstractBaseUser | None = None,
    external_id: str = "",
    account: str = "",
    amount: Decimal | None = None,
    source: str = "",
    created_at: datetime | None = None,
    first_step: ProcessStep | None = None,
    actor: AbstractBaseUser | None = None,
) -> Deal:
    """Create an open deal and, when ``first_step`` is given, its first visit at
    ``created_at``."""
    created_at = created_at or timezone.now()
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "A deal needs a name."
    if amount is not None and amount < 0:
        errors["amount"] = "The amount cannot be negative."
    _check_time("created_at", created_at, errors)
    external_id = external_id.strip() or f"D-{uuid.uuid4().hex[:10].upper()}"
    if Deal.objects.filter(stream=stream, external_id=external_id).exists():
        errors["external_id"] = f"Stream {stream.name} already has a deal with id {external_id}."
    if stream.state != StreamState.CURRENT:
        errors["stream"] = "Deals flow through the current state; a future state is a design."
    if first_step is not None and first_step.stream_id != stream.pk:
        errors["first_step"] = f"Step '{first_step.name}' belongs to another value stream."
    if owner is not None and stream.team_id not in team_ids_with_role(
        owner, (Role.MANAGER, Role.REP)
    ):
        errors["owner"] = f"{owner} is not a manager or rep of team {stream.team}."
    _raise(errors)

    # The calendars of the working-time offsets (funnel.eventlog.working), read before the deal
    # exists: the stream's first deal records them (``offsets_adopt``).
    calendars = stream_calendars(stream.pk)
    try:
        with transaction.atomic():  # a savepoint: a lost race on external_id is a 400
            deal = Deal.objects.create(
                stream=stream,
                external_id=external_id,
                name=name.strip(),
                account=account.strip(),
                amount=amount,
                owner=owner,
                source=source.strip(),
                created_at=created_at,
            )
    except IntegrityError as exc:
        if Deal.objects.filter(stream=stream, external_id=external_id).exists():
            raise ValidationError(
                {"external_id": f"Stream {stream.name} already has a deal with id {external_id}."}
            ) from exc
        raise
    if not calendars.has_deals and calendars.stored != calendars.signature:
        offsets_adopt(calendars, stream.pk)  # nothing older to rewrite
    if first_step is not None:
        _append_visit(deal=deal, step=first_step, at=created_at, actor=actor, calendars=calendars)
    metrics_changed(stream_id=stream.pk)
    return deal


def _end_visit(visit: Visit, at: datetime, calendars: StreamCalendars) -> None:
    """End the open ``visit`` at ``at``, with its working-time offset (W of its lane's
    calendar, ``funnel.eventlog.working``)."""
    visit.exited_at = at
    visit.exited_w = calendars.lane_w(visit.step.lane_id, at)
    visit.save(update_fields=["exited_at", "exited_w", "updated_at"])


def _append_visit(
    *,
    deal: Deal,
    step: ProcessStep,
    at: datetime,
    actor: AbstractBaseUser | None,
    calendars: StreamCalendars,
) -> Visit:
    """Add a visit at the end of the (locked) deal's path, with its path facts
    (``funnel.eventlog.paths``): the services only ever append, so the earlier visits' facts stand
    but for the latest visit's ``is_last``. Its working-time offset, and its deal's for a first
    visit, are W of ``calendars`` (``funnel.eventlog.working``)."""
    previous = deal.visits.order_by("-entered_at", "-id").values_list("step_id", flat=True)
    previous_step_id = previous.first()
    if previous_step_id is None:
        first_w = calendars.team_w(at)
        Deal.objects.filter(pk=deal.pk).update(first_entered_at=at, first_entered_w=first_w)
        deal.first_entered_at, deal.first_entered_w = at, first_w
    else:
        deal.visits.filter(is_last=True).update(is_last=False)
    return Visit.objects.create(
        deal=deal,
        step=step,
        entered_at=at,
        entered_w=calendars.lane_w(step.lane_id, at),
        actor=actor,
        reentry=deal.visits.filter(step=step).exists(),
        previous_step_id=previous_step_id,
        is_last=True,
    )


@transaction.atomic
def deal_move(
    *,
    deal: Deal,
    step: ProcessStep,
    at: datetime | None = None,
    actor: AbstractBaseUser | None = None,
) -> Visit:
    """Move a deal to ``step`` at ``at``: close its open visit and open a new one, together.

    Moving back to a step visited before is rework (a re-entry); moving to the step the deal
    is already at is refused.
    """
    deal = deal_lock(deal)
    at = at or timezone.now()
    errors: dict[str, str] = {}
    if deal.status != DealStatus.OPEN:
        errors["deal"] = f"The deal is {deal.status}; a closed deal cannot move."
    if step.stream_id != deal.stream_id:
        errors["step"] = f"Step '{step.name}' belongs to another value stream."
    _check_time("at", at, errors)
    _raise(errors)

    current = deal.visits.filter(exited_at__isnull=True).select_related("step").first()
    last_exit = (
        deal.visits.exclude(exited_at__isnull=True)
        .order_by("-exited_at")
        .values_list("exited_at", flat=True)
        .first()
    )
    if current is not None and current.step_id == step.pk:
        errors["step"] = f"The deal is already at '{step.name}'."
    elif current is not None and at < current.entered_at:
        errors["at"] = (
            f"The deal entered '{current.step.name}' at {when_text(current.entered_at)}; "
            "it cannot leave before it entered."
        )
    elif at < deal.created_at:
        errors["at"] = "The move is earlier than the deal's creation."
    elif current is None and last_exit is not None and at < last_exit:
        errors["at"] = "The move is earlier than the deal's last step change."
    _raise(errors)

    calendars = stream_calendars(deal.stream_id)
    if current is not None:
        _end_visit(current, at, calendars)
    metrics_changed(stream_id=deal.stream_id)
    return _append_visit(deal=deal, step=step, at=at, actor=actor, calendars=calendars)


@transaction.atomic
def visit_log_work(*, visit: Visit, minutes: int) -> Visit:
    """Add ``minutes`` of hands-on work to a visit (each call adds to what was logged)."""
    deal = deal_lock(visit.deal)
    errors: dict[str, str] = {}
    if deal.status != DealStatus.OPEN:
        errors["deal"] = f"The deal is {deal.status}; its work can no longer change."
    if not isinstance(minutes, int) or isinstance(minutes, bool):
        errors["minutes"] = "Work is logged in whole minutes."
    elif minutes <= 0:
        errors["minutes"] = "Log at least one minute of work."
    elif minutes > MAX_WORK_MINUTES_PER_ENTRY:
        errors["minutes"] = (
            f"{minutes} minutes is more than a day of work in one entry; check the unit."
        )
    _raise(errors)
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    visit.work_minutes = (visit.work_minutes or 0) + minutes
    visit.save(update_fields=["work_minutes", "updated_at"])
    metrics_changed(stream_id=deal.stream_id)
    return visit


@transaction.atomic
def deal_log_work(*, deal: Deal, minutes: int) -> Visit:
    """Add ``minutes`` of hands-on work to the deal's open visit; a ``ValidationError``
    naming ``visit`` when the deal is at no step."""
    # Lock the deal first, so a concurrent move cannot end the visit found here before the
    # work lands on it.
    deal = deal_lock(deal)
    visit = deal.visits.filter(exited_at__isnull=True).first()
    if visit is None:
        raise ValidationError(
            {"visit": "The deal is at no step; move it to a step before logging work."}
        )
    return visit_log_work(visit=visit, minutes=minutes)


def _close_errors(
    *, deal: Deal, outcome: str, at: datetime, lost_reason: str
) -> tuple[dict[str, str], Visit | None]:
    """What would refuse closing ``deal`` (read under its lock by the caller), and its open
    visit."""
    errors: dict[str, str] = {}
    if deal.status != DealStatus.OPEN:
        errors["deal"] = f"The deal is already {deal.status}."
    if outcome not in (DealStatus.WON, DealStatus.LOST):
        errors["outcome"] = f"'{outcome}' is not an outcome; use won or lost."
    if outcome == DealStatus.WON and lost_reason.strip():
        errors["lost_reason"] = "A won deal has no lost reason."
    _check_time("at", at, errors)
    if errors:
        return errors, None
    current = deal.visits.filter(exited_at__isnull=True).select_related("step").first()
    if current is not None and at < current.entered_at:
        errors["at"] = (
            f"The deal entered '{current.step.name}' at {when_text(current.entered_at)}; "
            "it cannot close before that."
        )
    elif at < deal.created_at:
        errors["at"] = "The deal cannot close before it was created."
    return errors, current


def deal_close_check(
    *, deal: Deal, outcome: str, at: datetime | None = None, lost_reason: str = ""
) -> None:
    """Raise the ``ValidationError`` :func:`deal_close` would raise, without closing: the
    pages ask to confirm a close only when it would succeed."""
    errors, _ = _close_errors(
        deal=deal, outcome=outcome, at=at or timezone.now(), lost_reason=lost_reason
    )
    _raise(errors)


@transaction.atomic
def deal_close(
    *,
    deal: Deal,
    outcome: str,
    at: datetime | None = None,
    lost_reason: str = "",
    actor: AbstractBaseUser | None = None,
) -> Deal:
    """Close a deal as won or lost at ``at``; its open visit ends at the same instant. The
    close is kept as a :class:`DealEvent`, so ``actor`` may undo it within
    :data:`UNDO_WINDOW` (:func:`deal_close_undo`)."""
    deal = deal_lock(deal)
    at = at or timezone.now()
    errors, current = _close_errors(deal=deal, outcome=outcome, at=at, lost_reason=lost_reason)
    _raise(errors)

    calendars = stream_calendars(deal.stream_id)
    if current is not None:
        _end_visit(current, at, calendars)
    deal.status = outcome
    deal.closed_at = at
    deal.closed_w = calendars.team_w(at)
    deal.lost_reason = lost_reason.strip() if outcome == DealStatus.LOST else ""
    deal.save(update_fields=["status", "closed_at", "closed_w", "lost_reason", "updated_at"])
    DealEvent.objects.create(
        deal=deal,
        kind=DealEventKind.CLOSED,
        recorded_at=timezone.now(),
        actor=actor if actor is not None and actor.is_authenticated else None,
        status=deal.status,
        closed_at=at,
        lost_reason=deal.lost_reason,
    )
    metrics_changed(stream_id=deal.stream_id)
    return deal


def deal_undo_deadline(*, deal: Deal, user: AbstractBaseUser) -> datetime | None:
    """Until when ``user`` may undo the deal's close: they closed it through the app less than
    :data:`UNDO_WINDOW` ago, it has not been undone or reopened since, and they may still
    change the deal. None otherwise."""
    if not user.is_authenticated:
        return None
    last = deal.events.order_by("-recorded_at", "-id").first()
    if last is None or last.kind != DealEventKind.CLOSED or last.actor_id != user.pk:
        return None
    deadline = last.recorded_at + UNDO_WINDOW
    if timezone.now() > deadline or not deal_can_edit(user=user, deal=deal):
        return None
    return deadline


def _reopen(*, deal: Deal, kind: str, actor: AbstractBaseUser, reason: str = "") -> Deal:
    """Open the (locked, closed) deal again at the step it closed at, and record why.

    A close ended the deal's last visit at ``closed_at``; that visit is opened again, so the
    deal's path keeps its visits and their path facts (``funnel.eventlog.paths``) unchanged: no
    visit is added or removed. A deal closed at no step (or whose import ended its last visit
    earlier) is open at no step."""
    last = deal.visits.order_by("-entered_at", "-id").first()
    if last is not None and last.exited_at is not None and last.exited_at == deal.closed_at:
        last.exited_at = last.exited_w = None
        last.save(update_fields=["exited_at", "exited_w", "updated_at"])
    DealEvent.objects.create(
        deal=deal,
        kind=kind,
        recorded_at=timezone.now(),
        actor=actor,
        status=deal.status,
        closed_at=deal.closed_at,
        lost_reason=deal.lost_reason,
        reason=reason,
    )
    deal.status = DealStatus.OPEN
    deal.closed_at = deal.closed_w = None
    deal.lost_reason = ""
    deal.save(update_fields=["status", "closed_at", "closed_w", "lost_reason", "updated_at"])
    metrics_changed(stream_id=deal.stream_id)
    return deal


@transaction.atomic
def deal_close_undo(*, deal: Deal, user: AbstractBaseUser) -> Deal:
    """Undo a close within :data:`UNDO_WINDOW` of it: the deal is open again at the step it
    was at, as if the close had not happened, and the undo is kept in its history.

    Only the person who closed the deal may undo it, while they may still change it
    (``PermissionDenied`` otherwise); after the window a manager reopens it instead."""
    deal = deal_lock(deal)
    if not deal_can_edit(user=user, deal=deal):
        raise PermissionDenied("Only the deal's owner and the team's managers change this deal.")
    if deal.status == DealStatus.OPEN:
        raise ValidationError({"deal": "The deal is open; there is no close to undo."})
    last = deal.events.order_by("-recorded_at", "-id").first()
    if last is None or last.kind != DealEventKind.CLOSED:
        raise ValidationError(
            {"deal": "This close cannot be undone; a manager can reopen the deal with a reason."}
        )
    if last.actor_id != user.pk:
        raise PermissionDenied("Only the person who closed the deal can undo the close.")
    deadline = last.recorded_at + UNDO_WINDOW
    if timezone.now() > deadline:
        minutes = int(UNDO_WINDOW.total_seconds() // 60)
        raise ValidationError(
            {
                "deal": f"A close can be undone for {minutes} minutes; that ended at "
                f"{when_text(deadline)}. A manager can reopen the deal with a reason."
            }
        )
    return _reopen(deal=deal, kind=DealEventKind.UNDONE, actor=user)


MAX_REOPEN_REASON = DealEvent._meta.get_field("reason").max_length


@transaction.atomic
def deal_reopen(*, deal: Deal, user: AbstractBaseUser, reason: str) -> Deal:
    """A manager reopens a closed deal, saying why: it is open again at the step it closed
    at, the reopen is kept in its history (who, when, why, the outcome it had) and the
    metrics recompute. Managers of the deal's team and admins only."""
    deal = deal_lock(deal)
    if not deal_can_reopen(user=user, deal=deal):
        raise PermissionDenied("Only the team's managers reopen a closed deal.")
    errors: dict[str, str] = {}
    if deal.status == DealStatus.OPEN:
        errors["deal"] = "The deal is already open."
    reason = reason.strip()
    if not reason:
        errors["reason"] = "Say why the deal is reopened: it stays in the deal's history."
    elif len(reason) > MAX_REOPEN_REASON:
        errors["reason"] = f"Keep the reason under {MAX_REOPEN_REASON} characters."
    _raise(errors)
    return _reopen(deal=deal, kind=DealEventKind.REOPENED, actor=user, reason=reason)


class _Unset:
    """A field :func:`deal_update` leaves as it is (None is a value: "no amount")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
#: How far ahead a deal may be expected to close: a typo'd year (9999) is refused, naming the
#: field, instead of being stored (and pushing date arithmetic past year 9999).
CLOSE_HORIZON_YEARS = 10
_TEXT_FIELDS = {"name": 200, "account": 200, "source": 40, "next_step": 200}


def _update_errors(
    *, deal: Deal, user: AbstractBaseUser, changes: dict[str, Any]
) -> dict[str, str]:
    """Normalise ``changes`` (of :func:`deal_update`) in place and say what is wrong with
    them, every field at once; ``PermissionDenied`` when ``user`` may not edit the deal."""
    if not deal_can_edit(user=user, deal=deal):
        raise PermissionDenied("Only the deal's owner and the team's managers change this deal.")
    errors: dict[str, str] = {}
    for key, limit in _TEXT_FIELDS.items():
        if key in changes:
            changes[key] = (changes[key] or "").strip()
            if len(changes[key]) > limit:
                errors[key] = f"Keep the {key.replace('_', ' ')} under {limit} characters."
    if "next_step" in changes:
        changes["next_step"] = changes["next_step"] or None
    if "name" in changes and not changes["name"]:
        errors["name"] = "A deal needs a name."
    if changes.get("amount") is not None and changes["amount"] < 0:
        errors["amount"] = "The amount cannot be negative."
    if changes.get("expected_close_date") is not None:
        created = timezone.localtime(deal.created_at).date()
        today = timezone.localdate()
        horizon = today.replace(year=today.year + CLOSE_HORIZON_YEARS, day=min(today.day, 28))
        if changes["expected_close_date"] > horizon:
            errors["expected_close_date"] = (
                f"The expected close date is more than {CLOSE_HORIZON_YEARS} years away: "
                f"give a date up to {date_format(horizon, 'Y-m-d')}."
            )
        elif changes["expected_close_date"] < created:
            errors["expected_close_date"] = (
                f"The deal was created on {date_format(created, 'Y-m-d')}; it cannot be "
                "expected to close before that."
            )
    if "owner" in changes and changes["owner"] != deal.owner:
        team = deal.stream.team
        if not (user.is_staff or role_in_team(user, team.pk) == Role.MANAGER):
            errors["owner"] = "Only the team's managers reassign a deal."
        elif changes["owner"] is not None and team.pk not in team_ids_with_role(
            changes["owner"], (Role.MANAGER, Role.REP)
        ):
            errors["owner"] = f"{changes['owner']} is not a manager or rep of team {team}."
    return errors


def deal_update_check(*, deal: Deal, user: AbstractBaseUser, changes: dict[str, Any]) -> None:
    """Raise what :func:`deal_update` would refuse in ``changes`` (a subset of its fields),
    without writing: a form whose other fields have errors reports these with them."""
    _raise(_update_errors(deal=deal, user=user, changes=dict(changes)))


@transaction.atomic
def deal_update(
    *,
    deal: Deal,
    user: AbstractBaseUser,
    name: str = UNSET,
    account: str = UNSET,
    amount: Decimal | None = UNSET,
    source: str = UNSET,
    expected_close_date: date | None = UNSET,
    next_step: str | None = UNSET,
    owner: AbstractBaseUser | None = UNSET,
) -> Deal:
    """Change a deal's descriptive fields; only the ones given change.

    The deal's owner and the team's managers edit it (``PermissionDenied`` for anyone else,
    even with nothing to change); only managers reassign it, to a manager or rep of the
    team. Every invalid field is reported at once."""
    deal = deal_lock(deal)
    changes: dict[str, Any] = {
        key: value
        for key, value in {
            "name": name,
            "account": account,
            "amount": amount,
            "source": source,
            "expected_close_date": expected_close_date,
            "next_step": next_step,
            "owner": owner,
        }.items()
        if value is not UNSET
    }
    _raise(_update_errors(deal=deal, user=user, changes=changes))

    changed = [key for key, value in changes.items() if getattr(deal, key) != value]
    if changed:
        for key in changed:
            setattr(deal, key, changes[key])
        deal.save(update_fields=[*changed, "updated_at"])
        if {"amount", "owner", "source"} & set(changed):
            metrics_changed(stream_id=deal.stream_id)  # the figures filter and sum by these
    return deal
