"""The flow dashboard's charts and headline tiles: cumulative flow, the aging of open deals,
cycle time, time in each step, throughput, and Little's law.
"""

from __future__ import annotations

from collections.abc import Callable

from funnel.dashboards.charts.common import (
    _WHITE_EDGE,
    BLACK,
    BLUE,
    INK,
    ORANGE,
    VERMILLION,
    VIRIDIS,
    Chart,
    StreamMap,
    Tile,
    _bar_height,
    _bars,
    _change,
    _days,
    _hbars,
    _local_day,
    _pct,
    _plot,
    _r,
    _scatter,
    _steps_with_names,
    _text_outside,
    _title,
    _utc_buckets,
    _when,
    _zone,
    basis_of,
)
from funnel.metrics.results import MetricsResult
from funnel.metrics.series import TIME_BIN_LABELS, ChartSeries

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
        return chart.empty_because("No deal reached a step in this period.")
    days = [row[0] for row in rows]
    colours = _sequential(len(steps) + 1)
    data = []
    # Bottom first, so each band fills down to the line below it: Won, then the last step up.
    order = [("Won", len(columns) - 1, colours[-1])] + [
        (name, i + 1, colours[i]) for i, (_, name) in reversed(list(enumerate(steps)))
    ]
    for j, (name, col, colour) in enumerate(order):
        data.append(
            _scatter(
                "lines",
                name,
                days,
                [row[col] for row in rows],
                line={"color": colour, "width": 1.2},
                fill="tozeroy" if j == 0 else "tonexty",
                fillcolor=_alpha(colour, 0.85),
                hovertemplate=f"{name}: %{{y:,}}<extra></extra>",
            )
        )
    return chart.plotted(
        _plot(
            data,
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
            label="Cumulative flow diagram of deals reaching each step per day",
        )
    )


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
    cycle, b = series.cycle_times, basis_of(result)
    rows: list[list] = [
        ["deal", p["deal_id"], _local_day(p["closed_at"]), _r(p["days"], 2)] for p in cycle.points
    ]
    lines = [("p50", cycle.p50), ("p85", cycle.p85), ("p95", cycle.p95)]
    rows += [[name, None, None, _r(value, 2)] for name, value in lines if value is not None]
    chart = Chart(
        key="cycle_times",
        title="Cycle time of won deals",
        units=f"{b.days} from first step to won",
        how_to_read=(
            f"Each dot is a deal won in this period: when it closed (across) and how many {b.days} "
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
        return chart.empty_because("No deal was won in this period.")
    deals = [r for r in rows if r[0] == "deal"]
    if cycle.n > len(deals):
        chart.note = (
            f"Showing the {len(deals):,} latest of {cycle.n:,} won deals; the lines are over "
            "all of them."
        )
    x0, x1 = deals[0][2], deals[-1][2]
    data: list[dict] = [
        # Plain SVG even at CYCLE_POINTS dots: the served plotly.js bundle has no WebGL.
        _scatter(
            "markers",
            "Won deal",
            [r[2] for r in deals],
            [r[3] for r in deals],
            customdata=[[deal_url(r[1]), r[1]] for r in deals],
            marker={"color": BLUE, "size": 7, "opacity": 0.7, "line": _WHITE_EDGE},
            hovertemplate="Deal %{customdata[1]}<br>won %{x|%d %b %Y}<br>"
            "%{y:.1f} " + b.days + "<extra></extra>",
        )
    ]
    styles = {"p50": (BLACK, "solid"), "p85": (ORANGE, "dash"), "p95": (VERMILLION, "dot")}
    annotations = []
    for name, value, *_ in [r[0:1] + r[3:4] for r in rows if r[0] != "deal"]:
        colour, dash = styles[name]
        data.append(
            _scatter(
                "lines",
                f"{name}: {value:.1f} d",
                [x0, x1],
                [value, value],
                line={"color": colour, "width": 2, "dash": dash},
                hovertemplate=f"{name}: {value:.1f} {b.days}<extra></extra>",
            )
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
    return chart.plotted(
        _plot(
            data,
            height=380,
            xaxis={
                "type": "date",
                "title": _title(f"Day the deal was won ({_zone()})"),
                "tickformat": "%d %b",
            },
            yaxis={"title": _title(f"Sales cycle ({b.days})"), "rangemode": "tozero"},
            annotations=annotations,
            hovermode="closest",
            label="Scatterplot of the cycle time of each won deal with p50, p85 and p95 lines",
        )
    )


def time_in_step_chart(series: ChartSeries, result: MetricsResult, smap: StreamMap) -> Chart:
    counts, b = series.time_in_step.counts, basis_of(result)
    rows = []
    for step in result.steps:
        for label, n in zip(TIME_BIN_LABELS, counts.get(str(step.step_id), []), strict=False):
            rows.append([smap.step_name(step.step_id), label, n])
    chart = Chart(
        key="time_in_step",
        title="Time in step, per step",
        units=f"visits that left the step, by time spent there ({b.hours})",
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
        detail = f"median {b.format(step.median_hours)} · n = {step.n_completed:,}"
        figures.append(
            _plot(
                [
                    _bars(
                        name,
                        list(TIME_BIN_LABELS),
                        list(step_counts),
                        horizontal=False,
                        marker={"color": BLUE},
                        hovertemplate="%{x}: %{y:,} visits<extra></extra>",
                    )
                ],
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
        return chart.empty_because("The period is shorter than a whole week.")
    if not any(t.won):
        return chart.empty_because("No deal was won in this period.")
    weeks = [r[0] for r in rows]
    data: list[dict] = [
        _scatter(
            "lines+markers",
            "Won per week",
            weeks,
            [r[1] for r in rows],
            line={"color": BLUE, "width": 2.5},
            marker={"size": 7, "color": BLUE},
            hovertemplate="Week of %{x|%d %b}: %{y} won<extra></extra>",
        ),
    ]
    for name, col, colour, dash in (
        ("Mean", 2, BLACK, "solid"),
        ("Upper limit", 3, VERMILLION, "dash"),
        ("Lower limit", 4, VERMILLION, "dash"),
    ):
        if rows[0][col] is None:
            continue
        data.append(
            _scatter(
                "lines",
                f"{name} {rows[0][col]:.1f}",
                weeks,
                [r[col] for r in rows],
                line={"color": colour, "width": 1.5, "dash": dash},
                hovertemplate=f"{name}: %{{y:.1f}}<extra></extra>",
            )
        )
    signals = [r for r in rows if r[5]]
    if signals:
        data.append(
            _scatter(
                "markers",
                "Signal",
                [r[0] for r in signals],
                [r[1] for r in signals],
                marker={
                    "symbol": "diamond",
                    "size": 13,
                    "color": VERMILLION,
                    "line": {"color": INK, "width": 1},
                },
                hovertemplate="Signal: %{y} won in the week of %{x|%d %b}<extra></extra>",
            )
        )
    return chart.plotted(
        _plot(
            data,
            height=340,
            hovermode="closest",
            xaxis={
                "type": "date",
                "title": _utc_buckets("Week starting"),
                "tickformat": "%d %b",
            },
            yaxis={"title": _title("Deals won"), "rangemode": "tozero"},
            label="Run chart of deals won per week with natural process limits",
        )
    )


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
    aging, b = series.aging, basis_of(result)
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
            b.in_days(i["age_hours"]),
            _r(i["amount"], 2),
            bool(i["stalled"]),
            b.in_days(thresholds.get(i["step_id"])),
        ]
        for i in items
    ]
    chart = Chart(
        key=key,
        title=title,
        units=f"{b.days} at the current step",
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
        return chart.empty_because("No deal is open now.")
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
            _scatter(
                "markers",
                name,
                [r[2] for _, r in group],
                [position[i["step_id"]] + _jitter(i["deal_id"]) for i, _ in group],
                customdata=[
                    [
                        deal_url(r[0]),
                        r[0],
                        r[1],
                        smap.money(r[3]) if r[3] is not None else "no amount",
                    ]
                    for _, r in group
                ],
                marker={
                    "color": colour,
                    "symbol": symbol,
                    "size": size,
                    "opacity": 0.85,
                    "line": _WHITE_EDGE,
                },
                hovertemplate="Deal %{customdata[1]} · %{customdata[3]}<br>"
                "%{customdata[2]}: %{x:.1f} " + b.days + "<extra>" + name.lower() + "</extra>",
            )
        )
    marks = [
        (position[pk], b.in_days(thresholds.get(pk)))
        for pk in order
        if thresholds.get(pk) is not None
    ]
    if marks:
        data.append(
            _scatter(
                "markers",
                "Stall threshold (p85)",
                [x for _, x in marks],
                [y for y, _ in marks],
                marker={
                    "symbol": "line-ns-open",
                    "size": 26,
                    "color": BLACK,
                    "line": {"width": 2.5, "color": BLACK},
                },
                hovertemplate="Stalled after %{x:.1f} " + b.days + "<extra></extra>",
            )
        )
    chart.figures = [
        _plot(
            data,
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
            "draining. Always in elapsed time: Little's law relates WIP and throughput in "
            "clock time."
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
        return chart.empty_because(
            "No step has both work in progress and completed visits in this period."
        )
    names = [r[0] for r in rows]
    return chart.plotted(
        _hbars(
            names,
            [
                _bars(
                    "Average WIP (measured)",
                    names,
                    [r[1] for r in rows],
                    marker={"color": BLUE},
                    **_text_outside(
                        [f"ratio {r[5]:.2f}" if r[5] is not None else "" for r in rows]
                    ),
                    hovertemplate="%{y}: %{x:.1f} deals on average<extra></extra>",
                ),
                _bars(
                    "Throughput × time in step",
                    names,
                    [r[4] for r in rows],
                    marker={"color": ORANGE, "pattern": {"shape": "/"}},
                    customdata=[[r[2], r[3]] for r in rows],
                    hovertemplate="%{y}: %{customdata[0]:.1f}/week × %{customdata[1]:.1f} d"
                    " = %{x:.1f} deals<extra></extra>",
                ),
            ],
            per_row=20,
            barmode="group",
            xaxis={"title": _title("Deals"), "rangemode": "tozero"},
            right=70,
            label="Bar chart comparing average WIP with throughput times time in step per step",
        )
    )


# --- Headline tiles -------------------------------------------------------------------------


def flow_tiles(
    result: MetricsResult, previous: MetricsResult | None, series: ChartSeries
) -> list[Tile]:
    s, p, b = result.summary, previous.summary if previous else None, basis_of(result)
    wip = sum(step.wip_now for step in result.steps)
    weeks = len(series.throughput.weeks)
    won_week = sum(series.throughput.won) / weeks if weeks else None
    lead_change, lead_good = _change(
        b.in_days(s.lead_time_hours),
        b.in_days(p.lead_time_hours) if p else None,
        lambda v: f"{v:.1f} {b.short_days}",
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
            b.format(s.lead_time_hours),
            f"sum of the steps' median times, in {b.name}",
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
