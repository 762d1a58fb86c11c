"""``/api/calendars/``, its strip and ``/api/lanes/{id}/calendar/``: nested spans and
closures, bad input (400 naming the field, nothing written), per role (403) and another
team's calendar (404)."""

from __future__ import annotations

from datetime import time

import pytest
from rest_framework.test import APIClient

from streams.calendars.models import Closure, WorkingCalendar
from streams.calendars.services import CalendarSpec, calendar_create
from streams.calendars.working_time import SpanSpec

pytestmark = pytest.mark.django_db

OFFICE = [{"weekday": d, "start": "09:00", "end": "17:30"} for d in range(5)]


def body(team_id: int, **changes) -> dict:
    return {
        "team": team_id,
        "name": "Berlin office",
        "time_zone": "Europe/Berlin",
        "country": "DE",
        "subdivision": "BY",
        "spans": OFFICE,
        "closures": [
            {"label": "Winter shutdown", "start_date": "2026-12-24", "end_date": "2026-12-31"}
        ],
        **changes,
    }


def _as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _calendar(team, by, name="Existing") -> WorkingCalendar:
    spans = [SpanSpec(d, time(9), time(17)) for d in range(5)]
    return calendar_create(
        team=team, by=by, spec=CalendarSpec(name=name, time_zone="Europe/Berlin", spans=spans)
    )


def test_a_manager_creates_a_calendar_with_spans_and_closures(team_setup):
    ns = team_setup
    response = _as(ns.manager_a).post("/api/calendars/", body(ns.team_a.id), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["is_default"] and data["version"] == 1 and data["subdivision"] == "BY"
    assert data["spans"][0] == {"weekday": 0, "start": "09:00", "end": "17:30"}
    assert data["closures"][0]["label"] == "Winter shutdown"
    assert data["lanes"] == list(ns.stream_a.lanes.values_list("id", flat=True))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"spans": [*OFFICE, {"weekday": 0, "start": "12:00", "end": "13:00"}]}, "spans.monday"),
        ({"spans": [{"weekday": 1, "start": "17:00", "end": "09:00"}]}, "spans.tuesday"),
        ({"spans": []}, "spans"),
        ({"spans": [{"weekday": 7, "start": "09:00", "end": "10:00"}]}, "spans"),
        ({"country": "XX"}, "country"),
        ({"subdivision": "ZZ"}, "subdivision"),
        ({"time_zone": "Nowhere/City"}, "time_zone"),
        (
            {"closures": [{"label": "Y", "start_date": "2200-01-01", "end_date": "2200-01-02"}]},
            "closures.0.start_date",
        ),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(team_setup, changes, field):
    ns = team_setup
    response = _as(ns.manager_a).post(
        "/api/calendars/", body(ns.team_a.id, **changes), format="json"
    )
    assert response.status_code == 400 and field in response.json(), response.content
    assert not WorkingCalendar.objects.exists() and not Closure.objects.exists()


@pytest.mark.parametrize("who", ["rep_a1", "leader_a"])
def test_reps_and_leadership_read_but_do_not_change(team_setup, who):
    ns = team_setup
    calendar = _calendar(ns.team_a, ns.manager_a)
    client = _as(getattr(ns, who))
    assert client.get("/api/calendars/").json()["results"][0]["id"] == calendar.id
    assert client.get(f"/api/calendars/{calendar.id}/strip/").status_code == 200
    assert client.post("/api/calendars/", body(ns.team_a.id), format="json").status_code == 403
    url = f"/api/calendars/{calendar.id}/"
    assert client.patch(url, {"name": "Mine"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403
    lane = ns.stream_a.lanes.first()
    put = client.put(f"/api/lanes/{lane.id}/calendar/", {"calendar": None}, format="json")
    assert put.status_code == 403
    assert WorkingCalendar.objects.get().name == "Existing"


def test_another_teams_calendar_is_not_found(team_setup):
    ns = team_setup
    theirs = _calendar(ns.team_b, ns.manager_b)
    client = _as(ns.manager_a)
    assert client.get("/api/calendars/").json()["results"] == []
    for method in ("get", "patch", "delete"):
        assert getattr(client, method)(f"/api/calendars/{theirs.id}/").status_code == 404
    assert client.get(f"/api/calendars/{theirs.id}/strip/").status_code == 404
    lane_b = ns.stream_b.lanes.first()
    assert client.get(f"/api/lanes/{lane_b.id}/calendar/").status_code == 404
    # Nor can a calendar be created in a team one is not in.
    response = client.post("/api/calendars/", body(ns.team_b.id), format="json")
    assert response.status_code == 400 and "team" in response.json()


def test_patch_changes_a_field_and_bumps_the_version(team_setup):
    ns = team_setup
    calendar = _calendar(ns.team_a, ns.manager_a)
    client = _as(ns.manager_a)
    response = client.patch(
        f"/api/calendars/{calendar.id}/", {"country": "US", "version": 1}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["country"] == "US" and response.json()["version"] == 2
    assert len(response.json()["spans"]) == 5  # kept
    stale = client.patch(
        f"/api/calendars/{calendar.id}/", {"name": "Old", "version": 1}, format="json"
    )
    assert stale.status_code == 400 and "version" in stale.json()


def test_the_strip_lists_each_day_with_its_holiday(team_setup):
    ns = team_setup
    created = _as(ns.manager_a).post("/api/calendars/", body(ns.team_a.id), format="json").json()
    response = _as(ns.rep_a1).get(
        f"/api/calendars/{created['id']}/strip/", {"weeks": 2, "start": "2026-12-23"}
    )
    assert response.status_code == 200
    days = {day["day"]: day for day in response.json()["days"]}
    assert len(days) == 14 and min(days) == "2026-12-21"  # from the Monday
    assert days["2026-12-21"]["working_seconds"] == 8.5 * 3600
    assert days["2026-12-21"]["segments"] == [{"start": "09:00", "end": "17:30"}]
    assert days["2026-12-25"]["holiday"] and days["2026-12-25"]["working_seconds"] == 0
    assert days["2026-12-28"]["closures"] == ["Winter shutdown"]
    for bad in ({"weeks": 0}, {"weeks": 99}, {"start": "not-a-day"}, {"start": "1900-01-01"}):
        refused = _as(ns.rep_a1).get(f"/api/calendars/{created['id']}/strip/", bad)
        assert refused.status_code == 400 and set(bad) <= set(refused.json()), bad


def test_a_lane_is_put_on_another_calendar_and_back(team_setup):
    ns = team_setup
    default = _calendar(ns.team_a, ns.manager_a, "Default")
    legal = _calendar(ns.team_a, ns.manager_a, "Legal")
    lane = ns.stream_a.lanes.first()
    client = _as(ns.manager_a)
    url = f"/api/lanes/{lane.id}/calendar/"
    assert client.get(url).json() == {
        "lane": lane.id,
        "calendar": None,
        "effective_calendar": default.id,
    }
    assert client.put(url, {"calendar": legal.id}, format="json").json()["effective_calendar"] == (
        legal.id
    )
    theirs = _calendar(ns.team_b, ns.manager_b)
    refused = client.put(url, {"calendar": theirs.id}, format="json")
    assert refused.status_code == 400 and "calendar" in refused.json()
    delete = client.delete(f"/api/calendars/{legal.id}/")
    assert delete.status_code == 400 and "calendar" in delete.json()
    assert client.put(url, {"calendar": None}, format="json").json()["calendar"] is None
    assert client.delete(f"/api/calendars/{legal.id}/").status_code == 204
