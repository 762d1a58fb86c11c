"""The traces of a Discovery view (docs/discovery.md "Which deals"): the deals of the stream
whose first visit falls in the window ``[start, end)`` (the funnel's cohort, ``Deal.
first_entered_at``), narrowed by owner and source, each with its visits entered before the
as-of instant in path order (``entered_at``, then id) and its outcome as of then.

One query reads the visits with the path facts stored on them (``previous_step``,
``reentry``: ``funnel.eventlog.paths``), so the graph is a grouping of those facts, not a walk
rebuilding each path. Times are hours of the view's basis: elapsed (hours since the epoch) or
working (the stored working-time offsets ÷ 3600; None where a row has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection

from funnel.leads.view import LeadsView
from funnel.metrics.sql import timestamp_param
from funnel.models import Deal, DealStatus, Visit
from streams.models import ProcessStep

#: A Discovery view is a Leads view's window, as-of instant and filters (one form, one URL).
DiscoveryView = LeadsView


@dataclass(frozen=True)
class MapStep:
    id: int
    name: str
    #: 0 for the map's first step, in the map's order (``ProcessStep.position``).
    order: int


@dataclass
class Trace:
    """One deal's path as of the view's instant."""

    deal_id: int
    name: str
    #: ``open``, ``won`` or ``lost`` as of the view's instant.
    status: str
    closed_at: datetime | None = None
    steps: list[int] = field(default_factory=list)
    #: The stored step of each visit's previous visit (None for the first).
    previous: list[int | None] = field(default_factory=list)
    reentry: list[bool] = field(default_factory=list)
    #: Entry of each visit, in seconds since 1970 (UTC).
    entered: list[float] = field(default_factory=list)
    #: Hours of the basis at entry and exit (None: open, or no working offset).
    t_in: list[float | None] = field(default_factory=list)
    t_out: list[float | None] = field(default_factory=list)
    #: closed − first entry, in hours of the basis; None while open.
    cycle_hours: float | None = None

    @property
    def closed(self) -> bool:
        return self.status != DealStatus.OPEN


def map_steps(stream_id: int) -> list[MapStep]:
    rows = ProcessStep.objects.filter(stream_id=stream_id).order_by("position", "pk")
    return [MapStep(s.pk, s.name, i) for i, s in enumerate(rows.only("pk", "name"))]


def _hours(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp() / 3600


def _w(offset: int | None) -> float | None:
    return None if offset is None else offset / 3600


#: Visits fetched at a time.
CHUNK = 20_000


def epoch_seconds(column: str) -> str:
    """SQL for a timestamp ``column`` as seconds since 1970, exact to the microsecond stored
    (SQLite's julianday is not: its days lose the last digits)."""
    if connection.vendor == "postgresql":
        return f"date_part('epoch', {column})"
    return f"(strftime('%%s', {column}) + (strftime('%%f', {column}) - strftime('%%S', {column})))"


def _visits_sql(deals) -> tuple[str, list]:
    """The visits of ``deals`` entered before the view's instant (its parameter last), in path
    order: deal, step, previous step, re-entry, entry and exit in epoch seconds, working
    offsets. Read as plain numbers: parsing a million timestamps into datetimes cost more
    than the rest of the view."""
    inner, params = deals.values("pk").query.sql_with_params()
    visit = Visit._meta.db_table
    sql = (
        f"SELECT v.deal_id, v.step_id, v.previous_step_id, v.reentry, "
        f"{epoch_seconds('v.entered_at')}, {epoch_seconds('v.exited_at')}, "
        f"v.entered_w, v.exited_w FROM {visit} v WHERE v.deal_id IN ({inner}) "
        f"AND v.entered_at < %s ORDER BY v.deal_id, v.entered_at, v.id"
    )
    return sql, list(params)


def traces(view: DiscoveryView) -> list[Trace]:
    """The traces of ``view``, in deal id order."""
    deals = Deal.objects.filter(
        stream_id=view.stream_id,
        first_entered_at__gte=view.start,
        first_entered_at__lt=min(view.end, view.as_of),
    )
    if view.owner_id:
        deals = deals.filter(owner_id=view.owner_id)
    if view.source:
        deals = deals.filter(source=view.source)
    found: dict[int, Trace] = {}
    for pk, name, status, closed_at, closed_w in deals.values_list(
        "pk", "name", "status", "closed_at", "closed_w"
    ):
        closed = status != DealStatus.OPEN and closed_at is not None and closed_at <= view.as_of
        if not closed:
            found[pk] = Trace(pk, name, DealStatus.OPEN)
            continue
        trace = Trace(pk, name, status, closed_at)
        trace.cycle_hours = _w(closed_w) if view.working else _hours(closed_at)
        found[pk] = trace
    sql, params = _visits_sql(deals)
    as_of = view.as_of.timestamp()
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, timestamp_param(view.as_of)])
        while rows := cursor.fetchmany(CHUNK):
            for deal_id, step, previous, reentry, entered, exited, entered_w, exited_w in rows:
                trace = found[deal_id]
                if exited is not None and exited > as_of:
                    exited, exited_w = None, None  # still there as of the view's instant
                trace.steps.append(step)
                trace.previous.append(previous)
                trace.reentry.append(bool(reentry))
                trace.entered.append(entered)
                if view.working:
                    trace.t_in.append(_w(entered_w))
                    trace.t_out.append(_w(exited_w) if exited is not None else None)
                else:
                    trace.t_in.append(entered / 3600)
                    trace.t_out.append(None if exited is None else exited / 3600)
    result = []
    for trace in found.values():
        if not trace.steps:
            continue
        if trace.cycle_hours is not None:
            first = trace.t_in[0]
            trace.cycle_hours = None if first is None else max(0.0, trace.cycle_hours - first)
        result.append(trace)
    return sorted(result, key=lambda t: t.deal_id)


def week_of(moment: datetime | float) -> str:
    """The Monday (UTC) of the ISO week ``moment`` (or that many seconds since 1970) falls in,
    as ``YYYY-MM-DD``."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    day = moment.astimezone(UTC).date()
    return day.fromordinal(day.toordinal() - day.weekday()).isoformat()
