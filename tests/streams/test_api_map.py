"""The map editing API: streams, lanes, steps and funnel stages, with the optimistic version lock.

``team_setup`` gives Team A a three-step map "Sales A" (one lane, "Account Executive"; steps
"Step 1" … "Step 3"; version 1; two deals at Step 1) and Team B the same as "Sales B".
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from rest_framework.test import APIClient

from streams.future_states import stream_draw_future_state
from streams.models import FunnelStage, Lane, ProcessStep, StreamState, ValueStream
from tests.factories import make_stream

pytestmark = pytest.mark.django_db

MAP_PATHS = [
    "/api/streams/",
    "/api/streams/{id}/",
    "/api/streams/{id}/draw-future-state/",
    "/api/lanes/",
    "/api/lanes/{id}/",
    "/api/steps/",
    "/api/steps/{id}/",
    "/api/steps/{id}/move/",
    "/api/stages/",
    "/api/stages/{id}/",
]


def _as(client: APIClient, user: object) -> APIClient:
    client.force_authenticate(user=user)
    return client


def _ok(response: Any, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def _map(stream: ValueStream) -> tuple:
    """Everything an edit could change, to check that a refused edit changed nothing."""
    stream.refresh_from_db()
    return (
        (stream.version, stream.name, stream.period_days, stream.updated_by_id),
        list(stream.lanes.order_by("position").values_list("id", "name", "hourly_cost")),
        list(stream.stages.order_by("position").values_list("id", "name")),
        list(
            stream.steps.order_by("position").values_list(
                "id",
                "position",
                "name",
                "lane_id",
                "stage_id",
                "planned_process_hours",
                "planned_lead_hours",
                "planned_pct_complete_accurate",
            )
        ),
    )


def _step_body(ns: SimpleNamespace, **overrides: Any) -> dict:
    return {
        "stream": ns.stream_a.id,
        "version": 1,
        "name": "Demo",
        "lane": ns.stream_a.lanes.get().id,
        "planned_process_hours": 1,
        "planned_lead_hours": 24,
    } | overrides


# --- Building a map ---------------------------------------------------------------------------


def test_it_builds_a_map_edit_by_edit_each_answering_the_next_version(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    versions = []

    created = _ok(
        client.post(
            "/api/streams/",
            {
                "team": ns.team_a.id,
                "name": "Inbound",
                "description": "Leads from the website",
                "target_won_deals_per_period": 10,
                "available_selling_hours_per_period": 400,
                "currency": "eur",
            },
            format="json",
        ),
        201,
    )
    stream_id = created["id"]
    assert (created["version"], created["stream_version"]) == (1, 1)
    assert (created["state"], created["currency"], created["planned_takt_hours"]) == (
        "current",
        "EUR",
        40,  # 400 available hours / 10 target wins
    )
    assert (created["lanes"], created["steps"], created["stages"]) == ([], [], [])
    versions.append(created["stream_version"])

    lanes = []
    for name, cost in [("SDR", "40.00"), ("Account Executive", "90.00")]:
        lane = _ok(
            client.post(
                "/api/lanes/",
                {"stream": stream_id, "version": versions[-1], "name": name, "hourly_cost": cost},
                format="json",
            ),
            201,
        )
        assert (lane["stream"], lane["name"], lane["hourly_cost"]) == (stream_id, name, cost)
        lanes.append(lane["id"])
        versions.append(lane["stream_version"])
    sdr, ae = lanes

    steps = {}
    for name, lane, pt, lt in [
        ("Inbound lead", sdr, 0.25, 4),
        ("Qualification call", sdr, 0.5, 24),
        ("Discovery", ae, 2, 72),
        ("Demo", ae, 1.5, 48),
        ("Proposal", ae, 4, 96),
        ("Negotiation", ae, 3, 120),
    ]:
        step = _ok(
            client.post(
                "/api/steps/",
                {
                    "stream": stream_id,
                    "version": versions[-1],
                    "name": name,
                    "lane": lane,
                    "planned_process_hours": pt,
                    "planned_lead_hours": lt,
                },
                format="json",
            ),
            201,
        )
        assert (step["position"], step["lane"], step["stage"]) == (len(steps) + 1, lane, None)
        steps[name] = step["id"]
        versions.append(step["stream_version"])

    moved = _ok(
        client.post(
            f"/api/steps/{steps['Demo']}/move/",
            {"version": versions[-1], "position": 3},
            format="json",
        )
    )
    assert moved["position"] == 3
    versions.append(moved["stream_version"])

    stage = _ok(
        client.post(
            "/api/stages/",
            {
                "stream": stream_id,
                "version": versions[-1],
                "name": "Qualified",
                "first_step": steps["Inbound lead"],
                "last_step": steps["Qualification call"],
            },
            format="json",
        ),
        201,
    )
    assert (stage["name"], stage["position"]) == ("Qualified", 1)
    versions.append(stage["stream_version"])

    renamed = _ok(
        client.patch(
            f"/api/lanes/{sdr}/",
            {"version": versions[-1], "name": "Sales development"},
            format="json",
        )
    )
    assert (renamed["name"], renamed["hourly_cost"]) == ("Sales development", "40.00")
    versions.append(renamed["stream_version"])

    edited = _ok(
        client.patch(
            f"/api/steps/{steps['Proposal']}/",
            {
                "version": versions[-1],
                "planned_lead_hours": 120,
                "value_class": "necessary_nva",
                "planned_wip": 7,
                "motion_waste": True,
                "notes": "Legal review",
            },
            format="json",
        )
    )
    assert (edited["planned_process_hours"], edited["planned_lead_hours"]) == (4, 120)
    assert (edited["value_class"], edited["planned_wip"], edited["motion_waste"]) == (
        "necessary_nva",
        7,
        True,
    )
    versions.append(edited["stream_version"])

    deleted = client.delete(f"/api/steps/{steps['Negotiation']}/?version={versions[-1]}")
    assert _ok(deleted) == {"stream_version": versions[-1] + 1}
    versions.append(deleted.json()["stream_version"])

    # create, 2 lanes, 6 steps, move, stage, rename, edit, delete: 14 versions, one per edit
    assert versions == list(range(1, 15))
    stream = _ok(client.get(f"/api/streams/{stream_id}/"))
    assert (stream["version"], stream["updated_by"]) == (14, "manager-a")
    assert [(lane["name"], lane["position"]) for lane in stream["lanes"]] == [
        ("Sales development", 1),
        ("Account Executive", 2),
    ]
    assert [s["name"] for s in stream["stages"]] == ["Qualified"]
    assert [(s["position"], s["name"], s["lane"], s["stage"]) for s in stream["steps"]] == [
        (1, "Inbound lead", sdr, stage["id"]),
        (2, "Qualification call", sdr, stage["id"]),
        (3, "Demo", ae, None),
        (4, "Discovery", ae, None),
        (5, "Proposal", ae, None),
    ]
    proposal = stream["steps"][4]
    assert (proposal["planned_lead_hours"], proposal["notes"]) == (120, "Legal review")
    listed = _ok(client.get("/api/steps/", {"stream": stream_id}))["results"]
    assert [s["name"] for s in listed] == [s["name"] for s in stream["steps"]]


def test_it_edits_a_stream_and_deletes_one_without_deals(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    spare = make_stream(ns.team_a, name="Spare")

    patched = _ok(
        client.patch(
            f"/api/streams/{spare.id}/",
            {"version": 1, "name": "Partner channel", "period_days": 90},
            format="json",
        )
    )
    assert (patched["name"], patched["period_days"], patched["stream_version"]) == (
        "Partner channel",
        90,
        2,
    )
    assert patched["updated_by"] == "manager-a"

    assert client.delete(f"/api/streams/{spare.id}/?version=2").status_code == 204
    assert not ValueStream.objects.filter(pk=spare.pk).exists()


def test_it_renames_and_respans_a_stage_and_deletes_it(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    s1, s2, s3 = ns.steps_a
    stage = _ok(
        client.post(
            "/api/stages/",
            {
                "stream": ns.stream_a.id,
                "version": 1,
                "name": "Lead",
                "first_step": s1.id,
                "last_step": s1.id,
            },
            format="json",
        ),
        201,
    )

    updated = _ok(
        client.patch(
            f"/api/stages/{stage['id']}/",
            {"version": 2, "name": "Qualified", "first_step": s2.id, "last_step": s3.id},
            format="json",
        )
    )
    assert (updated["name"], updated["stream_version"]) == ("Qualified", 3)
    assert list(ns.stream_a.steps.order_by("position").values_list("stage_id", flat=True)) == [
        None,
        stage["id"],
        stage["id"],
    ]

    assert _ok(client.delete(f"/api/stages/{stage['id']}/", {"version": 3})) == {
        "stream_version": 4
    }
    assert not FunnelStage.objects.filter(pk=stage["id"]).exists()
    assert not ns.stream_a.steps.filter(stage__isnull=False).exists()


# --- The version lock ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("patch", "/api/streams/STREAM/", {"name": "Renamed"}),
        ("delete", "/api/streams/SPARE/", {}),
        ("post", "/api/lanes/", {"stream": "STREAM", "name": "SDR"}),
        ("patch", "/api/lanes/LANE/", {"name": "Renamed"}),
        ("post", "/api/steps/", {"step": True}),
        ("patch", "/api/steps/STEP3/", {"planned_wip": 9}),
        ("post", "/api/steps/STEP3/move/", {"position": 1}),
        ("delete", "/api/steps/STEP3/", {}),
        (
            "post",
            "/api/stages/",
            {"stream": "STREAM", "name": "Lead", "first_step": "STEP3", "last_step": "STEP3"},
        ),
    ],
)
def test_it_answers_409_to_an_edit_based_on_an_older_version_and_saves_nothing(
    api_client: APIClient, team_setup: SimpleNamespace, method: str, url: str, body: dict
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    spare = make_stream(ns.team_a, name="Spare")
    ids = {
        "STREAM": ns.stream_a.id,
        "SPARE": spare.id,
        "LANE": ns.stream_a.lanes.get().id,
        "STEP3": ns.steps_a[2].id,
    }
    # Someone else saved first: both maps are now at version 2.
    for stream in (ns.stream_a, spare):
        _ok(client.patch(f"/api/streams/{stream.id}/", {"version": 1}, format="json"))
    if body.pop("step", False):
        body = _step_body(ns)
    body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    for key, value in ids.items():
        url = url.replace(key, str(value))
    before = [_map(ns.stream_a), _map(spare)]

    if method == "delete":
        response = client.delete(f"{url}?version=1")
    else:
        response = getattr(client, method)(url, body | {"version": 1}, format="json")

    assert response.status_code == 409, response.content
    answer = response.json()
    assert answer["current_version"] == 2
    (message,) = answer["version"]
    assert "you edited version 1, it is now version 2" in message
    assert "Nothing was saved" in message
    assert "manager-a" in message
    assert [_map(ns.stream_a), _map(spare)] == before


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("patch", "/api/streams/STREAM/", {"name": "Renamed"}),
        ("delete", "/api/streams/STREAM/", {}),
        ("post", "/api/lanes/", {"stream": "STREAM", "name": "SDR"}),
        ("patch", "/api/lanes/LANE/", {"name": "Renamed"}),
        ("delete", "/api/lanes/LANE/", {}),
        ("post", "/api/steps/", {"stream": "STREAM", "name": "New", "lane": "LANE"}),
        ("patch", "/api/steps/STEP/", {"name": "Renamed"}),
        ("post", "/api/steps/STEP/move/", {"position": 2}),
        ("delete", "/api/steps/STEP/", {}),
        (
            "post",
            "/api/stages/",
            {"stream": "STREAM", "name": "Lead", "first_step": "STEP", "last_step": "STEP"},
        ),
    ],
)
def test_it_answers_400_naming_version_when_it_is_missing(
    api_client: APIClient, team_setup: SimpleNamespace, method: str, url: str, body: dict
) -> None:
    ns = team_setup
    ids = {"STREAM": ns.stream_a.id, "LANE": ns.stream_a.lanes.get().id, "STEP": ns.steps_a[2].id}
    body = {k: ids.get(v, v) for k, v in body.items()}
    for key, value in ids.items():
        url = url.replace(key, str(value))
    before = _map(ns.stream_a)

    response = getattr(_as(api_client, ns.manager_a), method)(url, body, format="json")

    assert response.status_code == 400, response.content
    assert "version" in response.json()
    assert _map(ns.stream_a) == before


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"planned_process_hours": -1}, "planned_process_hours"),
        ({"planned_process_hours": 5, "planned_lead_hours": 4}, "planned_lead_hours"),
        ({"planned_pct_complete_accurate": 120}, "planned_pct_complete_accurate"),
        ({"name": "Step 2"}, "name"),
        ({"planned_lead_hours": "abc"}, "planned_lead_hours"),
        ({"planned_wip": "many"}, "planned_wip"),
        ({"value_class": "muda"}, "value_class"),
        ({"lane": "LANE_OF_OTHER_STREAM"}, "lane"),
        ({"lane": "LANE_OF_TEAM_B"}, "lane"),
        ({"stage": "STAGE_OF_OTHER_STREAM"}, "stage"),
        ({"position": 9}, "position"),
    ],
)
def test_it_refuses_a_bad_step_naming_the_field_and_stores_nothing(
    api_client: APIClient, team_setup: SimpleNamespace, overrides: dict, field: str
) -> None:
    ns = team_setup
    other = make_stream(ns.team_a, name="Partner channel", stages=[])
    other_stage = FunnelStage.objects.create(stream=other, name="Lead", position=1)
    ids = {
        "LANE_OF_OTHER_STREAM": other.lanes.get().id,
        "LANE_OF_TEAM_B": ns.stream_b.lanes.get().id,
        "STAGE_OF_OTHER_STREAM": other_stage.id,
    }
    overrides = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in overrides.items()}
    before = _map(ns.stream_a)
    client = _as(api_client, ns.manager_a)

    added = client.post("/api/steps/", _step_body(ns, **overrides), format="json")
    edit = {k: v for k, v in overrides.items() if k != "position"} or {"position": 9}
    edited = client.patch(f"/api/steps/{ns.steps_a[0].id}/", {"version": 1, **edit}, format="json")

    for response in (added, edited):
        assert response.status_code == 400, response.content
        assert field in response.json(), response.json()
    assert _map(ns.stream_a) == before


@pytest.mark.parametrize("field", ["first_step", "last_step"])
def test_it_refuses_a_stage_over_steps_of_another_stream_naming_the_field(
    api_client: APIClient, team_setup: SimpleNamespace, field: str
) -> None:
    ns = team_setup
    other = make_stream(ns.team_a, name="Partner channel")
    before = _map(ns.stream_a)
    body = {
        "stream": ns.stream_a.id,
        "version": 1,
        "name": "Lead",
        "first_step": ns.steps_a[0].id,
        "last_step": ns.steps_a[1].id,
    }
    client = _as(api_client, ns.manager_a)

    for foreign in (other.steps.first(), ns.steps_b[1]):
        response = client.post("/api/stages/", body | {field: foreign.id}, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json()
    assert _map(ns.stream_a) == before
    assert not FunnelStage.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "  "}, "name"),
        ({"period_days": 0}, "period_days"),
        ({"period_days": "monthly"}, "period_days"),
        ({"currency": "dollars"}, "currency"),
        ({"available_selling_hours_per_period": -1}, "available_selling_hours_per_period"),
        ({"state": "future"}, "state"),
        ({"team": "TEAM_B"}, "team"),
    ],
)
def test_it_refuses_a_bad_stream_edit_naming_the_field(
    api_client: APIClient, team_setup: SimpleNamespace, body: dict, field: str
) -> None:
    ns = team_setup
    body = {k: ns.team_b.id if v == "TEAM_B" else v for k, v in body.items()}
    before = _map(ns.stream_a)

    response = _as(api_client, ns.manager_a).patch(
        f"/api/streams/{ns.stream_a.id}/", {"version": 1, **body}, format="json"
    )

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert _map(ns.stream_a) == before


def test_it_refuses_a_second_lane_of_the_same_name_and_a_negative_cost(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    before = _map(ns.stream_a)

    twice = client.post(
        "/api/lanes/",
        {"stream": ns.stream_a.id, "version": 1, "name": "Account Executive"},
        format="json",
    )
    negative = client.patch(
        f"/api/lanes/{ns.stream_a.lanes.get().id}/",
        {"version": 1, "hourly_cost": "-5"},
        format="json",
    )

    assert (twice.status_code, list(twice.json())) == (400, ["name"])
    assert negative.status_code == 400
    assert "hourly_cost" in negative.json()
    assert _map(ns.stream_a) == before


def test_it_sends_a_step_move_to_its_own_endpoint(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    before = _map(ns.stream_a)

    response = _as(api_client, ns.manager_a).patch(
        f"/api/steps/{ns.steps_a[2].id}/", {"version": 1, "position": 1}, format="json"
    )

    assert response.status_code == 400
    assert "move/" in response.json()["position"][0]
    assert _map(ns.stream_a) == before


def test_it_refuses_deleting_a_step_deals_have_visited_naming_step(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    before = _map(ns.stream_a)

    response = _as(api_client, ns.manager_a).delete(f"/api/steps/{ns.steps_a[0].id}/?version=1")

    assert response.status_code == 400
    assert "step" in response.json()
    assert _map(ns.stream_a) == before


def test_it_refuses_deleting_a_lane_with_steps_naming_lane(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    before = _map(ns.stream_a)

    response = _as(api_client, ns.manager_a).delete(
        f"/api/lanes/{ns.stream_a.lanes.get().id}/?version=1"
    )

    assert response.status_code == 400
    assert "lane" in response.json()
    assert _map(ns.stream_a) == before


def test_it_refuses_deleting_a_map_with_deals_naming_stream(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    response = _as(api_client, ns.manager_a).delete(f"/api/streams/{ns.stream_a.id}/?version=1")

    assert response.status_code == 400
    assert "stream" in response.json()
    assert ValueStream.objects.filter(pk=ns.stream_a.pk).exists()


def test_it_stores_markup_in_names_verbatim_and_answers_json(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    markup = '<script>alert("x")</script><b>Demo</b> & more'
    client = _as(api_client, ns.manager_a)

    response = client.post("/api/steps/", _step_body(ns, name=markup, notes=markup), format="json")
    lane = client.patch(
        f"/api/lanes/{ns.stream_a.lanes.get().id}/", {"version": 2, "name": markup}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/json"
    assert (response.json()["name"], response.json()["notes"]) == (markup, markup)
    assert _ok(lane)["name"] == markup
    assert ProcessStep.objects.get(pk=response.json()["id"]).name == markup
    assert Lane.objects.get(stream=ns.stream_a).name == markup
    stream = _ok(client.get(f"/api/streams/{ns.stream_a.id}/"))
    assert stream["steps"][-1]["name"] == markup


def test_it_keeps_a_chosen_stage_or_refuses_it_naming_stage(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    s1, s2, _ = ns.steps_a
    stage = _ok(
        client.post(
            "/api/stages/",
            {
                "stream": ns.stream_a.id,
                "version": 1,
                "name": "Lead",
                "first_step": s1.id,
                "last_step": s2.id,
            },
            format="json",
        ),
        201,
    )
    before = _map(ns.stream_a)

    # At the end the step would sit after Step 3, which is in no stage: refused, not moved
    # silently out of the stage it was given.
    apart = client.post("/api/steps/", _step_body(ns, version=2, stage=stage["id"]), format="json")
    assert apart.status_code == 400, apart.content
    assert "stage" in apart.json()
    assert _map(ns.stream_a) == before

    inside = _ok(
        client.post(
            "/api/steps/",
            _step_body(ns, version=2, stage=stage["id"], position=2, name="Inside"),
            format="json",
        ),
        201,
    )
    # Without a stage, a step added inside one joins it, so the stage stays in one piece.
    joined = _ok(
        client.post(
            "/api/steps/", _step_body(ns, version=3, position=2, name="Joined"), format="json"
        ),
        201,
    )
    assert (inside["stage"], joined["stage"]) == (stage["id"], stage["id"])
    assert list(ns.stream_a.steps.order_by("position").values_list("name", "stage_id")) == [
        ("Step 1", stage["id"]),
        ("Joined", stage["id"]),
        ("Inside", stage["id"]),
        ("Step 2", stage["id"]),
        ("Step 3", None),
    ]


# --- Future states ------------------------------------------------------------------------


def test_it_draws_a_linked_future_state_and_picks_a_free_name_the_second_time(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    url = f"/api/streams/{ns.stream_a.id}/draw-future-state/"

    # A future state of the default name exists already (another map's copy): a free name.
    stream_draw_future_state(stream=ns.stream_a)
    ns.stream_a.future_states.all().update(drawn_from=None)
    first = _ok(client.post(url, {}, format="json"), 201)
    # One linked future state per map: asked again, the same one is answered.
    again = _ok(client.post(url, {"name": "Other"}, format="json"), 200)
    assert again["id"] == first["id"]
    # A second one only on purpose, under a name of its own.
    refused = client.post(url, {"another": True, "name": "Sales A — future state"}, format="json")
    assert refused.status_code == 400 and "already has a future state" in str(refused.json())
    assert client.post(url, {"another": True}, format="json").status_code == 400
    second = _ok(client.post(url, {"another": True, "name": "Trials"}, format="json"), 201)

    assert [d["name"] for d in (first, second)] == ["Sales A — future state (2)", "Trials"]
    for drawn in (first, second):
        assert (drawn["state"], drawn["drawn_from"], drawn["team"]) == (
            StreamState.FUTURE,
            ns.stream_a.id,
            ns.team_a.id,
        )
        assert drawn["stream_version"] == 1
        assert [(s["position"], s["name"]) for s in drawn["steps"]] == [
            (1, "Step 1"),
            (2, "Step 2"),
            (3, "Step 3"),
        ]
        assert {s["id"] for s in drawn["steps"]}.isdisjoint(s.id for s in ns.steps_a)
    from_future = client.post(f"/api/streams/{first['id']}/draw-future-state/", {}, format="json")
    assert from_future.status_code == 400
    assert "stream" in from_future.json()


def test_it_keeps_a_free_future_state_name_within_the_name_length(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    long_name = "x" * 120
    stream = make_stream(ns.team_a, name=long_name)
    client = _as(api_client, ns.manager_a)
    url = f"/api/streams/{stream.id}/draw-future-state/"

    stream_draw_future_state(stream=stream)
    stream.future_states.all().update(drawn_from=None)
    name = _ok(client.post(url, {}, format="json"), 201)["name"]

    # "x…x — future state" (the suffix kept within 120 characters), then made free.
    assert name == ("x" * 105 + " — future state")[:116] + " (2)"


# --- Who may do what ----------------------------------------------------------------------


def _every_write(ns: SimpleNamespace) -> list[tuple[str, str, dict]]:
    stream, lane, step = ns.stream_a.id, ns.stream_a.lanes.get().id, ns.steps_a[2].id
    stage = ns.stage_a.id
    return [
        ("post", "/api/streams/", {"team": ns.team_a.id, "name": "Mine"}),
        ("patch", f"/api/streams/{stream}/", {"version": 1, "name": "Mine"}),
        ("delete", f"/api/streams/{stream}/?version=1", {}),
        ("post", f"/api/streams/{stream}/draw-future-state/", {}),
        ("post", "/api/lanes/", {"stream": stream, "version": 1, "name": "SDR"}),
        ("patch", f"/api/lanes/{lane}/", {"version": 1, "name": "SDR"}),
        ("delete", f"/api/lanes/{lane}/?version=1", {}),
        ("post", "/api/steps/", _step_body(ns)),
        ("patch", f"/api/steps/{step}/", {"version": 1, "name": "Mine"}),
        ("post", f"/api/steps/{step}/move/", {"version": 1, "position": 1}),
        ("delete", f"/api/steps/{step}/?version=1", {}),
        (
            "post",
            "/api/stages/",
            {"stream": stream, "version": 1, "name": "X", "first_step": step, "last_step": step},
        ),
        ("patch", f"/api/stages/{stage}/", {"version": 1, "name": "Mine"}),
        ("delete", f"/api/stages/{stage}/?version=1", {}),
    ]


def _reads(ns: SimpleNamespace) -> list[str]:
    return [
        f"/api/streams/{ns.stream_a.id}/",
        f"/api/lanes/{ns.stream_a.lanes.get().id}/",
        f"/api/steps/{ns.steps_a[0].id}/",
        f"/api/stages/{ns.stage_a.id}/",
    ]


@pytest.fixture
def with_stage(team_setup: SimpleNamespace) -> SimpleNamespace:
    """``team_setup`` plus a funnel stage "Lead" over Step 1 of Sales A (version stays 1)."""
    ns = team_setup
    ns.stage_a = FunnelStage.objects.create(stream=ns.stream_a, name="Lead", position=1)
    ns.steps_a[0].stage = ns.stage_a
    ns.steps_a[0].save()
    return ns


@pytest.mark.parametrize("who", ["rep_a1", "leader_a"])
def test_it_refuses_reps_and_leadership_every_write_but_lets_them_read(
    api_client: APIClient, with_stage: SimpleNamespace, who: str
) -> None:
    ns = with_stage
    client = _as(api_client, getattr(ns, who))
    streams_before = ValueStream.objects.count()
    before = _map(ns.stream_a)

    for method, url, body in _every_write(ns):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.content)
        assert "manager" in response.json()["detail"]

    assert _map(ns.stream_a) == before
    assert ValueStream.objects.count() == streams_before
    for url in _reads(ns):
        _ok(client.get(url))
    assert len(_ok(client.get("/api/steps/", {"stream": ns.stream_a.id}))["results"]) == 3


def test_it_answers_404_to_a_user_of_another_team(
    api_client: APIClient, with_stage: SimpleNamespace
) -> None:
    ns = with_stage
    client = _as(api_client, ns.manager_b)
    before = _map(ns.stream_a)

    for url in _reads(ns):
        assert client.get(url).status_code == 404, url
    for method, url, body in _every_write(ns):
        response = getattr(client, method)(url, body, format="json")
        if method == "post" and url.count("/") == 3:  # creating: the body names team A's map
            assert response.status_code == 400, (url, response.content)
            assert {"team", "stream"} & set(response.json()), response.json()
        else:
            assert response.status_code == 404, (method, url, response.content)
    for part in ("lanes", "steps", "stages"):
        assert _ok(client.get(f"/api/{part}/", {"stream": ns.stream_a.id}))["results"] == []
    assert _map(ns.stream_a) == before


def test_it_lets_only_the_teams_managers_create_a_map_in_it(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    body = {"team": ns.team_a.id, "name": "Outbound"}

    rep = _as(api_client, ns.rep_a1).post("/api/streams/", body, format="json")
    outsider = _as(api_client, ns.manager_b).post("/api/streams/", body, format="json")

    assert rep.status_code == 403
    assert outsider.status_code == 400
    assert "team" in outsider.json()
    assert not ValueStream.objects.filter(name="Outbound").exists()


def test_it_lets_an_admin_edit_any_teams_map(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    ns.rep_b.is_staff = True
    ns.rep_b.save()

    response = _as(api_client, ns.rep_b).patch(
        f"/api/lanes/{ns.stream_a.lanes.get().id}/", {"version": 1, "name": "AE"}, format="json"
    )

    assert _ok(response)["stream_version"] == 2


# --- Schema -------------------------------------------------------------------------------


def test_it_documents_every_map_path_with_its_409(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    response = _as(api_client, team_setup.rep_a1).get("/api/schema/", {"format": "json"})

    paths = _ok(response)["paths"]
    for path in MAP_PATHS:
        assert path in paths, path
    for part in ("lanes", "steps", "stages"):
        assert {"get", "patch", "delete"} <= set(paths[f"/api/{part}/{{id}}/"])
        assert "put" not in paths[f"/api/{part}/{{id}}/"]
        assert "409" in paths[f"/api/{part}/{{id}}/"]["patch"]["responses"]
    assert "409" in paths["/api/steps/{id}/move/"]["post"]["responses"]
    assert {"get", "patch", "delete"} <= set(paths["/api/streams/{id}/"])
