"""The Forecast dashboard's snapshots: a view (:mod:`funnel.forecasts.view`) is computed by a
background job (``funnel.tasks.compute_forecast``) into a ``ForecastSnapshot`` and read from
there by the pages, the API, the deals list and the cockpit, never computed inside a request,
as the Discovery dashboard's are.

- :func:`read_forecast` returns a view's snapshot and, when it is missing or stale, the job
  computing it (queued, or joined when one already runs). A stale snapshot is still returned.
- :func:`forecast_signature`: what a result depends on: the stream's recorded change of deals
  and visits, its steps, calendars, basis and target, the scored stored forecasts, the
  latest computed lab view (its probabilities set outcomes), and, for a view as of now, the
  quarter-hour it is read in (ages grow with the clock).
- The back-test beside each forecast (its ``track_record``) is computed in the same job but
  cached in a snapshot of its own (``backtest|h=<weeks>w|n=<N>|<Monday>``): one per stream,
  horizon in whole weeks, N of "when N more wins" and week, so it runs once a week per
  horizon, not on every change
  (docs/forecasts.md "Back-tests on the page").
- :func:`deal_forecasts`: the latest default view's per-deal rows (the deals list).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from funnel.eventlog.working import calendar_signature
from funnel.forecasts.backtest import RUNS as BACKTEST_RUNS
from funnel.forecasts.backtest import backtest
from funnel.forecasts.models import ForecastRecord, ForecastSnapshot
from funnel.forecasts.records import stored_track_record
from funnel.forecasts.view import (
    DEFAULT_KEY,
    RESULT_FORMAT,
    ForecastView,
    _finite,
    bands_dict,
    compute_forecast,
    end_of_day,
    forecast_view_from_params,
    monday,
    quarter_end,
    stream_zone,
)
from funnel.leads.snapshots import live_signature
from funnel.models import MetricsState
from funnel.qualification.models import LabSnapshot
from funnel.view_jobs import SnapshotKind
from streams.models import ProcessStep, ValueStream

FORECAST_JOB = "forecast view"
FORECAST_TASK = "funnel.tasks.compute_forecast"
#: A view as of now is computed again at most this often while nothing else changes.
NOW_EVERY = timedelta(minutes=15)
#: The back-test looks back this far: its dates are the weeks of the last year whose horizon
#: had passed by the forecast's week.
BACKTEST_YEAR = timedelta(days=364)
BACKTEST_PREFIX = "backtest|"

#: Progress of the running job (set by the task): ``(done, total, message)``.
progress_to: ContextVar[Callable[[int, int, str], None] | None] = ContextVar(
    "forecast_progress", default=None
)


def _report(done: int, total: int, message: str) -> None:
    report = progress_to.get()
    if report is not None:
        report(done, total, message)


def _tick(live: bool, now: datetime) -> str:
    return str(int(now.timestamp() // NOW_EVERY.total_seconds())) if live else ""


def forecast_signature(stream: ValueStream, *, tick: str = "") -> str:
    """What the stream's forecasts depend on, hashed."""
    scored = ForecastRecord.objects.filter(stream=stream, actual__isnull=False)
    parts = [
        RESULT_FORMAT,
        tick,
        stream.time_basis,
        stream.target_won_deals_per_period,
        stream.period_days,
        MetricsState.objects.filter(stream=stream).values_list("changed_at", flat=True).first(),
        list(
            ProcessStep.objects.filter(stream=stream)
            .order_by("pk")
            .values_list("pk", "name", "position", "lane_id", "planned_lead_hours")
        ),
        calendar_signature(stream),
        scored.count(),
        scored.order_by("-scored_at").values_list("scored_at", flat=True).first(),
        # The lab's stored probabilities set the outcome of the deals they score.
        LabSnapshot.objects.filter(stream=stream, computed_at__isnull=False)
        .order_by("-computed_at")
        .values_list("computed_at", flat=True)
        .first(),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _job_params(stream: ValueStream, view: ForecastView, key: str, live: bool) -> dict:
    return {
        "key": f"{stream.pk}/{key}",
        "stream": stream.pk,
        "view_key": key,
        "by": view.by.isoformat() if view.by else None,
        "when_wins": view.when_wins,
        "as_of": view.as_of.isoformat() if view.as_of else None,
        "runs": view.runs,
    }


def view_of_params(params: dict) -> ForecastView:
    """The view a job computes (a view as of now is computed as of the moment it runs)."""
    return ForecastView(
        by=date.fromisoformat(params["by"]) if params.get("by") else None,
        when_wins=params.get("when_wins"),
        as_of=datetime.fromisoformat(params["as_of"]) if params.get("as_of") else None,
        runs=params["runs"],
    )


def backtest_dates(week: date, horizon_weeks: int) -> list[datetime]:
    """The back-test's dates for forecasts made in ``week``: every Monday 00:00 UTC of the
    year before it whose horizon of ``horizon_weeks`` had ended by then, oldest first."""
    start = datetime.combine(week, time(0), UTC)
    last = start - timedelta(weeks=horizon_weeks)
    out = []
    moment = last
    while moment >= start - BACKTEST_YEAR:
        out.append(moment)
        moment -= timedelta(weeks=1)
    return sorted(out)


def _point(p) -> dict:
    point = {
        "date": p.at.isoformat(),
        "actual": p.actual_wins,
        "actual_revenue": p.actual_revenue,
        "open_deals": p.open_deals,
        **{k: v for k, v in bands_dict(p.wins).items() if k != "mean"},
        "revenue": bands_dict(p.revenue),
    }
    if p.needed_hours is not None:
        # "When N more wins": hours of the basis from the date (null: not within two
        # horizons). ``needed_known``: whether the log could tell yet.
        point["needed"] = bands_dict(p.needed_hours)
        point["needed_known"] = p.actual_needed_hours is not None
        point["actual_needed_hours"] = (
            None if p.actual_needed_hours is None else _finite(p.actual_needed_hours)
        )
    if p.close_dates is not None:
        # Each deal's close dates at this date: scored, inside each band, left out.
        c = p.close_dates
        point["close_dates"] = {
            "scored": c.scored,
            "inside": {str(round(level * 100)): n for level, n in c.inside.items()},
            "open_outside": c.open_outside,
            "censored": c.censored,
            "lost": c.lost,
            "no_dates": c.no_dates,
        }
    return point


def _figure(record) -> dict:
    """One figure's track record (``backtest.FigureRecord``), JSON-able."""
    return {
        "name": record.name,
        "count": record.count,
        "coverage": {
            str(round(level * 100)): (None if math.isnan(v) else v)
            for level, v in record.coverage.items()
        },
        "typical_error": None if math.isnan(record.typical_error) else record.typical_error,
        "verdicts": record.verdicts,
    }


def _close_figure(record) -> dict:
    """The close dates' track record (``backtest.CloseDatesRecord``), JSON-able: typical
    error in days, and the deals counted outside or left out."""
    return {
        **_figure(record),
        "open_outside": record.open_outside,
        "censored": record.censored,
        "lost": record.lost,
        "no_dates": record.no_dates,
    }


def compute_track_record(
    stream: ValueStream,
    week: date,
    horizon_weeks: int,
    *,
    needed: int | None = None,
    runs: int | None = None,
) -> dict:
    """The back-test of forecasts ``horizon_weeks`` ahead (and of "when ``needed`` more
    wins") over the year before ``week`` (:func:`backtest_dates`), ``runs`` per date (default
    the back-test's), the log read once, with progress on the running job."""
    runs = runs or BACKTEST_RUNS
    dates = backtest_dates(week, horizon_weeks)
    seed = int(hashlib.sha256(f"{stream.pk}|{week}|{horizon_weeks}".encode()).hexdigest()[:8], 16)
    found = backtest(
        stream,
        dates,
        timedelta(weeks=horizon_weeks),
        runs=runs,
        seed=seed,
        needed=needed,
        now=datetime.combine(week, time(0), UTC),
        progress=lambda done, total: _report(
            done, total, f"Back-testing: date {done + 1} of {total}"
        ),
        close_dates=True,
    )
    wins = _figure(found.records["wins"])
    return {
        "week": week.isoformat(),
        "horizon_weeks": horizon_weeks,
        "runs": runs,
        "count": found.count,
        "coverage": wins["coverage"],
        "typical_error": wins["typical_error"],
        "typical_error_revenue": _figure(found.records["revenue"])["typical_error"],
        # Each figure's verdicts, saying which figure ("Wins: the 85% band held …").
        "verdicts": found.all_verdicts(),
        "revenue": _figure(found.records["revenue"]),
        # "When N more wins": its typical error in hours of the basis.
        "needed": {**_figure(found.records["needed"]), "n": needed}
        if "needed" in found.records
        else None,
        # Each deal's close dates: typical error in days (docs/forecasts.md).
        "close_dates": _close_figure(found.records["close_dates"])
        if "close_dates" in found.records
        else None,
        "points": [_point(p) for p in found.points],
    }


def cached_track_record(
    stream: ValueStream, as_of: datetime, horizon_weeks: int, needed: int | None = None
) -> dict:
    """The back-test for a forecast made at ``as_of`` ``horizon_weeks`` ahead (and of "when
    ``needed`` more wins"): from its cached snapshot when this week's is there, else computed
    and cached (older weeks' are dropped). A cached one from before the close dates were
    back-tested (no ``close_dates``) is computed again."""
    week = monday(as_of)
    key = f"{BACKTEST_PREFIX}h={horizon_weeks}w|n={needed or ''}|{week.isoformat()}"
    found = (
        ForecastSnapshot.objects.filter(stream=stream, view_key=key, computed_at__isnull=False)
        .values_list("result", flat=True)
        .first()
    )
    if found is not None and "close_dates" in found:
        return found
    result = compute_track_record(stream, week, horizon_weeks, needed=needed)
    now = timezone.now()
    ForecastSnapshot.objects.update_or_create(
        stream=stream,
        view_key=key,
        defaults={"result": result, "computed_at": now, "requested_at": now},
    )
    ForecastSnapshot.objects.filter(
        stream=stream,
        view_key__startswith=BACKTEST_PREFIX,
        requested_at__lt=now - timedelta(weeks=2),
    ).delete()
    return result


def horizon_weeks(as_of: datetime, by: date, stream: ValueStream) -> int:
    """The forecast's horizon, from ``as_of`` to the end of ``by``, in whole weeks (rounded
    up; at least one)."""
    end = end_of_day(by, stream_zone(stream))
    return max(1, math.ceil((end - as_of) / timedelta(weeks=1)))


def forecast_with_record(stream: ValueStream, view: ForecastView, *, now: datetime) -> dict:
    """:func:`compute_forecast` with its ``track_record``: the back-test at the forecast's
    horizon, and the stored forecasts' scores."""
    _report(0, 1, "Simulating the open deals")
    result = compute_forecast(stream, view, now=now)
    as_of = view.as_of or now
    by = view.by or quarter_end(as_of.astimezone(stream_zone(stream)).date())
    record = cached_track_record(
        stream, as_of, horizon_weeks(as_of, by, stream), result["wins_needed"]["n"]
    )
    result["track_record"] = {**record, "stored": stored_track_record(stream, before=as_of)}
    return result


def _compute(stream: ValueStream, params: dict, now: datetime) -> dict:
    return {"result": forecast_with_record(stream, view_of_params(params), now=now)}


FORECAST = SnapshotKind(
    model=ForecastSnapshot,
    signature=live_signature(forecast_signature, _tick),
    compute=_compute,
    counted=lambda result: ("deals", len(result["deals"])),
    reading="Reading the stream's flow",
    storing="Storing the forecast",
    job=FORECAST_JOB,
    task=FORECAST_TASK,
    view_from_params=forecast_view_from_params,
    job_params=_job_params,
)


def read_forecast(
    stream: ValueStream, params: Any, *, user: object = None, now: datetime | None = None
) -> tuple[ForecastSnapshot | None, Any]:
    """``(snapshot, job)`` of the view the query ``params`` name (a mapping: ``by``,
    ``when_wins``, ``as_of``, ``runs``; empty: the default view). ``ValidationError`` naming
    each bad parameter. See :meth:`funnel.view_jobs.SnapshotKind.read`."""
    return FORECAST.read(stream, params, user=user, now=now)


def forecast_job_run(*, job_id: int) -> int:
    """The task's body: compute the job's view with progress on the job."""
    from streams.services import job_progress

    def report(done: int, total: int, message: str) -> None:
        job_progress(job_id=job_id, done=done, total=total, message=message)

    token = progress_to.set(report)
    try:
        return FORECAST.run(job_id=job_id)
    finally:
        progress_to.reset(token)


def deal_forecasts(
    stream: ValueStream, *, refresh: bool = False, user: object = None, now: datetime | None = None
) -> dict[int, dict]:
    """Each open deal's row of the stream's latest default forecast (win probability, close
    dates; docs/forecasts.md), by deal id; empty when none was computed yet. ``refresh``:
    also queue the default view's job when it is missing or stale (the row shown meanwhile
    is the last computed)."""
    if refresh:
        read_forecast(stream, {}, user=user, now=now)
    # Only the payload's per-deal rows are read (a page view of the deals list asks this):
    # the fan, the track record and the rest of the result stay in the database.
    rows = (
        ForecastSnapshot.objects.filter(
            stream=stream, view_key=DEFAULT_KEY, computed_at__isnull=False
        )
        .values_list("result__deals", flat=True)
        .first()
    )
    return {row["deal"]: row for row in rows or []}
