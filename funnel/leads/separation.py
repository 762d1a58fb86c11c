"""The Leads dashboard's ``separation`` part (docs/leads.md "Leads result"; definitions in
docs/metrics.md §8): are lead generation and selling kept apart?

- ``prospecting_share``, per ISO week (Monday, UTC) of the visit's entry: the sellers' hours on
  lead steps ÷ all their hours. Sellers are the users with a seller limit in the stream; a
  visit is a seller's when they are its actor; its hours are the logged ``work_minutes`` ÷ 60,
  else the step's ``planned_process_hours`` (hands-on hours: the same in both bases). Lead
  steps are the steps before the pull hand-off's step in map order. Weeks without any seller
  hours are left out. ``by_rep``: the same over the window, per seller with hours. The
  waterfall's recycle (nurture) step is a lead step wherever it stands on the map.
- ``skipped_share``, per ISO week: the cases that entered the selling steps in the week, and
  the share of them that had no accept decision at the pull hand-off at or before that entry
  (handed to a seller without an accepted SQL), with its Wilson interval. *Entering the
  selling steps* is a visit at a step after the pull hand-off's step whose previous visit was
  not at such a step (or that is the case's first): the pull step itself is where a lead waits
  to be pulled, and its every arrival comes before its own accept, so entering it is not a
  skip; the recycle step, though drawn after it on some maps, is nurturing, not selling. A
  case that enters twice in a week counts once, by its first entry then.
  ``skipped_by_rep``: the same over the window per case owner (``user`` None: no owner), each
  case once, by its first entry in the window.
- ``trend_per_week``, ``trend_p``: the least-squares slope of the weekly ``prospecting_share``
  (a 0–1 share, so per week in share units; × 100 for points) against the week (weeks apart
  as they are, a week without hours leaves a gap) and its p, by ``scipy.stats.linregress``;
  null with fewer than 3 weeks, and p null where linregress gives none.

Without a pull hand-off there are no lead and selling steps: the lists are empty, the trend
null. The case filters (``source``, ``owner``) narrow the visits by their case.

Reads: two grouped queries (by week and seller; by case and week), small results.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date

from django.db.models import Case, Exists, F, FloatField, Max, OuterRef, Q, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, TruncWeek
from scipy.stats import linregress

from funnel.leads.figure_reads import (
    case_q,
    in_window,
    monday,
    rate,
    sellers,
    share,
    stream_handoffs,
    user_labels,
)
from funnel.leads.models import DecisionKind, HandoffDecision
from funnel.leads.view import LeadsView
from funnel.models import Visit
from streams.models import ProcessStep

#: Fewer weekly shares than this give no trend.
MIN_TREND_WEEKS = 3


def separation_figures(view: LeadsView) -> dict:
    """The ``separation`` part of the Leads result for ``view``."""
    out = {
        "prospecting_share": [],
        "by_rep": [],
        "skipped_share": [],
        "skipped_by_rep": [],
        "trend_per_week": None,
        "trend_p": None,
    }
    handoffs = stream_handoffs(view)
    pull = handoffs.pull
    if pull is None:
        return out
    recycle = handoffs.recycle_step_id
    out["prospecting_share"], out["by_rep"] = _prospecting(view, pull.step.position, recycle)
    out["trend_per_week"], out["trend_p"] = trend(
        [(row["week"], row["share"]) for row in out["prospecting_share"]]
    )
    out["skipped_share"], out["skipped_by_rep"] = _skipped(view, pull, recycle)
    return out


def trend(points: list[tuple[str, float | None]]) -> tuple[float | None, float | None]:
    """``(slope per week, p)`` of the shares against their weeks (``YYYY-MM-DD`` Mondays);
    weeks without a share are left out; ``(None, None)`` under :data:`MIN_TREND_WEEKS`."""
    known = [(date.fromisoformat(week), value) for week, value in points if value is not None]
    if len(known) < MIN_TREND_WEEKS:
        return None, None
    first = known[0][0]
    x = [(week - first).days / 7 for week, _ in known]
    fit = linregress(x, [value for _, value in known])
    slope, p = float(fit.slope), float(fit.pvalue)
    return (None if math.isnan(slope) else slope), (None if math.isnan(p) else p)


def _prospecting(
    view: LeadsView, pull_position: int, recycle: int | None
) -> tuple[list[dict], list[dict]]:
    # Every seller: the owner filter narrows the cases, whoever of the sellers worked on them.
    labels = {user: label for user, label, _ in sellers(view, every=True)}
    if not labels:
        return [], []
    hours = Coalesce(Cast(F("work_minutes"), FloatField()) / 60.0, F("step__planned_process_hours"))
    lead_hours = Case(
        When(Q(step__position__lt=pull_position) | Q(step_id=recycle), then=hours),
        default=Value(0.0),
    )
    rows = (
        Visit.objects.filter(step__stream_id=view.stream_id, actor_id__in=list(labels))
        .filter(in_window(view, "entered_at"), case_q(view))
        .annotate(week=TruncWeek("entered_at", tzinfo=UTC))
        .values("week", "actor_id")
        .annotate(hours=Sum(hours), lead=Sum(lead_hours))
        .values_list("week", "actor_id", "hours", "lead")
    )
    weeks: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    reps: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for week, actor, total, lead in rows:
        for sums in (weeks[monday(week)], reps[actor]):
            sums[0] += total or 0.0
            sums[1] += lead or 0.0
    by_week = [
        {"week": week, "share": share(lead, total), "hours": total, "prospecting_hours": lead}
        for week, (total, lead) in sorted(weeks.items())
        if total > 0
    ]
    by_rep = [
        {
            "user": user,
            "label": labels[user],
            "share": share(lead, total),
            "hours": total,
            "prospecting_hours": lead,
        }
        for user, (total, lead) in sorted(
            reps.items(), key=lambda kv: (labels[kv[0]].lower(), kv[0])
        )
    ]
    return by_week, by_rep


def _skipped(view: LeadsView, pull, recycle: int | None) -> tuple[list[dict], list[dict]]:
    selling = list(
        ProcessStep.objects.filter(stream_id=view.stream_id, position__gt=pull.step.position)
        .exclude(pk=recycle)
        .values_list("pk", flat=True)
    )
    if not selling:
        return [], []
    accepted = HandoffDecision.objects.filter(
        deal_id=OuterRef("deal_id"),
        handoff=pull,
        kind=DecisionKind.ACCEPT,
        decided_at__lte=OuterRef("entered_at"),
    )
    rows = (
        Visit.objects.filter(step_id__in=selling)
        .filter(Q(previous_step_id__isnull=True) | ~Q(previous_step_id__in=selling))
        .filter(in_window(view, "entered_at"), case_q(view))
        .annotate(
            week=TruncWeek("entered_at", tzinfo=UTC),
            skipped=Case(When(Exists(accepted), then=Value(0)), default=Value(1)),
        )
        .values("deal_id", "week", "deal__owner_id")
        .annotate(s=Max("skipped"))
        .values_list("deal_id", "week", "deal__owner_id", "s")
    )
    weeks: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    cases: dict[int, tuple[int | None, int]] = {}
    for deal, week, owner, skipped in rows:
        sums = weeks[monday(week)]
        sums[0] += 1
        sums[1] += skipped
        # Once accepted, accepted at every later entry: the first entry is skipped iff any is.
        cases[deal] = (owner, max(skipped, cases.get(deal, (owner, 0))[1]))
    by_week = [
        {"week": week, "n": n, "skipped": s, **rate(s, n)} for week, (n, s) in sorted(weeks.items())
    ]
    owners: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for owner, skipped in cases.values():
        owners[owner][0] += 1
        owners[owner][1] += skipped
    labels = user_labels(owners)
    by_rep = [
        {"user": owner, "label": labels.get(owner, ""), "n": n, "skipped": s, **rate(s, n)}
        for owner, (n, s) in sorted(
            owners.items(),
            key=lambda kv: (kv[0] is None, labels.get(kv[0], "").lower(), kv[0] or 0),
        )
    ]
    return by_week, by_rep
