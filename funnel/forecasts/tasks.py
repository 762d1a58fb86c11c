"""The forecasts' background work (imported by ``funnel.tasks`` so the worker finds it):
computing a Forecast dashboard view, and recording and scoring the weekly stored forecasts
(docs/forecasts.md "Stored forecasts")."""

from __future__ import annotations

from celery import shared_task

from funnel.forecasts.records import forecasts_record_all, forecasts_score_due
from funnel.forecasts.snapshots import FORECAST_TASK, forecast_job_run
from funnel.view_jobs import view_task

compute_forecast = view_task(FORECAST_TASK, forecast_job_run, "Forecast dashboard view")


@shared_task(name="funnel.tasks.forecasts_record")
def forecasts_record() -> int:
    """Weekly (beat): store each stream's default forecast, once per week. Returns the
    records written."""
    return forecasts_record_all()


@shared_task(name="funnel.tasks.forecasts_score")
def forecasts_score() -> int:
    """Daily (beat): fill in the actual of the stored forecasts whose horizon has passed.
    Returns those scored."""
    return forecasts_score_due()
