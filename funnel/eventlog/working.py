"""Working-time offsets: W(t) of the right calendar, stored on the rows next to the path facts.

A calendar's W(t) (``streams.calendars.working_time.WorkingClock``) counts the working seconds
from a fixed origin up to t, so a working duration is a subtraction of two stored offsets
(docs/working-time.md):

- ``Visit.entered_w`` / ``exited_w``: W of the visit's calendar (its step's lane's calendar
  if the lane names one, else the team's default) at entry and exit; a visit's working time
  is ``exited_w - entered_w``;
- ``Deal.first_entered_w`` / ``closed_w``: W of the team's default calendar at the deal's
  first entry and at its close (the working sales cycle);
- NULL when the team has no calendar, for an open visit's exit and an open deal's close, and
  for times outside 1970–2100 (where W is not defined).

Who writes them, as for the path facts (``funnel.eventlog.paths``):

- the services, one write at a time, with :func:`stream_calendars` (one query) and
  :meth:`StreamCalendars.lane_w` / :meth:`StreamCalendars.team_w`;
- the import and the demo seed, for whole paths in memory: :func:`visit_offsets`,
  :func:`deal_offsets` (arrays of epoch seconds);
- the admin and the import's changed paths, from the stored rows: :func:`deal_offsets_refresh`;
- after a calendar changes, every row of the stream at once: :func:`working_offsets_rewrite`
  (the Celery task ``funnel.tasks.rewrite_working_offsets``, queued by the calendar hook
  registered in ``funnel.apps``).

``MetricsState.offsets_signature`` records which calendars (ids and versions) a stream's
offsets were last rewritten under; while it differs from :func:`calendar_signature`, a
rewrite is owed (:func:`offsets_owed`) and the working-time figures are stale.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from funnel.models import Deal, MetricsState, Visit
from streams.calendars.models import WorkingCalendar
from streams.calendars.selectors import WORKING_TIME_JOB
from streams.calendars.working_time import FIRST_YEAR, LAST_YEAR, ORIGIN_EPOCH, WorkingClock
from streams.models import Job, JobState, Lane, ProcessStep, ValueStream
from streams.services import job_create
from vsm_project.background import job_enqueue, robust_on_commit

VISIT = Visit._meta.db_table
DEAL = Deal._meta.db_table
STATE = MetricsState._meta.db_table
CALENDAR = WorkingCalendar._meta.db_table
LANE = Lane._meta.db_table
STREAM = ValueStream._meta.db_table
STEP = ProcessStep._meta.db_table

#: "No offset" in the arrays (a NULL in the database); also accepted as "no time" on input.
NONE = np.iinfo(np.int64).min
#: The epoch seconds W is defined for: [FIRST, LAST).
FIRST = int(datetime(FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp())
LAST = int(datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp())
#: A signature longer than the column holds is stored as a hash.
SIGNATURE_MAX = MetricsState._meta.get_field("offsets_signature").max_length

Progress = Callable[[int, int, str], None]


# --- Which calendars apply ----------------------------------------------------------------------


#: A calendar as saved: (id, version, updated_at). ``updated_at`` tells apart two calendars of
#: one id and version in a database whose ids start again (the tests').
CalendarKey = tuple[int, int, object]

_clocks: dict[CalendarKey, WorkingClock] = {}


def clock_of(key: CalendarKey) -> WorkingClock:
    """The clock of a calendar as saved, built once per process and version: a service call
    does not prepare holidays and years again."""
    clock = _clocks.get(key)
    if clock is None:
        if len(_clocks) > 64:
            _clocks.clear()
        calendar = WorkingCalendar.objects.get(pk=key[0])
        clock = _clocks[key] = WorkingClock.from_calendar(calendar)
    return clock


@dataclass
class StreamCalendars:
    """The calendars of one stream as read by :func:`stream_calendars`: the team's default and
    the lanes' own, with what the stream's bookkeeping says."""

    default: CalendarKey | None = None
    lanes: dict[int, CalendarKey] = field(default_factory=dict)
    #: The steps of the lanes in ``lanes``, with their calendars (for the signature: a step
    #: moved to a lane on another calendar makes a rewrite owed too).
    steps: dict[int, CalendarKey] = field(default_factory=dict)
    #: The stream had deals when this was read.
    has_deals: bool = False
    #: ``MetricsState.offsets_signature`` as stored ("" when the stream has no state yet).
    stored: str = ""

    @property
    def signature(self) -> str:
        """The team default's ``id:version``, then each step on a lane with its own calendar
        as ``step=id:version``; "" without any calendar."""
        if self.default is None and not self.lanes:
            return ""
        parts = [f"{self.default[0]}:{self.default[1]}" if self.default else "-"]
        parts += [f"{step}={key[0]}:{key[1]}" for step, key in sorted(self.steps.items())]
        text = " ".join(parts)
        if len(text) > SIGNATURE_MAX:
            text = "sha1:" + hashlib.sha1(text.encode()).hexdigest()
        return text

    @property
    def owed(self) -> bool:
        return self.has_deals and self.stored != self.signature

    def lane_key(self, lane_id: int) -> CalendarKey | None:
        return self.lanes.get(lane_id, self.default)

    def lane_w(self, lane_id: int, at: datetime | None) -> int | None:
        """W at ``at`` on the calendar of lane ``lane_id`` (None: no calendar, no time)."""
        return _w_one(self.lane_key(lane_id), at)

    def team_w(self, at: datetime | None) -> int | None:
        """W at ``at`` on the team's default calendar (a deal's first entry and close)."""
        return _w_one(self.default, at)


def _w_one(key: CalendarKey | None, at: datetime | None) -> int | None:
    if key is None or at is None:
        return None
    value = int(offsets(clock_of(key), np.array([int(at.timestamp() // 1)], np.int64))[0])
    return None if value == NONE else value


_CALENDARS_SQL = f"""
    SELECT s.id, c.id, c.version, c.updated_at, c.is_default, l.id, p.id,
           EXISTS (SELECT 1 FROM {DEAL} d WHERE d.stream_id = s.id),
           (SELECT m.offsets_signature FROM {STATE} m WHERE m.stream_id = s.id)
    FROM {STREAM} s
    JOIN {CALENDAR} c ON c.team_id = s.team_id
    LEFT JOIN {LANE} l ON l.calendar_id = c.id AND l.stream_id = s.id
    LEFT JOIN {STEP} p ON p.lane_id = l.id
    WHERE (c.is_default OR l.id IS NOT NULL)
"""


def _calendars_of_streams(where: str = "", params: Sequence = ()) -> dict[int, StreamCalendars]:
    """The calendars of every stream (``where``: more of the query's condition) whose team
    has a calendar, in one query."""
    out: dict[int, StreamCalendars] = {}
    with connection.cursor() as cursor:
        cursor.execute(_CALENDARS_SQL + where, list(params))
        rows = cursor.fetchall()
    for stream_id, pk, version, updated_at, is_default, lane_id, step_id, has_deals, stored in rows:
        calendars = out.setdefault(stream_id, StreamCalendars())
        key = (pk, version, updated_at)
        if is_default:
            calendars.default = key
        if lane_id is not None:
            calendars.lanes[lane_id] = key
        if step_id is not None:
            calendars.steps[step_id] = key
        calendars.has_deals, calendars.stored = bool(has_deals), stored or ""
    return out


def stream_calendars(stream_id: int) -> StreamCalendars:
    """The calendars that apply to a stream, in one query. A team without a calendar gives
    an empty answer (no offsets, nothing owed)."""
    return _calendars_of_streams("AND s.id = %s", [stream_id]).get(stream_id, StreamCalendars())


def calendar_signature(stream: ValueStream | int) -> str:
    """Which calendars (ids and versions) apply to the stream now: the team's default, and
    the calendar of each step on a lane with its own. "" when the team has no calendar."""
    return stream_calendars(getattr(stream, "pk", stream)).signature


def offsets_owed(stream_id: int) -> bool:
    """Whether the stream's stored offsets were written under other calendars (or versions)
    than those that apply now: its working-time figures are stale until
    :func:`working_offsets_rewrite` has run. One query."""
    return stream_calendars(stream_id).owed


def offsets_adopt(calendars: StreamCalendars, stream_id: int) -> None:
    """Record that the stream's offsets are those of ``calendars``: called by a writer that
    wrote the stream's first deals with them (nothing older to rewrite)."""
    MetricsState.objects.update_or_create(
        stream_id=stream_id, defaults={"offsets_signature": calendars.signature}
    )


def streams_owing_offsets() -> list[int]:
    """The ids of the streams whose offsets are owed (for the catch-up), in one query."""
    return sorted(pk for pk, calendars in _calendars_of_streams().items() if calendars.owed)


# --- W of many instants -----------------------------------------------------------------------


def offsets(clock: WorkingClock | None, seconds: np.ndarray) -> np.ndarray:
    """W of each epoch second on ``clock``; :data:`NONE` without a clock and for instants
    outside the years W is defined for (and for :data:`NONE` itself)."""
    seconds = np.asarray(seconds, dtype=np.int64)
    out = np.full(len(seconds), NONE, np.int64)
    if clock is None or not len(seconds):
        return out
    ok = (seconds >= FIRST) & (seconds < LAST)
    if ok.all():
        return clock.offsets(seconds)
    if ok.any():
        out[ok] = clock.offsets(seconds[ok])
    return out


def step_keys(
    calendars: StreamCalendars, step_lane: dict[int, int]
) -> dict[int, CalendarKey | None]:
    """Each step's calendar: its lane's own, else the team's default."""
    return {step: calendars.lane_key(lane) for step, lane in step_lane.items()}


def visit_offsets(
    keys: dict[int, CalendarKey | None],
    step: np.ndarray,
    entered: np.ndarray,
    exited: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``(entered_w, exited_w)`` of visits given as parallel arrays of step ids and epoch
    seconds (:data:`NONE`, or anything out of range, for no time), each on its step's
    calendar (``keys``, from :func:`step_keys`): one vectorised pass per calendar."""
    step = np.asarray(step, np.int64)
    entered_w = np.full(len(step), NONE, np.int64)
    exited_w = np.full(len(step), NONE, np.int64)
    by_key: dict[CalendarKey, list[int]] = {}
    for s in np.unique(step).tolist():
        key = keys.get(s)
        if key is not None:
            by_key.setdefault(key, []).append(s)
    for key, steps in by_key.items():
        clock = clock_of(key)
        mask = np.isin(step, np.array(steps, np.int64))
        if mask.all():
            entered_w, exited_w = offsets(clock, entered), offsets(clock, exited)
        else:
            entered_w[mask] = offsets(clock, np.asarray(entered)[mask])
            exited_w[mask] = offsets(clock, np.asarray(exited)[mask])
    return entered_w, exited_w


def deal_offsets(
    calendars: StreamCalendars, first_entered: np.ndarray, closed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(first_entered_w, closed_w)`` of deals on the team's default calendar."""
    clock = clock_of(calendars.default) if calendars.default is not None else None
    return offsets(clock, first_entered), offsets(clock, closed)


def epoch_seconds(values: Iterable[datetime | None]) -> np.ndarray:
    """Aware datetimes (or None) as epoch seconds (floor), :data:`NONE` for None."""
    return np.array(
        [NONE if v is None else int(v.timestamp() // 1) for v in values], dtype=np.int64
    )


def micros_to_seconds(micros: np.ndarray) -> np.ndarray:
    """Microseconds since 1970 (the import's unit) as epoch seconds (floor); the import's
    "no time" (its largest value) stays out of range."""
    return np.floor_divide(np.asarray(micros, np.int64), 1_000_000)


def as_value(w: int) -> int | None:
    return None if w == NONE else int(w)


def step_lanes(stream_id: int) -> dict[int, int]:
    return dict(ProcessStep.objects.filter(stream_id=stream_id).values_list("pk", "lane_id"))


# --- Recomputing from the stored rows --------------------------------------------------------


def deal_offsets_refresh(deal_ids: Iterable[int]) -> int:
    """Recompute the offsets of the deals ``deal_ids`` and their visits from the stored rows
    (the admin, the import's changed paths). Returns the rows read."""
    deal_ids = list(set(deal_ids))
    if not deal_ids:
        return 0
    deals = list(
        Deal.objects.filter(pk__in=deal_ids).values_list(
            "pk", "stream_id", "first_entered_at", "closed_at"
        )
    )
    visits = list(
        Visit.objects.filter(deal_id__in=deal_ids).values_list(
            "pk", "deal__stream_id", "step_id", "entered_at", "exited_at"
        )
    )
    for stream_id in {s for _, s, _, _ in deals}:
        calendars = stream_calendars(stream_id)
        keys = step_keys(calendars, step_lanes(stream_id))
        mine = [v for v in visits if v[1] == stream_id]
        v_ids = [v[0] for v in mine]
        ew, xw = visit_offsets(
            keys,
            np.array([v[2] for v in mine], np.int64),
            epoch_seconds(v[3] for v in mine),
            epoch_seconds(v[4] for v in mine),
        )
        _update_rows(VISIT, ("entered_w", "exited_w"), v_ids, (ew, xw))
        d_rows = [d for d in deals if d[1] == stream_id]
        fw, cw = deal_offsets(
            calendars, epoch_seconds(d[2] for d in d_rows), epoch_seconds(d[3] for d in d_rows)
        )
        _update_rows(DEAL, ("first_entered_w", "closed_w"), [d[0] for d in d_rows], (fw, cw))
    return len(deals) + len(visits)


def _update_rows(
    table: str, columns: Sequence[str], ids: list[int], values: Sequence[np.ndarray]
) -> None:
    """``UPDATE table SET columns = values WHERE id = …``, one statement run for many rows."""
    if not ids:
        return
    sets = ", ".join(f"{c} = %s" for c in columns)
    rows = [
        (*(as_value(v) for v in vals), pk)
        for pk, *vals in zip(ids, *(a.tolist() for a in values), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", rows)


# --- Rewriting a whole stream ----------------------------------------------------------------


def working_offsets_rewrite(stream: ValueStream | int, progress: Progress | None = None) -> int:
    """Rewrite the offsets of every visit and deal of a stream under the calendars that apply
    now, in one transaction (a failure leaves the old offsets, and the stream still owes the
    rewrite), and record the calendars' signature. Returns the rows whose offsets changed.

    The figures are recomputed by the caller (``funnel.tasks.rewrite_working_offsets`` calls
    ``metrics_changed``): ``funnel.metrics`` reads this module (:func:`offsets_owed`), so this
    module does not import it back.

    PostgreSQL: the rows are read with binary ``COPY`` into numpy, the offsets computed per
    calendar in one pass, and written back through a temporary table (binary ``COPY``) and
    one ``UPDATE … FROM`` per table that touches only the rows whose offsets change and
    whose times are still those read (a concurrent move keeps what its service wrote)."""
    stream_id = getattr(stream, "pk", stream)
    report = progress or (lambda done, total, message: None)
    with transaction.atomic():
        calendars = stream_calendars(stream_id)
        keys = step_keys(calendars, step_lanes(stream_id))
        if connection.vendor == "postgresql":
            changed = _rewrite_postgresql(stream_id, calendars, keys, report)
        else:
            changed = _rewrite_rows(stream_id, calendars, keys, report)
        offsets_adopt(calendars, stream_id)
    return changed


def _rewrite_rows(stream_id: int, calendars: StreamCalendars, keys: dict, report: Progress) -> int:
    """The rewrite through the ORM's reads and ``executemany`` (SQLite); deals first, as on
    PostgreSQL."""
    deals = list(
        Deal.objects.filter(stream_id=stream_id).values_list(
            "pk", "first_entered_at", "closed_at", "first_entered_w", "closed_w"
        )
    )
    visits = list(
        Visit.objects.filter(deal__stream_id=stream_id).values_list(
            "pk", "step_id", "entered_at", "exited_at", "entered_w", "exited_w"
        )
    )
    total = len(visits) + len(deals)
    report(0, total, f"Read {len(deals):,} deals and {len(visits):,} visits")
    fw, cw = deal_offsets(
        calendars, epoch_seconds(d[1] for d in deals), epoch_seconds(d[2] for d in deals)
    )
    changed_deals = _changed_rows(deals, 3, (fw, cw))
    _update_rows(
        DEAL,
        ("first_entered_w", "closed_w"),
        [deals[i][0] for i in changed_deals],
        _at(changed_deals, fw, cw),
    )
    report(len(deals), total, "Wrote the deals' offsets")
    ew, xw = visit_offsets(
        keys,
        np.array([v[1] for v in visits], np.int64),
        epoch_seconds(v[2] for v in visits),
        epoch_seconds(v[3] for v in visits),
    )
    changed = _changed_rows(visits, 4, (ew, xw))
    _update_rows(
        VISIT, ("entered_w", "exited_w"), [visits[i][0] for i in changed], _at(changed, ew, xw)
    )
    report(total, total, "Done")
    return len(changed) + len(changed_deals)


def _changed_rows(rows: list[tuple], first: int, new: tuple[np.ndarray, np.ndarray]) -> list[int]:
    """Indexes of ``rows`` whose stored offsets (columns ``first``, ``first + 1``) differ."""
    a, b = (x.tolist() for x in new)
    return [
        i
        for i, row in enumerate(rows)
        if (row[first], row[first + 1]) != (as_value(a[i]), as_value(b[i]))
    ]


def _at(index: list[int], *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    picked = np.array(index, np.int64)
    return tuple(a[picked] for a in arrays)


# PostgreSQL's binary COPY: a header, then per row a field count and per field its length
# and value (big-endian), then a trailer. Every field here is 8 bytes: bigint, or timestamptz
# as microseconds since 2000-01-01 (NULL times are read as 'infinity', the largest int8).
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_COPY_TRAILER = b"\xff\xff"
_PG_EPOCH_MICROS = ORIGIN_EPOCH * 1_000_000  # 2000-01-01 in microseconds since 1970
_INFINITY = np.iinfo(np.int64).max


def _row_dtype(n: int) -> np.dtype:
    fields = [("n", ">i2")]
    for i in range(n):
        fields += [(f"l{i}", ">i4"), (f"v{i}", ">i8")]
    return np.dtype(fields)


def _copy_out(cursor, sql: str, params: list, n: int) -> list[np.ndarray]:
    """The ``n`` int8/timestamptz columns of ``sql`` (no NULLs) as native int64 arrays."""
    buffer = io.BytesIO()
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
        for chunk in copy:
            buffer.write(chunk)
    data = buffer.getbuffer()
    dtype = _row_dtype(n)
    extension = int.from_bytes(data[15:19], "big")
    start = 19 + extension
    rows = (len(data) - start - len(_COPY_TRAILER)) // dtype.itemsize
    table = np.frombuffer(data, dtype=dtype, count=rows, offset=start)
    columns = [table[f"v{i}"].astype(np.int64) for i in range(n)]
    del table, data
    return columns


def _copy_in(cursor, table: str, columns: Sequence[np.ndarray]) -> None:
    n = len(columns)
    rows = np.empty(len(columns[0]), dtype=_row_dtype(n))
    rows["n"] = n
    for i, values in enumerate(columns):
        rows[f"l{i}"] = 8
        rows[f"v{i}"] = values
    with cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(_COPY_HEADER)
        step = 1 << 18
        for a in range(0, len(rows), step):
            copy.write(rows[a : a + step].tobytes())
        copy.write(_COPY_TRAILER)


def _seconds_of_pg(micros_2000: np.ndarray) -> np.ndarray:
    """PostgreSQL's timestamptz (µs since 2000) as epoch seconds; 'infinity' → out of range."""
    out = np.floor_divide(micros_2000, 1_000_000) + ORIGIN_EPOCH
    out[micros_2000 == _INFINITY] = NONE
    return out


def _rewrite_postgresql(
    stream_id: int, calendars: StreamCalendars, keys: dict, report: Progress
) -> int:
    """Deals first, then visits: the order in which the services lock them (a deal, then its
    visit), so that a move during the rewrite waits for it instead of deadlocking."""
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own, for COPY
        d_id, first, closed = _copy_out(
            cursor,
            f"SELECT id::int8, COALESCE(first_entered_at, 'infinity'), "
            f"COALESCE(closed_at, 'infinity') FROM {DEAL} WHERE stream_id = %s",
            [stream_id],
            3,
        )
        v_id, step, entered, exited = _copy_out(
            cursor,
            f"SELECT v.id::int8, v.step_id::int8, v.entered_at, "
            f"COALESCE(v.exited_at, 'infinity') FROM {VISIT} v "
            f"JOIN {DEAL} d ON d.id = v.deal_id WHERE d.stream_id = %s",
            [stream_id],
            4,
        )
        total = len(v_id) + len(d_id)
        report(0, total, f"Read {len(d_id):,} deals and {len(v_id):,} visits")
        fw, cw = deal_offsets(calendars, _seconds_of_pg(first), _seconds_of_pg(closed))
        changed = _write_back(
            cursor,
            DEAL,
            ("first_entered_at", "closed_at"),
            ("first_entered_w", "closed_w"),
            [d_id, first, closed, fw, cw],
        )
        report(len(d_id), total, "Wrote the deals' offsets")
        ew, xw = visit_offsets(keys, step, _seconds_of_pg(entered), _seconds_of_pg(exited))
        del step
        changed += _write_back(
            cursor,
            VISIT,
            ("entered_at", "exited_at"),
            ("entered_w", "exited_w"),
            [v_id, entered, exited, ew, xw],
        )
        report(total, total, "Done")
    return changed


def _write_back(
    cursor, table: str, times: tuple[str, str], targets: tuple[str, str], columns: list
) -> int:
    """Copy (id, two times, two offsets) into a temporary table and update the rows whose
    times are still those read and whose offsets differ."""
    temp = f"working_{table}"
    cursor.execute(f"DROP TABLE IF EXISTS {temp}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {temp} (id int8, t0 timestamptz, t1 timestamptz, "
        "w0 int8, w1 int8) ON COMMIT DROP"
    )
    _copy_in(cursor, temp, columns)
    cursor.execute(f"ANALYZE {temp}")
    w0 = f"NULLIF(t.w0, ({NONE})::int8)"
    w1 = f"NULLIF(t.w1, ({NONE})::int8)"
    a, b = times
    x, y = targets
    cursor.execute(
        f"UPDATE {table} r SET {x} = {w0}, {y} = {w1} FROM {temp} t "
        f"WHERE r.id = t.id AND r.{a} IS NOT DISTINCT FROM NULLIF(t.t0, 'infinity') "
        f"AND r.{b} IS NOT DISTINCT FROM NULLIF(t.t1, 'infinity') "
        f"AND (r.{x} IS DISTINCT FROM {w0} OR r.{y} IS DISTINCT FROM {w1})"
    )
    changed = cursor.rowcount
    cursor.execute(f"DROP TABLE {temp}")
    return changed


# --- The background rewrite -------------------------------------------------------------------

#: The ``Job.kind`` of a rewrite (its progress bar on the calendar and stream pages).
REWRITE_JOB = WORKING_TIME_JOB
REWRITE_TASK = "funnel.tasks.rewrite_working_offsets"
#: How long the catch-up leaves a stream whose rewrite failed before queueing it again.
RETRY_FAILED_AFTER = timedelta(minutes=5)


def rewrite_jobs(stream_ids: Iterable[int]):
    """The rewrite jobs of these streams that are queued or running."""
    return Job.objects.filter(
        kind=REWRITE_JOB,
        state__in=(JobState.QUEUED, JobState.RUNNING),
        params__stream__in=list(stream_ids),
    )


def working_offsets_queue(stream: ValueStream) -> Job | None:
    """Queue a rewrite of the stream's offsets as a job with a progress bar, once the current
    transaction commits; None when one is already queued (it will see the latest calendars).
    A rewrite that runs now may have read the calendars before this change: another one is
    queued behind it."""
    if rewrite_jobs([stream.pk]).filter(state=JobState.QUEUED).exists():
        return None
    job = job_create(kind=REWRITE_JOB, params={"stream": stream.pk}, team=stream.team)
    transaction.on_commit(
        partial(job_enqueue, job, REWRITE_TASK, stream.pk), robust=robust_on_commit()
    )
    return job


def working_offsets_calendar_changed(
    calendar: WorkingCalendar, *, lane_ids: Collection[int] | None = None
) -> None:
    """The ``streams.calendars.hooks`` callback (registered in ``funnel.apps``): queue the
    rewrite of every stream the change covers: the team's streams, or those of ``lane_ids``.
    A stream without deals has nothing to rewrite (its first deal records the calendars)."""
    streams = ValueStream.objects.filter(team_id=calendar.team_id, deals__isnull=False)
    if lane_ids is not None:
        streams = streams.filter(lanes__in=list(lane_ids))
    for stream in streams.select_related("team").distinct().order_by("pk"):
        working_offsets_queue(stream)


def working_offsets_catch_up(*, now: datetime | None = None) -> list[int]:
    """Queue a rewrite for every stream that owes one and has none queued or running (after
    Redis or a worker was away when the calendar changed), nor one that failed in the last
    :data:`RETRY_FAILED_AFTER` (a rewrite that keeps failing is tried again every few
    minutes, not at every catch-up). Returns the streams queued."""
    owing = streams_owing_offsets()
    if not owing:
        return []
    now = now or timezone.now()
    busy = set(rewrite_jobs(owing).values_list("params__stream", flat=True))
    busy |= set(
        Job.objects.filter(
            kind=REWRITE_JOB,
            state=JobState.FAILED,
            finished_at__gt=now - RETRY_FAILED_AFTER,
            params__stream__in=owing,
        ).values_list("params__stream", flat=True)
    )
    queued = []
    for stream in ValueStream.objects.filter(pk__in=set(owing) - busy).select_related("team"):
        if working_offsets_queue(stream) is not None:
            queued.append(stream.pk)
    return sorted(queued)
