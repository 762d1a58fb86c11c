"""Path facts: where each visit stands in its deal's path (metrics.md §1: a deal's path is its
visits ordered by ``entered_at``, then id).

The metrics need, for every visit, whether it returns to a step the deal visited before
(rework), the step of the deal's previous visit (a hand-off when its lane differs) and whether
it is the deal's latest visit (a lost deal was lost there); and, for every deal, when its first
visit began (the funnel cohort, the sales cycle). Working these out with window functions over
every path at each recompute cost more than the rest of the figures together, so they are
stored on the rows when the rows are written:

- the services append one visit at a time (``funnel.eventlog.services``);
- the import and the demo seed know each whole path in memory: :func:`path_facts`;
- anything else (the admin, a migration) recomputes them in SQL: :func:`deal_paths_refresh`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from django.db import connection

from funnel.models import Deal, Visit

VISIT = Visit._meta.db_table
DEAL = Deal._meta.db_table


def path_facts(deal: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The facts of visits given as parallel arrays sorted by deal, then path order.

    Returns ``(reentry, previous_step, is_last)``: booleans, the previous visit's step value
    (-1 for a deal's first visit) and booleans.
    """
    n = len(deal)
    new_deal = np.ones(n, bool)
    new_deal[1:] = deal[1:] != deal[:-1]
    is_last = np.ones(n, bool)
    is_last[:-1] = new_deal[1:]
    previous = np.full(n, -1, np.int64)
    previous[1:] = step[:-1]
    previous[new_deal] = -1
    # Grouped by (deal, step) in path order, every visit after a group's first is a return.
    order = np.lexsort((np.arange(n), step, deal))
    d, s = deal[order], step[order]
    repeat = np.zeros(n, bool)
    repeat[1:] = (d[1:] == d[:-1]) & (s[1:] == s[:-1])
    reentry = np.empty(n, bool)
    reentry[order] = repeat
    return reentry, previous, is_last


def deal_paths_refresh(deal_ids: Iterable[int] | None = None) -> None:
    """Recompute the path facts of ``deal_ids`` (every deal when None) from their visits."""
    where = ""
    params: list[int] = []
    if deal_ids is not None:
        params = list(deal_ids)
        if not params:
            return
        where = f"WHERE deal_id IN ({', '.join(['%s'] * len(params))})"
    order = "ORDER BY entered_at, id"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {VISIT} SET reentry = f.reentry, previous_step_id = f.previous_step, "
            f"is_last = f.is_last FROM ("
            f"SELECT id, ROW_NUMBER() OVER (PARTITION BY deal_id, step_id {order}) > 1 "
            f"AS reentry, LAG(step_id) OVER (PARTITION BY deal_id {order}) AS previous_step, "
            f"LEAD(id) OVER (PARTITION BY deal_id {order}) IS NULL AS is_last "
            f"FROM {VISIT} {where}) f WHERE f.id = {VISIT}.id",
            params,
        )
        cursor.execute(
            f"UPDATE {DEAL} SET first_entered_at = (SELECT MIN(v.entered_at) FROM {VISIT} v "
            f"WHERE v.deal_id = {DEAL}.id) {where.replace('deal_id', 'id')}",
            params,
        )
