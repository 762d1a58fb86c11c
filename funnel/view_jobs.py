"""The job that computes one view of a snapshot read by pages and the API (the qualification
lab's, ``funnel.qualification.snapshots``, and the Leads dashboard's, ``funnel.leads.snapshots``):
one queued or running for the view is joined; one that failed lately is returned as it is."""

from __future__ import annotations

from datetime import datetime, timedelta

from streams.models import Job, JobState, ValueStream
from streams.services import job_create, job_joinable
from vsm_project.background import enqueue, job_restartable, task_named


def view_job(
    *,
    kind: str,
    task: str,
    stream: ValueStream,
    key: str,
    params: dict,
    user: object,
    now: datetime,
    join: timedelta,
    retry_after: timedelta,
) -> Job:
    """The job of kind ``kind`` computing the view ``key`` of ``stream`` through the Celery
    task ``task``: one queued or running since ``now - join`` is joined; one that failed in the
    last ``retry_after`` is returned as it is (a view that cannot be computed is not tried again
    on every read), unless it failed for want of a worker. Call it outside a transaction (views
    run in autocommit), so a worker finds the job."""
    job_key = f"{stream.pk}/{key}"
    running = job_joinable(kind=kind, key=job_key, since=now - join)
    if running is not None:
        return running
    failed = (
        Job.objects.filter(
            kind=kind,
            params__key=job_key,
            state=JobState.FAILED,
            finished_at__gte=now - retry_after,
        )
        .order_by("-created_at")
        .first()
    )
    if failed is not None and not job_restartable(failed):
        return failed
    job = job_create(
        kind=kind,
        params=params,
        total=2,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        team=stream.team,
    )
    # Without a reachable broker the request computes the view itself: slower, never stuck.
    if not enqueue(task, job.pk):
        task_named(task).apply((job.pk,))
    job.refresh_from_db()
    return job
