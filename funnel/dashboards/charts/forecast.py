"""The Forecast dashboard's charts (docs/forecasts.md "The Forecast dashboard"): a forecast
result (``funnel.forecasts.view.compute_forecast``) turned into tiles and chart cards, each
with its table (the CSV) first and its figure drawn from those rows.

The bands are the simulation's: the 50 % band holds the middle half of the 10,000 runs, the
85 % and 95 % bands more of them. The back-tests' coverage (``track_record``) says how often
bands made in the past, with only the data known then, held what then happened; the page sets
it beside every forecast (``track_summary``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from funnel.dashboards.charts.common import (
    BLUE,
    CURRENCY_SYMBOLS,
    GREEN,
    ORANGE,
    SKY,
    VERMILLION,
    Chart,
    Tile,
    _bars,
    _before_marker,
    _pct,
    _plot,
    _r,
    _scatter,
    _text_outside,
)
from funnel.dashboards.charts.flow import _alpha
from funnel.dashboards.charts.forecast_deals import BANDS, _day, as_of, deals_chart

#: Each band's fill on the fan chart: the narrowest the darkest.
BAND_FILL = {"50": _alpha(BLUE, 0.55), "85": _alpha(BLUE, 0.3), "95": _alpha(BLUE, 0.14)}


def day_words(text: str | None) -> str:
    """``31 Dec 2026`` (``—`` for none)."""
    day = _day(text)
    return date.fromisoformat(day).strftime("%-d %b %Y") if day else "—"


def money(amount: float | None, currency: str) -> str:
    if amount is None:
        return "—"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount:,.0f}" if symbol else f"{amount:,.0f} {currency}"


def _band(bands: dict | None, key: str) -> list:
    found = (bands or {}).get(key) or [None, None]
    return [found[0], found[1]]


def _band_cells(bands: dict | None, digits: int = 1) -> list:
    """``lo50, hi50, lo85, hi85, lo95, hi95`` rounded."""
    return [_r(v, digits) for key in BANDS for v in _band(bands, key)]


BAND_COLUMNS = ["low_50", "high_50", "low_85", "high_85", "low_95", "high_95"]


# --- The back-tests beside every forecast ----------------------------------------------------


#: The figures a back-test scores (docs/forecasts.md), as the page names them.
FIGURES = {
    "wins": "Wins",
    "revenue": "Revenue",
    "needed": "When N more wins",
    "close_dates": "Close dates",
}


#: The stream-level figures, each a column of the coverage chart in this order.
STREAM_FIGURES = ("wins", "revenue", "needed")


def figure_record(result: dict, figure: str) -> dict | None:
    """One figure's back-test record (``count``, ``coverage`` by band, ``typical_error``,
    ``verdicts``): the wins' are the track record's own fields; the others are its
    ``revenue``, ``needed`` and ``close_dates`` parts. None when that figure was not back-tested."""
    track = result.get("track_record") or {}
    if figure == "wins":
        prefix = [v for v in track.get("verdicts") or [] if v.startswith("Wins: ")]
        labelled = any(":" in v.split(" ")[0] for v in track.get("verdicts") or [])
        verdicts = [v.removeprefix("Wins: ") for v in prefix] if labelled else track.get("verdicts")
        return {**track, "verdicts": verdicts} if track else None
    found = track.get(figure)
    return found if isinstance(found, dict) else None


def _typical(figure: str, value: float | None, result: dict, currency: str) -> str:
    if value is None:
        return ""
    if figure == "revenue":
        return money(value, currency)
    if figure == "close_dates":
        return f"{value:,.1f} days"
    if figure == "needed":
        if result.get("basis") == "working":
            return f"{value:,.0f} working hours"
        return f"{value / 24:,.1f} days"
    return f"{value:,.1f} wins"


def track_summary(
    result: dict, figures: tuple[str, ...] = ("wins",), currency: str = "USD"
) -> dict | None:
    """What the page sets beside a forecast of ``figures``: per band and figure the share of
    the back-tests whose band held what then happened (``short`` when well under the band's
    level), their number, each typical error and the verdicts (plain words; one says so when
    the bands were too narrow). None: no back-test of these figures yet."""
    records = [(f, figure_record(result, f)) for f in figures]
    records = [(f, r) for f, r in records if r and r.get("count")]
    if not records:
        return None
    rows = []
    for key in BANDS:
        cells = []
        for _, record in records:
            held = (record.get("coverage") or {}).get(key)
            cells.append(
                {
                    "held": None if held is None else round(100 * held),
                    "short": held is not None and held < int(key) / 100 - 0.1,
                }
            )
        rows.append({"band": key, "cells": cells})
    errors = [
        (FIGURES[f], _typical(f, r.get("typical_error"), result, currency))
        for f, r in records
        if r.get("typical_error") is not None
    ]
    return {
        "count": max(r["count"] for _, r in records),
        "figures": [f for f, _ in records],
        "names": [FIGURES[f] for f, _ in records],
        "rows": rows,
        "typical_error": "; ".join(
            f"{name.lower()} {text}" if len(errors) > 1 else text for name, text in errors
        ),
        "verdicts": _sentences(
            [
                f"{FIGURES[f]}: {v}" if len(records) > 1 else v
                for f, r in records
                for v in r.get("verdicts") or []
            ]
        ),
        "narrow": any(c["short"] for row in rows for c in row["cells"]),
    }


def coverage_chart(result: dict) -> Chart:
    """Each band's nominal coverage (grey) beside how often it held in the back-tests, for
    each figure back-tested (wins, revenue, when N more wins, each deal's close dates), and
    in the forecasts stored in production once they could be scored."""
    track = result.get("track_record") or {}
    stored = track.get("stored") or {}
    held = {f: figure_record(result, f) or {} for f in FIGURES}
    rows = [
        [
            f"{key} %",
            int(key),
            *[_pct((held[f].get("coverage") or {}).get(key)) for f in STREAM_FIGURES],
            track.get("count", 0),
            _pct((stored.get("coverage") or {}).get(key)),
            stored.get("count", 0),
            _pct((held["close_dates"].get("coverage") or {}).get(key)),
            held["close_dates"].get("count", 0),
        ]
        for key in BANDS
    ]
    chart = Chart(
        key="track",
        title="Track record: how often the bands held",
        units="% of back-tests",
        how_to_read=(
            "At many past dates the same forecasts were made with only what was known then, "
            "and held against what then happened. The grey bar is what each band promises (the "
            "85 % band should hold the actual result 85 % of the time); the coloured bars are "
            "how often it did, for the wins, the revenue, the date of N more wins and each deal's "
            "close date (the day a deal open then was won, against its bands). A bar "
            "well short of its grey one means the bands were too narrow: trust the forecasts "
            "less than they claim."
        ),
        as_of=as_of(result),
        columns=[
            "band",
            "nominal_pct",
            "wins_held_pct",
            "revenue_held_pct",
            "when_held_pct",
            "backtests",
            "stored_held_pct",
            "stored_forecasts_scored",
            "close_dates_held_pct",
            "deal_close_dates_scored",
        ],
        rows=rows,
        note=" ".join(_sentences(track.get("verdicts"))),
    )
    if not track.get("count"):
        return chart.empty_because(
            "No back-test yet: the stream needs some history of closed deals before a past "
            "forecast can be held against what happened."
        )
    labels = [r[0] for r in rows]
    count = track["count"]
    data = [
        _bars(
            "Promised (nominal)",
            labels,
            [r[1] for r in rows],
            horizontal=False,
            marker=_before_marker(),
            hovertemplate="%{x} band: promises %{y}%<extra></extra>",
        )
    ]
    series = [
        (2, "Wins", BLUE, held["wins"].get("count")),
        (3, "Revenue", GREEN, held["revenue"].get("count")),
        (4, "When N more wins", SKY, held["needed"].get("count")),
        (8, "Close dates (per deal)", VERMILLION, held["close_dates"].get("count")),
        (6, "Stored in production", ORANGE, stored.get("count")),
    ]
    for column, name, colour, n in series:
        if not n or all(r[column] is None for r in rows):
            continue
        data.append(
            _bars(
                name,
                labels,
                [r[column] for r in rows],
                horizontal=False,
                marker={"color": colour},
                **_text_outside([_held_text(r[column]) for r in rows]),
                hovertemplate=f"{name}, %{{x}} band: held %{{y}}% of {n}<extra></extra>",
            )
        )
    figure = _plot(
        data,
        label=f"Band coverage over {count} back-tests against the nominal level",
        barmode="group",
        top=34,
        yaxis={"range": [0, 112], "ticksuffix": "%", "title": {"text": "held the actual"}},
        xaxis={"title": {"text": f"band (held: share of {count} back-tests)"}, "type": "category"},
    )
    return chart.plotted(figure)


def _held_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


def _sentences(verdicts: list[str] | None) -> list[str]:
    """The verdicts as sentences (a capital first, a full stop last)."""
    return [
        v[:1].upper() + v[1:] + ("" if v.rstrip().endswith((".", "!", "?")) else ".")
        for v in verdicts or []
        if v
    ]


def _band_area(key: str, x: list, low: list, high: list, *, line: dict) -> list[dict]:
    """The ``key`` % band (coloured ``BAND_FILL[key]``) between ``low`` and ``high``: an
    unlabelled low line and the high line filled down to it, neither with a hover; ``line``
    is their (strokeless) line."""
    return [
        _scatter(
            "lines",
            f"{key} % band (low)",
            x,
            low,
            line={**line},
            showlegend=False,
            hoverinfo="skip",
        ),
        _scatter(
            "lines",
            f"{key} % band",
            x,
            high,
            line={**line},
            fill="tonexty",
            fillcolor=BAND_FILL[key],
            hoverinfo="skip",
        ),
    ]


def backtests_chart(result: dict) -> Chart:
    """Each back-test's forecast (median and 85 % band) against what then happened."""
    points = (result.get("track_record") or {}).get("points") or []
    rows = [
        [_day(p["date"]), p.get("actual"), _r(p.get("median")), *_band_cells(p.get("bands"))]
        for p in points
    ]
    chart = Chart(
        key="backtests",
        title="Past forecasts against what happened",
        units="wins",
        how_to_read=(
            "Each date is a back-test: the forecast made then, with only the data known then "
            "(the blue line its median, the band its 85 % range), and the wins that then came "
            "(black dots). Dots outside the band are the misses the coverage chart counts."
        ),
        as_of=as_of(result),
        columns=["forecast_made", "actual", "median", *BAND_COLUMNS],
        rows=rows,
        wide=True,
    )
    if not rows:
        return chart.empty_because("No back-test yet.")
    dates = [r[0] for r in rows]
    data = [
        *_band_area("85", dates, [r[5] for r in rows], [r[6] for r in rows], line={"width": 0}),
        _scatter(
            "lines",
            "Forecast (median)",
            dates,
            [r[2] for r in rows],
            line={"color": BLUE, "width": 2},
        ),
        _scatter(
            "markers",
            "What happened",
            dates,
            [r[1] for r in rows],
            marker={"color": "#000000", "size": 6},
        ),
    ]
    figure = _plot(
        data,
        label="Back-tested forecasts of wins and the wins that followed",
        top=30,
        yaxis={"title": {"text": "wins"}, "rangemode": "tozero"},
        xaxis={"type": "date"},
    )
    return chart.plotted(figure)


# --- The forecasts ---------------------------------------------------------------------------


def fan_chart(result: dict) -> Chart:
    """Cumulative wins from now to each week's end up to the chosen date, with its bands."""
    points = result.get("fan") or []
    rows = [[_day(p["date"]), _r(p.get("median")), *_band_cells(p.get("bands"))] for p in points]
    by = day_words((result.get("wins_by") or {}).get("by"))
    chart = Chart(
        key="fan",
        title=f"Wins from now to {by}",
        units="cumulative wins",
        how_to_read=(
            "How many deals will have been won from now to each week's end, from 10,000 "
            "simulated futures of today's open deals and of new deals arriving at the measured "
            "rate. The line is the median; the darkest band holds half the futures, the lighter "
            "ones 85 % and 95 %. The fan widens because the further out, the less is known."
        ),
        as_of=as_of(result),
        columns=["week_ending", "median", *BAND_COLUMNS],
        rows=rows,
    )
    if not rows:
        return chart.empty_because("No week between now and the chosen date.")
    # The figure starts from now, where no win has come yet (the table starts a week on).
    start = _day(result.get("as_of"))
    plotted = ([[start, 0, 0, 0, 0, 0, 0, 0]] if start and start < rows[0][0] else []) + rows
    dates = [r[0] for r in plotted]
    data = []
    # Widest first, so each band's fill sits under the narrower ones.
    for key, low, high in (("95", 6, 7), ("85", 4, 5), ("50", 2, 3)):
        data += _band_area(
            key,
            dates,
            [r[low] for r in plotted],
            [r[high] for r in plotted],
            line={"width": 0, "shape": "linear"},
        )
    data.append(
        _scatter(
            "lines+markers",
            "Median",
            dates,
            [r[1] for r in plotted],
            line={"color": "#000000", "width": 2, "shape": "linear"},
            marker={"size": 5},
            customdata=[[r[4], r[5]] for r in plotted],
            hovertemplate="%{x}: median %{y} wins; 85 %: %{customdata[0]}–%{customdata[1]}"
            "<extra></extra>",
        )
    )
    figure = _plot(
        data,
        label=f"Fan chart of cumulative wins from now to {by}, with 50, 85 and 95 % bands",
        height=360,
        top=30,
        yaxis={"title": {"text": "wins from now"}, "rangemode": "tozero"},
        xaxis={"type": "date"},
    )
    return chart.plotted(figure)


def by_date_chart(result: dict, currency: str) -> Chart:
    """Wins and revenue by the chosen date: the median and the three bands of each."""
    wins_by = result.get("wins_by") or {}
    by = day_words(wins_by.get("by"))
    measures = (("wins", "Wins", 1), ("revenue", f"Revenue ({currency})", 0))
    rows = []
    for key, label, digits in measures:
        found = wins_by.get(key) or {}
        rows.append(
            [
                label,
                _r(found.get("mean"), digits),
                _r(found.get("median"), digits),
                *_band_cells(found.get("bands"), digits),
            ]
        )
    chart = Chart(
        key="by_date",
        title=f"Wins and revenue by {by}",
        units=f"deals won; {currency}",
        how_to_read=(
            "The deals won from now to the chosen date, and the revenue they bring: today's "
            "open deals (each with its own chance and timing) plus new deals arriving at the "
            "measured rate, a new deal's amount drawn from the deals won lately. The dot is the "
            "median; the bars are the 50, 85 and 95 % bands, darkest the narrowest."
        ),
        as_of=as_of(result),
        columns=["measure", "mean", "median", *BAND_COLUMNS],
        rows=rows,
    )
    if not wins_by:
        return chart.empty_because("No forecast for this date.")
    figures = []
    for row, (key, label, _) in zip(rows, measures, strict=True):
        data = [
            _bars(
                f"{band} % band",
                [label],
                [None if row[hi] is None or row[lo] is None else row[hi] - row[lo]],
                base=[row[lo]],
                marker={"color": BAND_FILL[band]},
                width=0.5,
                hovertemplate=f"{band} %: {row[lo]:,}–{row[hi]:,}<extra></extra>"
                if row[lo] is not None and row[hi] is not None
                else None,
            )
            for band, lo, hi in (("95", 7, 8), ("85", 5, 6), ("50", 3, 4))
        ]
        data.append(
            _scatter(
                "markers",
                "Median",
                [row[2]],
                [label],
                marker={"color": "#000000", "size": 11, "symbol": "diamond"},
                hovertemplate="median %{x:,}<extra></extra>",
            )
        )
        figures.append(
            _plot(
                data,
                label=f"{label} by {by}: median {row[2]}, 85 % band {row[5]} to {row[6]}",
                caption="Wins" if key == "wins" else "Revenue",
                detail=""
                if row[2] is None
                else f"median {money(row[2], currency) if key == 'revenue' else f'{row[2]:g}'}",
                height=170,
                top=30,
                barmode="overlay",
                showlegend=False,
                xaxis={"rangemode": "tozero"},
                yaxis={"showticklabels": False},
            )
        )
    return chart.plotted(*figures)


def wins_needed_chart(result: dict) -> Chart:
    """When the stream will have won N more deals, at 50, 85 and 95 % confidence."""
    needed = result.get("wins_needed") or {}
    n = needed.get("n")
    reached = needed.get("reached_by") or {}
    rows = [[f"{key} %", _day(reached.get(key))] for key in BANDS]
    share = needed.get("share_reached")
    chart = Chart(
        key="when",
        title=f"When will we reach {n} more wins?" if n else "When will we reach more wins?",
        units="date",
        how_to_read=(
            f"The date by which {n} more deals will have been won in half of the simulated "
            "futures (50 %), in 85 % and in 95 % of them: plan on the 85 % date when a promise "
            "depends on it. A missing date means too few futures got there within the "
            "simulated horizon."
        ),
        as_of=as_of(result),
        columns=["confidence", "reached_by"],
        rows=rows,
        note=(
            ""
            if share is None
            else f"{100 * share:.0f}% of the simulated futures reach {n} more wins within "
            "the simulated horizon."
        ),
    )
    if not n or not any(r[1] for r in rows):
        return chart.empty_because(
            f"Too few simulated futures reach {n} more wins within the horizon to give a date."
            if n
            else "No number of wins to reach: give one in the filters."
        )
    shown = [r for r in rows if r[1]]
    data = [
        _scatter(
            "markers+text",
            "Reached by",
            [r[1] for r in shown],
            [r[0] for r in shown],
            marker={
                "color": [BAND_FILL[r[0].split()[0]] for r in shown],
                "size": 14,
                "line": {"color": BLUE, "width": 2},
            },
            text=[day_words(r[1]) for r in shown],
            textposition="top center",
            cliponaxis=False,
            hovertemplate="%{y}: by %{x}<extra></extra>",
        )
    ]
    figure = _plot(
        data,
        label=f"Dates by which {n} more wins are reached at 50, 85 and 95 % confidence",
        height=220,
        top=20,
        right=40,
        showlegend=False,
        xaxis={"type": "date"},
        yaxis={"title": {"text": "confidence"}, "type": "category"},
    )
    return chart.plotted(figure)


def target_chart(result: dict) -> Chart:
    """The stream's target for the period against the wins so far and the forecast."""
    target = result.get("target")
    rows = []
    if target:
        rows = [
            [
                _day(target["period_start"]),
                _day(target["period_end"]),
                target["target"],
                target["won_so_far"],
                _r(target.get("expected")),
                _pct(target.get("probability")),
                *_band_cells(target.get("bands")),
            ]
        ]
    chart = Chart(
        key="target",
        title="Target attainment",
        units="wins in the period",
        how_to_read=(
            "The wins the period already has (dark), the wins the forecast expects by its end "
            "on top (light) with its 85 % band, against the target (the red line). The "
            "probability is the share of simulated futures in which the wins so far plus the "
            "wins still to come reach the target."
        ),
        as_of=as_of(result),
        columns=[
            "period_start",
            "period_end",
            "target",
            "won_so_far",
            "expected_total",
            "probability_pct",
            *BAND_COLUMNS,
        ],
        rows=rows,
    )
    if not target:
        return chart.empty_because(
            "This stream has no target for the period. A manager sets one on the stream's "
            "settings; the forecast is then held against it here."
        )
    row = rows[0]
    won, expected, goal = row[3], row[4] or 0, row[2]
    still = max(expected - won, 0)
    label = ["Wins"]
    data = [
        _bars(
            "Won so far",
            label,
            [won],
            marker={"color": BLUE},
            width=0.5,
            hovertemplate="won so far: %{x}<extra></extra>",
        ),
        _bars(
            "Expected still to come",
            label,
            [round(still, 1)],
            base=[won],
            marker={"color": _alpha(BLUE, 0.3)},
            width=0.5,
            hovertemplate=f"expected by the end: {expected:g}<extra></extra>",
            **(
                {
                    "error_x": {
                        "type": "data",
                        "symmetric": False,
                        "color": "#000000",
                        "array": [max(row[9] - expected, 0)],
                        "arrayminus": [max(expected - row[8], 0)],
                    }
                }
                if row[8] is not None and row[9] is not None
                else {}
            ),
        ),
    ]
    figure = _plot(
        data,
        label=f"{won} won so far, {expected:g} expected by {day_words(row[1])}, against a "
        f"target of {goal}: "
        + ("an unknown chance" if row[5] is None else f"a {row[5]:.0f}% chance")
        + " of reaching it",
        height=180,
        top=30,
        barmode="overlay",
        xaxis={"rangemode": "tozero", "title": {"text": "wins in the period"}},
        yaxis={"showticklabels": False},
        shapes=[
            {
                "type": "line",
                "x0": goal,
                "x1": goal,
                "y0": 0,
                "y1": 1,
                "yref": "paper",
                "line": {"color": VERMILLION, "width": 3},
            }
        ],
        annotations=[
            {
                "x": goal,
                "y": 1,
                "yref": "paper",
                "text": f"target {goal}",
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"color": VERMILLION},
            }
        ],
    )
    return chart.plotted(figure)


# --- Headline tiles --------------------------------------------------------------------------


def forecast_tiles(result: dict, currency: str) -> list[Tile]:
    wins_by = result.get("wins_by") or {}
    by = day_words(wins_by.get("by"))
    wins = wins_by.get("wins") or {}
    revenue = wins_by.get("revenue") or {}
    win85, rev85 = _band(wins.get("bands"), "85"), _band(revenue.get("bands"), "85")
    tiles = [
        Tile(
            key="wins",
            label=f"Wins by {by}",
            value="—" if wins.get("median") is None else f"{wins['median']:,.0f}",
            detail="median"
            + ("" if win85[0] is None else f"; 85 %: {win85[0]:,.0f}–{win85[1]:,.0f}"),
        ),
        Tile(
            key="revenue",
            label=f"Revenue by {by}",
            value=money(revenue.get("median"), currency),
            detail="median"
            + (
                ""
                if rev85[0] is None
                else f"; 85 %: {money(rev85[0], currency)}–{money(rev85[1], currency)}"
            ),
        ),
    ]
    target = result.get("target")
    if target:
        chance, expected = target.get("probability"), target.get("expected")
        tiles.append(
            Tile(
                key="target",
                label="Chance of reaching target",
                value="—" if chance is None else f"{100 * chance:.0f}%",
                detail=f"target {target['target']:,} by {day_words(target['period_end'])}; "
                f"{target['won_so_far']:,} won"
                + ("" if expected is None else f", {expected:,.1f} expected"),
            )
        )
    needed = result.get("wins_needed") or {}
    if needed.get("n"):
        tiles.append(
            Tile(
                key="when",
                label=f"{needed['n']} more wins by",
                value=day_words((needed.get("reached_by") or {}).get("85")),
                detail="at 85 % confidence",
            )
        )
    track = track_summary(result)
    if track:
        held = next(r["cells"][0]["held"] for r in track["rows"] if r["band"] == "85")
        tiles.append(
            Tile(
                key="track",
                label="85 % band held",
                value="—" if held is None else f"{held}%",
                detail=f"of {track['count']:,} back-tests",
                help="How often the 85 % band of a past forecast held the actual result.",
                low_sample=track["count"] < 5,
            )
        )
    deals = result.get("deals") or []
    tiles.append(
        Tile(
            key="open",
            label="Open deals forecast",
            value=f"{len(deals):,}",
            detail=f"{sum(d.get('source') == 'lab' for d in deals):,} with the lab's chance",
        )
    )
    return tiles


def forecast_charts(
    result: dict,
    *,
    currency: str = "USD",
    deal_url: Callable[[int], str] | None = None,
    owner_names: dict | None = None,
) -> list[Chart]:
    """Every chart of the dashboard, in page order."""
    return [
        fan_chart(result),
        coverage_chart(result),
        backtests_chart(result),
        by_date_chart(result, currency),
        wins_needed_chart(result),
        target_chart(result),
        deals_chart(result, deal_url=deal_url, owner_names=owner_names),
    ]
