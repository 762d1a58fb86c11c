"""The overlay of the discovered moves, geometrically (streams/drawing/overlay.py): every arc
(its curve, sampled, and its arrowhead) and every label stays inside the drawing and clear of
the legend line, on long maps with long skips and moves back, in one lane and across lanes."""

from __future__ import annotations

import re

import pytest

from streams.drawing import render_vsm_svg, vsm_map_data
from streams.drawing.formatting import text_width
from streams.drawing.layout import vsm_layout
from streams.drawing.overlay import HEADROOM, curve_extremes, discovered_overlay, legend_bottom
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

Box = tuple[float, float, float, float]  # left, top, right, bottom


def _numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)]


def _curve_box(path: str) -> Box:
    """The bounding box of an overlay path (``M x,y Q cx,cy x,y`` or ``M x,y C … x,y``),
    sampled at 400 points."""
    n = _numbers(path)
    pts = list(zip(n[0::2], n[1::2], strict=True))
    xs, ys = [], []
    for k in range(401):
        t = k / 400
        if len(pts) == 3:
            (x0, y0), (x1, y1), (x2, y2) = pts
            x = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * x1 + t**2 * x2
            y = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * y1 + t**2 * y2
        else:
            (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts
            u = 1 - t
            x = u**3 * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x3
            y = u**3 * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t**3 * y3
        xs.append(x)
        ys.append(y)
    return min(xs), min(ys), max(xs), max(ys)


def _points_box(points: str) -> Box:
    n = _numbers(points)
    return min(n[0::2]), min(n[1::2]), max(n[0::2]), max(n[1::2])


def _label_box(x: float, y: float, text: str) -> Box:
    """A centred label of bold 10.5 px digits: its baseline at y, 11 px tall."""
    half = text_width(text, 10.5, bold=True) / 2
    return x - half, y - 11, x + half, y + 2


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _map(lanes: list[str], n: int):
    stream = stream_create(
        team=TeamFactory(),
        name="Long",
        lanes=[LaneSpec(name) for name in lanes],
        steps=[StepSpec(name=f"Step {i}", lane=lanes[i % len(lanes)]) for i in range(n)],
    )
    return vsm_map_data(stream)


def test_curve_extremes_by_hand():
    # y1 = y2 = 100, control at 20: the top is at t = 1/2, (100 + 40 + 100) / 4 = 60.
    assert curve_extremes(100, 20, 100) == (60, 100)
    # y1 = 100, y2 = 50, control at 0: a = 100, b = 50, top = 0 + 5000 / 150.
    assert curve_extremes(100, 0, 50) == (pytest.approx(100 / 3), 100)
    assert curve_extremes(100, 200, 160) == (100, pytest.approx(200 - 100 * 40 / 140))
    assert curve_extremes(100, 120, 160) == (100, 160)


@pytest.mark.parametrize("lanes", [["Sales"], ["Sales", "SDR", "AE"]])
def test_arcs_stay_clear_of_the_legend_and_inside_the_drawing(lanes):
    data = _map(lanes, 14)
    ids = [s.id for s in data.steps]
    moves = [
        (ids[0], ids[13], 40),  # the longest skip ahead
        (ids[0], ids[2], 9),
        (ids[1], ids[11], 7),
        (ids[12], ids[0], 5),  # the longest move back
        (ids[5], ids[4], 3),
        (ids[6], ids[6], 2),  # the same step again
        (ids[3], ids[4], 30),
    ]
    layout = vsm_layout(data, headroom=HEADROOM)
    arcs = discovered_overlay(layout, moves)
    assert len(arcs) == len(moves)
    legend: Box = (
        layout.legend[0].x,
        layout.legend_y - 14,
        layout.legend[-1].x + layout.legend[-1].label_dx + text_width(layout.legend[-1].label, 11),
        legend_bottom(layout),
    )
    drawing: Box = (0, 0, layout.width, layout.height)
    for arc in arcs:
        for box in (
            _curve_box(arc.path),
            _points_box(arc.head),
            _label_box(arc.label.x, arc.label.y, arc.label.text),
        ):
            assert not _overlaps(box, legend), (arc.source, arc.target, box, legend)
            assert drawing[0] <= box[0] and box[2] <= drawing[2], (arc.kind, box)
            assert drawing[1] <= box[1] and box[3] <= drawing[3], (arc.kind, box)
    # The long skip is flattened under the legend, not dropped: it still rises over the boxes.
    top = _curve_box(arcs[0].path)[1]
    assert legend_bottom(layout) < top < layout.boxes[0].y
    # An arc leaving the top lane labels itself in the headroom, above the lanes (and stages).
    assert legend_bottom(layout) < arcs[1].label.y - 11 < arcs[1].label.y < layout.lanes[0].y


def test_the_map_page_drawing_makes_room_for_the_overlay():
    data = _map(["Sales"], 6)
    ids = [s.id for s in data.steps]
    plain = vsm_layout(data)
    roomy = vsm_layout(data, headroom=HEADROOM)
    assert roomy.boxes[0].y - plain.boxes[0].y == HEADROOM
    assert roomy.height - plain.height == HEADROOM
    assert roomy.legend_y == plain.legend_y
    # Drawn with the overlay, the map is the roomy one; without it, as before.
    with_overlay = render_vsm_svg(data, [(ids[0], ids[5], 3)])
    without = render_vsm_svg(data)
    assert f'height="{roomy.height}"' in with_overlay
    assert f'height="{plain.height}"' in without
