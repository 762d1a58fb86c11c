"""Undoing a hand-off decision (funnel/leads/undo.py): each kind undone leaves the visits, the
owner and the status exactly as before it; the decider's 10 minutes; a manager later with a
reason; refused when the lead moved on since; other people refused (docs/leads.md "Undo")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from funnel.eventlog.services import deal_close, deal_log_work, deal_move
from funnel.leads.models import HandoffDecision, HandoffUndo
from funnel.leads.services import handoff_decide, lead_pull
from funnel.leads.undo import deal_undoable_decision, decision_undo_deadline, handoff_undo
from funnel.models import Deal, DealEvent, DealStatus, Visit
from tests.funnel.leads.conftest import lead

pytestmark = pytest.mark.django_db

VISIT_FIELDS = (
    "id",
    "step_id",
    "entered_at",
    "exited_at",
    "entered_w",
    "exited_w",
    "work_minutes",
    "actor_id",
    "reentry",
    "previous_step_id",
    "is_last",
)
DEAL_FIELDS = (
    "status",
    "closed_at",
    "closed_w",
    "lost_reason",
    "owner_id",
    "first_entered_at",
    "first_entered_w",
)


def state(deal_id: int) -> tuple:
    """Everything an undo must restore: the case's visits and its outcome and owner."""
    visits = list(
        Visit.objects.filter(deal_id=deal_id)
        .order_by("entered_at", "id")
        .values_list(*VISIT_FIELDS)
    )
    deal = Deal.objects.filter(pk=deal_id).values_list(*DEAL_FIELDS).get()
    return visits, deal


def recent(minutes: int = 30):
    return timezone.now() - timedelta(minutes=minutes)


def arrival(ns, name: str = "Lead", owner=None, at_step: str = "MQL"):
    """A lead that came Capture → Qualify → ``at_step`` over the last half hour."""
    start = timezone.now() - timedelta(minutes=40)
    visit = lead(
        ns,
        ("Capture", start.isoformat()),
        ("Qualify", (start + timedelta(minutes=5)).isoformat()),
        (at_step, (start + timedelta(minutes=10)).isoformat()),
        name=name,
        owner=owner,
    )
    return visit


DECISIONS = {
    "accept": {},
    "reject": {"reason": "reject_reason"},
    "recycle": {"reason": "recycle_reason"},
    "disqualify": {"reason": "disqualify_reason"},
}


@pytest.mark.parametrize("kind", list(DECISIONS))
@pytest.mark.parametrize("fixture", ["leads", "leads_office"])
def test_each_decision_undone_restores_the_case_exactly(kind, fixture, request):
    ns = request.getfixturevalue(fixture)
    visit = arrival(ns, owner=ns.sdr)
    before = state(visit.deal_id)
    reason = getattr(ns, DECISIONS[kind]["reason"]) if DECISIONS[kind] else None
    decision = handoff_decide(visit=visit, kind=kind, user=ns.sdr, reason=reason, note="oops")
    assert state(visit.deal_id) != before or kind == "accept"

    undo = handoff_undo(decision=decision, user=ns.sdr)

    assert state(visit.deal_id) == before
    assert not HandoffDecision.objects.filter(visit=visit).exists()
    assert (undo.kind, undo.decided_by, undo.undone_by, undo.note, undo.reason) == (
        kind,
        ns.sdr,
        ns.sdr,
        "oops",
        "",
    )
    assert undo.reason_label == (reason.label if reason else "")
    assert undo.visit_id == visit.pk and undo.stage == "MQL" and not undo.pull
    # The lead waits for a decision again, and can be decided again.
    again = handoff_decide(visit=visit, kind="accept", user=ns.sdr)
    assert again.visit_id == visit.pk


def test_the_reject_visit_is_deleted_and_the_arrival_is_the_last_again(leads):
    visit = arrival(leads)
    decision = handoff_decide(
        visit=visit, kind="reject", user=leads.sdr, reason=leads.reject_reason
    )
    back = Visit.objects.get(deal_id=visit.deal_id, exited_at__isnull=True)
    assert (back.step.name, back.reentry, back.is_last) == ("Qualify", True, True)
    handoff_undo(decision=decision, user=leads.sdr)
    assert not Visit.objects.filter(pk=back.pk).exists()
    visit.refresh_from_db()
    assert (visit.exited_at, visit.is_last) == (None, True)
    assert Visit.objects.filter(deal_id=visit.deal_id).count() == 3


def test_undoing_a_disqualify_reopens_the_case_and_keeps_the_close_in_its_history(leads):
    visit = arrival(leads)
    decision = handoff_decide(
        visit=visit, kind="disqualify", user=leads.sdr, reason=leads.disqualify_reason
    )
    handoff_undo(decision=decision, user=leads.sdr)
    assert list(
        DealEvent.objects.filter(deal_id=visit.deal_id).values_list("kind", "status", "actor")
    ) == [
        ("closed", "lost", leads.sdr.pk),
        ("undone", "lost", leads.sdr.pk),
    ]


def test_undoing_a_pull_gives_the_case_back_to_its_owner(leads):
    visit = arrival(leads, owner=leads.sdr, at_step="SQL")
    before = state(visit.deal_id)
    decision = lead_pull(stream=leads.stream, user=leads.seller1, visit=visit)
    assert Deal.objects.get(pk=visit.deal_id).owner == leads.seller1
    assert decision.owner_before == leads.sdr
    undo = handoff_undo(decision=decision, user=leads.seller1)
    assert state(visit.deal_id) == before
    assert undo.pull and undo.kind == "accept"
    # Back in the queue: the next pull takes it again.
    assert lead_pull(stream=leads.stream, user=leads.seller2).visit_id == visit.pk


def test_an_unowned_lead_is_unowned_again(leads):
    visit = arrival(leads, at_step="SQL")
    decision = lead_pull(stream=leads.stream, user=leads.seller1, visit=visit)
    handoff_undo(decision=decision, user=leads.seller1)
    assert Deal.objects.get(pk=visit.deal_id).owner_id is None


def test_the_undo_window_is_ten_minutes_from_when_it_was_made(leads):
    visit = arrival(leads)
    # Back-dated decisions count from when they were made, not from their time.
    decision = handoff_decide(
        visit=visit, kind="accept", user=leads.sdr, at=visit.entered_at + timedelta(minutes=1)
    )
    deadline = decision_undo_deadline(decision=decision, user=leads.sdr)
    assert deadline == decision.recorded_at + timedelta(minutes=10)
    HandoffDecision.objects.filter(pk=decision.pk).update(recorded_at=recent(11))
    decision.refresh_from_db()
    assert decision_undo_deadline(decision=decision, user=leads.sdr) is None
    with pytest.raises(ValidationError) as exc:
        handoff_undo(decision=decision, user=leads.sdr)
    assert "can be undone for 10 minutes" in exc.value.message_dict["decision"][0]
    assert "A manager can undo it with a reason" in exc.value.message_dict["decision"][0]
    assert HandoffDecision.objects.filter(pk=decision.pk).exists()


def test_a_manager_undoes_later_with_a_reason(leads):
    visit = arrival(leads)
    decision = handoff_decide(
        visit=visit, kind="reject", user=leads.sdr, reason=leads.reject_reason
    )
    HandoffDecision.objects.filter(pk=decision.pk).update(recorded_at=recent(60 * 24))
    with pytest.raises(ValidationError) as exc:
        handoff_undo(decision=decision, user=leads.manager, reason="  ")
    assert "Say why" in exc.value.message_dict["reason"][0]
    undo = handoff_undo(decision=decision, user=leads.manager, reason="Wrong lead rejected")
    assert (undo.undone_by, undo.reason, undo.decided_by) == (
        leads.manager,
        "Wrong lead rejected",
        leads.sdr,
    )
    visit.refresh_from_db()
    assert visit.exited_at is None


def test_a_manager_reason_on_a_disqualify_is_the_reopen_reason(leads):
    visit = arrival(leads)
    decision = handoff_decide(
        visit=visit, kind="disqualify", user=leads.sdr, reason=leads.disqualify_reason
    )
    HandoffDecision.objects.filter(pk=decision.pk).update(recorded_at=recent(60))
    handoff_undo(decision=decision, user=leads.manager, reason="They called back")
    event = DealEvent.objects.filter(deal_id=visit.deal_id).last()
    assert (event.kind, event.reason, event.actor) == (
        "reopened",
        "They called back",
        leads.manager,
    )
    assert Deal.objects.get(pk=visit.deal_id).status == DealStatus.OPEN


def test_another_rep_and_leadership_are_refused(leads):
    visit = arrival(leads)
    decision = handoff_decide(visit=visit, kind="accept", user=leads.sdr)
    for user in (leads.seller1, leads.leader, leads.outsider):
        with pytest.raises(PermissionDenied):
            handoff_undo(decision=decision, user=user)
    # A manager undoing someone else's decision says why, even within the 10 minutes.
    with pytest.raises(ValidationError) as exc:
        handoff_undo(decision=decision, user=leads.manager)
    assert "reason" in exc.value.message_dict
    assert HandoffDecision.objects.filter(pk=decision.pk).exists()


def test_refused_when_the_lead_moved_on(leads):
    visit = arrival(leads)
    decision = handoff_decide(visit=visit, kind="accept", user=leads.sdr)
    deal_move(deal=visit.deal, step=leads.steps["Qualify"])
    before = state(visit.deal_id)
    with pytest.raises(ValidationError) as exc:
        handoff_undo(decision=decision, user=leads.sdr)
    assert "moved on since" in exc.value.message_dict["decision"][0]
    assert "Qualify" in exc.value.message_dict["decision"][0]
    assert state(visit.deal_id) == before
    assert HandoffDecision.objects.filter(pk=decision.pk).exists()
    assert not HandoffUndo.objects.exists()
    assert deal_undoable_decision(Deal.objects.get(pk=visit.deal_id)) is None


def test_refused_when_a_rejected_lead_moved_on_or_got_work(leads):
    visit = arrival(leads)
    decision = handoff_decide(
        visit=visit, kind="reject", user=leads.sdr, reason=leads.reject_reason
    )
    deal_log_work(deal=visit.deal, minutes=15)
    with pytest.raises(ValidationError) as exc:
        handoff_undo(decision=decision, user=leads.sdr)
    assert "15 min of work" in exc.value.message_dict["decision"][0]
    deal_move(deal=visit.deal, step=leads.steps["MQL"])
    with pytest.raises(ValidationError) as exc:
        handoff_undo(decision=decision, user=leads.sdr)
    assert "moved on since" in exc.value.message_dict["decision"][0]


def test_refused_when_the_case_was_closed_since(leads):
    visit = arrival(leads)
    decision = handoff_decide(visit=visit, kind="accept", user=leads.sdr)
    deal_close(deal=visit.deal, outcome="won", actor=leads.sdr)
    with pytest.raises(ValidationError) as exc:
        handoff_undo(decision=decision, user=leads.sdr)
    assert "closed as won" in exc.value.message_dict["decision"][0]


def test_an_undone_decision_cannot_be_undone_twice_and_metrics_recompute(leads, monkeypatch):
    visit = arrival(leads)
    decision = handoff_decide(visit=visit, kind="accept", user=leads.sdr)
    changed = []
    monkeypatch.setattr(
        "funnel.leads.undo.metrics_changed", lambda *, stream_id: changed.append(stream_id)
    )
    handoff_undo(decision=decision, user=leads.sdr)
    # An accept moved nothing, yet the figures (and the Leads snapshots' signature) recompute.
    assert changed == [leads.stream.pk]
    with pytest.raises(ValidationError) as exc:
        handoff_undo(decision=decision, user=leads.sdr)
    assert "undone already" in exc.value.message_dict["decision"][0]


def test_all_or_nothing(leads, monkeypatch):
    visit = arrival(leads)
    decision = handoff_decide(
        visit=visit, kind="reject", user=leads.sdr, reason=leads.reject_reason
    )
    after = state(visit.deal_id)

    def boom(**kwargs):
        raise RuntimeError("metrics down")

    monkeypatch.setattr("funnel.leads.undo.metrics_changed", boom)
    with pytest.raises(RuntimeError):
        handoff_undo(decision=decision, user=leads.sdr)
    assert state(visit.deal_id) == after
    assert HandoffDecision.objects.filter(pk=decision.pk).exists()
    assert not HandoffUndo.objects.exists()


def test_a_pull_from_before_undo_existed_is_refused(leads):
    visit = arrival(leads, at_step="SQL")
    decision = lead_pull(stream=leads.stream, user=leads.seller1, visit=visit)
    HandoffDecision.objects.filter(pk=decision.pk).update(recorded_at=None)
    decision.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        handoff_undo(decision=decision, user=leads.manager, reason="wrong seller")
    assert "owner before it is not known" in exc.value.message_dict["decision"][0]
