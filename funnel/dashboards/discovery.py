"""The Discovery dashboard (``/dashboards/streams/<slug>/discovery/``): the process as a
stream's deals really ran it, held against the map (docs/discovery.md), read from its stored
snapshot (``DiscoverySnapshot``, computed by a background job, never here:
``funnel.discovery.snapshots``) and drawn by ``funnel.discovery.drawing`` (the graph, SVG) and
``funnel.dashboards.charts.discovery``; the CSV of each table; and the manager's form that
accepts a deviation or takes the acceptance back.

Its filters are the Leads dashboard's (the same form and URL parameters: ``start``, ``end``,
``as_of``, ``source``, ``owner``, ``time``). Every member of the team reads it; a rep may
narrow it to their own deals, and naming another rep is a 403. Only a manager (or an admin)
accepts deviations; anyone else gets 403, another team's stream 404.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_POST

from funnel.dashboards import snapshot_pages as pages
from funnel.dashboards.charts.discovery import (
    deviation_label,
    discovery_charts,
    discovery_tiles,
)
from funnel.dashboards.leads import _leads_view, view_context
from funnel.dashboards.views import _errors_response
from funnel.discovery.drawing import graph_svg
from funnel.discovery.services import deviation_accept, deviation_unaccept
from funnel.discovery.snapshots import discovery_view_read
from streams.models import Role

VIEW_PARAMS = ("start", "end", "as_of", "source", "owner", "time")
TITLE = {
    "key": "discovery",
    "title": "Discovery",
    "lede": "The process as the deals really ran it, held against the map the team drew: "
    "the moves between steps, the distinct paths, the rework loops, and where and how "
    "often the deals left the map's order, with what that costs.",
}


def _board(stream, snapshot, query: str) -> dict:
    result = snapshot.result
    charts = discovery_charts(result, pages.deal_url)
    pages.link_csv(charts, "dashboards:discovery_csv", stream, query)
    by_key = {c.key: c for c in charts}
    names = {s["id"]: s["name"] for s in result["steps"]}
    return {
        "tiles": discovery_tiles(result),
        "graph": by_key.pop("graph"),
        "svg": graph_svg(result),
        "most": max([e["transitions"] for e in result["graph"]["edges"]] or [1]),
        "charts": list(by_key.values()),
        "deviations": [
            r | {"label": deviation_label(names, r)} for r in result["conformance"]["catalogue"]
        ],
    }


@require_GET
def discovery_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    stream, role, rep_id = pages.page_stream(request, slug)

    def board(snapshot, query: str) -> dict:
        return {
            "board": SimpleLazyObject(lambda: _board(stream, snapshot, query)),
            "has_deals": bool(snapshot.result["variants"]["deals"]),
            "board_key": pages.board_key(stream, snapshot, role == Role.MANAGER, query),
            "computed_at": snapshot.computed_at,
            **view_context(snapshot.result),
        }

    return pages.snapshot_page(
        request,
        stream,
        role,
        _leads_view(request, stream, rep_id),
        "funnel/dashboards/discovery.html",
        read=discovery_view_read,
        board=board,
        title=TITLE,
        can_accept=role in (Role.MANAGER, "admin"),
    )


@require_GET
def discovery_csv(request: HttpRequest, slug: str, chart: str) -> HttpResponse:
    """The rows of one table of the Discovery dashboard, as CSV, for the same view."""
    stream, _, rep_id = pages.page_stream(request, slug)
    return pages.chart_csv(
        request,
        stream,
        _leads_view(request, stream, rep_id),
        read=discovery_view_read,
        chart_of=lambda snapshot: {
            c.key: c for c in discovery_charts(snapshot.result, pages.deal_url)
        }.get(chart),
        missing="This view of the Discovery dashboard is not computed yet.",
        filename=f"{stream.slug}-discovery-{chart}.csv",
    )


@require_POST
def discovery_accept(request: HttpRequest, slug: str) -> HttpResponse:
    """Accept a deviation (``accept=1``) or take the acceptance back (``accept=0``): a
    manager's; the page again, same view, with a message; a bad field is a 400 naming it."""
    stream, role, _ = pages.page_stream(request, slug)
    if role not in (Role.MANAGER, "admin"):
        raise PermissionDenied("Only a manager of the team accepts deviations.")
    data = request.POST
    pair = {
        "stream": stream,
        "kind": data.get("kind", ""),
        "source": data.get("source"),
        "target": data.get("target"),
    }
    try:
        if data.get("accept") == "0":
            deviation_unaccept(**pair)
            messages.success(request, "The deviation counts against the map again.")
        else:
            deviation_accept(**pair, user=request.user, note=data.get("note", ""))
            messages.success(
                request,
                "Accepted: the deviation is listed apart and no longer lowers conformance. "
                "The figures are being computed again.",
            )
    except ValidationError as exc:
        return _errors_response(pages.field_errors(exc))
    # Back to the same view: only the view's own parameters are carried over.
    kept = QueryDict(data.get("query", ""))
    query = urlencode([(k, kept[k]) for k in VIEW_PARAMS if kept.get(k)])
    url = reverse("dashboards:discovery", args=[stream.slug])
    return redirect(url + (f"?{query}" if query else "") + "#deviations")
