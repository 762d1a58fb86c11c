"""The Quality dashboard (the qualification lab of a stream): the lab's stored result
(docs/qualification.md "Lab result") turned into charts. The forest plot of the lifts, the
win rates met and not met, the model's calibration (and the reps' own win calls'), the
walk-away rules and the score coverage by step and by rep, with the headline tiles.
"""

from __future__ import annotations

from datetime import datetime

from funnel.dashboards.charts.common import (
    BLACK,
    BLUE,
    GREEN,
    GREY,
    SKY,
    VERMILLION,
    Chart,
    Figure,
    StreamMap,
    Tile,
    _bars,
    _hbars,
    _hbars_beside,
    _pct,
    _plot,
    _r,
    _scatter,
    _text_outside,
    _title,
    _when,
)

#: Each verdict's words, colour and marker (the colour is never the only difference).
VERDICTS = {
    "predicts_win": ("Goes with winning", GREEN, "circle"),
    "predicts_loss": ("Goes with losing", VERMILLION, "square"),
    "no_effect": ("No effect found", GREY, "diamond"),
    "not_yet": ("Cannot tell yet", SKY, "circle-open"),
}
INK_SOFT = "#4A5866"
#: The forest plot's ticks: on a log axis, halves and doubles read as far from 1.
LIFT_TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10)
CONDITIONS = {"unknown": "still Unknown", "not_met": "not met"}


def verdict_label(verdict: str) -> str:
    return VERDICTS.get(verdict, (verdict,))[0]


def _computed_at(result: dict) -> datetime | None:
    text = result.get("computed_at")
    return _when(text.replace("Z", "+00:00")) if text else None


def _no_deals(result: dict) -> str:
    if not result.get("deals", {}).get("closed"):
        return "No deal closed in this window; the lab has nothing to compare yet."
    return ""


def _value(interval: dict | None, key: str = "value") -> float | None:
    return None if interval is None else interval.get(key)


def p_text(value: float | None) -> str:
    """A p or q value in words a table can hold: ``0.041``, ``< 0.0001``, or "—"."""
    if value is None:
        return "—"
    return "< 0.0001" if value < 0.0001 else f"{value:.2g}" if value < 0.01 else f"{value:.2f}"


def lift_text(interval: dict | None) -> str:
    if interval is None or interval.get("value") is None:
        return "—"
    return f"{interval['value']:.2f} [{interval['low']:.2f}–{interval['high']:.2f}]"


def difference_text(interval: dict | None) -> str:
    """A difference of win rates in percentage points with its interval."""
    if interval is None or interval.get("value") is None:
        return "—"
    v, lo, hi = (100 * interval[k] for k in ("value", "low", "high"))
    return f"{v:+.0f} pts [{lo:+.0f} to {hi:+.0f}]"


def interval_pct(interval: dict | None) -> str:
    """``47 % [41–52 %]``, or "—"."""
    if interval is None or interval.get("value") is None:
        return "—"
    v, lo, hi = (100 * interval[k] for k in ("value", "low", "high"))
    return f"{v:.0f} % [{lo:.0f}–{hi:.0f} %]"


def _unscored(pipeline: dict) -> str:
    """The tile's tail, e.g. "; 3 open deals had no probability" (their step's model is
    below its floor)."""
    missing = (pipeline.get("deals_open") or 0) - pipeline["deals_scored"]
    if missing <= 0:
        return ""
    return f"; {missing:,} open deal{'s' if missing != 1 else ''} had no probability"


def lab_tiles(result: dict, smap: StreamMap) -> list[Tile]:
    """Closed deals, what the criteria say, the model's AUC and the pipeline's quality."""
    deals, criteria, model = result["deals"], result["criteria"], result["model"]
    found = [c for c in criteria if c["verdict"] in ("predicts_win", "predicts_loss")]
    tiles = [
        Tile(
            key="closed",
            label="Closed deals compared",
            value=f"{deals['closed']:,}",
            detail=f"{deals['won']:,} won, {deals['lost']:,} lost",
            low_sample=deals["closed"] < 5,
        ),
        Tile(
            key="criteria_found",
            label="Criteria that predict the outcome",
            value=f"{len(found)} of {len(criteria)}",
            detail=", ".join(c["name"] for c in found) or "none yet",
            help="Criteria whose win rate when met differs from when not met, with q < 0.05.",
        ),
    ]
    if model["status"] == "ok":
        auc = model["auc"]
        tiles.append(
            Tile(
                key="auc",
                label="Model AUC (out of sample)",
                value=f"{auc['value']:.2f}",
                detail=f"[{auc['low']:.2f}–{auc['high']:.2f}], Brier {model['brier']:.2f}",
                help="0.5 is a coin toss, 1 a perfect ranking of won over lost deals.",
            )
        )
    pipeline = result.get("open_deals") or {}
    if pipeline.get("model_ok"):
        tiles.append(
            Tile(
                key="pipeline_quality",
                label="Pipeline quality (expected value)",
                value=smap.money(pipeline["expected_value"]),
                detail=f"of {smap.money(pipeline['pipeline'])} unweighted, over the "
                f"{pipeline['deals_scored']:,} open deals scored" + _unscored(pipeline),
                help="Σ win probability × amount over the open deals the model scored, beside "
                "the plain sum of the same deals.",
            )
        )
    return tiles


def forest_chart(result: dict) -> Chart:
    """The lift of each criterion with its 95 % interval, on a log axis, the highest on top."""
    rows = [
        [
            c["name"],
            _r(c["lift"]["value"], 2),
            _r(c["lift"]["low"], 2),
            _r(c["lift"]["high"], 2),
            c["q"],
            verdict_label(c["verdict"]),
            c["verdict"],
        ]
        for c in sorted(
            (c for c in result["criteria"] if c.get("lift")),
            key=lambda c: -c["lift"]["value"],
        )
    ]
    chart = Chart(
        key="forest",
        title="Which criteria go with winning",
        units="lift: win rate when met ÷ win rate when not met, 95 % interval",
        how_to_read=(
            "Each dot is how many times likelier a deal was to be won when the criterion was "
            "met (as known at the as-of step) than when it was not; the bar is its 95 % "
            "interval. Right of the line at 1 the criterion goes with winning, left of it "
            "with losing; a bar that crosses the line means the deals closed so far cannot "
            "tell. The axis is logarithmic, so twice and half are as far from 1."
        ),
        as_of=_computed_at(result),
        columns=["criterion", "lift", "lift_low", "lift_high", "q", "verdict", "verdict_key"],
        rows=rows,
        wide=True,
    )
    if not rows:
        return chart.empty_because(
            _no_deals(result) or "No criterion has deals on both sides yet (met and not met)."
        )
    names = [r[0] for r in rows]
    traces = []
    for verdict, (label, colour, symbol) in VERDICTS.items():
        mine = [r for r in rows if r[6] == verdict]
        if not mine:
            continue
        traces.append(
            _scatter(
                "markers",
                label,
                [r[1] for r in mine],
                [r[0] for r in mine],
                marker={"color": colour, "symbol": symbol, "size": 11},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [r[3] - r[1] for r in mine],
                    "arrayminus": [r[1] - r[2] for r in mine],
                    "color": colour,
                    "thickness": 2,
                    "width": 4,
                },
                customdata=[[r[2], r[3], r[4]] for r in mine],
                hovertemplate="%{y}: lift %{x:.2f} [%{customdata[0]:.2f}–%{customdata[1]:.2f}]"
                f"<extra>{label}</extra>",
            )
        )
    return chart.plotted(
        _hbars(
            names,
            traces,
            per_row=30,
            xaxis={
                "type": "log",
                "tickvals": LIFT_TICKS,
                "ticktext": [f"{v:g}" for v in LIFT_TICKS],
                "title": _title("Lift (log scale; 1 = no difference)"),
            },
            shapes=[
                {
                    "type": "line",
                    "xref": "x",
                    "x0": 1,
                    "x1": 1,
                    "yref": "paper",
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": BLACK, "width": 1, "dash": "dash"},
                }
            ],
            label="Forest plot of each criterion's lift on winning with its 95 % interval",
        )
    )


def win_rates_chart(result: dict) -> Chart:
    """Win rate when met beside when not met, each with its Wilson interval and n; its table
    is the lab's per-criterion table."""

    def row(c: dict, split: dict, label: str, verdict: str | None, needed: int | None) -> list:
        return [
            c["name"],
            label,
            _pct(_value(split["win_rate_met"]), 1),
            split["n_met"],
            _pct(_value(split["win_rate_not_met"]), 1),
            split["n_not_met"],
            _pct(_value(split["difference"]), 1),
            _r(_value(split["lift"]), 2),
            split["p"],
            split["q"],
            verdict,
            needed,
        ]

    # Per criterion: its met split (with the verdict), then every other threshold.
    table = [
        [
            row(c, c, c["met_label"], verdict_label(c["verdict"]), c["deals_needed"]),
            *(
                row(c, t, t["label"], None, None)
                for t in c.get("thresholds", [])
                if t["label"] != c["met_label"]
            ),
        ]
        for c in result["criteria"]
    ]
    rows = [r for group in table for r in group]
    chart = Chart(
        key="win_rates",
        title="Win rate when the criterion was met, and when not",
        units="% of closed deals won, 95 % interval",
        how_to_read=(
            "For each criterion, the share of closed deals won among those that met it "
            "(blue) and among those that did not (grey), with n, the deals behind each. The "
            "table adds the difference, the lift, Fisher's p, the q that corrects it for "
            "testing many criteria and levels at once, and, where the lab cannot tell yet, "
            "how many closed deals it needs to detect an effect worth knowing. Under each "
            "criterion, a row per other level: the deals at or above it against those below."
        ),
        as_of=_computed_at(result),
        columns=[
            "criterion",
            "at_or_above",
            "win_rate_met_pct",
            "n_met",
            "win_rate_not_met_pct",
            "n_not_met",
            "difference_pct_points",
            "lift",
            "p",
            "q",
            "verdict",
            "deals_needed",
        ],
        rows=rows,
    )
    if not rows or not result["deals"]["closed"]:
        return chart.empty_because(_no_deals(result) or "No criteria in the lab yet.")
    names = [c["name"] for c in result["criteria"]]

    def side(key: str, n_key: str) -> dict:
        rates = [c[key] for c in result["criteria"]]
        return {
            "values": [r and _pct(r["value"], 1) for r in rates],
            "error_x": {
                "type": "data",
                "symmetric": False,
                "array": [r and _pct(r["high"] - r["value"], 1) for r in rates],
                "arrayminus": [r and _pct(r["value"] - r["low"], 1) for r in rates],
                "color": INK_SOFT,
            },
            "customdata": [c[n_key] for c in result["criteria"]],
            "hovertemplate": "%{y}: %{x:.0f}% of %{customdata} deals<extra></extra>",
        }

    return chart.plotted(
        _hbars_beside(
            names,
            {"name": "Met", **side("win_rate_met", "n_met")},
            {"name": "Not met", **side("win_rate_not_met", "n_not_met")},
            per_row=20,
            xaxis={"title": _title("% won"), "range": [0, 100], "ticksuffix": "%"},
            label="Bar chart of the win rate when each criterion was met and when not",
        )
    )


def reliability_chart(
    *, key: str, title: str, bins: list[dict], result: dict, how: str, empty: str, who: str
) -> Chart:
    """Predicted against observed win rates in bins of deals, beside the diagonal."""
    rows = [
        [i + 1, _pct(b["predicted"], 1), _pct(b["observed"], 1), b["n"]] for i, b in enumerate(bins)
    ]
    chart = Chart(
        key=key,
        title=title,
        units="% won: predicted against observed",
        how_to_read=how,
        as_of=_computed_at(result),
        columns=["bin", "predicted_pct", "observed_pct", "deals"],
        rows=rows,
    )
    if not rows:
        return chart.empty_because(empty)
    biggest = max(r[3] for r in rows) or 1
    return chart.plotted(
        _plot(
            [
                _scatter(
                    "lines",
                    "Perfect calibration",
                    [0, 100],
                    [0, 100],
                    line={"color": GREY, "dash": "dash", "width": 1},
                    hoverinfo="skip",
                ),
                _scatter(
                    "lines+markers",
                    who,
                    [r[1] for r in rows],
                    [r[2] for r in rows],
                    line={"color": BLUE, "width": 2},
                    marker={
                        "color": BLUE,
                        "size": [8 + 10 * r[3] / biggest for r in rows],
                    },
                    customdata=[r[3] for r in rows],
                    hovertemplate="predicted %{x:.0f}%, won %{y:.0f}% of %{customdata} deals"
                    "<extra></extra>",
                ),
            ],
            height=340,
            xaxis={
                "title": _title("Predicted win probability"),
                "range": [0, 100],
                "ticksuffix": "%",
            },
            yaxis={"title": _title("Share actually won"), "range": [0, 100], "ticksuffix": "%"},
            label=f"Reliability chart: {who.lower()} against the outcomes",
        )
    )


def calibration_chart(result: dict) -> Chart:
    model = result["model"]
    if model["status"] == "ok":
        auc = model["auc"]
        how = (
            f"The model's win probabilities, fitted on other deals (cross-validated in "
            f"{model['folds']} folds), grouped in bins of equal size: each dot is a bin's "
            f"average predicted probability against the share of its deals actually won. "
            f"On the dashed diagonal the model means what it says; above it, it is too "
            f"cautious, below it too hopeful. AUC {auc['value']:.2f} "
            f"[{auc['low']:.2f}–{auc['high']:.2f}] (0.5 is a coin toss, 1 perfect ranking); "
            f"Brier score {model['brier']:.3f} (the mean squared error of the probabilities; "
            "lower is better)."
        )
    else:
        how = (
            "How far the model's win probabilities can be trusted: predicted against observed, "
            "judged on deals the model was not fitted on."
        )
    return reliability_chart(
        key="calibration",
        title="Can the model's win probabilities be trusted",
        bins=(model.get("reliability") or []) if model["status"] == "ok" else [],
        result=result,
        how=how,
        empty=model.get("message") or _no_deals(result) or "No model yet.",
        who="The model",
    )


def win_calls_chart(result: dict) -> Chart | None:
    """The reps' own win probabilities against the outcomes; None when nobody recorded any."""
    calls = result.get("win_calls") or {}
    if not calls.get("n"):
        return None
    brier = calls.get("brier")
    return reliability_chart(
        key="win_calls",
        title="Reps' gut feel against the outcomes",
        bins=calls.get("reliability") or [],
        result=result,
        how=(
            f"The win probabilities reps gave their deals ({calls['n']:,} calls), in bins, "
            "against the share of those deals won. On the diagonal a call of 70 % wins 7 "
            "times in 10."
            + (f" Brier score {brier:.3f} (lower is better)." if brier is not None else "")
        ),
        empty="Too few calls on closed deals to bin.",
        who="Reps' calls",
    )


def rules_chart(result: dict, smap: StreamMap) -> Chart:
    """The walk-away rules, best trade first: rep hours after the step per rule."""
    rules = result["rules"]
    rows = [
        [
            r["text"],
            r["name"],
            r["step_name"],
            CONDITIONS.get(r["condition"], r["condition"]),
            r["n"],
            r["won"],
            _pct(r["win_rate"]["value"], 1),
            _pct(r["win_rate"]["low"], 1),
            _pct(r["win_rate"]["high"], 1),
            _pct(_value(r.get("others_win_rate")), 1),
            r["q"],
            _r(r["hours_after"], 1),
            _r(r["revenue_won"], 0),
            _r(r["hours_per_10k"], 1),
        ]
        for r in rules
    ]
    chart = Chart(
        key="rules",
        title="What each walk-away rule would save",
        units=f"rep hours after the step; {smap.currency} won among the deals",
        how_to_read=(
            "Deals that lacked a criterion at a step and were rarely won. Each bar is the rep "
            "hours those deals took at and after the step; beside it, the revenue won among "
            "them, which walking away would have given up. The best trades come first: the "
            "most hours saved per 10,000 of revenue given up."
        ),
        as_of=_computed_at(result),
        columns=[
            "rule",
            "criterion",
            "step",
            "condition",
            "deals",
            "won",
            "win_rate_pct",
            "win_rate_low_pct",
            "win_rate_high_pct",
            "others_win_rate_pct",
            "q",
            "rep_hours_after",
            "revenue_won",
            "hours_per_10k",
        ],
        rows=rows,
        wide=True,
    )
    if not rows:
        return chart.empty_because(
            _no_deals(result) or "No rule yet: no criterion at a step goes with losing clearly."
        )
    names = [f"{r['name']} {CONDITIONS.get(r['condition'], '')} at {r['step_name']}" for r in rules]
    return chart.plotted(
        _labelled_bars(
            names,
            [r[11] for r in rows],
            name="Rep hours after the step",
            text=[f"{smap.money(r[12])} won" for r in rows],
            customdata=[[r[6], r[4]] for r in rows],
            hover="%{y}: %{x:,.0f} h; win rate %{customdata[0]:.0f}% of %{customdata[1]} deals",
            right=90,
            xaxis={"title": _title("Rep hours at and after the step")},
            label="Bar chart of the rep hours each walk-away rule would save",
        )
    )


def _labelled_bars(
    names: list[str],
    values: list,
    *,
    name: str,
    text: list[str],
    customdata: list,
    hover: str,
    **layout,
) -> Figure:
    """One blue bar per name with ``text`` written beyond its end, and no legend."""
    bars = _bars(
        name,
        names,
        values,
        marker={"color": BLUE},
        **_text_outside(text),
        customdata=customdata,
        hovertemplate=f"{hover}<extra></extra>",
    )
    return _hbars(names, [bars], showlegend=False, **layout)


def coverage_charts(result: dict, *, own_only: bool = False) -> list[Chart]:
    """Score coverage of the open deals by step and by rep; ``own_only``: the result holds
    only the viewer's own row (a rep's, ``lab_result_for``), and the chart says so."""
    coverage = result.get("coverage") or {}
    reps = coverage.get("by_rep") or []
    charts = []
    for key, name_key, label, entries in (
        ("coverage_step", "step_name", "step", coverage.get("by_step") or []),
        ("coverage_rep", "owner_name", "rep", reps),
    ):
        rows = [
            [
                e[name_key],
                e["open_deals"],
                e["due"],
                e["known"],
                _pct(e["share"], 1),
                e["overdue"],
            ]
            for e in entries
        ]
        chart = Chart(
            key=key,
            title=f"Score coverage by {label}"
            + (" (yours)" if key == "coverage_rep" and own_only else ""),
            units="% of due criteria known, open deals",
            how_to_read=(
                f"For each {label}'s open deals, the share of the criteria due by their "
                "step that are known (scored Identified or better). Overdue: criteria still "
                "Unknown on deals already past the step they should be known by."
            ),
            as_of=_computed_at(result),
            columns=[label, "open_deals", "due", "known", "coverage_pct", "overdue"],
            rows=rows,
        )
        if not any(r[2] for r in rows):
            charts.append(chart.empty_because("No open deal has a criterion due yet."))
            continue
        names = [r[0] for r in rows]
        charts.append(
            chart.plotted(
                _labelled_bars(
                    names,
                    [r[4] for r in rows],
                    name="Coverage",
                    text=[f"{r[5]} overdue" for r in rows],
                    customdata=[[r[3], r[2]] for r in rows],
                    hover="%{y}: %{x:.0f}% (%{customdata[0]} of %{customdata[1]} due known)",
                    right=80,
                    xaxis={"title": _title("% of due criteria known"), "range": [0, 100]},
                    label=f"Bar chart of score coverage by {label}",
                )
            )
        )
    return charts
