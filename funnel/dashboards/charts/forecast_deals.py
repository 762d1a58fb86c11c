"""The Forecast dashboard's per-deal chart (docs/forecasts.md "The Forecast dashboard"): each
open deal's win probability and close dates (50/85/95 %), and whether the qualification lab's
calibrated model or the measured flow gave its chance of winning ("the page says which")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from funnel.dashboards.charts.common import BLUE, ORANGE, Chart, _pct, _plot, _r, _scatter

#: The simulation's bands, narrowest first.
BANDS = ("50", "85", "95")
SOURCE_WORDS = {"flow": "the flow", "lab": "the lab"}


def as_of(result: dict) -> datetime | None:
    """The instant the forecast was made from (nothing later was read)."""
    text = result.get("as_of")
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def _day(text: str | None) -> str | None:
    """An ISO date or date-time as its day (``2026-12-31``)."""
    return str(text)[:10] if text else None


# --- Each open deal --------------------------------------------------------------------------


def deals_chart(
    result: dict,
    *,
    deal_url: Callable[[int], str] | None = None,
    owner_names: dict | None = None,
) -> Chart:
    """Each open deal's win probability and close dates (50/85/95 %), and whether the lab's
    calibrated model or the measured flow gave its chance of winning."""
    deals = result.get("deals") or []
    names = owner_names or {}
    rows = [
        [
            d["name"],
            d.get("step_name"),
            names.get(d.get("owner"), "—") if d.get("owner") is not None else "unowned",
            _r(d.get("amount"), 0),
            _pct(d.get("win_probability")),
            *[_day((d.get("close") or {}).get(key)) for key in BANDS],
            SOURCE_WORDS.get(d.get("source"), d.get("source")),
        ]
        for d in deals
    ]
    chart = Chart(
        key="deals",
        title="Each open deal",
        units="win probability %; close dates",
        how_to_read=(
            "Each open deal's chance of being won and, if it is won, the date by which it "
            "closes in half of the futures where it wins (50 %), in 85 % and in 95 %. The "
            "timing always comes from the flow (the stream's measured steps); the chance "
            "comes from the qualification lab's calibrated model where the deal has one "
            "(marked lab), else from the flow. Orange dots are the lab's, blue the flow's."
        ),
        as_of=as_of(result),
        columns=[
            "deal",
            "step",
            "owner",
            "amount",
            "win_probability_pct",
            "close_50",
            "close_85",
            "close_95",
            "outcome_from",
        ],
        rows=rows,
        row_links=[deal_url(d["deal"]) if deal_url else None for d in deals],
        note=result.get("lab_note") or "",
        wide=True,
    )
    if not rows:
        return chart.empty_because("No open deal to forecast.")
    data = []
    for source, colour in (("flow", BLUE), ("lab", ORANGE)):
        mine = [(d, r) for d, r in zip(deals, rows, strict=True) if d.get("source") == source]
        dated = [(d, r) for d, r in mine if r[5]]
        if not dated:
            continue
        data.append(
            _scatter(
                "markers",
                f"Chance from {SOURCE_WORDS[source]}",
                [r[5] for _, r in dated],
                [r[4] for _, r in dated],
                marker={
                    "color": colour,
                    "size": 9,
                    "line": {"color": "#FFFFFF", "width": 0.5},
                    "symbol": "circle" if source == "flow" else "diamond",
                },
                text=[r[0] for _, r in dated],
                hovertemplate="%{text}: %{y}% to win; closes by %{x} (50 %)<extra></extra>",
            )
        )
    if not data:
        return chart.plotted()  # the table only: no deal is won in enough futures for a date
    figure = _plot(
        data,
        label="Open deals by forecast close date (50 %) and win probability",
        height=320,
        top=30,
        xaxis={"type": "date", "title": {"text": "close date, 50 %"}},
        yaxis={"range": [0, 105], "ticksuffix": "%", "title": {"text": "win probability"}},
    )
    return chart.plotted(figure)
