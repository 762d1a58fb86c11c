"""``GET /api/streams/{id}/leads/``: ready (computed by the eager job), computing (202),
failed (503), bad parameters named (400), who may read (every member of the team, reps
included; 404 for another team's stream), the schema and the catch-up of a lost job. The
figures are those of the hand-worked elapsed log (``hand_logs``)."""

from __future__ import annotations

from unittest import mock

import pytest
from drf_spectacular.generators import SchemaGenerator

from funnel.leads.snapshots import LEADS_JOB, leads_view_read
from funnel.models import MetricsState
from streams.models import Job, JobState, Role
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.funnel.leads.hand_logs import at, elapsed_log

pytestmark = pytest.mark.django_db

QUERY = "?start=2026-08-24&end=2026-09-14&as_of=2026-09-20T00:00Z"


def url(stream, query: str = QUERY) -> str:
    return f"/api/streams/{stream.pk}/leads/{query}"


@pytest.fixture
def log(db):
    return elapsed_log()


@pytest.mark.parametrize("who", ["manager", "leader", "sdr", "rep1"])
def test_every_team_member_reads_the_same_team_wide_figures(api_client, log, who):
    api_client.force_authenticate(getattr(log, who))
    response = api_client.get(url(log.stream))
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["stale"], body["job"]) == ("ready", False, body["job"])
    result = body["result"]
    assert result["format"] == 2
    assert result["view"]["as_of"] == "2026-09-20T00:00:00+00:00"
    assert [c["created"] for c in result["cohorts"]] == [2, 3]
    # August's Opportunity: 1 of 2 (A), Wilson 95 % [0.0945, 0.9055].
    opportunity = result["cohorts"][0]["stages"][f"accepted-{log.sql.pk}"]
    assert opportunity == {
        "reached": 1,
        "share": 0.5,
        "low": 0.0945,
        "high": 0.9055,
        "median_hours": 73.5,
        "p85_hours": 73.5,
    }
    assert [(s["due"], s["met"], s["rate"]) for s in result["sla"]] == [
        (7, 2, 0.2857),
        (2, 1, 0.5),
    ]
    # The by-rep rows are every rep's, whoever reads.
    assert [r["label"] for r in result["sla"][0]["by_rep"]] == ["rep2", "sdr", "sdr2", "No owner"]


def test_the_first_read_computes_and_the_next_reads_the_snapshot(api_client, log):
    api_client.force_authenticate(log.manager)
    first = api_client.get(url(log.stream)).json()
    again = api_client.get(url(log.stream)).json()
    assert again["computed_at"] == first["computed_at"] and again["job"] is None
    assert Job.objects.filter(kind=LEADS_JOB).count() == 1


def test_the_filters_narrow_the_figures(api_client, log):
    api_client.force_authenticate(log.manager)
    body = api_client.get(url(log.stream, QUERY + "&source=event")).json()
    assert [c["created"] for c in body["result"]["cohorts"]] == [0, 2]
    assert body["result"]["view"]["source"] == "event"
    body = api_client.get(url(log.stream, QUERY + f"&owner={log.rep2.pk}")).json()
    assert body["result"]["sla"][0]["due"] == 2  # C and E
    assert body["result"]["view"]["owner"] == log.rep2.pk


def test_while_the_job_waits_for_a_worker_the_answer_is_202_with_its_progress(api_client, log):
    api_client.force_authenticate(log.rep1)
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        response = api_client.get(url(log.stream))
        assert response.status_code == 202
        body = response.json()
        assert body["status"] == "computing"
        assert body["progress"].endswith(f"/jobs/{body['job']}/")
        assert api_client.get(url(log.stream)).json()["job"] == body["job"]
    assert Job.objects.get(pk=body["job"]).state == JobState.QUEUED


def test_a_stale_result_is_shown_while_the_new_one_is_computed(api_client, log):
    api_client.force_authenticate(log.manager)
    first = api_client.get(url(log.stream)).json()
    MetricsState.objects.update_or_create(
        stream=log.stream, defaults={"changed_at": at("2026-09-20T00:00Z")}
    )
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        body = api_client.get(url(log.stream)).json()
    assert body["status"] == "ready" and body["stale"] is True
    assert body["computed_at"] == first["computed_at"]
    assert Job.objects.get(pk=body["job"]).state == JobState.QUEUED


def test_a_failed_view_answers_503_and_is_not_retried_on_every_read(api_client, log):
    api_client.force_authenticate(log.manager)
    with (
        mock.patch("funnel.leads.sla_figures.sla_figures", side_effect=RuntimeError("x")),
        pytest.raises(RuntimeError),  # eager Celery propagates the task's error
    ):
        api_client.get(url(log.stream))
    response = api_client.get(url(log.stream))
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["error"]) == ("failed", "RuntimeError: x")
    assert Job.objects.filter(kind=LEADS_JOB).count() == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?start=2026-09-01", "end"),
        ("?start=2026-09-01&end=2026-08-01", "end"),
        ("?start=soon&end=2026-08-01", "start"),
        ("?as_of=2999-01-01", "as_of"),
        ("?owner=x", "owner"),
        ("?owner=123456789", "owner"),
        ("?source=%00", "source"),
        ("?time=working", "time"),
        ("?time=weeks", "time"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(api_client, log, query, field):
    api_client.force_authenticate(log.manager)
    response = api_client.get(url(log.stream, query))
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Job.objects.filter(kind=LEADS_JOB).exists()


def test_a_stream_of_another_team_is_a_404_and_signed_out_is_refused(api_client, log):
    outsider = UserFactory()
    MembershipFactory(user=outsider, team=TeamFactory(), role=Role.MANAGER)
    api_client.force_authenticate(outsider)
    assert api_client.get(url(log.stream)).status_code == 404
    api_client.force_authenticate(None)
    assert api_client.get(url(log.stream)).status_code in (401, 403)


def test_the_schema_documents_the_leads_endpoint():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/streams/{id}/leads/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "start",
        "end",
        "as_of",
        "source",
        "owner",
        "time",
    }
    assert {"200", "202", "400", "404", "503"} <= set(operation["responses"])
    result = schema["components"]["schemas"]["LeadsResult"]["properties"]
    assert set(result) == {
        "format",
        "view",
        "stages",
        "cohorts",
        "flow",
        "response",
        "sla",
        "queue",
        "separation",
        "waste",
    }
    stage = schema["components"]["schemas"]["CohortStage"]
    assert {"share", "low", "high"} <= set(stage["properties"]) <= set(stage["required"])
    assert (
        stage["properties"]["low"]["nullable"]
        and "Wilson" in stage["properties"]["low"]["description"]
    )


def test_the_catch_up_queues_a_leads_job_whose_message_was_lost(log):
    from vsm_project.tasks import _requeuers

    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        snapshot, job = leads_view_read(log.stream, {})
    assert snapshot is None and job.state == JobState.QUEUED
    assert _requeuers()[job.kind](job)  # eager: it runs
    job.refresh_from_db()
    assert job.state == JobState.DONE
    assert leads_view_read(log.stream, {})[1] is None  # fresh now
