"""Store a forecast result as the snapshot of a view, as the background job would (same key
and signature), so the page and API tests read a hand-built result."""

from __future__ import annotations

from django.utils import timezone

from funnel.forecasts.models import ForecastSnapshot
from funnel.forecasts.snapshots import FORECAST

#: A view as of a past day: its signature does not depend on the clock's quarter-hour.
VIEW = {"as_of": "2026-12-01"}


def store_forecast(stream, result: dict, params: dict | None = None) -> ForecastSnapshot:
    now = timezone.now()
    view, key, live = FORECAST.view_from_params(stream, params or VIEW, now=now)
    job_params = FORECAST.job_params(stream, view, key, live)
    return ForecastSnapshot.objects.create(
        stream=stream,
        view_key=key,
        result=result,
        computed_at=now,
        requested_at=now,
        source_signature=FORECAST.signature(stream, job_params, now),
    )
