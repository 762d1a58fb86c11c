"""The qualification API: criteria, scores (one and bulk) and win calls, with 400/403/404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from funnel.qualification.models import Criterion, CriterionScore, WinCall
from funnel.qualification.services import score_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(api_client):
    def as_user(user):
        api_client.force_authenticate(user)
        return api_client

    return as_user


def test_criteria_list_for_the_team_and_not_others(api, qual):
    body = api(qual.rep_a1).get("/api/criteria/", {"stream": qual.stream_a.pk}).json()
    assert body["count"] == 8
    first = body["results"][0]
    assert (first["name"], first["levels"][1], first["stream"]) == (
        "Metrics",
        "Identified",
        qual.stream_a.pk,
    )
    assert api(qual.rep_b).get("/api/criteria/").json()["count"] == 0
    assert api(qual.rep_b).get(f"/api/criteria/{qual.crit.pk}/").status_code == 404


def test_managers_create_update_retire_and_restore_criteria(api, qual):
    client = api(qual.manager_a)
    made = client.post(
        "/api/criteria/",
        {
            "stream": qual.stream_a.pk,
            "name": "Timing",
            "scale": "yes_no",
            "known_by": qual.steps_a[1].pk,
            "weight": 3,
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert (made.json()["met_level"], made.json()["key"]) == (1, "timing")
    pk = made.json()["id"]
    dup = client.post(
        "/api/criteria/", {"stream": qual.stream_a.pk, "name": "timing"}, format="json"
    )
    assert dup.status_code == 400 and "name" in dup.json()
    other_step = client.patch(
        f"/api/criteria/{pk}/", {"known_by": qual.steps_b[0].pk}, format="json"
    )
    assert other_step.status_code == 400 and "known_by" in other_step.json()
    unknown = client.patch(f"/api/criteria/{pk}/", {"colour": "red"}, format="json")
    assert unknown.status_code == 400 and "colour" in unknown.json()
    score_create(
        deal=qual.deal_a1, criterion=Criterion.objects.get(pk=pk), level=1, user=qual.rep_a1
    )
    new = client.patch(f"/api/criteria/{pk}/", {"question": "When?"}, format="json").json()
    assert (new["key"], new["version"]) == ("timing", 2) and new["id"] != pk
    assert client.post(f"/api/criteria/{new['id']}/retire/").json()["retired_at"]
    assert client.post(f"/api/criteria/{new['id']}/retire/").status_code == 400
    assert client.post(f"/api/criteria/{new['id']}/restore/").json()["retired_at"] is None


@pytest.mark.parametrize("who", ["rep_a1", "leader_a"])
def test_reps_and_leadership_do_not_change_criteria(api, qual, who):
    client = api(getattr(qual, who))
    assert (
        client.post(
            "/api/criteria/", {"stream": qual.stream_a.pk, "name": "X"}, format="json"
        ).status_code
        == 403
    )
    assert (
        client.patch(f"/api/criteria/{qual.crit.pk}/", {"weight": 5}, format="json").status_code
        == 403
    )
    assert client.post(f"/api/criteria/{qual.crit.pk}/retire/").status_code == 403
    assert (
        api(qual.manager_b)
        .post("/api/criteria/", {"stream": qual.stream_a.pk, "name": "X"}, format="json")
        .status_code
        == 400
    )  # a stream it cannot see: not found, naming stream


def test_score_create_and_list(api, qual):
    client = api(qual.rep_a1)
    made = client.post(
        "/api/scores/",
        {"deal": qual.deal_a1.pk, "criterion": qual.crit.pk, "level": 2, "note": "ROI agreed"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert (body["level_label"], body["source"], body["step"], body["criterion_key"]) == (
        "Validated",
        "api",
        qual.steps_a[0].pk,
        "metrics",
    )
    score_create(deal=qual.deal_a2, criterion=qual.crit, level=1, user=qual.rep_a2)
    assert client.get("/api/scores/").json()["count"] == 1  # a rep sees their own deals'
    manager = api(qual.manager_a)
    assert manager.get("/api/scores/").json()["count"] == 2
    assert manager.get("/api/scores/", {"deal": qual.deal_a2.pk}).json()["count"] == 1
    assert manager.get("/api/scores/", {"criterion": qual.criteria[1].pk}).json()["count"] == 0
    assert manager.get("/api/scores/", {"stream": qual.stream_b.pk}).json()["count"] == 0
    assert api(qual.rep_a2).get(f"/api/scores/{body['id']}/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"level": 4}, "level"),
        ({"scored_at": "2999-01-01T00:00:00+00:00"}, "scored_at"),
        ({"scored_at": "2026-01-01T00:00:00"}, "scored_at"),
        ({"deal": 999999}, "deal"),
        ({"criterion": 999999}, "criterion"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_scores_are_400_naming_the_field(api, qual, change, field):
    body = {"deal": qual.deal_a1.pk, "criterion": qual.crit.pk, "level": 1, **change}
    answer = api(qual.rep_a1).post("/api/scores/", body, format="json")
    assert answer.status_code == 400 and field in answer.json()
    assert not CriterionScore.objects.exists()


def test_scoring_another_reps_deal_or_as_leadership(api, qual):
    body = {"deal": qual.deal_a2.pk, "criterion": qual.crit.pk, "level": 1}
    answer = api(qual.rep_a1).post("/api/scores/", body, format="json")
    assert answer.status_code == 400 and "deal" in answer.json()  # not visible to this rep
    assert api(qual.leader_a).post("/api/scores/", body, format="json").status_code == 403
    assert not CriterionScore.objects.exists()


def test_bulk_scores(api, qual):
    client = api(qual.manager_a)
    good = {
        "deal": qual.deal_a1.pk,
        "criterion": qual.crit.pk,
        "level": 1,
        "scored_at": (timezone.now() - timedelta(days=1)).isoformat(),
    }
    answer = client.post(
        "/api/scores/bulk/",
        {"scores": [good, {**good, "level": 9}, {**good, "deal": 999999}]},
        format="json",
    )
    assert answer.status_code == 400
    assert {(e["index"], e["field"]) for e in answer.json()["errors"]} == {
        (1, "level"),
        (2, "deal"),
    }
    assert answer.json()["applied"] == 0 and not CriterionScore.objects.exists()
    assert client.post("/api/scores/bulk/", {"scores": []}, format="json").status_code == 400
    done = client.post("/api/scores/bulk/", {"scores": [good, {**good, "level": 2}]}, format="json")
    assert done.status_code == 200 and done.json()["applied"] == 2
    assert [r["source"] for r in done.json()["results"]] == ["api", "api"]
    refused = api(qual.leader_a).post("/api/scores/bulk/", {"scores": [good]}, format="json")
    assert refused.status_code == 403 and refused.json()["errors"][0]["index"] == 0


def test_bulk_rows_that_are_not_objects_are_named_by_index(api, qual):
    good = {"deal": qual.deal_a1.pk, "criterion": qual.crit.pk, "level": 1}
    answer = api(qual.manager_a).post(
        "/api/scores/bulk/", {"scores": [good, 7, "x", None, [good]]}, format="json"
    )
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert [e["index"] for e in errors] == [1, 2, 3, 4]
    for error, kind in zip(errors, ["int", "str", "NoneType", "list"], strict=True):
        assert error["field"] is None
        assert error["reason"] == (
            f"A score is a JSON object {{deal, criterion, level, note?, scored_at?}}, not {kind}."
        )
    assert answer.json()["applied"] == 0 and not CriterionScore.objects.exists()
    not_a_list = api(qual.manager_a).post("/api/scores/bulk/", {"scores": 7}, format="json")
    assert not_a_list.status_code == 400
    assert [(e["index"], e["field"]) for e in not_a_list.json()["errors"]] == [(None, "scores")]
    assert "ErrorDetail" not in not_a_list.content.decode()


def test_win_calls(api, qual):
    client = api(qual.rep_a1)
    made = client.post(
        "/api/win-calls/", {"deal": qual.deal_a1.pk, "probability": 60}, format="json"
    )
    assert made.status_code == 201 and made.json()["probability"] == 60
    bad = client.post(
        "/api/win-calls/", {"deal": qual.deal_a1.pk, "probability": 140}, format="json"
    )
    assert bad.status_code == 400 and "probability" in bad.json()
    assert (
        api(qual.leader_a)
        .post("/api/win-calls/", {"deal": qual.deal_a1.pk, "probability": 5}, format="json")
        .status_code
        == 403
    )
    assert api(qual.manager_a).get("/api/win-calls/").json()["count"] == 1
    assert api(qual.rep_a2).get("/api/win-calls/").json()["count"] == 0
    assert WinCall.objects.count() == 1


def test_the_schema_documents_the_endpoints(api, qual):
    schema = api(qual.manager_a).get("/api/schema/", {"format": "json"}).json()
    for path in [
        "/api/criteria/",
        "/api/criteria/{id}/retire/",
        "/api/scores/",
        "/api/scores/bulk/",
        "/api/win-calls/",
    ]:
        assert path in schema["paths"], path
    assert "403" in schema["paths"]["/api/scores/bulk/"]["post"]["responses"]


def test_a_closed_deal_a_criterion_of_another_stream_or_retired_is_a_400_naming_it(api, qual):
    """The bad inputs of the issue through the API (the services' own test checks the rules):
    each is a 400 naming the field, and nothing is stored, in one score or in bulk."""
    from funnel.eventlog.services import deal_close
    from funnel.qualification.services import criteria_set_start, criterion_retire

    other = criteria_set_start(stream=qual.stream_b, preset="bant", user=qual.manager_b)
    retired = criterion_retire(criterion=qual.criteria[1], user=qual.manager_a)
    client = api(qual.manager_a)
    for criterion in (other.criteria.first(), retired):
        body = {"deal": qual.deal_a1.pk, "criterion": criterion.pk, "level": 1}
        answer = client.post("/api/scores/", body, format="json")
        assert answer.status_code == 400 and "criterion" in answer.json(), answer.json()
    deal_close(deal=qual.deal_a2, outcome="lost", actor=qual.manager_a)
    body = {"deal": qual.deal_a2.pk, "criterion": qual.crit.pk, "level": 1}
    answer = client.post("/api/scores/", body, format="json")
    assert answer.status_code == 400 and "deal" in answer.json(), answer.json()
    good = {"deal": qual.deal_a1.pk, "criterion": qual.crit.pk, "level": 1}
    bulk = client.post(
        "/api/scores/bulk/",
        {"scores": [good, body, {**good, "criterion": other.criteria.first().pk}]},
        format="json",
    )
    assert bulk.status_code == 400
    assert [(e["index"], e["field"]) for e in bulk.json()["errors"]] == [
        (1, "deal"),
        (2, "criterion"),
    ]
    assert not CriterionScore.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_score_is_never_changed_nor_deleted_through_the_api(api, qual, method):
    score = score_create(deal=qual.deal_a1, criterion=qual.crit, level=1, user=qual.rep_a1)
    client = api(qual.manager_a)
    answer = getattr(client, method)(f"/api/scores/{score.pk}/", {"level": 3}, format="json")
    assert answer.status_code == 405
    assert list(CriterionScore.objects.values_list("pk", "level")) == [(score.pk, 1)]
