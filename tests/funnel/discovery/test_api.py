"""The Discovery API on the hand-worked log: each part, the roles, a bad parameter and the
OpenAPI schema."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.funnel.discovery.hand_log import hand_log

pytestmark = pytest.mark.django_db

VIEW = {"start": "2026-09-07", "end": "2026-09-21", "as_of": "2026-10-01"}


@pytest.fixture
def ns():
    return hand_log()


def _get(ns, user, part, **params):
    client = APIClient()
    client.force_authenticate(user)
    url = reverse(f"stream-discovery-{part}", args=[ns.stream.pk])
    return client.get(url, VIEW | params)


def test_parts_as_a_rep_reads_them(ns):
    graph = _get(ns, ns.rep, "graph")
    assert graph.status_code == 200, graph.content
    body = graph.json()
    assert body["status"] == "ready"
    assert set(body["result"]) == {"format", "view", "steps", "graph"}
    assert len(body["result"]["graph"]["edges"]) == 8
    variants = _get(ns, ns.leader, "variants").json()["result"]
    assert variants["variants"]["top"][0]["deals"] == 2
    assert {r["loops"] for r in variants["rework"]} == {2, 1}
    deviations = _get(ns, ns.manager, "deviations").json()["result"]["conformance"]
    assert deviations["summary"]["conforming"] == 2
    skip = next(r for r in deviations["catalogue"] if r["kind"] == "skip" and r["source"])
    assert skip["with"]["closed"] == 1


def test_other_team_and_bad_parameter(ns):
    assert _get(ns, ns.outsider, "graph").status_code == 404
    bad = _get(ns, ns.manager, "deviations", time="sideways")
    assert bad.status_code == 400 and "time" in bad.json()


def test_schema_lists_the_three_operations(ns):
    client = APIClient()
    client.force_authenticate(ns.manager)
    schema = client.get(reverse("schema"), {"format": "json"}).json()
    for part in ("graph", "variants", "deviations"):
        operation = schema["paths"][f"/api/streams/{{id}}/discovery/{part}/"]["get"]
        assert operation["operationId"] == f"streams_discovery_{part}_retrieve"
    catalogue = schema["components"]["schemas"]["DiscoveryCatalogue"]["properties"]
    assert "with" in catalogue and "without" in catalogue


def test_a_window_of_a_century_lists_ten_years_of_weeks(ns):
    found = _get(ns, ns.manager, "deviations", start="1970-01-01", end="2100-01-01")
    assert found.status_code == 200, found.content
    catalogue = found.json()["result"]["conformance"]["catalogue"]
    assert len(catalogue[0]["weeks"]) == 521  # the last 520 weeks, and the one it ends in


def test_accepting_through_the_api(ns):
    client = APIClient()
    url = reverse("stream-discovery-accepted", args=[ns.stream.pk])
    pair = {"kind": "skip", "source": ns.steps["Lead"].pk, "target": ns.steps["Demo"].pk}
    client.force_authenticate(ns.rep)
    assert client.post(url, pair, format="json").status_code == 403
    client.force_authenticate(ns.outsider)
    assert client.post(url, pair, format="json").status_code == 404
    client.force_authenticate(ns.manager)
    bad = client.post(url, pair | {"target": 999999}, format="json")
    assert bad.status_code == 400 and "target" in bad.json()
    assert client.post(url, pair | {"kind": "x"}, format="json").status_code == 400
    made = client.post(url, pair | {"note": "Known buyers"}, format="json")
    assert made.status_code == 201, made.content
    client.force_authenticate(ns.rep)
    assert [r["note"] for r in client.get(url).json()] == ["Known buyers"]
    deviations = _get(ns, ns.rep, "deviations").json()["result"]["conformance"]
    assert deviations["summary"]["conforming"] == 3
    one = reverse("stream-discovery-accepted-detail", args=[ns.stream.pk, made.json()["id"]])
    assert client.delete(one).status_code == 403
    client.force_authenticate(ns.manager)
    assert client.delete(one).status_code == 204
    assert client.get(url).json() == []
