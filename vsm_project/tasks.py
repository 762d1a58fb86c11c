"""Background work that spans the apps."""

from datetime import datetime

from celery import shared_task

from streams.services import job_fail, job_finish, job_progress
from vsm_project.demo import demo_seed


@shared_task(name="vsm_project.tasks.seed_demo")
def seed_demo_task(job_id: int, deals: int, seed: int, anchor: str | None = None) -> dict:
    """Seed the demo data in the background, reporting progress on the ``Job`` row."""
    job_progress(job_id=job_id, done=0, total=deals, message="Starting")
    try:
        result = demo_seed(
            deals=deals,
            seed=seed,
            anchor=datetime.fromisoformat(anchor) if anchor else None,
            progress=lambda done, total, msg: job_progress(
                job_id=job_id, done=done, total=total, message=msg
            ),
        )
    except Exception as exc:
        job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        raise
    job_finish(job_id=job_id, result=result.as_dict(), message="Demo data ready")
    return result.as_dict()
