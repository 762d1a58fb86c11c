"""The Leads dashboard, part two: the ready-for-sales queue against the sellers' pull
capacity (is marketing over- or under-producing for sales?), the sellers' WIP against their
limits, and the separation of prospecting from selling (the sellers' share of hours on lead
steps and its trend, and the leads handed to sellers without an accepted hand-off).

As in ``leads``: each chart builds its table's rows from the stored result (docs/leads.md
"Leads result", metrics.md §8) and plots those rows.
"""

from __future__ import annotations

from datetime import date

from funnel.dashboards.charts.common import (
    BLACK,
    BLUE,
    GREEN,
    ORANGE,
    VERMILLION,
    Chart,
    _bar_per_row,
    _bars,
    _hbars,
    _hbars_beside,
    _pct,
    _plot,
    _r,
    _scatter,
    _text_outside,
    _title,
    _utc_buckets,
)
from funnel.dashboards.charts.leads import (
    LEVEL_HIGH,
    LEVEL_LOW,
    as_of,
    error_bars,
    no_waterfall,
    rate_row,
)

# --- The ready-for-sales queue and the sellers' capacity ------------------------------------


def verdict_text(queue: dict) -> str:
    """The queue's verdict in a sentence, with the numbers behind it."""
    verdict = queue.get("verdict") or "unknown"
    arrivals, capacity = queue.get("arrivals_per_week"), queue.get("capacity_per_week")
    if verdict == "unknown" or capacity is None:
        return (
            "The sellers' pull capacity is not known yet: it needs seller WIP limits and leads "
            "pulled and closed in the window."
        )
    a, c = f"{arrivals:,.1f}", f"{capacity:,.1f}"
    if verdict == "over":
        return (
            f"Marketing over-produces: {a} leads a week arrive ready for sales, more than "
            f"the {c} a week the sellers can take at their limits. The queue will grow and "
            "leads go stale in it; produce fewer, better leads or raise capacity."
        )
    if verdict == "under":
        return (
            f"Marketing under-produces: the sellers could pull {c} leads a week at their "
            f"limits, but only {a} arrive. Sellers will go prospecting themselves to fill "
            "the gap."
        )
    return f"Level: {a} leads a week arrive against a capacity of {c} a week (within 10 %)."


def capacity_chart(result: dict) -> Chart:
    """Arrivals at the pull hand-off, pulls and the sellers' pull capacity, per week."""
    queue = result.get("queue") or {}
    rows = [
        ["Arrivals ready for sales", _r(queue.get("arrivals_per_week"), 2)],
        ["Pulled by sellers", _r(queue.get("pulls_per_week"), 2)],
        ["Pull capacity at the sellers' limits", _r(queue.get("capacity_per_week"), 2)],
    ]
    chart = Chart(
        key="capacity",
        title="Does marketing produce what sales can take?",
        units="leads per week over the window",
        how_to_read=(
            "The leads arriving at the ready-for-sales hand-off each week, against what the "
            "sellers pulled and what they could pull: the sum of their WIP limits divided by "
            "the median weeks a pulled lead takes to close (Little's law). The shaded band is "
            "capacity ± 10 %: arrivals inside it are level, above it marketing over-produces, "
            "below it under-produces."
        ),
        as_of=as_of(result),
        columns=["measure", "per_week"],
        rows=rows,
    )
    if not result.get("stages"):
        return chart.empty_because(no_waterfall(result))
    if not any(r[1] for r in rows):
        return chart.empty_because(
            "No lead arrived at the ready-for-sales hand-off in this window, and no seller "
            "capacity is known yet."
        )
    names = [r[0] for r in rows]
    colours = [BLUE, ORANGE, GREEN]
    capacity = rows[2][1]
    shapes = []
    if capacity:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "x0": LEVEL_LOW * capacity,
                "x1": LEVEL_HIGH * capacity,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(0,158,115,0.15)",
                "line": {"width": 0},
                "layer": "below",
            }
        )
    bars = _bars(
        "Per week",
        names,
        [r[1] for r in rows],
        marker={
            "color": colours,
            "pattern": {"shape": ["", "/", "."]},
        },
        **_text_outside(["—" if r[1] is None else f"{r[1]:,.1f}" for r in rows]),
        hovertemplate="%{y}: %{x:,.1f} a week<extra></extra>",
    )
    return chart.plotted(
        _hbars(
            names,
            [bars],
            per_row=44,
            right=50,
            showlegend=False,
            bargap=0.35,
            shapes=shapes,
            xaxis={"title": _title("Leads per week"), "rangemode": "tozero"},
            label="Bar chart of arrivals, pulls and pull capacity per week",
        )
    )


def sellers_chart(result: dict, *, own_only: bool = False) -> Chart:
    """Each seller's work in progress against their WIP limit."""
    sellers = (result.get("queue") or {}).get("sellers") or []
    rows = [[s["label"], s["wip"], s["limit"]] for s in sellers]
    chart = Chart(
        key="sellers",
        title="Sellers' work in progress against their limits" + (" (yours)" if own_only else ""),
        units="open deals per seller",
        how_to_read=(
            "Blue: the open deals a seller holds; grey: their WIP limit. A seller below "
            "their limit has room to pull the next lead from the queue; one at it finishes "
            "work before starting more."
        ),
        as_of=as_of(result),
        columns=["seller", "wip", "limit"],
        rows=rows,
    )
    if not rows:
        return chart.empty_because(
            "No seller has a WIP limit yet: a manager sets them in the waterfall setup."
            if not own_only
            else "You have no WIP limit in this stream."
        )
    names = [r[0] for r in rows]
    return chart.plotted(
        _hbars_beside(
            names,
            {
                "name": "Work in progress",
                "values": [r[1] for r in rows],
                "hovertemplate": "%{y}: %{x} open<extra></extra>",
            },
            {
                "name": "WIP limit",
                "values": [r[2] for r in rows],
                "hovertemplate": "%{y}: limit %{x}<extra></extra>",
            },
            per_row=22,
            xaxis={"title": _title("Open deals"), "rangemode": "tozero", "dtick": 1},
            label="Bar chart of each seller's work in progress against their WIP limit",
        )
    )


# --- Separation: prospecting apart from selling --------------------------------------------


def trend_line(x: list[float], y: list[float]) -> tuple[float, float] | None:
    """The least-squares line ``(slope, intercept)`` of ``y`` on ``x``; None under 3 points
    or when every ``x`` is the same."""
    if len(x) < 3:
        return None
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((a - mx) ** 2 for a in x)
    if not sxx:
        return None
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sxx
    return slope, my - slope * mx


def _trend_words(slope: float | None, p: float | None) -> str:
    """The trend in words: ``slope`` in percentage points per week (the drawn line's), ``p``
    the engine's (scipy ``linregress``)."""
    if slope is None:
        return " The trend needs three weeks or more."
    direction = "falling" if slope < 0 else "rising"
    sure = "unlikely to be chance" if p is not None and p < 0.05 else "which may still be chance"
    p_words = "" if p is None else f", p = {p:.2g}"
    return (
        f" The dashed line is the least-squares trend: {direction} {abs(slope):.1f} points "
        f"a week{p_words}, {sure}."
    )


def _week_number(week: str, first: str) -> float:
    return (date.fromisoformat(week) - date.fromisoformat(first)).days / 7


def _share_row(e: dict) -> list:
    """The share of hours on lead steps (%), the hours and those on lead steps."""
    return [_pct(e.get("share"), 1), _r(e.get("hours"), 1), _r(e.get("prospecting_hours"), 1)]


def prospecting_chart(result: dict) -> Chart:
    """The sellers' share of hours on lead steps, week by week, with its trend line."""
    separation = result.get("separation") or {}
    weeks = separation.get("prospecting_share") or []
    rows = [[w["week"], *_share_row(w)] for w in weeks]
    shown = [r for r in rows if r[1] is not None]
    # The trend over the weeks' dates (a week with no hours leaves a gap, not a step).
    x = [_week_number(r[0], rows[0][0]) for r in shown]
    fit = trend_line(x, [r[1] for r in shown])
    for r in rows:
        at = _week_number(r[0], rows[0][0])
        r.append(None if fit is None or r[1] is None else _r(fit[0] * at + fit[1], 1))
    chart = Chart(
        key="prospecting",
        title="How much of the sellers' time goes on prospecting",
        units="% of sellers' hours on lead steps, per week",
        how_to_read=(
            "The share of the sellers' logged hours (else the steps' planned hours) spent on "
            "the lead steps, before the ready-for-sales hand-off: finding and nurturing leads "
            "instead of selling. Where marketing and SDRs feed the queue well this share "
            "falls towards zero." + _trend_words(fit and fit[0], separation.get("trend_p"))
        ),
        as_of=as_of(result),
        columns=["week", "share_pct", "hours", "prospecting_hours", "trend_pct"],
        rows=rows,
        wide=True,
    )
    if not result.get("stages"):
        return chart.empty_because(no_waterfall(result))
    if not shown:
        return chart.empty_because(
            "No seller logged hours in this window (sellers are reps with a WIP limit)."
        )
    traces = [
        _bars(
            "Share on lead steps",
            [r[0] for r in shown],
            [r[1] for r in shown],
            horizontal=False,
            marker={"color": ORANGE},
            customdata=[[r[3], r[2]] for r in shown],
            hovertemplate="Week of %{x}: %{y:.0f}% (%{customdata[0]:,.1f} of "
            "%{customdata[1]:,.1f} h)<extra></extra>",
        )
    ]
    if fit is not None:
        traces.append(
            _scatter(
                "lines",
                "Trend",
                [r[0] for r in shown],
                [r[4] for r in shown],
                line={"color": BLACK, "dash": "dash", "width": 2},
                hovertemplate="Trend, week of %{x}: %{y:.1f}%<extra></extra>",
            )
        )
    return chart.plotted(
        _plot(
            traces,
            height=300,
            xaxis={"type": "category", "title": _utc_buckets("Week (Monday)")},
            yaxis={
                "title": _title("% of sellers' hours"),
                "rangemode": "tozero",
                "ticksuffix": "%",
            },
            label="Bar chart of the sellers' share of hours on lead steps per week, with its trend",
        )
    )


def _rep_share_chart(
    *,
    key: str,
    title: str,
    units: str,
    how: str,
    result: dict,
    columns,
    rows,
    empty: str,
    values: int,
    text,
    own_only: bool,
) -> Chart:
    chart = Chart(
        key=key,
        title=title + (" (yours)" if own_only else ""),
        units=units,
        how_to_read=how,
        as_of=as_of(result),
        columns=columns,
        rows=rows,
    )
    if not result.get("stages"):
        return chart.empty_because(no_waterfall(result))
    if not rows:
        return chart.empty_because(empty)
    return _bar_per_row(
        chart,
        rows,
        values,
        units,
        BLUE,
        "%{y}: %{x:.0f}%",
        f"Bar chart: {title.lower()}",
        axis={"title": _title("%"), "range": [0, 100], "ticksuffix": "%"},
        text=[text(r) for r in rows],
        per_row=30,
        right=90,
        showlegend=False,
    )


def prospecting_rep_chart(result: dict, *, own_only: bool = False) -> Chart:
    """Each seller's share of hours on lead steps over the window."""
    reps = (result.get("separation") or {}).get("by_rep") or []
    rows = [[r["label"], *_share_row(r)] for r in reps]
    return _rep_share_chart(
        key="prospecting_rep",
        title="Prospecting share by seller",
        units="% of hours on lead steps",
        how=(
            "Each seller's hours on lead steps as a share of all their hours in the window, "
            "with the hours behind it. A seller far above the others is finding their own "
            "leads: ask what the queue is not giving them."
        ),
        result=result,
        columns=["seller", "share_pct", "hours", "prospecting_hours"],
        rows=[r for r in rows if r[1] is not None],
        empty="No seller logged hours in this window.",
        values=1,
        text=lambda r: f"{r[3]:,.0f} of {r[2]:,.0f} h",
        own_only=own_only,
    )


def skipped_chart(result: dict) -> Chart:
    """The leads handed to sellers without an accepted hand-off, per week, with intervals."""
    weeks = (result.get("separation") or {}).get("skipped_share") or []
    rows = [[w["week"], *rate_row(w, "n", "skipped")] for w in weeks]
    chart = Chart(
        key="skipped",
        title="Leads that skipped the hand-off",
        units="% of cases entering a sales step without an accepted SQL, per week, 95 % interval",
        how_to_read=(
            "Of the cases that entered a sales step in the week, the share that had not been "
            "accepted at the ready-for-sales hand-off first: pushed to a seller, or found by "
            "one, instead of pulled from the queue. The bars are the weeks' 95 % intervals; "
            "n is in the table."
        ),
        as_of=as_of(result),
        columns=["week", "entered_sales", "skipped", "rate_pct", "low_pct", "high_pct"],
        rows=rows,
    )
    if not result.get("stages"):
        return chart.empty_because(no_waterfall(result))
    shown = [r for r in rows if r[1]]
    if not shown:
        return chart.empty_because("No case entered a sales step in this window.")
    return chart.plotted(
        _plot(
            [
                _scatter(
                    "lines+markers",
                    "Skipped the hand-off",
                    [r[0] for r in shown],
                    [r[3] for r in shown],
                    line={"color": VERMILLION, "width": 2},
                    marker={"color": VERMILLION, "symbol": "square", "size": 8},
                    error_y=error_bars(shown, 3, 4, 5),
                    customdata=[[r[2], r[1]] for r in shown],
                    hovertemplate="Week of %{x}: %{y:.0f}% (%{customdata[0]} of "
                    "%{customdata[1]})<extra></extra>",
                )
            ],
            height=300,
            showlegend=False,
            xaxis={"type": "category", "title": _utc_buckets("Week (Monday)")},
            yaxis={"title": _title("% skipped"), "range": [0, 105], "ticksuffix": "%"},
            label="Line chart of the share of cases skipping the hand-off per week",
        )
    )


def skipped_rep_chart(result: dict, *, own_only: bool = False) -> Chart:
    """The skipped hand-offs by the case's owner."""
    reps = (result.get("separation") or {}).get("skipped_by_rep") or []
    rows = [[r["label"], *rate_row(r, "n", "skipped")] for r in reps if r["n"]]
    return _rep_share_chart(
        key="skipped_rep",
        title="Skipped hand-offs by owner",
        units="% of cases entering sales without an accepted SQL",
        how=(
            "For each owner, the share of their cases that reached a sales step without "
            "being accepted at the ready-for-sales hand-off, with the cases behind it and "
            "its 95 % interval in the table."
        ),
        result=result,
        columns=["owner", "entered_sales", "skipped", "rate_pct", "low_pct", "high_pct"],
        rows=rows,
        empty="No case entered a sales step in this window.",
        values=3,
        text=lambda r: f"{r[2]:,} of {r[1]:,}",
        own_only=own_only,
    )
