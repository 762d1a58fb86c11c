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

#: The pipeline at a past instant changes only when old history is imported or amounts are
#: edited: a few minutes in the cache keep the cockpit to stored reads on most page views.
CACHE_SECONDS = 300


@dataclass(frozen=True)
class Pipeline:
    deals: int
    amount: float
    without_amount: int = 0


def _pipeline(result: MetricsResult, condition: str, extra: dict) -> Pipeline:
    ctx = Context(result.query, result.computed_at)
    rows = sql.fetch(
        f"SELECT COUNT(*), SUM(d.amount), COUNT(d.amount) FROM {DEAL} d "
        f"WHERE d.stream_id = %(stream)s{ctx.deal_where} AND {condition}",
        {**ctx.params, **extra},
    )
    deals, amount, with_amount = rows[0]
    return Pipeline(int(deals), float(amount or 0.0), int(deals) - int(with_amount))


def pipeline_now(result: MetricsResult) -> Pipeline:
    """The open deals of ``result``'s stream and filters now, and the sum of their amounts:
    the engine's ``open_deals`` with their money."""
    return _pipeline(result, "d.status = 'open'", {})


def pipeline_at(result: MetricsResult, *, at: datetime) -> Pipeline:
    """The deals of ``result``'s stream and filters that were open at ``at``."""
    key = f"cockpit:pipeline:{result.query.stream_id}:{result.query.filters.key}:{at.isoformat()}"
    found = cache.get(key)
    if found is None:
        found = _pipeline(
            result,
            "COALESCE(d.first_entered_at, d.created_at) < %(at)s "
            "AND (d.closed_at IS NULL OR d.closed_at >= %(at)s)",
            {"at": sql.timestamp_param(at)},
        )
        cache.set(key, found, CACHE_SECONDS)
    return found
