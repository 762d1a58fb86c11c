"""The waste dashboard's charts and headline tiles: the waste Pareto in hours and in money,
waste by step, the timeline ladder, and the counts behind them.
"""

from __future__ import annotations

from typing import Any

from funnel.dashboards.charts.common import (
    _WHITE_EDGE,
    CURRENCY_SYMBOLS,
    GREEN,
    INK,
    WASTE_COLOURS,
    Chart,
    Figure,
    StreamMap,
    Tile,
    _axis,
    _bar_height,
    _bars,
    _before_marker,
    _hbars,
    _layout,
    _pareto_line,
    _percent_axis2,
    _plot,
    _r,
    _relative,
    _steps_axis,
    _steps_with_names,
    _text_outside,
    _title,
    basis_of,
)
from funnel.metrics.results import MetricsResult
from streams.drawing import format_work_hours

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
            _bars(
                y_title,
                labels,
                [r[1] for r in rows],
                horizontal=False,
                marker={
                    "color": [WASTE_COLOURS[r[4]] for r in rows],
                    "line": {"color": INK, "width": 0.5},
                },
                **_text_outside([f"{r[2]:.0f}%" for r in rows]),
                hovertemplate="%{x}<br>" + hover_value + " (%{text})<extra></extra>",
            ),
            _pareto_line(
                labels, [r[3] for r in rows], hovertemplate="Cumulative: %{y:.0f}%<extra></extra>"
            ),
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
            yaxis2=_percent_axis2("Cumulative", 105),
        ),
    }


def _wrap(label: str) -> str:
    """``Defects (rework)`` → ``Defects<br>(rework)``: two short lines fit under a bar."""
    return label.replace(" (", "<br>(")


def waste_pareto_chart(result: MetricsResult) -> Chart:
    waste, b = result.waste, basis_of(result)
    rows = _pareto_rows(
        [(label, getattr(waste, name) or 0.0, colour) for label, name, colour in HOUR_WASTES]
    )
    chart = Chart(
        key="pareto_hours",
        title="Pareto of the wastes measured in hours",
        units=f"{b.hours} (summed over deals)",
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
        return chart.empty_because("No waste was measured in this period: no visit left a step.")
    return chart.plotted(
        Figure(
            _pareto_spec(rows, y_title="Hours", hover_value="%{y:,.0f} h"),
            label="Pareto chart of the wastes in hours",
        )
    )


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
        return chart.empty_because(
            "No lane of this stream has an hourly cost, so waste cannot be priced. A manager "
            "sets lane costs in the map editor."
        )
    if not any(r[1] for r in rows):
        return chart.empty_because("No priced waste was measured in this period.")
    return chart.plotted(
        Figure(
            _pareto_spec(
                rows, y_title=f"Cost ({smap.currency})", hover_value=f"{symbol}%{{y:,.0f}}"
            ),
            label="Pareto chart of the wastes in money",
        )
    )


def waste_by_step_chart(result: MetricsResult, smap: StreamMap) -> Chart:
    b = basis_of(result)
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
        units=f"{b.hours} (summed over deals)",
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
        return chart.empty_because("No waste was measured in this period.")
    names = [r[0] for r in rows]
    data = [
        _bars(
            label,
            names,
            [r[i + 1] for r in rows],
            marker={"color": WASTE_COLOURS[colour], "line": _WHITE_EDGE},
            hovertemplate=f"%{{y}}: %{{x:,.0f}} h {label.lower()}<extra></extra>",
        )
        for i, (label, _, colour) in enumerate(fields)
    ]
    return chart.plotted(
        _hbars(
            names,
            data,
            barmode="stack",
            xaxis={"title": _title("Hours"), "tickformat": "~s"},
            label="Stacked bar chart of the hours of each waste per step",
        )
    )


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
        return chart.empty_because("No stalled deal, hand-off or rework in this period.")
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
            _bars(
                label,
                names,
                values,
                xaxis=f"x{suffix}",
                yaxis="y",
                marker={"color": WASTE_COLOURS[colour]},
                **_text_outside([f"{v:,}" for v in values]),
                hovertemplate=f"%{{y}}: %{{x:,}} {label.lower()}<extra></extra>",
            )
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
    return chart.plotted(
        _plot(
            data,
            height=_bar_height(len(rows), per_row=34) + 30,
            showlegend=False,
            yaxis=_steps_axis(names),
            annotations=annotations,
            right=16,
            top=30,
            **axes,
            label="Bar charts of stalled deals, hand-offs and re-entries per step",
        )
    )


VALUE_CLASS_LABELS = {
    "value_add": "value-add",
    "necessary_nva": "necessary non-value-add",
    "waste": "waste",
}


def timeline_ladder_chart(result: MetricsResult, smap: StreamMap) -> Chart:
    rows, b = [], basis_of(result)
    for name, s in _steps_with_names(result, smap):
        info = smap.step(s.step_id)
        lead, work = s.median_hours, s.median_work_hours
        wait = max(0.0, lead - (work or 0.0)) if lead is not None else None
        rows.append(
            [
                name,
                VALUE_CLASS_LABELS.get(info.value_class, "") if info else "",
                b.in_days(lead),
                _r(work, 2),
                b.in_days(work, 3),
                b.in_days(wait),
            ]
        )
    summary = result.summary
    chart = Chart(
        key="timeline_ladder",
        title="Timeline ladder: value-add time against waiting, measured",
        units=f"{b.days} (median per step)",
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
        return chart.empty_because(
            "No visit left a step in this period, so nothing is measured yet."
        )
    names = [r[0] for r in rows]
    ticks = [f"{r[0]}<br><span style='font-size:11px'>{r[1]}</span>" for r in rows]
    chart.figures = [
        _hbars(
            names,
            [
                _bars(
                    "Work (process time)",
                    names,
                    [r[4] for r in rows],
                    marker={"color": GREEN},
                    customdata=[r[3] for r in rows],
                    hovertemplate="%{y}: %{customdata:.1f} h of work<extra></extra>",
                ),
                _bars(
                    "Waiting",
                    names,
                    [r[5] for r in rows],
                    marker=_before_marker(),
                    # Written at the end of the bar: the work itself is often a sliver.
                    text=[
                        f"{b.format(None if r[2] is None else r[2] * b.day_hours)} · work "
                        f"{format_work_hours(r[3])}"
                        if r[2] is not None
                        else ""
                        for r in rows
                    ],
                    # Inside the long bars, beside the short ones.
                    textposition="auto",
                    insidetextanchor="end",
                    cliponaxis=False,
                    textfont={"size": 12, "color": INK},
                    hovertemplate="%{y}: %{x:.1f} " + b.days + " waiting<extra></extra>",
                ),
            ],
            per_row=44,
            barmode="stack",
            xaxis={
                "title": _title("Days (median)"),
                "range": [0, 1.3 * max(r[2] or 0 for r in rows)],
            },
            right=36,
            ticks={"tickmode": "array", "tickvals": names, "ticktext": ticks},
            label="Timeline ladder of work against waiting time per step",
        )
    ]
    if summary.lead_time_hours is not None:
        ratio = summary.activity_ratio
        chart.note = (
            f"Lead time {b.format(summary.lead_time_hours)}"
            + (" of working time" if b.working else "")
            + f", of which {format_work_hours(summary.process_time_hours)} work: activity ratio "
            + ("—" if ratio is None else f"{100 * ratio:.1f}%")
            + "."
        )
    return chart


# --- Headline tiles -------------------------------------------------------------------------


def waste_tiles(
    result: MetricsResult, previous: MetricsResult | None, smap: StreamMap
) -> list[Tile]:
    w, pw, b = result.waste, previous.waste if previous else None, basis_of(result)

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
            f"{b.hours}: waiting, rework, extra processing, overproduction",
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
