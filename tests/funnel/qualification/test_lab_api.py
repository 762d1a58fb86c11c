"""``GET /api/streams/{id}/lab/`` and the lab's snapshots: ready / computing, bad
parameters named, streams one cannot see, what a rep sees, staleness and the job."""

from __future__ import annotations

from unittest import mock

import pytest
from drf_spectacular.generators import SchemaGenerator

from funnel.qualification.models import CriterionScore, LabSnapshot
from funnel.qualification.snapshots import lab_view_from_params, lab_view_read
from funnel.tasks import compute_lab
from streams.models import Job, JobState
from tests.factories import BASE_TIME, DealFactory, VisitFactory

pytestmark = pytest.mark.django_db


def url(stream, query: str = "") -> str:
    return f"/api/streams/{stream.pk}/lab/{query}"


@pytest.fixture
def closed(qual):
    """Stream A (MEDDPICC) with a closed won deal of rep_a1 and the two open deals."""
    deal = DealFactory(stream=qual.stream_a, owner=qual.rep_a1, won=True)
    VisitFactory(deal=deal, step=qual.steps_a[0], entered_at=BASE_TIME, exited=True)
    return qual


def test_the_first_read_computes_with_eager_celery_then_reads_the_snapshot(api_client, closed):
    api_client.force_authenticate(closed.leader_a)
    response = api_client.get(url(closed.stream_a, "?start=2025-01-01&end=2025-03-01&as_of=close"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["stale"] is False
    assert body["result"]["deals"] == {"closed": 1, "won": 1, "lost": 0}
    assert body["result"]["view"]["as_of"] is None
    assert [c["name"] for c in body["result"]["criteria"]][:1]  # the MEDDPICC criteria
    job = Job.objects.get(kind="lab view")
    assert job.state == JobState.DONE
    # Read again: the same snapshot, no new job.
    again = api_client.get(url(closed.stream_a, "?start=2025-01-01&end=2025-03-01&as_of=close"))
    assert again.json()["computed_at"] == body["computed_at"]
    assert Job.objects.filter(kind="lab view").count() == 1


def test_while_the_job_waits_for_a_worker_the_answer_is_202_with_its_progress(api_client, closed):
    api_client.force_authenticate(closed.manager_a)
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        response = api_client.get(url(closed.stream_a))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "computing"
    assert body["progress"].endswith(f"/jobs/{body['job']}/")
    assert Job.objects.get(pk=body["job"]).state == JobState.QUEUED
    # A second read joins the same job.
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        assert api_client.get(url(closed.stream_a)).json()["job"] == body["job"]


def test_a_new_score_makes_the_snapshot_stale_and_it_is_recomputed_on_read(api_client, closed):
    api_client.force_authenticate(closed.manager_a)
    view = "?start=2025-01-01&end=2025-03-01&as_of=close"
    first = api_client.get(url(closed.stream_a, view)).json()
    deal = closed.stream_a.deals.get(status="won")
    CriterionScore.objects.create(
        deal=deal, criterion=closed.crit, level=3, scored_at=deal.closed_at
    )
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        stale = api_client.get(url(closed.stream_a, view))
    assert stale.status_code == 200
    assert stale.json()["stale"] is True and stale.json()["job"] is not None
    assert stale.json()["computed_at"] == first["computed_at"]
    compute_lab.apply((stale.json()["job"],))  # the worker runs the queued job
    fresh = api_client.get(url(closed.stream_a, view)).json()
    metrics = next(c for c in fresh["result"]["criteria"] if c["key"] == closed.crit.key)
    assert (metrics["n_met"], fresh["stale"]) == (1, False)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?start=2025-13-01", "start"),
        ("?end=yesterday", "end"),
        ("?start=2025-03-01&end=2025-02-01", "end"),
        ("?as_of=Proposal", "as_of"),
        ("?as_of=%00", "as_of"),
        ("?as_of=99999999999999999999999", "as_of"),  # beyond a bigint
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(api_client, closed, query, field):
    api_client.force_authenticate(closed.manager_a)
    response = api_client.get(url(closed.stream_a, query))
    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert not LabSnapshot.objects.exists() and not Job.objects.exists()


def test_an_as_of_step_of_another_stream_is_a_400(api_client, closed):
    api_client.force_authenticate(closed.manager_a)
    response = api_client.get(url(closed.stream_a, f"?as_of={closed.steps_b[1].pk}"))
    assert response.status_code == 400 and "as_of" in response.json()


@pytest.mark.parametrize("who", ["manager_b", "rep_b"])
def test_a_stream_of_another_team_is_a_404(api_client, closed, who):
    api_client.force_authenticate(getattr(closed, who))
    assert api_client.get(url(closed.stream_a)).status_code == 404


def test_signed_out_is_refused(api_client, closed):
    assert api_client.get(url(closed.stream_a)).status_code in (401, 403)


@pytest.mark.parametrize("who", ["manager_a", "leader_a", "rep_a1", "rep_a2"])
def test_every_team_member_reads_and_a_rep_sees_only_their_own_coverage_row(
    api_client, closed, who
):
    user = getattr(closed, who)
    api_client.force_authenticate(user)
    response = api_client.get(url(closed.stream_a))
    assert response.status_code == 200
    owners = {r["owner"] for r in response.json()["result"]["coverage"]["by_rep"]}
    if who.startswith("rep"):
        assert owners == {user.pk}
    else:
        assert owners == {closed.rep_a1.pk, closed.rep_a2.pk}


def test_the_default_view_is_the_last_365_days_as_of_the_latest_known_by_step(closed):
    view, key, rolling = lab_view_from_params(closed.stream_a, {})
    latest = max(
        (c.known_by for c in closed.criteria if c.known_by), key=lambda s: s.position, default=None
    )
    assert view.as_of == (latest.pk if latest else None)
    assert rolling and key.startswith("last-365d@")
    assert (view.end - view.start).days == 365
    explicit, key2, _ = lab_view_from_params(
        closed.stream_a, {"start": "2025-01-01", "end": "2025-02-01", "as_of": "close"}
    )
    assert key2 == "2025-01-01T00:00:00Z/2025-02-01T00:00:00Z@close"
    assert explicit.as_of is None


def test_the_read_returns_the_snapshot_and_no_job_when_fresh(closed):
    snapshot, job = lab_view_read(closed.stream_a, {"as_of": "close"})
    assert snapshot is not None and job is not None  # computed by the eager job
    again, none = lab_view_read(closed.stream_a, {"as_of": "close"})
    assert again.pk == snapshot.pk and none is None


def test_the_schema_documents_the_lab():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/streams/{id}/lab/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"start", "end", "as_of"}
    assert {"200", "202", "400", "404"} <= set(operation["responses"])


def test_the_catch_up_queues_a_lab_job_whose_message_was_lost(closed):
    from vsm_project.tasks import _requeuers

    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        snapshot, job = lab_view_read(closed.stream_a, {"as_of": "close"})
    assert snapshot is None and job.state == JobState.QUEUED
    assert _requeuers()[job.kind](job)  # eager: it runs
    job.refresh_from_db()
    assert job.state == JobState.DONE
    assert lab_view_read(closed.stream_a, {"as_of": "close"})[1] is None  # fresh now


def test_a_view_whose_job_failed_answers_503_and_is_not_retried_on_every_read(api_client, closed):
    api_client.force_authenticate(closed.manager_a)
    with (
        mock.patch("funnel.qualification.snapshots.compute_lab", side_effect=RuntimeError("x")),
        pytest.raises(RuntimeError),  # eager Celery propagates the task's error
    ):
        api_client.get(url(closed.stream_a))
    job = Job.objects.get(kind="lab view")
    assert (job.state, job.error) == (JobState.FAILED, "RuntimeError: x")
    response = api_client.get(url(closed.stream_a))
    assert response.status_code == 503
    assert response.json()["status"] == "failed" and response.json()["job"] == job.pk
    assert Job.objects.filter(kind="lab view").count() == 1


def _stale_after(stream, capture, write) -> bool:
    """Whether ``write``, once committed, changes the lab's signature. (One write a test: the
    test's transaction never commits, so a second write of the stream would find the first's
    callback still pending and ride on it, as writes of one transaction do.)"""
    from funnel.qualification.snapshots import lab_signature

    before = lab_signature(stream)
    assert lab_signature(stream) == before  # nothing changed: the same
    with capture(execute=True):
        write()
    return lab_signature(stream) != before


def test_closing_a_deal_makes_the_lab_stale(closed, django_capture_on_commit_callbacks):
    """The signature reads the stream's recorded change (MetricsState, set when the write
    commits), not a count of its deals: every write the lab depends on records one."""
    from funnel.eventlog.services import deal_close

    deal = closed.stream_a.deals.filter(status="open").first()
    assert _stale_after(
        closed.stream_a,
        django_capture_on_commit_callbacks,
        lambda: deal_close(
            deal=deal, outcome="lost", lost_reason="No budget", actor=closed.manager_a
        ),
    )


def test_changing_a_deals_amount_makes_the_lab_stale(closed, django_capture_on_commit_callbacks):
    from decimal import Decimal

    from funnel.eventlog.services import deal_update

    won = closed.stream_a.deals.get(status="won")
    assert _stale_after(
        closed.stream_a,
        django_capture_on_commit_callbacks,
        lambda: deal_update(deal=won, user=closed.manager_a, amount=Decimal("12345.00")),
    )
