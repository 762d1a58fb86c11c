"""Demo data: a year of weekly stored forecasts (issue 19 point 6; docs/forecasts.md "Stored
forecasts").

For each of the 52 Mondays (00:00 UTC) before the anchor's week, and that week's own, the
stream's default forecast (wins and revenue by the end of that Monday's quarter) is made as it
would have been then, with the log as it stood at that instant (``measure(as_of=…)``), and
stored as production's weekly beat stores it; those whose horizon ended by the anchor are
scored at once. So the Forecast dashboard's "stored forecasts" line has a year of scored
forecasts beside the back-test on a fresh demo.

Then the stream's default Forecast view as of now is computed and stored
(:func:`demo_default_forecast_add`), as its background job does when the dashboard or the
cockpit asks for it, so a fresh demo's cockpit shows the chance of reaching the target at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from funnel.forecasts.backtest import NEW_SAMPLE
from funnel.forecasts.history import EventLog
from funnel.forecasts.models import ForecastRecord, ForecastSnapshot
from funnel.forecasts.records import forecast_record
from funnel.forecasts.snapshots import FORECAST, FORECAST_JOB, forecast_job_run
from funnel.forecasts.view import DEFAULT_KEY, monday
from streams.models import StreamState, ValueStream
from streams.services import job_create

#: The weeks of stored forecasts before the anchor's.
WEEKS = 52
#: Runs per stored demo forecast, and (``NEW_SAMPLE``) the fresh deals behind its new deals:
#: the back-test's counts (docs/forecasts.md "Back-tests"), so the demo's year seeds in
#: seconds.
RUNS = 2_000


def demo_forecast_dates(anchor: datetime, weeks: int = WEEKS) -> list[datetime]:
    """The instants the demo's stored forecasts are made at: the Mondays 00:00 UTC of the
    ``weeks`` weeks before the anchor's week and of that week (not after the anchor)."""
    start = datetime.combine(monday(anchor), time(0), UTC)
    return [start - timedelta(weeks=k) for k in range(weeks, -1, -1)]


def demo_forecasts_add(
    *,
    team_slug: str,
    anchor: datetime,
    seed: int = 42,
    progress: Callable[[int, int, str], None] | None = None,
) -> int:
    """Store the demo's year of weekly forecasts on the current-state stream of the team
    ``team_slug`` when it has none; the records written."""
    stream = ValueStream.objects.filter(team__slug=team_slug, state=StreamState.CURRENT).first()
    if stream is None or ForecastRecord.objects.filter(stream=stream).exists():
        return 0
    dates = demo_forecast_dates(anchor)
    log = EventLog(stream)  # read once, cut at each date in memory
    written = 0
    for i, made in enumerate(dates):
        if progress:
            progress(i, len(dates), f"Stored forecasts: week {i + 1} of {len(dates)}")
        written += forecast_record(
            stream,
            now=anchor,
            as_of=made,
            runs=RUNS,
            seed=seed * 7919 + i,
            score=True,
            log=log,
            sample=NEW_SAMPLE,
        )
    return written


def demo_default_forecast_add(*, team_slug: str) -> bool:
    """Compute and store the default Forecast view (as of now) of the current-state stream of
    the team ``team_slug`` when it has none, as the view's background job does: the job the
    dashboard's read would queue (its parameters, a ``Job`` row) run here by the task's body
    (``forecast_job_run``). True when it was stored."""
    stream = ValueStream.objects.filter(team__slug=team_slug, state=StreamState.CURRENT).first()
    if (
        stream is None
        or ForecastSnapshot.objects.filter(
            stream=stream, view_key=DEFAULT_KEY, computed_at__isnull=False
        ).exists()
    ):
        return False
    view, key, flag = FORECAST.view_from_params(stream, {}, now=timezone.now())
    job = job_create(
        kind=FORECAST_JOB,
        params=FORECAST.job_params(stream, view, key, flag),
        total=2,
        team=stream.team,
    )
    forecast_job_run(job_id=job.pk)
    return True
