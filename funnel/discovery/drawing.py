"""The directly-follows graph drawn as SVG on the server (docs/discovery.md "The drawing"), so
it prints and exports like the map: the map's steps in a row in their order, a move to the
next step a straight arrow between boxes, a move further on an arc above, a move back (rework)
an arc below, a step repeated a loop under its box; each deal's start a green mark above its
first step, its end (won, lost, still open) a line under its last.

Every edge carries its figures as data attributes (``data-transitions``, ``data-median``,
``data-p85``) and two label texts; ``static/js/discovery.js`` switches between the frequency
and the performance view and hides the edges rarer than the slider says. Without scripts the
drawing shows the frequency view with every edge.
"""

from __future__ import annotations

from django.utils.html import escape

BOX_W, BOX_H, GAP = 132, 46, 104
TOP = 150  # the boxes' top: room for the arcs above and the start marks
MARGIN = 24
FREQ, PERF = "#0072B2", "#D55E00"


def _hours_text(hours: float | None) -> str:
    if hours is None:
        return "–"
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


def _name(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def graph_svg(result: dict) -> str:
    """The drawing of a Discovery ``result`` (its ``steps`` and ``graph``) as one ``<svg>``."""
    steps = sorted(result["steps"], key=lambda s: s["order"])
    graph = result["graph"]
    x_of = {s["id"]: MARGIN + s["order"] * (BOX_W + GAP) for s in steps}
    order = {s["id"]: s["order"] for s in steps}
    edges = graph["edges"]
    most = max([e["transitions"] for e in edges] or [1])
    slowest = max([e["median_hours"] or 0 for e in edges] or [0]) or 1
    depth = max([abs(order[e["target"]] - order[e["source"]]) for e in edges] or [1])
    width = MARGIN * 2 + len(steps) * (BOX_W + GAP) - GAP
    bottom = TOP + BOX_H + 60 + 40 * max(depth, 1) + 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dfg" viewBox="0 0 {width} {bottom}" '
        f'width="{width}" height="{bottom}" role="img" aria-labelledby="dfg-title dfg-desc">',
        '<title id="dfg-title">The process as the deals ran it (directly-follows graph)</title>',
        f'<desc id="dfg-desc">{len(steps)} steps in the map\'s order, {len(edges)} moves '
        "between them; the data table below lists every one.</desc>",
        "<defs>",
        *(
            f'<marker id="dfg-arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" '
            'orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for name, colour in (("freq", FREQ), ("perf", PERF), ("start", "#009E73"))
        ),
        "</defs>",
    ]
    for e in edges:
        parts.append(_edge(e, x_of, order, most, slowest))
    for s in steps:
        x = x_of[s["id"]]
        parts.append(
            f'<g class="dfg-step" data-step="{s["id"]}"><rect x="{x}" y="{TOP}" width="{BOX_W}" '
            f'height="{BOX_H}" rx="4" fill="#FFFFFF" stroke="#1D2733" stroke-width="1.5"/>'
            f'<text x="{x + BOX_W / 2}" y="{TOP + BOX_H / 2 + 5}" text-anchor="middle" '
            f'font-size="13" fill="#1D2733">{escape(_name(s["name"]))}'
            f"<title>{escape(s['name'])}</title></text></g>"
        )
    for start in graph["starts"]:
        x = x_of[start["step"]] + 18
        parts.append(
            f'<g class="dfg-start" data-deals="{start["deals"]}"><circle cx="{x}" cy="{TOP - 24}" '
            f'r="6" fill="#009E73"/><line x1="{x}" y1="{TOP - 18}" x2="{x}" y2="{TOP - 2}" '
            f'stroke="#009E73" stroke-width="2" marker-end="url(#dfg-arrow-start)"/>'
            f'<text x="{x + 10}" y="{TOP - 20}" font-size="12" fill="#1D2733">start '
            f"{start['deals']}</text></g>"
        )
    for end in graph["ends"]:
        x = x_of[end["step"]] + BOX_W / 2
        words = [f"{end[k]} {k}" for k in ("won", "lost", "open") if end[k]]
        parts.append(
            f'<g class="dfg-end"><rect x="{x - 6}" y="{bottom - 44}" width="12" height="12" '
            f'fill="#1D2733"/><text x="{x}" y="{bottom - 18}" text-anchor="middle" '
            f'font-size="12" fill="#1D2733">end: {escape(", ".join(words))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _edge(e: dict, x_of: dict, order: dict, most: int, slowest: float) -> str:
    a, b = e["source"], e["target"]
    freq_w = 1 + 6 * e["transitions"] / most
    perf_w = 1 + 6 * (e["median_hours"] or 0) / slowest
    span = order[b] - order[a]
    if e["kind"] == "forward":
        x1, x2, y = x_of[a] + BOX_W, x_of[b], TOP + BOX_H / 2
        path, lx, ly = f"M{x1},{y} L{x2 - 2},{y}", (x1 + x2) / 2, y - 8
    elif e["kind"] == "self":
        x, y = x_of[a] + BOX_W / 2, TOP + BOX_H
        path = f"M{x - 14},{y} C{x - 34},{y + 46} {x + 34},{y + 46} {x + 16},{y + 2}"
        lx, ly = x, y + 50
    elif span > 0:  # a skip: an arc above
        x1, x2, y = x_of[a] + BOX_W / 2 + 10, x_of[b] + BOX_W / 2 - 10, TOP
        lift = 44 + 22 * span
        path, lx, ly = (
            f"M{x1},{y} Q{(x1 + x2) / 2},{y - lift} {x2},{y - 2}",
            (x1 + x2) / 2,
            y - lift / 2 - 6,
        )
    else:  # back: an arc below
        x1, x2, y = x_of[a] + BOX_W / 2 - 10, x_of[b] + BOX_W / 2 + 10, TOP + BOX_H
        drop = 60 + 40 * (-span)
        path, lx, ly = (
            f"M{x1},{y} Q{(x1 + x2) / 2},{y + drop} {x2},{y + 2}",
            (x1 + x2) / 2,
            y + drop / 2 + 14,
        )
    freq = f"{e['transitions']}"
    perf = f"{_hours_text(e['median_hours'])} / {_hours_text(e['p85_hours'])}"
    median = "" if e["median_hours"] is None else f"{e['median_hours']:.3f}"
    p85 = "" if e["p85_hours"] is None else f"{e['p85_hours']:.3f}"
    return (
        f'<g class="dfg-edge dfg-{e["kind"]}" data-transitions="{e["transitions"]}" '
        f'data-median="{median}" data-p85="{p85}" data-freq-width="{freq_w:.2f}" '
        f'data-perf-width="{perf_w:.2f}">'
        f'<path d="{path}" fill="none" stroke="{FREQ}" stroke-width="{freq_w:.2f}" '
        f'marker-end="url(#dfg-arrow-freq)"/>'
        f'<text x="{lx}" y="{ly}" text-anchor="middle" font-size="12" fill="#1D2733" '
        f'data-freq="{escape(freq)}" data-perf="{escape(perf)}">{escape(freq)}</text>'
        f"<title>{e['transitions']} moves by {e['deals']} deals; median "
        f"{escape(_hours_text(e['median_hours']))}, p85 {escape(_hours_text(e['p85_hours']))}"
        "</title></g>"
    )
