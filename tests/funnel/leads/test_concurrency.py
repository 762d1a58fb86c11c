"""Pulls at the same moment (PostgreSQL's row locks): 20 sellers pulling one lead give it to
exactly one of them, the others told who has it; 20 sellers pulling "the next" from a queue
of 5 leads share them out, one seller each; one seller pulling twice at once under a limit
of 1 gets one lead. Two beats sending the breach emails at once send each email once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.core import mail
from django.db import connection

from funnel.leads.alerts import handoff_breaches_notify
from funnel.leads.models import HandoffAlert, HandoffDecision
from funnel.leads.services import LeadTaken, lead_pull
from funnel.leads.setup import seller_limit_set
from funnel.models import Deal
from streams.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.funnel.leads.conftest import at, build, lead

pytestmark = [
    pytest.mark.postgresql,  # row locks
    pytest.mark.django_db(transaction=True),
]

THREADS = 20


def sellers(ns, n: int, limit: int = 3) -> list:
    made = []
    for i in range(n):
        user = UserFactory(username=f"s{i:02d}", first_name="", last_name="")
        MembershipFactory(user=user, team=ns.team, role=Role.REP)
        seller_limit_set(stream=ns.stream, user=ns.manager, seller=user, wip_limit=limit)
        made.append(user)
    return made


def at_once(calls) -> list:
    """Run each call in its own thread, all released together; their answers or errors."""
    barrier = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(10)
            answers[i] = call()
        except Exception as exc:  # each refusal is an answer to check
            answers[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_twenty_sellers_pulling_one_lead_give_it_to_exactly_one():
    ns = build()
    visit = lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", "2026-06-09T09:00Z"))
    people = sellers(ns, THREADS)
    answers = at_once(
        [lambda u=u: lead_pull(stream=ns.stream, user=u, visit=visit) for u in people]
    )
    won = [a for a in answers if isinstance(a, HandoffDecision)]
    lost = [a for a in answers if isinstance(a, LeadTaken)]
    assert len(won) == 1 and len(lost) == THREADS - 1, answers
    winner = won[0].actor
    assert Deal.objects.get(pk=visit.deal_id).owner == winner
    assert HandoffDecision.objects.count() == 1
    expected = f"{winner.username} pulled this lead at "
    assert all(a.message_dict["visit"][0].startswith(expected) for a in lost)


def test_twenty_sellers_pulling_the_next_share_five_leads_one_each():
    ns = build()
    visits = [
        lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", f"2026-06-09T09:0{n}Z"))
        for n in range(5)
    ]
    people = sellers(ns, THREADS)
    answers = at_once([lambda u=u: lead_pull(stream=ns.stream, user=u) for u in people])
    won = [a for a in answers if isinstance(a, HandoffDecision)]
    assert len(won) == 5, answers
    assert sorted(d.visit_id for d in won) == sorted(v.pk for v in visits)
    assert len({d.actor_id for d in won}) == 5
    refusals = [a for a in answers if not isinstance(a, HandoffDecision)]
    assert {str(a.message_dict) for a in refusals} == {
        str({"visit": ["The ready-for-sales queue is empty."]})
    }
    owners = Counter(
        Deal.objects.filter(pk__in=[v.deal_id for v in visits]).values_list("owner_id", flat=True)
    )
    assert sorted(owners.values()) == [1] * 5


def test_one_seller_pulling_twice_at_once_stays_within_the_limit():
    ns = build()
    for n in range(2):
        lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", f"2026-06-09T09:0{n}Z"))
    (seller,) = sellers(ns, 1, limit=1)
    answers = at_once([lambda: lead_pull(stream=ns.stream, user=seller)] * 2)
    won = [a for a in answers if isinstance(a, HandoffDecision)]
    assert len(won) == 1, answers
    (refused,) = [a for a in answers if not isinstance(a, HandoffDecision)]
    assert refused.message_dict == {
        "seller": [
            f"{seller.username} owns 1 open deals and the limit is 1: finish one before "
            "pulling another."
        ]
    }


def test_two_beats_at_once_send_each_email_once():
    ns = build()
    for n in range(3):  # past the SLA and the escalation: 2 emails each
        lead(ns, ("Capture", "2026-06-09T08:00Z"), ("MQL", f"2026-06-09T09:0{n}Z"), owner=ns.sdr)
    now = at("2026-06-10T09:00Z")
    answers = at_once([lambda: handoff_breaches_notify(now=now)] * 2)
    assert all(isinstance(a, int) for a in answers), answers  # no run failed
    assert sum(answers) == 6 and len(mail.outbox) == 6
    assert HandoffAlert.objects.count() == 6
