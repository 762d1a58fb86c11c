"""``POST /api/handoffs/undo/`` (funnel/leads/api.py): in the schema, and every role checked
on the server: the decider within 10 minutes, a manager later with a reason; another SDR and
leadership refused (docs/leads.md "Undo")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from funnel.leads.models import HandoffDecision, HandoffUndo
from funnel.models import Deal, Visit
from streams.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.funnel.leads.conftest import lead

pytestmark = pytest.mark.django_db
URL = "/api/handoffs/undo/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def rejected(ns):
    start = timezone.now() - timedelta(minutes=30)
    visit = lead(
        ns,
        ("Qualify", start.isoformat()),
        ("MQL", (start + timedelta(minutes=5)).isoformat()),
    )
    answer = client_for(ns.sdr).post(
        "/api/handoffs/decide/",
        {"visit": visit.pk, "kind": "reject", "reason": ns.reject_reason.pk},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    return visit, answer.json()["id"]


def test_the_undo_action_is_in_the_schema(client, leads):
    client.force_login(leads.manager)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"][URL]["post"]
    assert {"200", "400", "403"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = schema["components"]["schemas"][body.rsplit("/", 1)[1]]["properties"]
    assert {"decision", "reason"} <= set(fields)


def test_the_sdr_undoes_their_reject(leads):
    visit, decision = rejected(leads)
    answer = client_for(leads.sdr).post(URL, {"decision": decision}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["kind"], body["decided_by"], body["undone_by"], body["reason"]) == (
        "reject",
        leads.sdr.pk,
        leads.sdr.pk,
        "",
    )
    assert Visit.objects.get(deal_id=visit.deal_id, exited_at__isnull=True).pk == visit.pk
    assert not HandoffDecision.objects.filter(pk=decision).exists()
    # Twice: the decision is gone (400 naming it).
    again = client_for(leads.sdr).post(URL, {"decision": decision}, format="json")
    assert again.status_code == 400 and "decision" in again.json()


def test_another_sdr_and_leadership_get_403(leads):
    other = UserFactory(username="sdr2")
    MembershipFactory(user=other, team=leads.team, role=Role.REP)
    _visit, decision = rejected(leads)
    for user in (other, leads.leader):
        answer = client_for(user).post(
            URL, {"decision": decision, "reason": "mine now"}, format="json"
        )
        assert answer.status_code == 403, (user, answer.content)
    # Another team does not see the decision at all.
    outsider = client_for(leads.outsider).post(URL, {"decision": decision}, format="json")
    assert outsider.status_code == 400 and "decision" in outsider.json()
    assert HandoffDecision.objects.filter(pk=decision).exists()
    assert not HandoffUndo.objects.exists()


def test_after_the_window_the_sdr_gets_400_and_a_manager_undoes_with_a_reason(leads):
    visit, decision = rejected(leads)
    HandoffDecision.objects.filter(pk=decision).update(
        recorded_at=timezone.now() - timedelta(minutes=11)
    )
    late = client_for(leads.sdr).post(URL, {"decision": decision}, format="json")
    assert late.status_code == 400
    assert "10 minutes" in late.json()["decision"][0]
    manager = client_for(leads.manager)
    no_reason = manager.post(URL, {"decision": decision}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    done = manager.post(URL, {"decision": decision, "reason": "Rejected by mistake"}, format="json")
    assert done.status_code == 200 and done.json()["reason"] == "Rejected by mistake"
    assert Deal.objects.get(pk=visit.deal_id).visits.filter(exited_at__isnull=True).get() == visit


def test_a_lead_that_moved_on_is_a_400(leads):
    visit, decision = rejected(leads)
    back = Visit.objects.get(deal_id=visit.deal_id, exited_at__isnull=True)
    client_for(leads.manager).post(
        f"/api/deals/{visit.deal_id}/move/", {"step": leads.steps["MQL"].pk}, format="json"
    )
    assert Visit.objects.filter(deal_id=visit.deal_id).count() == 4, back
    answer = client_for(leads.sdr).post(URL, {"decision": decision}, format="json")
    assert answer.status_code == 400
    assert "moved on since" in answer.json()["decision"][0]


@pytest.mark.parametrize(
    "body",
    [{}, {"decision": "abc"}, {"decision": 2**70}, {"decision": None}, {"decision": [1]}],
)
def test_a_bad_body_is_a_400_naming_the_decision(leads, body):
    answer = client_for(leads.sdr).post(URL, body, format="json")
    assert answer.status_code == 400 and "decision" in answer.json()
