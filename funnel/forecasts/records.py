"""Forecasts made in production, stored and scored later (issue 19 point 3; docs/forecasts.md
"Stored forecasts").

Once a week (beat, ``funnel.tasks.forecasts_record``) each stream's default forecast, the
wins and the revenue by the end of the current quarter, is stored as two
:class:`ForecastRecord` rows (one per stream, week and kind: recording twice in a week adds
nothing, even when two workers race: the unique constraint and ``ON CONFLICT DO NOTHING``).
Every day (``funnel.tasks.forecasts_score``) the records whose horizon has passed get their
``actual``: the deals the log says were won in ``(made_at, horizon_end]``, and their amounts.
:func:`stored_track_record` scores them as the back-test scores its dates.
"""

from __future__ import annotations

import logging
import statistics
from datetime import datetime

from django.utils import timezone

from funnel.forecasts.backtest import actual
from funnel.forecasts.history import EventLog
from funnel.forecasts.model import measure
from funnel.forecasts.models import ForecastRecord, RecordKind
from funnel.forecasts.pipeline import BANDS, Bands, new_deals_for, wins_by
from funnel.forecasts.simulation import simulate_deals
from funnel.forecasts.view import (
    end_of_day,
    monday,
    quarter_attainment,
    quarter_end,
    stream_zone,
)
from funnel.models import Deal
from streams.models import StreamState, ValueStream

#: Runs of a stored forecast, and the fresh deals behind its new deals' wins: the default
#: view's.
RECORD_RUNS = 10_000
NEW_SAMPLE = 100_000
log = logging.getLogger(__name__)
LEVELS = tuple(round(level * 100) for level in BANDS)


def _horizon_end(stream: ValueStream, moment: datetime) -> datetime:
    zone = stream_zone(stream)
    return end_of_day(quarter_end(moment.astimezone(zone).date()), zone)


def _fields(bands: Bands) -> dict:
    fields = {"median": bands.median, "mean": bands.mean if bands.mean != float("inf") else None}
    for level, (low, high) in bands.bands.items():
        fields[f"low_{round(level * 100)}"] = low
        fields[f"high_{round(level * 100)}"] = high
    return fields


def _week_recorded(stream: ValueStream, week) -> bool:
    return ForecastRecord.objects.filter(stream=stream, week=week).exists()


def forecast_record(
    stream: ValueStream,
    *,
    now: datetime,
    as_of: datetime | None = None,
    runs: int | None = None,
    seed: int | None = None,
    score: bool = False,
    log: EventLog | None = None,
    sample: int = NEW_SAMPLE,
) -> int:
    """Store the stream's default forecast (wins and revenue to the end of the quarter) made
    at ``as_of`` (default ``now``; a past instant reads the log as it stood then, as the demo
    does for its past year), unless the week has one already. ``score``: fill in the actual
    when the horizon has passed by ``now``. ``log``: the stream's log read once
    (:class:`~funnel.forecasts.history.EventLog`), to cut at ``as_of`` in memory when many past
    forecasts are made (the demo's year); ``sample``: the fresh deals simulated for the new
    deals' wins. Returns the records written (0 or 2)."""
    made_at = as_of or now
    runs = runs or RECORD_RUNS
    week = monday(made_at)
    if _week_recorded(stream, week):
        return 0  # the expensive part is skipped; the insert below is what guarantees it
    horizon_end = _horizon_end(stream, made_at)
    if log is not None and as_of is not None:
        model, open_deals, axis = log.as_of(as_of)
    else:
        model, open_deals, axis = measure(stream, now=made_at, as_of=as_of)
    hours = axis.hours_until(horizon_end)
    # Nothing later than the horizon is asked: the runs stop there.
    deal_runs = simulate_deals(model, open_deals, runs=runs, seed=seed, cutoff=hours)
    later = None if seed is None else seed + 1
    new = new_deals_for(model, later, sample=sample, cutoff=hours)
    forecast = wins_by(deal_runs, model, hours, seed=later, new=new)
    zone = stream_zone(stream)
    attained = quarter_attainment(
        stream,
        deal_runs,
        model,
        axis,
        made_at.astimezone(zone).date(),
        zone,
        seed=None if seed is None else seed + 2,
        new=new,
    )
    common = {
        "stream": stream,
        "week": week,
        "made_at": made_at,
        "horizon_end": horizon_end,
        "runs": runs,
    }
    records = [
        ForecastRecord(
            kind=RecordKind.WINS,
            **common,
            **_fields(forecast.wins),
            target_probability=attained.probability if attained else None,
        ),
        ForecastRecord(kind=RecordKind.REVENUE, **common, **_fields(forecast.revenue)),
    ]
    if score and horizon_end <= now:
        wins, revenue = actual(stream, made_at, horizon_end)
        records[0].actual, records[1].actual = wins, revenue
        records[0].scored_at = records[1].scored_at = now
    # ON CONFLICT DO NOTHING: a second recorder of the same week (a late duplicate message,
    # two beats) adds nothing.
    before = ForecastRecord.objects.filter(stream=stream, week=week).count()
    ForecastRecord.objects.bulk_create(records, ignore_conflicts=True)
    return ForecastRecord.objects.filter(stream=stream, week=week).count() - before


def recorded_streams():
    """The streams whose forecasts are recorded: current-state maps with deals."""
    with_deals = Deal.objects.values("stream_id")
    return ValueStream.objects.filter(state=StreamState.CURRENT, pk__in=with_deals)


def forecasts_record_all(*, now: datetime | None = None) -> int:
    """The weekly beat's work: record each stream's default forecast (one failing stream
    does not stop the others). Returns the records written."""
    now = now or timezone.now()
    written = 0
    for stream in recorded_streams():
        try:
            written += forecast_record(stream, now=now)
        except Exception:  # one stream's bad data must not cost the others their record
            log.exception("recording the forecast of stream %s failed", stream.pk)
    return written


def forecasts_score_due(*, now: datetime | None = None) -> int:
    """Fill in the actual of every record whose horizon has passed. Returns those scored."""
    now = now or timezone.now()
    due = ForecastRecord.objects.filter(actual__isnull=True, horizon_end__lte=now).select_related(
        "stream"
    )
    scored = 0
    for record in due.iterator():
        wins, revenue = actual(record.stream, record.made_at, record.horizon_end)
        value = wins if record.kind == RecordKind.WINS else revenue
        scored += ForecastRecord.objects.filter(pk=record.pk, actual__isnull=True).update(
            actual=value, scored_at=now
        )
    return scored


def _scores(records: list[ForecastRecord]) -> dict:
    count = len(records)
    coverage = {
        str(level): (
            sum(r.band(level)[0] <= r.actual <= r.band(level)[1] for r in records) / count
            if count
            else None
        )
        for level in LEVELS
    }
    error = statistics.median(abs(r.median - r.actual) for r in records) if count else None
    return {"count": count, "coverage": coverage, "typical_error": error}


def stored_track_record(stream: ValueStream, *, before: datetime | None = None) -> dict:
    """The scored stored forecasts of ``stream`` (those whose horizon had passed by
    ``before``, when given): per kind, their number, each band's coverage (the share whose
    actual fell inside it, ends included) and the typical error (median |median − actual|).
    The wins' figures at the top, the revenue's under ``revenue``."""
    scored = ForecastRecord.objects.filter(stream=stream, actual__isnull=False)
    if before is not None:
        scored = scored.filter(horizon_end__lte=before)
    by_kind: dict[str, list[ForecastRecord]] = {RecordKind.WINS: [], RecordKind.REVENUE: []}
    for record in scored.order_by("made_at"):
        by_kind[record.kind].append(record)
    return {
        **_scores(by_kind[RecordKind.WINS]),
        "revenue": _scores(by_kind[RecordKind.REVENUE]),
    }
