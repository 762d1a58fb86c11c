"""What every dashboard chart shares: the palette and layout, the traces and figures the
charts are drawn with (``_bars``, ``_scatter``, ``_hbars`` for a bar a step, ``_blue_and_grey``
for a figure beside what it is compared with, ``_share_line`` on ``_percent_axis2``), what a
chart card holds (``Figure``, ``Chart`` with its empty state, ``Tile``), the stream's map as
the charts name it, the number and time helpers, and the change text of the headline tiles.
The charts themselves live in one module per dashboard beside this one (``funnel``, ``flow``,
``waste``, ``rep``, ``team``), each with its explanation text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from funnel.metrics.query import WORKING
from funnel.metrics.results import MetricsResult, StageMetrics, StepMetrics
from streams.drawing import format_hours

# --- Palette and layout ---------------------------------------------------------------------

BLACK = "#000000"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#8A96A3"
INK = "#1D2733"
GRID = "#E6EAEF"
#: Ordered series (steps of the stream, stages of the funnel) in a sequential palette whose
#: lightness changes steadily (viridis), so order reads without telling hues apart.
VIRIDIS = (
    "#440154",
    "#482878",
    "#3E4A89",
    "#31688E",
    "#26828E",
    "#1F9E89",
    "#35B779",
    "#6DCD59",
    "#B4DE2C",
    "#FDE725",
)
#: Distinct series in a fixed order, with a marker shape each.
SERIES = (
    (BLUE, "circle"),
    (ORANGE, "square"),
    (GREEN, "diamond"),
    (PURPLE, "triangle-up"),
    (VERMILLION, "x"),
    (SKY, "star"),
    (BLACK, "cross"),
)
#: One colour per waste, the same on every chart of the waste dashboard.
WASTE_COLOURS = {
    "waiting": SKY,
    "defects": VERMILLION,
    "extra_processing": PURPLE,
    "overproduction": ORANGE,
    "inventory": BLUE,
    "transport": GREEN,
}
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


LEGEND = {
    "orientation": "h",
    "x": 0,
    "xanchor": "left",
    "y": 1.02,
    "yanchor": "bottom",
    "font": {"size": 12},
    "traceorder": "normal",
}


def _axis(**extra: Any) -> dict:
    return {
        "automargin": True,
        "gridcolor": GRID,
        "zeroline": False,
        "linecolor": "#9AA7B4",
        "ticks": "outside",
        "tickcolor": "#9AA7B4",
        "title": {"standoff": 8},
        **extra,
    }


def _layout(
    *,
    height: int = 320,
    xaxis: dict | None = None,
    yaxis: dict | None = None,
    right: int = 12,
    top: int = 8,
    **extra: Any,
) -> dict:
    """The layout every figure shares; ``right`` and ``top``: the margins, widened for labels
    written beside the plot or panel titles above it."""
    layout = {
        "height": height,
        "autosize": True,
        "margin": {"l": 8, "r": right, "t": top, "b": 8, "pad": 2},
        "font": {**FONT, "color": INK},
        "paper_bgcolor": "#FFFFFF",
        "plot_bgcolor": "#FFFFFF",
        "separators": ".,",
        "xaxis": _axis(**(xaxis or {})),
        "yaxis": _axis(**(yaxis or {})),
        "legend": LEGEND,
        "hoverlabel": {"font": {"size": 13}, "namelength": -1},
    }
    layout.update(extra)
    return layout


def _plot(
    data: list[dict], *, label: str, caption: str = "", detail: str = "", **layout: Any
) -> Figure:
    """One figure of a chart: its traces on the shared layout (``_layout(**layout)``)."""
    return Figure(
        {"data": data, "layout": _layout(**layout)}, caption=caption, label=label, detail=detail
    )


def _bars(
    name: str, categories: list, values: list, *, horizontal: bool = True, **extra: Any
) -> dict:
    """A bar trace, one bar per category: across the plot (``horizontal``, the categories
    down the y axis, as step and stage names are) or up it. ``extra``: its marker, text, hover
    and so on, in that order in the spec."""
    axes = {"y": categories, "x": values} if horizontal else {"x": categories, "y": values}
    return {
        "type": "bar",
        **({"orientation": "h"} if horizontal else {}),
        "name": name,
        **axes,
        **extra,
    }


def _blue_and_grey(
    categories: list, blue: dict, grey: dict, *, horizontal: bool = True
) -> list[dict]:
    """Two bars per category: a figure in blue and, beside it in grey, what it is compared
    with (the previous period, the team). ``blue`` and ``grey`` hold the ``_bars`` arguments
    of each: its name, values and other settings (hover, labels)."""
    return [
        _bars(categories=categories, horizontal=horizontal, marker=marker, **bars)
        for bars, marker in ((blue, {"color": BLUE}), (grey, _before_marker()))
    ]


def _scatter(mode: str, name: str, x: list, y: list, **extra: Any) -> dict:
    """A scatter trace (``mode``: lines, markers or both); ``extra`` as for ``_bars``."""
    return {"type": "scatter", "mode": mode, "name": name, "x": x, "y": y, **extra}


#: The thin white outline of a dot or bar segment, so that neighbours stay apart.
_WHITE_EDGE = {"color": "#FFFFFF", "width": 0.5}


def _share_line(name: str, x: list, y: list, *, size: int, **extra: Any) -> dict:
    """A black line of shares (%) over bars, on the right-hand axis (``_percent_axis2``)."""
    return _scatter(
        "lines+markers",
        name,
        x,
        y,
        yaxis="y2",
        line={"color": BLACK, "width": 2},
        marker={"size": size},
        **extra,
    )


def _pareto_line(x: list, y: list, *, hovertemplate: str) -> dict:
    """A Pareto's running share (%) of the bars below it, biggest first (``_share_line``)."""
    return _share_line("Cumulative share", x, y, size=7, hovertemplate=hovertemplate)


def _text_outside(text: list[str]) -> dict:
    """Each bar's label written beyond its end, even past the plot's edge (``**`` it into a
    trace)."""
    return {"text": text, "textposition": "outside", "cliponaxis": False}


def _percent_axis2(title: str, top: int) -> dict:
    """A second y axis on the right, 0 to ``top`` %, for a line of shares over bars."""
    return {
        "overlaying": "y",
        "side": "right",
        "range": [0, top],
        "tickvals": [0, 25, 50, 75, 100],
        "ticksuffix": "%",
        "showgrid": False,
        "automargin": True,
        "title": {"text": title},
    }


def _before_marker() -> dict:
    """The bar of a figure to compare with (the previous period, the team): light grey with a
    grey outline, so that it reads as the background of the blue bar beside it."""
    return {"color": "#C5CDD6", "line": {"color": GREY, "width": 1}}


def _title(text: str) -> dict:
    return {"text": text}


def as_figure(spec: dict) -> Any:
    """The spec as a validated ``plotly.graph_objects.Figure`` (raises on a wrong property);
    for tests and for people exporting a chart from Python."""
    import plotly.graph_objects as go

    return go.Figure(spec)


# --- What a chart card holds ----------------------------------------------------------------


#: The data table under a chart shows at most this many rows; the CSV has them all.
TABLE_ROWS = 100


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        text = f"{value:,.2f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


@dataclass
class Figure:
    """One Plotly figure of a chart; ``caption`` names it when a chart has several (small
    multiples)."""

    spec: dict
    caption: str = ""
    label: str = ""  # what a screen reader announces for the drawing
    detail: str = ""  # a line under the caption

    @property
    def json(self) -> str:
        """The spec as JSON that is safe inside ``<script type="application/json">``."""
        text = json.dumps(self.spec, separators=(",", ":"), allow_nan=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass
class Chart:
    """A chart card. ``rows`` under ``columns`` are the numbers plotted (the CSV download
    and the data table); ``figures`` is empty when there is nothing to plot, and ``empty``
    then says why."""

    key: str
    title: str
    units: str
    how_to_read: str
    as_of: datetime
    columns: list[str]
    rows: list[list]
    figures: list[Figure] = field(default_factory=list)
    empty: str = ""
    note: str = ""
    wide: bool = False
    #: A link per row (e.g. to the deal), or None: the table's first cell links there.
    row_links: list[str | None] = field(default_factory=list)
    #: A few rows worth calling out under the chart, as (text, link) pairs.
    highlights: list[tuple[str, str]] = field(default_factory=list)
    highlights_label: str = ""
    #: Where the CSV download is (set by the view, which knows the URL and the filters).
    csv_url: str = ""

    @property
    def has_data(self) -> bool:
        return bool(self.figures)

    def empty_because(self, reason: str) -> Chart:
        """The chart with nothing to plot; the card says ``reason`` instead."""
        self.empty = reason
        return self

    def plotted(self, *figures: Figure) -> Chart:
        """The chart with its ``figures``."""
        self.figures = list(figures)
        return self

    def table(self, limit: int = TABLE_ROWS) -> list[tuple[str | None, list[str]]]:
        """The first ``limit`` rows formatted for the data table, each with its link."""
        links = self.row_links or [None] * len(self.rows)
        return [
            (link, [_cell(value) for value in row])
            for link, row in zip(links[:limit], self.rows[:limit], strict=True)
        ]

    @property
    def truncated(self) -> bool:
        return len(self.rows) > TABLE_ROWS

    @property
    def table_html(self) -> SafeString:
        """The data table's head and body rows as HTML, every value escaped. Built here
        rather than in a template loop: a page has up to 600 rows of cells, and the template
        engine took two thirds of the page's time to render them."""
        head = "".join(f'<th scope="col">{escape(c)}</th>' for c in self.columns)
        body = []
        for link, cells in self.table():
            first = escape(cells[0])
            if link:
                first = f'<a href="{escape(link)}">{first}</a>'
            rest = "".join(f"<td>{escape(cell)}</td>" for cell in cells[1:])
            body.append(f'<tr><th scope="row">{first}</th>{rest}</tr>')
        return mark_safe(f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>")


@dataclass
class Tile:
    """A headline figure with its sample and its change against the previous period.
    ``good`` says whether the change is an improvement (None: neither)."""

    key: str
    label: str
    value: str
    detail: str = ""
    change: str = ""
    good: bool | None = None
    low_sample: bool = False
    help: str = ""

    @property
    def trend(self) -> str:
        if not self.change or self.change.startswith("no change"):
            return "flat"
        return "up" if self.change.startswith("+") else "down"


# --- The stream's map, as the charts name it ------------------------------------------------


@dataclass(frozen=True)
class StepInfo:
    id: int
    name: str
    lane: str
    value_class: str  # value_add, necessary_nva, waste
    motion_waste: bool = False
    unused_talent: bool = False


@dataclass(frozen=True)
class Named:
    """Something a chart or a filter names by its id: a funnel stage, a lane, a person."""

    id: int
    name: str


StageInfo = Named  # a funnel stage of the map


@dataclass(frozen=True)
class StreamMap:
    """What the charts need to name steps and stages, in map order, and the currency."""

    steps: tuple[StepInfo, ...]
    stages: tuple[StageInfo, ...]
    currency: str = "USD"

    def step_name(self, step_id: int | str) -> str:
        return next((s.name for s in self.steps if s.id == int(step_id)), f"Step {step_id}")

    def stage_name(self, stage_id: int | str) -> str:
        return next((s.name for s in self.stages if s.id == int(stage_id)), f"Stage {stage_id}")

    def step(self, step_id: int) -> StepInfo | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def money(self, amount: float | None) -> str:
        if amount is None:
            return "—"
        symbol = CURRENCY_SYMBOLS.get(self.currency)
        return f"{symbol}{amount:,.0f}" if symbol else f"{amount:,.0f} {self.currency}"


# --- Number helpers -------------------------------------------------------------------------


def _r(value: float | None, digits: int = 1) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _pct(fraction: float | None, digits: int = 1) -> float | None:
    return None if fraction is None else _r(100 * fraction, digits)


def _days(hours: float | None, digits: int = 2) -> float | None:
    return None if hours is None else _r(hours / 24, digits)


@dataclass(frozen=True)
class Basis:
    """The time a result's durations are counted in (metrics.md "Working time") and the
    words the charts and tiles name it with: "hours" and "calendar days" in elapsed time,
    "working hours" and "working days" (of the default calendar's working day) in working
    time, where a duration is never shown in 24-hour days."""

    working: bool = False
    day_hours: float = 24.0

    @property
    def hours(self) -> str:
        return "working hours" if self.working else "hours"

    @property
    def days(self) -> str:
        return "working days" if self.working else "calendar days"

    @property
    def short_days(self) -> str:
        """The unit of a change in days: "d", or "working days" (never abbreviated)."""
        return "working days" if self.working else "d"

    @property
    def name(self) -> str:
        return "working time" if self.working else "elapsed time"

    def in_days(self, hours: float | None, digits: int = 2) -> float | None:
        return None if hours is None else _r(hours / self.day_hours, digits)

    def format(self, hours: float | None) -> str:
        """``format_hours``: working time stays in hours, elapsed time turns into days."""
        return format_hours(hours, elapsed=not self.working)


def basis_of(result: MetricsResult) -> Basis:
    return Basis(result.query.basis == WORKING, result.summary.day_hours or 24.0)


def _pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


# Times on the charts: the one place where a stored instant (UTC) becomes a day in the
# viewer's time zone (activated per request by vsm_project.timezones). Weekly and daily
# buckets are counted by the metrics engine in UTC, shared by every viewer, so their axes
# say so instead.


def _zone() -> str:
    return timezone.get_current_timezone_name()


def _local_day(iso: str) -> str:
    """The day an instant fell on in the viewer's time zone: ``2025-01-06``."""
    return timezone.localtime(_when(iso)).date().isoformat()


def _utc_buckets(text: str) -> dict:
    return _title(f"{text} (UTC)")


def _month_label(period: str) -> str:
    year, month = period.split("-")
    names = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{names[int(month) - 1]} {year}"


def _steps_with_names(result: MetricsResult, smap: StreamMap) -> list[tuple[str, StepMetrics]]:
    return [(smap.step_name(s.step_id), s) for s in result.steps]


def _stages_with_names(result: MetricsResult, smap: StreamMap) -> list[tuple[str, StageMetrics]]:
    return [(smap.stage_name(s.stage_id), s) for s in result.stages]


def _steps_beside(
    result: MetricsResult, other: MetricsResult | None, smap: StreamMap
) -> list[tuple[str, StepMetrics, StepMetrics | None]]:
    """Each step of ``result`` with its name and the same step's figures in ``other`` (the
    team's, the previous period's), or None where ``other`` lacks it."""
    theirs = {s.step_id: s for s in (other.steps if other else [])}
    return [(name, s, theirs.get(s.step_id)) for name, s in _steps_with_names(result, smap)]


def _stages_beside(
    result: MetricsResult, other: MetricsResult | None, smap: StreamMap
) -> list[tuple[str, StageMetrics, StageMetrics | None]]:
    """As ``_steps_beside``, for the funnel stages."""
    theirs = {s.stage_id: s for s in (other.stages if other else [])}
    return [(name, s, theirs.get(s.stage_id)) for name, s in _stages_with_names(result, smap)]


def _steps_axis(names: Sequence[str], **extra: Any) -> dict:
    """A category axis of step names, first step on top (for horizontal bars)."""
    return {
        "type": "category",
        "categoryorder": "array",
        "categoryarray": list(names),
        "autorange": "reversed",
        "gridcolor": "rgba(0,0,0,0)",
        **extra,
    }


def _bar_height(rows: int, *, per_row: int = 34, minimum: int = 260) -> int:
    return max(minimum, 90 + per_row * rows)


def _hbars(
    names: list[str],
    data: list[dict],
    *,
    per_row: int = 34,
    ticks: dict | None = None,
    **layout: Any,
) -> Figure:
    """Horizontal bars, a row per name (steps, stages, streams) with the first on top. The
    figure grows with the rows, ``per_row`` pixels a bar (a row holds a bar per trace when
    ``barmode`` is "group"); ``ticks``: more settings of the names' axis."""
    bars = len(names) * (len(data) if layout.get("barmode") == "group" else 1)
    return _plot(
        data,
        height=_bar_height(bars, per_row=per_row),
        yaxis=_steps_axis(names, **(ticks or {})),
        **layout,
    )


def _bar_per_row(
    chart: Chart,
    rows: list[list],
    column: int,
    name: str,
    colour: str | list[str],
    hover: str,
    label: str,
    *,
    axis: dict | None = None,
    text: list[str] | None = None,
    customdata: list | None = None,
    **layout: Any,
) -> Chart:
    """``chart`` plotted as horizontal bars of one series (``name``), a bar per row of
    ``rows`` (the chart's, or the first of them): named by the row's first cell, as long as
    its cell ``column``, in ``colour`` (one, or one a row). ``hover`` is what a bar says on
    hover (``%{y}`` its name, ``%{x}`` its length); ``label`` names the figure for a screen
    reader; ``axis``: the length axis, titled ``name`` unless it says otherwise; ``text``:
    a label written past each bar's end; ``layout`` as for :func:`_hbars`."""
    names = [r[0] for r in rows]
    bars = _bars(
        name,
        names,
        [r[column] for r in rows],
        marker={"color": colour},
        **(_text_outside(text) if text is not None else {}),
        **({"customdata": customdata} if customdata is not None else {}),
        hovertemplate=f"{hover}<extra></extra>",
    )
    xaxis = {"title": _title(name), **(axis or {})}
    return chart.plotted(_hbars(names, [bars], label=label, xaxis=xaxis, **layout))


def _hbars_beside(names: list[str], blue: dict, grey: dict, **layout: Any) -> Figure:
    """Horizontal bars, two a name: ``blue`` beside ``grey`` (:func:`_blue_and_grey`, e.g. this
    period beside the previous one), grouped; ``layout`` as for :func:`_hbars`."""
    return _hbars(names, _blue_and_grey(names, blue, grey), barmode="group", **layout)


# --- Headline tiles: change text ------------------------------------------------------------------


def _change(
    now: float | None,
    before: float | None,
    fmt: Callable[[float], str],
    more_is_better: bool | None,
) -> tuple[str, bool | None]:
    if now is None or before is None:
        return "", None
    diff = now - before
    if abs(diff) < 1e-9:
        return "no change", None
    text = ("+" if diff > 0 else "−") + fmt(abs(diff))
    good = None if more_is_better is None else (diff > 0) == more_is_better
    return text, good


def _relative(
    now: float | None, before: float | None, more_is_better: bool | None
) -> tuple[str, bool | None]:
    if now is None or not before:
        return "", None
    return _change(
        100 * now / before, 100.0, lambda v: f"{v:.1f}%" if v < 10 else f"{v:.0f}%", more_is_better
    )
