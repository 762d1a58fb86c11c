"""The deal API's undo, reopen, history and edit, per role, and their place in the schema."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from rest_framework.test import APIClient

from funnel.eventlog.services import deal_close
from funnel.models import DealEventKind, DealStatus
from tests.factories import BASE_TIME

pytestmark = pytest.mark.django_db

NOW = BASE_TIME + timedelta(days=3)
WHO = ["manager_a", "rep_a1", "rep_a2", "leader_a", "manager_b", "anonymous"]
DENIED = "401 or 403"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def closed(team_setup: SimpleNamespace) -> SimpleNamespace:
    """deal_a1 lost a minute ago, closed by its owner rep_a1."""
    deal_close(
        deal=team_setup.deal_a1,
        outcome="lost",
        at=NOW - timedelta(minutes=1),
        lost_reason="No budget",
        actor=team_setup.rep_a1,
    )
    return team_setup


def _client(ns: SimpleNamespace, who: str) -> APIClient:
    client = APIClient()
    if who != "anonymous":
        client.force_authenticate(user=getattr(ns, who))
    return client


def _check(response, expected) -> None:
    if expected == DENIED:
        assert response.status_code in (401, 403), response.content
    else:
        assert response.status_code == expected, response.content


@pytest.mark.parametrize(
    ("who", "expected"), list(zip(WHO, [403, 200, 404, 403, 404, DENIED], strict=True))
)
def test_only_whoever_closed_the_deal_undoes_it(closed, who, expected):
    response = _client(closed, who).post(f"/api/deals/{closed.deal_a1.pk}/undo/")
    _check(response, expected)
    closed.deal_a1.refresh_from_db()
    assert closed.deal_a1.status == (DealStatus.OPEN if expected == 200 else DealStatus.LOST)
    if expected == 200:
        body = response.json()
        assert (body["status"], body["closed_at"], body["lost_reason"]) == ("open", None, "")
        assert body["current_step"] == closed.steps_a[0].pk


def test_an_undo_after_ten_minutes_is_a_400_naming_deal(closed, frozen):
    frozen.shift(timedelta(minutes=11))
    response = _client(closed, "rep_a1").post(f"/api/deals/{closed.deal_a1.pk}/undo/")
    assert response.status_code == 400
    assert "2025-01-09 09:10 UTC" in response.json()["deal"][0]


@pytest.mark.parametrize(
    ("who", "expected"), list(zip(WHO, [200, 403, 404, 403, 404, DENIED], strict=True))
)
def test_only_the_teams_managers_reopen(closed, who, expected):
    response = _client(closed, who).post(
        f"/api/deals/{closed.deal_a1.pk}/reopen/", {"reason": "Budget approved"}, format="json"
    )
    _check(response, expected)
    closed.deal_a1.refresh_from_db()
    assert closed.deal_a1.status == (DealStatus.OPEN if expected == 200 else DealStatus.LOST)


def test_a_reopen_without_a_reason_or_of_an_open_deal_is_a_400_naming_it(closed):
    client = _client(closed, "manager_a")
    url = f"/api/deals/{closed.deal_a1.pk}/reopen/"
    assert "reason" in client.post(url, {}, format="json").json()
    assert "reason" in client.post(url, {"reason": "   "}, format="json").json()
    assert client.post(url, {"reason": "Budget approved"}, format="json").status_code == 200
    again = client.post(url, {"reason": "Twice"}, format="json")
    assert again.status_code == 400 and "deal" in again.json()


@pytest.mark.parametrize(
    ("who", "expected"), list(zip(WHO, [200, 200, 404, 200, 404, DENIED], strict=True))
)
def test_the_history_lists_closes_and_reopens_to_whoever_sees_the_deal(closed, who, expected):
    _client(closed, "manager_a").post(
        f"/api/deals/{closed.deal_a1.pk}/reopen/", {"reason": "Budget approved"}, format="json"
    )
    response = _client(closed, who).get(f"/api/deals/{closed.deal_a1.pk}/history/")
    _check(response, expected)
    if expected == 200:
        rows = response.json()
        assert [row["kind"] for row in rows] == [DealEventKind.CLOSED, DealEventKind.REOPENED]
        assert rows[1]["reason"] == "Budget approved" and rows[1]["status"] == "lost"
        assert rows[1]["actor"] == closed.manager_a.pk


def test_the_owner_patches_the_new_fields_and_a_manager_reassigns(team_setup):
    ns = team_setup
    url = f"/api/deals/{ns.deal_a1.pk}/"
    edited = _client(ns, "rep_a1").patch(
        url, {"expected_close_date": "2025-03-01", "next_step": "Demo on Friday"}, format="json"
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["expected_close_date"] == "2025-03-01"
    assert edited.json()["next_step"] == "Demo on Friday"
    moved = _client(ns, "manager_a").patch(url, {"owner": ns.rep_a2.pk}, format="json")
    assert moved.status_code == 200 and moved.json()["owner"] == ns.rep_a2.pk
    elsewhere = _client(ns, "manager_a").patch(url, {"owner": ns.rep_b.pk}, format="json")
    assert elsewhere.status_code == 400 and "owner" in elsewhere.json()


def test_a_patch_reports_every_bad_field_at_once(team_setup):
    ns = team_setup
    response = _client(ns, "manager_a").patch(
        f"/api/deals/{ns.deal_a1.pk}/",
        {"name": " ", "expected_close_date": "2024-01-01", "owner": ns.leader_a.pk},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"name", "expected_close_date", "owner"}


def test_an_expected_close_date_more_than_ten_years_away_is_refused_naming_it(team_setup):
    ns = team_setup
    response = _client(ns, "manager_a").patch(
        f"/api/deals/{ns.deal_a1.pk}/", {"expected_close_date": "9999-12-31"}, format="json"
    )
    assert response.status_code == 400
    assert "more than 10 years away" in response.json()["expected_close_date"][0]


@pytest.mark.parametrize(("who", "expected"), [("leader_a", 403), ("rep_a2", 404)])
def test_an_empty_patch_is_refused_to_whoever_may_not_edit(team_setup, who, expected):
    response = _client(team_setup, who).patch(
        f"/api/deals/{team_setup.deal_a1.pk}/", {}, format="json"
    )
    assert response.status_code == expected


def test_the_schema_documents_undo_reopen_history_and_the_edit_fields(team_setup):
    schema = _client(team_setup, "rep_a1").get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "post" in paths["/api/deals/{id}/undo/"]
    reopen = paths["/api/deals/{id}/reopen/"]["post"]
    assert reopen["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "DealReopenRequest"
    )
    assert "get" in paths["/api/deals/{id}/history/"]
    patch_fields = schema["components"]["schemas"]["PatchedDealUpdateRequest"]["properties"]
    assert {"expected_close_date", "next_step", "owner"} <= set(patch_fields)
