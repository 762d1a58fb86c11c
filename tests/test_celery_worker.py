"""The Celery wiring end to end: a real worker process, the real Redis broker, and the
PostgreSQL test database shared between this process and the worker.

Needs ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL``; ``.ci/run`` sets both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from funnel.eventlog.services import deal_move
from funnel.metrics.query import MetricsQuery
from funnel.metrics.snapshots import PREPARE_JOB, metrics_recompute_stream, metrics_stored
from funnel.models import Deal, MetricsState
from streams.models import Job, JobState
from streams.services import job_create
from tests.factories import PASSWORD
from tests.services import missing_service
from vsm_project.celery import app as celery_app
from vsm_project.health import health_status
from vsm_project.tasks import seed_demo_task

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def worker() -> Iterator[subprocess.Popen]:
    if not os.environ.get("REDIS_URL"):
        missing_service("needs Redis: set REDIS_URL to run a real Celery worker")
    if connection.vendor != "postgresql":
        missing_service(
            "needs PostgreSQL: set DATABASE_URL so a worker process can share the "
            "test database (SQLite's test database lives in this process's memory)"
        )
    db = settings.DATABASES["default"]
    env = os.environ | {
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}"
        f"/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "vsm_project.settings",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "vsm_project",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
            "-n",
            f"test-worker-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=1.0):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the Celery worker did not start:\n{proc.stdout.read()}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_real_worker_seeds_demo_data_and_reports_progress(worker):
    assert not settings.CELERY_TASK_ALWAYS_EAGER

    healthy, report = health_status()
    assert healthy, report
    assert report["workers"]["count"] >= 1

    job = job_create(kind="seed demo", params={"deals": 25}, total=25)
    seed_demo_task.delay(job.pk, 25, 11, datetime(2026, 6, 1, tzinfo=UTC).isoformat())
    # Task results are not stored (CELERY_TASK_IGNORE_RESULT): the Job row carries them.
    deadline = time.monotonic() + 120
    while Job.objects.get(pk=job.pk).state in (JobState.QUEUED, JobState.RUNNING):
        if time.monotonic() > deadline:
            pytest.fail("the worker did not seed the demo data within 120 s")
        time.sleep(0.2)
    payload = Job.objects.get(pk=job.pk).result

    # Beside the deals, the demo seeds six leads per deal that never became deals (issue 16):
    # cases of the same table.
    assert payload["deals"] == 25 and payload["leads"] == 6 * 25
    assert Deal.objects.count() == 25 + 6 * 25
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.percent == 100
    assert job.result["visits"] == payload["visits"] > 25
    assert Job.objects.get(pk=job.pk).finished_at is not None


def test_a_real_worker_recomputes_the_metrics_after_a_logged_move(worker, team_setup):
    """The debounced recompute goes through Redis to the worker, which writes the snapshot."""
    query = MetricsQuery(stream_id=team_setup.stream_a.pk)
    metrics_recompute_stream(stream_id=query.stream_id, now=timezone.now())
    before = metrics_stored(query).computed_at
    deal_move(deal=team_setup.deal_a1, step=team_setup.steps_a[1])  # commits: schedules
    deadline = time.monotonic() + 60
    while metrics_stored(query).computed_at == before:
        if time.monotonic() > deadline:
            pytest.fail("the worker did not recompute the stream's metrics within 60 s")
        time.sleep(0.2)
    result = metrics_stored(query)
    assert result.stale is False
    assert result.step(team_setup.steps_a[1].pk).wip_now == 1
    assert MetricsState.objects.get(stream_id=query.stream_id).scheduled_at is None


def test_a_real_worker_prepares_a_dashboard_view_nobody_asked_for(worker, team_setup, client):
    """The page hands the sets to the worker and answers with a progress bar (or, when the
    worker was done before the page was drawn, with the charts); the page then shows them."""
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    assert client.login(username=team_setup.manager_a.username, password=PASSWORD)
    page = f"/dashboards/streams/{team_setup.stream_a.slug}/flow/?amount_band=small"
    first = client.get(page)
    assert first.status_code in (200, 202)
    if first.status_code == 202:
        assert "Preparing this view" in first.content.decode()
    job = Job.objects.get(kind=PREPARE_JOB)
    deadline = time.monotonic() + 60
    while Job.objects.get(pk=job.pk).state in (JobState.QUEUED, JobState.RUNNING):
        if time.monotonic() > deadline:
            pytest.fail("the worker did not prepare the view within 60 s")
        time.sleep(0.2)
    job.refresh_from_db()
    assert (job.state, job.percent) == (JobState.DONE, 100), job.error
    shown = client.get(page)
    assert shown.status_code == 200 and 'id="chart-aging"' in shown.content.decode()
