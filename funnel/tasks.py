"""Background work of the funnel app."""

from __future__ import annotations

import time
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from funnel.assets.tasks import asset_reviews_due  # noqa: F401 (registers the task)
from funnel.discovery.snapshots import DISCOVERY_TASK, discovery_job_run
from funnel.eventlog.working import working_offsets_rewrite
from funnel.forecasts.tasks import (  # noqa: F401 (registers the tasks; the catch-up finds them)
    compute_forecast,
    forecasts_record,
    forecasts_score,
)
from funnel.importing import (
    ImportOptions,
    ImportRejected,
    import_events,
    import_upload_check,
    import_upload_scan,
    import_uploads_prune,
    upload_file,
)
from funnel.leads.alerts import handoff_breaches_notify
from funnel.leads.snapshots import LEADS_TASK, leads_job_run
from funnel.metrics.snapshots import (
    metrics_changed,
    metrics_recompute_all,
    metrics_recompute_owed,
    metrics_refresh_open_all,
    metrics_sets_prepare,
    query_from_keys,
)
from funnel.models import ImportUpload
from funnel.qualification.snapshots import LAB_TASK, lab_job_run
from funnel.view_jobs import view_task
from streams.models import Job, JobState
from streams.services import job_fail, job_finish, job_progress
from vsm_project.background import job_claim

#: Row errors kept on the failed job for the progress page (the rest are counted).
ERRORS_ON_JOB = 1000


class _JobProgress:
    """Records import progress on the ``Job`` row.

    The import writes in one transaction; progress recorded through the same connection would
    only show when it commits. Inside a transaction on PostgreSQL it is therefore written
    through a second, autocommit connection, so the browser's progress bar moves while the
    import runs. (SQLite allows one writer at a time: there it waits for the commit.)
    """

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self._side = None

    def __call__(self, done: int, total: int, message: str) -> None:
        if not (connection.in_atomic_block and connection.vendor == "postgresql"):
            job_progress(job_id=self.job_id, done=done, total=total, message=message)
            return
        if self._side is None:
            self._side = connections.create_connection(DEFAULT_DB_ALIAS)
        with self._side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Job._meta.db_table} SET done = %s, total = %s, state = %s, "
                "message = %s, started_at = COALESCE(started_at, %s) WHERE id = %s",
                [done, total, JobState.RUNNING, message[:255], timezone.now(), self.job_id],
            )

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
            self._side = None


@shared_task(name="funnel.tasks.import_events")
def import_events_task(job_id: int, upload_id: int) -> dict:
    """Import an uploaded file (``ImportUpload``), reporting progress on the ``Job``.

    A file the import rejects fails the job with the message as its error and, for row
    problems, ``result = {"errors": [first 1000 as dicts], "error_count": N}``; it is the
    user's to fix, so it is not retried. Anything else fails the job and is raised.
    """
    if not job_claim(job_id=job_id):
        return {"ok": False, "message": "already run or running"}  # a second message
    job_progress(job_id=job_id, done=0, total=0, message="Reading the file")
    progress = _JobProgress(job_id)
    try:
        upload = ImportUpload.objects.select_related("stream").defer("data").get(pk=upload_id)
        options = ImportOptions.from_dict({"format": upload.format, **(upload.options or {})})
        result = import_events(
            stream=upload.stream, data=upload_file(upload), options=options, progress=progress
        )
    except ImportRejected as exc:
        job_fail(job_id=job_id, error=exc.message)
        details = {
            "errors": [e.as_dict() for e in exc.errors[:ERRORS_ON_JOB]],
            "error_count": exc.error_count,
        }
        if exc.errors:
            # streams.services.job_fail takes no result; the row errors are this job's result.
            Job.objects.filter(pk=job_id).update(result=details)
        return {"ok": False, "message": exc.message, **details}
    except Exception as exc:
        job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        progress.close()
    summary = result.as_dict()
    job_finish(
        job_id=job_id,
        result=summary,
        message=(
            f"Imported: {result.deals_created:,} deals created, {result.deals_updated:,} "
            f"updated, {result.deals_unchanged:,} unchanged"
        ),
    )
    return {"ok": True, **summary}


@shared_task(bind=True, name="funnel.tasks.recompute_stream_metrics", ignore_result=True)
def recompute_stream_metrics(
    self, stream_id: int, not_before: str | None = None, if_owed: bool = False
) -> int:
    """Recompute a stream's metric snapshots (queued by ``metrics_schedule`` after a change
    and by ``metrics_catch_up`` while one is owed). Idempotent: snapshots are upserts.

    ``not_before`` (ISO time) is the debounce: the task waits until then, at most
    ``METRICS_DEBOUNCE_SECONDS``, instead of travelling as an ETA message (celery 5.7 workers
    exit when Redis drops while they hold one); eager Celery does not wait. With ``if_owed``
    it does nothing when a recompute that started after the last change already ran. A
    failure (a database hiccup) is not retried here: the stream stays owed and the catch-up
    queues it again, without the ETA message a Celery retry would be."""
    if not_before and not self.request.is_eager:  # eager: in the request, nothing to gather
        wait = (datetime.fromisoformat(not_before) - timezone.now()).total_seconds()
        if wait > 0:
            time.sleep(min(wait, settings.METRICS_DEBOUNCE_SECONDS))
    return metrics_recompute_owed(stream_id=stream_id, only_if_owed=if_owed)


@shared_task(name="funnel.tasks.prepare_metric_sets")
def prepare_metric_sets(job_id: int) -> int:
    """Compute the snapshot sets a dashboard asked for (``metrics_sets_job``), with progress on
    the ``Job`` for the page that waits for them. A failure fails the job and is raised."""
    if not job_claim(job_id=job_id):
        return 0  # a second message of a job that ran or runs
    job = Job.objects.get(pk=job_id)

    def progress(done: int, total: int, message: str) -> None:
        job_progress(job_id=job_id, done=done, total=total, message=message)

    try:
        computed = metrics_sets_prepare(
            queries=[query_from_keys(**keys) for keys in job.params["sets"]],
            now=timezone.now(),
            progress=progress,
        )
    except Exception as exc:
        job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    job_finish(job_id=job_id, result={"sets computed": computed}, message="Ready")
    return computed


@shared_task(name="funnel.tasks.refresh_open_metrics")
def refresh_open_metrics() -> int:
    """Every few minutes (beat): WIP now, stalled deals and inventory of every snapshot."""
    return metrics_refresh_open_all(now=timezone.now())


@shared_task(name="funnel.tasks.recompute_all_metrics")
def recompute_all_metrics() -> int:
    """Nightly (beat): every stream with deals; unused window and filter sets expire."""
    return metrics_recompute_all(now=timezone.now())


@shared_task(name="funnel.tasks.prune_import_uploads")
def prune_import_uploads(older_than_days: int = 7) -> int:
    """Nightly: delete uploaded import files nobody needs any more."""
    return import_uploads_prune(older_than_days=older_than_days)


@shared_task(name="funnel.tasks.check_import")
def import_check_task(job_id: int, upload_id: int) -> dict:
    """Check an uploaded file in the background, with progress on the ``Job``: a large file
    would hold a web worker (and hundreds of megabytes) for minutes. The job's result is what
    the import would do (``ImportResult.as_dict()`` with ``verdict = "ok"``), or the problems
    (``verdict = "rejected"``, ``message``, ``errors``, ``error_count``); either finishes the
    job, since a file with problems is a verdict, not a failure. Only a crash fails it."""
    job_progress(job_id=job_id, done=0, total=0, message="Reading the file")

    def progress(done: int, total: int, message: str) -> None:
        job_progress(job_id=job_id, done=done, total=total, message=message)

    try:
        upload = (
            ImportUpload.objects.select_related("stream", "stream__team")
            .defer("data")
            .get(pk=upload_id)
        )
        user = Job.objects.values_list("created_by", flat=True).get(pk=job_id)
        result = import_upload_check(upload=upload, progress=progress, user_id=user)
    except ImportRejected as exc:
        verdict = {
            "verdict": "rejected",
            "message": exc.message,
            "errors": [e.as_dict() for e in exc.errors[:ERRORS_ON_JOB]],
            "error_count": exc.error_count,
        }
        job_finish(job_id=job_id, result=verdict, message="Checked: nothing can be imported yet")
        return verdict
    except Exception as exc:
        job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    summary = {"verdict": "ok", **result.as_dict()}
    job_finish(job_id=job_id, result=summary, message="Checked: the file checks out")
    return summary


@shared_task(name="funnel.tasks.scan_import")
def import_scan_task(job_id: int, upload_id: int) -> dict:
    """Read a large uploaded file once for the wizard's lists of stages and owners
    (``import_upload_scan``), with progress on the ``Job``. A file that cannot be read fails
    the job with the reason."""
    job_progress(job_id=job_id, done=0, total=0, message="Reading the file")

    def progress(done: int, total: int, message: str) -> None:
        job_progress(job_id=job_id, done=done, total=total, message=message)

    try:
        upload = ImportUpload.objects.defer("data").get(pk=upload_id)
        import_upload_scan(upload=upload, progress=progress)
    except ImportRejected as exc:
        job_fail(job_id=job_id, error=exc.message)
        return {"ok": False, "message": exc.message}
    except Exception as exc:
        job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    job_finish(job_id=job_id, result={}, message="Read: choose the columns, stages and owners")
    return {"ok": True}


@shared_task(name="funnel.tasks.rewrite_working_offsets")
def rewrite_working_offsets(job_id: int, stream_id: int) -> int:
    """Rewrite a stream's working-time offsets after a calendar changed
    (``working_offsets_rewrite``, queued by ``working_offsets_queue``), with progress on the
    ``Job``, then have its figures recomputed. A failure fails the job, leaves the old offsets
    (one transaction) and the stream owing the rewrite, which the catch-up queues again."""
    if not job_claim(job_id=job_id):
        return 0  # a second message of a job that ran or runs
    progress = _JobProgress(job_id)
    try:
        changed = working_offsets_rewrite(stream_id, progress=progress)
    except Exception as exc:
        job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        progress.close()
    metrics_changed(stream_id=stream_id)
    job_finish(
        job_id=job_id,
        result={"offsets changed": changed},
        message="Working time rewritten",
    )
    return changed


compute_lab = view_task(LAB_TASK, lab_job_run, "qualification lab view")
compute_leads = view_task(LEADS_TASK, leads_job_run, "Leads dashboard view")
compute_discovery = view_task(DISCOVERY_TASK, discovery_job_run, "Discovery dashboard view")


@shared_task(name="funnel.tasks.notify_handoff_breaches")
def notify_handoff_breaches() -> int:
    """Email the owners (and, past escalation, the managers) of leads waiting at a hand-off
    past its SLA, once each (every five minutes, beat). Returns the emails sent."""
    return handoff_breaches_notify()
