"""Writes to the event log: create a deal, move it to a step, log work, close it.

Each function validates first and raises ``ValidationError({field: reason})``, then writes in
one transaction; the database constraints are the last line of defence. Timestamps must be
timezone-aware and not in the future (a few minutes of clock skew are tolerated).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from funnel.metrics.snapshots import metrics_changed
from funnel.models import Deal, DealStatus, Visit
from streams.models import ProcessStep, Role, StreamState, ValueStream
from streams.selectors import team_ids_with_role

CLOCK_SKEW = timedelta(minutes=5)
#: One log entry of more than a working day is almost always a unit mistake.
MAX_WORK_MINUTES_PER_ENTRY = 24 * 60


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
        errors[name] = f"{value.isoformat()} is in the future."


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)


def _lock(deal: Deal) -> Deal:
    """Re-read the deal under a row lock so two moves of one deal cannot interleave."""
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
    if first_step is not None:
        _append_visit(deal=deal, step=first_step, at=created_at, actor=actor)
    metrics_changed(stream_id=stream.pk)
    return deal


def _append_visit(
    *, deal: Deal, step: ProcessStep, at: datetime, actor: AbstractBaseUser | None
) -> Visit:
    """Add a visit at the end of the (locked) deal's path, with its path facts
    (``funnel.paths``): the services only ever append, so the earlier visits' facts stand but
    for the latest visit's ``is_last``."""
    previous = deal.visits.order_by("-entered_at", "-id").values_list("step_id", flat=True)
    previous_step_id = previous.first()
    if previous_step_id is None:
        Deal.objects.filter(pk=deal.pk).update(first_entered_at=at)
        deal.first_entered_at = at
    else:
        deal.visits.filter(is_last=True).update(is_last=False)
    return Visit.objects.create(
        deal=deal,
        step=step,
        entered_at=at,
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
    deal = _lock(deal)
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
            f"The deal entered '{current.step.name}' at {current.entered_at.isoformat()}; "
            "it cannot leave before it entered."
        )
    elif at < deal.created_at:
        errors["at"] = "The move is earlier than the deal's creation."
    elif current is None and last_exit is not None and at < last_exit:
        errors["at"] = "The move is earlier than the deal's last step change."
    _raise(errors)

    if current is not None:
        current.exited_at = at
        current.save(update_fields=["exited_at", "updated_at"])
    metrics_changed(stream_id=deal.stream_id)
    return _append_visit(deal=deal, step=step, at=at, actor=actor)


@transaction.atomic
def visit_log_work(*, visit: Visit, minutes: int) -> Visit:
    """Add ``minutes`` of hands-on work to a visit (each call adds to what was logged)."""
    deal = _lock(visit.deal)
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
    deal = _lock(deal)
    visit = deal.visits.filter(exited_at__isnull=True).first()
    if visit is None:
        raise ValidationError(
            {"visit": "The deal is at no step; move it to a step before logging work."}
        )
    return visit_log_work(visit=visit, minutes=minutes)


@transaction.atomic
def deal_close(
    *,
    deal: Deal,
    outcome: str,
    at: datetime | None = None,
    lost_reason: str = "",
) -> Deal:
    """Close a deal as won or lost at ``at``; its open visit ends at the same instant."""
    deal = _lock(deal)
    at = at or timezone.now()
    errors: dict[str, str] = {}
    if deal.status != DealStatus.OPEN:
        errors["deal"] = f"The deal is already {deal.status}."
    if outcome not in (DealStatus.WON, DealStatus.LOST):
        errors["outcome"] = f"'{outcome}' is not an outcome; use won or lost."
    if outcome == DealStatus.WON and lost_reason.strip():
        errors["lost_reason"] = "A won deal has no lost reason."
    _check_time("at", at, errors)
    _raise(errors)

    current = deal.visits.filter(exited_at__isnull=True).select_related("step").first()
    if current is not None and at < current.entered_at:
        errors["at"] = (
            f"The deal entered '{current.step.name}' at {current.entered_at.isoformat()}; "
            "it cannot close before that."
        )
    elif at < deal.created_at:
        errors["at"] = "The deal cannot close before it was created."
    _raise(errors)

    if current is not None:
        current.exited_at = at
        current.save(update_fields=["exited_at", "updated_at"])
    deal.status = outcome
    deal.closed_at = at
    deal.lost_reason = lost_reason.strip() if outcome == DealStatus.LOST else ""
    deal.save(update_fields=["status", "closed_at", "lost_reason", "updated_at"])
    metrics_changed(stream_id=deal.stream_id)
    return deal
