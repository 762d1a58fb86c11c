"""The REST API: schema and docs, per-role permissions, and refusal of bad input.

Every time sent is explicit, timezone-aware and in the past (``team_setup.t`` is 2025-01-06
09:00 UTC, when the fixture's deals entered step 1), so no test depends on the wall clock.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from funnel.models import Deal, DealStatus, Visit
from tests.factories import DealFactory, VisitFactory, make_stream

pytestmark = pytest.mark.django_db

API_PATHS = [
    "/api/teams/",
    "/api/teams/{id}/",
    "/api/streams/",
    "/api/streams/{id}/",
    "/api/deals/",
    "/api/deals/{id}/",
    "/api/deals/{id}/move/",
    "/api/deals/{id}/log-work/",
    "/api/deals/{id}/close/",
    "/api/visits/",
    "/api/visits/{id}/",
]


def _as(client: APIClient, user: object) -> APIClient:
    client.force_authenticate(user=user)
    return client


def _ids(response: object) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def _iso(ns: SimpleNamespace, days: float) -> str:
    return (ns.t + timedelta(days=days)).isoformat()


# --- Schema and docs ----------------------------------------------------------------------


def test_it_serves_a_schema_naming_every_api_path(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    response = _as(api_client, team_setup.rep_a1).get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in API_PATHS:
        assert path in paths, path
    assert {"get", "patch"} <= set(paths["/api/deals/{id}/"])
    assert not {"put", "delete"} & set(paths["/api/deals/{id}/"])


def test_it_serves_swagger_ui_from_local_static_only(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    api_client.force_login(team_setup.rep_a1)
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), html
    assert "http://" not in html
    assert "https://" not in html


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_it_keeps_the_schema_and_docs_from_anonymous_users(api_client: APIClient, url: str) -> None:
    assert api_client.get(url).status_code in (401, 403)


# --- Teams and streams --------------------------------------------------------------------


def test_it_lists_the_users_teams_with_their_role(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    response = _as(api_client, ns.leader_a).get("/api/teams/")

    assert response.status_code == 200
    assert [(t["name"], t["role"]) for t in response.json()["results"]] == [
        ("Team A", "leadership")
    ]


def test_it_lists_streams_with_their_lanes_stages_and_planned_steps(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    response = _as(api_client, ns.rep_a1).get("/api/streams/")

    assert response.status_code == 200
    (stream,) = response.json()["results"]
    assert stream["id"] == ns.stream_a.id
    assert [lane["name"] for lane in stream["lanes"]] == ["Account Executive"]
    assert stream["stages"] == []
    assert [(s["position"], s["name"]) for s in stream["steps"]] == [
        (1, "Step 1"),
        (2, "Step 2"),
        (3, "Step 3"),
    ]
    assert stream["steps"][0]["planned_process_hours"] == 1
    assert stream["steps"][0]["planned_lead_hours"] == 8


def test_it_filters_streams_by_team_and_state(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    future = make_stream(ns.team_a, name="Sales A", state="future")
    client = _as(api_client, ns.manager_a)

    assert _ids(client.get("/api/streams/", {"state": "future"})) == {future.id}
    assert _ids(client.get("/api/streams/", {"team": ns.team_a.id})) == {ns.stream_a.id, future.id}
    assert _ids(client.get("/api/streams/", {"team": ns.team_b.id})) == set()


# --- Who sees what ------------------------------------------------------------------------


def test_it_lists_only_a_reps_own_deals(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    ns = team_setup
    client = _as(api_client, ns.rep_a1)

    assert _ids(client.get("/api/deals/")) == {ns.deal_a1.id}
    assert _ids(client.get("/api/visits/")) == set(ns.deal_a1.visits.values_list("id", flat=True))


def test_it_answers_404_to_a_rep_reading_another_reps_deal(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    response = _as(api_client, ns.rep_a1).get(f"/api/deals/{ns.deal_a2.id}/")

    assert response.status_code == 404


def test_it_does_not_let_a_rep_move_another_reps_deal(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    response = _as(api_client, ns.rep_a1).post(
        f"/api/deals/{ns.deal_a2.id}/move/",
        {"step": ns.steps_a[1].id, "at": _iso(ns, 2)},
        format="json",
    )

    assert response.status_code == 404
    assert ns.deal_a2.visits.count() == 1


def test_it_lets_leadership_read_everything_of_its_team(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.leader_a)

    assert _ids(client.get("/api/deals/")) == {ns.deal_a1.id, ns.deal_a2.id}
    assert client.get(f"/api/deals/{ns.deal_a2.id}/").status_code == 200
    assert _ids(client.get("/api/streams/")) == {ns.stream_a.id}
    assert _ids(client.get("/api/visits/")) == set(
        Visit.objects.filter(deal__stream=ns.stream_a).values_list("id", flat=True)
    )


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", {"name": "Renamed"}),
        ("post", "move/", {"step": "STEP2", "at": "LATER"}),
        ("post", "log-work/", {"minutes": 30}),
        ("post", "close/", {"outcome": "won", "at": "LATER"}),
    ],
)
def test_it_refuses_leadership_changing_a_deal(
    api_client: APIClient, team_setup: SimpleNamespace, method: str, suffix: str, body: dict
) -> None:
    ns = team_setup
    body = {k: {"STEP2": ns.steps_a[1].id, "LATER": _iso(ns, 2)}.get(v, v) for k, v in body.items()}
    response = getattr(_as(api_client, ns.leader_a), method)(
        f"/api/deals/{ns.deal_a1.id}/{suffix}", body, format="json"
    )

    assert response.status_code == 403
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.name != "Renamed"
    assert ns.deal_a1.status == DealStatus.OPEN
    assert ns.deal_a1.visits.count() == 1
    assert ns.deal_a1.visits.get().work_minutes is None


def test_it_refuses_leadership_creating_a_deal(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    before = Deal.objects.count()
    response = _as(api_client, ns.leader_a).post(
        "/api/deals/",
        {"stream": ns.stream_a.id, "name": "New", "created_at": _iso(ns, 1)},
        format="json",
    )

    assert response.status_code == 403
    assert Deal.objects.count() == before


@pytest.mark.parametrize("who", ["manager_a", "rep_a1", "rep_a2", "leader_a"])
def test_it_shows_team_a_nothing_of_team_b(
    api_client: APIClient, team_setup: SimpleNamespace, who: str
) -> None:
    ns = team_setup
    client = _as(api_client, getattr(ns, who))

    assert ns.deal_b.id not in _ids(client.get("/api/deals/"))
    assert _ids(client.get("/api/deals/", {"stream": ns.stream_b.id})) == set()
    assert client.get(f"/api/deals/{ns.deal_b.id}/").status_code == 404
    assert ns.stream_b.id not in _ids(client.get("/api/streams/"))
    assert client.get(f"/api/streams/{ns.stream_b.id}/").status_code == 404
    assert ns.team_b.id not in _ids(client.get("/api/teams/"))
    assert client.get(f"/api/teams/{ns.team_b.id}/").status_code == 404
    assert _ids(client.get("/api/visits/", {"deal": ns.deal_b.id})) == set()
    visit_b = ns.deal_b.visits.get()
    assert client.get(f"/api/visits/{visit_b.id}/").status_code == 404
    move = client.post(
        f"/api/deals/{ns.deal_b.id}/move/",
        {"step": ns.steps_b[1].id, "at": _iso(ns, 2)},
        format="json",
    )
    assert move.status_code == 404


def test_it_lets_an_admin_see_every_team(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    ns.manager_b.is_staff = True
    ns.manager_b.save()
    client = _as(api_client, ns.manager_b)

    teams = {t["name"]: t["role"] for t in client.get("/api/teams/").json()["results"]}
    assert teams == {"Team A": "admin", "Team B": "manager"}
    assert _ids(client.get("/api/deals/")) == {ns.deal_a1.id, ns.deal_a2.id, ns.deal_b.id}


# --- Writes that are allowed --------------------------------------------------------------


def test_it_lets_a_manager_move_log_work_on_and_close_a_team_deal(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    url = f"/api/deals/{ns.deal_a1.id}/"

    moved = client.post(url + "move/", {"step": ns.steps_a[1].id, "at": _iso(ns, 2)}, format="json")
    assert moved.status_code == 200, moved.content
    assert moved.json()["current_step"] == ns.steps_a[1].id

    logged = client.post(url + "log-work/", {"minutes": 45}, format="json")
    assert logged.status_code == 200, logged.content
    assert ns.deal_a1.visits.get(exited_at__isnull=True).work_minutes == 45

    closed = client.post(url + "close/", {"outcome": "won", "at": _iso(ns, 5)}, format="json")
    assert closed.status_code == 200, closed.content
    body = closed.json()
    assert (body["status"], body["current_step"]) == ("won", None)
    assert body["closed_at"].startswith("2025-01-11T09:00:00")
    # Step 1 from day 0 to 2, step 2 from day 2 to the close on day 5.
    assert list(ns.deal_a1.visits.order_by("entered_at").values_list("step_id", "exited_at")) == [
        (ns.steps_a[0].id, ns.t + timedelta(days=2)),
        (ns.steps_a[1].id, ns.t + timedelta(days=5)),
    ]


def test_it_lets_a_rep_move_and_close_their_own_deal_as_lost(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.rep_a1)
    url = f"/api/deals/{ns.deal_a1.id}/"

    assert (
        client.post(
            url + "move/", {"step": ns.steps_a[2].id, "at": _iso(ns, 1)}, format="json"
        ).status_code
        == 200
    )
    closed = client.post(
        url + "close/",
        {"outcome": "lost", "at": _iso(ns, 3), "lost_reason": "Went with a competitor"},
        format="json",
    )

    assert closed.status_code == 200, closed.content
    assert (closed.json()["status"], closed.json()["lost_reason"]) == (
        "lost",
        "Went with a competitor",
    )


def test_it_lets_a_manager_create_a_deal_for_a_rep_of_the_team(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    response = _as(api_client, ns.manager_a).post(
        "/api/deals/",
        {
            "stream": ns.stream_a.id,
            "name": "Acme renewal",
            "account": "Acme",
            "amount": "12500.00",
            "owner": ns.rep_a2.id,
            "created_at": _iso(ns, 1),
            "first_step": ns.steps_a[0].id,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    deal = Deal.objects.get(pk=response.json()["id"])
    assert (deal.owner, deal.amount, deal.status) == (ns.rep_a2, Decimal("12500.00"), "open")
    assert response.json()["current_step"] == ns.steps_a[0].id
    assert deal.visits.get().actor == ns.manager_a


def test_it_makes_a_rep_the_owner_of_the_deal_they_create(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    response = _as(api_client, ns.rep_a1).post(
        "/api/deals/",
        {"stream": ns.stream_a.id, "name": "Globex", "created_at": _iso(ns, 1)},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["owner"] == ns.rep_a1.id


def test_it_refuses_a_rep_creating_a_deal_for_someone_else(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    before = Deal.objects.count()
    response = _as(api_client, ns.rep_a1).post(
        "/api/deals/",
        {"stream": ns.stream_a.id, "name": "Globex", "owner": ns.rep_a2.id},
        format="json",
    )

    assert response.status_code == 403
    assert Deal.objects.count() == before


def test_it_refuses_a_deal_in_another_teams_stream_or_for_its_people(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    before = Deal.objects.count()

    other_stream = client.post(
        "/api/deals/", {"stream": ns.stream_b.id, "name": "X"}, format="json"
    )
    other_owner = client.post(
        "/api/deals/", {"stream": ns.stream_a.id, "name": "X", "owner": ns.rep_b.id}, format="json"
    )

    assert other_stream.status_code == 400
    assert "stream" in other_stream.json()
    assert other_owner.status_code == 400
    assert "owner" in other_owner.json()
    assert Deal.objects.count() == before


def test_it_lets_the_owning_rep_edit_a_deal_but_not_its_owner(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.rep_a1)
    url = f"/api/deals/{ns.deal_a1.id}/"

    edited = client.patch(url, {"name": "Acme expansion", "amount": "900.50"}, format="json")
    reassigned = client.patch(url, {"owner": ns.rep_a2.id}, format="json")
    other = client.patch(f"/api/deals/{ns.deal_a2.id}/", {"name": "Mine now"}, format="json")

    assert edited.status_code == 200, edited.content
    assert (edited.json()["name"], edited.json()["amount"]) == ("Acme expansion", "900.50")
    assert reassigned.status_code == 400
    assert "owner" in reassigned.json()
    assert other.status_code == 404
    ns.deal_a1.refresh_from_db()
    ns.deal_a2.refresh_from_db()
    assert ns.deal_a1.owner == ns.rep_a1
    assert ns.deal_a2.name != "Mine now"


def test_it_offers_no_put_or_delete(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    url = f"/api/deals/{ns.deal_a1.id}/"

    assert client.put(url, {"name": "X"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert Deal.objects.filter(pk=ns.deal_a1.pk).exists()


def test_it_filters_and_orders_deals(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    ns = team_setup
    won = DealFactory(
        stream=ns.stream_a, owner=ns.rep_a1, created_at=ns.t - timedelta(days=30), won=True
    )
    client = _as(api_client, ns.manager_a)

    assert _ids(client.get("/api/deals/", {"status": "won"})) == {won.id}
    assert _ids(client.get("/api/deals/", {"owner": ns.rep_a1.id})) == {ns.deal_a1.id, won.id}
    assert _ids(client.get("/api/deals/", {"created_at_before": _iso(ns, -1)})) == {won.id}
    assert _ids(client.get("/api/deals/", {"closed_at_after": _iso(ns, -30), "status": "won"})) == {
        won.id
    }
    ordered = client.get("/api/deals/", {"ordering": "created_at"}).json()["results"]
    assert ordered[0]["id"] == won.id
    assert client.get("/api/deals/").json()["count"] == 3


def test_it_filters_visits_by_stream_and_entry_time(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    client.post(
        f"/api/deals/{ns.deal_a1.id}/move/",
        {"step": ns.steps_a[1].id, "at": _iso(ns, 2)},
        format="json",
    )

    in_a = _ids(client.get("/api/visits/", {"stream": ns.stream_a.id}))
    later = _ids(client.get("/api/visits/", {"entered_at_after": _iso(ns, 1)}))

    assert len(in_a) == 3
    assert later == set(Visit.objects.filter(step=ns.steps_a[1]).values_list("id", flat=True))


# --- Authentication -----------------------------------------------------------------------


def test_it_accepts_a_token(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    ns = team_setup
    token = Token.objects.create(user=ns.rep_a1)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert _ids(api_client.get("/api/deals/")) == {ns.deal_a1.id}


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/deals/"),
        ("get", "/api/streams/"),
        ("get", "/api/teams/"),
        ("get", "/api/visits/"),
        ("post", "DEAL/move/"),
    ],
)
def test_it_refuses_anonymous_requests(
    api_client: APIClient, team_setup: SimpleNamespace, method: str, url: str
) -> None:
    url = url.replace("DEAL/", f"/api/deals/{team_setup.deal_a1.id}/")
    response = getattr(api_client, method)(url, {}, format="json")

    assert response.status_code in (401, 403)


def test_it_refuses_a_wrong_token(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert api_client.get("/api/deals/").status_code in (401, 403)


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [
        "not-a-date",
        "2025-01-08T09:00:00",  # naive: no time zone
        "2025-01-08",  # a date is not a time
        "2999-01-01T00:00:00+00:00",  # in the future
        "2025-01-05T09:00:00+00:00",  # before the deal entered its current step
    ],
)
def test_it_refuses_a_move_at_a_bad_time_naming_at(
    api_client: APIClient, team_setup: SimpleNamespace, at: str
) -> None:
    ns = team_setup
    visits_before = list(Visit.objects.values_list("id", "exited_at"))
    response = _as(api_client, ns.manager_a).post(
        f"/api/deals/{ns.deal_a1.id}/move/", {"step": ns.steps_a[1].id, "at": at}, format="json"
    )

    assert response.status_code == 400
    assert "at" in response.json()
    assert list(Visit.objects.values_list("id", "exited_at")) == visits_before


@pytest.mark.parametrize("at", ["not-a-date", "2025-01-08T09:00:00", "2999-01-01T00:00:00Z"])
def test_it_refuses_a_close_at_a_bad_time_naming_at(
    api_client: APIClient, team_setup: SimpleNamespace, at: str
) -> None:
    ns = team_setup
    response = _as(api_client, ns.manager_a).post(
        f"/api/deals/{ns.deal_a1.id}/close/", {"outcome": "won", "at": at}, format="json"
    )

    assert response.status_code == 400
    assert "at" in response.json()
    ns.deal_a1.refresh_from_db()
    assert (ns.deal_a1.status, ns.deal_a1.closed_at) == (DealStatus.OPEN, None)


def test_it_refuses_a_deal_created_in_the_future_naming_created_at(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    before = Deal.objects.count()
    response = _as(api_client, ns.manager_a).post(
        "/api/deals/",
        {"stream": ns.stream_a.id, "name": "X", "created_at": "2999-01-01T00:00:00+00:00"},
        format="json",
    )

    assert response.status_code == 400
    assert "created_at" in response.json()
    assert Deal.objects.count() == before


def test_it_refuses_a_move_to_a_step_of_another_stream_naming_step(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    other_stream_of_team = make_stream(ns.team_a, name="Partner channel")
    client = _as(api_client, ns.manager_a)
    visits_before = Visit.objects.count()

    for step in (other_stream_of_team.steps.first(), ns.steps_b[1]):
        response = client.post(
            f"/api/deals/{ns.deal_a1.id}/move/", {"step": step.id, "at": _iso(ns, 2)}, format="json"
        )
        assert response.status_code == 400
        assert "step" in response.json()
    assert Visit.objects.count() == visits_before
    assert ns.deal_a1.visits.get().exited_at is None


def test_it_refuses_a_move_to_the_current_step(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    response = _as(api_client, ns.manager_a).post(
        f"/api/deals/{ns.deal_a1.id}/move/",
        {"step": ns.steps_a[0].id, "at": _iso(ns, 2)},
        format="json",
    )

    assert response.status_code == 400
    assert "step" in response.json()
    assert ns.deal_a1.visits.count() == 1


def test_it_refuses_an_unknown_outcome(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    ns = team_setup
    response = _as(api_client, ns.manager_a).post(
        f"/api/deals/{ns.deal_a1.id}/close/", {"outcome": "maybe", "at": _iso(ns, 2)}, format="json"
    )

    assert response.status_code == 400
    assert "outcome" in response.json()
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.OPEN
    assert ns.deal_a1.visits.get().exited_at is None


def test_it_refuses_moving_a_closed_deal(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    url = f"/api/deals/{ns.deal_a1.id}/"
    client.post(url + "close/", {"outcome": "lost", "at": _iso(ns, 2)}, format="json")
    visits_before = Visit.objects.count()

    response = client.post(
        url + "move/", {"step": ns.steps_a[1].id, "at": _iso(ns, 3)}, format="json"
    )

    assert response.status_code == 400
    assert "deal" in response.json()
    assert Visit.objects.count() == visits_before


@pytest.mark.parametrize("minutes", [-5, 0, "lots", 100_000])
def test_it_refuses_bad_minutes_naming_minutes(
    api_client: APIClient, team_setup: SimpleNamespace, minutes: object
) -> None:
    ns = team_setup
    response = _as(api_client, ns.rep_a1).post(
        f"/api/deals/{ns.deal_a1.id}/log-work/", {"minutes": minutes}, format="json"
    )

    assert response.status_code == 400
    assert "minutes" in response.json()
    assert ns.deal_a1.visits.get().work_minutes is None


def test_it_refuses_logging_work_on_a_deal_at_no_step_naming_visit(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    deal = DealFactory(stream=ns.stream_a, owner=ns.rep_a1)
    VisitFactory(deal=deal, step=ns.steps_a[0], exited=True)
    visits_before = list(Visit.objects.values_list("id", "work_minutes", "exited_at"))

    response = _as(api_client, ns.rep_a1).post(
        f"/api/deals/{deal.id}/log-work/", {"minutes": 30}, format="json"
    )

    assert response.status_code == 400
    assert "visit" in response.json()
    assert list(Visit.objects.values_list("id", "work_minutes", "exited_at")) == visits_before


def test_it_refuses_a_negative_amount_naming_amount(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    client = _as(api_client, ns.manager_a)

    patched = client.patch(f"/api/deals/{ns.deal_a1.id}/", {"amount": "-1"}, format="json")
    created = client.post(
        "/api/deals/", {"stream": ns.stream_a.id, "name": "X", "amount": "-1"}, format="json"
    )

    assert patched.status_code == 400
    assert "amount" in patched.json()
    assert created.status_code == 400
    assert "amount" in created.json()
