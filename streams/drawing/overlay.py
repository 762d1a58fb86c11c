"""The discovered moves drawn over the map (docs/discovery.md "On the map"): an extra layer
of dashed arcs, one per move the deals made between two steps, labelled with how many times
they made it. The moves come from ``streams.hooks.discovered_edges`` (the latest Discovery
view of the default window); the layer is drawn hidden and the map page's toggle shows it.

A move to a step further right arcs above the boxes, a move back arcs below them, a repeated
step loops on its box's right edge. The line width follows the count (1 to 4 px).

Every arc and its label stay inside the drawing and clear of the legend line at its top: an
arc above is flattened (its control point lowered) until the curve's highest point and its
label lie below the legend (:func:`legend_bottom`), an arc below until they lie above the
drawing's bottom edge. The map page gives the drawing :data:`HEADROOM` more room above the
lanes when it carries the overlay: an arc leaving a box of the top lane rises into it, so its
label sits above the stage bands, not on their names."""

from __future__ import annotations

import math
from dataclasses import dataclass

from streams.drawing.geometry import BOX_H, BOX_W, COL_W, Layout, Text

#: The overlay's colour (a magenta no value class or marker uses).
COLOUR = "#c2255c"
#: Room added above the lanes of a map drawn with the overlay (``vsm_layout(headroom=…)``).
HEADROOM = 40
#: A label's height (10.5 px bold digits) and the gap kept from the legend and the edges.
LABEL_H, CLEARANCE = 11, 6


def legend_bottom(layout: Layout) -> float:
    """The lowest point of the legend line (its symbols reach 4 px under the baseline)."""
    return layout.legend_y + 4


def curve_extremes(y1: float, cy: float, y2: float) -> tuple[float, float]:
    """The least and greatest y of the quadratic Bézier with end points at y1, y2 and its
    control point at cy (not its control polygon: the curve itself)."""
    low, high = min(y1, y2), max(y1, y2)
    if cy < low:  # bulges up: its top is cy + ab / (a + b), a and b the ends' drops to cy
        a, b = y1 - cy, y2 - cy
        return cy + a * b / (a + b), high
    if cy > high:  # bulges down
        a, b = cy - y1, cy - y2
        return low, cy - a * b / (a + b)
    return low, high


def _fit(y1: float, y2: float, cy: float, ok) -> float:
    """``cy`` moved toward the ends (a flatter curve) just enough that ``ok(cy)`` holds."""
    if ok(cy):
        return cy
    flat = min(y1, y2) if cy < min(y1, y2) else max(y1, y2)
    lo, hi = cy, flat  # ok(hi) holds for any sane layout: a straight line between boxes
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


@dataclass(frozen=True)
class OverlayEdge:
    source: int
    target: int
    count: int
    kind: str  # "ahead", "back" or "self"
    path: str
    head: str
    width: float
    label: Text
    tooltip: str


def _head(x: float, y: float, dx: float, dy: float) -> str:
    """An arrowhead with its tip at (x, y) pointing along (dx, dy)."""
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    bx, by = x - 8 * ux, y - 8 * uy
    return (
        f"{x:.1f},{y:.1f} {bx - 4 * uy:.1f},{by + 4 * ux:.1f} {bx + 4 * uy:.1f},{by - 4 * ux:.1f}"
    )


def discovered_overlay(layout: Layout, edges: list[tuple[int, int, int]]) -> list[OverlayEdge]:
    """The arcs of ``edges`` (from step id, to step id, count) between the boxes of
    ``layout``; a move to or from a step the map does not draw is left out."""
    boxes = {b.step_id: b for b in layout.boxes}
    drawn = [(a, b, n) for a, b, n in edges if a in boxes and b in boxes and n > 0]
    if not drawn:
        return []
    most = max(n for _, _, n in drawn)
    # An arc leaving the top lane puts its middle (and label) in the headroom, above the stages.
    top_lane = layout.lanes[0].bottom if layout.lanes else 0.0
    band = (layout.stage_y if layout.stages else layout.lanes[0].y if layout.lanes else 0) - 4
    out: list[OverlayEdge] = []
    for a, b, n in drawn:
        src, dst = boxes[a], boxes[b]
        times = "once" if n == 1 else f"{n} times"
        width = round(1 + 3 * n / most, 2)
        if a == b:
            x, y1, y2 = src.x + BOX_W, src.y + 30, src.y + 62
            out_x = x + 34
            path = (
                f"M{x:.1f},{y1:.1f} "
                f"C{out_x:.1f},{y1 - 6:.1f} {out_x:.1f},{y2 + 6:.1f} {x:.1f},{y2:.1f}"
            )
            head = _head(x, y2, -34, -6)
            label = Text(x + 30, (y1 + y2) / 2 + 4, str(n))
            kind = "self"
            tooltip = f"Discovered: deals stayed at {src.full_name} again {times}."
        else:
            ahead = dst.x > src.x
            cols = max(1, round(abs(dst.x - src.x) / COL_W))
            rise = 24 + 12 * min(cols, 10)
            if ahead:
                x1, y1 = src.x + BOX_W * 0.65, src.y
                x2, y2 = dst.x + BOX_W * 0.35, dst.y
                floor = legend_bottom(layout) + CLEARANCE
                # the curve's top and its label's top (4 px over its middle) under the legend
                cy = min(y1, y2) - rise
                if min(y1, y2) < top_lane:
                    cy = min(cy, (4 * band - y1 - y2) / 2)
                cy = _fit(
                    y1,
                    y2,
                    cy,
                    lambda c, y1=y1, y2=y2, floor=floor: (
                        curve_extremes(y1, c, y2)[0] >= floor
                        and (y1 + 2 * c + y2) / 4 - 4 - LABEL_H >= floor
                    ),
                )
            else:
                x1, y1 = src.x + BOX_W * 0.35, src.y + BOX_H
                x2, y2 = dst.x + BOX_W * 0.65, dst.y + BOX_H
                ceiling = layout.height - CLEARANCE
                # the curve's bottom and its label's baseline (12 px under its middle) inside
                cy = _fit(
                    y1,
                    y2,
                    max(y1, y2) + rise,
                    lambda c, y1=y1, y2=y2, ceiling=ceiling: (
                        curve_extremes(y1, c, y2)[1] <= ceiling
                        and (y1 + 2 * c + y2) / 4 + 12 <= ceiling
                    ),
                )
            cx = (x1 + x2) / 2
            path = f"M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2:.1f},{y2:.1f}"
            head = _head(x2, y2, x2 - cx, y2 - cy)
            mid_y = (y1 + 2 * cy + y2) / 4
            label = Text(cx, mid_y - 4 if ahead else mid_y + 12, str(n))
            kind = "ahead" if ahead else "back"
            tooltip = f"Discovered: deals moved from {src.full_name} to {dst.full_name} {times}."
        out.append(OverlayEdge(a, b, n, kind, path, head, width, label, tooltip))
    return out
