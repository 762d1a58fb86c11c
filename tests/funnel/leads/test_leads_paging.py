"""The hand-off board and the ready-for-sales queue a page at a time (funnel/leads/selectors.py,
views.py): the next page after the last row shown (keyset on the arrival's time and id), the
waiting counts kept while nothing changed at a large step and counted again when something
did, and the queue by win probability ordered over everything waiting, not one page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from funnel.leads import selectors
from funnel.leads.selectors import cursor_of, handoff_board, ready_queue, waiting_counts
from funnel.leads.services import handoff_decide, lead_pull
from funnel.qualification.models import LabSnapshot

from .conftest import at, lead

pytestmark = pytest.mark.django_db


def url(ns, name):
    return reverse(f"leads:{name}", kwargs={"slug": ns.stream.slug})


def at_mql(ns, name, hour, minute=0):
    return lead(
        ns,
        ("Capture", "2026-06-09T06:00Z"),
        ("MQL", f"2026-06-09T{hour:02d}:{minute:02d}Z"),
        name=name,
    )


def at_sql(ns, name, ago):
    arrived = timezone.now() - ago
    return lead(
        ns,
        ("Qualify", (arrived - timedelta(hours=1)).isoformat()),
        ("SQL", arrived.isoformat()),
        name=name,
    )


def test_the_board_pages_on_after_the_last_row_shown(leads):
    # Two arrivals at the same moment are told apart by their ids.
    made = [at_mql(leads, f"Lead {n}", 8 + n // 2) for n in range(5)]
    now = at("2026-06-09T14:00Z")
    first = handoff_board(leads.stream, now=now, limit=2)
    assert [r.visit_id for r in first.rows] == [v.pk for v in made[:2]]
    assert first.more and first.total == 5
    second = handoff_board(
        leads.stream, now=now, limit=2, after=cursor_of(leads.stream, first.rows[-1].visit_id)
    )
    assert [r.visit_id for r in second.rows] == [v.pk for v in made[2:4]]
    assert second.more and second.total == 5
    last = handoff_board(
        leads.stream, now=now, limit=2, after=cursor_of(leads.stream, second.rows[-1].visit_id)
    )
    assert [r.visit_id for r in last.rows] == [made[4].pk] and not last.more
    # A decision on a row shown does not shift the next page.
    handoff_decide(visit=made[0], kind="accept", user=leads.sdr, at=now)
    again = handoff_board(leads.stream, now=now, limit=2, after=cursor_of(leads.stream, made[1].pk))
    assert [r.visit_id for r in again.rows] == [v.pk for v in made[2:4]]
    assert again.total == 4
    # An unknown cursor starts at the oldest.
    assert cursor_of(leads.stream, 10**9) is None


def test_the_board_page_links_the_next_page_and_back(client, leads, monkeypatch):
    monkeypatch.setattr("funnel.leads.views.BOARD_ROWS", 2)
    made = [at_mql(leads, f"Lead {n}", 8 + n) for n in range(3)]
    client.force_login(leads.sdr)
    page = client.get(url(leads, "board")).content.decode()
    assert "Lead 0" in page and "Lead 1" in page and "Lead 2" not in page
    link = f'href="?after={made[1].pk}" rel="next"'
    assert link in page and "Back to the oldest" not in page
    nxt = client.get(url(leads, "board") + f"?after={made[1].pk}").content.decode()
    assert "Lead 2" in nxt and "Lead 0" not in nxt
    assert "<strong>3 waiting</strong>" in nxt and "Back to the oldest" in nxt
    assert 'rel="next"' not in nxt
    # The filter by hand-off is kept in the links.
    one = client.get(url(leads, "board") + f"?handoff={leads.mql.pk}").content.decode()
    assert f'href="?handoff={leads.mql.pk}&amp;after={made[1].pk}"' in one


def test_a_large_steps_count_is_kept_until_something_changes(leads, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_EXACT_UNDER", 1)
    cache.clear()
    made = [at_mql(leads, f"Lead {n}", 8 + n) for n in range(3)]
    step = leads.mql.step_id
    counted = []
    real = selectors._count_now
    monkeypatch.setattr(selectors, "_count_now", lambda s: counted.append(s) or real(s))
    assert waiting_counts([step]) == {step: 3} and counted == [step]
    assert waiting_counts([step]) == {step: 3} and counted == [step]  # kept
    handoff_decide(visit=made[0], kind="accept", user=leads.sdr)  # the visit stays open
    assert waiting_counts([step]) == {step: 2} and len(counted) == 2
    at_mql(leads, "Newcomer", 12)
    assert waiting_counts([step]) == {step: 3} and len(counted) == 3
    handoff_decide(
        visit=made[1],
        kind="reject",
        user=leads.sdr,
        reason=leads.stream.handoff_reasons.filter(kind="reject").first(),
    )
    assert waiting_counts([step]) == {step: 2}
    # The board's first page holds them all: no count is read at all.
    counted.clear()
    page = handoff_board(leads.stream, now=at("2026-06-09T14:00Z"))
    assert page.total == 2 and counted == []


def test_the_queue_by_probability_orders_everything_waiting(leads):
    ages = [timedelta(hours=5 - n) for n in range(5)]
    made = [at_sql(leads, f"Ready {n}", age) for n, age in enumerate(ages)]
    chances = {0: 0.1, 2: 0.5, 3: 0.9, 4: 0.5}  # Ready 1 is not scored
    LabSnapshot.objects.create(
        stream=leads.stream,
        view_key="default",
        computed_at=timezone.now(),
        requested_at=timezone.now(),
        open_deals={str(made[n].deal_id): {"probability": p} for n, p in chances.items()},
    )
    first = ready_queue(leads.stream, limit=2, by_probability=True)
    # The newest is the likeliest; equal chances oldest first.
    assert [r.visit_id for r in first.rows] == [made[3].pk, made[2].pk]
    assert first.more and first.total == 5
    rest = ready_queue(leads.stream, limit=2, by_probability=True, start=2)
    assert [r.visit_id for r in rest.rows] == [made[4].pk, made[0].pk]
    last = ready_queue(leads.stream, limit=2, by_probability=True, start=4)
    assert [(r.visit_id, r.win_probability) for r in last.rows] == [(made[1].pk, None)]
    assert not last.more
    lead_pull(stream=leads.stream, user=leads.seller1, visit=made[3])
    assert ready_queue(leads.stream, limit=2, by_probability=True).rows[0].visit_id == made[2].pk


def test_the_queue_page_pages_oldest_first_and_by_probability(client, leads, monkeypatch):
    monkeypatch.setattr("funnel.leads.views.QUEUE_ROWS", 2)
    made = [at_sql(leads, f"Ready {n}", timedelta(hours=5 - n)) for n in range(3)]
    client.force_login(leads.seller1)
    page = client.get(url(leads, "queue")).content.decode()
    assert "Ready 0" in page and "Ready 1" in page and "Ready 2" not in page
    assert "the oldest 2 shown" in page
    assert f'href="?after={made[1].pk}" rel="next"' in page
    nxt = client.get(url(leads, "queue") + f"?after={made[1].pk}").content.decode()
    assert "Ready 2" in nxt and "Ready 0" not in nxt and "Back to the oldest" in nxt
    LabSnapshot.objects.create(
        stream=leads.stream,
        view_key="default",
        computed_at=timezone.now(),
        requested_at=timezone.now(),
        open_deals={str(made[2].deal_id): {"probability": 0.8}},
    )
    likely = client.get(url(leads, "queue") + "?order=probability").content.decode()
    assert likely.index("Ready 2") < likely.index("Ready 0")
    assert 'href="?order=probability&amp;start=2" rel="next"' in likely
    rest = client.get(url(leads, "queue") + "?order=probability&start=2").content.decode()
    assert "Ready 1" in rest and "numbers 3 to 3 shown" in rest
    assert "Ready 2" not in rest


def test_each_rows_turn_down_forms_carry_its_own_lead_escaped(client, leads):
    odd = at_mql(leads, '<b>"Tom" & Co</b>', 8)
    plain = at_mql(leads, "Plain lead", 9)
    client.force_login(leads.sdr)
    page = client.get(url(leads, "board")).content.decode()
    assert "<b>" not in page
    name = "&lt;b&gt;&quot;Tom&quot; &amp; Co&lt;/b&gt;"
    assert f'data-lead="{name}"' in page and f"Reject “{name}” because…" in page
    for visit in (odd, plain):
        decide = reverse("leads:decide", args=[leads.stream.slug, visit.pk])
        for kind in ("reject", "recycle", "disqualify"):
            assert f'<label for="note-{kind}-{visit.pk}">' in page
        assert page.count(f'action="{decide}"') == 4  # accept and the three turn-downs
    assert "Disqualify “Plain lead” because…" in page
    assert "__visit__" not in page and "__lead_name__" not in page


def test_a_refused_decision_on_a_later_page_shows_that_row_again(client, leads, monkeypatch):
    monkeypatch.setattr("funnel.leads.views.BOARD_ROWS", 2)
    made = [at_mql(leads, f"Lead {n}", 8 + n) for n in range(4)]
    client.force_login(leads.sdr)
    decide = reverse("leads:decide", args=[leads.stream.slug, made[3].pk])
    answer = client.post(decide, {"kind": "reject"})  # no reason
    assert answer.status_code == 400
    page = answer.content.decode()
    assert f'id="decide-error-{made[3].pk}-reject"' in page
    assert f'href="#arrival-{made[3].pk}">Go to the lead</a>' in page
    assert "Lead 3" in page and "Lead 0" not in page and "Back to the oldest" in page
