"""The leads API (funnel/leads/api.py): the waterfall, reasons, seller limits, decisions,
pulls, the board and the queue, for every role (docs/leads.md "Who does what")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from funnel.leads.models import Handoff, HandoffDecision, HandoffReason, SellerLimit
from funnel.models import Deal
from tests.funnel.leads.conftest import lead

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def recent(hours: float) -> str:
    return (timezone.now() - timedelta(hours=hours)).isoformat()


def waterfall_body(ns, **changes):
    body = {
        "preset": "sirius_2006",
        "inquiry_stage": "Inquiry",
        "won_stage": "Won",
        "recycle_step": ns.steps["Nurture"].pk,
        "handoffs": [
            {
                "step": ns.steps["MQL"].pk,
                "offered_stage": "MQL",
                "accepted_stage": "SAL",
                "giver": "marketing",
                "receiver": "sdr",
                "sla_minutes": 30,
                "escalate_minutes": 90,
            },
            {
                "step": ns.steps["SQL"].pk,
                "offered_stage": "SQL",
                "accepted_stage": "Opportunity",
                "giver": "sdr",
                "receiver": "sales",
                "sla_minutes": 120,
                "pull": True,
            },
        ],
    }
    body.update(changes)
    return body


# --- The waterfall ----------------------------------------------------------------------------


def test_everyone_of_the_team_reads_the_waterfall(leads):
    url = f"/api/streams/{leads.stream.pk}/waterfall/"
    for user in (leads.manager, leads.sdr, leads.leader):
        body = client_for(user).get(url).json()
        assert body["configured"] is True
        assert body["stages"] == ["Inquiry", "MQL", "SAL", "SQL", "Opportunity", "Won"]
        assert [h["offered_stage"] for h in body["handoffs"]] == ["MQL", "SQL"]
    assert client_for(leads.outsider).get(url).status_code == 404


def test_a_manager_saves_the_waterfall_and_others_get_403(leads):
    url = f"/api/streams/{leads.stream.pk}/waterfall/"
    before = {h.step_id: h.pk for h in Handoff.objects.all()}
    response = client_for(leads.manager).put(url, waterfall_body(leads), format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["handoffs"][0]["sla_minutes"] == 30
    assert {h.step_id: h.pk for h in Handoff.objects.all()} == before  # in place
    for user in (leads.sdr, leads.leader):
        assert client_for(user).put(url, waterfall_body(leads), format="json").status_code == 403


@pytest.mark.parametrize(
    ("sla", "escalate", "field"),
    [
        (-1, None, "sla_minutes"),
        (0, None, "sla_minutes"),
        (10**6, None, "sla_minutes"),
        (60, 60, "escalate_minutes"),
    ],
)
def test_a_bad_sla_is_a_400_naming_the_hand_off(leads, sla, escalate, field):
    body = waterfall_body(leads)
    body["handoffs"][1].update(sla_minutes=sla, escalate_minutes=escalate)
    response = client_for(leads.manager).put(
        f"/api/streams/{leads.stream.pk}/waterfall/", body, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == [f"handoffs.1.{field}"]


def test_removing_a_hand_off_with_decisions_is_a_400(leads):
    visit = lead(leads, ("Capture", recent(3)), ("MQL", recent(2)))
    client_for(leads.sdr).post(
        "/api/handoffs/decide/", {"visit": visit.pk, "kind": "accept"}, format="json"
    )
    body = waterfall_body(leads)
    body["handoffs"] = body["handoffs"][1:]
    response = client_for(leads.manager).put(
        f"/api/streams/{leads.stream.pk}/waterfall/", body, format="json"
    )
    assert response.status_code == 400
    assert "have decisions and cannot be removed" in response.json()["handoffs"][0]


# --- Reasons and limits -----------------------------------------------------------------------


def test_reasons_by_role(leads):
    manager = client_for(leads.manager)
    made = manager.post(
        "/api/handoff-reasons/",
        {"stream": leads.stream.pk, "kind": "recycle", "label": "Budget next quarter"},
        format="json",
    )
    assert made.status_code == 201 and made.json()["kind"] == "recycle"
    pk = made.json()["id"]
    renamed = manager.patch(f"/api/handoff-reasons/{pk}/", {"label": "Budget in Q3"}, format="json")
    assert renamed.json()["label"] == "Budget in Q3" and renamed.json()["id"] == pk
    listed = client_for(leads.sdr).get(
        f"/api/handoff-reasons/?stream={leads.stream.pk}&kind=recycle&active=true"
    )
    assert "Budget in Q3" in [r["label"] for r in listed.json()["results"]]
    retired = manager.post(f"/api/handoff-reasons/{pk}/retire/")
    assert retired.status_code == 200 and retired.json()["retired_at"]
    assert HandoffReason.objects.filter(pk=pk).exists()
    for user in (leads.sdr, leads.leader):
        response = client_for(user).post(
            "/api/handoff-reasons/",
            {"stream": leads.stream.pk, "kind": "reject", "label": "Late"},
            format="json",
        )
        assert response.status_code == 403
    empty = manager.post(
        "/api/handoff-reasons/",
        {"stream": leads.stream.pk, "kind": "reject", "label": " "},
        format="json",
    )
    assert empty.status_code == 400 and list(empty.json()) == ["label"]


def test_seller_limits_by_role(leads):
    manager = client_for(leads.manager)
    set_ = manager.post(
        "/api/seller-limits/",
        {"stream": leads.stream.pk, "seller": leads.sdr.pk, "wip_limit": 4},
        format="json",
    )
    assert set_.status_code == 200 and set_.json()["wip_limit"] == 4 and set_.json()["wip"] == 0
    removed = manager.post(
        "/api/seller-limits/",
        {"stream": leads.stream.pk, "seller": leads.sdr.pk, "wip_limit": None},
        format="json",
    )
    assert removed.status_code == 204
    assert not SellerLimit.objects.filter(user=leads.sdr).exists()
    bad = manager.post(
        "/api/seller-limits/",
        {"stream": leads.stream.pk, "seller": leads.sdr.pk, "wip_limit": 0},
        format="json",
    )
    assert bad.status_code == 400 and list(bad.json()) == ["wip_limit"]
    response = client_for(leads.leader).post(
        "/api/seller-limits/",
        {"stream": leads.stream.pk, "seller": leads.sdr.pk, "wip_limit": 4},
        format="json",
    )
    assert response.status_code == 403
    listed = client_for(leads.leader).get(f"/api/seller-limits/?stream={leads.stream.pk}")
    assert sorted(r["label"] for r in listed.json()["results"]) == ["seller1", "seller2"]


# --- Decisions and pulls ----------------------------------------------------------------------


def test_an_sdr_decides_and_a_second_decision_is_a_409(leads):
    visit = lead(leads, ("Capture", recent(3)), ("MQL", recent(2)))
    sdr = client_for(leads.sdr)
    refused = sdr.post(
        "/api/handoffs/decide/", {"visit": visit.pk, "kind": "reject"}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json() == {"reason": ["Give a reason from the reject list to reject a lead."]}
    made = sdr.post("/api/handoffs/decide/", {"visit": visit.pk, "kind": "accept"}, format="json")
    assert made.status_code == 201
    assert made.json()["kind"] == "accept" and made.json()["stage"] == "MQL"
    assert 7190 <= made.json()["response_seconds"] <= 7260
    again = client_for(leads.manager).post(
        "/api/handoffs/decide/", {"visit": visit.pk, "kind": "accept"}, format="json"
    )
    assert again.status_code == 409 and again.json()["visit"][0].startswith("sdr accepted")


def test_a_reject_through_the_api_moves_the_lead_back(leads):
    visit = lead(leads, ("Qualify", recent(3)), ("MQL", recent(2)))
    response = client_for(leads.sdr).post(
        "/api/handoffs/decide/",
        {"visit": visit.pk, "kind": "reject", "reason": leads.reject_reason.pk, "note": "Dup"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["reason_label"] == leads.reject_reason.label
    assert Deal.objects.get(pk=visit.deal_id).visits.get(exited_at__isnull=True).step.name == (
        "Qualify"
    )


def test_leadership_and_other_teams_cannot_decide(leads):
    visit = lead(leads, ("Capture", recent(3)), ("MQL", recent(2)))
    leader = client_for(leads.leader).post(
        "/api/handoffs/decide/", {"visit": visit.pk, "kind": "accept"}, format="json"
    )
    assert leader.status_code == 403
    outsider = client_for(leads.outsider).post(
        "/api/handoffs/decide/", {"visit": visit.pk, "kind": "accept"}, format="json"
    )
    assert outsider.status_code == 400 and list(outsider.json()) == ["visit"]
    assert not HandoffDecision.objects.exists()


def test_a_seller_pulls_and_another_seller_gets_a_409(leads):
    visit = lead(leads, ("Qualify", recent(3)), ("SQL", recent(2)))
    pulled = client_for(leads.seller1).post(
        "/api/handoffs/pull/", {"stream": leads.stream.pk}, format="json"
    )
    assert pulled.status_code == 201 and pulled.json()["visit"] == visit.pk
    assert Deal.objects.get(pk=visit.deal_id).owner == leads.seller1
    late = client_for(leads.seller2).post(
        "/api/handoffs/pull/", {"stream": leads.stream.pk, "visit": visit.pk}, format="json"
    )
    assert late.status_code == 409 and late.json()["visit"][0].startswith("seller1 pulled")


def test_pull_refusals_through_the_api(leads):
    for hours in (3, 2, 1):
        lead(leads, ("Qualify", recent(4)), ("SQL", recent(hours)))
    seller = client_for(leads.seller1)
    for _ in range(2):
        assert (
            seller.post(
                "/api/handoffs/pull/", {"stream": leads.stream.pk}, format="json"
            ).status_code
            == 201
        )
    over = seller.post("/api/handoffs/pull/", {"stream": leads.stream.pk}, format="json")
    assert over.status_code == 400
    assert over.json() == {
        "seller": [
            "seller1 owns 2 open deals and the limit is 2: finish one before pulling another."
        ]
    }
    no_limit = client_for(leads.sdr).post(
        "/api/handoffs/pull/", {"stream": leads.stream.pk}, format="json"
    )
    assert no_limit.status_code == 400 and "no WIP limit" in no_limit.json()["seller"][0]
    leader = client_for(leads.leader).post(
        "/api/handoffs/pull/", {"stream": leads.stream.pk}, format="json"
    )
    assert leader.status_code == 403


def test_a_rep_cannot_decide_at_the_pull_hand_off(leads):
    visit = lead(leads, ("Qualify", recent(3)), ("SQL", recent(2)))
    response = client_for(leads.seller1).post(
        "/api/handoffs/decide/",
        {"visit": visit.pk, "kind": "reject", "reason": leads.reject_reason.pk},
        format="json",
    )
    assert response.status_code == 403


# --- Board and queue --------------------------------------------------------------------------


def test_the_board_and_the_queue(leads):
    mql = lead(leads, ("Capture", recent(5)), ("MQL", recent(2)), name="Old MQL")
    sql = lead(leads, ("Qualify", recent(5)), ("SQL", recent(1)), name="New SQL")
    board = client_for(leads.leader).get(f"/api/handoffs/board/?stream={leads.stream.pk}")
    assert board.status_code == 200
    body = board.json()
    assert body["total"] == 2
    assert [r["visit"] for r in body["rows"]] == [mql.pk, sql.pk]
    first = body["rows"][0]
    assert first["stage"] == "MQL" and first["breached"] is True and first["working"] is False
    assert first["over_by_minutes"] == pytest.approx(60, abs=1)
    queue = client_for(leads.seller1).get(
        f"/api/handoffs/queue/?stream={leads.stream.pk}&order=probability"
    )
    assert [r["deal_name"] for r in queue.json()["rows"]] == ["New SQL"]
    assert queue.json()["rows"][0]["win_probability"] is None
    bad = client_for(leads.manager).get("/api/handoffs/board/?stream=abc")
    assert bad.status_code == 400 and list(bad.json()) == ["stream"]
    hidden = client_for(leads.outsider).get(f"/api/handoffs/queue/?stream={leads.stream.pk}")
    assert hidden.status_code == 400 and list(hidden.json()) == ["stream"]
