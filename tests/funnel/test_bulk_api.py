"""POST /api/events/bulk/: many event-log writes in one request, all or nothing.

Every time sent is explicit, timezone-aware and in the past (``team_setup.t`` is 2025-01-06
09:00 UTC, when the fixture's deals entered step 1), so no test depends on the wall clock.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from funnel.eventlog.bulk import MAX_EVENTS
from funnel.models import Deal, DealStatus, Visit
from tests.factories import DealFactory, VisitFactory

pytestmark = pytest.mark.django_db

URL = "/api/events/bulk/"


def _as(client: APIClient, user: object) -> APIClient:
    client.force_authenticate(user=user)
    return client


def _iso(ns: SimpleNamespace, days: float) -> str:
    return (ns.t + timedelta(days=days)).isoformat()


def _bulk(client: APIClient, events: Any) -> Any:
    return client.post(URL, {"events": events}, format="json")


def _stored() -> tuple[list, list]:
    """Everything the event log holds, to show that a refused batch stored nothing."""
    deals = list(
        Deal.objects.order_by("id").values_list("id", "name", "status", "closed_at", "lost_reason")
    )
    visits = list(
        Visit.objects.order_by("id").values_list("id", "step_id", "exited_at", "work_minutes")
    )
    return deals, visits


def _fields(response: Any) -> list[tuple[int | None, str | None]]:
    return [(e["index"], e["field"]) for e in response.json()["errors"]]


# --- Applied ------------------------------------------------------------------------------


def test_it_creates_a_deal_moves_it_through_three_steps_and_closes_it(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    steps = ns.steps_a
    ref = {"stream": ns.stream_a.id, "external_id": "CRM-1042"}
    events = [
        {
            "type": "create_deal",
            **ref,
            "name": "Acme renewal",
            "account": "Acme",
            "amount": "12500.00",
            "owner": ns.rep_a1.id,
            "source": "inbound",
            "created_at": _iso(ns, 1),
            "first_step": steps[0].id,
        },
        {"type": "move", **ref, "step": steps[1].id, "at": _iso(ns, 2)},
        {"type": "log_work", **ref, "minutes": 45},
        {"type": "move", **ref, "step": steps[2].id, "at": _iso(ns, 3.5)},
        {"type": "close", **ref, "outcome": "won", "at": _iso(ns, 5)},
    ]

    response = _bulk(_as(api_client, ns.manager_a), events)

    assert response.status_code == 200, response.content
    deal = Deal.objects.get(stream=ns.stream_a, external_id="CRM-1042")
    assert (deal.name, deal.account, deal.owner, deal.source) == (
        "Acme renewal",
        "Acme",
        ns.rep_a1,
        "inbound",
    )
    assert (deal.status, deal.created_at, deal.closed_at) == (
        DealStatus.WON,
        ns.t + timedelta(days=1),
        ns.t + timedelta(days=5),
    )
    visits = list(deal.visits.order_by("entered_at"))
    # Step 1 from day 1 to 2, step 2 from day 2 to 3.5 (with 45 minutes of work), step 3
    # from day 3.5 to the close on day 5.
    assert [(v.step_id, v.entered_at, v.exited_at, v.work_minutes) for v in visits] == [
        (steps[0].id, ns.t + timedelta(days=1), ns.t + timedelta(days=2), None),
        (steps[1].id, ns.t + timedelta(days=2), ns.t + timedelta(days=3.5), 45),
        (steps[2].id, ns.t + timedelta(days=3.5), ns.t + timedelta(days=5), None),
    ]
    assert {v.actor for v in visits} == {ns.manager_a}
    first, second, third = (v.id for v in visits)
    assert response.json() == {
        "applied": 5,
        "results": [
            {"index": i, "type": kind, "deal": deal.id, "external_id": "CRM-1042", "visit": visit}
            for i, (kind, visit) in enumerate(
                [
                    ("create_deal", first),
                    ("move", second),
                    ("log_work", second),
                    ("move", third),
                    ("close", third),
                ]
            )
        ],
    }


def test_it_acts_on_existing_deals_named_by_id_or_by_external_id(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    events = [
        {"type": "move", "deal": ns.deal_a1.id, "step": ns.steps_a[1].id, "at": _iso(ns, 1)},
        {
            "type": "close",
            "stream": ns.stream_a.id,
            "external_id": ns.deal_a2.external_id,
            "outcome": "lost",
            "at": _iso(ns, 2),
            "lost_reason": "No budget",
        },
    ]

    response = _bulk(_as(api_client, ns.manager_a), events)

    assert response.status_code == 200, response.content
    assert [(r["deal"], r["type"]) for r in response.json()["results"]] == [
        (ns.deal_a1.id, "move"),
        (ns.deal_a2.id, "close"),
    ]
    ns.deal_a2.refresh_from_db()
    assert (ns.deal_a2.status, ns.deal_a2.lost_reason) == (DealStatus.LOST, "No budget")
    assert ns.deal_a1.visits.get(exited_at__isnull=True).step == ns.steps_a[1]


def test_it_reports_no_visit_for_a_deal_created_at_no_step_or_closed_from_no_step(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    ref = {"stream": ns.stream_a.id, "external_id": "NO-STEP"}
    events = [
        {"type": "create_deal", **ref, "name": "Stepless", "created_at": _iso(ns, 1)},
        {"type": "close", **ref, "outcome": "lost", "at": _iso(ns, 2)},
    ]

    response = _bulk(_as(api_client, ns.manager_a), events)

    assert response.status_code == 200, response.content
    assert [r["visit"] for r in response.json()["results"]] == [None, None]
    deal = Deal.objects.get(external_id="NO-STEP")
    assert (deal.owner, deal.status, deal.visits.count()) == (None, DealStatus.LOST, 0)


def test_it_lets_a_rep_act_on_their_own_deals_and_makes_them_the_owner_of_new_ones(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    events = [
        {"type": "log_work", "deal": ns.deal_a1.id, "minutes": 30},
        {"type": "create_deal", "stream": ns.stream_a.id, "external_id": "R-1", "name": "Mine"},
        {
            "type": "create_deal",
            "stream": ns.stream_a.id,
            "external_id": "R-2",
            "name": "Mine too",
            "owner": ns.rep_a1.id,
            "created_at": _iso(ns, 1),
        },
    ]

    response = _bulk(_as(api_client, ns.rep_a1), events)

    assert response.status_code == 200, response.content
    created = Deal.objects.filter(external_id__in=["R-1", "R-2"])
    assert sorted(created.values_list("owner", flat=True)) == [ns.rep_a1.id, ns.rep_a1.id]
    assert ns.deal_a1.visits.get().work_minutes == 30


def test_it_accepts_a_token(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    ns = team_setup
    token = Token.objects.create(user=ns.rep_a1)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = _bulk(
        api_client,
        [{"type": "move", "deal": ns.deal_a1.id, "step": ns.steps_a[1].id, "at": _iso(ns, 1)}],
    )

    assert response.status_code == 200, response.content
    assert ns.deal_a1.visits.count() == 2


def test_it_lets_an_admin_act_on_any_teams_deals(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    ns.manager_a.is_staff = True
    ns.manager_a.save()

    response = _bulk(
        _as(api_client, ns.manager_a),
        [{"type": "move", "deal": ns.deal_b.id, "step": ns.steps_b[1].id, "at": _iso(ns, 1)}],
    )

    assert response.status_code == 200, response.content


def test_it_takes_a_batch_of_the_largest_size(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    events = [{"type": "log_work", "deal": ns.deal_a1.id, "minutes": 1}] * MAX_EVENTS

    # Applying a full batch takes seconds; leadership's batch stops at its first event,
    # which shows the batch passed the size check without applying it.
    response = _bulk(_as(api_client, ns.leader_a), events)

    assert response.status_code == 403, response.content
    assert _fields(response) == [(0, None)]


# --- All or nothing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("third", "field"),
    [
        ({"type": "move", "deal": "A2", "step": "S2", "at": "2999-01-01T00:00:00+00:00"}, "at"),
        ({"type": "move", "deal": "A2", "step": "S2", "at": "2025-01-08T09:00:00"}, "at"),
        ({"type": "move", "deal": "A2", "step": "S2", "at": "next tuesday"}, "at"),
        ({"type": "move", "deal": "A2", "step": "S1", "at": "LATER"}, "step"),  # already there
        ({"type": "move", "deal": "A2", "step": "B2", "at": "LATER"}, "step"),  # other team
        ({"type": "move", "deal": "B", "step": "S2", "at": "LATER"}, "deal"),  # other team
        ({"type": "log_work", "deal": "A2", "minutes": 0}, "minutes"),
        ({"type": "close", "deal": "A2", "outcome": "maybe", "at": "LATER"}, "outcome"),
        ({"type": "close", "deal": "A2", "outcome": "lost", "at": "EARLY"}, "at"),
        ({"type": "split", "deal": "A2"}, "type"),
        (
            {"type": "create_deal", "stream": "A", "external_id": "NEW-1", "name": "Twice"},
            "external_id",
        ),
    ],
)
def test_it_stores_nothing_when_the_third_event_is_invalid(
    api_client: APIClient, team_setup: SimpleNamespace, third: dict, field: str
) -> None:
    ns = team_setup
    names = {
        "A": ns.stream_a.id,
        "A2": ns.deal_a2.id,
        "B": ns.deal_b.id,
        "S1": ns.steps_a[0].id,
        "S2": ns.steps_a[1].id,
        "B2": ns.steps_b[1].id,
        "LATER": _iso(ns, 2),
        "EARLY": _iso(ns, -1),  # before the deal entered its step
    }
    third = {key: names.get(value, value) for key, value in third.items()}
    events = [
        {"type": "move", "deal": ns.deal_a1.id, "step": ns.steps_a[1].id, "at": _iso(ns, 1)},
        {
            "type": "create_deal",
            "stream": ns.stream_a.id,
            "external_id": "NEW-1",
            "name": "New",
            "created_at": _iso(ns, 1),
            "first_step": ns.steps_a[0].id,
        },
        third,
        {"type": "log_work", "deal": ns.deal_a1.id, "minutes": 30},
    ]
    before = _stored()

    response = _bulk(_as(api_client, ns.manager_a), events)

    assert response.status_code == 400, response.content
    assert _fields(response) == [(2, field)]
    assert response.json()["applied"] == 0
    assert _stored() == before
    assert (Deal.objects.count(), Visit.objects.count()) == (3, 3)


def test_it_reports_every_failing_event_not_only_the_first(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    close_a2 = {"type": "close", "deal": ns.deal_a2.id, "outcome": "won"}
    events = [
        {"type": "log_work", "deal": ns.deal_a1.id, "minutes": 10},
        {"type": "log_work", "deal": ns.deal_a1.id, "minutes": -5},
        {"type": "move", "deal": ns.deal_a2.id, "step": ns.steps_a[2].id, "at": _iso(ns, 1)},
        {**close_a2, "at": _iso(ns, 0.5)},
        {**close_a2, "at": _iso(ns, 2), "lost_reason": "Not for a win"},
    ]
    before = _stored()

    response = _bulk(_as(api_client, ns.manager_a), events)

    assert response.status_code == 400
    # Event 3 is checked against the batch as it stands: deal A2 entered step 3 on day 1
    # (event 2), so it cannot close on day 0.5.
    assert _fields(response) == [(1, "minutes"), (3, "at"), (4, "lost_reason")]
    assert _stored() == before


def test_it_reports_every_malformed_event_before_applying_any(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    events = [
        {"type": "log_work", "deal": ns.deal_a1.id, "minutes": 10},
        {"type": "log_work", "deal": ns.deal_a1.id, "minutes": "lots"},
        "move deal 3",
        {"deal": ns.deal_a1.id},
        {"type": "move", "deal": ns.deal_a1.id, "step": ns.steps_a[1].id, "at": "2025-01-07"},
    ]
    before = _stored()

    response = _bulk(_as(api_client, ns.manager_a), events)

    assert response.status_code == 400
    assert _fields(response) == [(1, "minutes"), (2, None), (3, "type"), (4, "at")]
    assert _stored() == before


def test_it_refuses_more_than_the_largest_batch_naming_events(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    events = [{"type": "log_work", "deal": ns.deal_a1.id, "minutes": 1}] * (MAX_EVENTS + 1)
    before = _stored()

    response = _bulk(_as(api_client, ns.manager_a), events)

    assert response.status_code == 400
    assert _fields(response) == [(None, "events")]
    assert str(MAX_EVENTS) in response.json()["errors"][0]["reason"]
    assert _stored() == before


@pytest.mark.parametrize(
    "body",
    [{}, {"events": []}, {"events": "all of them"}, {"events": {"type": "move"}}, []],
)
def test_it_refuses_a_body_without_a_list_of_events(
    api_client: APIClient, team_setup: SimpleNamespace, body: Any
) -> None:
    response = _as(api_client, team_setup.manager_a).post(URL, body, format="json")

    assert response.status_code == 400
    assert _fields(response) in ([(None, "events")], [(None, None)])
    assert response.json()["applied"] == 0


def test_it_refuses_a_form_encoded_body(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    response = _as(api_client, team_setup.manager_a).post(URL, {"events": "x"})

    assert response.status_code == 415


@pytest.mark.parametrize(
    ("naming", "fields"),
    [
        ({}, ["deal"]),
        ({"deal": "A1", "stream": "A", "external_id": "X"}, ["deal"]),
        ({"stream": "A"}, ["external_id"]),
        ({"external_id": "X"}, ["stream"]),
        ({"deal": "A1", "stpe": "S2"}, ["stpe"]),
        ({"deal": 0}, ["deal"]),
        ({"deal": 2**70}, ["deal"]),
    ],
)
def test_it_needs_each_deal_named_once_and_no_stray_fields(
    api_client: APIClient, team_setup: SimpleNamespace, naming: dict, fields: list[str]
) -> None:
    ns = team_setup
    names = {"A1": ns.deal_a1.id, "A": ns.stream_a.id, "S2": ns.steps_a[1].id}
    naming = {key: names.get(value, value) for key, value in naming.items()}
    event = {"type": "log_work", "minutes": 5, **naming}

    response = _bulk(_as(api_client, ns.manager_a), [event])

    assert response.status_code == 400
    assert _fields(response) == [(0, field) for field in fields]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "create_deal", "created_at": "yesterday"}, "created_at"),
        ({"type": "create_deal", "created_at": "2025-01-07T09:00:00"}, "created_at"),
        ({"type": "create_deal", "created_at": "2999-01-01T00:00:00Z"}, "created_at"),
        ({"type": "move", "at": "2025-13-01T00:00:00Z"}, "at"),
        ({"type": "move", "at": "2025-01-07T09:00:00"}, "at"),
        ({"type": "move", "at": "2999-01-01T00:00:00+00:00"}, "at"),
        ({"type": "close", "at": "soon"}, "at"),
        ({"type": "close", "at": "2025-01-07 09:00"}, "at"),
        ({"type": "close", "at": "2999-01-01T00:00:00+01:00"}, "at"),
    ],
)
def test_it_refuses_bad_timestamps_naming_the_field(
    api_client: APIClient, team_setup: SimpleNamespace, event: dict, field: str
) -> None:
    ns = team_setup
    complete = {
        "create_deal": {"stream": ns.stream_a.id, "external_id": "T-1", "name": "T"},
        "move": {"deal": ns.deal_a1.id, "step": ns.steps_a[1].id},
        "close": {"deal": ns.deal_a1.id, "outcome": "won"},
    }[event["type"]]
    before = _stored()

    response = _bulk(_as(api_client, ns.manager_a), [{**complete, **event}])

    assert response.status_code == 400, response.content
    assert _fields(response) == [(0, field)]
    assert _stored() == before


def test_it_refuses_logging_work_on_a_deal_at_no_step_naming_visit(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    deal = DealFactory(stream=ns.stream_a, owner=ns.rep_a1)
    VisitFactory(deal=deal, step=ns.steps_a[0], exited=True)
    before = _stored()

    response = _bulk(
        _as(api_client, ns.rep_a1), [{"type": "log_work", "deal": deal.id, "minutes": 30}]
    )

    assert response.status_code == 400
    assert _fields(response) == [(0, "visit")]
    assert _stored() == before


# --- Who may do what ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["create_deal", "move", "log_work", "close"])
def test_it_refuses_leadership_with_403_and_stores_nothing(
    api_client: APIClient, team_setup: SimpleNamespace, kind: str
) -> None:
    ns = team_setup
    event = {
        "create_deal": {"stream": ns.stream_a.id, "external_id": "L-1", "name": "Mine"},
        "move": {"deal": ns.deal_a1.id, "step": ns.steps_a[1].id, "at": _iso(ns, 1)},
        "log_work": {"deal": ns.deal_a1.id, "minutes": 30},
        "close": {"deal": ns.deal_a1.id, "outcome": "won", "at": _iso(ns, 1)},
    }[kind]
    before = _stored()

    response = _bulk(_as(api_client, ns.leader_a), [{"type": kind, **event}])

    assert response.status_code == 403, response.content
    assert _fields(response) == [(0, None)]
    assert response.json()["applied"] == 0
    assert _stored() == before


def test_it_refuses_the_whole_batch_at_the_first_forbidden_event(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    ns = team_setup
    events = [
        {"type": "move", "deal": ns.deal_a1.id, "step": ns.steps_a[1].id, "at": _iso(ns, 1)},
        {"type": "log_work", "deal": ns.deal_a1.id, "minutes": 0},  # invalid, but
        {
            "type": "create_deal",
            "stream": ns.stream_a.id,
            "external_id": "R-9",
            "name": "For A2",
            "owner": ns.rep_a2.id,
        },  # forbidden: a rep creates deals they own
        {"type": "log_work", "deal": ns.deal_a1.id, "minutes": 30},
    ]
    before = _stored()

    response = _bulk(_as(api_client, ns.rep_a1), events)

    assert response.status_code == 403
    assert _fields(response) == [(2, None)]
    assert "own" in response.json()["errors"][0]["reason"]
    assert _stored() == before


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "move", "deal": "A2", "step": "S2", "at": "LATER"}, "deal"),
        ({"type": "log_work", "stream": "A", "external_id": "EXT_A2", "minutes": 5}, "external_id"),
        ({"type": "close", "deal": "A2", "outcome": "won", "at": "LATER"}, "deal"),
    ],
)
def test_it_treats_another_reps_deal_as_not_found(
    api_client: APIClient, team_setup: SimpleNamespace, event: dict, field: str
) -> None:
    ns = team_setup
    names = {
        "A": ns.stream_a.id,
        "A2": ns.deal_a2.id,
        "EXT_A2": ns.deal_a2.external_id,
        "S2": ns.steps_a[1].id,
        "LATER": _iso(ns, 1),
    }
    event = {key: names.get(value, value) for key, value in event.items()}
    before = _stored()

    response = _bulk(_as(api_client, ns.rep_a1), [event])

    assert response.status_code == 400
    assert _fields(response) == [(0, field)]
    assert "see" in response.json()["errors"][0]["reason"]
    assert _stored() == before


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "move", "deal": "B", "step": "B2", "at": "LATER"}, "deal"),
        ({"type": "move", "stream": "SB", "external_id": "EXT_B", "step": "B2"}, "stream"),
        ({"type": "create_deal", "stream": "SB", "external_id": "X", "name": "X"}, "stream"),
        (
            {
                "type": "create_deal",
                "stream": "A",
                "external_id": "X",
                "name": "X",
                "owner": "REP_B",
            },
            "owner",
        ),
        (
            {
                "type": "create_deal",
                "stream": "A",
                "external_id": "X",
                "name": "X",
                "first_step": "B1",
            },
            "first_step",
        ),
        ({"type": "move", "deal": "A1", "step": "B2", "at": "LATER"}, "step"),
    ],
)
def test_it_shows_a_manager_nothing_of_another_team(
    api_client: APIClient, team_setup: SimpleNamespace, event: dict, field: str
) -> None:
    ns = team_setup
    names = {
        "A": ns.stream_a.id,
        "A1": ns.deal_a1.id,
        "B": ns.deal_b.id,
        "SB": ns.stream_b.id,
        "EXT_B": ns.deal_b.external_id,
        "B1": ns.steps_b[0].id,
        "B2": ns.steps_b[1].id,
        "REP_B": ns.rep_b.id,
        "LATER": _iso(ns, 1),
    }
    event = {key: names.get(value, value) for key, value in event.items()}
    before = _stored()

    response = _bulk(_as(api_client, ns.manager_a), [event])

    assert response.status_code == 400, response.content
    assert _fields(response) == [(0, field)]
    assert _stored() == before


def test_it_refuses_anonymous_requests(api_client: APIClient, team_setup: SimpleNamespace) -> None:
    ns = team_setup
    before = _stored()

    response = _bulk(api_client, [{"type": "log_work", "deal": ns.deal_a1.id, "minutes": 5}])

    assert response.status_code in (401, 403)
    assert _stored() == before


def test_it_is_in_the_schema_with_one_request_shape_per_event_type(
    api_client: APIClient, team_setup: SimpleNamespace
) -> None:
    client = _as(api_client, team_setup.rep_a1)
    schema = client.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"][URL]["post"]
    assert set(operation["responses"]) >= {"200", "400", "403"}
    assert list(operation["requestBody"]["content"]) == ["application/json"]
    event = schema["components"]["schemas"]["EventRequest"]
    assert event["discriminator"]["propertyName"] == "type"
    assert set(event["discriminator"]["mapping"]) == {"create_deal", "move", "log_work", "close"}
