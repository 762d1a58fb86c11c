"""The 5S scores over time (docs/five-s.md): one small Plotly chart per S, each audit a
point, drawn by ``static/js/run_chart.js`` from a JSON spec in the page (no inline script:
the Content-Security-Policy runs only static files)."""

from __future__ import annotations

import plotly.graph_objects as go

from kaizen.charts import BLUE, GREY, GRID, INK, figure_html, plain_layout
from kaizen.fives.models import FiveS, FiveSAudit


def s_figure(audits: list[FiveSAudit], s: str) -> go.Figure:
    """One S's score per audit (percent, 0–100), with the overall score in grey behind it."""
    dates = [a.audited_on for a in audits]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=[a.score for a in audits],
            mode="lines",
            name="Whole audit",
            line={"color": GREY, "width": 1.5, "dash": "dot"},
            hovertemplate="%{x|%Y-%m-%d}: whole audit %{y} %<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=[a.s_score(s) for a in audits],
            mode="lines+markers",
            name=FiveS(s).label,
            line={"color": BLUE, "width": 2},
            marker={"color": BLUE, "size": 8},
            hovertemplate="%{x|%Y-%m-%d}: " + FiveS(s).label + " %{y} %<extra></extra>",
        )
    )
    plain_layout(
        fig,
        height=220,
        margin={"l": 44, "r": 12, "t": 12, "b": 36},
        showlegend=False,
        xaxis={"gridcolor": GRID, "tickformat": "%b %d", "color": INK},
        yaxis={"range": [0, 105], "gridcolor": GRID, "ticksuffix": " %", "color": INK},
    )
    return fig


def s_chart_html(audits: list[FiveSAudit], s: str) -> str:
    """The figure as an empty ``<div>`` and its spec as JSON data (``run_chart.js``)."""
    return figure_html(s_figure(audits, s), div_id=f"five-s-{s}")
