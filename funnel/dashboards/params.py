"""The filters of a dashboard, read from its URL so a view can be shared.

A dashboard's query string is the metrics API's (``start``, ``end``, ``tz``, ``owner``,
``lane``, ``source``, ``amount_band``, ``time``; ``end`` exclusive) plus ``period``, a preset
that fills in ``start`` and ``end``. ``time`` (``elapsed`` or ``working``) defaults to the
stream's ``time_basis`` (on a team's dashboard, elapsed); once chosen it stays in the URL.

- ``90d`` (the default, and what an empty query string means): the rolling last 90 days, the
  window the metrics engine keeps fresh whether or not anyone asks;
- ``30d``, ``180d``, ``365d``: the whole days before today 00:00 in ``tz`` (UTC by default),
  so the window, and the snapshot it is read from, changes once a day, not on every request;
- ``custom``: ``start`` and ``end`` as given (a link with ``start``/``end`` and no ``period``
  is custom too).

Parsing and checking the API's parameters is ``funnel.api.metrics.metrics_query_from_params``,
so a bad parameter gets the same message, naming it, on a page as from the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

from funnel.api.metrics import metrics_query_from_params
from funnel.metrics.query import DEFAULT_WINDOW, ELAPSED, MetricsQuery
from streams.ids import parse_id


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    days: int | None  # None: the dates come from start and end


ROLLING = "90d"
CUSTOM = "custom"
PERIODS: dict[str, Period] = {
    p.key: p
    for p in (
        Period(ROLLING, "Last 90 days", DEFAULT_WINDOW.days),
        Period("30d", "Last 30 days", 30),
        Period("180d", "Last 180 days", 180),
        Period("365d", "Last 365 days", 365),
        Period(CUSTOM, "Custom dates", None),
    )
}
#: The parameters a dashboard keeps in its URL, in the order they are written.
PARAMS = (
    "period",
    "start",
    "end",
    "tz",
    "owner",
    "owner_name",
    "lane",
    "source",
    "amount_band",
    "time",
)


@dataclass(frozen=True)
class DashboardFilters:
    """What a dashboard shows: the period and the filters as written in the URL (``values``,
    for the form and for links), and the metrics queries they make: ``query`` for the
    period, ``previous`` for the period of equal length just before it."""

    values: dict[str, str]
    query: MetricsQuery
    previous: MetricsQuery
    zone: ZoneInfo = field(default=ZoneInfo("UTC"))

    @property
    def period(self) -> Period:
        return PERIODS[self.values.get("period") or ROLLING]

    @property
    def is_rolling(self) -> bool:
        return self.query.is_rolling

    @property
    def basis(self) -> str:
        """The time basis the durations are shown in: ``elapsed`` or ``working``."""
        return self.query.basis

    def querystring(self, **changes: str | None) -> str:
        """The canonical query string (empty values left out), with ``changes`` applied."""
        values = {**self.values, **changes}
        if values.get("period") == ROLLING:
            values["period"] = None  # the default
        return urlencode([(k, values[k]) for k in PARAMS if values.get(k)])

    def with_owner(self, owner_id: int | None) -> DashboardFilters:
        """The same period and filters for another owner (None: every owner, the team)."""
        filters = replace(self.query.filters, owner_id=owner_id, owner_name=None)
        return replace(
            self,
            values={**self.values, "owner": str(owner_id) if owner_id else "", "owner_name": ""},
            query=replace(self.query, filters=filters),
            previous=replace(self.previous, filters=filters),
        )


def _midnight(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    return datetime.combine(local.date(), time(), tzinfo=zone)


def dashboard_filters(
    *,
    stream_id: int,
    params: Mapping[str, str],
    now: datetime,
    owner_ids: Iterable[int] | None = None,
    lane_ids: Iterable[int] | None = None,
    team_id: int | None = None,
    time_basis: str = ELAPSED,
) -> DashboardFilters:
    """Read a dashboard's query string. ``owner_ids`` and ``lane_ids``, when given, are the
    reps and lanes the filters may name; ``team_id`` the team whose calendar working time
    needs, ``time_basis`` the default basis. Raises ``ValidationError`` naming each bad
    parameter."""
    values = {name: (params.get(name) or "").strip() for name in PARAMS}
    if not values["period"]:
        values["period"] = CUSTOM if values["start"] or values["end"] else ROLLING
    period = PERIODS.get(values["period"])
    if period is None:
        raise ValidationError(
            {"period": f"'{values['period']}' is not a period; use one of {', '.join(PERIODS)}."}
        )
    zone = ZoneInfo("UTC")
    if values["tz"]:
        with suppress(ZoneInfoNotFoundError, ValueError):  # named by the API's parsing below
            zone = ZoneInfo(values["tz"])
    if period.key == ROLLING:
        values.update(start="", end="")
    elif period.key != CUSTOM:
        end = _midnight(now, zone)
        values.update(start=(end - timedelta(days=period.days)).isoformat(), end=end.isoformat())
    errors: dict[str, str] = {}
    try:
        query = metrics_query_from_params(_Stream(stream_id, team_id, time_basis), values)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        query = None
    owner, lane = values["owner"], parse_id(values["lane"])
    if owner_ids is not None and owner and parse_id(owner) not in set(owner_ids):
        errors["owner"] = f"No such rep in this team: '{owner}'. Choose a rep from the list."
    if lane_ids is not None and lane is not None and lane not in set(lane_ids):
        errors["lane"] = f"Lane {values['lane']} is not a lane of this stream."
    if period.key == CUSTOM and not errors and query is not None and query.is_rolling:
        errors["start"] = "Give the first day of the period (and the day after its last)."
    if errors:
        raise ValidationError(errors)
    if period.key == ROLLING:
        # The rolling window has no dates, so no time zone belongs in its URL either.
        values.update(tz="")
    elif period.key != CUSTOM:
        # Presets are written in the URL as the period alone: the dates move with the days.
        values.update(start="", end="")
    if query.is_rolling:
        previous = replace(query, previous=True)
    else:
        length = query.end - query.start
        previous = replace(query, start=query.start - length, end=query.start)
    return DashboardFilters(values=values, query=query, previous=previous, zone=zone)


def dashboard_filters_or_default(
    *,
    stream_id: int,
    params: Mapping[str, str],
    now: datetime,
    fallback: Mapping[str, str] | None = None,
    team_id: int | None = None,
    time_basis: str = ELAPSED,
    **allowed: Iterable[int] | None,
) -> tuple[DashboardFilters, dict[str, str]]:
    """``dashboard_filters``, or, when the query string is wrong, the filters of
    ``fallback`` (default: none, the rolling 90 days) and the errors by parameter: the page
    then shows that view with the errors beside the form."""
    basis = {"team_id": team_id, "time_basis": time_basis}
    try:
        filters = dashboard_filters(stream_id=stream_id, params=params, now=now, **basis, **allowed)
        return filters, {}
    except ValidationError as exc:
        errors = {k: v[0] for k, v in exc.message_dict.items()}
        filters = dashboard_filters(stream_id=stream_id, params=fallback or {}, now=now, **basis)
        return filters, errors


@dataclass(frozen=True)
class _Stream:
    """What ``metrics_query_from_params`` needs of a stream: its primary key, its team (for
    the calendar working time needs) and its default time basis."""

    pk: int
    team_id: int | None
    time_basis: str
