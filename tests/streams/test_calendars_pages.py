"""The calendar pages: the list's empty state, the create and edit form (weekly hours per
weekday; each bad input shown next to its field, nothing written), closures, the coming-weeks
strip naming holidays and closures, deletion, the lanes' calendars; per role."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
import time_machine
from django.urls import reverse

from streams.calendars.models import Closure, WorkingCalendar
from streams.calendars.services import CalendarSpec, calendar_create
from streams.calendars.working_time import SpanSpec

pytestmark = pytest.mark.django_db


def form(**changes) -> dict:
    data = {
        "name": "Munich office",
        "time_zone": "Europe/Berlin",
        "country": "DE",
        "subdivision": "DE-BY",
        "is_default": "on",
        "hours_monday": "09:00–12:00, 13:00–17:30",
        **{f"hours_{d}": "09:00-17:30" for d in ("tuesday", "wednesday", "thursday", "friday")},
    }
    return {**data, **changes}


def _calendar(ns, **changes) -> WorkingCalendar:
    values = {
        "name": "Munich office",
        "time_zone": "Europe/Berlin",
        "country": "DE",
        "subdivision": "BY",
        "spans": [SpanSpec(d, time(9), time(17, 30)) for d in range(5)],
        **changes,
    }
    return calendar_create(team=ns.team_a, by=ns.manager_a, spec=CalendarSpec(**values))


def _url(name: str, ns, *args) -> str:
    return reverse(f"calendars:{name}", args=[ns.team_a.slug, *args])


def test_the_list_shows_an_empty_state_with_the_way_to_start(client, team_setup):
    ns = team_setup
    client.force_login(ns.manager_a)
    page = client.get(_url("list", ns)).content.decode()
    assert "No working calendar yet" in page and _url("new", ns) in page
    client.force_login(ns.rep_a1)
    page = client.get(_url("list", ns)).content.decode()
    assert "No working calendar yet" in page and _url("new", ns) not in page


def test_the_home_page_links_each_team_to_its_calendars(client, team_setup):
    client.force_login(team_setup.rep_a1)
    assert _url("list", team_setup) in client.get("/").content.decode()


def test_a_manager_creates_a_calendar_with_several_spans_a_day(client, team_setup):
    ns = team_setup
    client.force_login(ns.manager_a)
    response = client.post(_url("new", ns), form())
    calendar = WorkingCalendar.objects.get()
    assert response.status_code == 302 and response.url == _url("detail", ns, calendar.pk)
    assert (calendar.country, calendar.subdivision, calendar.is_default) == ("DE", "BY", True)
    monday = [(s.start, s.end) for s in calendar.spans.filter(weekday=0)]
    assert monday == [(time(9), time(12)), (time(13), time(17, 30))]
    assert calendar.spans.count() == 6


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"hours_monday": "09:00–12:00, 11:00–13:00"}, "hours_monday", "overlap"),
        ({"hours_tuesday": "17:00–09:00"}, "hours_tuesday", "ends before it starts"),
        ({"hours_friday": "nine to five"}, "hours_friday", "is not a span"),
        (
            {f"hours_{d}": "" for d in ("monday", "tuesday", "wednesday", "thursday", "friday")},
            "hours_monday",
            "at least one day",
        ),
        ({"country": "US"}, "subdivision", "region of DE"),
        ({"country": "XX", "subdivision": ""}, "country", "Select a valid choice"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_each_bad_input_is_shown_next_to_its_field_and_nothing_is_written(
    client, team_setup, changes, field, words
):
    ns = team_setup
    client.force_login(ns.manager_a)
    response = client.post(_url("new", ns), form(**changes))
    assert response.status_code == 400
    page = response.content.decode()
    assert f'id="calendar_{field}_error"' in page
    assert f'aria-describedby="calendar_{field}_help calendar_{field}_error"' in page or (
        f'aria-describedby="calendar_{field}_error"' in page
    )
    assert words in response.context["form"].errors[field][0]
    assert not WorkingCalendar.objects.exists()


@time_machine.travel(datetime(2026, 12, 21, 9, tzinfo=UTC), tick=False)
def test_the_detail_page_shows_the_coming_weeks_with_holidays_and_closures(client, team_setup):
    ns = team_setup
    calendar = _calendar(ns)
    client.force_login(ns.manager_a)
    response = client.post(
        _url("closure_new", ns, calendar.pk),
        {"label": "Winter shutdown", "start_date": "2026-12-28", "end_date": "2026-12-31"},
    )
    assert response.status_code == 302
    client.force_login(ns.leader_a)
    page = client.get(_url("detail", ns, calendar.pk)).content.decode()
    assert "Holiday: Christmas Day" in page
    assert page.count("Closed: Winter shutdown") == 4
    assert 'data-day="2026-12-21"' in page and "(today)" in page
    assert "8.5 h" in page and 'Off<span class="visually-hidden"> (not working)' in page
    assert "Wall-clock times in Europe/Berlin" in page
    # Leadership reads: no edit form, no remove buttons.
    assert 'name="hours_monday"' not in page and "Remove" not in page


def test_a_closure_out_of_range_or_half_specified_is_refused_by_field(client, team_setup):
    ns = team_setup
    calendar = _calendar(ns)
    client.force_login(ns.manager_a)
    url = _url("closure_new", ns, calendar.pk)
    far = client.post(url, {"label": "X", "start_date": "2150-01-01", "end_date": "2150-01-02"})
    assert far.status_code == 400 and "start_date" in far.context["closure_form"].errors
    half = client.post(
        url,
        {"label": "X", "start_date": "2026-12-24", "end_date": "2026-12-24", "start_time": "13:00"},
    )
    assert half.status_code == 400 and "end_time" in half.context["closure_form"].errors
    assert not Closure.objects.exists()
    ok = client.post(
        url,
        {
            "label": "Christmas Eve",
            "start_date": "2026-12-24",
            "end_date": "2026-12-24",
            "start_time": "13:00",
            "end_time": "17:30",
        },
    )
    assert ok.status_code == 302
    closure = Closure.objects.get()
    remove = client.post(_url("closure_delete", ns, calendar.pk, closure.pk))
    assert remove.status_code == 302 and not Closure.objects.exists()
    calendar.refresh_from_db()
    assert calendar.version == 3


def test_editing_keeps_closures_and_shows_the_current_hours(client, team_setup):
    ns = team_setup
    calendar = _calendar(ns)
    client.force_login(ns.manager_a)
    page = client.get(_url("detail", ns, calendar.pk)).content.decode()
    assert 'value="09:00–17:30"' in page and 'value="DE-BY" selected' in page
    response = client.post(
        _url("detail", ns, calendar.pk), form(name="Munich HQ", version=calendar.version)
    )
    assert response.status_code == 302
    calendar.refresh_from_db()
    assert calendar.name == "Munich HQ" and calendar.version == 2
    stale = client.post(_url("detail", ns, calendar.pk), form(name="Old", version=1))
    assert stale.status_code == 400 and "changed since you opened it" in stale.content.decode()


@pytest.mark.parametrize("who", ["rep_a1", "leader_a"])
def test_reps_and_leadership_cannot_change_calendars(client, team_setup, who):
    ns = team_setup
    calendar = _calendar(ns)
    client.force_login(getattr(ns, who))
    assert client.get(_url("list", ns)).status_code == 200
    assert client.get(_url("detail", ns, calendar.pk)).status_code == 200
    assert client.get(_url("new", ns)).status_code == 403
    assert client.post(_url("new", ns), form(name="Mine")).status_code == 403
    assert client.post(_url("detail", ns, calendar.pk), form(name="Mine")).status_code == 403
    assert client.post(_url("delete", ns, calendar.pk)).status_code == 403
    closure = {"label": "X", "start_date": "2026-01-02", "end_date": "2026-01-02"}
    assert client.post(_url("closure_new", ns, calendar.pk), closure).status_code == 403
    assert client.post(_url("lanes", ns), {}).status_code == 403
    assert WorkingCalendar.objects.get().name == "Munich office"


def test_another_teams_calendars_are_not_found(client, team_setup):
    ns = team_setup
    calendar = _calendar(ns)
    client.force_login(ns.manager_b)
    assert client.get(_url("list", ns)).status_code == 404
    assert client.get(_url("detail", ns, calendar.pk)).status_code == 404
    other = reverse("calendars:detail", args=[ns.team_b.slug, calendar.pk])
    assert client.get(other).status_code == 404


def test_delete_is_refused_while_lanes_rely_on_the_default_then_done(client, team_setup):
    ns = team_setup
    calendar = _calendar(ns)
    client.force_login(ns.manager_a)
    assert client.get(_url("delete", ns, calendar.pk)).status_code == 200
    refused = client.post(_url("delete", ns, calendar.pk))
    assert refused.status_code == 400
    assert "default calendar and 1 lane(s) rely on it" in refused.content.decode()
    second = _calendar(ns, name="Second")
    client.post(_url("lanes", ns), {f"lane_{ns.stream_a.lanes.get().pk}": str(second.pk)})
    assert ns.stream_a.lanes.get().calendar == second
    assert client.post(_url("delete", ns, calendar.pk)).status_code == 302
    second.refresh_from_db()
    assert second.is_default and list(WorkingCalendar.objects.all()) == [second]


def test_the_default_stays_until_another_calendar_takes_it(client, team_setup):
    ns = team_setup
    calendar = _calendar(ns)
    client.force_login(ns.manager_a)
    without = form(version=calendar.version)
    del without["is_default"]
    response = client.post(_url("detail", ns, calendar.pk), without)
    assert response.status_code == 400
    assert "make another calendar the default" in response.context["form"].errors["is_default"][0]
    calendar.refresh_from_db()
    assert calendar.is_default and calendar.version == 1
