"""Storing the engine's results and reading them back.

Pages and the API read snapshots, never raw visits (``metrics_read``); the only computation
on a request is the first one of a window and filter set nobody asked for before, which the
dashboards hand to a background job with a progress bar (``metrics_sets_job``). Snapshots
are kept fresh by Celery (``funnel.tasks``):

- after visits change, ``metrics_changed`` schedules one debounced recompute of the stream
  on commit (``metrics_schedule``); the recompute redoes every set of the stream, the
  rolling default first;
- every few minutes the figures that depend on "now" are redone (``metrics_refresh_open``);
- every night every stream is recomputed and unused sets expire (``metrics_recompute_all``);
- every few seconds the recomputes still owed after a Redis outage or a killed worker are
  queued again (``metrics_catch_up``; docs/background-work.md).

A set is stored once per time basis (``MetricsSnapshot.basis``): one computation gives both
(``compute_bases``), so switching between elapsed and working time never waits. The working
figures read as stale while the stream's working-time offsets are being rewritten.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from funnel.eventlog.working import offsets_owed
from funnel.metrics.engine import NO_CALENDAR, compute_bases, refresh_open_figures
from funnel.metrics.query import (
    ELAPSED,
    PREVIOUS_KEY,
    ROLLING_KEY,
    WORKING,
    MetricsFilters,
    MetricsQuery,
)
from funnel.metrics.results import MetricsResult, StageMetrics, StepMetrics, StreamSummary, Waste
from funnel.metrics.series import ChartSeries, compute_series, refresh_aging
from funnel.models import MetricsSnapshot, MetricsState, StageSnapshot, StepSnapshot
from streams.models import Job, Team, ValueStream
from streams.services import job_create, job_joinable
from vsm_project.background import enqueue, robust_on_commit, task_named

#: Window and filter sets every stream keeps, whether or not anyone asked.
STANDARD_QUERIES = ({"previous": False}, {"previous": True})
#: A set nobody asked for in this long is deleted by the nightly job.
UNUSED_FOR = timedelta(days=7)
#: The tasks this module queues, by name: ``funnel.tasks`` imports this module, so importing
#: it back would close a circle (tests/test_architecture.py).
PREPARE_TASK = "funnel.tasks.prepare_metric_sets"
RECOMPUTE_TASK = "funnel.tasks.recompute_stream_metrics"
#: ``requested_at`` is written at most this often, so reads stay reads.
TOUCH_EVERY = timedelta(hours=1)


def _build(cls: type, data: dict, **extra: object) -> object:
    """A result dataclass from stored JSON, ignoring figures it no longer has."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names}, **extra)


def query_from_keys(
    *, stream_id: int, window_key: str, filter_key: str, basis: str = ELAPSED
) -> MetricsQuery:
    """The query a snapshot's keys name (``MetricsQuery.window_key``, ``MetricsFilters.key``,
    the basis)."""
    raw = dict(parse_qsl(filter_key))
    filters = MetricsFilters(
        owner_id=int(raw["owner"]) if "owner" in raw else None,
        owner_name=raw.get("owner_name"),
        lane_id=int(raw["lane"]) if "lane" in raw else None,
        source=raw.get("source"),
        amount_band=raw.get("amount_band"),
    )
    if window_key in (ROLLING_KEY, PREVIOUS_KEY):
        return MetricsQuery(
            stream_id=stream_id, filters=filters, previous=window_key == PREVIOUS_KEY, basis=basis
        )
    start, end = window_key.split("/")
    return MetricsQuery(
        stream_id=stream_id,
        start=datetime.fromisoformat(start),
        end=datetime.fromisoformat(end),
        filters=filters,
        basis=basis,
    )


def query_keys(query: MetricsQuery) -> dict:
    """What ``query_from_keys`` takes: a query as plain JSON, for a task's arguments; also
    the snapshot row of ``query``, as filter arguments."""
    return {
        "stream_id": query.stream_id,
        "window_key": query.window_key,
        "filter_key": query.filters.key,
        "basis": query.basis,
    }


def query_of(snapshot: MetricsSnapshot) -> MetricsQuery:
    """The query a snapshot answers, rebuilt from its keys."""
    return query_from_keys(
        stream_id=snapshot.stream_id,
        window_key=snapshot.window_key,
        filter_key=snapshot.filter_key,
        basis=snapshot.basis,
    )


def result_of(snapshot: MetricsSnapshot, *, changed_at: datetime | None = None) -> MetricsResult:
    """The stored result. ``stale`` when the stream's visits changed after it was computed,
    and in working time also while the stream's working-time offsets are being rewritten
    (``funnel.eventlog.working.offsets_owed``)."""
    steps = snapshot.steps.order_by("step__position").values_list("step_id", "figures")
    stages = snapshot.stages.order_by("stage__position").values_list("stage_id", "figures")
    return MetricsResult(
        query=query_of(snapshot),
        window_start=snapshot.window_start,
        window_end=snapshot.window_end,
        computed_at=snapshot.computed_at,
        steps=[_build(StepMetrics, figures, step_id=step_id) for step_id, figures in steps],
        summary=_build(StreamSummary, snapshot.summary),
        waste=_build(Waste, snapshot.waste),
        stages=[_build(StageMetrics, figures, stage_id=stage_id) for stage_id, figures in stages],
        cohort_deals=snapshot.cohort_deals,
        cohort_won=snapshot.cohort_won,
        stale=(changed_at is not None and changed_at > snapshot.computed_at)
        or (snapshot.basis == WORKING and offsets_owed(snapshot.stream_id)),
        now_at=snapshot.now_at,
    )


def _without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


@transaction.atomic
def metrics_store(result: MetricsResult, *, now: datetime) -> MetricsSnapshot:
    """Write ``result`` as its snapshot, replacing the previous one (an upsert: a rerun after
    a crash is safe)."""
    query = result.query
    figures = {
        "window_start": result.window_start,
        "window_end": result.window_end,
        "computed_at": result.computed_at,
        "now_at": result.now_at,
        "summary": asdict(result.summary),
        "waste": asdict(result.waste),
        "cohort_deals": result.cohort_deals,
        "cohort_won": result.cohort_won,
    }
    snapshot, _ = MetricsSnapshot.objects.update_or_create(
        **query_keys(query),
        defaults=figures,
        create_defaults=figures | {"requested_at": now},
    )
    snapshot.steps.all().delete()
    StepSnapshot.objects.bulk_create(
        StepSnapshot(snapshot=snapshot, step_id=s.step_id, figures=_without(asdict(s), "step_id"))
        for s in result.steps
    )
    snapshot.stages.all().delete()
    StageSnapshot.objects.bulk_create(
        StageSnapshot(
            snapshot=snapshot, stage_id=s.stage_id, figures=_without(asdict(s), "stage_id")
        )
        for s in result.stages
    )
    return snapshot


def _snapshot(query: MetricsQuery) -> MetricsSnapshot | None:
    return MetricsSnapshot.objects.filter(**query_keys(query)).first()


def _compute_and_store(query: MetricsQuery, *, now: datetime) -> MetricsResult:
    """Compute ``query``'s window and filters in both bases, store each, and return the
    result in ``query``'s basis (``ValidationError`` naming ``time``: working time without a
    calendar)."""
    results = compute_bases(query, now=now)
    if query.basis not in results:
        raise ValidationError({"time": NO_CALENDAR})
    for result in results.values():
        metrics_store(result, now=now)
    return results[query.basis]


def _changed_at(stream_id: int) -> datetime | None:
    return (
        MetricsState.objects.filter(stream_id=stream_id)
        .values_list("changed_at", flat=True)
        .first()
    )


def metrics_stored(query: MetricsQuery) -> MetricsResult | None:
    """The stored result of ``query``, or None: never computes (for page views)."""
    snapshot = _snapshot(query)
    if snapshot is None:
        return None
    return result_of(snapshot, changed_at=_changed_at(query.stream_id))


def metrics_read(query: MetricsQuery, *, now: datetime) -> MetricsResult:
    """The result of ``query`` from its snapshot; computed and stored when nobody asked for
    this window and filter set before (it is then kept fresh like the others)."""
    snapshot = _snapshot(query)
    if snapshot is None:
        return _compute_and_store(query, now=now)
    if now - snapshot.requested_at > TOUCH_EVERY:
        MetricsSnapshot.objects.filter(pk=snapshot.pk).update(requested_at=now)
    return result_of(snapshot, changed_at=_changed_at(query.stream_id))


def series_store(query: MetricsQuery, series: ChartSeries) -> None:
    """Write the chart series of a set whose figures are stored (``metrics_store`` first)."""
    MetricsSnapshot.objects.filter(**query_keys(query)).update(series=series.as_json())


def dashboard_read(query: MetricsQuery, *, now: datetime) -> tuple[MetricsResult, ChartSeries]:
    """The figures and the chart series of ``query`` from its snapshot, for a dashboard;
    computed and stored first when nobody asked for this set before (as ``metrics_read``)."""
    snapshot = _snapshot(query)
    if snapshot is None:
        _compute_and_store(query, now=now)
        snapshot = _snapshot(query)
    elif now - snapshot.requested_at > TOUCH_EVERY:
        MetricsSnapshot.objects.filter(pk=snapshot.pk).update(requested_at=now)
    result = result_of(snapshot, changed_at=_changed_at(query.stream_id))
    if not snapshot.series:
        snapshot.series = compute_series(query, now=now, result=result).as_json()
        MetricsSnapshot.objects.filter(pk=snapshot.pk).update(series=snapshot.series)
    return result, ChartSeries.from_json(snapshot.series)


def metrics_sets_prepare(
    *,
    queries: Sequence[MetricsQuery],
    now: datetime,
    progress: Callable[[int, int, str], None] | None = None,
) -> int:
    """Compute and store the figures and chart series of each of ``queries`` that is not
    stored with its series yet: what a dashboard needs for a filter set nobody asked for
    before (the recompute keeps it fresh from then on). ``progress(done, total, message)`` is
    called before each step and at the end. Returns the sets computed."""
    missing = [q for q in queries if not _has_series(q)]
    total = 2 * len(missing)
    for i, query in enumerate(missing):
        label = _plain_label(query)
        if progress:
            progress(2 * i, total, f"Computing the figures of {label}")
        snapshot = _snapshot(query)
        result = _compute_and_store(query, now=now) if snapshot is None else result_of(snapshot)
        if progress:
            progress(2 * i + 1, total, f"Drawing the charts of {label}")
        series_store(query, compute_series(query, now=now, result=result))
    if progress:
        progress(total, total, "Ready")
    return len(missing)


def _has_series(query: MetricsQuery) -> bool:
    return MetricsSnapshot.objects.filter(**query_keys(query)).exclude(series={}).exists()


def _plain_label(query: MetricsQuery) -> str:
    if query.is_rolling:
        return "the 90 days before" if query.previous else "the last 90 days"
    return f"{query.start:%d %b %Y} – {query.end:%d %b %Y}"


#: The kind of the ``Job`` that prepares a dashboard's snapshot sets.
PREPARE_JOB = "dashboard view"
#: How long a job preparing the same sets is joined rather than started again.
PREPARE_JOIN = timedelta(minutes=15)


def metrics_sets_job(
    *, queries: Sequence[MetricsQuery], team_id: int, user: object, now: datetime
) -> Job:
    """A background job that prepares ``queries`` (``metrics_sets_prepare``), with progress
    for the page to show; one already queued or running for the same sets is joined. With
    eager Celery (development, tests) it has run when this returns. Call it outside a
    transaction (as views run), so a worker finds the job when it starts."""
    sets = [query_keys(q) for q in queries]
    key = " ".join(
        sorted(f"{k['stream_id']}/{k['window_key']}?{k['filter_key']}#{k['basis']}" for k in sets)
    )
    running = job_joinable(kind=PREPARE_JOB, key=key, since=now - PREPARE_JOIN)
    if running is not None:
        return running
    job = job_create(
        kind=PREPARE_JOB,
        params={"key": key, "sets": sets},
        total=2 * len(sets),
        created_by=user,
        team=Team.objects.get(pk=team_id),
    )
    # Called from views, which run in autocommit: the job is stored for the worker already.
    # Without a reachable broker the page computes the sets itself: slower, never stuck.
    if not enqueue(PREPARE_TASK, job.pk):
        task_named(PREPARE_TASK).apply((job.pk,))
    job.refresh_from_db()
    return job


def metrics_recompute_stream(
    *,
    stream_id: int,
    now: datetime,
    progress: Callable[[int, int, str], None] | None = None,
    series: bool = True,
) -> int:
    """Recompute every snapshot set of a stream, in both bases at once: the rolling default
    first (what the map and the stall flags read), then the previous period, then every set
    someone asked for; then, unless ``series`` is False, the chart series of every set (the
    figures first, so they are fresh sooner). ``progress(done, total, message)`` is called
    after each set. Returns the sets written (a set: one window and filter set, both bases)."""
    MetricsState.objects.update_or_create(stream_id=stream_id, defaults={"scheduled_at": None})
    queries = [MetricsQuery(stream_id=stream_id, **kwargs) for kwargs in STANDARD_QUERIES]
    keys = {(q.window_key, q.filters.key) for q in queries}
    for snapshot in MetricsSnapshot.objects.filter(stream_id=stream_id).order_by("pk"):
        if (snapshot.window_key, snapshot.filter_key) not in keys:
            keys.add((snapshot.window_key, snapshot.filter_key))
            queries.append(replace(query_of(snapshot), basis=ELAPSED))
    steps = len(queries) * (2 if series else 1)
    results = []
    for done, query in enumerate(queries, start=1):
        began = time.perf_counter()
        results.append(compute_bases(query, now=now))
        for result in results[-1].values():
            metrics_store(result, now=now)
        if progress:
            progress(done, steps, f"{_label(query)} in {time.perf_counter() - began:.1f} s")
    if results and WORKING not in results[0]:
        # The team has no calendar (any more): no working-time figures to keep.
        MetricsSnapshot.objects.filter(stream_id=stream_id, basis=WORKING).delete()
    MetricsState.objects.filter(stream_id=stream_id).update(computed_at=now)
    if series:
        for done, (query, bases) in enumerate(zip(queries, results, strict=True), start=1):
            began = time.perf_counter()
            charts = compute_series(query, now=now, result=bases[ELAPSED])
            series_store(query, charts)
            if WORKING in bases:
                working = bases[WORKING].query
                series_store(
                    working, compute_series(working, now=now, result=bases[WORKING], like=charts)
                )
            if progress:
                message = f"charts of {_label(query)} in {time.perf_counter() - began:.1f} s"
                progress(len(queries) + done, steps, message)
    return len(queries)


def _label(query: MetricsQuery) -> str:
    return query.window_key + (f" {query.filters.key}" if query.filters.key else "")


def metrics_refresh_open(*, stream_id: int, now: datetime) -> int:
    """Redo the figures that depend on "now" (WIP now, stalled, inventory, open deals,
    velocity) in every snapshot set of a stream. Returns the number of sets refreshed."""
    count = 0
    for snapshot in MetricsSnapshot.objects.filter(stream_id=stream_id):
        result = refresh_open_figures(result_of(snapshot), now=now)
        charts = snapshot.series
        if charts:
            charts = refresh_aging(
                ChartSeries.from_json(charts), query=result.query, now=now, result=result
            ).as_json()
        with transaction.atomic():
            MetricsSnapshot.objects.filter(pk=snapshot.pk).update(
                now_at=now,
                summary=asdict(result.summary),
                waste=asdict(result.waste),
                series=charts,
            )
            for step in result.steps:
                StepSnapshot.objects.filter(snapshot=snapshot, step_id=step.step_id).update(
                    figures=_without(asdict(step), "step_id")
                )
        count += 1
    return count


def metrics_prune(*, now: datetime) -> int:
    """Delete the sets nobody asked for in :data:`UNUSED_FOR`, except the standard ones."""
    _, per_model = (
        MetricsSnapshot.objects.filter(requested_at__lt=now - UNUSED_FOR)
        .exclude(window_key__in=(ROLLING_KEY, PREVIOUS_KEY), filter_key="")
        .delete()
    )
    return per_model.get(MetricsSnapshot._meta.label, 0)


def metrics_schedule(*, stream_id: int, now: datetime) -> bool:
    """Note that a stream's visits changed and queue a recompute unless one is already
    queued: a burst of events rides on one recompute. Returns whether one was queued.

    The first change after a quiet spell (no change for ``METRICS_DEBOUNCE_SECONDS``) is
    recomputed at once, so one logged event is in the figures as soon as they can be
    computed; a change that closely follows another waits that long, so the rest of a burst
    gathers on the same recompute. The wait happens in the task (``not_before``), never as a
    Celery countdown: a worker holding an ETA message when Redis drops exits under celery 5.7
    (docs/background-work.md).

    The change is recorded (``changed_at``) before anything is queued, so it stays owed when
    the broker cannot be reached; ``metrics_catch_up`` then queues the recompute once the
    broker is back (``_mark_lost``)."""
    debounce = settings.METRICS_DEBOUNCE_SECONDS
    state, _ = MetricsState.objects.get_or_create(stream_id=stream_id)
    quiet = state.changed_at is None or now - state.changed_at >= timedelta(seconds=debounce)
    MetricsState.objects.filter(pk=state.pk).update(changed_at=now)
    queued = MetricsState.objects.filter(pk=state.pk, scheduled_at__isnull=True).update(
        scheduled_at=now
    )
    if queued:
        not_before = None if quiet else (now + timedelta(seconds=debounce)).isoformat()
        if not enqueue(RECOMPUTE_TASK, stream_id, not_before=not_before):
            _mark_lost(stream_id, now=now)
    return bool(queued)


def _mark_lost(stream_id: int, *, now: datetime) -> None:
    """A recompute could not be queued: date the flag back so that the catch-up's next run
    takes it, while the flag, still set, spares the writes that follow a queueing attempt of
    their own each (the broker is down; each would wait for it)."""
    lost = now - timedelta(seconds=settings.METRICS_REQUEUE_AFTER_SECONDS + 1)
    MetricsState.objects.filter(stream_id=stream_id).update(scheduled_at=lost)


class _OnCommit:
    """The callback ``metrics_changed`` registers; one per stream per transaction."""

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id

    def __call__(self) -> None:
        metrics_schedule(stream_id=self.stream_id, now=timezone.now())


def metrics_changed(*, stream_id: int) -> None:
    """Call after writing visits or deals of a stream: schedules the recompute once the
    transaction commits (once per stream, however many events the transaction wrote). The
    committed write never fails because of it (``vsm_project.background``)."""
    pending = connection.run_on_commit if connection.in_atomic_block else []
    if any(getattr(func, "stream_id", None) == stream_id for _, func, _ in pending):
        return
    transaction.on_commit(_OnCommit(stream_id), robust=robust_on_commit())


# --- Catching up ---------------------------------------------------------------------------
#
# A stream owes a recompute when its visits changed after the last one started
# (``changed_at > computed_at``). That is true from the commit of a change until a recompute
# that started after it ends, whatever happened to the message in between: Redis down when it
# was queued, Redis restarted without persistence, a worker killed mid-task. The catch-up
# (beat, every ``VSM_CATCH_UP_SECONDS``) queues a recompute for every owed stream that has
# none queued (or one queued longer than ``METRICS_REQUEUE_AFTER_SECONDS`` ago, whose message
# is presumed lost) and none running.

#: Namespace of the PostgreSQL advisory locks that keep two recomputes of a stream apart.
_LOCK_CLASS = 0x5653  # "VS"


def metrics_owed(*, older_than: datetime | None = None) -> QuerySet[MetricsState]:
    """The streams whose figures miss a change (made before ``older_than``, if given)."""
    owed = MetricsState.objects.filter(changed_at__isnull=False).filter(
        Q(computed_at__isnull=True) | Q(changed_at__gt=F("computed_at"))
    )
    if older_than is not None:
        owed = owed.filter(changed_at__lt=older_than)
    return owed


@contextmanager
def metrics_recompute_lock(stream_id: int, *, wait: bool = True) -> Iterator[bool]:
    """Hold the stream's recompute lock (PostgreSQL: a session advisory lock, released when
    the holder ends or dies, so a killed worker never leaves it behind). With ``wait=False``
    yields False at once when another process holds it. SQLite (eager Celery, one process):
    always yields True."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_CLASS, stream_id])
            got = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, stream_id])
            got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, stream_id])


def metrics_recompute_owed(*, stream_id: int, only_if_owed: bool = True) -> int:
    """What the recompute task does: wait for a running recompute of the stream, then
    recompute unless (with ``only_if_owed``) it already covered every change. Returns the
    sets written (0 when there was nothing to do)."""
    with metrics_recompute_lock(stream_id):
        # Cleared before the check: a change from now on queues a recompute of its own.
        MetricsState.objects.filter(stream_id=stream_id).update(scheduled_at=None)
        if only_if_owed and not metrics_owed().filter(stream_id=stream_id).exists():
            return 0
        return metrics_recompute_stream(stream_id=stream_id, now=timezone.now())


def metrics_catch_up(*, now: datetime) -> list[int]:
    """Queue a recompute for every owed stream that has none queued or running (see above).
    Returns the ids of the streams queued. A broker still down leaves them owed for the
    next run."""
    lost_before = now - timedelta(seconds=settings.METRICS_REQUEUE_AFTER_SECONDS)
    waiting = metrics_owed().filter(Q(scheduled_at__isnull=True) | Q(scheduled_at__lt=lost_before))
    queued = []
    for stream_id in list(waiting.values_list("stream_id", flat=True).order_by("stream_id")):
        with metrics_recompute_lock(stream_id, wait=False) as free:
            if not free:
                continue  # a recompute runs now; what it misses stays owed
        claimed = waiting.filter(stream_id=stream_id).update(scheduled_at=now)
        if not claimed:
            continue
        if enqueue(RECOMPUTE_TASK, stream_id, if_owed=True):
            queued.append(stream_id)
        else:
            _mark_lost(stream_id, now=now)
    return queued


def streams_with_deals() -> list[ValueStream]:
    """The streams the nightly recompute covers: those with at least one deal."""
    return list(ValueStream.objects.filter(deals__isnull=False).distinct().order_by("pk"))


def metrics_recompute_all(*, now: datetime) -> int:
    """Recompute every stream that has deals (the nightly job) after pruning unused sets.
    Returns the number of streams recomputed."""
    metrics_prune(now=now)
    streams = streams_with_deals()
    for stream in streams:
        metrics_recompute_stream(stream_id=stream.pk, now=now)
    return len(streams)


def metrics_refresh_open_all(*, now: datetime) -> int:
    """The "now" figures of every snapshot set of every stream (the 5-minute job). Returns
    the number of sets refreshed."""
    stream_ids = MetricsSnapshot.objects.values_list("stream_id", flat=True).distinct()
    return sum(metrics_refresh_open(stream_id=pk, now=now) for pk in list(stream_ids))
