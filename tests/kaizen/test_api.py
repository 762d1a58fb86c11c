"""The kaizen API: in the schema, one cycle through every phase, and every endpoint per role
(managers create and act; reps propose and comment; leadership reads; other teams see
nothing). Time is frozen at NOW (tests/kaizen/conftest.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import time_machine
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from kaizen.models import CycleCheck, CycleComment, KaizenCycle, Phase
from streams.models import ProcessStep

from .conftest import NOW, cycle_at, visits_halving

pytestmark = pytest.mark.django_db

KAIZEN_PATHS = [
    "/api/kaizen-cycles/",
    "/api/kaizen-cycles/{id}/",
    "/api/kaizen-cycles/{id}/start-do/",
    "/api/kaizen-cycles/{id}/start-check/",
    "/api/kaizen-cycles/{id}/start-act/",
    "/api/kaizen-cycles/{id}/adopt/",
    "/api/kaizen-cycles/{id}/adapt/",
    "/api/kaizen-cycles/{id}/abandon/",
    "/api/kaizen-cycles/{id}/comments/",
]


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _as(client: APIClient, user) -> APIClient:
    client.force_authenticate(user=user)
    return client


def test_every_kaizen_endpoint_is_in_the_schema_and_answers_match_it(api_client, ns):
    cycle = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in KAIZEN_PATHS:
        assert path in schema["paths"], path
    assert {"get", "patch", "delete"} <= set(schema["paths"]["/api/kaizen-cycles/{id}/"])
    assert "put" not in schema["paths"]["/api/kaizen-cycles/{id}/"]
    assert {"get", "post"} <= set(schema["paths"]["/api/kaizen-cycles/{id}/comments/"])
    components = schema["components"]["schemas"]

    body = _as(api_client, ns.leader_a).get(f"/api/kaizen-cycles/{cycle.pk}/").json()
    assert set(body) == set(components["Cycle"]["properties"])
    assert set(body["check_result"]) == set(components["CycleCheck"]["properties"])
    parameters = {p["name"] for p in schema["paths"]["/api/kaizen-cycles/"]["get"]["parameters"]}
    assert {"stream", "step", "owner", "phase", "metric", "decision", "ordering"} <= parameters


def test_a_manager_takes_a_cycle_from_plan_to_adopted_through_the_api(
    api_client, ns, django_capture_on_commit_callbacks
):
    step = ns.steps_a[1]
    visits_halving(ns.stream_a, step)  # time in step halves after 2025-03-03
    client = _as(api_client, ns.manager_a)

    response = client.post(
        "/api/kaizen-cycles/",
        {
            "stream": ns.stream_a.pk,
            "step": step.pk,
            "title": "Book the next meeting on the call",
            "metric": "time_in_step",
            "target_value": 10,
            "target_date": "2025-07-01",
            "problem": "Deals wait for the next meeting",
            "window_days": 28,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    cycle = response.json()
    assert (cycle["phase"], cycle["owner"], cycle["direction"]) == (
        "plan",
        ns.manager_a.pk,
        "decrease",
    )
    url = f"/api/kaizen-cycles/{cycle['id']}/"
    # The baseline was measured when the plan was made (no snapshot yet: computed now).
    assert cycle["baseline_n"] is not None

    # The change starts today (it cannot start before the plan), so the Check has no
    # visits after it yet: insufficient data, ten more completed visits needed.
    response = client.post(
        url + "start-do/",
        {"change_date": "2025-06-02", "change_description": "Scheduling on the call"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["phase"] == "do"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url + "start-check/", format="json")
    assert response.status_code == 200, response.content
    assert response.json()["phase"] == "check"
    check = client.get(url).json()["check_result"]
    assert (check["verdict"], check["n_after"], check["needed_after"]) == (
        "insufficient_data",
        0,
        10,
    )

    # No evidence: moving to Act needs a written reason, named in the 400.
    response = client.post(url + "start-act/", format="json")
    assert response.status_code == 400
    assert "insufficient data" in response.json()["override_reason"][0]
    assert client.get(url).json()["phase"] == "check"
    response = client.post(
        url + "start-act/", {"override_reason": "Customers asked for it"}, format="json"
    )
    assert response.json()["phase"] == "act"
    assert response.json()["evidence_override"] == "Customers asked for it"
    response = client.post(
        url + "adopt/", {"standard": "Book on the call", "planned_value": 9.75}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["phase"], body["decision"]) == ("closed", "adopted")
    assert body["adopted_without_evidence"] is True
    assert body["adopted_standard"]["after"] == 9.75
    assert ns.future_a.steps.get(name=step.name).planned_lead_hours == 9.75


def test_the_api_check_reports_an_improvement_with_its_effect(api_client, ns):
    step = ns.steps_a[1]
    visits_halving(ns.stream_a, step)
    cycle = cycle_at(Phase.CHECK, stream=ns.stream_a, user=ns.manager_a, step=step)

    check = _as(api_client, ns.rep_a1).get(f"/api/kaizen-cycles/{cycle.pk}/").json()["check_result"]

    assert check["verdict"] == "improved"
    assert check["effect"] == pytest.approx(-0.5)
    assert (check["value_before"], check["value_after"]) == (19.5, 9.75)
    assert check["p_value"] < 0.001
    assert (check["n_before"], check["n_after"]) == (20, 20)
    assert len(check["series"]["weeks"]) == 8


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"change_date": "2025-06-03"}, "change_date"),  # tomorrow
        ({"change_date": "2025-02-19"}, "change_date"),  # before the plan (02-20)
        ({}, "change_date"),
        ({"change_date": "soon"}, "change_date"),
    ],
)
def test_a_refused_do_names_the_field(api_client, ns, body, field):
    cycle = cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    response = _as(api_client, ns.manager_a).post(
        f"/api/kaizen-cycles/{cycle.pk}/start-do/", body, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()


def test_phase_order_and_missing_reasons_are_400s_naming_the_field(api_client, ns):
    client = _as(api_client, ns.manager_a)
    plan = cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    response = client.post(f"/api/kaizen-cycles/{plan.pk}/start-act/", format="json")
    assert response.status_code == 400 and "phase" in response.json()
    act = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    response = client.post(f"/api/kaizen-cycles/{act.pk}/abandon/", {"reason": " "}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    response = client.post(
        f"/api/kaizen-cycles/{act.pk}/adopt/", {"standard": "x", "planned_value": 5}, format="json"
    )
    assert response.status_code == 400 and "planned_value" in response.json()
    response = client.patch(f"/api/kaizen-cycles/{act.pk}/", {"title": "New"}, format="json")
    assert response.status_code == 400 and "title" in response.json()
    response = client.patch(f"/api/kaizen-cycles/{act.pk}/", {"phase": "plan"}, format="json")
    assert response.status_code == 400 and "phase" in response.json()


def test_adapting_answers_the_follow_up(api_client, ns):
    act = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    response = _as(api_client, ns.manager_a).post(
        f"/api/kaizen-cycles/{act.pk}/adapt/",
        {"notes": "Shorter script", "title": "Demo script v2"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["title"], body["phase"], body["follow_up_of"]) == (
        "Demo script v2",
        "plan",
        act.pk,
    )
    closed = api_client.get(f"/api/kaizen-cycles/{act.pk}/").json()
    assert (closed["decision"], closed["follow_ups"]) == ("adapted", [body["id"]])


def test_lists_filter_by_phase_stream_owner_and_decision(api_client, ns):
    plan = cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.rep_a1, metric="win_rate")
    act = cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate")
    client = _as(api_client, ns.leader_a)

    def ids(query: str) -> set[int]:
        response = client.get("/api/kaizen-cycles/" + query)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("") == {plan.pk, act.pk}
    assert ids("?phase=act") == {act.pk}
    assert ids(f"?owner={ns.rep_a1.pk}") == {plan.pk}
    assert ids(f"?stream={ns.stream_b.pk}") == set()
    assert ids("?decision=adopted") == set()
    assert client.get("/api/kaizen-cycles/?phase=someday").status_code == 400


# --- Every endpoint, per role --------------------------------------------------------------

DENIED, HIDDEN = "denied", 404
WHO = ["manager_a", "rep_a1", "rep_a2", "leader_a", "manager_b", "anonymous"]


def _cycles(ns: SimpleNamespace) -> dict[str, KaizenCycle]:
    """rep_a1 proposed ``plan``; the others were planned by manager_a."""
    return {
        "plan": cycle_at(Phase.PLAN, stream=ns.stream_a, user=ns.rep_a1, metric="win_rate"),
        "do": cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, metric="win_rate"),
        "check": cycle_at(Phase.CHECK, stream=ns.stream_a, user=ns.manager_a, metric="win_rate"),
        "act": cycle_at(Phase.ACT, stream=ns.stream_a, user=ns.manager_a, metric="win_rate"),
    }


#: name: (method, cycle, path, body, statuses for WHO in order).
ENDPOINTS = {
    "list": ("get", None, "", None, [200, 200, 200, 200, 200, DENIED]),
    "read": ("get", "act", "", None, [200, 200, 200, 200, HIDDEN, DENIED]),
    "comments": ("get", "do", "comments/", None, [200, 200, 200, 200, HIDDEN, DENIED]),
    "create": (
        "post",
        None,
        "",
        {"stream": "stream_a", "title": "New idea", "metric": "win_rate"},
        [201, 201, 201, 403, 400, DENIED],  # another team's stream is not a choice: 400
    ),
    "edit the plan": (
        "patch",
        "plan",
        "",
        {"prediction": "More wins"},
        [200, 200, 403, 403, HIDDEN, DENIED],
    ),
    "withdraw": ("delete", "plan", "", None, [204, 204, 403, 403, HIDDEN, DENIED]),
    "start do": (
        "post",
        "plan",
        "start-do/",
        {"change_date": "2025-06-01"},
        [200, 403, 403, 403, HIDDEN, DENIED],
    ),
    "notes": ("patch", "do", "", {"do_notes": "Going well"}, [200, 403, 403, 403, HIDDEN, DENIED]),
    "start check": ("post", "do", "start-check/", {}, [200, 403, 403, 403, HIDDEN, DENIED]),
    "start act": (
        "post",
        "check",
        "start-act/",
        {"override_reason": "x"},
        [200, 403, 403, 403, HIDDEN, DENIED],
    ),
    "adopt": ("post", "act", "adopt/", {"standard": "x"}, [200, 403, 403, 403, HIDDEN, DENIED]),
    "adapt": ("post", "act", "adapt/", {"notes": "x"}, [201, 403, 403, 403, HIDDEN, DENIED]),
    "abandon": ("post", "act", "abandon/", {"reason": "x"}, [200, 403, 403, 403, HIDDEN, DENIED]),
    "comment": ("post", "do", "comments/", {"body": "Hi"}, [201, 201, 201, 403, HIDDEN, DENIED]),
}


def _stored() -> list:
    return [
        list(
            KaizenCycle.objects.order_by("pk").values_list(
                "pk", "phase", "prediction", "do_notes", "outcome"
            )
        ),
        CycleComment.objects.count(),
        CycleCheck.objects.count(),
        list(ProcessStep.objects.order_by("pk").values_list("planned_lead_hours")),
    ]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_each_endpoint_answers_each_role(api_client, ns, endpoint, who):
    method, cycle_key, path, body, statuses = ENDPOINTS[endpoint]
    expected = statuses[WHO.index(who)]
    cycles = _cycles(ns)
    url = "/api/kaizen-cycles/" + (f"{cycles[cycle_key].pk}/" if cycle_key else "") + path
    if body and body.get("stream") == "stream_a":
        body = {**body, "stream": ns.stream_a.pk}
    if who != "anonymous":
        api_client.force_authenticate(user=getattr(ns, who))
    before = _stored()

    response = getattr(api_client, method)(url, body, format="json")

    if expected == DENIED:
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == expected, response.content
    if response.status_code >= 400 or method == "get":
        assert _stored() == before
    else:
        assert _stored() != before
