"""The Leads dashboard, part one: the waterfall (cohort conversion by stage and the flow per
week), the hand-offs' response times and SLA attainment (per hand-off, by rep, by source, by
week), with the headline
tiles. The ready-for-sales queue against the sellers' capacity and the separation of
prospecting from selling are in ``leads_pull``, the hand-off wastes in ``leads_waste``; the
helpers all three share are here.

Every chart takes the stored Leads result (docs/leads.md "Leads result"; each figure defined
in docs/metrics.md §8) as a plain dict, builds the rows of its table first and plots those
rows, so its CSV holds exactly the numbers drawn.
"""

from __future__ import annotations

from datetime import datetime

from funnel.dashboards.charts.common import (
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    SERIES,
    VERMILLION,
    VIRIDIS,
    Chart,
    Tile,
    _bars,
    _hbars,
    _pct,
    _plot,
    _r,
    _scatter,
    _text_outside,
    _title,
    _utc_buckets,
    _when,
)
from funnel.qualification.stats import wilson

#: The queue verdicts (metrics.md §8 "queue verdict"): words and colour.
VERDICTS = {
    "over": ("Marketing over-produces", VERMILLION),
    "under": ("Marketing under-produces", ORANGE),
    "level": ("Level", GREEN),
    "unknown": ("Not known yet", GREY),
}
#: The bands around the capacity that make the verdict "level" (± 10 %).
LEVEL_LOW, LEVEL_HIGH = 0.9, 1.1
INK_SOFT = "#4A5866"
#: The last viridis colour dark enough for a line on white (the two after it are too pale).
DARKEST = 7


# --- Shared helpers (also used by ``leads_pull`` and ``leads_waste``) ----------------------------


def as_of(result: dict) -> datetime | None:
    """The instant the figures were counted at (the view's as-of)."""
    text = (result.get("view") or {}).get("as_of")
    return _when(str(text).replace("Z", "+00:00")) if text else None


def hours_unit(result: dict) -> str:
    """ "working hours" or "hours", as the view's basis counts durations."""
    return "working hours" if (result.get("view") or {}).get("basis") == "working" else "hours"


def bin_label(b: dict) -> str:
    """A response bin in words: ``0–1 h``, ``168+ h``."""
    low, high = b["from_hours"], b.get("to_hours")
    return f"{low:g}+ h" if high is None else f"{low:g}–{high:g} h"


def hours_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f} h" if value < 48 else f"{value:,.0f} h"


def interval_text(rate: float | None, low: float | None, high: float | None) -> str:
    """``82 % [74–88 %]`` (rates as fractions), or "—"."""
    if rate is None:
        return "—"
    if low is None or high is None:
        return f"{100 * rate:.0f} %"
    return f"{100 * rate:.0f} % [{100 * low:.0f}–{100 * high:.0f} %]"


def stage_names(result: dict) -> dict[str, str]:
    return {s["key"]: s["name"] for s in result.get("stages") or []}


def error_bars(rows: list[list], value: int, low: int, high: int) -> dict:
    """Asymmetric error bars from the ``low`` and ``high`` columns of ``rows`` around the
    ``value`` column (a missing bound draws no bar)."""

    def gap(a, b):
        return None if a is None or b is None else _r(a - b, 1)

    return {
        "type": "data",
        "symmetric": False,
        "array": [gap(r[high], r[value]) for r in rows],
        "arrayminus": [gap(r[value], r[low]) for r in rows],
        "color": INK_SOFT,
        "thickness": 1.5,
        "width": 4,
    }


def histogram_figure(rows: list[list], *, name: str, label: str, caption: str = "", detail=""):
    """Vertical bars of a response-time histogram (``rows``: ``[bin, …, n]``, n last)."""
    return _plot(
        [
            _bars(
                name,
                [r[0] for r in rows],
                [r[-1] for r in rows],
                horizontal=False,
                marker={"color": BLUE},
                **_text_outside([f"{r[-1]:,}" for r in rows]),
                hovertemplate="%{x}: %{y:,}<extra></extra>",
            )
        ],
        height=240,
        top=16,
        showlegend=False,
        xaxis={"type": "category", "title": _title("Time to decide")},
        yaxis={"title": _title(name), "rangemode": "tozero"},
        label=label,
        caption=caption,
        detail=detail,
    )


def no_waterfall(result: dict) -> str:
    if not result.get("stages"):
        return "This stream has no waterfall yet: a manager sets up its hand-off steps and stages."
    return ""


# --- Headline tiles -------------------------------------------------------------------------


def leads_tiles(result: dict) -> list[Tile]:
    """Leads created in the window, the share that reached the last stage, the queue, the
    queue's verdict, SLA attainment over every hand-off and the arrivals never touched."""
    unit = hours_unit(result)
    cohorts = result.get("cohorts") or []
    created = sum(c["created"] for c in cohorts)
    stages = result.get("stages") or []
    tiles = [
        Tile(
            key="created",
            label="Leads created",
            value=f"{created:,}",
            detail=f"in {len(cohorts)} cohort month{'s' if len(cohorts) != 1 else ''}",
            low_sample=created < 5,
        )
    ]
    if stages and created:
        last = stages[-1]
        won = sum((c["stages"].get(last["key"]) or {}).get("reached", 0) for c in cohorts)
        tiles.append(
            Tile(
                key="won",
                label=f"Reached {last['name']}",
                value=f"{100 * won / created:.1f}%",
                detail=f"{won:,} of {created:,} leads created",
                help="The share of the window's leads that reached the waterfall's last stage.",
            )
        )
    queue = result.get("queue") or {}
    if queue:
        tiles.append(
            Tile(
                key="waiting",
                label="Ready for sales, waiting",
                value=f"{queue.get('waiting', 0):,}",
                detail=f"median age {hours_text(queue.get('median_age_hours'))}, oldest "
                f"{hours_text(queue.get('oldest_age_hours'))} ({unit})",
            )
        )
        words, _ = VERDICTS.get(queue.get("verdict") or "unknown", VERDICTS["unknown"])
        tiles.append(
            Tile(
                key="verdict",
                label="Arrivals against pull capacity",
                value=words,
                detail=_per_week_text(queue),
                help="Over: more than 10 % above what the sellers can pull at their limits; "
                "under: more than 10 % below; level: in between.",
            )
        )
    sla = result.get("sla") or []
    due = sum(s["due"] for s in sla)
    if due:
        met = sum(s["met"] for s in sla)
        tiles.append(
            Tile(
                key="sla",
                label="Hand-offs decided within their SLA",
                value=f"{100 * met / due:.0f}%",
                detail=f"{met:,} of {due:,} arrivals due",
                low_sample=due < 5,
            )
        )
    never = (result.get("waste") or {}).get("never_touched") or {}
    if never.get("arrivals"):
        tiles.append(
            Tile(
                key="never_touched",
                label="Arrivals never touched",
                value=f"{100 * (never.get('share') or 0):.0f}%",
                detail=f"{never['n']:,} of {never['arrivals']:,} arrivals",
                good=None,
            )
        )
    return tiles


def _per_week_text(queue: dict) -> str:
    def n(v):
        return "—" if v is None else f"{v:,.1f}"

    capacity = queue.get("capacity_per_week")
    return f"{n(queue.get('arrivals_per_week'))} arrivals a week, " + (
        "capacity not known yet" if capacity is None else f"capacity {n(capacity)} a week"
    )


# --- The waterfall --------------------------------------------------------------------------


def waterfall_chart(result: dict) -> Chart:
    """The cohort's conversion by stage: how many of the leads created in the window reached
    each stage (all cohorts together), and the share by cohort month."""
    stages = result.get("stages") or []
    cohorts = result.get("cohorts") or []
    unit = hours_unit(result)
    rows = []
    for c in cohorts:
        before = None
        for s in stages:
            got = c["stages"].get(s["key"]) or {}
            reached = got.get("reached", 0)
            rows.append(
                [
                    c["month"],
                    s["name"],
                    c["created"],
                    reached,
                    _pct(got.get("share"), 1),
                    _pct(reached / before, 1) if before else None,
                    _pct(got.get("low"), 1),
                    _pct(got.get("high"), 1),
                    _r(got.get("median_hours"), 1),
                    _r(got.get("p85_hours"), 1),
                ]
            )
            before = reached
    created = sum(c["created"] for c in cohorts)
    totals = []
    before = None
    for s in stages:
        reached = sum((c["stages"].get(s["key"]) or {}).get("reached", 0) for c in cohorts)
        share, low, high = (_pct(x, 1) for x in wilson(reached, created) or (None,) * 3)
        of_before = _pct(reached / before, 1) if before else None
        totals.append(["all", s["name"], created, reached, share, of_before, low, high, None, None])
        before = reached
    chart = Chart(
        key="waterfall",
        title="The waterfall: how far the window's leads got",
        units=f"leads reaching each stage; % of leads created; {unit} to get there",
        how_to_read=(
            "The leads created in the window, as a cohort: each bar is how many of them "
            "reached the stage and its share of all created, with the share's 95 % interval "
            "(Wilson) under the pointer and in the table, as is the share of the stage "
            "before. A "
            "lead reaches an offered stage (MQL, SQL) when it is handed over, an accepted "
            "stage (SAL, Opportunity) when the receiving side accepts it. Below, the same "
            "shares by the month the leads were created, each with its 95 % interval as a "
            "whisker (a month of few leads has a wide one): the latest months are young, so "
            "fewer of their leads have got far yet. The table adds the median and 85th "
            "percentile time from creation to each stage."
        ),
        as_of=as_of(result),
        columns=[
            "cohort_month",
            "stage",
            "created",
            "reached",
            "share_pct",
            "of_previous_pct",
            "share_low_pct",
            "share_high_pct",
            f"median_{unit.replace(' ', '_')}",
            f"p85_{unit.replace(' ', '_')}",
        ],
        rows=[*totals, *rows],
        wide=True,
    )
    if not stages:
        return chart.empty_because(no_waterfall(result))
    if not created:
        return chart.empty_because("No lead was created in this window.")
    names = [r[1] for r in totals]
    bars = _bars(
        "Leads reaching the stage",
        names,
        [r[3] for r in totals],
        marker={"color": [VIRIDIS[min(i, DARKEST)] for i in range(len(names))]},
        **_text_outside([f"{r[3]:,} · {r[4]:.0f}%" for r in totals]),
        customdata=[
            [
                "" if r[5] is None else f"; {r[5]:.0f}% of the stage before",
                _interval_words(r),
            ]
            for r in totals
        ],
        hovertemplate="%{y}: %{x:,} leads (%{text}%{customdata[1]})%{customdata[0]}<extra></extra>",
    )
    figures = [
        _hbars(
            names,
            [bars],
            right=80,
            showlegend=False,
            xaxis={"title": _title("Leads"), "rangemode": "tozero"},
            label="Bar chart of the leads created in the window reaching each stage",
            caption="All leads created in the window",
        )
    ]
    months = sorted({r[0] for r in rows})
    if len(months) > 1:
        traces = []
        for i, s in enumerate(stages[1:], start=1):
            mine = [r for r in rows if r[1] == s["name"]]
            colour = VIRIDIS[round(i * DARKEST / max(len(stages) - 1, 1))]
            traces.append(
                _scatter(
                    "lines+markers",
                    s["name"],
                    [r[0] for r in mine],
                    [r[4] for r in mine],
                    line={"color": colour, "width": 2},
                    marker={"symbol": SERIES[(i - 1) % len(SERIES)][1], "size": 8},
                    error_y={**error_bars(mine, 4, 6, 7), "color": colour},
                    customdata=[[r[3], r[2], _interval_words(r)] for r in mine],
                    hovertemplate=f"{s['name']} %{{x}}: %{{y:.0f}}%%{{customdata[2]}} "
                    "(%{customdata[0]} of %{customdata[1]} leads)<extra></extra>",
                )
            )
        figures.append(
            _plot(
                traces,
                height=300,
                xaxis={"type": "category", "title": _title("Month the leads were created (UTC)")},
                yaxis={"title": _title("% of the month's leads"), "ticksuffix": "%"},
                label="Line chart of the share of each month's leads reaching each stage",
                caption="By cohort month",
            )
        )
    return chart.plotted(*figures)


def _interval_words(row: list) -> str:
    """``, 95 % interval 18.1–56.7%`` from a waterfall row's bounds; "" without them."""
    return "" if row[6] is None else f", 95 % interval {row[6]:.1f}–{row[7]:.1f}%"


def flow_chart(result: dict) -> Chart:
    """Stages reached per week (every entry counts), and the leads turned down per week."""
    stages = result.get("stages") or []
    weeks = result.get("flow") or []
    rows = [
        [
            w["week"],
            *[(w.get("reached") or {}).get(s["key"], 0) for s in stages],
            w.get("rejected", 0),
            w.get("recycled", 0),
            w.get("disqualified", 0),
        ]
        for w in weeks
    ]
    chart = Chart(
        key="flow",
        title="Flow through the waterfall, week by week",
        units="stages reached and leads turned down per week",
        how_to_read=(
            "Each line counts the leads that reached a stage in the week (a lead offered "
            "again after a recycle counts again), so a line that falls while the one above "
            "it holds is a hand-off that slows down. The bars are the decisions that turned "
            "leads back that week: rejected to the giver, recycled to nurture, disqualified."
        ),
        as_of=as_of(result),
        columns=[
            "week",
            *[f"reached {s['name']}" for s in stages],
            "rejected",
            "recycled",
            "disqualified",
        ],
        rows=rows,
        wide=True,
    )
    if not stages:
        return chart.empty_because(no_waterfall(result))
    if not any(any(r[1:]) for r in rows):
        return chart.empty_because("No lead reached a stage in this window.")
    x = [r[0] for r in rows]
    traces = []
    for i, s in enumerate(stages):
        colour = VIRIDIS[min(round(i * DARKEST / max(len(stages) - 1, 1)), DARKEST)]
        traces.append(
            _scatter(
                "lines+markers",
                s["name"],
                x,
                [r[1 + i] for r in rows],
                line={"color": colour, "width": 2},
                marker={"symbol": SERIES[i % len(SERIES)][1], "size": 7, "color": colour},
                hovertemplate=f"{s['name']}, week of %{{x}}: %{{y:,}}<extra></extra>",
            )
        )
    n = len(stages)
    for offset, (name, colour, pattern) in enumerate(
        (("Rejected", VERMILLION, ""), ("Recycled", ORANGE, "/"), ("Disqualified", GREY, "x"))
    ):
        traces.append(
            _bars(
                name,
                x,
                [r[1 + n + offset] for r in rows],
                horizontal=False,
                marker={"color": colour, "pattern": {"shape": pattern}},
                opacity=0.75,
                hovertemplate=f"{name}, week of %{{x}}: %{{y:,}}<extra></extra>",
            )
        )
    return chart.plotted(
        _plot(
            traces,
            height=360,
            barmode="group",
            xaxis={"type": "category", "title": _utc_buckets("Week (Monday)")},
            yaxis={"title": _title("Leads per week"), "rangemode": "tozero"},
            label="Line chart of the stages reached each week, with bars of leads turned down",
        )
    )


# --- Hand-offs: response times and the SLA --------------------------------------------------


def response_chart(result: dict) -> Chart:
    """The distribution of the time each hand-off's receiving side took to decide, a small
    histogram per hand-off."""
    unit = hours_unit(result)
    handoffs = result.get("response") or []
    rows = [
        [
            h["name"],
            bin_label(b),
            b["from_hours"],
            b.get("to_hours"),
            _r(h.get("median_hours"), 1),
            _r(h.get("p85_hours"), 1),
            _r(h.get("p95_hours"), 1),
            h.get("waiting_now", 0),
            b["n"],
        ]
        for h in handoffs
        for b in h.get("histogram") or []
    ]
    chart = Chart(
        key="response",
        title="How long each hand-off waits for a decision",
        units=f"decisions made in the window, by {unit} from arrival to decision",
        how_to_read=(
            "For each hand-off point, how long the receiving side took to accept, reject, "
            "recycle or disqualify a lead, counted from its arrival. A tall bar on the left "
            "is a side that answers quickly; a long tail on the right is leads left to go "
            "cold. Above each, the number of decisions, their median, 85th and 95th "
            "percentile, and the leads still waiting for a decision now."
        ),
        as_of=as_of(result),
        columns=[
            "handoff",
            "bin",
            "from_hours",
            "to_hours",
            "median_hours",
            "p85_hours",
            "p95_hours",
            "waiting_now",
            "decisions",
        ],
        rows=rows,
        wide=True,
    )
    if not result.get("stages"):
        return chart.empty_because(no_waterfall(result))
    if not any(h.get("n") for h in handoffs):
        return chart.empty_because("No hand-off decision was made in this window.")
    figures = []
    for h in handoffs:
        mine = [[r[1], r[-1]] for r in rows if r[0] == h["name"]]
        figures.append(
            histogram_figure(
                mine,
                name="Decisions",
                caption=h["name"],
                detail=f"{h['n']:,} decisions · median {hours_text(h.get('median_hours'))} · "
                f"p85 {hours_text(h.get('p85_hours'))} · p95 {hours_text(h.get('p95_hours'))}"
                f" · {h.get('waiting_now', 0):,} waiting now",
                label=f"Histogram of the response times at {h['name']}",
            )
        )
    return chart.plotted(*figures)


def rate_row(e: dict, first: str = "due", second: str = "met", rate: str = "rate") -> list:
    """Two counts of ``e`` (by default an SLA's due and met), then its ``rate`` and the rate's
    Wilson interval (``low``, ``high``) in %: the columns of a chart of rates."""
    return [
        e.get(first, 0),
        e.get(second, 0),
        _pct(e.get(rate), 1),
        _pct(e.get("low"), 1),
        _pct(e.get("high"), 1),
    ]


SLA_COLUMNS = ["due", "met", "rate_pct", "low_pct", "high_pct"]


def rate_names(names: list[str], rows: list[list], *, met: int = 3, due: int = 2) -> list[str]:
    """Each name with its count beside it, ``Rep One · 5 of 6``: the n of a rate stays on
    the axis, clear of the bar and its interval."""
    return [f"{name} · {r[met]:,} of {r[due]:,}" for name, r in zip(names, rows, strict=True)]


def _rate_bars(names: list[str], rows: list[list], *, label: str, caption: str = "", **kw):
    """Horizontal bars of rates (% column 4 of ``rows``, whose columns 2–6 are due, met,
    rate, low, high) with their Wilson intervals, "met of due" beside each name."""
    labelled = rate_names(names, rows)
    bars = _bars(
        "Met the SLA",
        labelled,
        [r[4] for r in rows],
        marker={"color": BLUE},
        error_x=error_bars(rows, 4, 5, 6),
        customdata=[[r[3], r[2]] for r in rows],
        hovertemplate="%{y}: %{x:.0f}% (%{customdata[0]} of %{customdata[1]} due)<extra></extra>",
    )
    return _hbars(
        labelled,
        [bars],
        per_row=30,
        right=24,  # room for the "100%" tick
        showlegend=False,
        bargap=0.45,
        xaxis={"title": _title("% decided within the SLA"), "range": [0, 100], "ticksuffix": "%"},
        label=label,
        caption=caption,
        **kw,
    )


def _no_sla(result: dict, sla: list[dict]) -> str:
    if not result.get("stages"):
        return no_waterfall(result)
    if not sla:
        return "No hand-off has an SLA yet: a manager sets one in the waterfall editor."
    if not any(s["due"] for s in sla):
        return "No arrival at a hand-off was due in this window."
    return ""


def sla_chart(result: dict) -> Chart:
    """SLA attainment per hand-off, with its Wilson interval and n."""
    sla = result.get("sla") or []
    rows = [[s["name"], _r(s["sla_hours"], 2), *rate_row(s)] for s in sla]
    chart = Chart(
        key="sla",
        title="SLA attainment by hand-off",
        units="% of due arrivals decided within the SLA, 95 % interval",
        how_to_read=(
            "For each hand-off with a service level, the share of the window's arrivals "
            "the receiving side decided on within it. An arrival still undecided and older "
            "than the SLA counts as missed; a younger one is not due yet. The line through "
            "each bar is its 95 % interval: with few arrivals it is wide, and two hand-offs "
            "whose intervals overlap may not really differ."
        ),
        as_of=as_of(result),
        columns=["handoff", "sla_hours", *SLA_COLUMNS],
        rows=rows,
    )
    if reason := _no_sla(result, sla):
        return chart.empty_because(reason)
    names = [f"{r[0]} ({hours_text(r[1])})" for r in rows]
    return chart.plotted(_rate_bars(names, rows, label="Bar chart of SLA attainment by hand-off"))


def sla_breakdown_chart(result: dict, *, by: str, own_only: bool = False) -> Chart:
    """SLA attainment of each hand-off by rep (``by_rep``) or by source (``by_source``), a
    small multiple per hand-off; ``own_only``: the result holds only the viewer's own row."""
    sla = result.get("sla") or []
    word = "rep" if by == "by_rep" else "source"
    rows = [[s["name"], e["label"], *rate_row(e)] for s in sla for e in s.get(by) or []]
    chart = Chart(
        key=f"sla_{word}",
        title=f"SLA attainment by {word}" + (" (yours)" if own_only and word == "rep" else ""),
        units="% of due arrivals decided within the SLA, 95 % interval",
        how_to_read=(
            (
                "For each hand-off, the share of due arrivals decided within the SLA by "
                "whoever decided (else the lead's owner), with n, the arrivals due. Read the "
                "interval before the bar: a rep with five arrivals cannot be told from the "
                "team. It points at where help is needed, not at whom to blame."
            )
            if word == "rep"
            else (
                "For each hand-off, the share of due arrivals decided within the SLA by the "
                "lead's source, with n and the 95 % interval: a source whose leads wait "
                "longer may be one the receiving side trusts less."
            )
        ),
        as_of=as_of(result),
        columns=["handoff", word, *SLA_COLUMNS],
        rows=rows,
    )
    if reason := _no_sla(result, sla):
        return chart.empty_because(reason)
    if not rows:
        return chart.empty_because(f"No arrival due in this window has a {word}.")
    figures = []
    for s in sla:
        mine = [r for r in rows if r[0] == s["name"]]
        if mine:
            figures.append(
                _rate_bars(
                    [r[1] for r in mine],
                    mine,
                    caption=s["name"],
                    label=f"Bar chart of SLA attainment at {s['name']} by {word}",
                )
            )
    return chart.plotted(*figures)


def sla_week_chart(result: dict) -> Chart:
    """SLA attainment by week of arrival, a line per hand-off with its intervals."""
    sla = result.get("sla") or []
    rows = [[s["name"], w["week"], *rate_row(w)] for s in sla for w in s.get("by_week") or []]
    chart = Chart(
        key="sla_week",
        title="SLA attainment week by week",
        units="% of due arrivals decided within the SLA, by week of arrival, 95 % interval",
        how_to_read=(
            "Each line is a hand-off: the share of the week's due arrivals decided within "
            "the SLA, with its 95 % interval. A line that drifts down while arrivals rise is "
            "a receiving side running out of time; weeks with few arrivals have wide bars."
        ),
        as_of=as_of(result),
        columns=["handoff", "week", *SLA_COLUMNS],
        rows=rows,
        wide=True,
    )
    if reason := _no_sla(result, sla):
        return chart.empty_because(reason)
    traces = []
    for i, s in enumerate(sla):
        mine = [r for r in rows if r[0] == s["name"] and r[2]]
        if not mine:
            continue
        colour, symbol = SERIES[i % len(SERIES)]
        traces.append(
            _scatter(
                "lines+markers",
                s["name"],
                [r[1] for r in mine],
                [r[4] for r in mine],
                line={"color": colour, "width": 2},
                marker={"color": colour, "symbol": symbol, "size": 8},
                error_y={**error_bars(mine, 4, 5, 6), "color": colour},
                customdata=[[r[3], r[2]] for r in mine],
                hovertemplate=f"{s['name']}, week of %{{x}}: %{{y:.0f}}% "
                "(%{customdata[0]} of %{customdata[1]})<extra></extra>",
            )
        )
    if not traces:
        return chart.empty_because("No arrival at a hand-off was due in this window.")
    return chart.plotted(
        _plot(
            traces,
            height=320,
            xaxis={"type": "category", "title": _utc_buckets("Week of arrival (Monday)")},
            yaxis={"title": _title("% within the SLA"), "range": [0, 105], "ticksuffix": "%"},
            label="Line chart of SLA attainment by week of arrival, a line per hand-off",
        )
    )
