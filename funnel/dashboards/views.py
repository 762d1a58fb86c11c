"""Dashboard pages (``/dashboards/``) and the CSV download of every chart.

Who sees what:

- managers, leadership and admins: every dashboard of their teams' streams, with any filter,
  the rep filter included;
- reps: the same dashboards over *their own deals* (the rep filter is fixed to themselves),
  and "My view", their figures beside the team's. A rep who asks for another rep's figures
  (``owner``) gets a 403; no page lists or ranks the other reps for them.

A wrong filter re-renders the page with the default figures and the reason beside the
parameter, with status 400 (the CSV download answers 400 with the reasons).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from funnel.dashboards.charts import Chart
from funnel.dashboards.content import (
    BOARDS,
    TITLES,
    Board,
    Stamp,
    StreamInfo,
    TeamBoard,
    board_html,
    board_queries,
    rendered,
    snapshot_stamp,
    stream_info,
    stream_owner_names,
    team_board,
    team_reps,
)
from funnel.dashboards.params import (
    PERIODS,
    ROLLING,
    DashboardFilters,
    dashboard_filters_or_default,
)
from funnel.deals.forms import SOURCES
from funnel.exporting.csv_safety import neutralise
from funnel.metrics.query import AMOUNT_BANDS, ELAPSED, WORKING
from funnel.metrics.snapshots import metrics_sets_job
from streams.hooks import team_panels
from streams.ids import parse_id
from streams.models import Job, JobState, Role, StreamState, ValueStream
from streams.selectors import (
    home_memberships,
    role_in_team,
    streams_visible_to,
    teams_visible_to,
)

#: The tabs of a stream's dashboards, in order.
TABS = (
    ("funnel", "Funnel"),
    ("flow", "Flow"),
    ("waste", "Waste"),
    ("quality", "Quality"),  # the qualification lab: funnel.dashboards.quality
    ("leads", "Leads"),  # the waterfall, hand-offs and pull: funnel.dashboards.leads
    ("discovery", "Discovery"),  # the process as run, against the map: funnel.dashboards.discovery
    ("forecast", "Forecast"),  # wins, revenue, target and each deal, simulated: .forecast
    ("me", "My view"),
)
#: The time bases the filter bar offers (metrics.md "Working time").
TIME_BASES = ((ELAPSED, "Elapsed (calendar) time"), (WORKING, "Working time"))
OWN_ONLY = "Reps see the team's figures beside their own in My view, not another rep's."


def _role(request: HttpRequest, team_id: int) -> str | None:
    if request.user.is_staff:
        return "admin"
    return role_in_team(request.user, team_id)


def _own_only(*, role: str | None, board: str) -> bool:
    """Whether the page shows only the user's own deals: always for reps, and on My view."""
    return role == Role.REP or board == "me"


def _reps(request: HttpRequest, *, team_id: int, own_only: bool) -> tuple[list, set[int]]:
    """The reps the filter offers (none on pages fixed to the user's own deals) and the ids an
    ``owner`` parameter may name. The team's reps are read only when needed: on a page fixed
    to the user's own deals, only to tell another rep (403) from no rep at all (400)."""
    owner = request.GET.get("owner")
    if own_only and owner in (None, "", str(request.user.pk)):
        return [], {request.user.pk}
    reps = team_reps(team_id)
    ids = {p.id for p in reps} | ({request.user.pk} if own_only else set())
    return ([] if own_only else reps), ids


def _params(request: HttpRequest, *, own_only: bool, owner_ids: set[int]) -> dict[str, str]:
    """The query string; on pages fixed to the user's own deals, their id as ``owner``.
    Naming another rep of the team there is a 403; an owner that is no rep of the team is
    left for ``dashboard_filters`` to refuse by name (a 400), as for every role."""
    params = {key: value for key, value in request.GET.items()}
    if own_only:
        owner = params.get("owner")
        other = bool(owner) and owner != str(request.user.pk)
        if params.get("owner_name") or (other and parse_id(owner) in owner_ids):
            raise PermissionDenied(OWN_ONLY)
        if not other:
            params["owner"] = str(request.user.pk)
    return params


def _viewer_filters(
    request: HttpRequest,
    *,
    team_id: int,
    own_only: bool,
    stream_id: int,
    lane_ids: list[int],
    time_basis: str = ELAPSED,
) -> tuple[DashboardFilters, dict[str, str], list]:
    """The filters of a page (a stream's or a team's) for its viewer, the errors of a wrong
    query string (the default filters are used then) and the reps the filter offers; on a
    page fixed to the user's own deals (``own_only``) the owner is the user."""
    reps, owner_ids = _reps(request, team_id=team_id, own_only=own_only)
    filters, errors = dashboard_filters_or_default(
        stream_id=stream_id,
        params=_params(request, own_only=own_only, owner_ids=owner_ids),
        now=timezone.now(),
        fallback={"owner": str(request.user.pk)} if own_only else None,
        owner_ids=owner_ids,
        lane_ids=lane_ids,
        team_id=team_id,
        time_basis=time_basis,
    )
    return filters, errors, reps


def _period_text(filters: DashboardFilters, start: datetime, end: datetime) -> str:
    zone = filters.zone
    if filters.is_rolling:
        # A rolling window is two instants: shown in the viewer's own zone, like "as of".
        viewer = timezone.get_current_timezone()
        first, last = start.astimezone(viewer), end.astimezone(viewer)
        return f"{first:%d %b %Y} – {last:%d %b %Y, %H:%M} {last.tzname()}"
    first, last = start.astimezone(zone), (end - timedelta(microseconds=1)).astimezone(zone)
    suffix = "" if str(zone) == "UTC" else f" ({zone})"
    return f"{first:%d %b %Y} – {last:%d %b %Y}{suffix}"


def _stream_filters(
    request: HttpRequest, stream: ValueStream, board: str
) -> tuple[str | None, bool, StreamInfo, DashboardFilters, dict[str, str], list]:
    role = _role(request, stream.team_id)
    own_only = _own_only(role=role, board=board)
    info = stream_info(stream)
    filters, errors, reps = _viewer_filters(
        request,
        team_id=stream.team_id,
        own_only=own_only,
        stream_id=stream.pk,
        lane_ids=[lane.id for lane in info.lanes],
        time_basis=stream.time_basis,
    )
    return role, own_only, info, filters, errors, reps


def _querystring(filters: DashboardFilters, *, own_only: bool) -> str:
    # The owner a rep's pages are fixed to is implied, so links a rep shares stay theirs.
    return filters.querystring(owner=None) if own_only else filters.querystring()


def _csv_links(charts: list[Chart], url_of: Callable[[str], str], query: str) -> None:
    for chart in charts:
        chart.csv_url = url_of(chart.key) + (f"?{query}" if query else "")


def _filter_context(
    request: HttpRequest, query: str, lanes, role, own_only: bool, filters, errors, reps
) -> dict:
    """What the filter bar of a stream's or a team's dashboard shows: the choices, the values
    read from the URL, their errors, and the link that shares this view."""
    return {
        "filters": filters,
        "values": filters.values,
        "errors": errors,
        "own_only": own_only,
        "is_rep": role == Role.REP,
        "reps": reps,
        "lanes": lanes,
        "sources": _sources(filters),
        "amount_bands": AMOUNT_BANDS.values(),
        "periods": PERIODS.values(),
        "bases": TIME_BASES,
        "share_url": request.build_absolute_uri(request.path + (f"?{query}" if query else "")),
    }


@require_GET
def dashboard_index(request: HttpRequest) -> HttpResponse:
    """Every team of the user with its current-state streams and their dashboards."""
    teams = []
    for entry in home_memberships(request.user):
        streams = [s for s in entry["streams"] if s.state == StreamState.CURRENT]
        teams.append({**entry, "streams": streams})
    return render(request, "funnel/dashboards/index.html", {"teams": teams})


@require_GET
def stream_dashboards(request: HttpRequest, slug: str) -> HttpResponse:
    stream = get_object_or_404(streams_visible_to(request.user), slug=slug)
    board = "me" if _role(request, stream.team_id) == Role.REP else "funnel"
    return redirect("dashboards:board", slug=stream.slug, board=board)


@require_GET
def stream_dashboard(request: HttpRequest, slug: str, board: str) -> HttpResponse:
    if board not in BOARDS:
        raise Http404("No such dashboard.")
    stream = get_object_or_404(streams_visible_to(request.user), slug=slug)
    role, own_only, info, filters, errors, reps = _stream_filters(request, stream, board)
    query = _querystring(filters, own_only=own_only)
    built: list[Board] = []

    def build() -> str:
        page = BOARDS[board](stream, info, filters, now=timezone.now())
        _csv_links(
            page.charts,
            lambda key: reverse("dashboards:csv", args=[stream.slug, board, key]),
            query,
        )
        built.append(page)
        return board_html(page)

    tabs = [
        (key, label, reverse("dashboards:board", args=[stream.slug, key]))
        for key, label in TABS
        if key != "me" or role == Role.REP
    ]
    context = {
        "stream": stream,
        "title": TITLES[board],
        "tabs": tabs,
        "tab_query": filters.querystring(owner=None) if board == "me" or own_only else query,
        "owner_names": [] if own_only else stream_owner_names(stream.pk),
        **_filter_context(request, query, info.lanes, role, own_only, filters, errors, reps),
    }
    template = "funnel/dashboards/board.html"
    queries = board_queries(board, filters)
    stamp = _stamp_or_job(request, queries, team_id=stream.team_id)
    if isinstance(stamp, Job):
        return _preparing(request, template, context, filters, stamp, errors)
    # The tiles and charts are rendered once per state of the snapshots they come from.
    key = stamp.key("stream", board, stream.pk, stream.version, query) if stamp else None
    html = rendered(key, build)
    result = None if stamp else built[0].result
    context |= {
        "board_html": mark_safe(html),  # our own template, rendered (and cached) above
        "computed_at": stamp.computed_at if stamp else result.computed_at,
        "stale": stamp.stale if stamp else result.stale,
        "period_text": _period_text(
            filters,
            stamp.window_start if stamp else result.window_start,
            stamp.window_end if stamp else result.window_end,
        ),
    }
    return render(request, template, context, status=400 if errors else 200)


def _stamp_or_job(request: HttpRequest, queries: list, *, team_id: int) -> Stamp | Job | None:
    """The stamp of the sets a page reads; when one is not stored yet, the background job
    that computes them (joined if one is running), or the stamp once it has run (eager
    Celery); None only if the sets vanished meanwhile (the page then computes them)."""
    stamp = snapshot_stamp(queries)
    if stamp is not None:
        return stamp
    job = metrics_sets_job(queries=queries, team_id=team_id, user=request.user, now=timezone.now())
    if job.state == JobState.FAILED:
        raise RuntimeError(f"Preparing the dashboard failed: {job.error}")
    return snapshot_stamp(queries) if job.state == JobState.DONE else job


def _preparing(
    request: HttpRequest,
    template: str,
    context: dict,
    filters: DashboardFilters,
    job: Job,
    errors: dict,
) -> HttpResponse:
    """The page while its figures are computed in the background: a progress bar that
    reloads the page when they are ready (``static/js/dashboards.js``)."""
    start, end = filters.query.window(timezone.now())
    context |= {"preparing": job, "period_text": _period_text(filters, start, end)}
    return render(request, template, context, status=400 if errors else 202)


def _sources(filters: DashboardFilters) -> list[str]:
    chosen = filters.values.get("source")
    return [*SOURCES, chosen] if chosen and chosen not in SOURCES else list(SOURCES)


def _csv_response(chart: Chart, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    # Labels come from step, stage and source names a user typed: neutralised as the
    # event-log export neutralises them, so no download carries a live formula.
    writer.writerow([neutralise(str(c)) for c in chart.columns])
    for row in chart.rows:
        writer.writerow(
            [
                ""
                if value is None
                else ("true" if value is True else "false")
                if isinstance(value, bool)
                else neutralise(value)
                if isinstance(value, str)
                else value
                for value in row
            ]
        )
    return response


def _errors_response(errors: dict[str, str]) -> HttpResponse:
    text = "\n".join(f"{name}: {message}" for name, message in errors.items())
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


@require_GET
def chart_csv(request: HttpRequest, slug: str, board: str, chart: str) -> HttpResponse:
    """The numbers one chart plots, as CSV, for the same filters as the page."""
    if board not in BOARDS:
        raise Http404("No such dashboard.")
    stream = get_object_or_404(streams_visible_to(request.user), slug=slug)
    _, _, info, filters, errors, _ = _stream_filters(request, stream, board)
    if errors:
        return _errors_response(errors)
    page = BOARDS[board](stream, info, filters, now=timezone.now())
    found = page.chart(chart)
    if found is None:
        raise Http404("No such chart on this dashboard.")
    period = filters.values.get("period") or ROLLING
    return _csv_response(found, f"{stream.slug}-{board}-{chart}-{period}.csv")


def _team_filters(request: HttpRequest, team) -> tuple:
    role = _role(request, team.pk)
    own_only = role == Role.REP
    filters, errors, reps = _viewer_filters(
        request,
        team_id=team.pk,  # elapsed by default: the team's streams may default otherwise
        own_only=own_only,
        stream_id=0,  # each stream's query is made from these filters
        lane_ids=[],  # lanes belong to one stream: no lane filter across streams
    )
    streams = list(team.streams.filter(state=StreamState.CURRENT).order_by("name"))
    return role, own_only, filters, errors, reps, streams


@require_GET
def team_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """The funnel across the current-state streams of a team."""
    team = get_object_or_404(teams_visible_to(request.user), slug=slug)
    role, own_only, filters, errors, reps, streams = _team_filters(request, team)
    query = _querystring(filters, own_only=own_only)
    built: list[TeamBoard] = []

    def build() -> str:
        page = team_board(team, streams, filters, now=timezone.now())
        _csv_links(page.charts, lambda key: reverse("dashboards:team_csv", args=[slug, key]), query)
        built.append(page)
        return board_html(page, extra={"stream_query": query})

    context = {
        "team": team,
        "panels": team_panels(team, request.user),  # the leadership cockpit (kaizen)
        "has_streams": bool(streams),
        "stream_query": query,
        **_filter_context(request, query, [], role, own_only, filters, errors, reps),
    }
    template = "funnel/dashboards/team.html"
    queries = [
        replace(q, stream_id=stream.pk)
        for stream in streams
        for q in (filters.query, filters.previous)
    ]
    stamp = _stamp_or_job(request, queries, team_id=team.pk) if streams else None
    if isinstance(stamp, Job):
        return _preparing(request, template, context, filters, stamp, errors)
    parts = ("team", team.pk, [(s.pk, s.version, s.name) for s in streams], query)
    html = rendered(stamp.key(*parts) if stamp else None, build)
    first = None if stamp or not built or not built[0].streams else built[0].streams[0].result
    context |= {
        "board_html": mark_safe(html),  # our own template, rendered (and cached) above
        "computed_at": stamp.computed_at if stamp else first.computed_at if first else None,
        "stale": stamp.stale if stamp else bool(first and first.stale),
        "period_text": _period_text(filters, stamp.window_start, stamp.window_end)
        if stamp
        else _period_text(filters, first.window_start, first.window_end)
        if first
        else "",
    }
    return render(request, template, context, status=400 if errors else 200)


@require_GET
def team_chart_csv(request: HttpRequest, slug: str, chart: str) -> HttpResponse:
    team = get_object_or_404(teams_visible_to(request.user), slug=slug)
    _, _, filters, errors, _, streams = _team_filters(request, team)
    if errors:
        return _errors_response(errors)
    found = team_board(team, streams, filters, now=timezone.now()).chart(chart)
    if found is None:
        raise Http404("No such chart on this dashboard.")
    period = filters.values.get("period") or ROLLING
    return _csv_response(found, f"{team.slug}-{chart}-{period}.csv")


app_name = "dashboards"
urlpatterns = [
    path("", dashboard_index, name="index"),
    path("teams/<slug:slug>/", team_dashboard, name="team"),
    path("teams/<slug:slug>/<slug:chart>.csv", team_chart_csv, name="team_csv"),
    path("streams/<slug:slug>/", stream_dashboards, name="stream"),
    path("streams/<slug:slug>/<slug:board>/", stream_dashboard, name="board"),
    path("streams/<slug:slug>/<slug:board>/<slug:chart>.csv", chart_csv, name="csv"),
]
