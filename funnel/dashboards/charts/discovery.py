"""The Discovery dashboard's charts (docs/discovery.md): a Discovery result (``funnel.discovery.
snapshots.compute_discovery``) turned into chart cards, each with its table (the CSV) first and
its figure drawn from those rows. The directly-follows graph itself is the SVG of
``funnel.discovery.drawing``; its card here carries the edges' table and CSV."""

from __future__ import annotations

from itertools import pairwise

from funnel.dashboards.charts.common import (
    BLUE,
    GREY,
    VERMILLION,
    Chart,
    Tile,
    _bar_per_row,
    _pct,
    _plot,
    _r,
    _scatter,
)
from funnel.dashboards.charts.leads import as_of, hours_unit
from funnel.discovery.conformance import KINDS

KIND_WORDS = {
    "forward": "to the next step",
    "skip": "further on",
    "back": "back",
    "self": "the same step again",
}


def _names(result: dict) -> dict:
    return {s["id"]: s["name"] for s in result.get("steps") or []}


def _step(names: dict, step: int | None, none: str) -> str:
    return none if step is None else names.get(step, f"step {step}")


def deviation_label(names: dict, row: dict) -> str:
    """``Skipped steps: Lead → Demo`` (the start and the end named as such)."""
    source = _step(names, row["source"], "start")
    target = _step(names, row["target"], "end")
    return f"{KINDS.get(row['kind'], row['kind'])}: {source} → {target}"


def _rate(side: dict, key: str) -> float | None:
    rate = side.get("win_rate")
    return _pct(rate[key]) if rate else None


def discovery_tiles(result: dict) -> list[Tile]:
    summary = result["conformance"]["summary"]
    share = summary["pct_conforming"]
    variants = result["variants"]
    return [
        Tile(
            key="deals",
            label="Deals in the view",
            value=f"{summary['deals']:,}",
            detail="whose first step was in the window",
            low_sample=summary["deals"] < 5,
        ),
        Tile(
            key="conforming",
            label="Followed the map",
            value="–" if share is None else f"{100 * share['value']:.1f}%",
            detail=(
                ""
                if share is None
                else f"{summary['conforming']:,} of {summary['deals']:,} deals; 95 % "
                f"{100 * share['low']:.0f}–{100 * share['high']:.0f}%"
            ),
            help="Deals whose every move followed the map's order (accepted deviations "
            "count as following it).",
        ),
        Tile(
            key="fitness",
            label="Mean fitness",
            value="–" if summary["mean_fitness"] is None else f"{summary['mean_fitness']:.2f}",
            detail="conforming moves ÷ moves, per deal",
        ),
        Tile(
            key="variants",
            label="Variants",
            value=f"{variants['count']:,}",
            detail="distinct paths",
        ),
        Tile(
            key="deviations",
            label="Deviations",
            value=f"{summary['deviations']:,}",
            detail=f"{summary['accepted']:,} of them accepted",
        ),
    ]


def edges_chart(result: dict) -> Chart:
    names, unit = _names(result), hours_unit(result)
    rows = [
        [
            names.get(e["source"]),
            names.get(e["target"]),
            KIND_WORDS[e["kind"]],
            e["transitions"],
            e["deals"],
            _r(e["median_hours"]),
            _r(e["p85_hours"]),
            e["n"],
        ]
        for e in result["graph"]["edges"]
    ]
    chart = Chart(
        key="graph",
        title="The process as the deals ran it",
        units=f"moves between steps; {unit}",
        how_to_read=(
            "Each arrow is a move the deals made from one step straight to another, in the "
            "map's order left to right: arcs above skip steps, arcs below go back (rework), a "
            "loop under a box repeats the step. Frequency shows how many moves; performance the "
            f"median / 85th percentile {unit} from entering the first step to entering the "
            "next. The slider hides the rare moves."
        ),
        as_of=as_of(result),
        columns=[
            "from",
            "to",
            "move",
            "moves",
            "deals",
            f"median_{unit.replace(' ', '_')}",
            f"p85_{unit.replace(' ', '_')}",
            "n",
        ],
        rows=rows,
        wide=True,
    )
    if not rows:
        return chart.empty_because("No deal moved from one step to another in this view.")
    return chart


def _variant_row(variant: str, path: str, found: dict, example: str) -> list:
    """A row of the variants' table: a variant (or the other paths together) and its figures."""
    return [
        variant,
        path,
        found["deals"],
        _pct(found["share"]),
        _r(found["median_cycle_hours"]),
        found["closed"],
        _rate(found, "value"),
        _rate(found, "low"),
        _rate(found, "high"),
        example,
    ]


def variants_chart(result: dict, deal_url=None) -> Chart:
    names, found = _names(result), result["variants"]
    rows = [
        _variant_row(
            f"#{v['rank']}",
            " → ".join(names.get(s, "?") for s in v["path"]),
            v,
            v["example"]["name"],
        )
        for v in found["top"]
    ]
    links = [deal_url(v["example"]["id"]) if deal_url else None for v in found["top"]]
    other = found.get("other")
    if other:
        rows.append(_variant_row("other", f"{other['variants']} other paths", other, ""))
        links.append(None)
    chart = Chart(
        key="variants",
        title="Variants: the distinct paths",
        units=f"deals; % of deals; cycle in {hours_unit(result)}; win rate %",
        how_to_read=(
            "A variant is one exact sequence of steps. The most frequent come first; the rest "
            "are grouped. The cycle time (first step to close) and the win rate (won ÷ closed, "
            "with its 95 % Wilson interval) are over the variant's closed deals."
        ),
        as_of=as_of(result),
        columns=[
            "variant",
            "path",
            "deals",
            "share_pct",
            "median_cycle",
            "closed",
            "win_rate_pct",
            "win_rate_low_pct",
            "win_rate_high_pct",
            "example_deal",
        ],
        rows=rows,
        row_links=links,
        wide=True,
    )
    if not rows:
        return chart.empty_because("No deal started in this window.")
    hover, paths = "%{customdata}: %{x:,} deals", [r[1] for r in rows]
    return _bar_per_row(chart, rows, 2, "deals", BLUE, hover, "Deals per variant", customdata=paths)


def rework_chart(result: dict) -> Chart:
    names, unit = _names(result), hours_unit(result)
    rows = [
        [
            f"{names.get(r['sender'])} → {names.get(r['receiver'])}",
            r["loops"],
            r["deals"],
            _r(r["total_hours"]),
            _r(r["median_hours"]),
            r["n"],
        ]
        for r in result["rework"]
    ]
    chart = Chart(
        key="rework",
        title="Rework loops",
        units=f"loops; {unit}",
        how_to_read=(
            "A loop is a move back to an earlier step of the map, or to the same step again: "
            "the sending step, then the step it sent the deal back to. A loop costs the "
            f"{unit} from that return until the deal is at the sending step (or beyond) again; "
            "a loop still running is counted without its hours."
        ),
        as_of=as_of(result),
        columns=["loop", "loops", "deals", "total_hours", "median_hours", "n"],
        rows=rows,
        wide=True,
    )
    if not rows:
        return chart.empty_because("No deal went back in this view: no rework.")
    label = f"Total {unit} of each rework loop"
    return _bar_per_row(chart, rows, 3, f"total {unit}", VERMILLION, "%{y}: %{x:,.1f} h", label)


def catalogue_chart(result: dict) -> Chart:
    names, unit = _names(result), hours_unit(result)
    catalogue = result["conformance"]["catalogue"]
    rows = []
    for r in catalogue:
        diff = r["win_rate_difference"]
        rows.append(
            [
                deviation_label(names, r),
                "yes" if r["accepted"] else "no",
                r["occurrences"],
                r["deals"],
                r["with"]["closed"],
                _rate(r["with"], "value"),
                r["without"]["closed"],
                _rate(r["without"], "value"),
                _pct(diff["value"]) if diff else None,
                _pct(diff["low"]) if diff else None,
                _pct(diff["high"]) if diff else None,
                _r(r["with"]["median_cycle_hours"]),
                _r(r["without"]["median_cycle_hours"]),
            ]
        )
    chart = Chart(
        key="deviations",
        title="Deviations from the map, and what they cost",
        units=f"occurrences; win rate %; cycle in {unit}",
        how_to_read=(
            "Each kind of departure from the map's order between two steps: how often, in how "
            "many deals, and the closed deals with it against those without: win rate (the "
            "difference with its 95 % Newcombe interval; an interval across 0 says the data "
            f"cannot tell) and median cycle {unit}. Association, not proof. Accepted ones are "
            "shortcuts a manager allowed: listed, but they do not lower the conformance."
        ),
        as_of=as_of(result),
        columns=[
            "deviation",
            "accepted",
            "occurrences",
            "deals",
            "closed_with",
            "win_rate_with_pct",
            "closed_without",
            "win_rate_without_pct",
            "difference_pct",
            "difference_low_pct",
            "difference_high_pct",
            "median_cycle_with",
            "median_cycle_without",
        ],
        rows=rows,
        wide=True,
    )
    if not rows:
        return chart.empty_because("Every deal of this view followed the map's order.")
    colours = [GREY if r[1] == "yes" else BLUE for r in rows]
    label = "Occurrences of each deviation (accepted in grey)"
    return _bar_per_row(chart, rows, 2, "occurrences", colours, "%{y}: %{x:,}", label)


def trend_chart(result: dict) -> Chart:
    catalogue = result["conformance"]["catalogue"]
    weeks = [w["week"] for w in catalogue[0]["weeks"]] if catalogue else []
    by_kind = {
        kind: [
            sum(r["weeks"][i]["count"] for r in catalogue if r["kind"] == kind)
            for i in range(len(weeks))
        ]
        for kind in KINDS
    }
    rows = [[week, *[by_kind[k][i] for k in KINDS]] for i, week in enumerate(weeks)]
    chart = Chart(
        key="trend",
        title="Deviations by week",
        units="occurrences per ISO week (UTC)",
        how_to_read=(
            "How many deviations of each kind happened each week of the window (a deviation "
            "counts in the week its move was made; a win before the last step in the week it "
            "was won)."
        ),
        as_of=as_of(result),
        columns=["week", *KINDS],
        rows=rows,
    )
    if not any(any(v) for v in by_kind.values()):
        return chart.empty_because("No deviation in this view.")
    return chart.plotted(
        _plot(
            [
                _scatter("lines+markers", KINDS[k], weeks, by_kind[k])
                for k in KINDS
                if any(by_kind[k])
            ],
            label="Deviations per week by kind",
            height=300,
            xaxis={"type": "category"},
            yaxis={"title": {"text": "occurrences"}, "rangemode": "tozero"},
        )
    )


def steps_chart(result: dict) -> Chart:
    names = _names(result)
    by_step = result["conformance"]["by_step"]
    rows = [
        [names.get(s["step"]), s["arrivals"], s["conforming"], _pct(s["share"])] for s in by_step
    ]
    chart = Chart(
        key="steps",
        title="Conformance per step",
        units="% of arrivals that followed the map",
        how_to_read=(
            "Of the deals' arrivals at each step, the share that came the way the map says: "
            "from the step before it, not skipping, not out of order, not again."
        ),
        as_of=as_of(result),
        columns=["step", "arrivals", "as_designed", "pct"],
        rows=rows,
    )
    if not any(r[1] for r in rows):
        return chart.empty_because("No deal reached a step in this view.")
    label = "Share of arrivals as designed, per step"
    percent = {"title": {"text": "%"}, "range": [0, 100]}
    return _bar_per_row(
        chart, rows, 3, "% as designed", BLUE, "%{y}: %{x:.1f}%", label, axis=percent
    )


def deals_chart(result: dict, deal_url=None) -> Chart:
    names = _names(result)
    found = result["conformance"]["deals"]
    rows = [
        [
            d["name"],
            d["status"],
            round(d["fitness"], 3),
            d["moves"],
            "; ".join(
                deviation_label(names, x) + (" (accepted)" if x["accepted"] else "")
                for x in d["deviations"]
            ),
        ]
        for d in found
    ]
    chart = Chart(
        key="deals",
        title="Deals that left the map, least fit first",
        units="fitness: conforming moves ÷ moves",
        how_to_read=(
            "Each deal with a deviation, its fitness (1: every move as designed) and its "
            f"deviations in path order; the {len(found)} least fit of "
            f"{result['conformance']['deals_with_deviations']}."
        ),
        as_of=as_of(result),
        columns=["deal", "status", "fitness", "moves", "deviations"],
        rows=rows,
        row_links=[deal_url(d["id"]) if deal_url else None for d in found],
        wide=True,
    )
    if not rows:
        return chart.empty_because("Every deal of this view followed the map's order.")
    label = "Fitness of the least fit deals"
    return _bar_per_row(
        chart, rows[:30], 2, "fitness", BLUE, "%{y}: %{x:.2f}", label, axis={"range": [0, 1]}
    )


def design_chart(result: dict) -> Chart:
    """Discovered against designed: each move the map draws (one step to the next) with the
    moves the deals made there, zero included; each move the deals made that the map does
    not draw; each step nobody reached."""
    names = _names(result)
    steps = sorted(result.get("steps") or [], key=lambda s: s["order"])
    made = {(e["source"], e["target"]): e for e in result["graph"]["edges"]}
    arrivals = {s["step"]: s["arrivals"] for s in result["conformance"]["by_step"]}
    rows = []
    for a, b in pairwise(steps):
        edge = made.get((a["id"], b["id"]))
        rows.append(
            [
                f"{a['name']} → {b['name']}",
                "designed",
                edge["transitions"] if edge else 0,
                edge["deals"] if edge else 0,
            ]
        )
    for (a, b), edge in made.items():
        if edge["kind"] != "forward":
            rows.append(
                [
                    f"{names.get(a)} → {names.get(b)}",
                    f"not on the map ({KIND_WORDS[edge['kind']]})",
                    edge["transitions"],
                    edge["deals"],
                ]
            )
    for step in steps:
        if not arrivals.get(step["id"]):
            rows.append([step["name"], "step nobody reached", 0, 0])
    chart = Chart(
        key="design",
        title="Discovered against designed",
        units="moves; deals",
        how_to_read=(
            "The moves the map draws (each step to the next) with how many the deals made, "
            "none included; then the moves the deals made that the map does not draw (skips, "
            "moves back, repeats) and the steps no deal of the view reached."
        ),
        as_of=as_of(result),
        columns=["move_or_step", "on_the_map", "moves", "deals"],
        rows=rows,
        wide=True,
    )
    if not result["variants"]["deals"]:
        return chart.empty_because("No deal started in this window.")
    colours = [BLUE if r[1] == "designed" else VERMILLION for r in rows]
    label = "Moves the map draws (blue) and moves it does not (vermillion)"
    hover = "%{y} (%{customdata}): %{x:,}"
    places = [r[1] for r in rows]
    return _bar_per_row(chart, rows, 2, "moves", colours, hover, label, customdata=places)


def discovery_charts(result: dict, deal_url=None) -> list[Chart]:
    return [
        edges_chart(result),
        design_chart(result),
        variants_chart(result, deal_url),
        rework_chart(result),
        catalogue_chart(result),
        trend_chart(result),
        steps_chart(result),
        deals_chart(result, deal_url),
    ]
