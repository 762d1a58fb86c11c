"""The "discovered against designed" page (``/dashboards/streams/<slug>/discovery/design/``):
the map's steps and moves set beside what the deals did, step by step, then what the map has
that the deals' paths lack and what the paths show that the map lacks (docs/discovery.md
"Discovered against designed"; the figures: ``funnel.discovery.design``).

It reads the same stored Discovery view as the Discovery dashboard (same filters and URL
parameters, computed in the background, never here), so its empty and waiting states are the
dashboard's. Every member of the team reads it; a rep may narrow it to their own deals,
naming another rep is a 403, another team's stream a 404.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from funnel.dashboards import snapshot_pages as pages
from funnel.dashboards.charts.common import Tile
from funnel.dashboards.charts.discovery import KIND_WORDS
from funnel.dashboards.discovery import TITLE
from funnel.dashboards.leads import _leads_view, view_context
from funnel.discovery.design import design_comparison, stages_off_map
from funnel.discovery.snapshots import discovery_view_read


def _hours_text(hours: float | None) -> str:
    if hours is None:
        return "–"
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


def _pct(share: dict | None) -> str:
    return "–" if share is None else f"{100 * share['value']:.0f}%"


def _tiles(design: dict) -> list[Tile]:
    s = design["summary"]
    off = s["share_off_map"]
    return [
        Tile(
            key="steps_visited",
            label="Steps the deals visited",
            value=f"{s['steps_visited']} of {s['steps']}",
            detail="steps of the map with at least one visit",
        ),
        Tile(
            key="moves_taken",
            label="Designed moves taken",
            value=f"{s['designed_moves_taken']} of {s['designed_moves']}",
            detail="moves from one step to the next that a deal made",
        ),
        Tile(
            key="off_map",
            label="Moves not on the map",
            value="–" if off is None else f"{100 * off:.0f}%",
            detail=f"{s['moves_off_map']:,} of {s['moves']:,} moves between steps",
            help="Skips, moves back and repeats: moves the map does not draw.",
        ),
    ]


def _pairs(result: dict, design: dict) -> list[dict]:
    """One row per step of the map: what the map designs there beside what the deals did."""
    names = {s["id"]: s["name"] for s in result["steps"]}
    designed_out = {m["source"]: m for m in design["designed_moves"]}
    designed_in = {m["target"]: m["source"] for m in design["designed_moves"]}
    out_edges: dict[int, list[dict]] = {}
    for edge in result["graph"]["edges"]:  # most frequent first
        out_edges.setdefault(edge["source"], []).append(
            {
                "target": names.get(edge["target"], "?"),
                "transitions": edge["transitions"],
                "deals": edge["deals"],
                "designed": edge["kind"] == "forward",
                "kind": KIND_WORDS[edge["kind"]],
                "median": _hours_text(edge["median_hours"]),
            }
        )
    last = len(design["steps"]) - 1
    rows = []
    for step in design["steps"]:
        sid = step["step"]
        move = designed_out.get(sid)
        rows.append(
            step
            | {
                "name": names.get(sid, "?"),
                "position": step["order"] + 1,
                "first": step["order"] == 0,
                "last": step["order"] == last,
                "previous": names.get(designed_in.get(sid)),
                "next": names.get(move["target"]) if move else None,
                "next_move": move,
                "pct": _pct(step["share"]),
                "interval": (
                    ""
                    if step["share"] is None
                    else f"{100 * step['share']['low']:.0f}–{100 * step['share']['high']:.0f}%"
                ),
                "moves_out": out_edges.get(sid, []),
            }
        )
    return rows


def _board(stream, snapshot) -> dict:
    result = snapshot.result
    design = design_comparison(result, stages_off_map(stream))
    names = {s["id"]: s["name"] for s in result["steps"]}

    def move(row: dict) -> dict:
        return row | {
            "from": names.get(row["source"], "?"),
            "to": names.get(row["target"], "?"),
            "words": KIND_WORDS.get(row.get("kind", "forward")),
            "median": _hours_text(row.get("median_hours")),
            "p85": _hours_text(row.get("p85_hours")),
        }

    return {
        "tiles": _tiles(design),
        "pairs": _pairs(result, design),
        "unvisited": [names.get(s, "?") for s in design["unvisited"]],
        "never_taken": [move(m) for m in design["never_taken"]],
        "off_map": [move(m) for m in design["off_map_moves"]],
        "entries": [r | {"name": names.get(r["step"], "?")} for r in design["entries_off_map"]],
        "wins": [r | {"name": names.get(r["step"], "?")} for r in design["wins_off_map"]],
        "stages": design["stages_off_map"],
        "first": result["steps"] and min(result["steps"], key=lambda s: s["order"])["name"],
        "last": result["steps"] and max(result["steps"], key=lambda s: s["order"])["name"],
        "summary": design["summary"],
    }


@require_GET
def discovery_design(request: HttpRequest, slug: str) -> HttpResponse:
    stream, role, rep_id = pages.page_stream(request, slug)
    return pages.snapshot_page(
        request,
        stream,
        role,
        _leads_view(request, stream, rep_id),
        "funnel/dashboards/discovery_design.html",
        read=discovery_view_read,
        board=lambda snapshot, _query: {
            "board": _board(stream, snapshot),
            "has_deals": bool(snapshot.result["variants"]["deals"]),
            **view_context(snapshot.result),
        },
        title=TITLE,
    )
