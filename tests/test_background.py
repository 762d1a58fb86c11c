"""Queueing background work when the broker may be down (``vsm_project.background``) and the
catch-up that queues again what is owed (``vsm_project.tasks.catch_up``).

The broker is simulated here (a publish that raises what kombu raises when Redis refuses the
connection); ``tests/test_faults.py`` does the same with a real Redis and a real worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from unittest import mock

import pytest
from celery.exceptions import NotRegistered
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from funnel.importing import ImportOptions, import_upload_create
from funnel.metrics.query import MetricsQuery
from funnel.metrics.snapshots import (
    metrics_catch_up,
    metrics_owed,
    metrics_recompute_stream,
    metrics_stored,
)
from funnel.models import Deal, MetricsState, Visit
from funnel.tasks import recompute_stream_metrics
from streams.models import Job, JobState
from streams.services import job_create
from vsm_project.background import (
    NEVER_STARTED,
    QUEUE_UNREACHABLE,
    enqueue,
    job_claim,
    job_enqueue,
    job_restartable,
    jobs_catch_up,
    task_named,
)
from vsm_project.celery import app as celery_app
from vsm_project.tasks import catch_up

pytestmark = pytest.mark.django_db

REFUSED = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.fixture
def broker() -> Iterator[mock.MagicMock]:
    """Celery publishes for real (not eagerly); every publish goes to this mock, which the
    test may make fail like a Redis that is down (``broker.side_effect = REFUSED``)."""
    celery_app.conf.task_always_eager = False
    try:
        with mock.patch("celery.app.task.Task.apply_async", autospec=True) as publish:
            yield publish
    finally:
        celery_app.conf.task_always_eager = True


def published(publish: mock.MagicMock) -> list[tuple[str, tuple, dict]]:
    return [(c.args[0].name, c.args[1], c.args[2] or {}) for c in publish.call_args_list]


def test_enqueue_answers_false_instead_of_raising_when_the_broker_is_down(broker, caplog):
    broker.side_effect = REFUSED
    assert enqueue(recompute_stream_metrics, 7, if_owed=True) is False
    assert "Could not queue funnel.tasks.recompute_stream_metrics(7,)" in caplog.text
    broker.side_effect = None
    assert enqueue(recompute_stream_metrics, 7, if_owed=True) is True
    assert published(broker)[-1] == (
        "funnel.tasks.recompute_stream_metrics",
        (7,),
        {"if_owed": True},
    )


def test_enqueue_lets_other_errors_through(broker):
    broker.side_effect = TypeError("Object of type set is not JSON serializable")
    with pytest.raises(TypeError):
        enqueue(recompute_stream_metrics, {1})


def test_a_task_queued_by_name_is_the_task_its_module_defines(broker):
    """Services queue their own app's tasks by name (no import of the tasks module that
    imports them, tests/test_architecture.py); a mock of the module's task still sees it."""
    with mock.patch("funnel.tasks.recompute_stream_metrics.apply_async") as publish:
        assert enqueue("funnel.tasks.recompute_stream_metrics", 7, if_owed=True) is True
    assert publish.call_args.args[:2] == ((7,), {"if_owed": True})
    with pytest.raises(NotRegistered):
        task_named("funnel.tasks.no_such_task")


def test_a_task_named_before_its_module_was_imported_is_found():
    """The first lookup imports the apps' tasks modules, as a worker does at start (a
    fresh interpreter: this test run has imported them all long ago)."""
    code = (
        "import sys, django; django.setup()\n"
        "from vsm_project.background import task_named\n"
        "assert 'kaizen.tasks' not in sys.modules\n"
        "print(task_named('kaizen.tasks.check_cycle').name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "vsm_project.settings"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kaizen.tasks.check_cycle"


def test_a_move_with_the_broker_down_answers_success_and_its_recompute_stays_owed(
    broker, team_setup, django_capture_on_commit_callbacks, settings
):
    stream = team_setup.stream_a
    metrics_recompute_stream(stream_id=stream.pk, now=timezone.now() - timedelta(minutes=1))
    broker.side_effect = REFUSED
    api = APIClient()
    api.force_login(team_setup.manager_a)
    visits = Visit.objects.count()
    for step in (team_setup.steps_a[1], team_setup.steps_a[2]):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                f"/api/deals/{team_setup.deal_a1.pk}/move/", {"step": step.pk}, format="json"
            )
        assert response.status_code == 200, response.content
    assert Visit.objects.count() == visits + 2
    # One attempt for the burst: the flag, dated back, spares the second write its own.
    assert broker.call_count == 1
    state = MetricsState.objects.get(stream=stream)
    assert state.changed_at > state.computed_at
    requeue_after = timedelta(seconds=settings.METRICS_REQUEUE_AFTER_SECONDS)
    assert state.scheduled_at < timezone.now() - requeue_after
    assert list(metrics_owed().values_list("stream_id", flat=True)) == [stream.pk]

    # The broker is back: the next catch-up queues the recompute it owes, once.
    broker.side_effect = None
    broker.reset_mock()
    assert metrics_catch_up(now=timezone.now()) == [stream.pk]
    assert published(broker) == [
        ("funnel.tasks.recompute_stream_metrics", (stream.pk,), {"if_owed": True})
    ]
    assert metrics_catch_up(now=timezone.now()) == []  # queued just now: not again
    later = timezone.now() + requeue_after + timedelta(seconds=1)
    assert metrics_catch_up(now=later) == [stream.pk]  # that message was lost: again


def test_the_catch_up_leaves_fresh_streams_alone(broker, team_setup):
    metrics_recompute_stream(stream_id=team_setup.stream_a.pk, now=timezone.now())
    assert metrics_catch_up(now=timezone.now()) == []
    assert broker.call_count == 0


def test_an_owed_recompute_runs_and_a_covered_one_is_skipped(team_setup):
    stream_id = team_setup.stream_a.pk
    past = timezone.now() - timedelta(minutes=5)
    MetricsState.objects.create(stream_id=stream_id, changed_at=past, scheduled_at=past)
    assert recompute_stream_metrics(stream_id, if_owed=True) == 2  # the two standard sets
    state = MetricsState.objects.get(stream_id=stream_id)
    assert state.scheduled_at is None and state.computed_at > state.changed_at
    assert not metrics_stored(MetricsQuery(stream_id=stream_id)).stale
    with mock.patch("funnel.metrics.snapshots.compute_bases") as compute:
        assert recompute_stream_metrics(stream_id, if_owed=True) == 0
    compute.assert_not_called()


def test_a_job_runs_once_however_many_messages_ask_for_it(team_setup):
    job = job_create(kind="import", params={})
    assert job_claim(job_id=job.pk) is True
    assert job_claim(job_id=job.pk) is False  # a second message while it runs
    Job.objects.filter(pk=job.pk).update(state=JobState.DONE)
    assert job_claim(job_id=job.pk) is False


def test_a_job_left_running_by_a_dead_worker_is_taken_over_after_the_time_limit(settings):
    job = job_create(kind="import", params={})
    now = timezone.now()
    assert job_claim(job_id=job.pk, now=now)
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    assert not job_claim(job_id=job.pk, now=now + limit - timedelta(seconds=1))
    assert job_claim(job_id=job.pk, now=now + limit + timedelta(seconds=1))


def test_a_job_that_cannot_be_queued_fails_saying_so_and_may_start_again(broker):
    broker.side_effect = REFUSED
    job = job_create(kind="import", params={})
    assert job_enqueue(job, recompute_stream_metrics) is False
    job.refresh_from_db()
    assert (job.state, job.error) == (JobState.FAILED, QUEUE_UNREACHABLE)
    assert job_restartable(job)
    job.error = "ValueError: a real failure"
    assert not job_restartable(job)


def test_queued_jobs_that_never_started_are_queued_again_then_expired(settings):
    settings.JOBS_REQUEUE_AFTER_SECONDS = 60
    settings.JOBS_REQUEUE_ATTEMPTS = 2
    job = job_create(kind="import", params={"file": "a.csv"})
    odd = job_create(kind="something nobody knows", params={})
    created = timezone.now()
    requeue = mock.Mock(return_value=True)
    kinds = {"import": requeue}

    assert jobs_catch_up(requeue=kinds, now=created) == {"requeued": [], "expired": []}
    minute = timedelta(seconds=61)
    assert jobs_catch_up(requeue=kinds, now=created + minute) == {
        "requeued": [job.pk],
        "expired": [],  # a kind it cannot queue again waits for JOBS_EXPIRE_AFTER_SECONDS
    }
    assert jobs_catch_up(requeue=kinds, now=created + minute)["requeued"] == []  # just now
    assert jobs_catch_up(requeue=kinds, now=created + 2 * minute)["requeued"] == [job.pk]
    assert requeue.call_count == 2
    assert jobs_catch_up(requeue=kinds, now=created + 3 * minute) == {
        "requeued": [],
        "expired": [job.pk],
    }
    job.refresh_from_db()
    assert (job.state, job.error, job.params["requeued"]) == (JobState.FAILED, NEVER_STARTED, 2)
    assert job_restartable(job)
    expire = timedelta(seconds=settings.JOBS_EXPIRE_AFTER_SECONDS + 1)
    assert jobs_catch_up(requeue=kinds, now=created + expire)["expired"] == [odd.pk]
    odd.refresh_from_db()
    assert (odd.state, odd.error) == (JobState.FAILED, NEVER_STARTED)


def test_the_catch_up_task_queues_an_owed_stream_and_lost_jobs(broker, team_setup, settings):
    settings.JOBS_REQUEUE_AFTER_SECONDS = 0
    past = timezone.now() - timedelta(minutes=5)
    MetricsState.objects.create(stream_id=team_setup.stream_a.pk, changed_at=past)
    jobs = [
        job_create(kind="dashboard view", params={"sets": []}),
        job_create(kind="import check", params={"upload": 41}),
        job_create(kind="import read", params={"upload": 42}),
    ]
    Job.objects.update(created_at=past)
    assert catch_up() == {
        "streams": [team_setup.stream_a.pk],
        "working_time": [],  # no calendar: no working-time offsets owed
        "requeued": [job.pk for job in jobs],
        "expired": [],
    }
    assert sorted((name, args) for name, args, _ in published(broker)) == [
        ("funnel.tasks.check_import", (jobs[1].pk, 41)),
        ("funnel.tasks.prepare_metric_sets", (jobs[0].pk,)),
        ("funnel.tasks.recompute_stream_metrics", (team_setup.stream_a.pk,)),
        ("funnel.tasks.scan_import", (jobs[2].pk, 42)),
    ]


VISITS = b"deal_id,step,entered_at,exited_at,owner\nB-1,Step 1,2025-03-03T09:00:00Z,,rep-a1\n"


def test_an_import_started_with_the_broker_down_is_started_again_from_its_page(
    broker, team_setup, client, django_capture_on_commit_callbacks
):
    upload = import_upload_create(
        stream=team_setup.stream_a,
        data=VISITS,
        options=ImportOptions(format="visits"),
        filename="b.csv",
        uploaded_by=team_setup.manager_a,
    )
    client.force_login(team_setup.manager_a)
    run = reverse("funnel:import_run", args=[upload.pk])
    broker.side_effect = REFUSED
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(run)
    job = Job.objects.get(kind="import")
    assert (job.state, job.error) == (JobState.FAILED, QUEUE_UNREACHABLE)
    page = client.get(response["Location"]).content.decode()
    assert QUEUE_UNREACHABLE in page
    assert f'action="{run}"' in page and "Start again" in page

    broker.side_effect = None
    broker.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(run)
    second = Job.objects.exclude(pk=job.pk).get(kind="import")
    assert again["Location"].endswith(f"/jobs/{second.pk}/")
    assert published(broker) == [("funnel.tasks.import_events", (second.pk, upload.pk), {})]
    # Queued fine this time: the page no longer offers to start it again.
    assert "Start again" not in client.get(again["Location"]).content.decode()
    assert client.post(run)["Location"].endswith(f"/jobs/{second.pk}/")
    assert not Deal.objects.filter(external_id="B-1").exists()  # the worker's job, not ours


def test_a_dashboard_view_nobody_asked_for_is_computed_in_the_request_when_the_broker_is_down(
    broker, team_setup, client
):
    broker.side_effect = REFUSED
    client.force_login(team_setup.manager_a)
    page = f"/dashboards/streams/{team_setup.stream_a.slug}/flow/?amount_band=small"
    response = client.get(page)
    assert response.status_code == 200  # not "Preparing this view" forever
    assert 'id="chart-aging"' in response.content.decode()
    job = Job.objects.get(kind="dashboard view")
    assert (job.state, job.percent) == (JobState.DONE, 100)
    assert broker.call_count == 1  # it tried the queue first
