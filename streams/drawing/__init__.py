"""The value stream map drawing, rendered on the server as SVG.

Three layers, each testable on its own:

1. :func:`vsm_map_data` reads one stream (a handful of queries) into a :class:`VsmMap` of
   plain values: lanes, stages, steps with their planned figures, the measured figures
   (``streams.hooks.measured_map``), the steps carrying a kaizen burst
   (``streams.hooks.burst_step_ids``) and the planned summary box (metrics.md §3, computed by
   ``streams.metrics.map_summary``).
2. :func:`vsm_layout` turns a :class:`VsmMap` into coordinates and display strings (a
   :class:`Layout` of small dataclasses). Every step gets one fixed-width column in map order,
   so a long map gets wide, never cramped.
3. :func:`render_vsm_svg` fills ``templates/streams/vsm.svg`` with the layout. The template
   is autoescaped: names are never put into markup anywhere else, so a step called
   ``<script>`` is drawn as text.

The SVG is self-contained (presentation attributes only, no ``<style>`` and no ids other than
the title/desc ones, which carry the stream id), because it is inlined into pages next to
other maps and also downloaded as a standalone file.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import timezone

from streams import explanations
from streams.hooks import burst_step_ids, measured_map
from streams.metrics import MapSummary, MeasuredMap, StepFigures, map_summary
from streams.models import StreamState, ValueStream

# --------------------------------------------------------------------------------------
# Data read from the database
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VsmLane:
    id: int
    name: str
    position: int
    hourly_cost: Decimal | None = None


@dataclass(frozen=True)
class VsmStage:
    id: int
    name: str
    position: int


@dataclass(frozen=True)
class VsmStep:
    id: int
    position: int
    name: str
    lane_id: int
    stage_id: int | None
    value_class: str
    planned: StepFigures
    motion_waste: bool = False
    unused_talent: bool = False
    notes: str = ""


@dataclass(frozen=True)
class VsmMap:
    """Everything the drawing shows, as plain values (no model instances)."""

    stream_id: int | None
    name: str
    state: str  # StreamState value
    currency: str
    lanes: tuple[VsmLane, ...]  # in position order
    stages: tuple[VsmStage, ...]  # in position order
    steps: tuple[VsmStep, ...]  # in map order
    planned_summary: MapSummary
    measured: MeasuredMap | None = None
    burst_step_ids: frozenset[int] = frozenset()

    @property
    def state_label(self) -> str:
        return StreamState(self.state).label if self.state in StreamState.values else self.state


def planned_step_figures(
    *, process_hours: float, lead_hours: float, pct_complete_accurate: float, wip: int
) -> StepFigures:
    """A step's planned figures, as the summary box and the drawing read them."""
    return StepFigures(
        process_hours=process_hours,
        lead_hours=lead_hours,
        pct_complete_accurate=pct_complete_accurate,
        wip=wip,
    )


def vsm_map_data(stream: ValueStream) -> VsmMap:
    """Read ``stream``'s map for drawing: two queries for lanes and steps (stages come with
    the steps), plus whatever the measures and bursts providers run (one or two each)."""
    lanes = tuple(
        VsmLane(id=lane.id, name=lane.name, position=lane.position, hourly_cost=lane.hourly_cost)
        for lane in stream.lanes.order_by("position")
    )
    rows = stream.steps.select_related("stage").order_by("position")
    stages: dict[int, VsmStage] = {}
    steps: list[VsmStep] = []
    for row in rows:
        if row.stage is not None:
            stages.setdefault(
                row.stage.id,
                VsmStage(id=row.stage.id, name=row.stage.name, position=row.stage.position),
            )
        steps.append(
            VsmStep(
                id=row.id,
                position=row.position,
                name=row.name,
                lane_id=row.lane_id,
                stage_id=row.stage_id,
                value_class=row.value_class,
                planned=planned_step_figures(
                    process_hours=row.planned_process_hours,
                    lead_hours=row.planned_lead_hours,
                    pct_complete_accurate=row.planned_pct_complete_accurate,
                    wip=row.planned_wip,
                ),
                motion_waste=row.motion_waste,
                unused_talent=row.unused_talent,
                notes=row.notes,
            )
        )
    summary = map_summary(
        [s.planned for s in steps],
        available_hours=stream.available_selling_hours_per_period,
        target_wins=stream.target_won_deals_per_period,
    )
    return VsmMap(
        stream_id=stream.id,
        name=stream.name,
        state=stream.state,
        currency=stream.currency,
        lanes=lanes,
        stages=tuple(sorted(stages.values(), key=lambda s: s.position)),
        steps=tuple(steps),
        planned_summary=summary,
        measured=measured_map(stream),
        burst_step_ids=frozenset(burst_step_ids(stream)),
    )


# --------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------


def _trim(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_hours(hours: float | None, *, elapsed: bool = True) -> str:
    """A duration in the unit people read best: ``45 min`` below an hour, ``2.5 h`` below a
    day; from a day on, elapsed time (lead time) in calendar days of 24 h (``7 d``), while
    work time (process time, takt) stays in hours (``30 h``), since 30 working hours are not
    1.3 days. ``—`` when unknown."""
    if hours is None or math.isnan(hours):
        return "—"
    if hours <= 0:
        return "0 h"
    minutes = round(hours * 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24 or not elapsed:
        return f"{_trim(hours, 1 if hours < 100 else 0)} h"
    days = hours / 24
    return f"{_trim(days, 1 if days < 10 else 0)} d"


def format_work_hours(hours: float | None) -> str:
    """Work time (process time, takt time): never in days."""
    return format_hours(hours, elapsed=False)


def format_percent(percent: float | None) -> str:
    """A value already in percent (0–100), with one decimal when it has one: ``72 %``."""
    if percent is None or math.isnan(percent):
        return "—"
    return f"{_trim(percent, 1)} %"


def format_ratio(ratio: float | None) -> str:
    """A ratio (0–1) as a percentage: ``0.04514`` → ``4.5 %``."""
    return format_percent(None if ratio is None else 100 * ratio)


def format_count(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{round(value):,}"


def format_money_per_hour(amount: Decimal | None, currency: str) -> str | None:
    if amount is None:
        return None
    symbols = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
    number = _trim(float(amount), 2)
    if currency in symbols:
        return f"{symbols[currency]}{number} / h"
    return f"{number} {currency} / h"


# Glyph advance widths in em of DejaVu Sans, the font ``system-ui`` falls back to on Linux
# (measured in headless Chromium). It is one of the widest sans-serif fonts, so text sized by
# it also fits in Segoe UI, San Francisco or Roboto. Bold is about 11 % wider.
_GLYPH_GROUPS = (
    (0.28, "ijl'"),
    (0.29, "IJ"),
    (0.32, " ,.·"),
    (0.34, "/:;\\|"),
    (0.35, "f"),
    (0.36, "-"),
    (0.39, "t()[]"),
    (0.40, "!"),
    (0.41, "r"),
    (0.46, '"'),
    (0.50, "*_`"),
    (0.52, "s"),
    (0.53, "z?"),
    (0.55, "c"),
    (0.56, "L"),
    (0.58, "kF"),
    (0.59, "vxy"),
    (0.60, "P"),
    (0.61, "aoTY"),
    (0.62, "e"),
    (0.63, "bdghnpquES"),
    (0.64, "0123456789${}"),
    (0.66, "K"),
    (0.68, "AV"),
    (0.69, "BRXZ"),
    (0.70, "C"),
    (0.73, "U"),
    (0.75, "HN"),
    (0.77, "D"),
    (0.78, "G&"),
    (0.79, "OQ"),
    (0.82, "w"),
    (0.84, "#+<=>^~÷×"),
    (0.86, "M"),
    (0.95, "%"),
    (0.97, "m"),
    (0.99, "W"),
    (1.00, "@…—"),
)
_GLYPH_EM = {ch: em for em, chars in _GLYPH_GROUPS for ch in chars}
_BOLD = 1.11


def _glyph_em(ch: str) -> float:
    em = _GLYPH_EM.get(ch)
    if em is not None:
        return em
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    return 0.7 if ch.isalpha() else 0.84


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Estimated rendered width of ``text`` in px at font ``size``."""
    return sum(_glyph_em(ch) for ch in text) * size * (_BOLD if bold else 1.0)


def truncate(text: str, width: float, size: float, *, bold: bool = False) -> str:
    """``text`` cut to fit ``width`` px, ending with an ellipsis when cut."""
    if text_width(text, size, bold=bold) <= width:
        return text
    while text and text_width(text + "…", size, bold=bold) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def wrap(text: str, width: float, size: float, *, bold: bool = False, lines: int = 2) -> list[str]:
    """``text`` in at most ``lines`` lines of ``width`` px, words kept whole where they fit;
    the last line ends with an ellipsis when the text does not fit."""
    words = text.split()
    out: list[str] = []
    current = ""
    for i, word in enumerate(words):
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size, bold=bold) <= width:
            current = candidate
            continue
        if current:
            out.append(current)
            current = word
        else:  # a single word longer than a line: break it
            current = word
        while text_width(current, size, bold=bold) > width and len(out) < lines - 1:
            cut = len(current)
            while cut > 1 and text_width(current[:cut], size, bold=bold) > width:
                cut -= 1
            out.append(current[:cut])
            current = current[cut:]
        if len(out) >= lines - 1 and i < len(words) - 1:
            rest = " ".join([current, *words[i + 1 :]])
            out.append(truncate(rest, width, size, bold=bold))
            return out
    if current:
        out.append(truncate(current, width, size, bold=bold) if len(out) == lines - 1 else current)
    return out[:lines] or [""]


# --------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------

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


def _lane_band_color(index: int) -> str:
    return "#f8f9fa" if index % 2 == 0 else "#ffffff"


def _raw(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _step_rows(planned: StepFigures, measured: StepFigures | None) -> list[DataRow]:
    """The data box rows; ``y`` is relative to the box top."""
    specs = [
        ("process_hours", "PT", "process_time", format_work_hours),
        ("lead_hours", "LT", "lead_time", format_hours),
        ("pct_complete_accurate", "%C&A", "pct_complete_accurate", format_percent),
        ("wip", "WIP", "wip", format_count),
    ]
    rows = []
    first = BOX_TITLE_H + 12 + ROW_H
    for i, (key, label, explanation_key, fmt) in enumerate(specs):
        text = explanations.ALL[explanation_key]
        rows.append(
            DataRow(
                key=key,
                y=first + i * ROW_H,
                label=label,
                planned=fmt(getattr(planned, key)),
                measured=None if measured is None else fmt(getattr(measured, key)),
                tooltip=f"{text.label}: {text.what}",
            )
        )
    return rows


def _day(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d}"


def _summary(data: VsmMap, x: float, bottom: float) -> SummaryBox:
    planned = data.planned_summary
    measured = data.measured.summary if data.measured is not None else None
    figures = [
        ("lead_time_hours", "Total lead time", format_hours),
        ("process_time_hours", "Total process time", format_work_hours),
        ("activity_ratio", "Activity ratio", format_ratio),
        ("rolled_pct_complete_accurate", "Rolled %C&A", format_percent),
        ("takt_hours", "Takt time", format_work_hours),
    ]
    height = 34 + 20 + len(figures) * SUMMARY_ROW_H + 12
    top = bottom - height
    first = top + 54
    rows = []
    for i, (figure, label, fmt) in enumerate(figures):
        p_value = getattr(planned, figure)
        m_value = getattr(measured, figure) if measured is not None else None
        not_set = figure == "takt_hours"
        rows.append(
            SummaryRow(
                figure=figure,
                y=first + i * SUMMARY_ROW_H,
                label=label,
                tooltip=explanations.ALL[explanations.SUMMARY_FIGURES[figure]].tooltip,
                planned="not set" if (not_set and p_value is None) else fmt(p_value),
                planned_value=_raw(p_value),
                measured=None
                if measured is None
                else ("not set" if (not_set and m_value is None) else fmt(m_value)),
                measured_value=_raw(m_value),
            )
        )
    if data.measured is not None:
        # Days in the viewer's time zone, as the page around the drawing shows them.
        m = data.measured
        start, end = _day(m.window_start), _day(m.window_end)
        if measured is None:
            footnote = f"No completed visits {start} – {end} yet"
        else:
            footnote = f"Measured {start} – {end}, as of {_day(m.computed_at)}"
    else:
        footnote = "Measured figures appear once the metrics have run."
    rows_top = first - 14
    planned_x = x + 180
    return SummaryBox(
        x=x,
        y=top,
        width=SUMMARY_W,
        height=height,
        title=Text(x + 12, top + 22, "Summary"),
        steps_note=Text(
            x + SUMMARY_W - 12, top + 22, f"{planned.steps} step{'s' if planned.steps != 1 else ''}"
        ),
        header_y=top + 40,
        label_x=x + 12,
        planned_x=planned_x,
        measured_x=x + SUMMARY_W - 12,
        measured_mid=planned_x + (SUMMARY_W - 12 - 180) / 2 + 4,
        not_measured_y=rows_top + len(figures) * SUMMARY_ROW_H / 2 + 4,
        rows=rows,
        measured=measured is not None,
        footnote=Text(x + 12, top + height - 9, footnote),
        header_tooltip=explanations.ALL["planned_vs_measured"].tooltip,
        not_measured="no data yet" if data.measured is not None else "not measured yet",
    )


def _legend(data: VsmMap) -> list[LegendItem]:
    items: list[LegendItem] = []
    x = float(MARGIN)
    size = 11

    def add(kind: str, label: str, tooltip: str, width_before: float, **kw: object) -> None:
        nonlocal x
        items.append(
            LegendItem(x=x, kind=kind, label=label, tooltip=tooltip, label_dx=width_before, **kw)
        )
        x += width_before + text_width(label, size) + 18

    for value_class, explanation_key in explanations.VALUE_CLASSES.items():
        style = VALUE_CLASS_STYLE[value_class]
        add(
            "value_class",
            style["label"],
            explanations.ALL[explanation_key].tooltip,
            style["tag_w"] + 5,
            style=style,
        )
    add("triangle", "Queue (planned WIP)", explanations.ALL["inventory_triangle"].tooltip, 24)
    add("arrow", "Push to next step", "The deal moves on to the next step.", 30)
    add("burst", "Kaizen under way", explanations.ALL["kaizen_burst"].tooltip, 24)
    add("marker", "Motion waste", explanations.ALL["motion_waste"].tooltip, 26, symbol="MW")
    add("marker", "Unused talent", explanations.ALL["unused_talent"].tooltip, 26, symbol="UT")
    if data.measured is None:
        add(
            "note",
            "Measured figures: not measured yet",
            explanations.ALL["planned_vs_measured"].tooltip,
            0,
        )
    return items


def vsm_layout(data: VsmMap) -> Layout:
    """Coordinates and display strings of every element of the drawing."""
    uid = f"vsm-{data.stream_id if data.stream_id is not None else 'map'}"
    lanes = list(data.lanes)
    known_lane_ids = {lane.id for lane in lanes}
    for step in data.steps:  # defensive: a step whose lane was not loaded still gets a band
        if step.lane_id not in known_lane_ids:
            lanes.append(VsmLane(id=step.lane_id, name="(unknown lane)", position=10**6))
            known_lane_ids.add(step.lane_id)
    lane_index = {lane.id: i for i, lane in enumerate(lanes)}
    steps = data.steps
    stage_by_id = {stage.id: stage for stage in data.stages}

    has_stages = any(step.stage_id in stage_by_id for step in steps)
    stage_y = HEADER_H
    lanes_top = HEADER_H + (STAGE_H + STAGE_GAP if has_stages else 0)
    n_cols = len(steps)
    cols_left = MARGIN + LABEL_W
    steps_right = cols_left + n_cols * COL_W
    lane_right = steps_right + (TOTALS_W if steps else 0)
    lanes_bottom = lanes_top + LANE_H * max(len(lanes), 1 if not steps else 0)

    lane_bands = []
    for i, lane in enumerate(lanes):
        y = lanes_top + i * LANE_H
        name_lines = wrap(lane.name, LABEL_W - 20, 12.5, bold=True, lines=3)
        cost = format_money_per_hour(lane.hourly_cost, data.currency)
        block_h = len(name_lines) * 15 + (15 if cost else 0)
        first = y + (LANE_H - block_h) / 2 + 11
        lane_bands.append(
            LaneBand(
                y=y,
                height=LANE_H,
                fill=_lane_band_color(i),
                name_lines=[Text(MARGIN + 10, first + k * 15, t) for k, t in enumerate(name_lines)],
                cost=Text(MARGIN + 10, first + len(name_lines) * 15, cost) if cost else None,
                tooltip=f"Lane: {lane.name}"
                + (f" — one hour of its work costs {cost.replace(' / h', '')}" if cost else ""),
            )
        )

    # Stage bands: one per run of consecutive steps in the same stage.
    stage_bands = []
    run_start = 0
    for i in range(1, n_cols + 1):
        if i < n_cols and steps[i].stage_id == steps[run_start].stage_id:
            continue
        stage = stage_by_id.get(steps[run_start].stage_id)
        if stage is not None:
            x = cols_left + run_start * COL_W + GAP_W / 2
            width = (i - run_start) * COL_W - 4
            stage_bands.append(
                StageBand(
                    x=x,
                    width=width,
                    label=Text(
                        x + width / 2,
                        stage_y + 15,
                        truncate(stage.name, width - 12, 11.5, bold=True),
                    ),
                    full_name=stage.name,
                    tooltip=f"Funnel stage: {stage.name}. " + explanations.ALL["funnel_stage"].what,
                )
            )
        run_start = i

    measured_steps = data.measured.steps if data.measured is not None else {}
    boxes, inventories, arrows = [], [], []
    for i, step in enumerate(steps):
        col_x = cols_left + i * COL_W
        box_x = col_x + GAP_W
        lane_y = lanes_top + lane_index[step.lane_id] * LANE_H
        box_y = lane_y + BOX_TOP
        style = VALUE_CLASS_STYLE.get(step.value_class, UNKNOWN_STYLE)
        measured = measured_steps.get(step.id)
        has_burst = step.id in data.burst_step_ids
        # the burst covers the top-right corner: keep the title clear of it
        title_room = BOX_W - 14 - (BURST_CLEARANCE if has_burst else 0)
        title_mid = (BOX_W - (BURST_CLEARANCE if has_burst else 0)) / 2
        title_lines = wrap(step.name, title_room, 12, bold=True, lines=2)
        title_top = (BOX_TITLE_H - len(title_lines) * 14) / 2 + 11
        lane_name = lanes[lane_index[step.lane_id]].name
        tooltip_parts = [
            f"{step.position}. {step.name}",
            f"Lane: {lane_name}. {style['label']}.",
        ]
        if step.stage_id in stage_by_id:
            tooltip_parts.append(f"Funnel stage: {stage_by_id[step.stage_id].name}.")
        if step.notes:
            tooltip_parts.append(f"Notes: {step.notes}")
        if step.id in data.burst_step_ids:
            tooltip_parts.append("A kaizen cycle is open on this step.")
        markers = []
        marker_x = 6.0
        for flag, symbol, key in (
            (step.motion_waste, "MW", "motion_waste"),
            (step.unused_talent, "UT", "unused_talent"),
        ):
            if flag:
                markers.append(Marker(marker_x, symbol, explanations.ALL[key].tooltip))
                tooltip_parts.append(f"{explanations.ALL[key].label} recorded.")
                marker_x += 28
        if measured is None:
            measured_header = None
            measured_tooltip = (
                "Not measured yet: no completed visits of this step in the latest metrics window."
            )
        elif measured.low_sample:
            measured_header = f"(n={measured.n})" if measured.n is not None else "(few)"
            measured_tooltip = (
                f"Measured from only {measured.n} completed visits (fewer than 5): read with care."
            )
        else:
            measured_header = "measured"
            measured_tooltip = (
                f"Measured from {measured.n} completed visits."
                if measured.n is not None
                else "Measured."
            )
        boxes.append(
            ProcessBox(
                step_id=step.id,
                x=box_x,
                y=box_y,
                full_name=step.name,
                tooltip="\n".join(tooltip_parts),
                title_lines=[
                    Text(title_mid, title_top + k * 14, t) for k, t in enumerate(title_lines)
                ],
                style=style,
                value_class_label=style["label"],
                rows=_step_rows(step.planned, measured),
                measured_header=measured_header,
                measured_tooltip=measured_tooltip,
                low_sample=bool(measured and measured.low_sample),
                markers=markers,
                burst_points=burst_points(BOX_W - 2, 1) if has_burst else None,
                burst_tooltip=f"Kaizen burst on {step.name}: "
                + explanations.ALL["kaizen_burst"].what,
            )
        )
        # The queue in front of the step, in its lane, right of where the arrow bends.
        tri_cx = col_x + BEND_X + (GAP_W - BEND_X) / 2 + 1
        tri_top = box_y + BOX_TITLE_H + 6
        wip = step.planned.wip
        inventories.append(
            Inventory(
                x=tri_cx,
                y=tri_top,
                points=triangle_points(tri_cx, tri_top),
                count=format_count(wip),
                tooltip=f"Queue in front of {step.name}: {format_count(wip)} deals planned (WIP).",
            )
        )
        if i > 0:
            prev = boxes[i - 1]
            start_x, start_y = prev.x + BOX_W, prev.y + ARROW_Y
            end_x, end_y = box_x - 1, box_y + ARROW_Y
            if start_y == end_y:
                path = f"M{_n(start_x)},{_n(start_y)} H{_n(end_x - 7)}"
            else:
                bend = col_x + BEND_X
                path = f"M{_n(start_x)},{_n(start_y)} H{_n(bend)} V{_n(end_y)} H{_n(end_x - 7)}"
            head = _points([(end_x, end_y), (end_x - 8, end_y - 4.5), (end_x - 8, end_y + 4.5)])
            arrows.append(Arrow(path=path, head=head))

    # Timeline ladder: lead time up (over the queue), process time down (under the box).
    ladder_top = lanes_bottom + 8
    upper, lower = ladder_top + 18, ladder_top + 36
    ladder_path = ""
    ladder_labels, ladder_pt_labels, ladder_totals, ladder_captions = [], [], [], []
    if steps:
        parts = [f"M{_n(cols_left)},{_n(upper)}"]
        for i, step in enumerate(steps):
            col_x = cols_left + i * COL_W
            box_x = col_x + GAP_W
            parts.append(f"H{_n(box_x)} V{_n(lower)} H{_n(box_x + BOX_W)}")
            if i < n_cols - 1:
                parts.append(f"V{_n(upper)}")
            ladder_labels.append(
                Text(col_x + GAP_W / 2, upper - 5, format_hours(step.planned.lead_hours))
            )
            ladder_pt_labels.append(
                Text(box_x + BOX_W / 2, lower + 13, format_work_hours(step.planned.process_hours))
            )
        ladder_path = " ".join(parts)
        ladder_captions = [
            Text(MARGIN + 10, upper + 4, "Lead time"),
            Text(MARGIN + 10, lower + 4, "Process time"),
        ]
        ladder_totals = [
            Text(
                steps_right + 10,
                upper + 4,
                f"= {format_hours(data.planned_summary.lead_time_hours)}",
            ),
            Text(
                steps_right + 10,
                lower + 4,
                f"= {format_work_hours(data.planned_summary.process_time_hours)}",
            ),
        ]
    bottom = ladder_top + LADDER_H if steps else lanes_bottom + 12

    summary = None
    width = lane_right + MARGIN
    if steps:
        summary_x = lane_right + 12
        summary = _summary(data, summary_x, bottom - 4)
        width = summary_x + SUMMARY_W + MARGIN
        # a short map: the summary box may be taller than lanes + ladder
        if summary.y < lanes_top:
            shift = lanes_top - summary.y
            summary = _summary(data, summary_x, bottom - 4 + shift)
            bottom += shift

    empty_message = None
    if not steps:
        lane_right = max(lane_right, cols_left + 460)
        left = cols_left + 24 if lanes else MARGIN
        note_w, note_h = lane_right - 24 - left, 44
        note_y = lanes_top + (lanes_bottom - lanes_top - note_h) / 2
        empty_message = EmptyNote(
            x=left,
            y=note_y,
            width=note_w,
            height=note_h,
            text=Text(left + note_w / 2, note_y + 27, "This map has no steps yet"),
        )
        width = lane_right + MARGIN

    legend_y = 41
    legend = _legend(data)
    legend_right = legend[-1].x + text_width(legend[-1].label, 11) + MARGIN if legend else 0
    width = max(width, MIN_WIDTH, legend_right)
    height = bottom + MARGIN - 4

    planned = data.planned_summary
    if steps:
        description = (
            f"{data.state_label} value stream map of {data.name}: {len(steps)} steps in "
            f"{len(lanes)} lanes. Planned total lead time {format_hours(planned.lead_time_hours)}, "
            f"process time {format_work_hours(planned.process_time_hours)}, activity ratio "
            f"{format_ratio(planned.activity_ratio)}."
        )
    else:
        description = f"{data.state_label} value stream map of {data.name}: no steps yet."

    return Layout(
        uid=uid,
        width=math.ceil(width),
        height=math.ceil(height),
        font=FONT,
        title=data.name,
        state_label=data.state_label,
        is_future=data.state == StreamState.FUTURE,
        description=description,
        legend_y=legend_y,
        legend=legend,
        empty_message=empty_message,
        lanes=lane_bands,
        lane_right=lane_right,
        lane_width=lane_right - MARGIN,
        stages=stage_bands,
        stage_y=stage_y,
        boxes=boxes,
        inventories=inventories,
        arrows=arrows,
        ladder_path=ladder_path,
        ladder_top=ladder_top,
        ladder_labels=ladder_labels,
        ladder_pt_labels=ladder_pt_labels,
        ladder_captions=ladder_captions,
        ladder_totals=ladder_totals,
        summary=summary,
    )


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


_MEASURED_MID = 84 + (BOX_W - 84) / 2 + 1


def render_vsm_svg(data: VsmMap) -> str:
    """The map as one ``<svg>`` element (no XML declaration, so it can be inlined in HTML;
    it is also a valid standalone .svg file)."""
    layout = vsm_layout(data)
    return render_to_string(
        "streams/vsm.svg",
        {
            "layout": layout,
            "label_column": MARGIN + LABEL_W,
            "legend_tag_y": layout.legend_y - 10,
            "box": {
                "w": BOX_W,
                "h": BOX_H,
                "title_h": BOX_TITLE_H,
                "tag_y": BOX_TITLE_H + 3.5,
                "header_y": BOX_TITLE_H + 12,
                "label_x": 6,
                "planned_x": 84,
                "measured_x": BOX_W - 7,
                # "not measured yet", once per box, stacked in the measured column
                "not_measured": [
                    Text(_MEASURED_MID, BOX_TITLE_H + 14 + 13 * k, word)
                    for k, word in enumerate(("not", "measured", "yet"), start=1)
                ],
            },
        },
    ).strip()


def stream_svg(stream: ValueStream) -> str:
    """Read ``stream`` and draw it: ``render_vsm_svg(vsm_map_data(stream))``."""
    return render_vsm_svg(vsm_map_data(stream))


__all__ = (
    "VsmLane",
    "VsmMap",
    "VsmStage",
    "VsmStep",
    "format_hours",
    "render_vsm_svg",
    "stream_svg",
    "vsm_layout",
    "vsm_map_data",
)
