"""What each dashboard shows: the snapshots it reads and the charts and tiles it builds from
them. Views (``funnel.dashboards.views``) call these; they read stored snapshots through
``funnel.metrics.snapshots.dashboard_read`` only, never raw visits, and make the same number
of queries whatever the size of the event log.

Dashboards of a stream: ``funnel`` (leadership's funnel), ``flow`` (flow of work), ``waste``
(where the waste is) and ``me`` (a rep's own figures beside the team's). Across the streams
of a team: :func:`team_board`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.core.cache import cache
from django.db.models import Q
from django.db.models.fields.json import KT
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from funnel.dashboards.charts import (
    Chart,
    Named,
    StageInfo,
    StepInfo,
    StreamFigures,
    StreamMap,
    Tile,
    aging_chart,
    closed_per_week_chart,
    cohort_chart,
    cumulative_flow_chart,
    cycle_time_chart,
    flow_tiles,
    funnel_chart,
    funnel_tiles,
    littles_law_chart,
    my_conversion_chart,
    my_time_per_step_chart,
    my_win_rate_chart,
    rep_tiles,
    stage_time_chart,
    team_funnels_chart,
    team_velocity_chart,
    team_win_rate_chart,
    throughput_chart,
    time_in_step_chart,
    timeline_ladder_chart,
    velocity_levers_chart,
    waste_by_step_chart,
    waste_counts_chart,
    waste_money_chart,
    waste_pareto_chart,
    waste_tiles,
)
from funnel.dashboards.params import DashboardFilters
from funnel.metrics.query import ELAPSED
from funnel.metrics.results import MetricsResult
from funnel.metrics.snapshots import dashboard_read
from funnel.models import Deal, MetricsSnapshot, MetricsState
from streams.models import Membership, Role, Team, ValueStream


@dataclass(frozen=True)
class StreamInfo:
    """A stream's map for the charts, and its lanes for the lane filter."""

    smap: StreamMap
    lanes: tuple[Named, ...]


#: How long a rendered dashboard, or a stream's map, stays in the cache at most. Their keys
#: change whenever the snapshots or the map do, so this only bounds edits made around the
#: services (the admin) and the memory of entries nobody asks for again.
CACHE_SECONDS = 600


def stream_info(stream: ValueStream) -> StreamInfo:
    """The stream's steps (with their lanes) and stages, in map order: two queries, or none
    while the map is unchanged (cached by the map's ``version``, which every edit bumps)."""
    key = f"dashboards:map:{stream.pk}:{stream.version}:{stream.updated_at.timestamp()}"
    info = cache.get(key)
    if info is None:
        info = _stream_info(stream)
        cache.set(key, info, CACHE_SECONDS)
    return info


def _stream_info(stream: ValueStream) -> StreamInfo:
    steps = list(
        stream.steps.order_by("position").values_list(
            "pk", "name", "lane_id", "lane__name", "value_class", "motion_waste", "unused_talent"
        )
    )
    stages = stream.stages.order_by("position").values_list("pk", "name")
    lanes: dict[int, Named] = {}
    for _, _, lane_id, lane_name, *_ in steps:
        lanes.setdefault(lane_id, Named(lane_id, lane_name))
    return StreamInfo(
        smap=StreamMap(
            steps=tuple(
                StepInfo(pk, name, lane_name, value_class, motion, talent)
                for pk, name, _, lane_name, value_class, motion, talent in steps
            ),
            stages=tuple(StageInfo(pk, name) for pk, name in stages),
            currency=stream.currency,
        ),
        lanes=tuple(lanes.values()),
    )


def team_reps(team_id: int) -> list[Named]:
    """The people whose deals the rep filter may pick: the team's reps and managers (both may
    own deals), by name. One query."""
    rows = (
        Membership.objects.filter(team_id=team_id, role__in=(Role.REP, Role.MANAGER))
        .order_by("user__first_name", "user__username")
        .values_list("user_id", "user__first_name", "user__last_name", "user__username")
    )
    return [Named(pk, f"{first} {last}".strip() or username) for pk, first, last, username in rows]


#: At most this many imported owner names are offered as a filter.
OWNER_NAMES_LISTED = 200


OWNER_NAMES_SECONDS = 300


def owner_names_cache_key(stream_id: int) -> str:
    return f"funnel:owner-names:{stream_id}"


def stream_owner_names(stream_id: int) -> list[str]:
    """The owner names of the stream's deals that have no user owner (imported from a CRM
    file, funnel.importing), for the owner filter. One query, then cached for a few minutes
    (the import clears it) so that every dashboard view does not scan the stream's deals."""
    key = owner_names_cache_key(stream_id)
    names = cache.get(key)
    if names is None:
        names = list(
            Deal.objects.filter(stream_id=stream_id, owner__isnull=True, owner_name__isnull=False)
            .exclude(owner_name="")
            .order_by("owner_name")
            .values_list("owner_name", flat=True)
            .distinct()[:OWNER_NAMES_LISTED]
        )
        cache.set(key, names, OWNER_NAMES_SECONDS)
    return names


def deal_url_maker() -> Callable[[int], str]:
    """``deal_id → URL of the deal's page``; one ``reverse`` for the thousands of dots."""
    base = reverse("funnel:deal_list")
    return lambda pk: f"{base}{pk}/"


@dataclass
class Board:
    """One dashboard page: headline tiles and charts, and the figures they came from."""

    key: str
    title: str
    lede: str
    result: MetricsResult
    tiles: list[Tile] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    #: Extra lines about the figures (e.g. wastes recorded by hand on the map).
    notes: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return self.result.stale

    @property
    def computed_at(self) -> datetime:
        return self.result.computed_at

    def chart(self, key: str) -> Chart | None:
        return next((c for c in self.charts if c.key == key), None)


#: Each stream dashboard's key, title and one-line description.
TITLES: dict[str, dict[str, str]] = {
    "funnel": {
        "key": "funnel",
        "title": "Funnel",
        "lede": "How many deals get through each stage, how many are won, and how fast.",
    },
    "flow": {
        "key": "flow",
        "title": "Flow",
        "lede": (
            "How work moves through the steps: queues, cycle times, throughput and aging deals."
        ),
    },
    "waste": {
        "key": "waste",
        "title": "Waste",
        "lede": "Where the eight wastes of selling are, in hours, in money and per step.",
    },
    "me": {
        "key": "me",
        "title": "My view",
        "lede": (
            "Your own figures beside the team's, to see where your deals flow well and where "
            "they wait. Only you see this page; it ranks nobody."
        ),
    },
}


def previous_label(filters: DashboardFilters) -> str:
    days = (filters.query.end - filters.query.start).days if not filters.is_rolling else 90
    return f"the previous {days} days"


def funnel_board(
    stream: ValueStream, info: StreamInfo, filters: DashboardFilters, *, now: datetime
) -> Board:
    result, series = dashboard_read(filters.query, now=now)
    previous, _ = dashboard_read(filters.previous, now=now)
    smap, before = info.smap, previous_label(filters)
    return Board(
        **TITLES["funnel"],
        result=result,
        tiles=funnel_tiles(result, previous, smap),
        charts=[
            funnel_chart(result, smap),
            velocity_levers_chart(result, previous, smap, before),
            closed_per_week_chart(series, result),
            stage_time_chart(result, previous, smap, before),
            cohort_chart(series, result, smap),
        ],
    )


def flow_board(
    stream: ValueStream, info: StreamInfo, filters: DashboardFilters, *, now: datetime
) -> Board:
    result, series = dashboard_read(filters.query, now=now)
    previous, _ = dashboard_read(filters.previous, now=now)
    smap, deal_url = info.smap, deal_url_maker()
    # Little's law is in elapsed time in both bases (metrics.md "Working time"); the elapsed
    # figures are stored beside the working ones.
    elapsed = result
    if filters.basis != ELAPSED:
        elapsed, _ = dashboard_read(replace(filters.query, basis=ELAPSED), now=now)
    return Board(
        **TITLES["flow"],
        result=result,
        tiles=flow_tiles(result, previous, series),
        charts=[
            cumulative_flow_chart(series, result, smap),
            aging_chart(series, result, smap, deal_url),
            cycle_time_chart(series, result, deal_url),
            throughput_chart(series, result),
            time_in_step_chart(series, result, smap),
            littles_law_chart(elapsed, smap),
        ],
    )


def waste_board(
    stream: ValueStream, info: StreamInfo, filters: DashboardFilters, *, now: datetime
) -> Board:
    result, _ = dashboard_read(filters.query, now=now)
    previous, _ = dashboard_read(filters.previous, now=now)
    smap = info.smap
    notes = []
    for label, ids in (
        ("Motion", result.waste.motion_steps),
        ("Unused talent", result.waste.unused_talent_steps),
    ):
        names = [smap.step_name(pk) for pk in ids]
        notes.append(
            f"{label} (recorded by hand on the map): "
            + (", ".join(names) if names else "no step flagged")
            + "."
        )
    return Board(
        **TITLES["waste"],
        result=result,
        tiles=waste_tiles(result, previous, smap),
        charts=[
            waste_pareto_chart(result),
            waste_money_chart(result, smap),
            waste_by_step_chart(result, smap),
            timeline_ladder_chart(result, smap),
            waste_counts_chart(result, smap),
        ],
        notes=notes,
    )


def rep_board(
    stream: ValueStream, info: StreamInfo, filters: DashboardFilters, *, now: datetime
) -> Board:
    """``filters`` name the rep as owner; the team's figures are the same filters without."""
    mine, my_series = dashboard_read(filters.query, now=now)
    team, _ = dashboard_read(filters.with_owner(None).query, now=now)
    smap = info.smap
    stalled = sum(1 for item in my_series.aging.items if item["stalled"])
    return Board(
        **TITLES["me"],
        result=mine,
        tiles=rep_tiles(mine, team, stalled),
        charts=[
            my_time_per_step_chart(mine, team, smap),
            my_win_rate_chart(mine, team),
            my_conversion_chart(mine, team, smap),
            aging_chart(
                my_series,
                mine,
                smap,
                deal_url_maker(),
                key="my_aging",
                title="Your open deals by age",
            ),
        ],
    )


BOARDS: dict[str, Callable[..., Board]] = {
    "funnel": funnel_board,
    "flow": flow_board,
    "waste": waste_board,
    "me": rep_board,
}


@dataclass
class TeamBoard:
    team: Team
    streams: list[StreamFigures]
    charts: list[Chart]
    tiles: list[Tile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return any(s.result.stale for s in self.streams)

    @property
    def computed_at(self) -> datetime | None:
        return min((s.result.computed_at for s in self.streams), default=None)

    def chart(self, key: str) -> Chart | None:
        return next((c for c in self.charts if c.key == key), None)


def team_board(
    team: Team, streams: list[ValueStream], filters: DashboardFilters, *, now: datetime
) -> TeamBoard:
    """The funnel figures of each stream of the team for the same period and filters. Two
    queries per stream for its map, and two snapshot reads (the period and the one before)."""
    entries = []
    for stream in streams:
        info = stream_info(stream)
        query = replace(filters.query, stream_id=stream.pk)
        previous = replace(filters.previous, stream_id=stream.pk)
        result, _ = dashboard_read(query, now=now)
        before, _ = dashboard_read(previous, now=now)
        entries.append(StreamFigures(stream.name, stream.slug, info.smap, result, before))
    return TeamBoard(
        team=team,
        streams=entries,
        charts=[
            team_funnels_chart(entries),
            team_win_rate_chart(entries),
            team_velocity_chart(entries),
        ],
    )


# --- Rendered once per snapshot version ----------------------------------------------------


def board_queries(board: str, filters: DashboardFilters) -> list:
    """The snapshot sets a stream dashboard reads, in the order its builder reads them."""
    if board == "me":
        return [filters.query, filters.with_owner(None).query]
    return [filters.query, filters.previous]


@dataclass(frozen=True)
class Stamp:
    """What identifies the stored state of the sets a page reads: when each was computed,
    its "now" figures and its chart series, and when the streams' visits last changed."""

    versions: tuple
    changed_at: tuple
    window_start: datetime
    window_end: datetime
    computed_at: datetime

    @property
    def stale(self) -> bool:
        changed = [c for c in self.changed_at if c is not None]
        return bool(changed) and max(changed) > self.computed_at

    def key(self, *parts: object) -> str:
        # Per time zone too: the page shows its times in the viewer's zone.
        zone = timezone.get_current_timezone_name()
        text = repr((parts, zone, self.versions, self.changed_at))
        return "dashboards:page:" + hashlib.sha256(text.encode()).hexdigest()


def snapshot_stamp(queries: Sequence) -> Stamp | None:
    """The stamp of ``queries``'s sets in two queries, or None while one of them is not
    stored with its chart series yet (the page then computes it, through
    ``dashboard_read``)."""
    wanted = {(q.stream_id, q.window_key, q.filters.key, q.basis) for q in queries}
    match = Q(pk__in=[])
    for stream_id, window_key, filter_key, basis in wanted:
        match |= Q(stream_id=stream_id, window_key=window_key, filter_key=filter_key, basis=basis)
    rows = {
        row[:4]: row[4:]
        for row in MetricsSnapshot.objects.filter(match)
        .annotate(series_at=KT("series__computed_at"), series_now=KT("series__now_at"))
        .values_list(
            "stream_id",
            "window_key",
            "filter_key",
            "basis",
            "pk",
            "computed_at",
            "now_at",
            "series_at",
            "series_now",
            "window_start",
            "window_end",
        )
    }
    if set(rows) != wanted or any(row[3] is None for row in rows.values()):
        return None
    stream_ids = sorted({q.stream_id for q in queries})
    changed = dict(
        MetricsState.objects.filter(stream_id__in=stream_ids).values_list("stream_id", "changed_at")
    )
    query = queries[0]
    first = rows[(query.stream_id, query.window_key, query.filters.key, query.basis)]
    return Stamp(
        versions=tuple(sorted((key, row[:5]) for key, row in rows.items())),
        changed_at=tuple(changed.get(pk) for pk in stream_ids),
        window_start=first[5],
        window_end=first[6],
        computed_at=first[1],
    )


def rendered(key: str | None, render: Callable[[], str]) -> str:
    """``render()``, or what it gave last time for ``key`` (None: no caching)."""
    if key is None:
        return render()
    html = cache.get(key)
    if html is None:
        html = render()
        cache.set(key, html, CACHE_SECONDS)
    return html


def board_html(board: Board | TeamBoard, *, extra: dict | None = None) -> str:
    """The headline tiles, charts and notes of a dashboard (and, across a team, the table of
    its streams), as HTML."""
    return render_to_string("funnel/dashboards/_board.html", {"board": board, **(extra or {})})
