"""Dashboard charts: the metric snapshots (``MetricsResult``) and chart series
(``ChartSeries``) of ``funnel.metrics`` turned into Plotly figures, with everything a chart
card shows around them: title, units, how to read it, "as of", the empty state, and the
numbers plotted as a table (the chart's CSV download and its data-table alternative).

Every chart is built the same way: first the rows of its table, then the figure *from those
rows*, so the CSV holds exactly the numbers the chart shows.

Figures are plain Plotly figure specs (``{"data": [...], "layout": {...}}``, the JSON that
``plotly.graph_objects.Figure.to_plotly_json`` gives), not ``Figure`` objects: building a
``Figure`` validates every property, about 8 ms a figure, and a dashboard has up to twenty
figures, which alone would be many times the cost of serving a page. The tests pass every
spec through ``plotly.graph_objects.Figure`` (``as_figure``), so a wrong property still
fails CI.

Colours are the Okabe–Ito palette, readable with every common colour-vision deficiency; where
two series must be told apart they also differ in marker shape, dash or position.
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

from funnel.metrics.results import MetricsResult, StageMetrics, StepMetrics
from funnel.metrics.series import TIME_BIN_LABELS, ChartSeries
from streams.drawing import format_hours, format_work_hours

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
    *, height: int = 320, xaxis: dict | None = None, yaxis: dict | None = None, **extra: Any
) -> dict:
    layout = {
        "height": height,
        "autosize": True,
        "margin": {"l": 8, "r": 12, "t": 8, "b": 8, "pad": 2},
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
class StageInfo:
    id: int
    name: str


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


# --- Funnel dashboard -----------------------------------------------------------------------


def _funnel_spec(
    names: list[str],
    reached: list[int],
    went_on: list[int],
    next_labels: list[str],
    height: int = 320,
) -> dict:
    dropped = [r - w for r, w in zip(reached, went_on, strict=True)]
    conversion = [100 * w / r if r else None for r, w in zip(reached, went_on, strict=True)]
    y = [f"{name} · {n:,}" for name, n in zip(names, reached, strict=True)]
    return {
        "data": [
            {
                "type": "funnel",
                "name": "Went on to the next stage (conversion)",
                "y": y,
                "x": went_on,
                "text": [_pct_text(c) for c in conversion],
                "customdata": next_labels,
                "textinfo": "text",
                "textposition": "inside",
                "insidetextfont": {"color": "#FFFFFF"},
                "marker": {"color": BLUE},
                "connector": {"fillcolor": "#DCE6F0", "line": {"width": 0}},
                "hovertemplate": "%{y}<br>%{x:,} deals went on to %{customdata} "
                "(%{text})<extra></extra>",
            },
            {
                "type": "funnel",
                "name": "Dropped off",
                "y": y,
                "x": dropped,
                "text": [_pct_text(None if c is None else 100 - c) for c in conversion],
                "textinfo": "text",
                "textposition": "inside",
                "insidetextfont": {"color": INK},
                "marker": {"color": ORANGE},
                "hovertemplate": "%{y}<br>%{x:,} deals dropped off (%{text})<extra></extra>",
            },
        ],
        "layout": _layout(
            height=height,
            funnelmode="stack",
            yaxis={"title": {"text": ""}, "ticks": "", "linecolor": "rgba(0,0,0,0)"},
            xaxis={"visible": False},
            uniformtext={"minsize": 10, "mode": "hide"},
        ),
    }


def _funnel_rows(result: MetricsResult, smap: StreamMap) -> list[list]:
    stages = _stages_with_names(result, smap)
    rows = []
    for i, (name, stage) in enumerate(stages):
        following = stages[i + 1][1].reached if i + 1 < len(stages) else result.cohort_won
        went_on = min(following, stage.reached)
        rows.append(
            [
                name,
                stage.reached,
                went_on,
                stage.reached - went_on,
                _pct(stage.conversion),
                _pct(stage.drop_off),
                _pct(stage.cumulative_conversion),
                _r(stage.median_days_in_stage, 2),
            ]
        )
    return rows


FUNNEL_COLUMNS = [
    "stage",
    "reached",
    "went_on",
    "dropped_off",
    "conversion_pct",
    "drop_off_pct",
    "cumulative_conversion_pct",
    "median_days_in_stage",
]


def _next_labels(names: list[str]) -> list[str]:
    return [*names[1:], "won"][: len(names)]


def funnel_chart(result: MetricsResult, smap: StreamMap) -> Chart:
    rows = _funnel_rows(result, smap)
    chart = Chart(
        key="funnel",
        title="Funnel: deals reaching each stage",
        units="deals of the period's cohort",
        how_to_read=(
            "The deals that entered the stream in this period, followed stage by stage: the "
            "blue part of each bar went on to the next stage (the last one: won), the orange "
            "part dropped off there. The percentages are the stage's conversion and drop-off."
        ),
        as_of=result.computed_at,
        columns=FUNNEL_COLUMNS,
        rows=rows,
    )
    if not rows or not rows[0][1]:
        chart.empty = "No deal entered the stream in this period, so there is no funnel yet."
        return chart
    names = [row[0] for row in rows]
    spec = _funnel_spec(
        names, [row[1] for row in rows], [row[2] for row in rows], _next_labels(names)
    )
    chart.figures = [Figure(spec, label="Funnel chart of the deals reaching each stage")]
    chart.note = f"Cohort: {result.cohort_deals:,} deals, {result.cohort_won:,} won so far."
    return chart


def cohort_chart(series: ChartSeries, result: MetricsResult, smap: StreamMap) -> Chart:
    stages = [(s.stage_id, smap.stage_name(s.stage_id)) for s in result.stages]
    rows: list[list] = []
    for cohort in series.cohorts:
        month = _month_label(cohort.period)
        reached = [(name, cohort.reached.get(str(pk), 0)) for pk, name in stages]
        for name, n in [*reached, ("Won", cohort.won)]:
            share = _r(100 * n / cohort.deals, 1) if cohort.deals else None
            rows.append([month, cohort.deals, name, n, share])
    chart = Chart(
        key="cohorts",
        title="Funnel by cohort month",
        units="% of the month's new deals",
        how_to_read=(
            "Deals grouped by the month they entered the stream: each line is the share of a "
            "month's deals that reached a stage, the black dashed line the share won. Falling "
            "lines mean leakage is growing; the latest months are still in progress, so their "
            "later stages are low, and the first and last months count only their days inside "
            "the period."
        ),
        as_of=_when(series.computed_at),
        columns=["cohort_month", "cohort_deals", "stage", "reached", "pct_of_cohort"],
        rows=rows,
        wide=True,
    )
    if not any(cohort.deals for cohort in series.cohorts):
        chart.empty = "No deal entered the stream in this period."
        return chart
    months = [_month_label(c.period) for c in series.cohorts]
    data = []
    for i, name in enumerate([*(name for _, name in stages), "Won"]):
        line = [row for row in rows if row[2] == name]
        won = name == "Won"
        colour, symbol = (BLACK, "star") if won else SERIES[i % len(SERIES)]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": [row[0] for row in line],
                "y": [row[4] for row in line],
                "customdata": [[row[3], row[1]] for row in line],
                "line": {"color": colour, "width": 2.5, "dash": "dash" if won else "solid"},
                "marker": {"symbol": symbol, "size": 8, "color": colour},
                "hovertemplate": f"{name}: %{{y:.1f}}% (%{{customdata[0]:,}} of "
                "%{customdata[1]:,})<extra>%{x}</extra>",
            }
        )
    chart.figures = [
        Figure(
            {
                "data": data,
                "layout": _layout(
                    xaxis={
                        "type": "category",
                        "categoryorder": "array",
                        "categoryarray": months,
                        "title": _title("Month the deals entered"),
                    },
                    yaxis={
                        "title": _title("% of the month's new deals"),
                        "range": [0, 105],
                        "ticksuffix": "%",
                    },
                    hovermode="x unified",
                ),
            },
            label="Line chart of the share of each month's deals reaching each stage",
        )
    ]
    return chart


def closed_per_week_chart(series: ChartSeries, result: MetricsResult) -> Chart:
    t = series.throughput
    rows = []
    for week, won, lost in zip(t.weeks, t.won, t.lost, strict=True):
        closed = won + lost
        rows.append([week, won, lost, closed, _r(100 * won / closed, 1) if closed else None])
    summary = result.summary
    chart = Chart(
        key="closed_per_week",
        title="Win rate: deals won and lost per week",
        units="deals closed per week; win rate in %",
        how_to_read=(
            "Each bar is a week's closed deals, won (blue) and lost (orange), so the whole bar "
            "is the win rate's denominator; the black line is that week's win rate (right axis)."
        ),
        as_of=_when(series.computed_at),
        columns=["week_starting", "won", "lost", "closed", "win_rate_pct"],
        rows=rows,
    )
    if not any(row[3] for row in rows):
        chart.empty = "No deal was won or lost in a whole week of this period."
        return chart
    weeks = [row[0] for row in rows]
    chart.figures = [
        Figure(
            {
                "data": [
                    {
                        "type": "bar",
                        "name": "Won",
                        "x": weeks,
                        "y": [r[1] for r in rows],
                        "marker": {"color": BLUE},
                        "hovertemplate": "Won: %{y}<extra></extra>",
                    },
                    {
                        "type": "bar",
                        "name": "Lost",
                        "x": weeks,
                        "y": [r[2] for r in rows],
                        "marker": {"color": ORANGE},
                        "hovertemplate": "Lost: %{y}<extra></extra>",
                    },
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "name": "Win rate (right axis)",
                        "x": weeks,
                        "y": [r[4] for r in rows],
                        "yaxis": "y2",
                        "line": {"color": BLACK, "width": 2},
                        "marker": {"size": 6},
                        "connectgaps": False,
                        "hovertemplate": "Win rate: %{y:.1f}%<extra></extra>",
                    },
                ],
                "layout": _layout(
                    barmode="stack",
                    hovermode="x unified",
                    xaxis={
                        "type": "date",
                        "title": _utc_buckets("Week starting"),
                        "tickformat": "%d %b",
                    },
                    yaxis={"title": _title("Deals closed")},
                    legend={**LEGEND, "traceorder": "normal"},
                    yaxis2={
                        "overlaying": "y",
                        "side": "right",
                        "range": [0, 100],
                        "tickvals": [0, 25, 50, 75, 100],
                        "ticksuffix": "%",
                        "showgrid": False,
                        "automargin": True,
                        "title": {"text": "Win rate"},
                    },
                ),
            },
            label="Stacked bar chart of deals won and lost per week with the weekly win rate",
        )
    ]
    if summary.closed:
        chart.note = (
            f"Whole period: {summary.won:,} won of {summary.closed:,} closed "
            f"({_pct_text(_pct(summary.win_rate))})."
        )
    return chart


#: The four levers of pipeline velocity: label, field, unit, whether more is better.
LEVERS = (
    ("Open deals", "open_deals", "deals", True),
    ("Win rate", "win_rate", "%", True),
    ("Mean won deal size", "mean_won_amount", "money", True),
    ("Sales cycle", "sales_cycle_days", "days", False),
)


def velocity_levers_chart(
    result: MetricsResult, previous: MetricsResult | None, smap: StreamMap, period_label: str
) -> Chart:
    rows = []
    now_v = result.summary.pipeline_velocity_per_day
    before_v = previous.summary.pipeline_velocity_per_day if previous else None
    for label, name, _, more_is_better in LEVERS:
        now = getattr(result.summary, name)
        before = getattr(previous.summary, name) if previous else None
        if name == "win_rate":
            now, before = _pct(now), _pct(before)
        change = _r(100 * (now / before - 1), 1) if now is not None and before else None
        if now and before:
            ratio = now / before if more_is_better else before / now
            effect = _r(100 * (ratio - 1), 1)
        else:
            effect = None
        rows.append([label, _r(before, 2), _r(now, 2), change, effect])
    change_v = _r(100 * (now_v / before_v - 1), 1) if now_v is not None and before_v else None
    rows.insert(0, ["Pipeline velocity", _r(before_v, 2), _r(now_v, 2), change_v, change_v])
    chart = Chart(
        key="velocity_levers",
        title="Pipeline velocity and its four levers",
        units=f"% change against {period_label}",
        how_to_read=(
            "Pipeline velocity = open deals × win rate × mean won deal size ÷ sales cycle, "
            "the money the pipeline turns into wins per day. Each bar is how much one lever "
            "alone moved velocity against the previous period (a longer cycle slows it); the "
            "four multiply to the top bar."
        ),
        note=("Open deals are the deals open now in both periods, so that lever shows no change."),
        as_of=result.computed_at,
        columns=["lever", "previous", "current", "change_pct", "effect_on_velocity_pct"],
        rows=rows,
    )
    if now_v is None:
        chart.empty = (
            "Pipeline velocity needs won deals with amounts and a sales cycle in this period."
        )
        return chart
    if any(row[4] is None for row in rows):
        chart.empty = "The previous period has no pipeline velocity to compare with."
        return chart
    labels = [row[0] for row in rows]
    effects = [row[4] for row in rows]
    span = max(1.0, *(abs(e) for e in effects))
    x_range = [min(0.0, *effects) - 0.05 * span, max(0.0, *effects) + 0.05 * span]
    # Each bar's value in a column right of the plot, level with its bar: a label written
    # beside a negative bar ran into the lever names on a phone.
    values = [
        {
            "xref": "paper",
            "x": 1,
            "xanchor": "left",
            "xshift": 6,
            "yref": "y",
            "y": label,
            "text": f"{effect:+.1f}%",
            "showarrow": False,
            "font": {"color": INK},
        }
        for label, effect in zip(labels, effects, strict=True)
    ]
    chart.figures = [
        Figure(
            {
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "Effect on velocity",
                        "y": labels,
                        "x": effects,
                        "marker": {
                            "color": [BLUE if e >= 0 else VERMILLION for e in effects],
                            "pattern": {"shape": ["" if e >= 0 else "/" for e in effects]},
                        },
                        "customdata": [
                            [_lever_text(r[1], r, smap), _lever_text(r[2], r, smap)] for r in rows
                        ],
                        "hovertemplate": "%{y}: %{customdata[0]} → %{customdata[1]}<br>"
                        "effect on velocity %{x:+.1f}%<extra></extra>",
                    }
                ],
                "layout": _layout(
                    height=280,
                    showlegend=False,
                    xaxis={
                        "title": _title("Effect on pipeline velocity (%)"),
                        "range": x_range,
                        "ticksuffix": "%",
                        "zeroline": True,
                        "zerolinecolor": INK,
                    },
                    yaxis=_steps_axis(labels),
                    annotations=values,
                    margin={"l": 8, "r": 64, "t": 8, "b": 8, "pad": 2},
                ),
            },
            label="Bar chart of how each lever moved pipeline velocity",
        )
    ]
    return chart


def _lever_text(value: float | None, row: list, smap: StreamMap) -> str:
    if value is None:
        return "—"
    unit = {label: unit for label, _, unit, _ in LEVERS}.get(row[0])
    if row[0] == "Pipeline velocity":
        return f"{smap.money(value)}/day"
    if unit == "money":
        return smap.money(value)
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "days":
        return f"{value:.1f} d"
    return f"{value:,.0f}"


def stage_time_chart(
    result: MetricsResult, previous: MetricsResult | None, smap: StreamMap, period_label: str
) -> Chart:
    before = {s.stage_id: s for s in (previous.stages if previous else [])}
    rows = []
    for name, stage in _stages_with_names(result, smap):
        prior = before.get(stage.stage_id)
        rows.append(
            [
                name,
                _r(stage.median_days_in_stage, 2),
                stage.n_left,
                _r(prior.median_days_in_stage, 2) if prior else None,
            ]
        )
    chart = Chart(
        key="stage_time",
        title="Sales cycle by stage: median time in each stage",
        units="days",
        how_to_read=(
            "How long a deal typically spends in each funnel stage before it moves on or is "
            "lost, this period (blue) against the previous one (grey). The longest bar is "
            "where the sales cycle goes."
        ),
        as_of=result.computed_at,
        columns=["stage", "median_days", "deals_that_left", "previous_median_days"],
        rows=rows,
    )
    if not any(row[1] is not None for row in rows):
        chart.empty = "No deal of this period's cohort has left a stage yet."
        return chart
    names = [row[0] for row in rows]
    chart.figures = [
        Figure(
            {
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "This period",
                        "y": names,
                        "x": [r[1] for r in rows],
                        "marker": {"color": BLUE},
                        "customdata": [r[2] for r in rows],
                        "hovertemplate": "%{y}: %{x:.1f} d (%{customdata} deals)"
                        "<extra>this period</extra>",
                    },
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": period_label.capitalize(),
                        "y": names,
                        "x": [r[3] for r in rows],
                        "marker": {"color": "#C5CDD6", "line": {"color": GREY, "width": 1}},
                        "hovertemplate": "%{y}: %{x:.1f} d<extra>previous</extra>",
                    },
                ],
                "layout": _layout(
                    height=_bar_height(2 * len(rows), per_row=22),
                    barmode="group",
                    xaxis={"title": _title("Median days in stage")},
                    yaxis=_steps_axis(names),
                ),
            },
            label="Bar chart of the median days in each funnel stage",
        )
    ]
    return chart


# --- Flow dashboard -------------------------------------------------------------------------


def cumulative_flow_chart(series: ChartSeries, result: MetricsResult, smap: StreamMap) -> Chart:
    flow = series.cumulative_flow
    steps = [
        (str(s.step_id), smap.step_name(s.step_id))
        for s in result.steps
        if str(s.step_id) in flow.reached
    ]
    columns = ["day", *[name for _, name in steps], "Won"]
    rows = [
        [day, *[flow.reached[key][k] for key, _ in steps], flow.won[k] if flow.won else 0]
        for k, day in enumerate(flow.days)
    ]
    chart = Chart(
        key="cumulative_flow",
        title="Cumulative flow by step",
        units="deals (cumulative since the period began)",
        how_to_read=(
            "Each band's top edge counts the deals that have reached a step since the period "
            "began; the band's height at a day is the work in progress between that step and "
            "the next, its width how long deals take. Widening bands are queues growing; "
            "parallel bands are steady flow."
        ),
        as_of=_when(series.computed_at),
        columns=columns,
        rows=rows,
        wide=True,
    )
    if not rows or not any(any(row[1:]) for row in rows):
        chart.empty = "No deal reached a step in this period."
        return chart
    days = [row[0] for row in rows]
    colours = _sequential(len(steps) + 1)
    data = []
    # Bottom first, so each band fills down to the line below it: Won, then the last step up.
    order = [("Won", len(columns) - 1, colours[-1])] + [
        (name, i + 1, colours[i]) for i, (_, name) in reversed(list(enumerate(steps)))
    ]
    for j, (name, col, colour) in enumerate(order):
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "x": days,
                "y": [row[col] for row in rows],
                "line": {"color": colour, "width": 1.2},
                "fill": "tozeroy" if j == 0 else "tonexty",
                "fillcolor": _alpha(colour, 0.85),
                "hovertemplate": f"{name}: %{{y:,}}<extra></extra>",
            }
        )
    chart.figures = [
        Figure(
            {
                "data": data,
                "layout": _layout(
                    height=420,
                    hovermode="x unified",
                    legend={
                        "traceorder": "reversed",
                        "orientation": "v",
                        "x": 1.01,
                        "xanchor": "left",
                        "y": 1,
                        "yanchor": "top",
                        "font": {"size": 12},
                    },
                    xaxis={"type": "date", "title": _utc_buckets("Day"), "tickformat": "%d %b"},
                    yaxis={"title": _title("Deals (cumulative)")},
                ),
            },
            label="Cumulative flow diagram of deals reaching each step per day",
        )
    ]
    return chart


def _sequential(n: int) -> list[str]:
    if n <= 1:
        return [VIRIDIS[0]]
    return [VIRIDIS[round(i * (len(VIRIDIS) - 1) / (n - 1))] for i in range(n)]


def _alpha(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def cycle_time_chart(
    series: ChartSeries, result: MetricsResult, deal_url: Callable[[int], str]
) -> Chart:
    cycle = series.cycle_times
    rows: list[list] = [
        ["deal", p["deal_id"], _local_day(p["closed_at"]), _r(p["days"], 2)] for p in cycle.points
    ]
    lines = [("p50", cycle.p50), ("p85", cycle.p85), ("p95", cycle.p95)]
    rows += [[name, None, None, _r(value, 2)] for name, value in lines if value is not None]
    chart = Chart(
        key="cycle_times",
        title="Cycle time of won deals",
        units="days from first step to won",
        how_to_read=(
            "Each dot is a deal won in this period: when it closed (across) and how many days "
            "it took from its first step (up). Half the deals took less than the p50 line, "
            "85 in 100 less than p85, 95 in 100 less than p95: use p85 to promise dates. "
            "Click a dot to open the deal."
        ),
        as_of=_when(series.computed_at),
        columns=["series", "deal_id", "closed_on", "days"],
        rows=rows,
        row_links=[deal_url(r[1]) if r[0] == "deal" else None for r in rows],
    )
    if not cycle.n:
        chart.empty = "No deal was won in this period."
        return chart
    deals = [r for r in rows if r[0] == "deal"]
    if cycle.n > len(deals):
        chart.note = (
            f"Showing the {len(deals):,} latest of {cycle.n:,} won deals; the lines are over "
            "all of them."
        )
    x0, x1 = deals[0][2], deals[-1][2]
    data: list[dict] = [
        {
            # Plain SVG even at CYCLE_POINTS dots: the served plotly.js bundle has no WebGL.
            "type": "scatter",
            "mode": "markers",
            "name": "Won deal",
            "x": [r[2] for r in deals],
            "y": [r[3] for r in deals],
            "customdata": [[deal_url(r[1]), r[1]] for r in deals],
            "marker": {
                "color": BLUE,
                "size": 7,
                "opacity": 0.7,
                "line": {"color": "#FFFFFF", "width": 0.5},
            },
            "hovertemplate": "Deal %{customdata[1]}<br>won %{x|%d %b %Y}<br>"
            "%{y:.1f} days<extra></extra>",
        }
    ]
    styles = {"p50": (BLACK, "solid"), "p85": (ORANGE, "dash"), "p95": (VERMILLION, "dot")}
    annotations = []
    for name, value, *_ in [r[0:1] + r[3:4] for r in rows if r[0] != "deal"]:
        colour, dash = styles[name]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{name}: {value:.1f} d",
                "x": [x0, x1],
                "y": [value, value],
                "line": {"color": colour, "width": 2, "dash": dash},
                "hovertemplate": f"{name}: {value:.1f} days<extra></extra>",
            }
        )
        annotations.append(
            {
                "xref": "paper",
                "x": 1,
                "xanchor": "right",
                "y": value,
                "yanchor": "bottom",
                "text": f"{name} {value:.0f} d",
                "showarrow": False,
                "font": {"color": colour if colour != ORANGE else "#8A5A00", "size": 12},
                "bgcolor": "rgba(255,255,255,0.8)",
            }
        )
    chart.figures = [
        Figure(
            {
                "data": data,
                "layout": _layout(
                    height=380,
                    xaxis={
                        "type": "date",
                        "title": _title(f"Day the deal was won ({_zone()})"),
                        "tickformat": "%d %b",
                    },
                    yaxis={"title": _title("Sales cycle (days)"), "rangemode": "tozero"},
                    annotations=annotations,
                    hovermode="closest",
                ),
            },
            label="Scatterplot of the cycle time of each won deal with p50, p85 and p95 lines",
        )
    ]
    return chart


def time_in_step_chart(series: ChartSeries, result: MetricsResult, smap: StreamMap) -> Chart:
    counts = series.time_in_step.counts
    rows = []
    for step in result.steps:
        for label, n in zip(TIME_BIN_LABELS, counts.get(str(step.step_id), []), strict=False):
            rows.append([smap.step_name(step.step_id), label, n])
    chart = Chart(
        key="time_in_step",
        title="Time in step, per step",
        units="visits that left the step, by time spent there",
        how_to_read=(
            "One histogram per step: how many visits that ended in this period spent each "
            "length of time at the step (the bins double: under an hour, 1–2 h, 2–4 h …). A "
            "long tail to the right is deals waiting; two humps are two ways of working."
        ),
        as_of=_when(series.computed_at),
        columns=["step", "time_in_step", "visits"],
        rows=rows,
        wide=True,
    )
    figures = []
    for step in result.steps:
        step_counts = counts.get(str(step.step_id), [])
        if not any(step_counts):
            continue
        name = smap.step_name(step.step_id)
        detail = f"median {format_hours(step.median_hours)} · n = {step.n_completed:,}"
        figures.append(
            Figure(
                {
                    "data": [
                        {
                            "type": "bar",
                            "name": name,
                            "x": list(TIME_BIN_LABELS),
                            "y": list(step_counts),
                            "marker": {"color": BLUE},
                            "hovertemplate": "%{x}: %{y:,} visits<extra></extra>",
                        }
                    ],
                    "layout": _layout(
                        height=210,
                        showlegend=False,
                        bargap=0.08,
                        xaxis={
                            "type": "category",
                            "tickangle": -45,
                            "tickfont": {"size": 10},
                            "categoryorder": "array",
                            "categoryarray": list(TIME_BIN_LABELS),
                        },
                        yaxis={
                            "title": _title("Visits"),
                            "tickfont": {"size": 11},
                            "rangemode": "tozero",
                        },
                    ),
                },
                caption=name,
                detail=detail,
                label=f"Histogram of the time visits spent at {name}",
            )
        )
    if not figures:
        chart.empty = "No visit left a step in this period."
    chart.figures = figures
    return chart


def throughput_chart(series: ChartSeries, result: MetricsResult) -> Chart:
    t = series.throughput
    limits = t.limits
    upper = _r(limits.upper, 2)
    lower = _r(limits.lower, 2) if limits.lower is not None and limits.lower > 0 else None
    mean = _r(limits.mean, 2)
    rows = []
    for week, won in zip(t.weeks, t.won, strict=True):
        signal = upper is not None and (won > upper or (lower is not None and won < lower))
        rows.append([week, won, mean, upper, lower, signal])
    chart = Chart(
        key="throughput",
        title="Throughput: deals won per week, with natural process limits",
        units="deals won per week",
        how_to_read=(
            "Deals won each whole week (blue), their mean (black) and the XmR natural process "
            "limits (dashed, mean ± 2.66 × the mean week-to-week change). Weeks inside the "
            "limits are routine variation; a red diamond outside them is a signal worth a look."
        ),
        as_of=_when(series.computed_at),
        columns=["week_starting", "won", "mean", "upper_limit", "lower_limit", "signal"],
        rows=rows,
    )
    if not rows:
        chart.empty = "The period is shorter than a whole week."
        return chart
    if not any(t.won):
        chart.empty = "No deal was won in this period."
        return chart
    weeks = [r[0] for r in rows]
    data: list[dict] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Won per week",
            "x": weeks,
            "y": [r[1] for r in rows],
            "line": {"color": BLUE, "width": 2.5},
            "marker": {"size": 7, "color": BLUE},
            "hovertemplate": "Week of %{x|%d %b}: %{y} won<extra></extra>",
        },
    ]
    for name, col, colour, dash in (
        ("Mean", 2, BLACK, "solid"),
        ("Upper limit", 3, VERMILLION, "dash"),
        ("Lower limit", 4, VERMILLION, "dash"),
    ):
        if rows[0][col] is None:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{name} {rows[0][col]:.1f}",
                "x": weeks,
                "y": [r[col] for r in rows],
                "line": {"color": colour, "width": 1.5, "dash": dash},
                "hovertemplate": f"{name}: %{{y:.1f}}<extra></extra>",
            }
        )
    signals = [r for r in rows if r[5]]
    if signals:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Signal",
                "x": [r[0] for r in signals],
                "y": [r[1] for r in signals],
                "marker": {
                    "symbol": "diamond",
                    "size": 13,
                    "color": VERMILLION,
                    "line": {"color": INK, "width": 1},
                },
                "hovertemplate": "Signal: %{y} won in the week of %{x|%d %b}<extra></extra>",
            }
        )
    chart.figures = [
        Figure(
            {
                "data": data,
                "layout": _layout(
                    height=340,
                    hovermode="closest",
                    xaxis={
                        "type": "date",
                        "title": _utc_buckets("Week starting"),
                        "tickformat": "%d %b",
                    },
                    yaxis={"title": _title("Deals won"), "rangemode": "tozero"},
                ),
            },
            label="Run chart of deals won per week with natural process limits",
        )
    ]
    return chart


def _jitter(deal_id: int) -> float:
    """A fixed offset in [-0.3, 0.3) per deal, so dots of one step spread out the same way on
    every load."""
    return ((deal_id * 2654435761) % 1000) / 1000 * 0.6 - 0.3


def aging_chart(
    series: ChartSeries,
    result: MetricsResult,
    smap: StreamMap,
    deal_url: Callable[[int], str],
    *,
    key: str = "aging",
    title: str = "Aging work in progress",
) -> Chart:
    aging = series.aging
    order = [s.step_id for s in result.steps]
    position = {step_id: i for i, step_id in enumerate(order)}
    thresholds = {int(k): v for k, v in aging.thresholds.items()}
    items = sorted(
        (i for i in aging.items if i["step_id"] in position),
        key=lambda i: (position[i["step_id"]], -i["age_hours"]),
    )
    rows = [
        [
            i["deal_id"],
            smap.step_name(i["step_id"]),
            _days(i["age_hours"]),
            _r(i["amount"], 2),
            bool(i["stalled"]),
            _days(thresholds.get(i["step_id"])),
        ]
        for i in items
    ]
    chart = Chart(
        key=key,
        title=title,
        units="days at the current step",
        how_to_read=(
            "Every open deal, at the step it is in now, by how long it has been there. Red "
            "diamonds are stalled: older than the step's usual time (its p85, the black tick). "
            "Click a dot to open the deal; the oldest stalled deals are listed below."
        ),
        as_of=_when(series.now_at),
        columns=["deal_id", "step", "age_days", "amount", "stalled", "stall_threshold_days"],
        rows=rows,
        row_links=[deal_url(r[0]) for r in rows],
        wide=True,
    )
    if not rows:
        chart.empty = "No deal is open now."
        return chart
    names = [smap.step_name(step_id) for step_id in order]
    shown = {step_id: 0 for step_id in order}
    for i in items:
        shown[i["step_id"]] += 1
    cut = [
        f"{smap.step_name(pk)} ({shown[pk]} of {aging.counts[str(pk)]:,})"
        for pk in order
        if aging.counts.get(str(pk), 0) > shown[pk]
    ]
    if cut:
        chart.note = "Showing the oldest open deals of each step: " + ", ".join(cut) + "."
    data = []
    for stalled, name, colour, symbol, size in (
        (False, "Open", BLUE, "circle", 8),
        (True, "Stalled", VERMILLION, "diamond", 10),
    ):
        group = [(i, r) for i, r in zip(items, rows, strict=True) if r[4] is stalled]
        if not group:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": name,
                "x": [r[2] for _, r in group],
                "y": [position[i["step_id"]] + _jitter(i["deal_id"]) for i, _ in group],
                "customdata": [
                    [
                        deal_url(r[0]),
                        r[0],
                        r[1],
                        smap.money(r[3]) if r[3] is not None else "no amount",
                    ]
                    for _, r in group
                ],
                "marker": {
                    "color": colour,
                    "symbol": symbol,
                    "size": size,
                    "opacity": 0.85,
                    "line": {"color": "#FFFFFF", "width": 0.5},
                },
                "hovertemplate": "Deal %{customdata[1]} · %{customdata[3]}<br>"
                "%{customdata[2]}: %{x:.1f} days<extra>" + name.lower() + "</extra>",
            }
        )
    marks = [
        (position[pk], _days(thresholds.get(pk))) for pk in order if thresholds.get(pk) is not None
    ]
    if marks:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Stall threshold (p85)",
                "x": [x for _, x in marks],
                "y": [y for y, _ in marks],
                "marker": {
                    "symbol": "line-ns-open",
                    "size": 26,
                    "color": BLACK,
                    "line": {"width": 2.5, "color": BLACK},
                },
                "hovertemplate": "Stalled after %{x:.1f} days<extra></extra>",
            }
        )
    chart.figures = [
        Figure(
            {
                "data": data,
                "layout": _layout(
                    height=_bar_height(len(order), per_row=46),
                    hovermode="closest",
                    xaxis={"title": _title("Days at the current step"), "rangemode": "tozero"},
                    yaxis={
                        "tickmode": "array",
                        "tickvals": list(range(len(order))),
                        "ticktext": names,
                        "autorange": "reversed",
                        "showgrid": False,
                        "zeroline": False,
                        "range": [len(order) - 0.5, -0.5],
                    },
                ),
            },
            label="Strip chart of open deals by step and age, stalled deals highlighted",
        )
    ]
    stalled = sorted((r for r in rows if r[4]), key=lambda r: -(r[2] or 0))[:8]
    chart.highlights = [
        (
            f"Deal {r[0]} · {r[1]} · {r[2]:.0f} d"
            + (f" · {smap.money(r[3])}" if r[3] is not None else ""),
            deal_url(r[0]),
        )
        for r in stalled
    ]
    chart.highlights_label = "Oldest stalled deals"
    return chart


def littles_law_chart(result: MetricsResult, smap: StreamMap) -> Chart:
    rows = []
    for name, s in _steps_with_names(result, smap):
        predicted = (
            s.throughput_per_week / 168 * s.mean_hours
            if s.throughput_per_week is not None and s.mean_hours is not None
            else None
        )
        rows.append(
            [
                name,
                _r(s.avg_wip, 2),
                _r(s.throughput_per_week, 2),
                _days(s.mean_hours),
                _r(predicted, 2),
                _r(s.littles_law_ratio, 2),
            ]
        )
    chart = Chart(
        key="littles_law",
        title="Little's law: work in progress against throughput × time in step",
        units="deals",
        how_to_read=(
            "For a stable step the deals in it on average (blue) equal its throughput times "
            "the mean time a deal spends there (orange): the ratio is near 1. A ratio well "
            "above 1 means WIP is piling up faster than it leaves; well below 1, the step is "
            "draining."
        ),
        as_of=result.computed_at,
        columns=[
            "step",
            "avg_wip",
            "throughput_per_week",
            "mean_days_in_step",
            "throughput_x_time",
            "ratio",
        ],
        rows=rows,
        wide=True,
    )
    if not any(r[1] is not None and r[4] is not None for r in rows):
        chart.empty = "No step has both work in progress and completed visits in this period."
        return chart
    names = [r[0] for r in rows]
    chart.figures = [
        Figure(
            {
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "Average WIP (measured)",
                        "y": names,
                        "x": [r[1] for r in rows],
                        "marker": {"color": BLUE},
                        "text": [f"ratio {r[5]:.2f}" if r[5] is not None else "" for r in rows],
                        "textposition": "outside",
                        "cliponaxis": False,
                        "hovertemplate": "%{y}: %{x:.1f} deals on average<extra></extra>",
                    },
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "Throughput × time in step",
                        "y": names,
                        "x": [r[4] for r in rows],
                        "marker": {"color": ORANGE, "pattern": {"shape": "/"}},
                        "customdata": [[r[2], r[3]] for r in rows],
                        "hovertemplate": "%{y}: %{customdata[0]:.1f}/week × %{customdata[1]:.1f} d"
                        " = %{x:.1f} deals<extra></extra>",
                    },
                ],
                "layout": _layout(
                    height=_bar_height(2 * len(rows), per_row=20),
                    barmode="group",
                    xaxis={"title": _title("Deals"), "rangemode": "tozero"},
                    yaxis=_steps_axis(names),
                    margin={"l": 8, "r": 70, "t": 8, "b": 8, "pad": 2},
                ),
            },
            label="Bar chart comparing average WIP with throughput times time in step per step",
        )
    ]
    return chart


# --- Waste dashboard ------------------------------------------------------------------------

#: The wastes measured in hours: label, Waste field, colour key.
HOUR_WASTES = (
    ("Waiting", "waiting_hours", "waiting"),
    ("Defects (rework)", "defects_hours", "defects"),
    ("Extra processing", "extra_processing_hours", "extra_processing"),
    ("Overproduction (lost deals)", "overproduction_hours", "overproduction"),
)
MONEY_WASTES = (
    ("Defects (rework)", "defects_cost", "defects"),
    ("Extra processing", "extra_processing_cost", "extra_processing"),
    ("Overproduction (lost deals)", "overproduction_cost", "overproduction"),
)


def _pareto_rows(items: list[tuple[str, float, str]]) -> list[list]:
    items = sorted(items, key=lambda item: -item[1])
    total = sum(value for _, value, _ in items)
    rows, running = [], 0.0
    for label, value, colour in items:
        running += value
        rows.append(
            [
                label,
                _r(value, 1),
                _r(100 * value / total, 1) if total else None,
                _r(100 * running / total, 1) if total else None,
                colour,
            ]
        )
    return rows


def _pareto_spec(rows: list[list], *, y_title: str, hover_value: str) -> dict:
    labels = [r[0] for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "name": y_title,
                "x": labels,
                "y": [r[1] for r in rows],
                "marker": {
                    "color": [WASTE_COLOURS[r[4]] for r in rows],
                    "line": {"color": INK, "width": 0.5},
                },
                "text": [f"{r[2]:.0f}%" for r in rows],
                "textposition": "outside",
                "cliponaxis": False,
                "hovertemplate": "%{x}<br>" + hover_value + " (%{text})<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Cumulative share",
                "x": labels,
                "y": [r[3] for r in rows],
                "yaxis": "y2",
                "line": {"color": BLACK, "width": 2},
                "marker": {"size": 7},
                "hovertemplate": "Cumulative: %{y:.0f}%<extra></extra>",
            },
        ],
        "layout": _layout(
            height=340,
            showlegend=False,
            xaxis={
                "type": "category",
                "tickfont": {"size": 12},
                "tickmode": "array",
                "tickvals": labels,
                "ticktext": [_wrap(label) for label in labels],
                "tickangle": 0,
            },
            yaxis={"title": _title(y_title), "rangemode": "tozero", "tickformat": "~s"},
            yaxis2={
                "overlaying": "y",
                "side": "right",
                "range": [0, 105],
                "tickvals": [0, 25, 50, 75, 100],
                "ticksuffix": "%",
                "showgrid": False,
                "automargin": True,
                "title": {"text": "Cumulative"},
            },
        ),
    }


def _wrap(label: str) -> str:
    """``Defects (rework)`` → ``Defects<br>(rework)``: two short lines fit under a bar."""
    return label.replace(" (", "<br>(")


def waste_pareto_chart(result: MetricsResult) -> Chart:
    waste = result.waste
    rows = _pareto_rows(
        [(label, getattr(waste, name) or 0.0, colour) for label, name, colour in HOUR_WASTES]
    )
    chart = Chart(
        key="pareto_hours",
        title="Pareto of the wastes measured in hours",
        units="hours (summed over deals)",
        how_to_read=(
            "The wastes that the event log measures in time, biggest first, with the running "
            "share (black line, right axis): the first bars are where most of the time goes, "
            "so start there. Hours are summed over every deal: 24 deals waiting a day is 576 h."
        ),
        as_of=result.computed_at,
        columns=["waste", "hours", "share_pct", "cumulative_pct"],
        rows=[r[:4] for r in rows],
    )
    if not any(r[1] for r in rows):
        chart.empty = "No waste was measured in this period: no visit left a step."
        return chart
    chart.figures = [
        Figure(
            _pareto_spec(rows, y_title="Hours", hover_value="%{y:,.0f} h"),
            label="Pareto chart of the wastes in hours",
        )
    ]
    return chart


def waste_money_chart(result: MetricsResult, smap: StreamMap) -> Chart:
    waste = result.waste
    priced = [
        (label, getattr(waste, name), colour)
        for label, name, colour in MONEY_WASTES
        if getattr(waste, name) is not None
    ]
    rows = _pareto_rows([(label, value, colour) for label, value, colour in priced])
    symbol = CURRENCY_SYMBOLS.get(smap.currency, "")
    chart = Chart(
        key="pareto_money",
        title="Pareto of the wastes in money",
        units=smap.currency,
        how_to_read=(
            "The work hours spent in each waste at the hourly cost of the lane doing it, "
            "biggest first. Waiting costs no labour, so it is not priced here (it is the "
            "biggest bar in hours)."
        ),
        as_of=result.computed_at,
        columns=["waste", "cost", "share_pct", "cumulative_pct"],
        rows=[r[:4] for r in rows],
    )
    if not priced:
        chart.empty = (
            "No lane of this stream has an hourly cost, so waste cannot be priced. A manager "
            "sets lane costs in the map editor."
        )
        return chart
    if not any(r[1] for r in rows):
        chart.empty = "No priced waste was measured in this period."
        return chart
    chart.figures = [
        Figure(
            _pareto_spec(
                rows, y_title=f"Cost ({smap.currency})", hover_value=f"{symbol}%{{y:,.0f}}"
            ),
            label="Pareto chart of the wastes in money",
        )
    ]
    return chart


def waste_by_step_chart(result: MetricsResult, smap: StreamMap) -> Chart:
    fields = [
        ("Waiting", "wait_hours", "waiting"),
        ("Defects (rework)", "defects_hours", "defects"),
        ("Extra processing", "extra_processing_hours", "extra_processing"),
        ("Overproduction", "overproduction_hours", "overproduction"),
    ]
    rows = []
    for name, s in _steps_with_names(result, smap):
        values = [_r(getattr(s, f) or 0.0, 1) for _, f, _ in fields]
        rows.append([name, *values, _r(sum(values), 1)])
    chart = Chart(
        key="waste_by_step",
        title="Waste per step",
        units="hours (summed over deals)",
        how_to_read=(
            "Where in the stream the hours of waste are, one bar per step in map order, split "
            "by kind of waste. The longest bars are the steps to improve first."
        ),
        as_of=result.computed_at,
        columns=[
            "step",
            "waiting_hours",
            "defects_hours",
            "extra_processing_hours",
            "overproduction_hours",
            "total_hours",
        ],
        rows=rows,
        wide=True,
    )
    if not any(r[-1] for r in rows):
        chart.empty = "No waste was measured in this period."
        return chart
    names = [r[0] for r in rows]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "y": names,
            "x": [r[i + 1] for r in rows],
            "marker": {"color": WASTE_COLOURS[colour], "line": {"color": "#FFFFFF", "width": 0.5}},
            "hovertemplate": f"%{{y}}: %{{x:,.0f}} h {label.lower()}<extra></extra>",
        }
        for i, (label, _, colour) in enumerate(fields)
    ]
    chart.figures = [
        Figure(
            {
                "data": data,
                "layout": _layout(
                    height=_bar_height(len(rows)),
                    barmode="stack",
                    xaxis={"title": _title("Hours"), "tickformat": "~s"},
                    yaxis=_steps_axis(names),
                ),
            },
            label="Stacked bar chart of the hours of each waste per step",
        )
    ]
    return chart


def waste_counts_chart(result: MetricsResult, smap: StreamMap) -> Chart:
    rows = [
        [name, s.stalled, _r(s.stalled_amount, 2), s.handoffs, s.reentries]
        for name, s in _steps_with_names(result, smap)
    ]
    chart = Chart(
        key="waste_counts",
        title="Inventory, transport and rework per step",
        units="deals and visits (counts)",
        how_to_read=(
            "The wastes counted rather than timed: stalled open deals now (inventory), deals "
            "handed over from another lane into the step (transport), and deals sent back to "
            "a step they had already been through (rework), per step."
        ),
        as_of=result.now_at or result.computed_at,
        columns=["step", "stalled_deals", "stalled_amount", "handoffs_in", "reentries"],
        rows=rows,
        wide=True,
    )
    if not any(r[1] or r[3] or r[4] for r in rows):
        chart.empty = "No stalled deal, hand-off or rework in this period."
        return chart
    names = [r[0] for r in rows]
    # Three panels side by side on one step axis: the counts differ by orders of magnitude
    # (a few stalled deals, hundreds of hand-offs), so each gets its own scale.
    panels = [  # (title, column, colour); on a phone the legend names the panels instead
        ("Stalled deals now", 1, "inventory"),
        ("Hand-offs in", 3, "transport"),
        ("Re-entries", 4, "defects"),
    ]
    domains = [(0.0, 0.3), (0.35, 0.65), (0.7, 1.0)]
    data, axes, annotations = [], {}, []
    for i, ((label, col, colour), domain) in enumerate(zip(panels, domains, strict=True)):
        suffix = "" if i == 0 else str(i + 1)
        values = [r[col] for r in rows]
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": label,
                "y": names,
                "x": values,
                "xaxis": f"x{suffix}",
                "yaxis": "y",
                "marker": {"color": WASTE_COLOURS[colour]},
                "text": [f"{v:,}" for v in values],
                "textposition": "outside",
                "cliponaxis": False,
                "hovertemplate": f"%{{y}}: %{{x:,}} {label.lower()}<extra></extra>",
            }
        )
        axes[f"xaxis{suffix}"] = _axis(
            domain=list(domain),
            rangemode="tozero",
            range=[0, max(1, *values) * 1.3],
            tickformat="~s",
            nticks=3,
        )
        annotations.append(
            {
                "xref": "paper",
                "yref": "paper",
                "x": domain[0],
                "xanchor": "left",
                "y": 1.0,
                "yanchor": "bottom",
                "text": f"<b>{label}</b>",
                "showarrow": False,
                "font": {"size": 12},
            }
        )
    chart.figures = [
        Figure(
            {
                "data": data,
                "layout": _layout(
                    height=_bar_height(len(rows), per_row=34) + 30,
                    showlegend=False,
                    yaxis=_steps_axis(names),
                    annotations=annotations,
                    margin={"l": 8, "r": 16, "t": 30, "b": 8, "pad": 2},
                    **axes,
                ),
            },
            label="Bar charts of stalled deals, hand-offs and re-entries per step",
        )
    ]
    return chart


VALUE_CLASS_LABELS = {
    "value_add": "value-add",
    "necessary_nva": "necessary non-value-add",
    "waste": "waste",
}


def timeline_ladder_chart(result: MetricsResult, smap: StreamMap) -> Chart:
    rows = []
    for name, s in _steps_with_names(result, smap):
        info = smap.step(s.step_id)
        lead, work = s.median_hours, s.median_work_hours
        wait = max(0.0, lead - (work or 0.0)) if lead is not None else None
        rows.append(
            [
                name,
                VALUE_CLASS_LABELS.get(info.value_class, "") if info else "",
                _days(lead),
                _r(work, 2),
                _days(work, 3),
                _days(wait),
            ]
        )
    summary = result.summary
    chart = Chart(
        key="timeline_ladder",
        title="Timeline ladder: value-add time against waiting, measured",
        units="days (median per step)",
        how_to_read=(
            "The VSM timeline ladder from real deals: per step, the typical (median) hands-on "
            "work (green, often a sliver) and the rest of the time the deal waits (grey). "
            "The sum of the steps is the stream's lead time; work ÷ lead time is its activity "
            "ratio."
        ),
        as_of=result.computed_at,
        columns=[
            "step",
            "value_class",
            "lead_time_days",
            "process_time_hours",
            "process_time_days",
            "waiting_days",
        ],
        rows=rows,
        wide=True,
    )
    if not any(r[2] is not None for r in rows):
        chart.empty = "No visit left a step in this period, so nothing is measured yet."
        return chart
    names = [r[0] for r in rows]
    ticks = [f"{r[0]}<br><span style='font-size:11px'>{r[1]}</span>" for r in rows]
    chart.figures = [
        Figure(
            {
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "Work (process time)",
                        "y": names,
                        "x": [r[4] for r in rows],
                        "marker": {"color": GREEN},
                        "customdata": [r[3] for r in rows],
                        "hovertemplate": "%{y}: %{customdata:.1f} h of work<extra></extra>",
                    },
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "Waiting",
                        "y": names,
                        "x": [r[5] for r in rows],
                        "marker": {"color": "#C5CDD6", "line": {"color": GREY, "width": 1}},
                        # Written at the end of the bar: the work itself is often a sliver.
                        "text": [
                            f"{format_hours(None if r[2] is None else r[2] * 24)} · work "
                            f"{format_work_hours(r[3])}"
                            if r[2] is not None
                            else ""
                            for r in rows
                        ],
                        # Inside the long bars, beside the short ones.
                        "textposition": "auto",
                        "insidetextanchor": "end",
                        "cliponaxis": False,
                        "textfont": {"size": 12, "color": INK},
                        "hovertemplate": "%{y}: %{x:.1f} days waiting<extra></extra>",
                    },
                ],
                "layout": _layout(
                    height=_bar_height(len(rows), per_row=44),
                    barmode="stack",
                    xaxis={
                        "title": _title("Days (median)"),
                        "range": [0, 1.3 * max(r[2] or 0 for r in rows)],
                    },
                    margin={"l": 8, "r": 36, "t": 8, "b": 8, "pad": 2},
                    yaxis=_steps_axis(names, tickmode="array", tickvals=names, ticktext=ticks),
                ),
            },
            label="Timeline ladder of work against waiting time per step",
        )
    ]
    if summary.lead_time_hours is not None:
        ratio = summary.activity_ratio
        chart.note = (
            f"Lead time {format_hours(summary.lead_time_hours)}, of which "
            f"{format_work_hours(summary.process_time_hours)} work: activity ratio "
            + ("—" if ratio is None else f"{100 * ratio:.1f}%")
            + "."
        )
    return chart


# --- A rep's own view -----------------------------------------------------------------------

YOU, TEAM = "You", "Team (everyone, you included)"


def _you_and_team_bars(
    categories: list[str],
    *,
    you: tuple[list, list],
    team: tuple[list, list],
    horizontal: bool,
    hover: str,
) -> list[dict]:
    """Two bar traces, the rep's (blue) and the team's (grey), each given as (values, n)
    with n shown on hover."""
    traces = []
    for name, (values, counts), marker, extra in (
        (YOU, you, {"color": BLUE}, "you"),
        (TEAM, team, {"color": "#C5CDD6", "line": {"color": GREY, "width": 1}}, "team"),
    ):
        axes = {"y": categories, "x": values} if horizontal else {"x": categories, "y": values}
        traces.append(
            {
                "type": "bar",
                **({"orientation": "h"} if horizontal else {}),
                "name": name,
                **axes,
                "marker": marker,
                "customdata": counts,
                "hovertemplate": f"{hover}<extra>{extra}</extra>",
            }
        )
    return traces


def my_time_per_step_chart(mine: MetricsResult, team: MetricsResult, smap: StreamMap) -> Chart:
    theirs = {s.step_id: s for s in team.steps}
    rows = []
    for name, s in _steps_with_names(mine, smap):
        t = theirs.get(s.step_id)
        rows.append(
            [
                name,
                _days(s.median_hours),
                s.n_completed,
                _days(t.median_hours) if t else None,
                t.n_completed if t else 0,
            ]
        )
    chart = Chart(
        key="my_time_per_step",
        title="Your time per step, beside the team's",
        units="days (median time in step)",
        how_to_read=(
            "For each step, how long your deals typically stayed (blue) and how long the "
            "team's did (grey). A longer blue bar is a step where you could ask how others "
            "move deals along; a shorter one is something you can share."
        ),
        as_of=mine.computed_at,
        columns=["step", "your_median_days", "your_visits", "team_median_days", "team_visits"],
        rows=rows,
        wide=True,
    )
    if not any(r[1] is not None for r in rows):
        chart.empty = "None of your deals left a step in this period."
        return chart
    names = [r[0] for r in rows]
    chart.figures = [
        Figure(
            {
                "data": _you_and_team_bars(
                    names,
                    you=([r[1] for r in rows], [r[2] for r in rows]),
                    team=([r[3] for r in rows], [r[4] for r in rows]),
                    horizontal=True,
                    hover="%{y}: %{x:.1f} d (%{customdata} visits)",
                ),
                "layout": _layout(
                    height=_bar_height(2 * len(rows), per_row=20),
                    barmode="group",
                    xaxis={"title": _title("Median days in step")},
                    yaxis=_steps_axis(names),
                ),
            },
            label="Bar chart of your median time per step beside the team's",
        )
    ]
    return chart


def my_win_rate_chart(mine: MetricsResult, team: MetricsResult) -> Chart:
    rows = [
        [who, r.summary.won, r.summary.closed, _pct(r.summary.win_rate)]
        for who, r in ((YOU, mine), (TEAM, team))
    ]
    chart = Chart(
        key="my_win_rate",
        title="Your win rate, beside the team's",
        units="% of closed deals won",
        how_to_read=(
            "Of the deals closed in this period, the share won: yours and the whole team's "
            "(yours included). Under each name are the deals behind its rate; with few closed "
            "deals a rate moves a lot by chance."
        ),
        as_of=mine.computed_at,
        columns=["who", "won", "closed", "win_rate_pct"],
        rows=rows,
    )
    if rows[0][2] == 0:
        chart.empty = "None of your deals was won or lost in this period."
        return chart
    chart.figures = [
        Figure(
            {
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "Win rate",
                        "y": [r[0] for r in rows],
                        "x": [r[3] for r in rows],
                        "marker": {
                            "color": [BLUE, "#C5CDD6"],
                            "line": {"color": [BLUE, GREY], "width": 1},
                        },
                        "text": [f"{r[3]:.0f}%" if r[3] is not None else "" for r in rows],
                        "customdata": [f"{r[1]} won of {r[2]} closed" for r in rows],
                        "textposition": "outside",
                        "cliponaxis": False,
                        "hovertemplate": "%{y}: %{text}, %{customdata}<extra></extra>",
                    },
                ],
                "layout": _layout(
                    height=220,
                    showlegend=False,
                    xaxis={"title": _title("Win rate (%)"), "range": [0, 100], "ticksuffix": "%"},
                    yaxis=_steps_axis(
                        [r[0] for r in rows],
                        tickmode="array",
                        tickvals=[r[0] for r in rows],
                        ticktext=[
                            f"<b>{'You' if r[0] == YOU else 'Team'}</b><br>"
                            f"<span style='font-size:11px'>{r[1]} won of {r[2]}</span>"
                            for r in rows
                        ],
                    ),
                    margin={"l": 8, "r": 40, "t": 8, "b": 8, "pad": 2},
                ),
            },
            label="Bar chart of your win rate beside the team's",
        )
    ]
    return chart


def my_conversion_chart(mine: MetricsResult, team: MetricsResult, smap: StreamMap) -> Chart:
    theirs = {s.stage_id: s for s in team.stages}
    rows = []
    for name, s in _stages_with_names(mine, smap):
        t = theirs.get(s.stage_id)
        rows.append(
            [
                name,
                s.reached,
                _pct(s.cumulative_conversion),
                t.reached if t else 0,
                _pct(t.cumulative_conversion) if t else None,
            ]
        )
    chart = Chart(
        key="my_conversion",
        title="How far your deals get, beside the team's",
        units="% of new deals reaching each stage",
        how_to_read=(
            "Of the deals that entered the stream in this period, the share that reached each "
            "funnel stage: yours (blue) and the team's (grey). Where your line of bars drops "
            "faster, deals leave earlier."
        ),
        as_of=mine.computed_at,
        columns=["stage", "your_reached", "your_pct", "team_reached", "team_pct"],
        rows=rows,
    )
    if not rows or not rows[0][1]:
        chart.empty = "None of your deals entered the stream in this period."
        return chart
    names = [r[0] for r in rows]
    chart.figures = [
        Figure(
            {
                "data": _you_and_team_bars(
                    names,
                    you=([r[2] for r in rows], [r[1] for r in rows]),
                    team=([r[4] for r in rows], [r[3] for r in rows]),
                    horizontal=False,
                    hover="%{x}: %{y:.0f}% (%{customdata} deals)",
                ),
                "layout": _layout(
                    height=300,
                    barmode="group",
                    xaxis={"type": "category"},
                    yaxis={"title": _title("% of new deals"), "range": [0, 105], "ticksuffix": "%"},
                ),
            },
            label="Bar chart of the share of your deals reaching each stage beside the team's",
        )
    ]
    return chart


# --- Across the streams of a team -----------------------------------------------------------


@dataclass(frozen=True)
class StreamFigures:
    """One stream on the team page: its name, map, and figures for the period and before."""

    name: str
    slug: str
    smap: StreamMap
    result: MetricsResult
    previous: MetricsResult | None


def team_funnels_chart(streams: list[StreamFigures]) -> Chart:
    rows, figures = [], []
    for entry in streams:
        stream_rows = _funnel_rows(entry.result, entry.smap)
        rows += [[entry.name, *row] for row in stream_rows]
        if stream_rows and stream_rows[0][1]:
            names = [row[0] for row in stream_rows]
            figures.append(
                Figure(
                    _funnel_spec(
                        names,
                        [row[1] for row in stream_rows],
                        [row[2] for row in stream_rows],
                        _next_labels(names),
                        height=280,
                    ),
                    caption=f"{entry.name} · {entry.result.cohort_deals:,} new deals",
                    label=f"Funnel chart of {entry.name}",
                )
            )
    as_of = min((e.result.computed_at for e in streams), default=None)
    chart = Chart(
        key="team_funnels",
        title="Funnel of each stream",
        units="deals of each stream's cohort",
        how_to_read=(
            "One funnel per value stream of the team, for the deals that entered it in this "
            "period: blue went on to the next stage (the last: won), orange dropped off."
        ),
        as_of=as_of,
        columns=["stream", *FUNNEL_COLUMNS],
        rows=rows,
        figures=figures,
        wide=True,
    )
    if not figures:
        chart.empty = "No deal entered any stream of the team in this period."
    return chart


def team_win_rate_chart(streams: list[StreamFigures]) -> Chart:
    rows = [
        [
            e.name,
            e.result.summary.won,
            e.result.summary.closed,
            _pct(e.result.summary.win_rate),
            _pct(e.previous.summary.win_rate) if e.previous else None,
        ]
        for e in streams
    ]
    chart = Chart(
        key="team_win_rate",
        title="Win rate by stream",
        units="% of closed deals won",
        how_to_read=(
            "Each stream's win rate this period (blue) and in the previous period (grey), "
            "with the closed deals behind it: a rate from few deals moves a lot by chance."
        ),
        as_of=min((e.result.computed_at for e in streams), default=None),
        columns=["stream", "won", "closed", "win_rate_pct", "previous_win_rate_pct"],
        rows=rows,
    )
    if not any(r[2] for r in rows):
        chart.empty = "No deal was won or lost in any stream of the team in this period."
        return chart
    names = [r[0] for r in rows]
    chart.figures = [
        Figure(
            {
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "This period",
                        "y": names,
                        "x": [r[3] for r in rows],
                        "marker": {"color": BLUE},
                        "text": [
                            f"{r[3]:.0f}% of {r[2]}" if r[3] is not None else "" for r in rows
                        ],
                        "textposition": "outside",
                        "cliponaxis": False,
                        "hovertemplate": "%{y}: %{text} closed<extra></extra>",
                    },
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "Previous period",
                        "y": names,
                        "x": [r[4] for r in rows],
                        "marker": {"color": "#C5CDD6", "line": {"color": GREY, "width": 1}},
                        "hovertemplate": "%{y}: %{x:.0f}% before<extra></extra>",
                    },
                ],
                "layout": _layout(
                    height=_bar_height(2 * len(rows), per_row=28),
                    barmode="group",
                    xaxis={"title": _title("Win rate (%)"), "range": [0, 100], "ticksuffix": "%"},
                    yaxis=_steps_axis(names),
                    margin={"l": 8, "r": 90, "t": 8, "b": 8, "pad": 2},
                ),
            },
            label="Bar chart of the win rate of each stream",
        )
    ]
    return chart


def team_velocity_chart(streams: list[StreamFigures]) -> Chart:
    rows = [
        [
            e.name,
            e.result.summary.open_deals,
            _pct(e.result.summary.win_rate),
            _r(e.result.summary.mean_won_amount, 2),
            _r(e.result.summary.sales_cycle_days, 2),
            _r(e.result.summary.pipeline_velocity_per_day, 2),
        ]
        for e in streams
    ]
    currency = streams[0].smap.currency if streams else "USD"
    chart = Chart(
        key="team_velocity",
        title="Pipeline velocity by stream",
        units=f"{currency} per day",
        how_to_read=(
            "The money each stream's pipeline turns into wins per day: open deals × win rate "
            "× mean won deal size ÷ sales cycle. Hover a bar for its four levers."
        ),
        as_of=min((e.result.computed_at for e in streams), default=None),
        columns=[
            "stream",
            "open_deals",
            "win_rate_pct",
            "mean_won_amount",
            "sales_cycle_days",
            "velocity_per_day",
        ],
        rows=rows,
    )
    if not any(r[5] for r in rows):
        chart.empty = "No stream has a pipeline velocity in this period."
        return chart
    names = [r[0] for r in rows]
    smap = streams[0].smap
    chart.figures = [
        Figure(
            {
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": "Velocity",
                        "y": names,
                        "x": [r[5] for r in rows],
                        "marker": {"color": BLUE},
                        "text": [
                            f"{smap.money(r[5])}/day" if r[5] is not None else "" for r in rows
                        ],
                        "textposition": "outside",
                        "cliponaxis": False,
                        "customdata": [[r[1], r[2], smap.money(r[3]), r[4]] for r in rows],
                        "hovertemplate": "%{y}: %{text}<br>%{customdata[0]} open × "
                        "%{customdata[1]:.0f}% × %{customdata[2]} ÷ %{customdata[3]:.0f} d"
                        "<extra></extra>",
                    },
                ],
                "layout": _layout(
                    height=_bar_height(len(rows), per_row=40),
                    showlegend=False,
                    xaxis={
                        "title": _title(f"{currency} per day"),
                        "rangemode": "tozero",
                        "tickformat": "~s",
                    },
                    yaxis=_steps_axis(names),
                    margin={"l": 8, "r": 110, "t": 8, "b": 8, "pad": 2},
                ),
            },
            label="Bar chart of the pipeline velocity of each stream",
        )
    ]
    return chart


# --- Headline tiles -------------------------------------------------------------------------


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


def funnel_tiles(
    result: MetricsResult, previous: MetricsResult | None, smap: StreamMap
) -> list[Tile]:
    s, p = result.summary, previous.summary if previous else None
    win_change, win_good = _change(
        _pct(s.win_rate), _pct(p.win_rate) if p else None, lambda v: f"{v:.1f} pts", True
    )
    cycle_change, cycle_good = _change(
        s.sales_cycle_days, p.sales_cycle_days if p else None, lambda v: f"{v:.1f} d", False
    )
    velocity_change, velocity_good = _relative(
        s.pipeline_velocity_per_day, p.pipeline_velocity_per_day if p else None, True
    )
    size_change, size_good = _relative(s.mean_won_amount, p.mean_won_amount if p else None, True)
    cohort_change, _ = _change(
        result.cohort_deals,
        previous.cohort_deals if previous else None,
        lambda v: f"{v:,.0f}",
        None,
    )
    return [
        Tile(
            "win_rate",
            "Win rate",
            _pct_text(_pct(s.win_rate)),
            f"{s.won:,} won of {s.closed:,} closed",
            win_change,
            win_good,
            s.closed < 5,
            "Won ÷ (won + lost) over the deals closed in the period.",
        ),
        Tile(
            "sales_cycle",
            "Sales cycle (median)",
            "—" if s.sales_cycle_days is None else f"{s.sales_cycle_days:.1f} days",
            f"over {s.won:,} won deals",
            cycle_change,
            cycle_good,
            s.won < 5,
            "Median days from a won deal's first step to its close.",
        ),
        Tile(
            "velocity",
            "Pipeline velocity",
            "—"
            if s.pipeline_velocity_per_day is None
            else f"{smap.money(s.pipeline_velocity_per_day)}/day",
            "open × win rate × deal size ÷ cycle",
            velocity_change,
            velocity_good,
            s.closed < 5,
            "The money the pipeline turns into wins per day.",
        ),
        Tile(
            "open_deals",
            "Open deals",
            f"{s.open_deals:,}",
            "in the pipeline now",
            "",  # counted now in every period: no change to show
            None,
            False,
            "Deals neither won nor lost.",
        ),
        Tile(
            "deal_size",
            "Mean won deal",
            smap.money(s.mean_won_amount),
            f"over {s.won_with_amount:,} won deals with an amount",
            size_change,
            size_good,
            s.won_with_amount < 5,
            "Mean amount of the deals won in the period.",
        ),
        Tile(
            "new_deals",
            "New deals",
            f"{result.cohort_deals:,}",
            f"{result.cohort_won:,} of them won so far",
            cohort_change,
            None,
            False,
            "Deals whose first step was in the period: the funnel's cohort.",
        ),
    ]


def flow_tiles(
    result: MetricsResult, previous: MetricsResult | None, series: ChartSeries
) -> list[Tile]:
    s, p = result.summary, previous.summary if previous else None
    wip = sum(step.wip_now for step in result.steps)
    weeks = len(series.throughput.weeks)
    won_week = sum(series.throughput.won) / weeks if weeks else None
    lead_change, lead_good = _change(
        _days(s.lead_time_hours),
        _days(p.lead_time_hours) if p else None,
        lambda v: f"{v:.1f} d",
        False,
    )
    ratio_change, ratio_good = _change(
        _pct(s.activity_ratio, 2),
        _pct(p.activity_ratio, 2) if p else None,
        lambda v: f"{v:.1f} pts",
        True,
    )
    stalled = result.waste.inventory_count
    prev_stalled = previous.waste.inventory_count if previous else None
    stalled_change, stalled_good = _change(stalled, prev_stalled, lambda v: f"{v:,.0f}", False)
    return [
        Tile(
            "wip",
            "Work in progress",
            f"{wip:,}",
            "open visits now, all steps",
            "",
            None,
            False,
            "Deals at a step right now.",
        ),
        Tile(
            "won_per_week",
            "Won per week",
            "—" if won_week is None else f"{won_week:.1f}",
            f"mean over {weeks} whole weeks",
            "",
            None,
            weeks < 2,
            "Throughput: deals won per whole week of the period.",
        ),
        Tile(
            "lead_time",
            "Lead time",
            format_hours(s.lead_time_hours),
            "sum of the steps' median times",
            lead_change,
            lead_good,
            s.n_ladder < 5,
            "The timeline ladder: Σ median time in step over the map's steps.",
        ),
        Tile(
            "activity_ratio",
            "Activity ratio",
            "—" if s.activity_ratio is None else f"{100 * s.activity_ratio:.1f}%",
            "work ÷ lead time",
            ratio_change,
            ratio_good,
            s.n_ladder < 5,
            "Process time ÷ lead time: the share of a deal's time someone works on it.",
        ),
        Tile(
            "stalled",
            "Stalled deals",
            f"{stalled:,}",
            f"of {result.waste.open_visits:,} open, past their step's p85",
            stalled_change,
            stalled_good,
            False,
            "Open visits older than the step's 85th percentile.",
        ),
    ]


def waste_tiles(
    result: MetricsResult, previous: MetricsResult | None, smap: StreamMap
) -> list[Tile]:
    w, pw = result.waste, previous.waste if previous else None

    def hours(x: Any) -> float:
        return sum(getattr(x, name) or 0.0 for _, name, _ in HOUR_WASTES)

    total, before = hours(w), hours(pw) if pw else None
    total_change, total_good = _relative(total, before, False)
    costs = [getattr(w, name) for _, name, _ in MONEY_WASTES]
    priced = None if all(c is None for c in costs) else sum(c or 0.0 for c in costs)
    return [
        Tile(
            "waste_hours",
            "Waste in hours",
            f"{total:,.0f} h",
            "waiting, rework, extra processing, overproduction",
            total_change,
            total_good,
            False,
            "Σ of the wastes measured in time, over every deal.",
        ),
        Tile(
            "waiting_share",
            "Of which waiting",
            "—" if not total else f"{100 * w.waiting_hours / total:.0f}%",
            f"{w.waiting_hours:,.0f} h over {w.waiting_visits:,} visits",
            "",
            None,
            w.waiting_visits < 5,
            "Σ of (time in step − work) over completed visits.",
        ),
        Tile(
            "inventory",
            "Inventory: stalled deals",
            f"{w.inventory_count:,}",
            f"{smap.money(w.inventory_amount)} of pipeline",
            "",
            None,
            False,
            "Open deals older than their step's p85.",
        ),
        Tile(
            "transport",
            "Transport: hand-offs",
            "—" if w.transport_per_deal is None else f"{w.transport_per_deal:.1f} per deal",
            f"{w.transport_handoffs:,} in all",
            "",
            None,
            w.transport_deals < 5,
            "Lane changes along each deal's path.",
        ),
        Tile(
            "rework",
            "Rework: re-entries",
            f"{w.defects_count:,}",
            f"{w.defects_hours:,.0f} h spent redoing",
            "",
            None,
            False,
            "Deals sent back to a step they had been through.",
        ),
        Tile(
            "priced",
            "Waste in money",
            "not priced" if priced is None else smap.money(priced),
            "work hours × lane cost" if priced is not None else "no lane has an hourly cost",
            "",
            None,
            False,
            "Rework, extra processing and overproduction at lane costs.",
        ),
    ]


def rep_tiles(mine: MetricsResult, team: MetricsResult, stalled_mine: int) -> list[Tile]:
    m, t = mine.summary, team.summary
    return [
        Tile(
            "my_win_rate",
            "Your win rate",
            _pct_text(_pct(m.win_rate)),
            f"{m.won:,} won of {m.closed:,} closed · team {_pct_text(_pct(t.win_rate))}",
            "",
            None,
            m.closed < 5,
            "Won ÷ (won + lost) of your deals closed in the period.",
        ),
        Tile(
            "my_sales_cycle",
            "Your sales cycle",
            "—" if m.sales_cycle_days is None else f"{m.sales_cycle_days:.1f} days",
            f"over {m.won:,} won · team "
            + ("—" if t.sales_cycle_days is None else f"{t.sales_cycle_days:.1f} days"),
            "",
            None,
            m.won < 5,
            "Median days from first step to won, your deals.",
        ),
        Tile(
            "my_open_deals",
            "Your open deals",
            f"{m.open_deals:,}",
            f"{stalled_mine:,} stalled",
            "",
            None,
            False,
            "Your deals neither won nor lost.",
        ),
        Tile(
            "my_new_deals",
            "Your new deals",
            f"{mine.cohort_deals:,}",
            f"{mine.cohort_won:,} won so far",
            "",
            None,
            False,
            "Your deals whose first step was in the period.",
        ),
    ]
