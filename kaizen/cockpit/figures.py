"""The leadership cockpit's headline figures of one value stream (docs/cockpit.md).

Every figure is read from the metric snapshots the dashboards read, over the same default view
(the last 90 days, rolling, in the stream's default time basis, no filter), and is built by the
dashboards' own tile functions, so the cockpit and the dashboard it links to show the same
number and the same change:

- win rate and pipeline velocity: the Funnel dashboard's tiles (``funnel_tiles``);
- stalled deals: the Flow dashboard's tile (``flow_tiles``);
- pipeline (open deals and their amount): the open deals the Funnel dashboard counts, with
  their amount and the same two figures at the start of the period (:mod:`kaizen.cockpit.past`);
- the worst-waiting step: the step with the most waiting hours (metrics.md §4 Waiting: Σ wait
  hours of its completed visits), the Waste dashboard's "waste by step";
- the kaizen cycles improving it: the cycles of that step not closed yet;
- forecast against target: the latest default Forecast view (:mod:`kaizen.cockpit.forecast`).

A page view reads stored snapshots only; when a stream's default view is not stored yet, the
dashboards' background job is started (or joined) and the cockpit says the figures are being
computed; likewise the Forecast dashboard's job for a default forecast not stored yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count, Max
from django.urls import reverse

from funnel.dashboards.charts import Tile
from funnel.dashboards.charts.flow import flow_tiles
from funnel.dashboards.charts.funnel import funnel_tiles
from funnel.dashboards.content import (
    CACHE_SECONDS,
    previous_label,
    snapshot_stamp,
    stream_info,
)
from funnel.dashboards.params import DashboardFilters, dashboard_filters
from funnel.forecasts.models import ForecastSnapshot
from funnel.forecasts.view import DEFAULT_KEY
from funnel.metrics.results import MetricsResult, StepMetrics
from funnel.metrics.series import ChartSeries
from funnel.metrics.snapshots import metrics_read, metrics_sets_job, metrics_stored
from kaizen.cockpit.changes import Change, change_from_tile, change_of
from kaizen.cockpit.forecast import ForecastFigure, forecast_figure
from kaizen.cockpit.past import pipelines
from kaizen.models import KaizenCycle, Phase
from streams.drawing.formatting import format_hours
from streams.models import ValueStream


@dataclass(frozen=True)
class Headline:
    """One figure of the cockpit: its value, what it means, its change and its dashboard."""

    key: str
    label: str
    value: str
    detail: str
    explanation: str
    url: str
    link_text: str
    change: Change | None = None
    low_sample: bool = False


@dataclass(frozen=True)
class CycleLink:
    title: str
    phase: str
    url: str


@dataclass(frozen=True)
class WorstStep:
    """The step where deals waited longest in the period (Σ wait hours)."""

    name: str
    step_id: int
    wait_hours: float
    wait: str
    per_visit: str
    visits: int
    change: Change | None
    url: str
    cycles: list[CycleLink]
    plan_url: str


@dataclass
class StreamCockpit:
    """The cockpit of one stream. ``preparing``: the figures are being computed (a job's
    page); ``empty``: the stream has no deal yet."""

    stream: ValueStream
    headlines: list[Headline] = field(default_factory=list)
    worst: WorstStep | None = None
    forecast: ForecastFigure | None = None
    period: str = ""
    computed_at: datetime | None = None
    stale: bool = False
    preparing_url: str = ""
    empty: bool = False
    dashboard_url: str = ""

    def headline(self, key: str) -> Headline | None:
        return next((h for h in self.headlines if h.key == key), None)


def default_filters(stream: ValueStream, *, now: datetime) -> DashboardFilters:
    """The view a dashboard shows without a query string: the last 90 days, rolling, in the
    stream's default basis, over every deal."""
    return dashboard_filters(
        stream_id=stream.pk,
        params={},
        now=now,
        team_id=stream.team_id,
        time_basis=stream.time_basis,
    )


def _tile(tiles: list[Tile], key: str) -> Tile:
    return next(t for t in tiles if t.key == key)


def _worst_step(
    stream: ValueStream, result: MetricsResult, previous: MetricsResult, before: str, smap
) -> WorstStep | None:
    waiting = [s for s in result.steps if s.wait_hours > 0]
    if not waiting:
        return None
    worst: StepMetrics = max(waiting, key=lambda s: (s.wait_hours, -s.step_id))
    earlier = next((s for s in previous.steps if s.step_id == worst.step_id), None)
    working = result.query.basis == "working"
    change = change_of(
        worst.wait_hours,
        earlier.wait_hours if earlier else None,
        lambda v: format_hours(v, elapsed=not working),
        more_is_better=False,
        before=before,
    )
    cycles = [
        CycleLink(c.title, c.get_phase_display(), reverse("kaizen:detail", args=[c.pk]))
        for c in KaizenCycle.objects.filter(stream=stream, step_id=worst.step_id)
        .exclude(phase=Phase.CLOSED)
        .order_by("planned_on", "pk")
    ]
    return WorstStep(
        name=smap.step_name(worst.step_id),
        step_id=worst.step_id,
        wait_hours=worst.wait_hours,
        wait=format_hours(worst.wait_hours, elapsed=not working),
        per_visit=format_hours(worst.wait_hours / worst.n_completed, elapsed=not working)
        if worst.n_completed
        else "—",
        visits=worst.n_completed,
        change=change,
        url=reverse("dashboards:board", args=[stream.slug, "waste"]),
        cycles=cycles,
        plan_url=f"{reverse('kaizen:new')}?stream={stream.pk}&step={worst.step_id}",
    )


def _pipeline_headline(
    stream: ValueStream, result: MetricsResult, previous: MetricsResult, before: str, smap
) -> Headline:
    now, then = pipelines(result, at=result.window_start)
    change = change_of(
        now.deals,
        then.deals,
        lambda v: f"{v:,.0f} deal{'s' if v != 1 else ''}",
        more_is_better=None,
        before=before,
    )
    value_change = change_of(
        now.amount, then.amount, smap.money, more_is_better=None, before=before
    )
    return Headline(
        key="pipeline",
        label="Pipeline",
        value=f"{now.deals:,} open deals",
        detail=f"{smap.money(now.amount)} in open deals"
        + (f" ({now.without_amount:,} without an amount)" if now.without_amount else "")
        + (
            f"; {result.summary.open_past_handoff:,} of them past the ready-for-sales hand-off"
            if result.summary.handoff
            else ""
        ),
        explanation=(
            "Deals neither won nor lost, and the sum of their amounts. The change compares "
            "with the deals that were open when the period began."
        ),
        url=f"{reverse('funnel:deal_list')}?stream={stream.pk}",
        link_text="Open deals",
        change=change.merged(value_change) if change and change.trend != "flat" else value_change,
    )


def _marker(stream: ValueStream) -> tuple:
    """What else the cockpit of ``stream`` shows changes with: its kaizen cycles and its
    default forecast (two queries)."""
    cycles = KaizenCycle.objects.filter(stream=stream).aggregate(
        n=Count("pk"), at=Max("updated_at")
    )
    forecast = (
        ForecastSnapshot.objects.filter(stream=stream, view_key=DEFAULT_KEY)
        .values_list("computed_at", flat=True)
        .first()
    )
    return cycles["n"], cycles["at"], forecast


def stream_cockpit(
    stream: ValueStream, *, now: datetime, user: object = None, compute: bool = False
) -> StreamCockpit:
    """The cockpit of ``stream`` over its default dashboard view. Without ``compute`` (page
    views) only stored snapshots are read: a view not stored yet starts the dashboards'
    background job (``user`` owns it) and the cockpit links to its progress, and a default
    forecast not stored yet starts the Forecast dashboard's (the tile says it is being
    computed); the figures are kept in the cache by the state of the snapshots they come from
    (the dashboards' ``Stamp``), of the stream's kaizen cycles and of its forecast, so a page
    view that finds them reads four small rows; they are not kept while a job is owed. With
    ``compute`` (the digest, in the background) a missing metrics view is computed; a missing
    forecast is not asked for."""
    if compute:
        return _stream_cockpit(stream, now=now, user=user, compute=True)
    filters = default_filters(stream, now=now)
    stamp = snapshot_stamp([filters.query, filters.previous])
    if stamp is None:
        return _stream_cockpit(stream, now=now, user=user, compute=False)
    key = stamp.key("cockpit", stream.pk, stream.version, stream.slug, _marker(stream))
    cockpit = cache.get(key)
    if cockpit is None:
        cockpit = _stream_cockpit(stream, now=now, user=user, compute=False)
        # Not kept while a job is owed: the next page view reads what it stored.
        if not cockpit.preparing_url and not (cockpit.forecast and cockpit.forecast.waiting):
            cache.set(key, cockpit, CACHE_SECONDS)
    return cockpit


def _tile_headline(
    key: str,
    label: str,
    tile: Tile,
    explanation: str,
    url: str,
    link_text: str,
    before: str,
    *,
    unit: str = "",
) -> Headline:
    """A headline that is a dashboard's own tile, with the change the dashboard shows."""
    return Headline(
        key=key,
        label=label,
        value=tile.value,
        detail=tile.detail,
        explanation=explanation,
        url=url,
        link_text=link_text,
        change=change_from_tile(tile, before, unit),
        low_sample=tile.low_sample,
    )


def _stream_cockpit(
    stream: ValueStream, *, now: datetime, user: object, compute: bool
) -> StreamCockpit:
    cockpit = StreamCockpit(
        stream=stream, dashboard_url=reverse("dashboards:board", args=[stream.slug, "funnel"])
    )
    filters = default_filters(stream, now=now)
    queries = [filters.query, filters.previous]
    if compute:
        result, previous = (metrics_read(q, now=now) for q in queries)
    else:
        result, previous = (metrics_stored(q) for q in queries)
        if result is None or previous is None:
            job = metrics_sets_job(queries=queries, team_id=stream.team_id, user=user, now=now)
            result, previous = (metrics_stored(q) for q in queries)
            if result is None or previous is None:
                cockpit.preparing_url = reverse("job_detail", args=[job.pk])
                return cockpit
    smap = stream_info(stream).smap
    before = previous_label(filters)
    cockpit.period = "the last 90 days"
    cockpit.computed_at, cockpit.stale = result.computed_at, result.stale
    funnel = funnel_tiles(result, previous, smap)
    flow = flow_tiles(result, previous, ChartSeries(computed_at="", now_at=""))
    win, velocity = _tile(funnel, "win_rate"), _tile(funnel, "velocity")
    stalled = _tile(flow, "stalled")
    funnel_url = reverse("dashboards:board", args=[stream.slug, "funnel"])
    cockpit.headlines = [
        _pipeline_headline(stream, result, previous, before, smap),
        _tile_headline(
            "win_rate",
            "Win rate",
            win,
            win.help,
            funnel_url,
            "Funnel dashboard",
            before,
        ),
        _tile_headline(
            "velocity",
            "Pipeline velocity",
            velocity,
            "The money the pipeline turns into wins per day: open deals × win rate × mean "
            "won deal ÷ sales cycle.",
            funnel_url,
            "Funnel dashboard",
            before,
        ),
        _tile_headline(
            "stalled",
            "Stalled deals",
            stalled,
            "Open deals that have been at their step longer than 85 % of the visits the "
            "step completed in the period.",
            reverse("dashboards:board", args=[stream.slug, "flow"]),
            "Flow dashboard",
            before,
            unit="deals",
        ),
    ]
    cockpit.empty = (
        result.summary.open_deals == 0
        and result.summary.closed == 0
        and not any(s.n_completed or s.n_open for s in result.steps)
    )
    cockpit.worst = _worst_step(stream, result, previous, before, smap)
    # A page view asks for a missing default forecast, as the Forecast dashboard does (not
    # for a stream without deals, whose cockpit shows no figure).
    cockpit.forecast = forecast_figure(
        stream, request=not compute and not cockpit.empty, user=user, now=now
    )
    return cockpit
