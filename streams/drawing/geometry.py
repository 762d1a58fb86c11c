"""The map's geometry: sizes and spacing, the colour and tag of each value class, point
strings for the burst and the triangle, and the dataclasses a :class:`Layout` is made of."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.drawing.formatting import _trim, text_width

FONT = "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif"
MARGIN = 16
LABEL_W = 132  # lane names and ladder captions at the left
GAP_W = 50  # in front of each box: the flow arrow's bend and the inventory triangle
BOX_W = 144
COL_W = GAP_W + BOX_W
HEADER_H = 52  # title line and legend line
STAGE_H = 22
STAGE_GAP = 6
LANE_H = 114
BOX_TOP = 7  # box offset inside its lane band
BOX_H = 102
BOX_TITLE_H = 34
ROW_H = 12.5
LADDER_H = 58
TOTALS_W = 86  # totals at the right end of the ladder
SUMMARY_W = 304
SUMMARY_ROW_H = 19
ARROW_Y = 17  # where the flow arrow enters a box, from the box top
BURST_CLEARANCE = 20  # title width given up to a kaizen burst
BEND_X = 12  # where an arrow between lanes turns, from the start of the gap
MIN_WIDTH = 980  # the legend line needs this much

# Colour AND a text tag per value class, so the map reads without colour.
VALUE_CLASS_STYLE = {
    "value_add": {
        "tag": "VA",
        "label": "Value-add",
        "stroke": "#2b8a3e",
        "fill": "#ebfbee",
        "tag_fill": "#2b8a3e",
        "tag_text": "#ffffff",
    },
    "necessary_nva": {
        "tag": "NVA",
        "label": "Necessary non-value-add",
        "stroke": "#e67700",
        "fill": "#fff4d6",
        "tag_fill": "#fab005",
        "tag_text": "#212529",
    },
    "waste": {
        "tag": "W",
        "label": "Waste",
        "stroke": "#c92a2a",
        "fill": "#fff0f0",
        "tag_fill": "#c92a2a",
        "tag_text": "#ffffff",
    },
}
UNKNOWN_STYLE = {
    "tag": "?",
    "label": "Unclassified",
    "stroke": "#868e96",
    "fill": "#f1f3f5",
    "tag_fill": "#868e96",
    "tag_text": "#ffffff",
}
for _style in (*VALUE_CLASS_STYLE.values(), UNKNOWN_STYLE):
    _style["tag_w"] = round(10 + text_width(_style["tag"], 8.5, bold=True), 1)
    _style["tag_mid"] = round(_style["tag_w"] / 2, 1)


def _points(coords: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in coords)


def _n(value: float) -> str:
    """A coordinate as compact, locale-free text."""
    return _trim(round(value, 1), 1)


def burst_points(cx: float, cy: float, outer: float = 17, inner: float = 9.5) -> str:
    """A kaizen burst: a 12-point star with uneven spikes, like the hand-drawn VSM symbol."""
    coords = []
    spikes = 12
    for k in range(spikes * 2):
        angle = math.pi * k / spikes - math.pi / 2
        radius = outer * (1.0 if k % 4 == 0 else 0.86) if k % 2 == 0 else inner
        coords.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return _points(coords)


def triangle_points(cx: float, top: float, width: float = 28, height: float = 24) -> str:
    return _points([(cx, top), (cx + width / 2, top + height), (cx - width / 2, top + height)])


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class LaneBand:
    y: float
    height: float
    fill: str
    name_lines: list[Text]
    cost: Text | None
    tooltip: str

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class StageBand:
    x: float
    width: float
    label: Text
    full_name: str
    tooltip: str


@dataclass(frozen=True)
class DataRow:
    """One figure of a process box: its label, planned value and measured value."""

    key: str  # process_hours, lead_hours, pct_complete_accurate, wip
    y: float
    label: str
    planned: str
    measured: str | None  # None when the step has no measurement
    tooltip: str


@dataclass(frozen=True)
class Marker:
    x: float
    symbol: str
    tooltip: str

    @property
    def mid(self) -> float:
        return self.x + 12


@dataclass(frozen=True)
class ProcessBox:
    """One process box; every coordinate inside it is relative to its top-left (x, y)."""

    step_id: int
    x: float
    y: float
    full_name: str
    tooltip: str
    title_lines: list[Text]
    style: dict
    value_class_label: str
    rows: list[DataRow]
    measured_header: str | None  # None: not measured yet
    measured_tooltip: str
    low_sample: bool
    markers: list[Marker]  # motion waste / unused talent, on the top edge at the left
    burst_points: str | None
    burst_tooltip: str


@dataclass(frozen=True)
class Inventory:
    x: float  # centre
    y: float  # apex
    points: str
    count: str
    tooltip: str

    @property
    def letter_y(self) -> float:
        return self.y + 19

    @property
    def count_y(self) -> float:
        return self.y + 37


@dataclass(frozen=True)
class Arrow:
    path: str
    head: str


@dataclass(frozen=True)
class SummaryRow:
    figure: str
    y: float
    label: str
    tooltip: str
    planned: str
    planned_value: str  # raw number for tests and scripts; "" when unknown
    measured: str | None
    measured_value: str


@dataclass(frozen=True)
class SummaryBox:
    """The summary box at the right end of the ladder: planned and measured side by side."""

    x: float
    y: float
    width: float
    height: float
    title: Text
    steps_note: Text
    header_y: float
    label_x: float
    planned_x: float  # right edge of the planned column
    measured_x: float  # right edge of the measured column
    measured_mid: float
    not_measured_y: float
    rows: list[SummaryRow]
    measured: bool
    footnote: Text
    header_tooltip: str
    #: Written across the measured column when it has no figures.
    not_measured: str = "not measured yet"


@dataclass(frozen=True)
class LegendItem:
    x: float
    kind: str  # value_class, triangle, burst, marker, arrow, note
    label: str
    tooltip: str
    label_dx: float = 0
    style: dict = field(default_factory=dict)
    symbol: str = ""


@dataclass(frozen=True)
class EmptyNote:
    x: float
    y: float
    width: float
    height: float
    text: Text


@dataclass(frozen=True)
class Layout:
    uid: str
    width: int
    height: int
    font: str
    title: str
    state_label: str
    is_future: bool
    description: str
    legend_y: float
    legend: list[LegendItem]
    empty_message: EmptyNote | None
    lanes: list[LaneBand]
    lane_right: float
    lane_width: float
    stages: list[StageBand]
    stage_y: float
    boxes: list[ProcessBox]
    inventories: list[Inventory]
    arrows: list[Arrow]
    ladder_path: str
    ladder_top: float
    ladder_labels: list[Text]  # the lead times, upper level
    ladder_pt_labels: list[Text]  # the process times, lower level
    ladder_captions: list[Text]
    ladder_totals: list[Text]
    summary: SummaryBox | None
