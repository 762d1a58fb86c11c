"""Working calendars in the database: the services' rules (each bad input names its field
and writes nothing), the version and the ``calendar_changed`` hook, a holiday added after the
fact, a lane on another calendar, deletion; the API; the pages per role."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from streams.calendars.hooks import register_calendar_changed, unregister_calendar_changed
from streams.calendars.models import Closure, WorkingCalendar, WorkingSpan
from streams.calendars.selectors import clock_for, lane_calendar
from streams.calendars.services import (
    CalendarSpec,
    calendar_create,
    calendar_delete,
    calendar_update,
    closure_add,
    closure_remove,
    lane_set_calendar,
    seed_calendar,
)
from streams.calendars.working_time import ClosureSpec, SpanSpec

pytestmark = pytest.mark.django_db
HOUR = 3600
OFFICE = [SpanSpec(day, time(9), time(17, 30)) for day in range(5)]


def spec(**changes) -> CalendarSpec:
    values = {"name": "Berlin office", "time_zone": "Europe/Berlin", "spans": OFFICE}
    return CalendarSpec(**{**values, **changes})


@pytest.fixture
def changes():
    """The calls of the ``calendar_changed`` hook: (calendar id, lane ids)."""
    calls: list[tuple[int, list[int] | None]] = []

    def record(calendar, *, lane_ids=None):
        calls.append((calendar.pk, None if lane_ids is None else sorted(lane_ids)))

    register_calendar_changed(record)
    yield calls
    unregister_calendar_changed(record)


@pytest.fixture
def berlin(team_setup, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return calendar_create(team=team_setup.team_a, by=team_setup.manager_a, spec=spec())


def _nothing_written() -> None:
    assert not WorkingCalendar.objects.exists()
    assert not WorkingSpan.objects.exists() and not Closure.objects.exists()


# --- Services ---------------------------------------------------------------------------------


def test_a_teams_first_calendar_is_its_default_and_holds_its_spans(
    team_setup, changes, django_capture_on_commit_callbacks
):
    ns = team_setup
    with django_capture_on_commit_callbacks(execute=True):
        calendar = calendar_create(team=ns.team_a, by=ns.manager_a, spec=spec(country="DE"))
    assert calendar.is_default and calendar.version == 1
    assert calendar.spans.count() == 5
    assert changes == [(calendar.pk, None)]
    lane = ns.steps_a[0].lane
    assert lane_calendar(lane) == calendar


@pytest.mark.parametrize(
    ("changes_", "field"),
    [
        (
            {"spans": [SpanSpec(0, time(9), time(12)), SpanSpec(0, time(11), time(13))]},
            "spans.monday",
        ),
        ({"spans": [SpanSpec(2, time(17), time(9))]}, "spans.wednesday"),
        ({"spans": []}, "spans"),
        ({"country": "XX"}, "country"),
        ({"country": "DE", "subdivision": "ZZ"}, "subdivision"),
        ({"subdivision": "BY"}, "subdivision"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "  "}, "name"),
        (
            {"closures": [ClosureSpec(date(1900, 1, 1), date(1900, 1, 2), label="Old")]},
            "closures.0.start_date",
        ),
        (
            {"closures": [ClosureSpec(date(2026, 1, 1), date(2028, 1, 1), label="Long")]},
            "closures.0.end_date",
        ),
        (
            {"closures": [ClosureSpec(date(2026, 1, 5), date(2026, 1, 1), label="Back")]},
            "closures.0.end_date",
        ),
        (
            {"closures": [ClosureSpec(date(2026, 1, 5), date(2026, 1, 5), time(13), None, "Half")]},
            "closures.0.end_time",
        ),
    ],
)
def test_bad_input_names_its_field_and_writes_nothing(team_setup, changes_, field):
    with pytest.raises(ValidationError) as refused:
        calendar_create(team=team_setup.team_a, by=team_setup.manager_a, spec=spec(**changes_))
    assert field in refused.value.message_dict, refused.value.message_dict
    _nothing_written()


def test_the_overlap_message_names_the_day_and_both_spans(team_setup):
    overlapping = [SpanSpec(0, time(9), time(12)), SpanSpec(0, time(11), time(13))]
    with pytest.raises(ValidationError) as refused:
        calendar_create(
            team=team_setup.team_a, by=team_setup.manager_a, spec=spec(spans=overlapping)
        )
    [message] = refused.value.message_dict["spans.monday"]
    assert "Monday" in message and "09:00–12:00" in message and "11:00–13:00" in message


@pytest.mark.parametrize("who", ["rep_a1", "leader_a", "manager_b"])
def test_only_the_teams_managers_change_calendars(team_setup, berlin, who):
    user = getattr(team_setup, who)
    with pytest.raises(PermissionDenied):
        calendar_create(team=team_setup.team_a, by=user, spec=spec(name="Other"))
    with pytest.raises(PermissionDenied):
        calendar_update(calendar=berlin, by=user, spec=spec(name="Renamed", is_default=True))
    with pytest.raises(PermissionDenied):
        closure_add(
            calendar=berlin,
            by=user,
            spec=ClosureSpec(date(2026, 1, 2), date(2026, 1, 2), label="x"),
        )
    with pytest.raises(PermissionDenied):
        calendar_delete(calendar=berlin, by=user)
    assert WorkingCalendar.objects.get().name == "Berlin office"


def test_a_holiday_added_after_the_fact_changes_w_bumps_the_version_and_fires_the_hook(
    team_setup, berlin, changes, django_capture_on_commit_callbacks
):
    # Thursday 30 April 17:00 → Monday 4 May 10:00 (Berlin): 1 May is Labour Day in Germany.
    enter = datetime(2026, 4, 30, 15, tzinfo=UTC)
    leave = datetime(2026, 5, 4, 8, tzinfo=UTC)
    assert clock_for(berlin).working_seconds(enter, leave) == 10 * HOUR
    with django_capture_on_commit_callbacks(execute=True):
        updated = calendar_update(
            calendar=berlin,
            by=team_setup.manager_a,
            spec=spec(country="DE", is_default=True),
            version=1,
        )
    assert updated.version == 2
    assert clock_for(updated).working_seconds(enter, leave) == 1.5 * HOUR
    assert changes == [(berlin.pk, None)]
    # A closure (the team's own day off) works the same way.
    with django_capture_on_commit_callbacks(execute=True):
        closure = closure_add(
            calendar=updated,
            by=team_setup.manager_a,
            spec=ClosureSpec(date(2026, 4, 30), date(2026, 4, 30), time(17), time(17, 30), "Early"),
        )
    updated.refresh_from_db()
    assert updated.version == 3
    assert clock_for(updated).working_seconds(enter, leave) == HOUR
    with django_capture_on_commit_callbacks(execute=True):
        closure_remove(closure=closure, by=team_setup.manager_a)
    updated.refresh_from_db()
    assert updated.version == 4 and len(changes) == 3


def test_an_edit_based_on_an_older_version_is_refused(team_setup, berlin):
    calendar_update(calendar=berlin, by=team_setup.manager_a, spec=spec(is_default=True), version=1)
    with pytest.raises(ValidationError) as refused:
        calendar_update(
            calendar=berlin,
            by=team_setup.manager_a,
            spec=spec(name="X", is_default=True),
            version=1,
        )
    assert "version" in refused.value.message_dict
    assert WorkingCalendar.objects.get().name == "Berlin office"


def test_a_lane_on_another_calendar_and_the_default_moving(
    team_setup, berlin, changes, django_capture_on_commit_callbacks
):
    ns = team_setup
    legal = calendar_create(
        team=ns.team_a,
        by=ns.manager_a,
        spec=spec(name="New York legal", time_zone="America/New_York", country="US"),
    )
    assert not legal.is_default
    lane = ns.steps_a[1].lane
    with django_capture_on_commit_callbacks(execute=True):
        lane_set_calendar(lane=lane, by=ns.manager_a, calendar=legal)
    lane.refresh_from_db()
    assert lane_calendar(lane) == legal
    assert changes[-1] == (legal.pk, [lane.pk])
    # Independence Day (Friday 3 July 2026 observed) is off in New York, not in Berlin.
    day = datetime(2026, 7, 3, 12, tzinfo=UTC), datetime(2026, 7, 4, tzinfo=UTC)
    assert clock_for(legal).working_seconds(*day) == 0
    assert clock_for(berlin).working_seconds(*day) > 0
    # Another team's calendar cannot be chosen.
    other = calendar_create(team=ns.team_b, by=ns.manager_b, spec=spec())
    with pytest.raises(ValidationError) as refused:
        lane_set_calendar(lane=lane, by=ns.manager_a, calendar=other)
    assert "calendar" in refused.value.message_dict
    # Making the legal calendar the default moves the flag: one default per team.
    calendar_update(
        calendar=legal,
        by=ns.manager_a,
        spec=spec(name="New York legal", time_zone="America/New_York", is_default=True),
    )
    berlin.refresh_from_db()
    assert (
        not berlin.is_default
        and WorkingCalendar.objects.filter(team=ns.team_a, is_default=True).count() == 1
    )


def test_a_calendar_lanes_work_on_is_not_deleted(team_setup, berlin):
    ns = team_setup
    lanes = ns.stream_a.lanes.count()
    with pytest.raises(ValidationError, match=f"default calendar and {lanes} lane"):
        calendar_delete(calendar=berlin, by=ns.manager_a)
    second = calendar_create(team=ns.team_a, by=ns.manager_a, spec=spec(name="Second"))
    lane = ns.steps_a[0].lane
    lane_set_calendar(lane=lane, by=ns.manager_a, calendar=second)
    with pytest.raises(ValidationError, match="give them another calendar first"):
        calendar_delete(calendar=second, by=ns.manager_a)
    lane_set_calendar(lane=lane, by=ns.manager_a, calendar=None)
    calendar_delete(calendar=second, by=ns.manager_a)
    assert list(WorkingCalendar.objects.all()) == [berlin]


def test_a_calendar_with_no_working_time_in_a_window(team_setup, berlin):
    closed = calendar_update(
        calendar=berlin,
        by=team_setup.manager_a,
        spec=spec(
            is_default=True,
            closures=[ClosureSpec(date(2026, 8, 3), date(2026, 8, 14), label="Summer shutdown")],
        ),
    )
    clock = clock_for(closed)
    assert (
        clock.working_seconds(datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 8, 16, tzinfo=UTC))
        == 0
    )
    assert clock.day_plan(date(2026, 8, 5)).closures == ("Summer shutdown",)


def test_the_demo_calendar_works_weekdays_with_the_countrys_holidays(team_setup, settings):
    settings.TIME_ZONE = "America/Chicago"
    calendar = seed_calendar(team_setup.team_a)
    assert calendar.is_default and calendar.time_zone == "America/Chicago"
    clock = clock_for(calendar)
    assert clock.day_plan(date(2026, 7, 1)).working_seconds == 8.5 * HOUR  # a Wednesday
    assert clock.day_plan(date(2026, 11, 26)).holiday == "Thanksgiving Day"
    assert seed_calendar(team_setup.team_a).pk != calendar.pk  # seeding again replaces it
    assert WorkingCalendar.objects.count() == 1


def test_a_team_whose_lane_works_on_another_calendar_can_be_deleted(team_setup, berlin):
    """The lane's calendar is RESTRICT, not PROTECT: deleting the team deletes its lanes and its
    calendars together (demo-reset deletes the demo team), while the calendar alone stays
    protected in the database as well as by calendar_delete."""
    from django.db.models import RestrictedError

    ns = team_setup
    second = calendar_create(team=ns.team_a, by=ns.manager_a, spec=spec(name="Second"))
    lane = ns.steps_a[0].lane
    lane_set_calendar(lane=lane, by=ns.manager_a, calendar=second)
    with pytest.raises(RestrictedError):
        WorkingCalendar.objects.filter(pk=second.pk).delete()
    ns.team_a.delete()
    assert not WorkingCalendar.objects.filter(team_id=ns.team_a.pk).exists()
    assert not type(lane).objects.filter(pk=lane.pk).exists()


def test_a_name_taken_between_the_check_and_the_write_is_a_400_not_a_500(
    team_setup, berlin, monkeypatch
):
    """Two managers creating "Berlin office" at the same instant: the one whose check ran
    before the other's commit is refused by the constraint, with the field named."""
    from streams.calendars import services

    monkeypatch.setattr(services, "_check", lambda *args, **kwargs: None)
    with pytest.raises(ValidationError) as refused:
        calendar_create(team=team_setup.team_a, by=team_setup.manager_a, spec=spec())
    assert "already has a calendar named “Berlin office”" in refused.value.message_dict["name"][0]
    assert list(WorkingCalendar.objects.all()) == [berlin]
