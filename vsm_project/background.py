"""Handing work to Celery so that a broker outage never fails, loses or repeats a write.

Every piece of background work is owed somewhere in the database before it is queued:

- a stream's recompute by its ``funnel.models.MetricsState`` (a change newer than the last
  recompute, ``funnel.metrics.snapshots.metrics_owed``);
- an import, a dashboard preparation or a demo seed by its ``streams.models.Job`` row, queued
  until a worker claims it (``job_claim``).

Queueing is then only a wake-up call, and it may fail: ``enqueue`` answers False instead of
raising when Redis cannot be reached, so a write that committed still answers success. The
beat task ``vsm_project.tasks.catch_up`` (every ``VSM_CATCH_UP_SECONDS``) queues again what
is still owed once the broker is back, and expires jobs that never started. See
``docs/background-work.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import redis.exceptions
from celery import Task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from streams.models import Job, JobState
from streams.services import job_fail
from vsm_project.celery import app as celery_app

logger = logging.getLogger(__name__)

#: One quick retry: after a Redis restart the first publish may meet a pooled connection that
#: died with the old server, and the retry opens a fresh one. More retries would only hold the
#: user's request while Redis is down (kombu's default waits about a second per message).
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}

#: What a publish raises when the broker cannot be reached (celery wraps most of them in
#: kombu's OperationalError; the rest can escape from redis-py and the socket layer).
BROKER_ERRORS = (
    KombuOperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)

#: The error of a job whose task could not be queued (``job_enqueue``).
QUEUE_UNREACHABLE = (
    "Could not reach the background queue, so this never started. Nothing was changed: "
    "start it again."
)
#: The error of a job the catch-up gave up on: queued, never picked up by a worker.
NEVER_STARTED = (
    "No background worker picked this up in time, so it never started. Nothing was changed: "
    "start it again."
)


def task_named(name: str) -> Task:
    """The registered task called ``name`` (``"kaizen.tasks.check_cycle"``).

    Services queue their own app's tasks by name: a tasks module imports the services it
    runs, so a service importing it back would close a circle (tests/test_architecture.py).
    The first lookup of a task whose module nobody imported yet imports every installed
    app's ``tasks.py``, as a worker does at start (Celery's autodiscovery, without the
    worker's system checks). The object is the one the tasks module defines, so
    ``mock.patch("<module>.<task>.apply_async")`` holds."""
    if name not in celery_app.tasks:
        celery_app.autodiscover_tasks(force=True)
    return celery_app.tasks[name]  # an unknown name raises celery's NotRegistered


def enqueue(task: Task | str, *args: object, **kwargs: object) -> bool:
    """Queue ``task(*args, **kwargs)``; False (logged, not raised) when the broker cannot be
    reached. The caller has recorded in the database that the work is owed, so the catch-up
    queues it again later. With eager Celery (no broker) the task runs here and its errors
    propagate as usual. ``task`` is the task or its registered name (``task_named``)."""
    if isinstance(task, str):
        task = task_named(task)
    if task.app.conf.task_always_eager:
        task.apply_async(args, kwargs or None)
        return True
    try:
        task.apply_async(args, kwargs or None, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except BROKER_ERRORS as exc:
        logger.warning(
            "Could not queue %s%r: %s: %s (the catch-up queues it again once the broker is back)",
            task.name,
            args,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def enqueue_on_commit(task: Task | str, *args: object, **kwargs: object) -> None:
    """``enqueue`` once the current transaction commits (at once outside one). A failure to
    queue never turns the committed write into an error."""
    transaction.on_commit(partial(enqueue, task, *args, **kwargs), robust=robust_on_commit())


def robust_on_commit() -> bool:
    """Whether an on-commit callback's error is logged rather than raised. With a broker
    (production) a committed write must answer success whatever its follow-up work does; with
    eager Celery (development, tests) errors propagate so that they are seen."""
    return not settings.CELERY_TASK_ALWAYS_EAGER


# --- Jobs ----------------------------------------------------------------------------------


def job_enqueue(job: Job, task: Task | str, *args: object) -> bool:
    """Queue the task that runs ``job``. When the broker cannot be reached the job fails at
    once with :data:`QUEUE_UNREACHABLE` (so it never waits "queued" forever) and can be
    started again (``job_restartable``). Call it outside a transaction or on commit, so a
    worker finds the job."""
    if enqueue(task, job.pk, *args):
        return True
    job_fail(job_id=job.pk, error=QUEUE_UNREACHABLE)
    job.refresh_from_db()
    return False


def job_restartable(job: Job) -> bool:
    """Whether ``job`` failed only because it never reached a worker, so starting it again
    does what the user asked for the first time."""
    return job.state == JobState.FAILED and job.error in (QUEUE_UNREACHABLE, NEVER_STARTED)


def job_claim(*, job_id: int, now: datetime | None = None) -> bool:
    """Mark a job running for the task that is about to do it; False when it must not run:
    it is done or failed (a second copy of its message, queued again by the catch-up), or
    another worker runs it now. A job "running" for longer than the task time limit was left
    by a worker that died: its redelivered message may take it over."""
    now = now or timezone.now()
    dead_before = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    return bool(
        Job.objects.filter(pk=job_id)
        .filter(Q(state=JobState.QUEUED) | Q(state=JobState.RUNNING, started_at__lt=dead_before))
        .update(state=JobState.RUNNING, started_at=now)
    )


def jobs_catch_up(
    *, requeue: dict[str, Callable[[Job], bool]], now: datetime
) -> dict[str, list[int]]:
    """Jobs still queued after ``JOBS_REQUEUE_AFTER_SECONDS``: their message was lost (a
    Redis restart without persistence) or never sent. Each is queued again through
    ``requeue[job.kind](job) -> bool``, at most ``JOBS_REQUEUE_ATTEMPTS`` times; then, or when
    no worker took it within ``JOBS_EXPIRE_AFTER_SECONDS``, it fails with
    :data:`NEVER_STARTED` and can be started again. A job of a kind ``requeue`` does not know
    is only expired. Returns the ids requeued and expired."""
    after = timedelta(seconds=settings.JOBS_REQUEUE_AFTER_SECONDS)
    expire_before = now - timedelta(seconds=settings.JOBS_EXPIRE_AFTER_SECONDS)
    done: dict[str, list[int]] = {"requeued": [], "expired": []}
    stuck = Job.objects.filter(state=JobState.QUEUED, created_at__lt=now - after).order_by("pk")
    for job in stuck:
        attempts = int(job.params.get("requeued", 0))
        last = job.params.get("requeued_at")
        if last and datetime.fromisoformat(last) > now - after:
            continue
        if job.kind not in requeue and job.created_at >= expire_before:
            continue
        if (
            job.kind not in requeue
            or attempts >= settings.JOBS_REQUEUE_ATTEMPTS
            or job.created_at < expire_before
        ):
            Job.objects.filter(pk=job.pk, state=JobState.QUEUED).update(
                state=JobState.FAILED, error=NEVER_STARTED, message="Failed", finished_at=now
            )
            done["expired"].append(job.pk)
            continue
        params = job.params | {"requeued": attempts + 1, "requeued_at": now.isoformat()}
        if not Job.objects.filter(pk=job.pk, state=JobState.QUEUED).update(params=params):
            continue  # a worker claimed it meanwhile
        if requeue[job.kind](job):
            done["requeued"].append(job.pk)
    return done
