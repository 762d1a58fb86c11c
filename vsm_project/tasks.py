"""Background work that spans the apps."""

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from streams.models import Job
from streams.services import job_fail, job_finish, job_progress
from vsm_project.background import enqueue, job_claim, jobs_catch_up
from vsm_project.demo import demo_seed


@shared_task(name="vsm_project.tasks.seed_demo")
def seed_demo_task(
    job_id: int, deals: int, seed: int, anchor: str | None = None, leads: int | None = None
) -> dict:
    """Seed the demo data in the background, reporting progress on the ``Job`` row."""
    if not job_claim(job_id=job_id):
        return {}  # a second message of a job that ran or runs
    job_progress(job_id=job_id, done=0, total=deals, message="Starting")
    try:
        result = demo_seed(
            deals=deals,
            seed=seed,
            anchor=datetime.fromisoformat(anchor) if anchor else None,
            leads=leads,
            progress=lambda done, total, msg: job_progress(
                job_id=job_id, done=done, total=total, message=msg
            ),
        )
    except Exception as exc:
        job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    job_finish(job_id=job_id, result=result.as_dict(), message="Demo data ready")
    return result.as_dict()


def _requeue_import(job: Job) -> bool:
    from funnel.models import ImportUpload
    from funnel.tasks import import_events_task

    upload_id = ImportUpload.objects.filter(job=job).values_list("pk", flat=True).first()
    return upload_id is not None and enqueue(import_events_task, job.pk, upload_id)


def _requeue_prepare(job: Job) -> bool:
    from funnel.tasks import prepare_metric_sets

    return enqueue(prepare_metric_sets, job.pk)


def _requeue_seed(job: Job) -> bool:
    params = job.params
    if "deals" not in params or "seed" not in params:
        return False
    return enqueue(
        seed_demo_task,
        job.pk,
        params["deals"],
        params["seed"],
        params.get("anchor"),
        params.get("leads"),
    )


def _requeue_upload_job(job: Job) -> bool:
    """The import wizard's reading and checking of a large file (read-only: a second run of a
    message that was only late does no harm)."""
    from funnel.importing.views import CHECK_JOB
    from funnel.tasks import import_check_task, import_scan_task

    task = import_check_task if job.kind == CHECK_JOB else import_scan_task
    upload_id = job.params.get("upload")
    return upload_id is not None and enqueue(task, job.pk, upload_id)


def _requeue_rewrite(job: Job) -> bool:
    from funnel.tasks import rewrite_working_offsets

    stream_id = job.params.get("stream")
    return stream_id is not None and enqueue(rewrite_working_offsets, job.pk, stream_id)


def _requeue_view(task_name: str):
    """A requeuer for a dashboard view's snapshot job (the lab's, Leads', Discovery's, the
    forecasts'): its task takes the job's id alone."""

    def requeue(job: Job) -> bool:
        from funnel import tasks

        return enqueue(getattr(tasks, task_name), job.pk)

    return requeue


def _requeuers() -> dict:
    from funnel.discovery.snapshots import DISCOVERY_JOB
    from funnel.eventlog.working import REWRITE_JOB
    from funnel.forecasts.snapshots import FORECAST_JOB
    from funnel.importing.views import CHECK_JOB, SCAN_JOB
    from funnel.leads.snapshots import LEADS_JOB
    from funnel.metrics.snapshots import PREPARE_JOB
    from funnel.qualification.snapshots import LAB_JOB

    return {
        "import": _requeue_import,
        PREPARE_JOB: _requeue_prepare,
        "seed demo": _requeue_seed,
        CHECK_JOB: _requeue_upload_job,
        SCAN_JOB: _requeue_upload_job,
        REWRITE_JOB: _requeue_rewrite,
        LAB_JOB: _requeue_view("compute_lab"),
        LEADS_JOB: _requeue_view("compute_leads"),
        DISCOVERY_JOB: _requeue_view("compute_discovery"),
        FORECAST_JOB: _requeue_view("compute_forecast"),
    }


@shared_task(name="vsm_project.tasks.catch_up", ignore_result=True)
def catch_up() -> dict:
    """Every ``VSM_CATCH_UP_SECONDS`` (beat): queue again what a Redis outage or a killed
    worker left undone: the recomputes streams still owe (``metrics_catch_up``), the
    working-time rewrites owed after a calendar change (``working_offsets_catch_up``) and the
    jobs queued that no worker started (``jobs_catch_up``). Cheap when all is well: one query
    each. See docs/background-work.md."""
    from funnel.eventlog.working import working_offsets_catch_up
    from funnel.metrics.snapshots import metrics_catch_up

    now = timezone.now()
    return {
        "streams": metrics_catch_up(now=now),
        "working_time": working_offsets_catch_up(),
        **jobs_catch_up(requeue=_requeuers(), now=now),
    }
