"""The deals list's forecast columns (issue 19 point 5; docs/forecasts.md "On the deals
list"): each open deal's win probability and forecast close date (50 %), read from its
stream's latest default forecast (``funnel.forecasts.snapshots.deal_forecasts``, computed in
the background; nothing is simulated here), and the list sorted by them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from funnel.forecasts.snapshots import deal_forecasts
from streams.models import ProcessStep, ValueStream


def list_forecasts(steps: list[ProcessStep]) -> tuple[dict[int, dict], list[ValueStream]]:
    """The forecast rows of every open deal of the list's streams (one query per stream), by
    deal id, and the streams with no forecast computed yet (the page says so)."""
    streams = {step.stream_id: step.stream for step in steps}
    rows: dict[int, dict] = {}
    missing = []
    for stream in sorted(streams.values(), key=lambda s: s.name):
        found = deal_forecasts(stream)
        if not found:
            missing.append(stream)
        rows.update(found)
    return rows, missing


def _close(row: dict | None) -> str | None:
    return ((row or {}).get("close") or {}).get("50")


def forecast_order(ids: Iterable[int], forecasts: dict[int, dict], sort: str) -> list[int]:
    """``ids`` (in the list's own order, which breaks ties) sorted by the forecast: ``win``
    the likeliest to win first, ``forecast`` the soonest 50 % close date first; deals without
    a forecast (closed, new since it was made, or a stream not forecast yet) last."""
    ids = list(ids)
    if sort == "win":

        def key(pk: int) -> tuple:
            row = forecasts.get(pk)
            return (row is None, -(row or {}).get("win_probability", 0.0))

    else:

        def key(pk: int) -> tuple:
            day = _close(forecasts.get(pk))
            return (day is None, date.fromisoformat(day) if day else date.max)

    return sorted(ids, key=key)


def forecast_cells(row: dict | None) -> dict | None:
    """What a deal's row shows: its win probability in % and its 50 % close day."""
    if row is None:
        return None
    close = _close(row)
    return {
        "win_pct": round(100 * row["win_probability"]),
        "close": date.fromisoformat(close) if close else None,
        "source": row.get("source", "flow"),
    }
