from celery import shared_task

from streams.services import jobs_prune


@shared_task(name="streams.tasks.jobs_prune")
def jobs_prune_task(older_than_days: int = 30) -> int:
    """Nightly (beat): forget finished background jobs after a month."""
    return jobs_prune(older_than_days=older_than_days)
