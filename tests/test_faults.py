"""Faults with real services: a private ``redis-server`` that each test starts, stops and
restarts on its own port, and a real Celery worker (with its embedded beat, so the catch-up
runs as in production) that the tests kill. The worker shares the PostgreSQL test database.

What must hold (docs/background-work.md): a write that committed answers success whatever
Redis does, nothing is lost or stored twice, and once Redis or a worker is back every owed
recompute and every job runs. Waits poll a condition with a deadline; none sleeps a fixed
time.

Needs PostgreSQL (``DATABASE_URL``) and the ``redis-server`` binary; ``.ci/run`` has both and
a missing one fails there (``tests.services.missing_service``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import kombu.pools
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from funnel.importing import ImportOptions, import_upload_create
from funnel.metrics.query import MetricsQuery
from funnel.metrics.snapshots import (
    _LOCK_CLASS,
    metrics_owed,
    metrics_recompute_stream,
    metrics_stored,
)
from funnel.models import Deal, MetricsState, Visit
from funnel.tasks import import_events_task
from streams.models import Job, JobState
from streams.services import job_create
from tests.services import missing_service
from vsm_project.background import BROKER_ERRORS, QUEUE_UNREACHABLE
from vsm_project.celery import app as celery_app
from vsm_project.health import health_status

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
#: How long anything may take to come back; the issue's bound is a minute after recovery.
RECOVERY = 60.0


def wait_until(check: Callable[[], object], *, timeout: float, what: str) -> object:
    """Poll ``check`` until it answers something truthy; fail naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A ``redis-server`` of this test alone, without persistence: a restart loses every
    queued message, as a Redis restarted without a volume does."""

    def __init__(self, workdir: Path) -> None:
        self.port = int(os.environ.get("VSM_FAULT_REDIS_PORT") or _free_port())
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1)

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.exceptions.ConnectionError:
            return False

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self.proc = subprocess.Popen(
            ["redis-server", *args, "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.kill()  # an outage, not a clean shutdown
        self.proc.wait(timeout=10)
        self.proc = None
        wait_until(lambda: not self._answers(), timeout=10, what="redis-server to stop")


class Worker:
    """``celery worker -B`` (prefork, one child, as the docker-compose worker but with beat
    embedded) in its own process group, so SIGKILL takes its children with it."""

    def __init__(self, broker: str, workdir: Path, **env: str) -> None:
        db = settings.DATABASES["default"]
        self.env = os.environ | {
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:"
            f"{db['PORT']}/{db['NAME']}",
            "DJANGO_SETTINGS_MODULE": "vsm_project.settings",
            "REDIS_URL": broker,
            # The catch-up runs every second here; its thresholds are a few seconds.
            "VSM_CATCH_UP_SECONDS": "1",
            "METRICS_REQUEUE_AFTER_SECONDS": "3",
            "JOBS_REQUEUE_AFTER_SECONDS": "2",
            **env,
        }
        self.workdir = workdir
        self.log = workdir / "worker.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "vsm_project",
                    "worker",
                    "-B",
                    "-s",
                    str(self.workdir / f"beat-schedule-{self.starts}"),
                    "--pool=prefork",
                    "--concurrency=1",
                    "--without-mingle",
                    "--without-gossip",
                    "-l",
                    "info",
                    "-n",
                    f"fault-worker-{os.getpid()}-{self.starts}@%h",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self.answers, timeout=RECOVERY, what=f"the worker to start:\n{self.output()}")

    def answers(self) -> bool:
        if not self.alive():
            pytest.fail(f"the worker exited:\n{self.output()}")
        try:
            return bool(celery_app.control.ping(timeout=0.5))
        except BROKER_ERRORS:  # a pooled connection that died with a Redis restart
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL to the worker, its pool child and its beat, mid-whatever."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """At the end of a test: nothing of the worker's is needed any more, so no warm
        shutdown (it takes seconds); what it held dies with its connections."""
        if self.alive():
            self.kill()


def _reset_celery_connections() -> None:
    """Close and forget the pooled broker connections (kombu keeps them in a registry, Celery
    and its control mailbox cache them), so the next publish uses the current URL."""
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.control.mailbox.__dict__.pop("producer_pool", None)


@contextmanager
def celery_pointed_at(url: str) -> Iterator[None]:
    """This process publishes to ``url`` (the private Redis) and does not run tasks eagerly."""
    keys = ("broker_url", "result_backend", "task_always_eager")
    before = {key: celery_app.conf[key] for key in keys}
    celery_app.conf.update(broker_url=url, result_backend=url, task_always_eager=False)
    _reset_celery_connections()
    try:
        yield
    finally:
        celery_app.conf.update(before)
        _reset_celery_connections()


@pytest.fixture
def faults(tmp_path: Path, settings) -> Iterator[SimpleNamespace]:
    """A private Redis (running) and a worker (not started: ``faults.worker.start()``)."""
    if connection.vendor != "postgresql":
        missing_service(
            "needs PostgreSQL: set DATABASE_URL so the worker process can share the test "
            "database (SQLite's test database lives in this process's memory)"
        )
    if shutil.which("redis-server") is None:
        missing_service("needs the redis-server binary to start a private Redis")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.METRICS_REQUEUE_AFTER_SECONDS = 3
    server = PrivateRedis(tmp_path)
    server.start()
    worker = Worker(server.url, tmp_path)
    try:
        with celery_pointed_at(server.url):
            yield SimpleNamespace(redis=server, worker=worker)
    finally:
        worker.stop()
        server.stop()


@contextmanager
def recompute_held(stream_id: int) -> Iterator[None]:
    """Hold the stream's recompute lock from a second connection: a recompute that starts
    meanwhile waits inside the task, its message taken and not acknowledged."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_CLASS, stream_id])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, stream_id])


def recompute_waiting(stream_id: int) -> bool:
    """Whether a recompute of the stream waits for the lock (so a worker is inside it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = %s AND objid = %s",
            [_LOCK_CLASS, stream_id],
        )
        return cursor.fetchone()[0] > 0


def fresh(stream_id: int, since) -> bool:
    """The stream's rolling figures include every change and were computed after ``since``."""
    result = metrics_stored(MetricsQuery(stream_id=stream_id))
    return result is not None and not result.stale and result.computed_at > since


def test_300_writes_while_redis_is_down_all_succeed_once_and_the_metrics_catch_up(
    faults, team_setup, settings
):
    """(a) Redis stops under load: every API write answers success, is stored exactly once,
    and the figures are fresh within a minute of Redis coming back; (d) meanwhile /healthz
    names the stream whose figures miss its changes."""
    stream, steps = team_setup.stream_a, team_setup.steps_a
    faults.worker.start()
    metrics_recompute_stream(stream_id=stream.pk, now=timezone.now())
    deals_before = Deal.objects.filter(stream=stream).count()
    visits_before = Visit.objects.filter(deal__stream=stream).count()
    api = APIClient()
    api.force_login(team_setup.manager_a)

    faults.redis.stop()
    created = []
    for i in range(100):
        response = api.post(
            "/api/deals/",
            {
                "stream": stream.pk,
                "name": f"Outage {i}",
                "external_id": f"OUT-{i}",
                "first_step": steps[0].pk,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        created.append(response.json()["id"])
    for i in range(200):  # every new deal moves to step 2, then to step 3
        step = steps[1 + i // 100]
        response = api.post(
            f"/api/deals/{created[i % 100]}/move/", {"step": step.pk}, format="json"
        )
        assert response.status_code == 200, response.content
    last_write = timezone.now()

    # None lost, none twice.
    deals = Deal.objects.filter(stream=stream)
    assert deals.count() == deals_before + 100
    outage = deals.filter(external_id__startswith="OUT-")
    assert outage.count() == outage.values("external_id").distinct().count() == 100
    # Each new deal: a visit at step 1 (created) and one per move.
    assert Visit.objects.filter(deal__stream=stream).count() == visits_before + 300
    assert metrics_owed().filter(stream=stream).exists()

    settings.METRICS_OWED_GRACE_SECONDS = 0
    healthy, report = health_status()
    assert not healthy and "broker" in report["failing"], report
    assert [s["slug"] for s in report["metrics"]["stale_streams"]] == [stream.slug]
    assert stream.slug in report["metrics"]["error"]

    faults.redis.start()
    wait_until(
        lambda: fresh(stream.pk, last_write),
        timeout=RECOVERY,
        what=f"the figures to catch up after Redis returned\n{faults.worker.output()[-3000:]}",
    )
    result = metrics_stored(MetricsQuery(stream_id=stream.pk))
    assert result.step(steps[2].pk).wip_now == 100
    assert faults.worker.alive()
    healthy, report = health_status()
    assert healthy and report["status"] == "ok" and report["degraded"] == [], report


def test_healthz_says_degraded_naming_the_stream_while_its_recompute_is_owed(
    faults, team_setup, client, settings
):
    """(d) Broker and worker up, a recompute owed and not done: ``degraded`` (HTTP 200),
    naming the stream; ``ok`` once it ran."""
    stream = team_setup.stream_a
    settings.METRICS_OWED_GRACE_SECONDS = 0
    faults.worker.start()
    with recompute_held(stream.pk):
        response = APIClient()
        response.force_login(team_setup.manager_a)
        moved = response.post(
            f"/api/deals/{team_setup.deal_a1.pk}/move/",
            {"step": team_setup.steps_a[1].pk},
            format="json",
        )
        assert moved.status_code == 200
        wait_until(lambda: recompute_waiting(stream.pk), timeout=RECOVERY, what="the recompute")
        body = client.get("/healthz")
        assert body.status_code == 200
        report = body.json()
        assert report["status"] == "degraded" and report["degraded"] == ["metrics"], report
        assert report["failing"] == []
        assert [s["name"] for s in report["metrics"]["stale_streams"]] == [stream.name]
    wait_until(
        lambda: client.get("/healthz").json()["status"] == "ok",
        timeout=RECOVERY,
        what="/healthz to say ok after the recompute",
    )


def test_a_recompute_killed_with_its_worker_is_done_by_the_next_worker(faults, team_setup):
    """(b) SIGKILL while the worker is inside the recompute: its message is neither done nor
    acknowledged; a new worker does the owed recompute without waiting for Redis'
    visibility timeout."""
    stream = team_setup.stream_a
    faults.worker.start()
    metrics_recompute_stream(stream_id=stream.pk, now=timezone.now())
    with recompute_held(stream.pk):
        api = APIClient()
        api.force_login(team_setup.manager_a)
        moved = api.post(
            f"/api/deals/{team_setup.deal_a1.pk}/move/",
            {"step": team_setup.steps_a[1].pk},
            format="json",
        )
        assert moved.status_code == 200
        changed = timezone.now()
        wait_until(lambda: recompute_waiting(stream.pk), timeout=RECOVERY, what="the recompute")
        faults.worker.kill()
        assert not faults.worker.alive()
    assert not fresh(stream.pk, changed)  # the killed worker did not do it
    faults.worker.start()
    wait_until(
        lambda: fresh(stream.pk, changed),
        timeout=RECOVERY,
        what=f"the new worker to do the owed recompute\n{faults.worker.output()[-3000:]}",
    )
    result = metrics_stored(MetricsQuery(stream_id=stream.pk))
    assert result.step(team_setup.steps_a[1].pk).wip_now == 1


def test_the_worker_survives_redis_dropping_while_it_holds_a_debounced_recompute(
    faults, team_setup, settings
):
    """(c) celery 5.7 workers exit (``'NoneType' object has no attribute 'hostname'``) when
    Redis drops while they hold an ETA message. The debounce is no ETA message any more: a
    change that closely follows another is held by the worker, inside the task, for the
    debounce; Redis dropping then leaves the worker running, and the figures catch up."""
    stream = team_setup.stream_a
    settings.METRICS_DEBOUNCE_SECONDS = 300  # in this process: the second change is "close"
    faults.worker.env["METRICS_DEBOUNCE_SECONDS"] = "10"  # the worker waits this long, at most
    faults.worker.start()
    api = APIClient()
    api.force_login(team_setup.manager_a)
    url = f"/api/deals/{team_setup.deal_a1.pk}/move/"
    first = timezone.now()
    assert api.post(url, {"step": team_setup.steps_a[1].pk}, format="json").status_code == 200
    wait_until(lambda: fresh(stream.pk, first), timeout=RECOVERY, what="the first recompute")
    wait_until(
        lambda: MetricsState.objects.filter(stream=stream, scheduled_at__isnull=True).exists(),
        timeout=RECOVERY,
        what="the first recompute to clear its flag",
    )
    second = timezone.now()
    assert api.post(url, {"step": team_setup.steps_a[2].pk}, format="json").status_code == 200
    unacked = faults.redis.client()
    # The worker took the debounced message (it is in Redis' unacked hash, not the queue)...
    wait_until(lambda: unacked.hlen("unacked") == 1, timeout=RECOVERY, what="the worker to take it")
    message = next(iter(unacked.hvals("unacked"))).decode()
    assert '"eta": null' in message, message  # ...and it carries no ETA.

    faults.redis.stop()
    wait_until(
        lambda: "Connection to broker lost" in faults.worker.output(),
        timeout=RECOVERY,
        what="the worker to notice that Redis is gone",
    )
    assert faults.worker.alive(), faults.worker.output()[-3000:]
    faults.redis.start()
    wait_until(
        lambda: fresh(stream.pk, second),
        timeout=RECOVERY,
        what=f"the figures to catch up\n{faults.worker.output()[-3000:]}",
    )
    assert faults.worker.alive() and "Unrecoverable error" not in faults.worker.output()
    wait_until(faults.worker.answers, timeout=RECOVERY, what="the worker to answer again")


VISITS_CSV = (
    b"deal_id,step,entered_at,exited_at,owner\n"
    b"F-1,Step 1,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z,rep-a1\n"
    b"F-1,Step 2,2025-03-04T09:00:00Z,,rep-a1\n"
    b"F-2,Step 1,2025-03-05T10:00:00Z,,rep-a2\n"
)


def test_an_import_started_while_redis_is_down_can_be_started_again(faults, team_setup, client):
    """(e) The page's Import button with Redis down: the job fails at once saying why and
    offers to start again; started again once Redis is back, it imports."""
    stream = team_setup.stream_a
    upload = import_upload_create(
        stream=stream,
        data=VISITS_CSV,
        options=ImportOptions(format="visits"),
        filename="faults.csv",
        uploaded_by=team_setup.manager_a,
    )
    client.force_login(team_setup.manager_a)
    run = reverse("funnel:import_run", args=[upload.pk])
    faults.redis.stop()
    response = client.post(run)
    assert response.status_code == 302
    job = Job.objects.get(kind="import")
    assert (job.state, job.error) == (JobState.FAILED, QUEUE_UNREACHABLE)
    page = client.get(response["Location"]).content.decode()
    assert "Could not reach the background queue" in page and "Start again" in page

    faults.redis.start()
    faults.worker.start()
    again = client.post(run)
    assert again.status_code == 302
    second = Job.objects.filter(kind="import").exclude(pk=job.pk).get()
    assert again["Location"].endswith(f"/jobs/{second.pk}/")
    wait_until(
        lambda: Job.objects.get(pk=second.pk).state == JobState.DONE,
        timeout=RECOVERY,
        what=f"the import to run\n{faults.worker.output()[-3000:]}",
    )
    assert set(Deal.objects.filter(stream=stream).values_list("external_id", flat=True)) >= {
        "F-1",
        "F-2",
    }
    # Started again only once: the page now leads to the job that ran.
    third = client.post(run)
    assert third["Location"].endswith(f"/jobs/{second.pk}/")


def test_a_job_whose_message_redis_lost_is_queued_again_by_the_catch_up(faults, team_setup):
    """(e) A job queued just before Redis restarted without persistence never reaches a
    worker; the catch-up queues it again and it runs."""
    stream = team_setup.stream_a
    job = job_create(kind="import", params={"file": "lost.csv"}, team=stream.team)
    upload = import_upload_create(
        stream=stream,
        data=VISITS_CSV,
        options=ImportOptions(format="visits"),
        filename="lost.csv",
        job=job,
    )
    import_events_task.delay(job.pk, upload.pk)
    assert faults.redis.client().llen("celery") == 1
    faults.redis.stop()
    faults.redis.start()  # empty: the message is gone
    assert faults.redis.client().llen("celery") == 0
    faults.worker.start()
    wait_until(
        lambda: Job.objects.get(pk=job.pk).state == JobState.DONE,
        timeout=RECOVERY,
        what=f"the catch-up to queue the job again\n{faults.worker.output()[-3000:]}",
    )
    job.refresh_from_db()
    assert job.params["requeued"] == 1 and job.result["deals_created"] == 2
