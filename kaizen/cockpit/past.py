"""The pipeline now and when the period began (docs/cockpit.md "Pipeline").

The metrics engine counts the open deals *now* in every period (metrics.md §3 ``open_deals``),
so its previous period holds today's count too and the dashboards show no change for it. The
cockpit compares with the pipeline as it stood at the start of the period, ``T``: the deals
that had entered the stream before ``T`` (their first visit; their creation when they have
none) and were not closed before ``T``, with the same deal filters as the engine's (its
``Context.deal_where``). Amounts are the deals' amounts today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache

from funnel.metrics import sql
from funnel.metrics.engine import DEAL, Context
from funnel.metrics.results import MetricsResult

#: Both pipelines are kept a few minutes (keyed by the snapshot they go with), so most page
#: views read stored figures only; the open deals' count beside them is the snapshot's.
CACHE_SECONDS = 300

OPEN_NOW = "d.status = 'open'"
OPEN_AT = (
    "COALESCE(d.first_entered_at, d.created_at) < %(at)s "
    "AND (d.closed_at IS NULL OR d.closed_at >= %(at)s)"
)


@dataclass(frozen=True)
class Pipeline:
    deals: int
    amount: float
    without_amount: int = 0


def _sums(condition: str) -> str:
    return (
        f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {condition} THEN d.amount END), "
        f"SUM(CASE WHEN {condition} AND d.amount IS NOT NULL THEN 1 ELSE 0 END)"
    )


def _pipeline(row: tuple) -> Pipeline:
    deals, amount, with_amount = (value or 0 for value in row)
    return Pipeline(int(deals), float(amount), int(deals) - int(with_amount))


def pipelines(result: MetricsResult, *, at: datetime) -> tuple[Pipeline, Pipeline]:
    """The open deals of ``result``'s stream and filters now, and those open at ``at``, each
    with the sum of their amounts: one query (none while cached)."""
    query = result.query
    key = (
        f"cockpit:pipelines:{query.stream_id}:{query.filters.key}:{at.isoformat()}:"
        f"{result.computed_at.isoformat()}:{result.now_at.isoformat() if result.now_at else ''}"
    )
    found = cache.get(key)
    if found is None:
        ctx = Context(query, result.computed_at)
        row = sql.fetch(
            f"SELECT {_sums(OPEN_NOW)}, {_sums(OPEN_AT)} FROM {DEAL} d "
            f"WHERE d.stream_id = %(stream)s{ctx.deal_where}",
            {**ctx.params, "at": sql.timestamp_param(at)},
        )[0]
        found = (_pipeline(row[:3]), _pipeline(row[3:]))
        cache.set(key, found, CACHE_SECONDS)
    return found
