"""The Leads dashboard's ``queue`` part (docs/leads.md "Leads result"; definitions in
docs/metrics.md §8): the ready-for-sales queue against the sellers' capacity.

- ``waiting``: arrivals at the pull hand-off undecided at ``as_of`` with the visit open; their
  ages (``as_of − entered_at``, in the view's basis: working hours are ``W(as_of) −
  entered_w`` on the pull step's lane calendar) give ``median_age_hours`` (linear quantile)
  and ``oldest_age_hours``;
- ``arrivals_per_week``, ``pulls_per_week``: arrivals at the pull step, and accept decisions at
  the pull hand-off, in the window, ÷ the window's weeks;
- ``capacity_per_week``: Little's law at the limits, Σ WIP limits ÷ the median weeks from a
  pull to the close, over the cases pulled and closed by ``as_of`` whose close is in the
  window (a case pulled more than once: its last pull before the close). Little's law is an
  elapsed-time relation, so these weeks are calendar weeks in both bases (as
  ``littles_law_ratio``, docs/metrics.md "Working time"). Null without such cases, without
  sellers, or when the median is 0;
- ``sellers``: each seller (a user with a seller limit) with ``wip``, the open cases of the
  stream they own at ``as_of`` (created by then, not closed by then), and ``limit``;
- ``verdict``: ``over`` when arrivals > 1.1 × capacity, ``under`` when < 0.9 ×, else
  ``level``; ``unknown`` without a capacity.

The case filters (``source``, ``owner``) narrow every set of cases; with an owner filter the
sellers (and so the limits summed) are that owner alone. A stream without a pull hand-off has
no queue: nothing waits, the rates and the capacity are null and the verdict ``unknown``.

Reads: a handful of aggregate queries and one array of the waiting arrivals' entries.
"""

from __future__ import annotations

from django.db.models import Count, F, Max, Q

from funnel.leads.figure_reads import (
    as_of_w,
    case_q,
    in_window,
    open_q,
    sellers,
    stream_handoffs,
    undecided_q,
)
from funnel.leads.models import DecisionKind, HandoffDecision
from funnel.leads.view import LeadsView
from funnel.metrics.stats import quantiles
from funnel.models import Deal, Visit

#: Arrivals above this multiple of the capacity: marketing over-produces for sales.
OVER = 1.1
#: Arrivals below this multiple: sales could take more.
UNDER = 0.9
WEEK_SECONDS = 7 * 86400


def queue_figures(view: LeadsView) -> dict:
    """The ``queue`` part of the Leads result for ``view``."""
    seller_rows = _sellers(view)
    pull = stream_handoffs(view).pull
    out = {
        "waiting": 0,
        "median_age_hours": None,
        "oldest_age_hours": None,
        "arrivals_per_week": None,
        "pulls_per_week": None,
        "capacity_per_week": None,
        "sellers": seller_rows,
        "verdict": "unknown",
    }
    if pull is None:
        return out
    out["waiting"], ages = _waiting(view, pull)
    out["median_age_hours"] = quantiles(ages, [0.5])[0]
    out["oldest_age_hours"] = max(ages) if ages else None
    weeks = view.weeks
    if weeks > 0:
        arrivals = (
            Visit.objects.filter(step_id=pull.step_id)
            .filter(in_window(view, "entered_at"), case_q(view))
            .count()
        )
        pulls = (
            HandoffDecision.objects.filter(handoff=pull, kind=DecisionKind.ACCEPT)
            .filter(in_window(view, "decided_at"), case_q(view))
            .count()
        )
        out["arrivals_per_week"], out["pulls_per_week"] = arrivals / weeks, pulls / weeks
    limits = sum(row["limit"] for row in seller_rows)
    out["capacity_per_week"] = capacity = _capacity(view, pull, limits)
    out["verdict"] = verdict(out["arrivals_per_week"], capacity)
    return out


def verdict(arrivals_per_week: float | None, capacity_per_week: float | None) -> str:
    """``over`` / ``under`` / ``level`` of the arrivals against the capacity (thresholds
    :data:`OVER`, :data:`UNDER`, strict); ``unknown`` when either is unknown."""
    if arrivals_per_week is None or capacity_per_week is None:
        return "unknown"
    if arrivals_per_week > OVER * capacity_per_week:
        return "over"
    if arrivals_per_week < UNDER * capacity_per_week:
        return "under"
    return "level"


def _waiting(view: LeadsView, pull) -> tuple[int, list[float]]:
    """The count of the waiting arrivals, and their ages in hours of the view's basis (in
    working time, those with an entry offset; none without a calendar)."""
    visits = (
        Visit.objects.filter(step_id=pull.step_id)
        .filter(open_q(view))
        .filter(undecided_q(view))
        .filter(case_q(view))
    )
    if not view.working:
        entered = list(visits.values_list("entered_at", flat=True))
        return len(entered), [(view.as_of - at).total_seconds() / 3600 for at in entered]
    offsets = list(visits.values_list("entered_w", flat=True))
    now_w = as_of_w(view, pull.step.lane_id)
    if now_w is None:
        return len(offsets), []
    return len(offsets), [(now_w - w) / 3600 for w in offsets if w is not None]


def _capacity(view: LeadsView, pull, limits: int) -> float | None:
    if limits <= 0:
        return None
    cycles = (
        HandoffDecision.objects.filter(handoff=pull, kind=DecisionKind.ACCEPT)
        .filter(decided_at__lte=view.as_of)
        .filter(decided_at__lte=F("deal__closed_at"))
        .filter(in_window(view, "deal__closed_at"), case_q(view))
        .values("deal_id", "deal__closed_at")
        .annotate(pulled=Max("decided_at"))
        .values_list("deal__closed_at", "pulled")
    )
    weeks = [(closed - pulled).total_seconds() / WEEK_SECONDS for closed, pulled in cycles]
    median = quantiles(weeks, [0.5])[0]
    if not median:
        return None
    return limits / median


def _sellers(view: LeadsView) -> list[dict]:
    rows = sellers(view)
    wip = dict(
        Deal.objects.filter(stream_id=view.stream_id, owner_id__in=[r[0] for r in rows])
        .filter(case_q(view, prefix=""), created_at__lte=view.as_of)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gt=view.as_of))
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )
    return [
        {"user": user, "label": label, "wip": wip.get(user, 0), "limit": limit}
        for user, label, limit in rows
    ]
