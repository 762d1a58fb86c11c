"""The pull's working response time comes from the calendar as it stands: the clock is kept
per process (``clock_of``) under a key that carries the calendar's version, read with the
pull hand-off in the same query, so a calendar changed since the last pull is never answered
from the old clock; a lane with a calendar of its own is used for its steps. And a pull costs
a fixed handful of queries, however long the queue."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.db import connection

from funnel.leads.pull import _pull_handoff
from funnel.leads.services import lead_pull
from funnel.models import Visit
from streams.calendars.services import CalendarSpec, calendar_create, closure_add, lane_set_calendar
from streams.calendars.working_time import ClosureSpec, SpanSpec, WorkingClock
from tests.funnel.leads.conftest import build, lead

pytestmark = pytest.mark.django_db


def _waiting(ns, n: int) -> list[Visit]:
    return [
        lead(ns, ("Qualify", "2026-06-09T08:00Z"), ("SQL", f"2026-06-09T09:0{k}Z"))
        for k in range(n)
    ]


def _expected(clock: WorkingClock, decision) -> int:
    entered_w = Visit.objects.get(pk=decision.visit_id).entered_w
    return max(0, clock.w(decision.decided_at) - entered_w)


def test_a_changed_calendar_is_used_by_the_next_pull():
    ns = build(calendar=True)
    _waiting(ns, 2)
    calendar = ns.team.calendars.get()
    before = WorkingClock.from_calendar(calendar)
    first = lead_pull(stream=ns.stream, user=ns.seller1)  # builds and keeps the clock
    assert first.response_w == _expected(before, first)
    key = _pull_handoff(ns.stream, ns.seller1).calendar_key
    closure_add(
        calendar=calendar,
        by=ns.manager,
        spec=ClosureSpec(date(2026, 11, 2), date(2026, 11, 6), label="Office move"),
    )
    # The version moved on.
    assert _pull_handoff(ns.stream, ns.seller1).calendar_key[1] == key[1] + 1
    second = lead_pull(stream=ns.stream, user=ns.seller2)
    calendar.refresh_from_db()
    after = WorkingClock.from_calendar(calendar)
    # The closed week is 42.5 working hours fewer up to now: the old clock would be wrong.
    assert before.w(second.decided_at) - after.w(second.decided_at) == 42.5 * 3600
    assert second.response_w == _expected(after, second)


def test_a_lane_with_its_own_calendar_times_its_pulls():
    ns = build(calendar=True)
    _waiting(ns, 1)
    around_the_clock = calendar_create(
        team=ns.team,
        by=ns.manager,
        spec=CalendarSpec(
            name="Around the clock",
            time_zone="UTC",
            spans=[SpanSpec(day, time(0), time(23, 59)) for day in range(7)],
        ),
    )
    lane_set_calendar(lane=ns.steps["SQL"].lane, by=ns.manager, calendar=around_the_clock)
    assert _pull_handoff(ns.stream, ns.seller1).calendar_key[0] == around_the_clock.pk
    decision = lead_pull(stream=ns.stream, user=ns.seller1)
    assert decision.response_w == _expected(WorkingClock.from_calendar(around_the_clock), decision)


def test_without_a_calendar_a_pull_has_no_working_response_time():
    ns = build()
    _waiting(ns, 1)
    assert _pull_handoff(ns.stream, ns.seller1).calendar_key is None
    decision = lead_pull(stream=ns.stream, user=ns.seller1)
    assert decision.response_w is None and decision.response_seconds > 0


def test_a_warm_pull_costs_a_handful_of_queries_however_long_the_queue(
    django_assert_max_num_queries,
):
    ns = build(calendar=True)
    _waiting(ns, 6)
    lead_pull(stream=ns.stream, user=ns.seller1)  # the clock is built once per process
    # The hand-off with the seller's role and limit and the calendar's key; the seller's open
    # deals with the step's limit; the pick (its deal locked); the visit locked; the decision;
    # the owner: 6, and the test transaction's savepoint and its release (on SQLite also
    # the decision's, without row locks to tell a lead pulled meanwhile).
    with django_assert_max_num_queries(8 if connection.features.has_select_for_update else 10):
        decision = lead_pull(stream=ns.stream, user=ns.seller2)
    assert decision.deal.owner == ns.seller2
