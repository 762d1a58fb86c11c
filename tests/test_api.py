"""The REST API: schema and docs, per-role permissions, and refusal of bad input.

Every time sent is explicit, timezone-aware and in the past (``team_setup.t`` is 2025-01-06
09:00 UTC, when the fixture's deals entered step 1), so no test depends on the wall clock.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from funnel.api import EventLogPagination
from funnel.eventlog.services import deal_move
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
    "/api/events/bulk/",
    "/api/calendars/",
    "/api/calendars/{id}/",
    "/api/calendars/{id}/strip/",
    "/api/lanes/{id}/calendar/",
    "/api/streams/{id}/waterfall/",
    "/api/handoff-reasons/",
    "/api/handoff-reasons/{id}/",
    "/api/handoff-reasons/{id}/retire/",
    "/api/seller-limits/",
    "/api/seller-limits/{id}/",
    "/api/handoffs/decide/",
    "/api/handoffs/pull/",
    "/api/handoffs/board/",
    "/api/handoffs/queue/",
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


# --- Every endpoint, per role -------------------------------------------------------------

#: Who calls: the team's manager, the rep owning deal_a1, another rep of the team,
#: leadership, a manager of another team, nobody signed in, and rep_a1 by token.
WHO = ["manager_a", "rep_a1", "rep_a2", "leader_a", "manager_b", "anonymous", "token"]
DENIED = "401 or 403"
_TARGET_DEAL = "/api/deals/A1/"

ENDPOINTS: dict[str, tuple[str, str, Any, list[int | str]]] = {
    # name: (method, url, body, expected status per WHO)
    "retrieve deal": ("get", _TARGET_DEAL, None, [200, 200, 404, 200, 404, DENIED, 200]),
    "edit deal": (
        "patch", _TARGET_DEAL, {"name": "Renamed"}, [200, 200, 404, 403, 404, DENIED, 200]
    ),
    "move": (
        "post", _TARGET_DEAL + "move/", {"step": "S2", "at": "T+2"},
        [200, 200, 404, 403, 404, DENIED, 200],
    ),
    "log work": (
        "post", _TARGET_DEAL + "log-work/", {"minutes": 30}, [200, 200, 404, 403, 404, DENIED, 200]
    ),
    "close": (
        "post", _TARGET_DEAL + "close/", {"outcome": "won", "at": "T+2"},
        [200, 200, 404, 403, 404, DENIED, 200],
    ),
    "create deal": (
        "post", "/api/deals/", {"stream": "SA", "name": "New", "created_at": "T+1"},
        [201, 201, 201, 403, 400, DENIED, 201],
    ),
    "retrieve visit": ("get", "/api/visits/V1/", None, [200, 200, 404, 200, 404, DENIED, 200]),
    "bulk move": (
        "post", "/api/events/bulk/",
        {"events": [{"type": "move", "deal": "A1", "step": "S2", "at": "T+2"}]},
        [200, 200, 400, 403, 400, DENIED, 200],
    ),
    "bulk create": (
        "post", "/api/events/bulk/",
        {"events": [{"type": "create_deal", "stream": "SA", "external_id": "NEW-9",
                     "name": "New", "created_at": "T+1"}]},
        [200, 200, 200, 403, 400, DENIED, 200],
    ),
}  # fmt: skip


def _client_for(api_client: APIClient, ns: SimpleNamespace, who: str) -> APIClient:
    if who == "token":
        token = Token.objects.create(user=ns.rep_a1)
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    elif who != "anonymous":
        api_client.force_authenticate(user=getattr(ns, who))
    return api_client


def _resolve(ns: SimpleNamespace, value: Any) -> Any:
    """Placeholders of the tables: A1/A2/B deals, SA/SA2/SB streams, S1-S3 steps of stream A,
    V1 deal_a1's visit, REP_A1, and ``T±days`` times (``team_setup.t`` plus days)."""
    if isinstance(value, dict):
        return {key: _resolve(ns, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(ns, item) for item in value]
    if not isinstance(value, str):
        return value
    if match := re.fullmatch(r"T([+-][\d.]+)?", value):
        return _iso(ns, float(match.group(1) or 0))
    names = {
        "A1": lambda: ns.deal_a1.id,
        "A2": lambda: ns.deal_a2.id,
        "B": lambda: ns.deal_b.id,
        "SA": lambda: ns.stream_a.id,
        "SA2": lambda: ns.stream_a2.id,
        "SB": lambda: ns.stream_b.id,
        "S1": lambda: ns.steps_a[0].id,
        "S2": lambda: ns.steps_a[1].id,
        "S3": lambda: ns.steps_a[2].id,
        "V1": lambda: ns.deal_a1.visits.get().id,
        "REP_A1": lambda: ns.rep_a1.id,
    }
    if value.startswith("/"):
        return re.sub(r"(?<=/)[A-Z][A-Z0-9_]*(?=/)", lambda m: str(names[m.group()]()), value)
    return names[value]() if value in names else value


def _stored() -> tuple[list, list]:
    deals = list(Deal.objects.order_by("id").values_list("id", "name", "status", "closed_at"))
    visits = list(
        Visit.objects.order_by("id").values_list("id", "step_id", "exited_at", "work_minutes")
    )
    return deals, visits


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_it_answers_each_endpoint_per_role(
    api_client: APIClient, team_setup: SimpleNamespace, endpoint: str, who: str
) -> None:
    ns = team_setup
    method, url, body, statuses = ENDPOINTS[endpoint]
    expected = statuses[WHO.index(who)]
    client = _client_for(api_client, ns, who)
    before = _stored()

    response = getattr(client, method)(_resolve(ns, url), _resolve(ns, body), format="json")

    if expected == DENIED:
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == expected, response.content
    if response.status_code >= 400 or method == "get":
        assert _stored() == before
    else:
        assert _stored() != before


@pytest.mark.parametrize(
    ("who", "deals"),
    [
        ("manager_a", {"A1", "A2"}),
        ("rep_a1", {"A1"}),
        ("rep_a2", {"A2"}),
        ("leader_a", {"A1", "A2"}),
        ("manager_b", {"B"}),
        ("token", {"A1"}),
    ],
)
def test_it_lists_the_deals_and_visits_each_role_may_see(
    api_client: APIClient, team_setup: SimpleNamespace, who: str, deals: set[str]
) -> None:
    ns = team_setup
    client = _client_for(api_client, ns, who)
    deal_ids = {_resolve(ns, name) for name in deals}

    assert _ids(client.get("/api/deals/")) == deal_ids
    assert _ids(client.get("/api/visits/")) == set(
        Visit.objects.filter(deal_id__in=deal_ids).values_list("id", flat=True)
    )


def test_it_documents_the_list_parameters(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    schema = _as(api_client, team_setup.rep_a1).get("/api/schema/", {"format": "json"}).json()

    def parameters(path: str) -> set[str]:
        return {p["name"] for p in schema["paths"][path]["get"]["parameters"]}

    common = {"ordering", "page", "page_size", "stream", "step"}
    assert parameters("/api/deals/") >= common | {
        "owner",
        "status",
        "created_at_after",
        "created_at_before",
        "closed_at_after",
        "closed_at_before",
    }
    assert parameters("/api/visits/") >= common | {
        "deal",
        "open",
        "entered_at_after",
        "entered_at_before",
        "exited_at_after",
        "exited_at_before",
    }


# --- Filters ------------------------------------------------------------------------------


@pytest.fixture
def history(team_setup: SimpleNamespace) -> SimpleNamespace:
    """team_setup plus: deal_a2 moved to step 2 on day 2; ``won``, rep_a1's deal of stream A
    created on day -30, at step 1 until it was won on day -16; ``lost``, an unowned deal of a
    second stream of team A (``stream_a2``) created on day -10, at its step 1 until it was
    lost on day 4. Visits: ``v_a1`` (open at step 1), ``v_a2_1`` (step 1, day 0 to 2),
    ``v_a2_2`` (open at step 2 since day 2), ``v_won`` and ``v_lost``."""
    ns = team_setup
    t = ns.t
    ns.stream_a2 = make_stream(ns.team_a, name="Partner channel")
    deal_move(deal=ns.deal_a2, step=ns.steps_a[1], at=t + timedelta(days=2))
    ns.won = DealFactory(
        stream=ns.stream_a, owner=ns.rep_a1, created_at=t - timedelta(days=30), won=True
    )
    ns.lost = DealFactory(stream=ns.stream_a2, created_at=t - timedelta(days=10), lost=True)
    ns.v_won = VisitFactory(deal=ns.won, step=ns.steps_a[0], exited_at=ns.won.closed_at)
    ns.v_lost = VisitFactory(
        deal=ns.lost, step=ns.stream_a2.steps.get(position=1), exited_at=ns.lost.closed_at
    )
    ns.v_a1 = ns.deal_a1.visits.get()
    ns.v_a2_1, ns.v_a2_2 = ns.deal_a2.visits.order_by("entered_at")
    return ns


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"A1", "A2", "won", "lost"}),
        ({"stream": "SA"}, {"A1", "A2", "won"}),
        ({"stream": "SA2"}, {"lost"}),
        ({"owner": "REP_A1"}, {"A1", "won"}),
        ({"status": "open"}, {"A1", "A2"}),
        ({"status": "won"}, {"won"}),
        ({"status": "lost"}, {"lost"}),
        ({"step": "S1"}, {"A1"}),  # deal_a2 has left step 1, the won deal too
        ({"step": "S2"}, {"A2"}),
        ({"step": "S3"}, set()),
        ({"created_at_after": "T"}, {"A1", "A2"}),  # the start is inclusive
        ({"created_at_before": "T"}, {"won", "lost"}),  # the end is exclusive
        ({"created_at_after": "T-31", "created_at_before": "T-20"}, {"won"}),
        ({"closed_at_after": "T"}, {"lost"}),
        ({"closed_at_after": "T-16"}, {"won", "lost"}),
        ({"closed_at_before": "T-16"}, set()),
        ({"closed_at_before": "T-15"}, {"won"}),
        ({"created_at_before": "2099-01-01T00:00:00Z"}, {"A1", "A2", "won", "lost"}),
        ({"owner": "REP_A1", "status": "open", "step": "S1"}, {"A1"}),
    ],
)
def test_it_narrows_deals_by_each_filter(
    api_client: APIClient, history: SimpleNamespace, params: dict, expected: set[str]
) -> None:
    ns = history
    names = {"A1": ns.deal_a1.id, "A2": ns.deal_a2.id, "won": ns.won.id, "lost": ns.lost.id}

    response = _as(api_client, ns.manager_a).get("/api/deals/", _resolve(ns, params))

    assert _ids(response) == {names[name] for name in expected}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"v_a1", "v_a2_1", "v_a2_2", "v_won", "v_lost"}),
        ({"deal": "A2"}, {"v_a2_1", "v_a2_2"}),
        ({"step": "S2"}, {"v_a2_2"}),
        ({"stream": "SA"}, {"v_a1", "v_a2_1", "v_a2_2", "v_won"}),
        ({"stream": "SA2"}, {"v_lost"}),
        ({"open": "true"}, {"v_a1", "v_a2_2"}),
        ({"open": "false"}, {"v_a2_1", "v_won", "v_lost"}),
        ({"open": "true", "step": "S1"}, {"v_a1"}),
        ({"entered_at_after": "T+1"}, {"v_a2_2"}),
        ({"entered_at_before": "T"}, {"v_won", "v_lost"}),
        ({"entered_at_after": "T", "entered_at_before": "T+2"}, {"v_a1", "v_a2_1"}),
        ({"exited_at_after": "T"}, {"v_a2_1", "v_lost"}),
        ({"exited_at_before": "T+2"}, {"v_won"}),
    ],
)
def test_it_narrows_visits_by_each_filter(
    api_client: APIClient, history: SimpleNamespace, params: dict, expected: set[str]
) -> None:
    ns = history

    response = _as(api_client, ns.manager_a).get("/api/visits/", _resolve(ns, params))

    assert _ids(response) == {getattr(ns, name).id for name in expected}


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/api/deals/", {"created_at_after": "not-a-date"}, "created_at"),
        ("/api/deals/", {"created_at_before": "2025-01-06T09:00:00"}, "created_at"),
        ("/api/deals/", {"closed_at_after": "2025-13-01T00:00:00Z"}, "closed_at"),
        ("/api/deals/", {"closed_at_before": "2025-01-06 09:00"}, "closed_at"),
        ("/api/visits/", {"entered_at_after": "yesterday"}, "entered_at"),
        ("/api/visits/", {"entered_at_before": "2025-01-06T09:00:00"}, "entered_at"),
        ("/api/visits/", {"exited_at_after": "2025-01-06"}, "exited_at"),
        ("/api/visits/", {"exited_at_before": "2025-01-06T09:00"}, "exited_at"),
        ("/api/visits/", {"open": "maybe"}, "open"),
        ("/api/deals/", {"stream": "first"}, "stream"),
        ("/api/deals/", {"ordering": "owner__password"}, "ordering"),
        ("/api/visits/", {"ordering": "entered_at,secret"}, "ordering"),
    ],
)
def test_it_refuses_a_bad_filter_naming_it(
    api_client: APIClient, team_setup: SimpleNamespace, url: str, params: dict, field: str
) -> None:
    response = _as(api_client, team_setup.manager_a).get(url, params)

    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize(
    "created_at", ["not-a-date", "2025-01-07T09:00:00", "2025-01-07", "2999-01-01T00:00:00+00:00"]
)
def test_it_refuses_a_deal_created_at_a_bad_time_naming_created_at(
    api_client: APIClient, team_setup: SimpleNamespace, created_at: str
) -> None:
    ns = team_setup
    before = _stored()
    response = _as(api_client, ns.manager_a).post(
        "/api/deals/",
        {"stream": ns.stream_a.id, "name": "X", "created_at": created_at},
        format="json",
    )

    assert response.status_code == 400
    assert "created_at" in response.json()
    assert _stored() == before


# --- Pagination and ordering --------------------------------------------------------------


def _walk(client: APIClient, url: str, params: dict) -> list[list[int]]:
    """The ids on each page, following ``next`` links from page 1."""
    pages = []
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        pages.append([row["id"] for row in response.json()["results"]])
        if response.json()["next"] is None:
            return pages
        response = client.get(response.json()["next"])


@pytest.mark.parametrize(
    ("url", "ordering"),
    [("/api/deals/", ""), ("/api/deals/", "amount"), ("/api/visits/", "-exited_at")],
)
def test_it_pages_without_overlap_or_gaps(
    api_client: APIClient, history: SimpleNamespace, url: str, ordering: str
) -> None:
    ns = history
    DealFactory.create_batch(6, stream=ns.stream_a, owner=ns.rep_a2)  # all the same amount
    client = _as(api_client, ns.manager_a)
    params = {"page_size": 3, "ordering": ordering} if ordering else {"page_size": 3}
    everything = client.get(url, {"page_size": 500}).json()

    pages = _walk(client, url, params)

    assert everything["count"] == len(everything["results"]) > 3
    assert [len(page) for page in pages[:-1]] == [3] * (len(pages) - 1)
    ids = [row for page in pages for row in page]
    assert sorted(ids) == sorted(row["id"] for row in everything["results"])
    assert client.get(url, {**params, "page": len(pages) + 1}).status_code == 404


def test_it_pages_fifty_by_default_and_caps_the_page_size(
    api_client: APIClient, history: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = history
    client = _as(api_client, ns.manager_a)
    first = client.get("/api/deals/").json()
    assert (first["count"], len(first["results"]), first["next"]) == (4, 4, None)

    monkeypatch.setattr(EventLogPagination, "max_page_size", 3)
    capped = client.get("/api/deals/", {"page_size": 100}).json()

    assert (capped["count"], len(capped["results"])) == (4, 3)
    assert capped["next"] is not None


@pytest.fixture
def ordered_deals(team_setup: SimpleNamespace) -> SimpleNamespace:
    """Four deals of their own stream, with ties and empty values to order by."""
    ns = team_setup
    t = ns.t
    ns.stream_o = make_stream(ns.team_a, name="Ordering")
    specs = [
        # name, external id, amount, created (days), closed (days), status
        ("Charlie", "E-3", Decimal("300"), -3, None, DealStatus.OPEN),
        ("Alpha", "E-1", Decimal("100"), -1, -0.5, DealStatus.WON),
        ("Bravo", "E-2", Decimal("100"), -2, -1.5, DealStatus.LOST),
        ("Delta", "E-4", None, -4, None, DealStatus.OPEN),
    ]
    for name, external_id, amount, created, closed, deal_status in specs:
        setattr(
            ns,
            name.lower(),
            DealFactory(
                stream=ns.stream_o,
                name=name,
                external_id=external_id,
                amount=amount,
                created_at=t + timedelta(days=created),
                closed_at=None if closed is None else t + timedelta(days=closed),
                status=deal_status,
                lost_reason="No budget" if deal_status == DealStatus.LOST else "",
            ),
        )
    return ns


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("amount", ["alpha", "bravo", "charlie", "delta"]),  # 100, 100 (by id), 300, none
        ("-amount", ["charlie", "alpha", "bravo", "delta"]),  # empty amounts last either way
        ("closed_at", ["bravo", "alpha", "charlie", "delta"]),  # open deals last, by id
        ("-closed_at", ["alpha", "bravo", "charlie", "delta"]),
        ("name", ["alpha", "bravo", "charlie", "delta"]),
        ("-created_at", ["alpha", "bravo", "charlie", "delta"]),
        ("status,-amount", ["bravo", "charlie", "delta", "alpha"]),  # lost, open, won
    ],
)
def test_it_orders_deals_with_empty_values_last_and_ties_by_id(
    api_client: APIClient, ordered_deals: SimpleNamespace, ordering: str, expected: list[str]
) -> None:
    ns = ordered_deals
    response = _as(api_client, ns.manager_a).get(
        "/api/deals/", {"stream": ns.stream_o.id, "ordering": ordering}
    )

    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["results"]] == [
        getattr(ns, name).id for name in expected
    ]


def _expected_order(rows: list[dict], field: str, descending: bool) -> list[int]:
    """Rows ordered as the API promises: by ``field``, empty values last, ties by id."""
    rows = sorted(rows, key=lambda row: row["id"])
    present = [row for row in rows if row[field] is not None]
    empty = [row for row in rows if row[field] is None]
    present.sort(key=lambda row: row[field], reverse=descending)  # stable: ties stay by id
    return [row["id"] for row in present + empty]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/deals/", "created_at"),
        ("/api/deals/", "closed_at"),
        ("/api/deals/", "amount"),
        ("/api/deals/", "name"),
        ("/api/deals/", "external_id"),
        ("/api/deals/", "status"),
        ("/api/deals/", "updated_at"),
        ("/api/deals/", "id"),
        ("/api/visits/", "entered_at"),
        ("/api/visits/", "exited_at"),
        ("/api/visits/", "work_minutes"),
        ("/api/visits/", "id"),
    ],
)
def test_it_orders_by_each_ordering_field(
    api_client: APIClient, history: SimpleNamespace, url: str, field: str, descending: bool
) -> None:
    ns = history
    ns.v_a2_1.work_minutes = 30
    ns.v_a2_1.save()
    ns.v_won.work_minutes = 30
    ns.v_won.save()
    if url == "/api/deals/":
        rows = Deal.objects.filter(stream__team=ns.team_a).values("id", field)
    else:
        rows = Visit.objects.filter(deal__stream__team=ns.team_a).values("id", field)

    response = _as(api_client, ns.manager_a).get(
        url, {"ordering": f"-{field}" if descending else field}
    )

    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["results"]] == _expected_order(
        rows, field, descending
    )


# --- UTC offsets --------------------------------------------------------------------------

_OFFSET_REASON = "is out of range: offsets run from -15:59 to +15:59"


@pytest.mark.parametrize("offset", ["+16:00", "-16:00", "+23:59", "+24:00", "+99:99", "+0560"])
def test_a_utc_offset_beyond_15_59_is_a_400_naming_the_parameter(
    api_client: APIClient, team_setup: SimpleNamespace, offset: str
) -> None:
    """PostgreSQL stores offsets up to ±15:59; Python takes up to ±23:59 (a 500 before)."""
    ns = team_setup
    moment = "2025-01-01T00:00:00" + offset
    client = _as(api_client, ns.manager_a)
    metrics = f"/api/streams/{ns.stream_a.pk}/metrics/"
    for path, name, param in [
        ("/api/deals/", "created_at", "created_at_after"),
        ("/api/deals/", "closed_at", "closed_at_before"),
        ("/api/visits/", "entered_at", "entered_at_after"),
        ("/api/visits/", "exited_at", "exited_at_before"),
        (metrics, "start", "start"),
        (metrics, "end", "end"),
    ]:
        response = client.get(path, {param: moment})
        assert response.status_code == 400, (path, param, response.content)
        assert _OFFSET_REASON in str(response.json()[name]), (path, param)
    response = client.post(
        f"/api/deals/{ns.deal_a1.pk}/move/", {"step": ns.steps_a[1].pk, "at": moment}, "json"
    )
    assert response.status_code == 400
    assert _OFFSET_REASON in response.json()["at"][0]
    client.force_login(ns.manager_a)
    page = f"/dashboards/streams/{ns.stream_a.slug}/funnel/"
    response = client.get(page, {"period": "custom", "start": moment, "end": "2025-02-01"})
    assert response.status_code == 400
    assert _OFFSET_REASON in response.content.decode()


_YEAR_REASON = "is out of range: dates run from 1970-01-01 to 2100-12-31"


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+15:00",
        "9999-12-31T23:00:00-15:00",
        "1969-12-31T23:59:59+00:00",
        "2101-01-01T00:00:00+00:00",
    ],
)
def test_a_time_outside_1970_to_2100_is_a_400_naming_the_parameter(
    api_client: APIClient, team_setup: SimpleNamespace, moment: str
) -> None:
    """Year 1 and 9999 with an offset overflowed Python's dates (a 500); no sales time is
    outside 1970..2100."""
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    metrics = f"/api/streams/{ns.stream_a.pk}/metrics/"
    for path, name, params in [
        ("/api/deals/", "created_at", {"created_at_after": moment}),
        ("/api/visits/", "exited_at", {"exited_at_before": moment}),
        (metrics, "start", {"start": moment, "end": "2026-01-01"}),
        (metrics, "end", {"start": "2025-01-01", "end": moment}),
    ]:
        response = client.get(path, params)
        assert response.status_code == 400, (path, params, response.content)
        assert _YEAR_REASON in str(response.json()[name]), (path, params)
    response = client.post(
        f"/api/deals/{ns.deal_a1.pk}/move/", {"step": ns.steps_a[1].pk, "at": moment}, "json"
    )
    assert response.status_code == 400
    assert _YEAR_REASON in response.json()["at"][0]


def test_an_offset_of_15_59_is_taken(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    response = _as(api_client, team_setup.manager_a).get(
        "/api/deals/", {"created_at_after": "2025-01-01T00:00:00+15:59"}
    )
    assert response.status_code == 200


# --- The contract: documented errors ------------------------------------------------------


def _schema(api_client: APIClient, user: object) -> dict[str, Any]:
    response = _as(api_client, user).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_every_operation_documents_its_400_and_404_answers(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    schema = _schema(api_client, team_setup.manager_a)
    operations = [
        (path, method, op)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if method in {"get", "post", "patch", "delete"}
    ]
    assert len(operations) > 30
    for path, method, op in operations:
        codes = set(op["responses"])
        assert {"400", "401", "403", "429"} <= codes, (path, method, codes)
        assert "404" in codes or "{" not in path, (path, method, codes)
    deal = schema["paths"]["/api/deals/{id}/"]["get"]["responses"]
    assert deal["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorDetail"
    }
    # The bulk endpoint keeps its own documented refusal.
    bulk = schema["paths"]["/api/events/bulk/"]["post"]["responses"]["400"]
    assert bulk["content"]["application/json"]["schema"]["$ref"].endswith("/EventBatchError")


def test_the_kaizen_decision_enum_holds_the_empty_undecided_value(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    schema = _schema(api_client, team_setup.manager_a)
    decision = schema["components"]["schemas"]["Cycle"]["properties"]["decision"]
    enums = [
        schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]["enum"]
        for ref in decision["oneOf"]
    ]
    assert [""] in enums


def test_malformed_json_to_the_bulk_endpoint_answers_in_its_documented_shape(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    response = _as(api_client, team_setup.manager_a).post(
        "/api/events/bulk/", '{"events": [', content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["applied"] == 0
    [error] = body["errors"]
    assert error["index"] is None and error["field"] is None
    assert error["reason"].startswith("JSON parse error")


def test_a_nul_character_in_a_metrics_text_parameter_is_a_400_naming_it(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    """PostgreSQL text cannot hold NUL (a 500 before, found by fuzzing)."""
    ns = team_setup
    client = _as(api_client, ns.manager_a)
    response = client.get(f"/api/streams/{ns.stream_a.pk}/metrics/", {"source": "web\x00"})
    assert response.status_code == 400
    assert "NUL" in response.json()["source"][0]
    client.force_login(ns.manager_a)
    page = client.get(f"/dashboards/streams/{ns.stream_a.slug}/funnel/", {"source": "a\x00"})
    assert page.status_code == 400 and "NUL character" in page.content.decode()
