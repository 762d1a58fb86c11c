"""Across the streams of a team: each stream's funnel, win rate and velocity side by side."""

from __future__ import annotations

from dataclasses import dataclass

from funnel.dashboards.charts.common import (
    BLUE,
    Chart,
    Figure,
    StreamMap,
    _bar_per_row,
    _hbars_beside,
    _pct,
    _r,
    _text_outside,
    _title,
    basis_of,
)
from funnel.dashboards.charts.funnel import FUNNEL_COLUMNS, _funnel_rows, _funnel_spec, _next_labels
from funnel.metrics.results import MetricsResult

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


def _previous_win_rate(e: StreamFigures) -> float | None:
    """The previous period's win rate of the same kind as this period's (a previous figure
    computed before the win rate past the hand-off existed has none)."""
    if e.previous is None or e.previous.summary.handoff != e.result.summary.handoff:
        return None
    return e.previous.summary.deals_win_rate


def team_win_rate_chart(streams: list[StreamFigures]) -> Chart:
    rows = [
        [
            e.name,
            e.result.summary.won,
            e.result.summary.deals_closed,
            _pct(e.result.summary.deals_win_rate),
            _pct(_previous_win_rate(e)),
        ]
        for e in streams
    ]
    chart = Chart(
        key="team_win_rate",
        title="Win rate by stream",
        units="% of closed deals won",
        how_to_read=(
            "Each stream's win rate this period (blue) and in the previous period (grey), "
            "with the closed deals behind it: a rate from few deals moves a lot by chance. "
            "Where a stream's map has a ready-for-sales hand-off, the rate is of the deals "
            "that got past it, as on its Funnel dashboard."
        ),
        as_of=min((e.result.computed_at for e in streams), default=None),
        columns=["stream", "won", "closed", "win_rate_pct", "previous_win_rate_pct"],
        rows=rows,
    )
    if not any(r[2] for r in rows):
        return chart.empty_because(
            "No deal was won or lost in any stream of the team in this period."
        )
    names = [r[0] for r in rows]
    return chart.plotted(
        _hbars_beside(
            names,
            dict(
                name="This period",
                values=[r[3] for r in rows],
                **_text_outside(
                    [f"{r[3]:.0f}% of {r[2]}" if r[3] is not None else "" for r in rows]
                ),
                hovertemplate="%{y}: %{text} closed<extra></extra>",
            ),
            dict(
                name="Previous period",
                values=[r[4] for r in rows],
                hovertemplate="%{y}: %{x:.0f}% before<extra></extra>",
            ),
            per_row=28,
            xaxis={"title": _title("Win rate (%)"), "range": [0, 100], "ticksuffix": "%"},
            right=90,
            label="Bar chart of the win rate of each stream",
        )
    )


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
    day = "working day" if streams and basis_of(streams[0].result).working else "day"
    chart = Chart(
        key="team_velocity",
        title="Pipeline velocity by stream",
        units=f"{currency} per {day}",
        how_to_read=(
            f"The money each stream's pipeline turns into wins per {day}: open deals × win "
            "rate × mean won deal size ÷ sales cycle. Hover a bar for its four levers."
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
        return chart.empty_because("No stream has a pipeline velocity in this period.")
    smap = streams[0].smap
    return _bar_per_row(
        chart,
        rows,
        5,
        "Velocity",
        BLUE,
        "%{y}: %{text}<br>%{customdata[0]} open × "
        "%{customdata[1]:.0f}% × %{customdata[2]} ÷ %{customdata[3]:.0f} d",
        "Bar chart of the pipeline velocity of each stream",
        axis={"title": _title(f"{currency} per day"), "rangemode": "tozero", "tickformat": "~s"},
        text=[f"{smap.money(r[5])}/day" if r[5] is not None else "" for r in rows],
        customdata=[[r[1], r[2], smap.money(r[3]), r[4]] for r in rows],
        per_row=40,
        showlegend=False,
        right=110,
    )
