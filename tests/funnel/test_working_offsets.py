"""Working-time offsets (funnel.eventlog.working): every writer stores what recomputing them
from scratch with a WorkingClock gives; hand-worked values; a calendar change makes them owed
until the background rewrite has run, which changes exactly the affected rows, all or nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import time_machine
from django.contrib import admin
from hypothesis import given, settings
from hypothesis import strategies as st

from funnel.admin import VisitAdmin
from funnel.eventlog import working
from funnel.eventlog.bulk import events_apply
from funnel.eventlog.services import (
    deal_close,
    deal_close_undo,
    deal_create,
    deal_move,
    deal_reopen,
)
from funnel.eventlog.working import (
    REWRITE_JOB,
    calendar_signature,
    offsets_owed,
    working_offsets_rewrite,
)
from funnel.importing import ImportOptions, import_events
from funnel.models import Deal, MetricsState, Visit
from streams.calendars.models import WorkingCalendar
from streams.calendars.services import (
    CalendarSpec,
    calendar_create,
    closure_add,
    lane_set_calendar,
)
from streams.calendars.working_time import ClosureSpec, SpanSpec, WorkingClock
from streams.models import Job, JobState
from streams.services import LaneSpec, StepSpec, step_update, stream_create
from tests.factories import BASE_TIME, make_stream
from vsm_project.demo import demo_seed
from vsm_project.tasks import catch_up

pytestmark = pytest.mark.django_db
HOUR = 3600
OFFICE = [SpanSpec(day, time(9), time(17, 30)) for day in range(5)]
BERLIN = ZoneInfo("Europe/Berlin")


def office(team, by, **changes) -> WorkingCalendar:
    """Mon–Fri 09:00–17:30 (UTC unless told), the team's first calendar: its default."""
    values = {"name": "Office", "time_zone": "UTC", "spans": OFFICE}
    return calendar_create(team=team, by=by, spec=CalendarSpec(**{**values, **changes}))


def expected(stream) -> tuple[list[tuple], list[tuple]]:
    """Every offset of the stream worked out from scratch: each visit on the calendar of its
    step's lane (else the team's default), each deal on the default, with WorkingClock."""
    default = WorkingCalendar.objects.filter(team_id=stream.team_id, is_default=True).first()

    clocks: dict[int, WorkingClock] = {}  # one per calendar, built here, not the app's

    def w(calendar, at):
        if calendar is None or at is None:
            return None
        if calendar.pk not in clocks:
            clocks[calendar.pk] = WorkingClock.from_calendar(calendar)
        return clocks[calendar.pk].w(at)

    visits = [
        (
            v.pk,
            w(v.step.lane.calendar or default, v.entered_at),
            w(v.step.lane.calendar or default, v.exited_at),
        )
        for v in Visit.objects.filter(deal__stream=stream)
        .select_related("step__lane__calendar")
        .order_by("pk")
    ]
    deals = [
        (d.pk, w(default, d.first_entered_at), w(default, d.closed_at))
        for d in Deal.objects.filter(stream=stream).order_by("pk")
    ]
    return visits, deals


def stored(stream) -> tuple[list[tuple], list[tuple]]:
    visits = list(
        Visit.objects.filter(deal__stream=stream)
        .order_by("pk")
        .values_list("pk", "entered_w", "exited_w")
    )
    deals = list(
        Deal.objects.filter(stream=stream)
        .order_by("pk")
        .values_list("pk", "first_entered_w", "closed_w")
    )
    return visits, deals


def assert_as_recomputed(stream) -> None:
    assert stored(stream) == expected(stream)


def working_hours(visit: Visit) -> float:
    visit.refresh_from_db()
    return (visit.exited_w - visit.entered_w) / HOUR


@pytest.fixture
def calendar(team_setup, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return office(team_setup.team_a, team_setup.manager_a)


# --- Hand-worked values ----------------------------------------------------------------------


def test_friday_evening_to_monday_morning_is_no_working_time(team_setup, calendar):
    """Mon–Fri 09:00–17:30: Friday 17:30 → Monday 09:00 (64 hours less 30 minutes) starts
    and ends outside working hours: none of it is working time. From Friday 17:00 it is the
    half hour before closing."""
    ns = team_setup
    friday = datetime(2025, 1, 10, 17, 30, tzinfo=UTC)
    monday = datetime(2025, 1, 13, 9, 0, tzinfo=UTC)
    deal = deal_create(
        stream=ns.stream_a, name="Weekend", created_at=friday, first_step=ns.steps_a[0]
    )
    deal_move(deal=deal, step=ns.steps_a[1], at=monday)
    visit = deal.visits.order_by("entered_at").first()
    assert visit.exited_at - visit.entered_at == timedelta(hours=63, minutes=30)
    assert working_hours(visit) == 0
    earlier = deal_create(
        stream=ns.stream_a,
        name="From five",
        created_at=friday - timedelta(minutes=30),
        first_step=ns.steps_a[0],
    )
    deal_move(deal=earlier, step=ns.steps_a[1], at=monday)
    assert working_hours(earlier.visits.order_by("entered_at").first()) == 0.5
    deal.refresh_from_db()
    assert deal.first_entered_w == visit.entered_w
    assert_as_recomputed(ns.stream_a)


def test_a_visit_across_a_public_holiday(team_setup, django_capture_on_commit_callbacks):
    """docs/calendars.md: Thursday 30 April 2026 17:00 to Monday 4 May 10:00 in Berlin is
    30 minutes on Thursday, none on Labour Day or the weekend, one hour on Monday."""
    ns = team_setup
    with django_capture_on_commit_callbacks(execute=True):
        office(ns.team_a, ns.manager_a, time_zone="Europe/Berlin", country="DE")
    entered = datetime(2026, 4, 30, 17, 0, tzinfo=BERLIN)
    with time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        deal = deal_create(
            stream=ns.stream_a, name="May Day", created_at=entered, first_step=ns.steps_a[0]
        )
        deal_close(deal=deal, outcome="won", at=datetime(2026, 5, 4, 10, 0, tzinfo=BERLIN))
    visit = deal.visits.get()
    assert working_hours(visit) == 1.5
    deal.refresh_from_db()
    assert (deal.closed_w - deal.first_entered_w) / HOUR == 1.5
    assert_as_recomputed(ns.stream_a)


def legal_on_us_calendar(ns, capture_on_commit):
    """A stream of two steps, Sell (Sales lane, the team's office calendar) and Review (Legal
    lane, on a US calendar whose holidays the office one lacks): the stream and both steps."""
    stream = stream_create(
        team=ns.team_a,
        name="Two lanes",
        lanes=[LaneSpec("Sales"), LaneSpec("Legal")],
        steps=[
            StepSpec("Sell", "Sales", planned_process_hours=1, planned_lead_hours=8),
            StepSpec("Review", "Legal", planned_process_hours=1, planned_lead_hours=8),
        ],
    )
    sell, review = stream.steps.order_by("position")
    with capture_on_commit(execute=True):
        office(ns.team_a, ns.manager_a)
        us = calendar_create(
            team=ns.team_a,
            by=ns.manager_a,
            spec=CalendarSpec(name="US legal", time_zone="UTC", spans=OFFICE, country="US"),
        )
        lane_set_calendar(lane=review.lane, by=ns.manager_a, calendar=us)
    return stream, sell, review


def test_a_lane_on_another_calendar_gets_that_calendars_offsets(
    team_setup, django_capture_on_commit_callbacks
):
    """A Legal lane works on a US calendar (4 July 2025, a Friday, is a holiday there); the
    team's default has no holidays. 3 July 17:00 → 7 July 10:00: 1.5 working hours on the US
    calendar, 10 on the default (0.5 + 8.5 + 1)."""
    stream, sell, review = legal_on_us_calendar(team_setup, django_capture_on_commit_callbacks)
    start = datetime(2025, 7, 3, 17, 0, tzinfo=UTC)
    end = datetime(2025, 7, 7, 10, 0, tzinfo=UTC)
    a = deal_create(stream=stream, name="Legal", created_at=start, first_step=review)
    deal_move(deal=a, step=sell, at=end)
    b = deal_create(stream=stream, name="Sales", created_at=start, first_step=sell)
    deal_move(deal=b, step=review, at=end)
    assert working_hours(a.visits.get(step=review)) == 1.5
    assert working_hours(b.visits.get(step=sell)) == 10
    assert "=" in calendar_signature(stream)  # the lane's own calendar is in the signature
    assert not offsets_owed(stream.pk)
    assert_as_recomputed(stream)


def test_a_step_moved_to_a_lane_on_another_calendar_owes_a_rewrite(
    team_setup, django_capture_on_commit_callbacks
):
    """The step's visits were written on the default calendar; on the Legal lane's own
    calendar they are owed a rewrite, which the catch-up queues."""
    stream, sell, review = legal_on_us_calendar(team_setup, django_capture_on_commit_callbacks)
    start = datetime(2025, 7, 3, 17, 0, tzinfo=UTC)
    deal = deal_create(stream=stream, name="Sales", created_at=start, first_step=sell)
    deal_move(deal=deal, step=review, at=datetime(2025, 7, 7, 10, 0, tzinfo=UTC))
    assert not offsets_owed(stream.pk)
    stream.refresh_from_db()
    step_update(step=sell, version=stream.version, user=team_setup.manager_a, lane=review.lane)
    assert offsets_owed(stream.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert catch_up()["working_time"] == [stream.pk]
    assert working_hours(deal.visits.get(step=sell)) == 1.5  # on the US calendar now
    assert_as_recomputed(stream)


def test_a_team_without_a_calendar_stores_no_offsets_and_owes_nothing(team_setup):
    ns = team_setup
    deal = deal_create(
        stream=ns.stream_a, name="No calendar", created_at=ns.t, first_step=ns.steps_a[0]
    )
    deal_move(deal=deal, step=ns.steps_a[1], at=ns.later)
    deal_close(deal=deal, outcome="won", at=ns.later + timedelta(hours=1))
    visits, deals = stored(ns.stream_a)
    assert {w for _, *ws in visits + deals for w in ws} == {None}
    assert calendar_signature(ns.stream_a) == "" and not offsets_owed(ns.stream_a.pk)
    assert working_offsets_rewrite(ns.stream_a) == 0
    assert_as_recomputed(ns.stream_a)


# --- Every writer ----------------------------------------------------------------------------


def test_the_services_store_the_offsets_of_each_write(team_setup, calendar):
    ns = team_setup
    a, b, c = ns.steps_a
    t0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)  # a Monday, before the office opens
    with time_machine.travel(t0 + timedelta(days=30), tick=False):
        deal = deal_create(
            stream=ns.stream_a, name="Path", created_at=t0, first_step=a, owner=ns.rep_a1
        )
        for hours, step in ((3, b), (30, a), (77, c)):
            deal_move(deal=deal, step=step, at=t0 + timedelta(hours=hours), actor=ns.rep_a1)
        assert_as_recomputed(ns.stream_a)
        deal_close(
            deal=deal,
            outcome="lost",
            at=t0 + timedelta(hours=100),
            lost_reason="Budget",
            actor=ns.rep_a1,
        )
        assert_as_recomputed(ns.stream_a)
        deal_close_undo(deal=deal, user=ns.rep_a1)
        deal.refresh_from_db()
        assert deal.closed_w is None and deal.visits.get(exited_at__isnull=True).exited_w is None
        assert_as_recomputed(ns.stream_a)
        deal_close(deal=deal, outcome="won", at=t0 + timedelta(hours=120))
        deal_reopen(deal=deal, user=ns.manager_a, reason="Signed the wrong contract")
        assert_as_recomputed(ns.stream_a)
        later = deal_create(stream=ns.stream_a, name="No step yet", created_at=t0)
        deal_move(deal=later, step=b, at=t0 + timedelta(days=2))
    assert_as_recomputed(ns.stream_a)
    assert not offsets_owed(ns.stream_a.pk)


def test_the_bulk_api_stores_the_offsets(team_setup, calendar):
    ns = team_setup
    a, b, _ = ns.steps_a
    t0 = datetime(2025, 3, 7, 16, 0, tzinfo=UTC)
    answers = events_apply(
        user=ns.manager_a,
        events=[
            {
                "type": "create_deal",
                "stream": ns.stream_a.pk,
                "name": "Bulk",
                "external_id": "B-1",
                "created_at": t0,
                "first_step": a.pk,
            },
            {
                "type": "move",
                "stream": ns.stream_a.pk,
                "external_id": "B-1",
                "step": b.pk,
                "at": t0 + timedelta(days=3),
            },
            {
                "type": "close",
                "stream": ns.stream_a.pk,
                "external_id": "B-1",
                "outcome": "won",
                "at": t0 + timedelta(days=4),
            },
        ],
    )
    assert len(answers) == 3
    assert Visit.objects.filter(deal__external_id="B-1", exited_w__isnull=False).count() == 2
    assert_as_recomputed(ns.stream_a)


VISITS_CSV = b"""deal_id,step,entered_at,exited_at
D-1,Step 1,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z
D-1,Step 2,2025-03-04T09:00:00Z,2025-03-08T12:00:00Z
D-1,Step 1,2025-03-08T12:00:00Z,
D-2,Step 3,2025-03-06T09:00:00Z,
"""
TRANSITIONS_CSV = b"""deal_id,stage,changed_at
T-1,Step 1,2025-03-03T09:00:00Z
T-1,Step 2,2025-03-07T17:00:00Z
T-1,Step 3,2025-03-10T10:30:00Z
T-2,Step 2,2025-03-05T12:00:00Z
"""


def test_the_import_stores_the_offsets_of_new_and_changed_paths(team_setup, calendar):
    ns = team_setup
    stream = make_stream(ns.team_a, n_steps=3)
    options = ImportOptions(format="visits")
    with time_machine.travel(BASE_TIME + timedelta(days=400), tick=False):
        import_events(stream=stream, data=VISITS_CSV, options=options)
        assert Visit.objects.filter(deal__stream=stream, entered_w__isnull=False).count() == 4
        assert_as_recomputed(stream)
        assert not offsets_owed(stream.pk)  # a fresh stream adopts its calendars
        grown = (
            b"deal_id,step,entered_at,exited_at\n"
            b"D-1,Step 3,2025-03-02T09:00:00Z,2025-03-03T09:00:00Z\n"
            b"D-1,Step 1,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z\n"
            b"D-1,Step 2,2025-03-04T09:00:00Z,\n"
            b"D-2,Step 3,2025-03-06T09:00:00Z,2025-03-07T15:00:00Z\n"
            b"D-2,Step 3,2025-03-07T15:00:00Z,\n"
        )
        import_events(stream=stream, data=grown, options=options)
    assert_as_recomputed(stream)


def test_the_transitions_import_stores_the_offsets(team_setup, calendar):
    stream = make_stream(team_setup.team_a, n_steps=3)
    with time_machine.travel(BASE_TIME + timedelta(days=400), tick=False):
        import_events(
            stream=stream, data=TRANSITIONS_CSV, options=ImportOptions(format="transitions")
        )
    assert Visit.objects.filter(deal__stream=stream, exited_w__isnull=False).count() == 2
    assert_as_recomputed(stream)


WIDE_CSV = (
    b'Record ID,Deal Name,Deal Stage,Create Date,"Date entered ""Step 1 (Sales Pipeline)""",'
    b'"Date entered ""Step 2 (Sales Pipeline)""","Date entered ""Closed Won (Sales Pipeline)"""\n'
    b"W-1,One,Closed Won,2025-03-01 08:00,2025-03-03 09:00,2025-03-07 17:00,2025-03-10 10:00\n"
    b"W-2,Two,Step 2,2025-03-03 10:00,2025-03-03 10:00,2025-03-08 10:00,\n"
)


def test_the_wide_import_stores_the_offsets(team_setup, calendar):
    stream = make_stream(team_setup.team_a, n_steps=3)
    with time_machine.travel(BASE_TIME + timedelta(days=400), tick=False):
        import_events(stream=stream, data=WIDE_CSV, options=ImportOptions(format="wide"))
    won = Deal.objects.get(stream=stream, external_id="W-1")
    assert won.closed_w is not None and won.first_entered_w is not None
    assert Visit.objects.filter(deal__stream=stream, entered_w__isnull=False).count() == 4
    assert_as_recomputed(stream)


def test_the_demo_seed_stores_the_offsets_of_its_simulated_paths():
    result = demo_seed(deals=60)
    stream = Deal.objects.filter(external_id="DEMO-000001").get().stream
    calendar = WorkingCalendar.objects.get(team=stream.team)
    assert calendar.is_default and calendar.country == "US"
    assert calendar.spans.count() == 5  # Mon–Fri 09:00–17:30
    assert (
        Visit.objects.filter(deal__stream=stream, entered_w__isnull=False).count() == result.visits
    )
    assert_as_recomputed(stream)
    assert not offsets_owed(stream.pk)


def test_the_admin_recomputes_the_offsets_of_an_edited_visit(team_setup, calendar):
    ns = team_setup
    t0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    deal = deal_create(stream=ns.stream_a, name="Edited", created_at=t0, first_step=ns.steps_a[0])
    deal_move(deal=deal, step=ns.steps_a[1], at=t0 + timedelta(days=1))
    visit = deal.visits.order_by("entered_at").first()
    visit.exited_at = t0 + timedelta(hours=30)
    visit.save()
    assert stored(ns.stream_a) != expected(ns.stream_a)  # saved behind the writers' back
    model_admin = VisitAdmin(Visit, admin.site)
    model_admin.save_model(None, visit, SimpleNamespace(initial={"deal": deal.pk}), True)
    assert_as_recomputed(ns.stream_a)


# --- A calendar change: owed, rewritten, all or nothing --------------------------------------


@pytest.fixture
def logged(team_setup, calendar):
    """Stream A with deals whose visits span the week of 3 March 2025 (team_setup's own open
    visits from 6 January are there too)."""
    ns = team_setup
    t0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    for k in range(4):
        deal = deal_create(
            stream=ns.stream_a,
            name=f"Week {k}",
            created_at=t0 + timedelta(days=k),
            first_step=ns.steps_a[0],
        )
        deal_move(deal=deal, step=ns.steps_a[1], at=t0 + timedelta(days=k, hours=20))
        deal_close(deal=deal, outcome="won", at=t0 + timedelta(days=k + 1, hours=3))
    working_offsets_rewrite(ns.stream_a)  # team_setup's visits predate the calendar
    assert not offsets_owed(ns.stream_a.pk)
    return ns


def test_a_closure_added_after_the_fact_owes_a_rewrite_that_changes_exactly_the_affected_offsets(
    logged, calendar, django_capture_on_commit_callbacks
):
    ns = logged
    before_visits, before_deals = stored(ns.stream_a)
    with django_capture_on_commit_callbacks(execute=False):  # no rewrite yet
        closure_add(
            calendar=calendar,
            by=ns.manager_a,
            spec=ClosureSpec(date(2025, 3, 5), date(2025, 3, 5), label="Offsite"),
        )
    assert offsets_owed(ns.stream_a.pk)  # the figures are stale until the rewrite has run
    assert stored(ns.stream_a) == (before_visits, before_deals)
    changed = working_offsets_rewrite(ns.stream_a)
    assert not offsets_owed(ns.stream_a.pk)
    assert_as_recomputed(ns.stream_a)
    after_visits, after_deals = stored(ns.stream_a)
    differ = [
        b
        for b, a in zip(before_visits + before_deals, after_visits + after_deals, strict=True)
        if a != b
    ]
    assert changed == len(differ) > 0
    # Only offsets from 5 March on move (one working day less); earlier ones stay.
    cut = datetime(2025, 3, 5, tzinfo=UTC)
    early = Visit.objects.filter(deal__stream=ns.stream_a, exited_at__lt=cut)
    assert early.exists()
    for visit in early:
        assert (visit.pk, visit.entered_w, visit.exited_w) in before_visits


def test_a_rewrite_that_fails_midway_leaves_everything_as_it_was(
    logged, calendar, django_capture_on_commit_callbacks, monkeypatch
):
    ns = logged
    before = stored(ns.stream_a)
    with django_capture_on_commit_callbacks(execute=False):
        closure_add(
            calendar=calendar,
            by=ns.manager_a,
            spec=ClosureSpec(date(2025, 3, 4), date(2025, 3, 6), label="Shutdown"),
        )

    written_before_failing = []

    def broken(*args, **kwargs):  # the visits' offsets fail after the deals' were written
        written_before_failing.append(stored(ns.stream_a)[1] != before[1])
        raise RuntimeError("the database went away")

    monkeypatch.setattr(working, "visit_offsets", broken)
    with pytest.raises(RuntimeError):
        working_offsets_rewrite(ns.stream_a)
    assert written_before_failing == [True]  # it did fail midway
    assert stored(ns.stream_a) == before
    assert offsets_owed(ns.stream_a.pk)
    monkeypatch.undo()
    working_offsets_rewrite(ns.stream_a)
    assert_as_recomputed(ns.stream_a)


def test_a_calendar_change_queues_the_rewrite_with_a_progress_bar(
    logged, calendar, django_capture_on_commit_callbacks
):
    ns = logged
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery runs it on commit
        closure_add(
            calendar=calendar,
            by=ns.manager_a,
            spec=ClosureSpec(
                date(2025, 3, 4),
                date(2025, 3, 4),
                label="Half day",
                start_time=time(13),
                end_time=time(17, 30),
            ),
        )
    job = Job.objects.filter(kind=REWRITE_JOB, params__stream=ns.stream_a.pk).latest("pk")
    assert job.state == JobState.DONE and job.percent == 100
    assert job.result["offsets changed"] > 0
    assert job.team_id == ns.team_a.pk
    assert not offsets_owed(ns.stream_a.pk)
    assert_as_recomputed(ns.stream_a)
    # The recompute of the figures is owed (or done) after the rewrite.
    assert MetricsState.objects.get(stream=ns.stream_a).changed_at is not None


def test_the_catch_up_queues_a_rewrite_still_owed(
    logged, calendar, django_capture_on_commit_callbacks
):
    ns = logged
    with django_capture_on_commit_callbacks(execute=False):  # Redis was away: nothing queued
        closure_add(
            calendar=calendar,
            by=ns.manager_a,
            spec=ClosureSpec(date(2025, 3, 3), date(2025, 3, 3), label="Closed"),
        )
    assert offsets_owed(ns.stream_a.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert catch_up()["working_time"] == [ns.stream_a.pk]
    assert not offsets_owed(ns.stream_a.pk)
    assert_as_recomputed(ns.stream_a)
    assert catch_up()["working_time"] == []


def test_a_new_streams_first_deal_owes_nothing(team_setup, calendar):
    stream = make_stream(team_setup.team_a, n_steps=2)
    assert not offsets_owed(stream.pk)  # no deals yet
    deal_create(stream=stream, name="First", created_at=BASE_TIME, first_step=stream.steps.first())
    assert not offsets_owed(stream.pk)
    assert_as_recomputed(stream)


# --- The vectorised offsets against one instant at a time --------------------------------------

UTC_OFFICE = WorkingClock(time_zone="UTC", spans=OFFICE)
BERLIN_DE = WorkingClock(time_zone="Europe/Berlin", spans=OFFICE, country="DE")
#: Fake calendar keys for the clocks above (``clock_of`` finds them in its cache).
KEYS = {(-1, 1, "utc"): UTC_OFFICE, (-2, 1, "berlin"): BERLIN_DE}


@given(
    visits=st.lists(
        st.tuples(
            st.sampled_from([10, 11, 12]),
            st.integers(-400_000_000, 4_200_000_000),  # 1957 to 2103: some out of range
            st.one_of(st.none(), st.integers(0, 10_000_000)),
        ),
        max_size=40,
    )
)
@settings(max_examples=60, deadline=None)
def test_visit_offsets_match_one_instant_at_a_time(visits):
    """Step 10 on the UTC office, 11 on the Berlin one, 12 on no calendar; an out-of-range or
    missing time has no offset."""
    working._clocks.update(KEYS)
    utc, berlin = list(KEYS)
    keys = {10: utc, 11: berlin, 12: None}
    step = np.array([s for s, _, _ in visits], np.int64)
    entered = np.array([e for _, e, _ in visits], np.int64)
    exited = np.array([working.NONE if d is None else e + d for _, e, d in visits], np.int64)
    entered_w, exited_w = working.visit_offsets(keys, step, entered, exited)

    def one(s, t):
        clock = KEYS.get(keys[s])
        if clock is None or t is None or not working.FIRST <= t < working.LAST:
            return None
        return clock.w(t)

    assert [working.as_value(w) for w in entered_w] == [one(s, e) for s, e, _ in visits]
    assert [working.as_value(w) for w in exited_w] == [
        one(s, None if d is None else e + d) for s, e, d in visits
    ]


def test_a_move_reads_the_calendars_with_one_query(team_setup, django_capture_on_commit_callbacks):
    """The services' freshness: the offsets cost one query per write (the stream's calendars;
    the clock is kept per calendar version), with a calendar or without."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ns = team_setup
    a, b, _ = ns.steps_a

    def queries_of_a_move(at):
        deal = deal_create(stream=ns.stream_a, name="Counted", created_at=at, first_step=a)
        deal_move(deal=deal, step=b, at=at + timedelta(hours=1))  # the clock is warm now
        with CaptureQueriesContext(connection) as captured:
            deal_move(deal=deal, step=a, at=at + timedelta(hours=2))
        calendars = [q for q in captured if "streams_workingcalendar" in q["sql"]]
        assert len(calendars) == 1
        return len(captured)

    without = queries_of_a_move(datetime(2025, 3, 3, 9, tzinfo=UTC))
    with django_capture_on_commit_callbacks(execute=True):
        office(ns.team_a, ns.manager_a)
    assert queries_of_a_move(datetime(2025, 3, 4, 9, tzinfo=UTC)) == without


def test_a_rewrite_that_keeps_failing_is_retried_every_few_minutes(
    logged, calendar, django_capture_on_commit_callbacks, monkeypatch
):
    ns = logged
    with django_capture_on_commit_callbacks(execute=False):
        closure_add(
            calendar=calendar,
            by=ns.manager_a,
            spec=ClosureSpec(date(2025, 3, 3), date(2025, 3, 3), label="Closed"),
        )

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(working, "visit_offsets", broken)
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        catch_up()
    failed = Job.objects.get(kind=REWRITE_JOB, state=JobState.FAILED)
    assert "a bug" in failed.error and offsets_owed(ns.stream_a.pk)
    assert catch_up()["working_time"] == []  # not again at once
    later = failed.finished_at + working.RETRY_FAILED_AFTER + timedelta(seconds=1)
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert working.working_offsets_catch_up(now=later) == [ns.stream_a.pk]
    assert not offsets_owed(ns.stream_a.pk)
