"""A pull holds only its own rows (PostgreSQL): while one seller's pull is open (its
transaction not yet committed), another seller's pull takes the next lead without waiting
(``SKIP LOCKED`` on the held lead's deal), and a move of another deal of the stream goes
through; the held lead is never handed to the second seller."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from funnel.eventlog.services import deal_move
from funnel.leads import pull
from funnel.leads.models import HandoffDecision
from funnel.leads.services import lead_pull
from funnel.models import Deal
from tests.funnel.leads.conftest import build, lead

pytestmark = [
    pytest.mark.postgresql,  # row locks
    pytest.mark.django_db(transaction=True),
]

WAIT = 20  # seconds: far longer than a pull that does not wait


def _held_pull(ns, user):
    """Start a pull by ``user`` in a thread and keep its transaction open until released:
    (the pull's answer box, the release event, the thread), once the pull is made."""
    made, release, box = threading.Event(), threading.Event(), {}

    def run():
        try:
            with transaction.atomic():
                box["decision"] = lead_pull(stream=ns.stream, user=user)
                made.set()
                release.wait(60)
        except Exception as exc:
            box["error"] = exc
            made.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert made.wait(WAIT), "the first pull did not finish"
    assert "error" not in box, box
    return box, release, thread


def _in_thread(call):
    box = {}

    def run():
        try:
            box["answer"] = call()
        except Exception as exc:
            box["answer"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(WAIT)
    return thread, box


def test_a_second_seller_takes_the_next_lead_while_the_first_pull_is_open():
    ns = build()
    older = lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:00Z"))
    younger = lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:05Z"))
    held, release, first = _held_pull(ns, ns.seller1)
    try:
        thread, box = _in_thread(lambda: lead_pull(stream=ns.stream, user=ns.seller2))
        assert not thread.is_alive(), "the second pull waited for the first"
    finally:
        release.set()
        first.join(WAIT)
    assert held["decision"].visit_id == older.pk
    assert isinstance(box["answer"], HandoffDecision), box
    assert box["answer"].visit_id == younger.pk
    owners = dict(
        Deal.objects.filter(pk__in=[older.deal_id, younger.deal_id]).values_list("pk", "owner_id")
    )
    assert owners == {older.deal_id: ns.seller1.pk, younger.deal_id: ns.seller2.pk}


def test_past_the_first_candidates_held_the_pick_reads_the_whole_queue(monkeypatch):
    monkeypatch.setattr(pull, "PICK_CANDIDATES", 1)
    ns = build()
    lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:00Z"))
    younger = lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:05Z"))
    _held, release, first = _held_pull(ns, ns.seller1)
    try:
        thread, box = _in_thread(lambda: lead_pull(stream=ns.stream, user=ns.seller2))
        assert not thread.is_alive(), "the second pull waited for the first"
    finally:
        release.set()
        first.join(WAIT)
    assert box["answer"].visit_id == younger.pk, box


def test_with_one_lead_held_the_queue_is_empty_for_another_seller():
    ns = build()
    lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:00Z"))
    _held, release, first = _held_pull(ns, ns.seller1)
    try:
        thread, box = _in_thread(lambda: lead_pull(stream=ns.stream, user=ns.seller2))
        assert not thread.is_alive(), "the second pull waited for the first"
    finally:
        release.set()
        first.join(WAIT)
    assert box["answer"].message_dict == {"visit": ["The ready-for-sales queue is empty."]}
    assert HandoffDecision.objects.get().actor == ns.seller1


def test_an_open_pull_does_not_hold_up_moves_of_other_deals_of_the_stream():
    ns = build()
    lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:00Z"))
    other = lead(ns, ("Capture", "2026-06-09T08:00Z"))
    _held, release, first = _held_pull(ns, ns.seller1)
    try:
        deal = Deal.objects.get(pk=other.deal_id)
        thread, box = _in_thread(lambda: deal_move(deal=deal, step=ns.steps["MQL"]))
        assert not thread.is_alive(), "the move waited for the pull"
    finally:
        release.set()
        first.join(WAIT)
    assert not isinstance(box["answer"], Exception), box
    assert (
        Deal.objects.get(pk=other.deal_id).visits.get(exited_at__isnull=True).step
        == ns.steps["MQL"]
    )
