"""What the snapshots read by pages and the API share (the qualification lab's,
``funnel.qualification.snapshots``, and the Leads dashboard's, ``funnel.leads.snapshots``):

- :func:`param_text` and :func:`param_moments` read a view's text and date parameters;
- :func:`view_job`, the job that computes one view: one queued or running for the view is
  joined; one that failed lately is returned as it is;
- :class:`ViewSnapshot`, the fields every snapshot model holds (one computed view of a stream),
  and :func:`view_unique`, its constraint;
- :class:`SnapshotKind`, what a kind of snapshot view is made of, with its ``read`` (a view's
  snapshot and, when it is missing or stale, its job) and ``run`` (the body of the task that
  computes a view into its snapshot); :func:`view_job_params`, what each of its jobs needs;
- :func:`view_task`, the Celery task that runs a kind's ``run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import models
from django.utils import timezone

from funnel.eventlog.moments import moment_from_text
from streams.models import Job, JobState, ValueStream
from streams.services import job_create, job_fail, job_finish, job_joinable, job_progress
from vsm_project.background import enqueue, job_claim, job_restartable, task_named

#: How long a job computing the same view is joined rather than started again.
JOIN = timedelta(minutes=15)
#: How long after a job of a view failed (other than for want of a worker) it is tried again.
RETRY_AFTER = timedelta(minutes=5)
#: How stale a snapshot's ``requested_at`` (when it was last read) may be before a read
#: records itself.
REQUESTED_EVERY = timedelta(hours=1)


def param_text(params: Any, name: str, errors: dict[str, str]) -> str:
    """The parameter ``name`` of ``params``, stripped ("" when absent); one holding a NUL
    character is refused in ``errors``."""
    raw = (params.get(name) or "").strip()
    if "\x00" in raw:
        errors[name] = "A parameter cannot contain a NUL character (\\x00)."
        return ""
    return raw


def param_moments(
    params: Any, names: tuple[str, ...], errors: dict[str, str]
) -> dict[str, datetime | None]:
    """The moments the parameters ``names`` hold (ISO dates or date-times, UTC unless they say
    otherwise; None when absent); a bad one is refused in ``errors``."""
    moments: dict[str, datetime | None] = dict.fromkeys(names)
    for name in names:
        raw = param_text(params, name, errors)
        if raw:
            try:
                moments[name] = moment_from_text(raw, UTC)
            except ValueError as exc:
                errors[name] = str(exc)
    return moments


def view_job(
    kind: str,
    task: str,
    stream: ValueStream,
    key: str,
    params: dict,
    *,
    user: object,
    now: datetime,
    join: timedelta = JOIN,
    retry_after: timedelta = RETRY_AFTER,
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


class ViewSnapshot(models.Model):
    """One computed view of a stream's figures, written by a job and read by the pages and
    the API. Each concrete model adds its ``stream`` (with its own ``related_name``), a unique
    constraint on ``stream`` and ``view_key`` (:func:`view_unique`), its ``label`` and any
    field of its own."""

    #: The view (its window, as-of point and filters), as a canonical string.
    view_key = models.CharField(max_length=300)
    computed_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField()
    #: The stream's state the result was computed from (what the kind's signature hashes).
    source_signature = models.CharField(max_length=120, blank=True)
    result = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey(
        "streams.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    #: What the snapshot is of, in its ``str`` ("discovery 2026-W01… of New business").
    label = "view"

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.label} {self.view_key} of {self.stream}"


def view_unique(name: str) -> models.UniqueConstraint:
    """A snapshot model's constraint ``name``: one snapshot per stream and view."""
    return models.UniqueConstraint(fields=["stream", "view_key"], name=name)


@dataclass(frozen=True)
class SnapshotKind:
    """One kind of snapshot view (the lab's, the Leads dashboard's): how its views are read
    from parameters, what their jobs need and what their results depend on."""

    #: The snapshot model: a :class:`ViewSnapshot` with its ``stream``.
    model: type[ViewSnapshot]
    #: The jobs' kind and the Celery task that computes one.
    job: str
    task: str
    #: ``(stream, params, now=) -> (view, view_key, flag)``: the view the query parameters
    #: name (``ValidationError`` naming each bad one); ``flag`` goes to ``job_params``.
    view_from_params: Callable[..., tuple[Any, str, bool]]
    #: ``(stream, view, view_key, flag) -> params``: what the job computing the view needs.
    job_params: Callable[[ValueStream, Any, str, bool], dict]
    #: ``(stream, job params, now) -> str``: what the view's result depends on, hashed.
    signature: Callable[[ValueStream, dict, datetime], str]
    #: ``(stream, job params, now) -> fields``: the snapshot's ``result`` and any other field.
    compute: Callable[[ValueStream, dict, datetime], dict]
    #: ``result -> (name, count)``: what the finished job reports.
    counted: Callable[[dict], tuple[str, int]]
    #: The job's progress messages, before computing and before storing.
    reading: str
    storing: str
    #: Fields a fresh snapshot is read without.
    defer: tuple[str, ...] = ()

    def read(
        self, stream: ValueStream, params: Any, *, user: object = None, now: datetime | None = None
    ) -> tuple[Any, Job | None]:
        """The snapshot of the view ``params`` name (None: never computed) and the job that
        computes it when it is missing or stale (None: it is fresh): queued, or joined when one
        already runs for the view (:func:`view_job`). A stale snapshot is still returned, to show
        while the new one is computed. ``ValidationError`` naming the parameter for a bad one."""
        now = now or timezone.now()
        view, key, flag = self.view_from_params(stream, params, now=now)
        job_params = self.job_params(stream, view, key, flag)
        signature = self.signature(stream, job_params, now)
        model = self.model
        snapshot = model.objects.filter(stream=stream, view_key=key).defer(*self.defer).first()
        if snapshot is not None and snapshot.source_signature == signature and snapshot.computed_at:
            if now - snapshot.requested_at > REQUESTED_EVERY:  # a write per read would cost more
                model.objects.filter(pk=snapshot.pk).update(requested_at=now)
            return snapshot, None
        job = view_job(self.job, self.task, stream, key, job_params, user=user, now=now)
        snapshot = model.objects.filter(stream=stream, view_key=key).first()
        if snapshot is not None and snapshot.computed_at is None:
            snapshot = None
        return snapshot, job

    def run(self, *, job_id: int) -> int:
        """Compute the view of job ``job_id`` and store its snapshot (the task's body). The
        signature is taken before computing, so a change made meanwhile makes it stale again.
        Returns the count the job reports; a failure fails the job and is raised."""
        if not job_claim(job_id=job_id):
            return 0  # a second message of a job that ran or runs
        params = Job.objects.get(pk=job_id).params
        try:
            job_progress(job_id=job_id, done=0, total=2, message=self.reading)
            stream = ValueStream.objects.get(pk=params["stream"])
            now = timezone.now()
            signature = self.signature(stream, params, now)
            fields = self.compute(stream, params, now)
            job_progress(job_id=job_id, done=1, total=2, message=self.storing)
            self.model.objects.update_or_create(
                stream=stream,
                view_key=params["view_key"],
                defaults={
                    **fields,
                    "computed_at": timezone.now(),
                    "requested_at": now,
                    "source_signature": signature,
                    "job_id": job_id,
                },
            )
        except Exception as exc:
            job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
            raise
        name, count = self.counted(fields["result"])
        job_finish(job_id=job_id, result={name: count}, message="Ready")
        return count


def view_job_params(stream: ValueStream, view: Any, key: str) -> dict:
    """What every job computing a view needs (its ``key`` names the stream and the view)."""
    return {
        "key": f"{stream.pk}/{key}",
        "stream": stream.pk,
        "view_key": key,
        "start": view.start.isoformat(),
        "end": view.end.isoformat(),
    }


def view_task(name: str, run: Callable[..., int], what: str) -> Any:
    """The Celery task ``name`` that computes one ``what`` into its snapshot: ``run(job_id=…)``
    (a kind's :meth:`SnapshotKind.run`), queued by the kind's :meth:`SnapshotKind.read` when
    a view is missing or stale, with progress on the ``Job``. A failure fails the job and is
    raised."""

    def compute(job_id: int) -> int:
        return run(job_id=job_id)

    compute.__name__ = compute.__qualname__ = name.rpartition(".")[2]
    compute.__doc__ = f"Compute one {what} into its snapshot, with progress on the ``Job``."
    return shared_task(name=name)(compute)
