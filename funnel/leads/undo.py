"""Undoing a hand-off decision (docs/leads.md "Undo"), as a deal's close is undone
(``funnel.eventlog.services.deal_close_undo`` and ``deal_reopen``):

- whoever decided (accepted, rejected, recycled, disqualified or pulled) may undo it for
  :data:`UNDO_WINDOW` after they made it, while they are still a rep or manager of the team;
- a manager of the team (or an admin) may undo any decision later, saying why;
- leadership never undoes.

An undo puts the lead back exactly as it was before the decision: waiting at the hand-off,
undecided, with the decision's effects taken back:

- accept: nothing moved; the decision goes;
- pull: the case's owner is the one it had before the pull again;
- reject and recycle: the visit the move opened (back at the giver's step, or at the nurture
  step) is deleted and the arrival's visit is open again (its exit and ``is_last`` restored),
  so the path's facts (``funnel.eventlog.paths``) are as before the move;
- disqualify: the case is open again at the hand-off (the close's visit reopened, as
  ``deal_reopen`` does), with a ``DealEvent`` (``undone``, or ``reopened`` with the
  manager's reason) in its history.

The decision row is deleted (one decision per arrival: the lead can be decided again) and a
:class:`HandoffUndo` keeps what it was and who undid it, when and why. All in one
transaction, under the deal's lock (as ``deal_move``); refused with a message naming
``decision`` when the lead has moved on since (a later visit, a close, a reassignment), and
the metrics recompute (``metrics_changed``), as after every write of visits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from funnel.eventlog.services import UNDO_WINDOW, _reopen, deal_lock
from funnel.leads.models import DecisionKind, HandoffDecision, HandoffUndo
from funnel.metrics.snapshots import metrics_changed
from funnel.models import Deal, DealEventKind, DealStatus, Visit
from streams.models import Role
from streams.selectors import role_in_team
from streams.times import when_text

__all__ = [
    "UNDO_WINDOW",
    "deal_undoable_decision",
    "decision_undo_deadline",
    "handoff_undo",
    "may_undo_late",
    "undo_offer",
    "what_done",
]

REASON_MAX = HandoffUndo._meta.get_field("reason").max_length
WINDOW_MINUTES = int(UNDO_WINDOW.total_seconds() // 60)


def what_done(kind: str, pull: bool) -> str:
    """The decision as a past-tense verb: "pulled", "rejected", …"""
    if kind == DecisionKind.ACCEPT and pull:
        return "pulled"
    return {
        DecisionKind.ACCEPT: "accepted",
        DecisionKind.REJECT: "rejected",
        DecisionKind.RECYCLE: "recycled",
        DecisionKind.DISQUALIFY: "disqualified",
    }[kind]


def _role(user: AbstractBaseUser, deal: Deal) -> str | None:
    return role_in_team(user, deal.stream.team_id)


def may_undo_late(user: AbstractBaseUser, deal: Deal) -> bool:
    """The team's managers and admins undo any decision, with a reason."""
    if not user.is_authenticated:
        return False
    return user.is_staff or _role(user, deal) == Role.MANAGER


def decision_undo_deadline(*, decision: HandoffDecision, user: AbstractBaseUser) -> datetime | None:
    """Until when ``user`` may undo ``decision`` without a reason: they made it less than
    :data:`UNDO_WINDOW` ago and are still a rep or manager of the team (or an admin). None
    otherwise (a decision recorded before undo existed has no window)."""
    if not user.is_authenticated or decision.actor_id != user.pk or decision.recorded_at is None:
        return None
    deadline = decision.recorded_at + UNDO_WINDOW
    if timezone.now() > deadline:
        return None
    if not (user.is_staff or _role(user, decision.deal) in (Role.MANAGER, Role.REP)):
        return None
    return deadline


def _later_visits(visit: Visit):
    return (
        Visit.objects.filter(deal_id=visit.deal_id)
        .filter(
            Q(entered_at__gt=visit.entered_at) | Q(entered_at=visit.entered_at, pk__gt=visit.pk)
        )
        .select_related("step")
        .order_by("entered_at", "id")
    )


def _moved_on(later: Visit) -> ValidationError:
    return ValidationError(
        {
            "decision": f"The lead has moved on since: it entered “{later.step.name}” at "
            f"{when_text(later.entered_at)}. Only a decision nothing has followed can be undone."
        }
    )


def _closed_since(deal: Deal) -> ValidationError:
    return ValidationError(
        {
            "decision": f"The case was closed as {deal.status} at {when_text(deal.closed_at)} "
            "since; a manager reopens it first."
        }
    )


def _undo_effects(decision: HandoffDecision, deal: Deal, arrival: Visit) -> str:
    """Check that nothing followed the decision and take its effects back; returns the
    ``DealEvent`` kind a disqualify's reopen needs ("" otherwise: the caller records it)."""
    later = list(_later_visits(arrival))
    kind = decision.kind
    if kind in (DecisionKind.REJECT, DecisionKind.RECYCLE):
        if not later:
            raise ValidationError({"decision": "The lead is no longer where the decision sent it."})
        back = later[0]
        if len(later) > 1:
            raise _moved_on(later[1])
        if deal.status != DealStatus.OPEN:
            raise _closed_since(deal)
        if back.entered_at != decision.decided_at or arrival.exited_at != decision.decided_at:
            raise _moved_on(back)
        if back.work_minutes:
            raise ValidationError(
                {
                    "decision": f"{back.work_minutes} min of work were logged at "
                    f"“{back.step.name}” since; undoing would lose them."
                }
            )
        if HandoffDecision.objects.filter(visit=back).exists():
            raise ValidationError(
                {"decision": f"The lead was decided on again at “{back.step.name}” since."}
            )
        back.delete()  # its alerts go with it
        arrival.exited_at = arrival.exited_w = None
        arrival.is_last = True
        arrival.save(update_fields=["exited_at", "exited_w", "is_last", "updated_at"])
        return ""
    if later:
        raise _moved_on(later[0])
    if kind == DecisionKind.DISQUALIFY and deal.status != DealStatus.OPEN:
        if (
            deal.status != DealStatus.LOST
            or deal.closed_at != decision.decided_at
            or arrival.exited_at != deal.closed_at
        ):
            raise _closed_since(deal)
        return "reopen"
    # accept, pull, or a disqualify whose close was already undone or reopened
    if deal.status != DealStatus.OPEN:
        raise _closed_since(deal)
    if arrival.exited_at is not None:
        raise ValidationError(
            {
                "decision": f"The lead left “{arrival.step.name}” at "
                f"{when_text(arrival.exited_at)} since."
            }
        )
    return ""


def _check_rights(
    decision: HandoffDecision, deal: Deal, user: AbstractBaseUser, reason: str
) -> bool:
    """Whether the undo is the decider's own within the window (True) or a manager's (False,
    ``reason`` required); ``PermissionDenied`` or ``ValidationError`` otherwise."""
    role = _role(user, deal)
    if not (user.is_staff or role in (Role.MANAGER, Role.REP)):
        raise PermissionDenied("Only the team's reps and managers undo hand-off decisions.")
    if decision_undo_deadline(decision=decision, user=user) is not None:
        return True
    manager = user.is_staff or role == Role.MANAGER
    if not manager:
        if decision.actor_id != user.pk:
            raise PermissionDenied(
                "Only whoever made the decision (for "
                f"{WINDOW_MINUTES} minutes) or the team's managers undo it."
            )
        if decision.recorded_at is None:
            raise ValidationError(
                {"decision": "This decision predates undo; a manager can undo it with a reason."}
            )
        raise ValidationError(
            {
                "decision": f"A decision can be undone for {WINDOW_MINUTES} minutes; that ended "
                f"at {when_text(decision.recorded_at + UNDO_WINDOW)}. A manager can undo it "
                "with a reason."
            }
        )
    if not reason:
        raise ValidationError(
            {"reason": "Say why the decision is undone: it stays in the case's history."}
        )
    return False


@transaction.atomic
def handoff_undo(
    *, decision: HandoffDecision, user: AbstractBaseUser, reason: str = ""
) -> HandoffUndo:
    """Undo ``decision`` (see the module's text): the lead waits at the hand-off again,
    undecided, exactly as before it. ``reason`` is required of a manager undoing after the
    decider's window (or someone else's decision) and kept either way."""
    deal = deal_lock(decision.deal)
    decision = (
        HandoffDecision.objects.select_for_update(of=("self",))
        .select_related("handoff", "reason", "actor")
        .filter(pk=decision.pk)
        .first()
    )
    if decision is None:
        raise ValidationError({"decision": "This decision has been undone already."})
    decision.deal = deal
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"Keep the reason under {REASON_MAX} characters."})
    _check_rights(decision, deal, user, reason)
    arrival = (
        Visit.objects.select_for_update(of=("self",))
        .select_related("step")
        .get(pk=decision.visit_id)
    )
    pull = decision.handoff.pull and decision.kind == DecisionKind.ACCEPT
    if pull:
        if decision.recorded_at is None:
            raise ValidationError(
                {
                    "decision": "This pull predates undo: the owner before it is not known. "
                    "A manager reassigns the case instead."
                }
            )
        if deal.owner_id != decision.actor_id:
            raise ValidationError(
                {"decision": "The case was reassigned since the pull; a manager reassigns it."}
            )
    reopen = _undo_effects(decision, deal, arrival)
    now = timezone.now()
    undo = HandoffUndo.objects.create(
        deal=deal,
        visit=arrival,
        handoff=decision.handoff,
        stage=decision.handoff.offered_stage,
        kind=decision.kind,
        pull=pull,
        reason_label=decision.reason.label if decision.reason else "",
        note=decision.note,
        decided_by=decision.actor,
        decided_at=decision.decided_at,
        undone_by=user,
        undone_at=now,
        reason=reason,
    )
    decision.delete()
    if reopen:
        # The close's visit (the arrival) is opened again, as a reopen does.
        _reopen(
            deal=deal,
            kind=DealEventKind.REOPENED if reason else DealEventKind.UNDONE,
            actor=user,
            reason=reason,
        )
    if pull:
        Deal.objects.filter(pk=deal.pk).update(owner_id=decision.owner_before_id, updated_at=now)
    metrics_changed(stream_id=deal.stream_id)
    return undo


def deal_undoable_decision(deal: Deal) -> HandoffDecision | None:
    """The case's latest decision when nothing has followed it (the only one an undo can
    take back); None otherwise. A read for the pages: the service checks again under lock."""
    decision = (
        HandoffDecision.objects.filter(deal=deal)
        .select_related("handoff", "reason", "actor", "visit__step", "deal__stream")
        .order_by("-visit__entered_at", "-visit_id")
        .first()
    )
    if decision is None:
        return None
    later = list(_later_visits(decision.visit)[:2])
    if decision.kind in (DecisionKind.REJECT, DecisionKind.RECYCLE):
        ok = len(later) == 1 and deal.status == DealStatus.OPEN
    elif later:
        ok = False
    elif decision.kind == DecisionKind.DISQUALIFY and deal.status != DealStatus.OPEN:
        ok = deal.closed_at == decision.decided_at
    else:
        ok = deal.status == DealStatus.OPEN and decision.visit.exited_at is None
    return decision if ok else None


@dataclass(frozen=True)
class UndoOffer:
    """What a page offers to undo: the decider's own (``deadline``: until when) or, without a
    deadline, a manager's with a reason."""

    decision: HandoffDecision
    what: str  # "rejected", "pulled", …
    deadline: datetime | None
    minutes_left: int | None


def undo_offer(
    *, deal: Deal, user: AbstractBaseUser, decision_id: int | None = None, own_only: bool = False
) -> UndoOffer | None:
    """The undo a page shows ``user`` for the case's latest decision (``decision_id``: only
    if it is that one), when nothing followed it: their own within the window, else (unless
    ``own_only``) a manager's."""
    decision = deal_undoable_decision(deal)
    if decision is None or (decision_id is not None and decision.pk != decision_id):
        return None
    what = what_done(decision.kind, decision.handoff.pull)
    deadline = decision_undo_deadline(decision=decision, user=user)
    if deadline is not None:
        left = max(1, round((deadline - timezone.now()).total_seconds() / 60))
        return UndoOffer(decision, what, deadline, left)
    if not own_only and may_undo_late(user, deal):
        return UndoOffer(decision, what, None, None)
    return None
