"""The waterfall of the Leads dashboard (docs/metrics.md §8; layout in docs/leads.md "Leads
result"): its ``stages``, the ``cohorts`` (cases created in the window, by month, and which
stages they reached how fast) and the ``flow`` (stage events per ISO week).

A case reaches a stage (each at or before the view's as-of instant ``A``):

- ``created``: at its first visit (``Deal.first_entered_at``);
- ``offered`` at hand-off ``h``: at its first entry to ``h``'s step;
- ``accepted`` at ``h``: at its first accept decision at ``h``;
- ``won``: at the close (``closed_at``) of a won case.

How it is read, for a million cases: the cohort's cases, their entries to the hand-off steps
and their accept decisions come as three integer arrays each (binary ``COPY`` on PostgreSQL),
and the first reach of each case and stage is a ``numpy.minimum.at``; durations in working
time are the team's default calendar's ``W`` at both ends (``WorkingClock.offsets`` over the
arrays: a visit's stored ``entered_w`` is of its lane's calendar, not the team's). The flow
is counted by the database, grouped by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.db import connection

from funnel.eventlog.working import NONE, clock_of, offsets, stream_calendars
from funnel.leads.models import DecisionKind, Handoff, HandoffDecision, Waterfall
from funnel.leads.view import LeadsView
from funnel.metrics.sql import is_postgres, timestamp_param
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.stats import wilson
from streams.models import ValueStream

DEAL = Deal._meta.db_table
VISIT = Visit._meta.db_table
DECISION = HandoffDecision._meta.db_table
#: "No time" in the arrays of microseconds (a NULL in the database).
MISSING = -(2**62)
#: The quantiles of the cohort's times to a stage.
COHORT_QUANTILES = (0.5, 0.85)
DIGITS = 4


# --- Reading --------------------------------------------------------------------------------


#: A column read by :func:`int_columns`: ``(SQL expression, kind)``, kind ``INT`` (an integer
#: id, never NULL) or ``TIME`` (a timestamp, read as microseconds since 1970; NULL:
#: ``MISSING``).
INT, TIME = "int", "time"
_PG_EPOCH_US = 946_684_800 * 1_000_000  # 2000-01-01, PostgreSQL's zero, in µs since 1970
_INFINITY = np.iinfo(np.int64).max


def int_columns(columns: list[tuple[str, str]], rest: str, params: dict) -> list[np.ndarray]:
    """``SELECT <columns> <rest>`` as int64 arrays, one per column (rows in no order).

    On PostgreSQL the rows come as one ``bytea``: each row's values in their binary form
    (``int8send``, ``timestamptz_send``: 8 big-endian bytes each) concatenated by
    ``string_agg``, read with ``numpy.frombuffer``: a million rows in well under a second,
    where a cursor (or ``COPY``, a message per row) takes several. On SQLite, the cursor
    (``julianday`` is exact to the millisecond)."""
    if is_postgres():
        parts = [
            f"timestamptz_send(COALESCE({sql}, 'infinity'))"
            if kind == TIME
            else f"int8send(CAST({sql} AS BIGINT))"
            for sql, kind in columns
        ]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT string_agg({' || '.join(parts)}, ''::bytea) {rest}", params)
            data = cursor.fetchone()[0]
        dtype = np.dtype([(f"c{i}", ">i8") for i in range(len(columns))])
        table = np.frombuffer(bytes(data or b""), dtype=dtype)
        out = []
        for i, (_, kind) in enumerate(columns):
            values = table[f"c{i}"].astype(np.int64)
            if kind == TIME:
                missing = values == _INFINITY
                values += _PG_EPOCH_US
                values[missing] = MISSING
            out.append(values)
        return out
    selects = [
        f"COALESCE(CAST(ROUND((julianday({sql}) - 2440587.5) * 86400000.0) AS INTEGER) * 1000, "
        f"{MISSING})"
        if kind == TIME
        else sql
        for sql, kind in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(selects)} {rest}", params)
        found = cursor.fetchall()
    table = np.array(found, dtype=np.int64).reshape(len(found), len(columns))
    return [table[:, i].copy() for i in range(len(columns))]


def day_of(column: str) -> str:
    """SQL for the UTC calendar day of a timestamp ``column`` (a date on PostgreSQL, 'YYYY-MM-DD'
    text on SQLite: :func:`week_of_day` reads both)."""
    if is_postgres():
        return f"CAST({column} AT TIME ZONE 'UTC' AS DATE)"
    return f"date({column})"


def rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def view_params(view: LeadsView) -> dict:
    """The query parameters every read of the view uses."""
    return {
        "stream": view.stream_id,
        "start": timestamp_param(view.start),
        "end": timestamp_param(view.end),
        "as_of": timestamp_param(view.as_of),
        "source": view.source,
        "owner": view.owner_id,
    }


def case_filter(view: LeadsView, alias: str = "d") -> str:
    """SQL conditions (each after an AND) of the view's source and owner filters on the case
    ``alias``; "" without filters."""
    out = ""
    if view.source:
        out += f" AND {alias}.source = %(source)s"
    if view.owner_id is not None:
        out += f" AND {alias}.owner_id = %(owner)s"
    return out


def filtered(view: LeadsView) -> bool:
    return bool(view.source) or view.owner_id is not None


def in_window(column: str) -> str:
    """``column`` in ``[start, end)`` and at or before ``as_of``."""
    return f"{column} >= %(start)s AND {column} < %(end)s AND {column} <= %(as_of)s"


def ids_sql(ids: list[int]) -> str:
    return ", ".join(str(int(i)) for i in ids) or "NULL"


def hours(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), DIGITS)


# --- Stages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoffRow:
    pk: int
    step_id: int
    offered_stage: str
    accepted_stage: str
    sla_minutes: int | None
    pull: bool


def handoff_name(h: HandoffRow) -> str:
    """ "MQL → SAL": the offered stage, and the accepted one when there is one."""
    return f"{h.offered_stage} → {h.accepted_stage}" if h.accepted_stage else h.offered_stage


def stream_handoffs(stream_id: int) -> list[HandoffRow]:
    """The stream's hand-offs in map order (their steps' positions)."""
    return [
        HandoffRow(*row)
        for row in Handoff.objects.filter(stream_id=stream_id)
        .order_by("step__position", "position")
        .values_list("pk", "step_id", "offered_stage", "accepted_stage", "sla_minutes", "pull")
    ]


def stages(stream: ValueStream | int) -> list[dict]:
    """The waterfall's stages in order: ``created`` (the first stage, e.g. Inquiry), for each
    hand-off its ``offered`` stage and its ``accepted`` one when it has one, then ``won``.
    Keys: ``created``, ``offered-<hand-off id>``, ``accepted-<hand-off id>``, ``won``."""
    stream_id = getattr(stream, "pk", stream)
    names = Waterfall.objects.filter(stream_id=stream_id).values_list(
        "inquiry_stage", "won_stage"
    ).first() or (
        Waterfall._meta.get_field("inquiry_stage").default,
        Waterfall._meta.get_field("won_stage").default,
    )
    out = [{"key": "created", "name": names[0], "kind": "created", "handoff": None}]
    for h in stream_handoffs(stream_id):
        out.append(
            {"key": f"offered-{h.pk}", "name": h.offered_stage, "kind": "offered", "handoff": h.pk}
        )
        if h.accepted_stage:
            out.append(
                {
                    "key": f"accepted-{h.pk}",
                    "name": h.accepted_stage,
                    "kind": "accepted",
                    "handoff": h.pk,
                }
            )
    out.append({"key": "won", "name": names[1], "kind": "won", "handoff": None})
    return out


# --- Months and weeks of the window -----------------------------------------------------------


def _last_moment(view: LeadsView) -> datetime:
    """The last instant the window's events can have: before ``end``, at or before ``as_of``."""
    return min(view.end - timedelta(microseconds=1), view.as_of)


def window_months(view: LeadsView) -> list[str]:
    """The calendar months (UTC, 'YYYY-MM') the window overlaps, up to ``as_of``."""
    first, last = view.start.astimezone(UTC), _last_moment(view).astimezone(UTC)
    out: list[str] = []
    year, month = first.year, first.month
    while first <= last and (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def window_weeks(view: LeadsView) -> list[str]:
    """The ISO weeks (their Mondays, UTC, 'YYYY-MM-DD') the window overlaps, up to ``as_of``."""
    first, last = view.start.astimezone(UTC), _last_moment(view).astimezone(UTC)
    if first > last:
        return []
    week, end = monday_of(first.date()), monday_of(last.date())
    out = []
    while week <= end:
        out.append(week.isoformat())
        week += timedelta(days=7)
    return out


def week_of_day(day: object) -> str:
    """The ISO week's Monday of a day the database gave ('YYYY-MM-DD' text or a date)."""
    value = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
    return monday_of(value).isoformat()


# --- Cohorts --------------------------------------------------------------------------------


def _positions(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The position of each of ``values`` in the sorted ``ids``; -1 where it is not there."""
    if not len(ids):
        return np.full(len(values), -1, np.int64)
    at = np.minimum(np.searchsorted(ids, values), len(ids) - 1)
    return np.where(ids[at] == values, at, -1)


def _reaches(view: LeadsView, stage_list: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """``(first, reach)``: the cohort's first visits (µs) and, per case and stage (columns
    in ``stage_list`` order), when it first reached the stage (µs; ``MISSING``: not by
    ``as_of``)."""
    params = view_params(view)
    won = DealStatus.WON.value
    ids, first, closed = int_columns(
        [
            ("d.id", INT),
            ("d.first_entered_at", TIME),
            (
                f"CASE WHEN d.status = '{won}' AND d.closed_at <= %(as_of)s THEN d.closed_at END",
                TIME,
            ),
        ],
        f"FROM {DEAL} d WHERE d.stream_id = %(stream)s AND {in_window('d.first_entered_at')}"
        f"{case_filter(view)}",
        params,
    )
    order = np.argsort(ids, kind="stable")
    ids, first, closed = ids[order], first[order], closed[order]
    reach = np.full((len(ids), len(stage_list)), MISSING, np.int64)
    if not len(ids):
        return first, reach
    column = {s["key"]: i for i, s in enumerate(stage_list)}
    reach[:, column["created"]] = first
    reach[:, column["won"]] = closed
    handoffs = [s["handoff"] for s in stage_list if s["kind"] == "offered"]
    if handoffs:
        never = np.iinfo(np.int64).max
        found = np.full(reach.shape, never, np.int64)
        # A cohort case's visits are at or after its first visit, so at or after ``start``.
        steps = dict(Handoff.objects.filter(pk__in=handoffs).values_list("step_id", "pk"))
        deal, step, at = int_columns(
            [("v.deal_id", INT), ("v.step_id", INT), ("v.entered_at", TIME)],
            f"FROM {VISIT} v WHERE v.step_id IN ({ids_sql(list(steps))}) "
            "AND v.entered_at >= %(start)s AND v.entered_at <= %(as_of)s",
            params,
        )
        step_column = np.zeros(max(steps) + 1, np.int64)
        for step_id, handoff in steps.items():
            step_column[step_id] = column[f"offered-{handoff}"]
        pos = _positions(ids, deal)
        keep = pos >= 0
        np.minimum.at(found, (pos[keep], step_column[step[keep]]), at[keep])
        accepted = [s["handoff"] for s in stage_list if s["kind"] == "accepted"]
        if accepted:
            deal, handoff, at = int_columns(
                [("hd.deal_id", INT), ("hd.handoff_id", INT), ("hd.decided_at", TIME)],
                f"FROM {DECISION} hd WHERE hd.handoff_id IN ({ids_sql(accepted)}) "
                f"AND hd.kind = '{DecisionKind.ACCEPT.value}' "
                "AND hd.decided_at >= %(start)s AND hd.decided_at <= %(as_of)s",
                params,
            )
            handoff_column = np.zeros(max(accepted) + 1, np.int64)
            for pk in accepted:
                handoff_column[pk] = column[f"accepted-{pk}"]
            pos = _positions(ids, deal)
            keep = pos >= 0
            np.minimum.at(found, (pos[keep], handoff_column[handoff[keep]]), at[keep])
        reached = found != never
        reach[reached] = found[reached]
    return first, reach


def _durations(view: LeadsView, first: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Hours from each case's first visit to each stage reached (nan: not reached, or no
    working time known), elapsed or in the team's default calendar's working time."""
    out = np.full(reach.shape, np.nan)
    reached = reach != MISSING
    if not view.working:
        out[reached] = (reach - first[:, None])[reached] / 3.6e9
        return out
    default = stream_calendars(view.stream_id).default
    if default is None:
        return out
    clock = clock_of(default)
    first_w = offsets(clock, np.floor_divide(first, 1_000_000))
    reach_w = offsets(clock, np.floor_divide(reach[reached], 1_000_000))
    start_w = np.broadcast_to(first_w[:, None], reach.shape)[reached]
    known = (reach_w != NONE) & (start_w != NONE)
    values = np.full(len(reach_w), np.nan)
    values[known] = (reach_w[known] - start_w[known]) / 3600.0
    out[reached] = values
    return out


def share_figure(reached: int, created: int) -> dict:
    """``{"share", "low", "high"}``: ``reached ÷ created`` with its Wilson 95 % interval,
    rounded to ``DIGITS`` (all None for ``created == 0``)."""
    found = wilson(reached, created)
    if found is None:
        return {"share": None, "low": None, "high": None}
    return dict(zip(("share", "low", "high"), (round(x, DIGITS) for x in found), strict=True))


def cohort_figures(view: LeadsView, stage_list: list[dict] | None = None) -> list[dict]:
    """``cohorts``: per calendar month (UTC) of the window, the cases whose first visit is in
    the window that month (``created``), and per stage how many reached it by ``as_of``, their
    share of ``created`` with its Wilson 95 % interval (``low``, ``high``), and the median and
    p85 of the hours from the first visit to the stage over those that reached it."""
    stage_list = stage_list if stage_list is not None else stages(view.stream_id)
    months = window_months(view)
    first, reach = _reaches(view, stage_list)
    durations = _durations(view, first, reach)
    # Months as whole numbers (months since 1970), the cases sorted by theirs.
    month_of = first.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    order = np.argsort(month_of, kind="stable")
    month_of, reach, durations = month_of[order], reach[order], durations[order]
    out = []
    for month in months:
        number = np.datetime64(month, "M").astype(np.int64)
        a = int(np.searchsorted(month_of, number, side="left"))
        b = int(np.searchsorted(month_of, number, side="right"))
        created = int(b - a)
        figures = {}
        for i, stage in enumerate(stage_list):
            reached = int(np.count_nonzero(reach[a:b, i] != MISSING))
            values = durations[a:b, i]
            values = values[~np.isnan(values)]
            median, p85 = (
                np.quantile(values, COHORT_QUANTILES).tolist() if len(values) else (None, None)
            )
            figures[stage["key"]] = {
                "reached": reached,
                **share_figure(reached, created),
                "median_hours": hours(median),
                "p85_hours": hours(p85),
            }
        out.append({"month": month, "created": created, "stages": figures})
    return out


# --- Flow -----------------------------------------------------------------------------------


def flow_figures(view: LeadsView, stage_list: list[dict] | None = None) -> list[dict]:
    """``flow``: per ISO week (its Monday, UTC) of the window, the events of reaching each
    stage in it, counting every entry (a lead offered again after a recycle counts again),
    and the reject, recycle and disqualify decisions made in it."""
    stage_list = stage_list if stage_list is not None else stages(view.stream_id)
    weeks = {week: _empty_week(week, stage_list) for week in window_weeks(view)}
    if not weeks:
        return []
    params = view_params(view)
    cases = case_filter(view)
    won = DealStatus.WON.value
    created = rows(
        f"SELECT {day_of('d.first_entered_at')}, COUNT(*) FROM {DEAL} d "
        f"WHERE d.stream_id = %(stream)s AND {in_window('d.first_entered_at')}{cases} GROUP BY 1",
        params,
    )
    closes = rows(
        f"SELECT {day_of('d.closed_at')}, COUNT(*) FROM {DEAL} d WHERE d.stream_id = %(stream)s "
        f"AND d.status = '{won}' AND {in_window('d.closed_at')}{cases} GROUP BY 1",
        params,
    )
    _add(weeks, "created", created)
    _add(weeks, "won", closes)
    offered = [s["handoff"] for s in stage_list if s["kind"] == "offered"]
    if offered:
        join = f" JOIN {DEAL} d ON d.id = v.deal_id" if filtered(view) else ""
        step_of = dict(Handoff.objects.filter(pk__in=offered).values_list("step_id", "pk"))
        for step_id, day, n in rows(
            f"SELECT v.step_id, {day_of('v.entered_at')}, COUNT(*) FROM {VISIT} v{join} "
            f"WHERE v.step_id IN ({ids_sql(list(step_of))}) AND {in_window('v.entered_at')}"
            f"{cases} GROUP BY 1, 2",
            params,
        ):
            _add(weeks, f"offered-{step_of[step_id]}", [(day, n)])
        join = f" JOIN {DEAL} d ON d.id = hd.deal_id" if filtered(view) else ""
        keys = {s["key"] for s in stage_list}
        for handoff, kind, day, n in rows(
            f"SELECT hd.handoff_id, hd.kind, {day_of('hd.decided_at')}, COUNT(*) "
            f"FROM {DECISION} hd{join} WHERE hd.handoff_id IN ({ids_sql(offered)}) "
            f"AND {in_window('hd.decided_at')}{cases} GROUP BY 1, 2, 3",
            params,
        ):
            week = weeks.get(week_of_day(day))
            if week is None:
                continue
            if kind == DecisionKind.ACCEPT:
                if f"accepted-{handoff}" in keys:
                    week["reached"][f"accepted-{handoff}"] += n
            else:
                week[_FLOW_KINDS[kind]] += n
    return list(weeks.values())


_FLOW_KINDS = {
    DecisionKind.REJECT.value: "rejected",
    DecisionKind.RECYCLE.value: "recycled",
    DecisionKind.DISQUALIFY.value: "disqualified",
}


def _empty_week(week: str, stage_list: list[dict]) -> dict:
    return {
        "week": week,
        "reached": {s["key"]: 0 for s in stage_list},
        "rejected": 0,
        "recycled": 0,
        "disqualified": 0,
    }


def _add(weeks: dict[str, dict], key: str, counts: list[tuple]) -> None:
    for day, n in counts:
        week = weeks.get(week_of_day(day))
        if week is not None:
            week["reached"][key] += n
