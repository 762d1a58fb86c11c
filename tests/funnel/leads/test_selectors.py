"""The reads of leads (funnel/leads/selectors.py): the hand-off board's ages against the SLA in
working time, its order, limit and total; the ready-for-sales queue with the lab's win
probabilities; the sellers' load; the waterfall's stages."""

from __future__ import annotations

import pytest
from django.utils import timezone

from funnel.leads.selectors import handoff_board, ready_queue, seller_load, stages_of
from funnel.leads.services import handoff_decide, lead_pull
from funnel.qualification.models import LabSnapshot
from tests.funnel.leads.conftest import at, lead

pytestmark = pytest.mark.django_db


def test_the_board_ages_in_working_minutes(leads_office):
    # Now: Monday 15 June 2026 10:00 CEST. MQL (SLA 60, escalation 240) since Friday 16:00:
    # 90 working minutes on Friday and 60 on Monday, 150: breached by 90, not escalated. SQL
    # (SLA 120) since Monday 09:30: 30 minutes, within. The one at Qualify is no arrival.
    ns = leads_office
    mql = lead(ns, ("Capture", "2026-06-12T08:00Z"), ("MQL", "2026-06-12T16:00+02:00"))
    sql = lead(ns, ("Qualify", "2026-06-12T08:00Z"), ("SQL", "2026-06-15T09:30+02:00"))
    lead(ns, ("Qualify", "2026-06-12T08:00Z"))
    page = handoff_board(ns.stream, now=at("2026-06-15T10:00+02:00"))
    assert page.total == 2
    first, second = page.rows
    assert (first.visit_id, first.stage, first.working) == (mql.pk, "MQL", True)
    assert first.age_minutes == 150 and first.age_hours == 2.5
    assert (first.breached, first.over_by_minutes, first.escalated) == (True, 90, False)
    assert (second.visit_id, second.age_minutes, second.breached) == (sql.pk, 30, False)
    assert second.over_by_minutes == 0 and second.pull is True
    # Past 240 working minutes (90 on Friday, 150 on Monday by 11:30): escalated.
    later = handoff_board(ns.stream, now=at("2026-06-15T11:31+02:00")).rows[0]
    assert later.escalated is True and later.age_minutes == 241


def test_the_board_is_oldest_first_across_hand_offs_cut_at_the_limit(leads):
    made = [
        lead(leads, ("Capture", "2026-06-09T07:00Z"), (step, f"2026-06-09T{8 + n:02d}:00Z"))
        for n, step in enumerate(["SQL", "MQL", "SQL", "MQL"])
    ]
    decided = lead(leads, ("Capture", "2026-06-09T07:00Z"), ("MQL", "2026-06-09T07:30Z"))
    handoff_decide(visit=decided, kind="accept", user=leads.sdr, at=at("2026-06-09T07:40Z"))
    page = handoff_board(leads.stream, now=at("2026-06-09T13:00Z"), limit=3)
    assert page.total == 4
    assert [r.visit_id for r in page.rows] == [v.pk for v in made[:3]]
    # Elapsed time without a calendar: the first waited 5 hours.
    assert page.rows[0].age_minutes == 300 and page.rows[0].working is False


def test_the_queue_and_the_labs_probabilities(leads):
    older = lead(leads, ("Qualify", "2026-06-09T07:00Z"), ("SQL", "2026-06-09T08:00Z"))
    newer = lead(leads, ("Qualify", "2026-06-09T07:00Z"), ("SQL", "2026-06-09T09:00Z"))
    unscored = lead(leads, ("Qualify", "2026-06-09T07:00Z"), ("SQL", "2026-06-09T10:00Z"))
    lead(leads, ("Capture", "2026-06-09T07:00Z"), ("MQL", "2026-06-09T08:00Z"))  # not queued
    LabSnapshot.objects.create(
        stream=leads.stream,
        view_key="last-365d@close",
        computed_at=timezone.now(),
        requested_at=timezone.now(),
        open_deals={
            str(older.deal_id): {"probability": 0.2, "step": 1, "drivers": []},
            str(newer.deal_id): {"probability": 0.7, "step": 1, "drivers": []},
        },
    )
    by_age = ready_queue(leads.stream, now=at("2026-06-09T12:00Z"))
    assert [r.visit_id for r in by_age.rows] == [older.pk, newer.pk, unscored.pk]
    assert [r.win_probability for r in by_age.rows] == [0.2, 0.7, None]
    by_chance = ready_queue(leads.stream, now=at("2026-06-09T12:00Z"), by_probability=True)
    assert [r.visit_id for r in by_chance.rows] == [newer.pk, older.pk, unscored.pk]
    lead_pull(stream=leads.stream, user=leads.seller1)
    assert ready_queue(leads.stream).total == 2


def test_the_sellers_load(leads):
    for n in range(2):
        lead(leads, ("Qualify", "2026-06-09T07:00Z"), ("SQL", f"2026-06-09T{8 + n:02d}:00Z"))
    lead(leads, ("Discovery", "2026-06-09T07:00Z"), owner=leads.seller2)
    lead_pull(stream=leads.stream, user=leads.seller1)
    lead_pull(stream=leads.stream, user=leads.seller1)
    loads = [(s.label, s.wip, s.limit, s.room) for s in seller_load(leads.stream)]
    assert loads == [("seller1", 2, 2, 0), ("seller2", 1, 2, 1)]


def test_the_waterfalls_stages(leads):
    assert stages_of(leads.stream) == ["Inquiry", "MQL", "SAL", "SQL", "Opportunity", "Won"]


def test_the_board_reads_a_fixed_number_of_queries(leads, django_assert_num_queries):
    # The hand-offs, the calendars, then the oldest rows of every hand-off (with their cases
    # and owners) in one query: 3 queries; a first page that holds every waiting lead is its
    # count (test_leads_paging.py counts the rest).
    for n in range(6):
        lead(leads, ("Capture", "2026-06-09T07:00Z"), (["MQL", "SQL"][n % 2], "2026-06-09T08:00Z"))
    with django_assert_num_queries(3):
        page = handoff_board(leads.stream, now=at("2026-06-09T12:00Z"))
    assert page.total == 6 and len(page.rows) == 6
