"""The Leads dashboard, part three: the wastes of the hand-offs. Arrivals nobody touched,
the time to the first touch, leads bounced back and forth (ping-pong), the reasons leads are
turned down (a Pareto) and what recycling to nurture yields.

As in ``leads``: each chart builds its table's rows from the stored result (docs/leads.md
"Leads result", metrics.md §8) and plots those rows.
"""

from __future__ import annotations

from collections.abc import Callable

from funnel.dashboards.charts.common import (
    GREEN,
    GREY,
    ORANGE,
    VERMILLION,
    Chart,
    _bars,
    _hbars,
    _pareto_line,
    _pct,
    _percent_axis2,
    _plot,
    _title,
)
from funnel.dashboards.charts.leads import (
    as_of,
    bin_label,
    error_bars,
    histogram_figure,
    hours_unit,
    no_waterfall,
    rate_names,
    rate_row,
)

#: Each kind of reason: its words, colour and bar pattern (colour is never the only cue).
REASON_KINDS = {
    "reject": ("Rejected", VERMILLION, ""),
    "recycle": ("Recycled", ORANGE, "/"),
    "disqualify": ("Disqualified", GREY, "x"),
}


def waste_summary_chart(result: dict, deal_url: Callable[[int], str] | None = None) -> Chart:
    """Never touched, ping-pong and recycle yield side by side, each a share with its n;
    the ping-pong examples as links to their deals (``deal_url``)."""
    waste = result.get("waste") or {}
    never = waste.get("never_touched") or {}
    ping = waste.get("ping_pong") or {}
    recycle = waste.get("recycle_yield") or {}
    rows = [
        ["Never touched", *rate_row(never, "n", "arrivals", "share")],
        ["Ping-pong", *rate_row(ping, "cases", "rejected_cases", "share")],
        ["Recycle yield", *rate_row(recycle, "became_sql", "recycled")],
    ]
    chart = Chart(
        key="waste_summary",
        title="Leads left untouched, bounced, or recycled",
        units="% of each count's cases",
        how_to_read=(
            "Never touched: the arrivals at a hand-off in the window that nobody decided on, "
            "logged work on or took, by the as-of time: leads bought and left to rot. "
            "Ping-pong: of the cases rejected in the window, those rejected more than once, "
            "sent back and forth between the sides. Recycle yield: of the leads recycled to "
            "nurture, the share that later came back ready for sales (with its 95 % "
            "interval): low means nurture is where leads go to die."
        ),
        as_of=as_of(result),
        columns=["waste", "count", "out_of", "share_pct", "low_pct", "high_pct"],
        rows=rows,
    )
    if not result.get("stages"):
        return chart.empty_because(no_waterfall(result))
    if not any(r[2] for r in rows):
        return chart.empty_because("No lead arrived at a hand-off in this window.")
    examples = ping.get("examples") or []
    if examples and deal_url is not None:
        chart.highlights = [(f"Deal #{pk}", deal_url(pk)) for pk in examples]
        chart.highlights_label = "Cases that went back and forth"
    names = rate_names([r[0] for r in rows], rows, met=1, due=2)
    return chart.plotted(
        _hbars(
            names,
            [
                _bars(
                    "Share",
                    names,
                    [r[3] for r in rows],
                    marker={
                        "color": [VERMILLION, ORANGE, GREEN],
                        "pattern": {"shape": ["", "/", "."]},
                    },
                    error_x=error_bars(rows, 3, 4, 5),
                    hovertemplate="%{y}: %{x:.0f}%<extra></extra>",
                )
            ],
            per_row=44,
            showlegend=False,
            bargap=0.4,
            xaxis={"title": _title("%"), "range": [0, 100], "ticksuffix": "%"},
            label="Bar chart of the arrivals never touched, the ping-pong and the recycle yield",
        )
    )


def first_touch_chart(result: dict) -> Chart:
    """The time from arrival to the first decision, over the window's arrivals."""
    unit = hours_unit(result)
    waste = result.get("waste") or {}
    bins = waste.get("first_touch_histogram") or []
    waiting = waste.get("still_waiting", 0)
    rows = [[bin_label(b), b["from_hours"], b.get("to_hours"), b["n"]] for b in bins]
    chart = Chart(
        key="first_touch",
        title="How long new arrivals wait for a first touch",
        units=f"arrivals in the window, by {unit} to their decision",
        how_to_read=(
            "Every lead that arrived at a hand-off in the window, by how long it waited for "
            "the receiving side's decision. Interest cools by the hour: answers on the "
            "left keep leads warm, the long tail on the right lets them go cold."
        ),
        as_of=as_of(result),
        columns=["bin", "from_hours", "to_hours", "arrivals"],
        rows=rows,
        note=f"{waiting:,} arrival{'s' if waiting != 1 else ''} of the window still "
        "waiting for a decision (not in the bars).",
    )
    if not result.get("stages"):
        return chart.empty_because(no_waterfall(result))
    if not any(r[3] for r in rows):
        return chart.empty_because(
            "No arrival in this window has been decided yet"
            + (f" ({waiting:,} still waiting)." if waiting else ".")
        )
    return chart.plotted(
        histogram_figure(
            [[r[0], r[3]] for r in rows],
            name="Arrivals",
            label="Histogram of the time from arrival to the first decision",
        )
    )


def reasons_chart(result: dict) -> Chart:
    """The Pareto of the reasons leads were rejected, recycled or disqualified."""
    reasons = (result.get("waste") or {}).get("reasons") or []
    rows = [
        [
            r["label"],
            REASON_KINDS.get(r["kind"], (r["kind"],))[0],
            r["n"],
            _pct(r.get("cumulative_share"), 1),
        ]
        for r in reasons
    ]
    chart = Chart(
        key="reasons",
        title="Why leads are turned down",
        units="decisions with a reason in the window; cumulative %",
        how_to_read=(
            "Every reject, recycle and disqualify decision gives a reason from the team's "
            "lists. The most frequent come first and the line adds them up: the few reasons "
            "left of where the line passes 80 % are where fixing the lead source pays most."
        ),
        as_of=as_of(result),
        columns=["reason", "kind", "decisions", "cumulative_pct"],
        rows=rows,
        wide=True,
    )
    if not result.get("stages"):
        return chart.empty_because(no_waterfall(result))
    if not rows:
        return chart.empty_because("No lead was turned down with a reason in this window.")
    # Two reasons of different kinds may share a label: the category names both.
    names = [f"{r[0]} ({r[1].lower()})" for r in rows]
    traces = []
    for words, colour, pattern in REASON_KINDS.values():
        mine = [(n, r) for n, r in zip(names, rows, strict=True) if r[1] == words]
        if mine:
            traces.append(
                _bars(
                    words,
                    [n for n, _ in mine],
                    [r[2] for _, r in mine],
                    horizontal=False,
                    marker={"color": colour, "pattern": {"shape": pattern}},
                    hovertemplate="%{x}: %{y:,}<extra>" + words + "</extra>",
                )
            )
    traces.append(
        _pareto_line(
            names, [r[3] for r in rows], hovertemplate="%{x}: %{y:.0f}% so far<extra></extra>"
        )
    )
    return chart.plotted(
        _plot(
            traces,
            height=360,
            barmode="overlay",
            xaxis={
                "type": "category",
                "categoryorder": "array",
                "categoryarray": names,
                "tickangle": -30,
            },
            yaxis={
                "title": _title("Decisions"),
                "rangemode": "tozero",
                # Few decisions: whole numbers only (no 0.2 of a decision).
                **({"dtick": 1} if max(r[2] for r in rows) <= 10 else {}),
            },
            yaxis2=_percent_axis2("Cumulative %", 105),
            label="Pareto chart of the reasons leads were turned down",
        )
    )
