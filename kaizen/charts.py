"""The run chart of a cycle's Check: the stored weekly series (``kaizen.checks.RunChart``)
turned into a Plotly figure, with the change date marked and the baseline's XmR natural
process limits drawn across the whole chart; and the same numbers as table rows, for the
page's data-table alternative.

Pages render the figure with ``to_html(full_html=False, include_plotlyjs=False)`` and load
plotly.js from ``static/js/vendor/plotly.min.js`` (a partial bundle: see its README.md).
Colours are Okabe–Ito (readable with common colour-vision deficiencies); before and after
also differ in marker shape, and signals in size and outline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder

from kaizen.checks import RunChart
from kaizen.metrics import MetricSpec

BLUE = "#0072B2"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
GREY = "#8A96A3"
INK = "#1D2733"
GRID = "#E6EAEF"
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13}


@dataclass(frozen=True)
class Scale:
    """How values are plotted: multiplied by ``factor``, in ``unit``."""

    factor: float
    unit: str
    suffix: str


def chart_scale(chart: RunChart, metric: MetricSpec) -> Scale:
    """Percent for shares; days for durations in hours once a week's median passes two days
    (as the map writes ``7 d``, not ``168 h``); else the metric's unit."""
    if metric.is_proportion:
        return Scale(100.0, "%", " %")
    values = [w.value for w in chart.weeks if w.value is not None]
    if metric.unit == "hours" and values and max(values) > 48:
        return Scale(1 / 24, "days", " d")
    return Scale(1.0, metric.unit, " d" if metric.unit == "days" else " h")


def axis_label(metric: MetricSpec, scale: Scale) -> str:
    if metric.is_proportion:
        return f"{metric.label} per week (%)"
    return f"Median {metric.label.lower()} per week ({scale.unit})"


def _shown(value: float | None, scale: Scale) -> float | None:
    """A value as plotted, rounded."""
    if value is None:
        return None
    shown = value * scale.factor
    return round(shown, 1) if abs(shown) >= 10 else round(shown, 2)


@dataclass(frozen=True)
class Row:
    week: str
    side: str
    value: float | None
    n: int
    note: str


def chart_rows(chart: RunChart, metric: MetricSpec) -> list[Row]:
    """The plotted numbers, one row per week (the chart's table alternative), in the unit of
    :func:`chart_scale`."""
    scale = chart_scale(chart, metric)
    rows = []
    for week in chart.weeks:
        notes = []
        if week.signal:
            notes.append("outside the baseline's limits")
        if week.partial:
            notes.append("partial week")
        rows.append(
            Row(
                week=f"{week.start:%Y-%m-%d}",
                side="after" if week.after else "before",
                value=_shown(week.value, scale),
                n=week.n,
                note=", ".join(notes),
            )
        )
    return rows


def plain_layout(fig: go.Figure, *, height: int, margin: dict, **layout: object) -> None:
    """The kaizen charts' layout: ``height`` and ``margin``, our font on white, the nearest
    point on hover; ``layout``: the rest (legend, axes)."""
    fig.update_layout(
        font=FONT,
        height=height,
        margin=margin,
        plot_bgcolor="#fff",
        paper_bgcolor="#fff",
        **layout,
        hovermode="closest",
    )


def run_chart_figure(chart: RunChart, metric: MetricSpec) -> go.Figure:
    """Weekly points before (blue circles) and after (orange diamonds) the change, signals
    ringed in vermillion, the baseline's mean and natural process limits, the change marked."""
    scale = chart_scale(chart, metric)
    fig = go.Figure()
    for after, name, colour, symbol in (
        (False, "Before the change", BLUE, "circle"),
        (True, "After the change", ORANGE, "diamond"),
    ):
        weeks = [w for w in chart.weeks if w.after == after]
        fig.add_trace(
            go.Scatter(
                x=[w.start for w in weeks],
                y=[_shown(w.value, scale) for w in weeks],
                customdata=[[w.n] for w in weeks],
                mode="lines+markers",
                name=name,
                connectgaps=False,
                line={"color": colour, "width": 2},
                marker={"color": colour, "symbol": symbol, "size": 9},
                hovertemplate="Week of %{x|%Y-%m-%d}: %{y}"
                + scale.suffix
                + " (n = %{customdata[0]})<extra></extra>",
            )
        )
    signals = [w for w in chart.weeks if w.signal]
    if signals:
        fig.add_trace(
            go.Scatter(
                x=[w.start for w in signals],
                y=[_shown(w.value, scale) for w in signals],
                mode="markers",
                name="Signal: outside the limits",
                marker={
                    "color": "rgba(0,0,0,0)",
                    "size": 18,
                    "line": {"color": VERMILLION, "width": 3},
                },
                hoverinfo="skip",
            )
        )
    if chart.mean is not None:
        for value, label, dash in (
            (chart.upper, "Upper limit", "dash"),
            (chart.mean, "Baseline mean", "solid"),
            (chart.lower, "Lower limit", "dash"),
        ):
            shown = _shown(value, scale)
            if metric.is_proportion:
                shown = max(0.0, min(100.0, shown))
            elif label == "Lower limit":
                shown = max(0.0, shown)
            fig.add_hline(
                y=shown,
                line={"color": GREY, "dash": dash, "width": 1.5},
                annotation_text=f"{label} {shown:g}{scale.suffix}",
                annotation_position="top left",
                annotation_font={"color": INK, "size": 11},
            )
    fig.add_vline(x=chart.change_at, line={"color": INK, "width": 2, "dash": "dot"})
    fig.add_annotation(
        x=chart.change_at,
        y=1,
        yref="paper",
        text=f"Change {chart.change_at:%Y-%m-%d}",
        showarrow=False,
        xanchor="left",
        yanchor="bottom",
        font={"color": INK, "size": 12},
    )
    plain_layout(
        fig,
        height=360,
        margin={"l": 56, "r": 16, "t": 36, "b": 48},
        legend={"orientation": "h", "y": -0.2, "x": 0},
        # Weeks are counted from the change date, in UTC days (as the Check counts them).
        xaxis={"title": {"text": "Week starting (UTC)"}, "gridcolor": GRID, "tickformat": "%b %d"},
        yaxis={
            "title": {"text": axis_label(metric, scale)},
            "gridcolor": GRID,
            "rangemode": "tozero",
            "ticksuffix": scale.suffix,
        },
    )
    return fig


def run_chart_html(chart: RunChart, metric: MetricSpec, *, div_id: str) -> str:
    """The run chart, embedded by :func:`figure_html`."""
    return figure_html(run_chart_figure(chart, metric), div_id=div_id)


def figure_html(fig: go.Figure, *, div_id: str) -> str:
    """The figure as an empty ``<div>`` and its spec as JSON data; ``static/js/run_chart.js``
    draws it with plotly.js from the static files. No inline script: the
    Content-Security-Policy runs only our static files (and nonce'd scripts)."""
    spec = fig.to_plotly_json()
    text = json.dumps(spec, cls=PlotlyJSONEncoder, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (
        f'<div id="{div_id}" class="plotly-graph-div" data-run-chart="{div_id}-spec"></div>'
        f'<script type="application/json" id="{div_id}-spec">{text}</script>'
    )


def limits_text(chart: RunChart, metric: MetricSpec) -> str:
    """The baseline's natural process limits as the chart draws them: ``1.2 d – 13.6 d``."""
    if chart.upper is None:
        return ""
    scale = chart_scale(chart, metric)
    low, high = _shown(chart.lower, scale), _shown(chart.upper, scale)
    if metric.is_proportion:
        low, high = max(0.0, low), min(100.0, high)
    else:
        low = max(0.0, low)
    return f"{low:g}{scale.suffix} – {high:g}{scale.suffix}"
