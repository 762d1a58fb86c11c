"""The funnel dashboard's charts and headline tiles: the stage funnel, the velocity levers,
deals closed per week, time in each stage, and cohorts by the month they entered.
"""

from __future__ import annotations

from funnel.dashboards.charts.common import (
    BLACK,
    BLUE,
    INK,
    LEGEND,
    ORANGE,
    SERIES,
    VERMILLION,
    Chart,
    Figure,
    StreamMap,
    Tile,
    _bars,
    _change,
    _hbars_beside,
    _layout,
    _month_label,
    _pct,
    _pct_text,
    _percent_axis2,
    _plot,
    _r,
    _relative,
    _scatter,
    _share_line,
    _stages_beside,
    _stages_with_names,
    _steps_axis,
    _title,
    _utc_buckets,
    _when,
    basis_of,
)
from funnel.metrics.results import MetricsResult, StreamSummary
from funnel.metrics.series import ChartSeries
from funnel.qualification.stats import wilson

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
        return chart.empty_because(
            "No deal entered the stream in this period, so there is no funnel yet."
        )
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
        return chart.empty_because("No deal entered the stream in this period.")
    months = [_month_label(c.period) for c in series.cohorts]
    data = []
    for i, name in enumerate([*(name for _, name in stages), "Won"]):
        line = [row for row in rows if row[2] == name]
        won = name == "Won"
        colour, symbol = (BLACK, "star") if won else SERIES[i % len(SERIES)]
        data.append(
            _scatter(
                "lines+markers",
                name,
                [row[0] for row in line],
                [row[4] for row in line],
                customdata=[[row[3], row[1]] for row in line],
                line={"color": colour, "width": 2.5, "dash": "dash" if won else "solid"},
                marker={"symbol": symbol, "size": 8, "color": colour},
                hovertemplate=f"{name}: %{{y:.1f}}% (%{{customdata[0]:,}} of "
                "%{customdata[1]:,})<extra>%{x}</extra>",
            )
        )
    return chart.plotted(
        _plot(
            data,
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
            label="Line chart of the share of each month's deals reaching each stage",
        )
    )


def closed_per_week_chart(series: ChartSeries, result: MetricsResult) -> Chart:
    t = series.throughput
    # With a ready-for-sales hand-off (metrics.md §3), the leads lost before it stand apart.
    leads = len(t.leads_lost) == len(t.weeks) and result.summary.handoff
    rows = []
    for k, (week, won, lost) in enumerate(zip(t.weeks, t.won, t.lost, strict=True)):
        closed = won + lost
        rows.append([week, won, lost, closed, _r(100 * won / closed, 1) if closed else None])
        if leads:
            rows[-1].append(t.leads_lost[k])
    summary = result.summary
    how = (
        "Each bar is a week's closed deals, won (blue) and lost (orange), so the whole bar "
        "is the win rate's denominator; the black line is that week's win rate (right axis)."
    )
    if leads:
        how += (
            " Leads lost before the ready-for-sales hand-off are not lost deals: they are "
            "left out of the bars and the rate, and counted in the table's last column."
        )
    chart = Chart(
        key="closed_per_week",
        title="Win rate: deals won and lost per week",
        units="deals closed per week; win rate in %",
        how_to_read=how,
        as_of=_when(series.computed_at),
        columns=["week_starting", "won", "lost", "closed", "win_rate_pct"]
        + (["leads_lost_before_handoff"] if leads else []),
        rows=rows,
    )
    if not any(row[3] for row in rows):
        return chart.empty_because("No deal was won or lost in a whole week of this period.")
    weeks = [row[0] for row in rows]
    chart.figures = [
        _plot(
            [
                *(
                    _bars(
                        name,
                        weeks,
                        [r[col] for r in rows],
                        horizontal=False,
                        marker={"color": colour},
                        hovertemplate=f"{name}: %{{y}}<extra></extra>",
                    )
                    for name, col, colour in (("Won", 1, BLUE), ("Lost", 2, ORANGE))
                ),
                _share_line(
                    "Win rate (right axis)",
                    weeks,
                    [r[4] for r in rows],
                    size=6,
                    connectgaps=False,
                    hovertemplate="Win rate: %{y:.1f}%<extra></extra>",
                ),
            ],
            barmode="stack",
            hovermode="x unified",
            xaxis={
                "type": "date",
                "title": _utc_buckets("Week starting"),
                "tickformat": "%d %b",
            },
            yaxis={"title": _title("Deals closed")},
            legend={**LEGEND, "traceorder": "normal"},
            yaxis2=_percent_axis2("Win rate", 100),
            label="Stacked bar chart of deals won and lost per week with the weekly win rate",
        )
    ]
    if summary.deals_closed and leads:
        chart.note = (
            f"Whole period: {summary.won:,} won of {summary.deals_closed:,} deals closed past "
            f"the hand-off ({_pct_text(_pct(summary.deals_win_rate))}); "
            f"{summary.leads_lost:,} leads lost before it."
        )
    elif summary.closed:
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
    rows, days = [], basis_of(result).short_days
    now_v = result.summary.pipeline_velocity_per_day
    before_v = previous.summary.pipeline_velocity_per_day if previous else None
    for label, name, _, more_is_better in LEVERS:
        now = getattr(result.summary, name)
        before = getattr(previous.summary, name) if previous else None
        if name == "win_rate":
            now, before = _pct(now), _pct(before)
            if result.summary.handoff:  # lead-to-win, not the tile's (metrics.md §3)
                label = "Win rate (leads included)"
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
        note="Open deals are the deals open now in both periods, so that lever shows no change."
        + (
            " With a ready-for-sales hand-off on the map, open deals and the win rate count "
            "the leads too, so the win rate here is lead-to-win, below the deals' win rate."
            if result.summary.handoff
            else ""
        ),
        as_of=result.computed_at,
        columns=["lever", "previous", "current", "change_pct", "effect_on_velocity_pct"],
        rows=rows,
    )
    if now_v is None:
        return chart.empty_because(
            "Pipeline velocity needs won deals with amounts and a sales cycle in this period."
        )
    if any(row[4] is None for row in rows):
        return chart.empty_because("The previous period has no pipeline velocity to compare with.")
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
    return chart.plotted(
        _plot(
            [
                _bars(
                    "Effect on velocity",
                    labels,
                    effects,
                    marker={
                        "color": [BLUE if e >= 0 else VERMILLION for e in effects],
                        "pattern": {"shape": ["" if e >= 0 else "/" for e in effects]},
                    },
                    customdata=[
                        [_lever_text(r[1], r, smap, days), _lever_text(r[2], r, smap, days)]
                        for r in rows
                    ],
                    hovertemplate="%{y}: %{customdata[0]} → %{customdata[1]}<br>"
                    "effect on velocity %{x:+.1f}%<extra></extra>",
                )
            ],
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
            right=64,
            label="Bar chart of how each lever moved pipeline velocity",
        )
    )


def _lever_text(value: float | None, row: list, smap: StreamMap, days: str = "d") -> str:
    """A lever's value as read; ``days``: the unit of the sales cycle ("d", or "working
    days" in working time)."""
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
        return f"{value:.1f} {days}"
    return f"{value:,.0f}"


def stage_time_chart(
    result: MetricsResult, previous: MetricsResult | None, smap: StreamMap, period_label: str
) -> Chart:
    rows = [
        [
            name,
            _r(stage.median_days_in_stage, 2),
            stage.n_left,
            _r(prior.median_days_in_stage, 2) if prior else None,
        ]
        for name, stage, prior in _stages_beside(result, previous, smap)
    ]
    chart = Chart(
        key="stage_time",
        title="Sales cycle by stage: median time in each stage",
        units=basis_of(result).days,
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
        return chart.empty_because("No deal of this period's cohort has left a stage yet.")
    names = [row[0] for row in rows]
    return chart.plotted(
        _hbars_beside(
            names,
            dict(
                name="This period",
                values=[r[1] for r in rows],
                customdata=[r[2] for r in rows],
                hovertemplate="%{y}: %{x:.1f} d (%{customdata} deals)<extra>this period</extra>",
            ),
            dict(
                name=period_label.capitalize(),
                values=[r[3] for r in rows],
                hovertemplate="%{y}: %{x:.1f} d<extra>previous</extra>",
            ),
            per_row=22,
            xaxis={"title": _title(f"Median {basis_of(result).days} in stage")},
            label="Bar chart of the median days in each funnel stage",
        )
    )


# --- Headline tiles -------------------------------------------------------------------------


def win_rate_tile(s: StreamSummary, p: StreamSummary | None) -> Tile:
    """The win rate. With a ready-for-sales hand-off on the map, of the deals that got past it:
    a lead disqualified before it is not a lost deal (docs/metrics.md §3), and the rate over
    every closed case stands in the detail."""
    if not s.handoff:
        change, good = _change(
            _pct(s.win_rate), _pct(p.win_rate) if p else None, lambda v: f"{v:.1f} pts", True
        )
        return Tile(
            "win_rate",
            "Win rate",
            _pct_text(_pct(s.win_rate)),
            f"{s.won:,} won of {s.closed:,} closed",
            change,
            good,
            s.closed < 5,
            "Won ÷ (won + lost) over the deals closed in the period.",
        )
    change, good = _change(
        _pct(s.selling_win_rate),
        _pct(p.selling_win_rate) if p else None,
        lambda v: f"{v:.1f} pts",
        True,
    )
    interval = wilson(s.won, s.selling_closed)
    spread = f" (95 %: {100 * interval[1]:.0f}–{100 * interval[2]:.0f}%)" if interval else ""
    leads = "lead" if s.leads_lost == 1 else "leads"
    with_leads = (
        f"{_pct_text(_pct(s.win_rate))} with the {s.leads_lost:,} {leads} lost before it"
        if s.leads_lost
        else "no lead lost before it"
    )
    return Tile(
        "win_rate",
        "Win rate",
        _pct_text(_pct(s.selling_win_rate)),
        f"{s.won:,} won of {s.selling_closed:,} deals closed past the ready-for-sales "
        f"hand-off{spread}; {with_leads}",
        change,
        good,
        s.selling_closed < 5,
        "Won ÷ (won + lost) over the deals closed in the period that got past the "
        "ready-for-sales hand-off; leads lost before it are not lost deals. In brackets, "
        "the 95 % (Wilson) interval: where the rate may really lie, given so few deals.",
    )


def funnel_tiles(
    result: MetricsResult, previous: MetricsResult | None, smap: StreamMap
) -> list[Tile]:
    s, p, b = result.summary, previous.summary if previous else None, basis_of(result)
    cycle_change, cycle_good = _change(
        s.sales_cycle_days,
        p.sales_cycle_days if p else None,
        lambda v: f"{v:.1f} {b.short_days}",
        False,
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
        win_rate_tile(s, p),
        Tile(
            "sales_cycle",
            "Sales cycle (median)",
            "—" if s.sales_cycle_days is None else f"{s.sales_cycle_days:.1f} {b.days}",
            f"over {s.won:,} won deals",
            cycle_change,
            cycle_good,
            s.won < 5,
            f"Median {b.days} from a won deal's first step to its close.",
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
            "in the pipeline now"
            + (f"; {s.open_past_handoff:,} past the ready-for-sales hand-off" if s.handoff else ""),
            "",  # counted now in every period: no change to show
            None,
            False,
            "Deals neither won nor lost (leads included, where they flow through the map).",
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
