"""The Leads dashboard's ``waste`` part (docs/leads.md "Leads result"; definitions in
docs/metrics.md §8). An *arrival* is a visit at any hand-off step.

- ``never_touched``: of the arrivals entered in the window (``arrivals``), those that by
  ``as_of`` had no decision, no logged work (``work_minutes`` empty or 0) and no actor on the
  visit (neither a user nor an imported actor name): ``n`` and ``share``.
- ``first_touch_histogram``: the same arrivals' hours to their decision (decided by
  ``as_of``), in the view's basis (working: the decision's ``response_w``; a decision without
  it is in no bin), in the response bins (``funnel.leads.bins``); ``still_waiting``: those
  without a decision by ``as_of``. So the bins and ``still_waiting`` add up to ``arrivals``
  (less working-time decisions without an offset).
- ``ping_pong``: ``rejected_cases``, the cases with a reject decided in the window;
  ``cases``, those of them rejected more than once (all time up to ``as_of``); ``share``;
  ``examples``: up to :data:`EXAMPLES` of their deal ids, most rejects first.
- ``reasons``: the decisions with a reason decided in the window, by the decision's kind and
  the reason's label, most frequent first (then kind and label), with the cumulative share of
  all of them (a Pareto).
- ``recycle_yield``: ``recycled``, the cases with a recycle decided in the window;
  ``became_sql``, those offered at the pull hand-off (a visit entering its step) after that
  recycle and by ``as_of``; the rate with its Wilson interval. Without a pull hand-off,
  ``became_sql`` and the rate are null.

The case filters (``source``, ``owner``) narrow every set. Reads: grouped and aggregate
queries only (the bins counted by the database).
"""

from __future__ import annotations

from django.db.models import Case, Count, Exists, Max, OuterRef, Q, Value, When

from funnel.leads.bins import bin_index, histogram_of_counts
from funnel.leads.figure_reads import (
    case_q,
    in_window,
    rate,
    response_hours,
    share,
    stream_handoffs,
    undecided_q,
)
from funnel.leads.models import DecisionKind, HandoffDecision
from funnel.leads.view import LeadsView
from funnel.models import Visit

#: How many ping-pong cases are named as examples.
EXAMPLES = 5


def waste_figures(view: LeadsView) -> dict:
    """The ``waste`` part of the Leads result for ``view``."""
    handoffs = stream_handoffs(view)
    arrivals = Visit.objects.filter(step_id__in=handoffs.step_ids).filter(
        in_window(view, "entered_at"), case_q(view)
    )
    decisions = HandoffDecision.objects.filter(
        handoff_id__in=[h.pk for h in handoffs.all], decided_at__lte=view.as_of
    ).filter(case_q(view))
    untouched = (
        undecided_q(view)
        & (Q(work_minutes__isnull=True) | Q(work_minutes=0))
        & Q(actor__isnull=True, actor_name="")
    )
    counts = arrivals.aggregate(
        arrivals=Count("id"),
        never=Count("id", filter=untouched),
        waiting=Count("id", filter=undecided_q(view)),
    )
    bins = (
        arrivals.filter(handoff_decision__decided_at__lte=view.as_of)
        .annotate(bin=bin_index(response_hours(view, "handoff_decision__")))
        .values("bin")
        .annotate(n=Count("id"))
        .values_list("bin", "n")
    )
    pull = handoffs.pull
    return {
        "never_touched": {
            "n": counts["never"],
            "arrivals": counts["arrivals"],
            "share": share(counts["never"], counts["arrivals"]),
        },
        "first_touch_histogram": histogram_of_counts(bins),
        "still_waiting": counts["waiting"],
        "ping_pong": _ping_pong(view, decisions),
        "reasons": _reasons(view, decisions),
        "recycle_yield": _recycle_yield(view, decisions, pull.step_id if pull else None),
    }


def _ping_pong(view: LeadsView, decisions) -> dict:
    rows = list(
        decisions.filter(kind=DecisionKind.REJECT)
        .values("deal_id")
        .annotate(total=Count("id"), in_window=Count("id", filter=in_window(view, "decided_at")))
        .filter(in_window__gt=0)
        .values_list("deal_id", "total")
    )
    repeated = sorted((-total, deal) for deal, total in rows if total > 1)
    return {
        "cases": len(repeated),
        "rejected_cases": len(rows),
        "share": share(len(repeated), len(rows)),
        "examples": [deal for _, deal in repeated[:EXAMPLES]],
    }


def _reasons(view: LeadsView, decisions) -> list[dict]:
    rows = list(
        decisions.filter(in_window(view, "decided_at"), reason__isnull=False)
        .values("kind", "reason__label")
        .annotate(n=Count("id"))
        .values_list("kind", "reason__label", "n")
    )
    rows.sort(key=lambda row: (-row[2], row[0], row[1]))
    total, running, out = sum(row[2] for row in rows), 0, []
    for kind, label, n in rows:
        running += n
        out.append({"kind": kind, "label": label, "n": n, "cumulative_share": running / total})
    return out


def _recycle_yield(view: LeadsView, decisions, pull_step_id: int | None) -> dict:
    recycles = decisions.filter(in_window(view, "decided_at"), kind=DecisionKind.RECYCLE)
    if pull_step_id is None:
        recycled = recycles.values("deal_id").distinct().count()
        return {"recycled": recycled, "became_sql": None, "rate": None, "low": None, "high": None}
    offered = Visit.objects.filter(
        deal_id=OuterRef("deal_id"),
        step_id=pull_step_id,
        entered_at__gt=OuterRef("decided_at"),
        entered_at__lte=view.as_of,
    )
    # After any recycle in the window is after the case's first one there: one flag per case.
    rows = list(
        recycles.annotate(became=Case(When(Exists(offered), then=Value(1)), default=Value(0)))
        .values("deal_id")
        .annotate(became_sql=Max("became"))
        .values_list("became_sql", flat=True)
    )
    became = sum(rows)
    return {"recycled": len(rows), "became_sql": became, **rate(became, len(rows))}
