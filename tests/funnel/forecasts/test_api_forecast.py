"""The Forecast API on a stored hand-built result (``forecast_payload``): the view and its
per-deal rows by role (a rep reads only their own deals), across teams, bad parameters named,
the job while a view is being computed, and the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.funnel.dashboards.forecast_payload import forecast_payload
from tests.funnel.dashboards.forecast_store import VIEW, store_forecast
from tests.funnel.discovery.hand_log import hand_log

pytestmark = pytest.mark.django_db


@pytest.fixture
def ns():
    ns = hand_log()
    result = forecast_payload()
    result["deals"][0]["owner"] = ns.rep.pk
    result["deals"][1]["owner"] = ns.manager.pk
    store_forecast(ns.stream, result)
    return ns


def _get(ns, user, name="stream-forecast", **params):
    client = APIClient()
    client.force_authenticate(user)
    return client.get(reverse(name, args=[ns.stream.pk]), VIEW | params)


def test_the_whole_view_as_a_manager_reads_it(ns):
    response = _get(ns, ns.manager)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready" and body["stale"] is False
    result = body["result"]
    assert result["wins_by"]["wins"]["bands"]["85"] == [3, 8]
    assert result["target"]["probability"] == 0.4
    assert result["track_record"]["count"] == 52
    assert [d["deal"] for d in result["deals"]] == [11, 12]
    assert result["deals"][0]["source"] == "lab"


def test_roles_and_teams(ns):
    rep = _get(ns, ns.rep).json()["result"]
    assert [d["name"] for d in rep["deals"]] == ["Globex renewal"]  # their own deal only
    assert rep["wins_by"]["wins"]["median"] == 5  # the stream's totals are the team's
    rep_deals = _get(ns, ns.rep, "stream-forecast-deals").json()["result"]
    assert [d["owner"] for d in rep_deals["deals"]] == [ns.rep.pk]
    leader = _get(ns, ns.leader, "stream-forecast-deals").json()["result"]
    assert len(leader["deals"]) == 2
    assert set(leader) == {"format", "view", "as_of", "outcome_source", "lab_note", "deals"}
    assert _get(ns, ns.outsider).status_code == 404
    assert _get(ns, ns.outsider, "stream-forecast-deals").status_code == 404
    assert APIClient().get(reverse("stream-forecast", args=[ns.stream.pk])).status_code in (
        401,
        403,
    )


@pytest.mark.parametrize(
    "params, field",
    [
        ({"by": "2026-02-30"}, "by"),
        ({"by": "2020-01-01"}, "by"),
        ({"when_wins": "0"}, "when_wins"),
        ({"when_wins": "many"}, "when_wins"),
        ({"runs": "5"}, "runs"),
        ({"as_of": "3026-01-01"}, "as_of"),
        ({"as_of": "yesterday"}, "as_of"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(ns, params, field):
    response = _get(ns, ns.manager, **params)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_view_not_computed_yet_is_computed_by_its_job(ns):
    response = _get(ns, ns.manager, "stream-forecast-deals", as_of="2026-11-01", runs="200")
    # Without a broker the job ran inside the request: the hand log's open deals then.
    assert response.status_code == 200, response.content
    names = {d["name"] for d in response.json()["result"]["deals"]}
    assert names == {"Deal E", "Deal G"}


def test_schema_lists_both_operations(ns):
    client = APIClient()
    client.force_authenticate(ns.manager)
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    whole = schema["paths"]["/api/streams/{id}/forecast/"]["get"]
    deals = schema["paths"]["/api/streams/{id}/forecast/deals/"]["get"]
    assert whole["operationId"] == "streams_forecast_retrieve"
    assert deals["operationId"] == "streams_forecast_deals_retrieve"
    assert {p["name"] for p in whole["parameters"]} >= {"by", "when_wins", "as_of", "runs"}
    assert set(whole["responses"]) >= {"200", "202", "400", "404", "503"}
    bands = schema["components"]["schemas"]["ForecastBands"]["properties"]
    assert set(bands) == {"50", "85", "95"}
    track = schema["components"]["schemas"]["ForecastTrackRecord"]["properties"]
    assert track["close_dates"]["description"].startswith("Each deal's close dates")
    close = schema["components"]["schemas"]["ForecastCloseDatesRecord"]["properties"]
    assert {"open_outside", "censored", "lost", "no_dates"} <= set(close)
    assert "in days" in close["typical_error"]["description"]
