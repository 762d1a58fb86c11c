"""Conformance on the map (docs/discovery.md "On the map"): a pill on each step's box with
the share of the deals' arrivals there that came as the map designs (registered with
``streams.hooks.register_step_markers`` in ``funnel.apps``).

The figure is read from the stream's latest computed Discovery view of the default window
(the last 90 days as of now, every owner and source); the map never computes one. Without
such a snapshot, or for a step nobody reached, there is no pill. Accepting a deviation makes
the snapshot stale; the pills show the new figure once the Discovery dashboard has computed
it again.

The same snapshot gives the map page its overlay of the discovered moves
(:func:`discovered_edges`, registered with ``streams.hooks.register_discovered_edges``)."""

from __future__ import annotations

from funnel.discovery.models import DiscoverySnapshot
from streams.models import ValueStream

#: The default view's key begins with its window and "now"; its filters are empty.
DEFAULT_KEY = "last-90d|now|"
DEFAULT_FILTERS = "|owner=|source="


def _latest_default(stream: ValueStream) -> DiscoverySnapshot | None:
    """The stream's latest computed Discovery view of the default window (one query)."""
    return (
        DiscoverySnapshot.objects.filter(
            stream=stream,
            view_key__startswith=DEFAULT_KEY,
            view_key__endswith=DEFAULT_FILTERS,
            computed_at__isnull=False,
        )
        .order_by("-computed_at")
        .only("result", "computed_at")
        .first()
    )


def discovered_edges(stream: ValueStream) -> list[tuple[int, int, int]] | None:
    """The moves of the latest default view as (from step id, to step id, transitions), most
    frequent first; None without such a view."""
    snapshot = _latest_default(stream)
    if snapshot is None:
        return None
    edges = ((snapshot.result.get("graph") or {}).get("edges")) or []
    return [(e["source"], e["target"], e["transitions"]) for e in edges]


def conformance_markers(stream: ValueStream) -> dict[int, list[tuple[str, str]]]:
    """Per step reached: ("87%", what it means)."""
    snapshot = _latest_default(stream)
    if snapshot is None:
        return {}
    markers: dict[int, list[tuple[str, str]]] = {}
    by_step = ((snapshot.result.get("conformance") or {}).get("by_step")) or []
    for row in by_step:
        if not row.get("arrivals") or row.get("share") is None:
            continue
        pct = round(100 * row["share"])
        markers[row["step"]] = [
            (
                f"{pct}%",
                f"Conformance: {row['conforming']} of {row['arrivals']} arrivals here "
                f"({pct} %) came as the map designs, over the deals that started in the last "
                f"90 days (computed {snapshot.computed_at:%d %b %Y %H:%M} UTC); accepted "
                "deviations count as designed.",
            )
        ]
    return markers
