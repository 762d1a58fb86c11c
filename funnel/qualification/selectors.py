"""Reads of qualification: a stream's criteria, the scores a user may see, a deal's latest
levels, and each open deal's coverage and overdue criteria (docs/qualification.md, "Rules of
scoring"), for a page of deals in a few queries.

*Known*: the latest score of the criterion's active version is above the lowest level (for a
yes/no criterion, any answer). *Due*: the deal's current step is at or after the criterion's
known-by step. *Overdue*: past it, and still unknown. A criterion without a known-by step is
never due. Scores given under an earlier version of a criterion do not count for its active
version: its meaning changed, so the deal is asked again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from funnel.eventlog.selectors import deals_visible_to
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.models import (
    CriteriaSet,
    Criterion,
    CriterionScore,
    LevelScale,
    WinCall,
)
from streams.models import ValueStream
from streams.selectors import User, streams_visible_to


def criteria_set_of(stream: ValueStream) -> CriteriaSet | None:
    return CriteriaSet.objects.filter(stream=stream).first()


def criteria_active(stream_ids: Iterable[int]) -> list[Criterion]:
    """The active criteria of these streams, in each set's order, with their known-by step."""
    return list(
        Criterion.objects.filter(
            criteria_set__stream_id__in=list(stream_ids), retired_at__isnull=True
        )
        .select_related("known_by", "criteria_set")
        .order_by("criteria_set_id", "position", "id")
    )


def criteria_all(criteria_set: CriteriaSet) -> list[Criterion]:
    """Every version of every criterion of the set, active first in their order, then the
    retired ones by name and newest version first (the criteria page's history)."""
    return sorted(
        criteria_set.criteria.select_related("known_by"),
        key=lambda c: (
            c.retired_at is not None,
            c.position if c.retired_at is None else 0,
            c.name.lower() if c.retired_at else "",
            -c.version,
        ),
    )


def criteria_visible_to(user: User) -> QuerySet[Criterion]:
    return Criterion.objects.filter(
        criteria_set__stream__in=streams_visible_to(user)
    ).select_related("criteria_set", "known_by")


def scores_visible_to(user: User) -> QuerySet[CriterionScore]:
    """Scores of the deals ``user`` may see (a rep: their own deals')."""
    return CriterionScore.objects.filter(deal__in=deals_visible_to(user)).select_related(
        "criterion", "step", "scored_by"
    )


def is_known(criterion: Criterion, level: int | None) -> bool:
    if level is None:
        return False
    return criterion.scale == LevelScale.YES_NO or level > 0


def latest_scores(
    deal_ids: Iterable[int], criteria: Iterable[Criterion]
) -> dict[int, dict[int, CriterionScore]]:
    """``{deal id: {criterion id: its latest score}}`` in one query, each with its criterion
    (a score's level is read against its own version's scale)."""
    found: dict[int, dict[int, CriterionScore]] = defaultdict(dict)
    scores = (
        CriterionScore.objects.filter(deal_id__in=list(deal_ids), criterion__in=list(criteria))
        .select_related("criterion")
        .order_by("scored_at", "id")
    )
    for score in scores:
        found[score.deal_id][score.criterion_id] = score
    return found


@dataclass
class Coverage:
    """One open deal's score coverage: due criteria known / due criteria, and the overdue."""

    due: int = 0
    known: int = 0
    overdue: list[str] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        return self.known / self.due if self.due else None


def deals_coverage(deals: Iterable[Deal], *, positions: dict[int, int]) -> dict[int, Coverage]:
    """Coverage of each open deal of ``deals`` (annotated with ``current_step_id`` as
    ``funnel.eventlog.selectors.deals_for_list`` does), ``positions`` the step positions by
    step id. Two queries whatever the number of deals: the criteria, then the scores."""
    deals = [d for d in deals if d.status == DealStatus.OPEN and d.current_step_id is not None]
    criteria = criteria_active({d.stream_id for d in deals})
    by_stream: dict[int, list[Criterion]] = defaultdict(list)
    for criterion in criteria:
        if criterion.known_by is not None:
            by_stream[criterion.criteria_set.stream_id].append(criterion)
    due_criteria = [c for cs in by_stream.values() for c in cs]
    latest = latest_scores([d.pk for d in deals], due_criteria) if due_criteria else {}
    coverage: dict[int, Coverage] = {}
    for deal in deals:
        here = positions.get(deal.current_step_id)
        row = Coverage()
        for criterion in by_stream.get(deal.stream_id, []):
            if here is None or here < criterion.known_by.position:
                continue
            score = latest.get(deal.pk, {}).get(criterion.pk)
            known = is_known(criterion, score.level if score else None)
            row.due += 1
            row.known += known
            if not known and here > criterion.known_by.position:
                row.overdue.append(criterion.name)
        coverage[deal.pk] = row
    return coverage


def overdue_condition() -> Q:
    """Open deals (annotated with ``current_step_id``) past the known-by step of an active
    criterion still unknown to them: the deals list's "overdue criteria" filter, in SQL, by
    the same rule as :func:`deals_coverage`."""
    position = Visit.objects.filter(deal=OuterRef(OuterRef("pk")), exited_at__isnull=True)
    latest = CriterionScore.objects.filter(
        deal_id=OuterRef(OuterRef("pk")), criterion_id=OuterRef("pk")
    ).order_by("-scored_at", "-id")
    overdue = (
        Criterion.objects.filter(
            criteria_set__stream_id=OuterRef("stream_id"),
            retired_at__isnull=True,
            known_by__isnull=False,
            known_by__position__lt=Subquery(position.values("step__position")[:1]),
        )
        .annotate(latest_level=Subquery(latest.values("level")[:1]))
        .filter(Q(latest_level__isnull=True) | Q(scale=LevelScale.EVIDENCE, latest_level=0))
    )
    return Q(status=DealStatus.OPEN) & Exists(overdue)


@dataclass(frozen=True)
class CriterionRow:
    """One active criterion on a deal page: its latest score (None: never scored), whether it
    is known, due and overdue at the deal's current step."""

    criterion: Criterion
    latest: CriterionScore | None
    known: bool
    due: bool
    overdue: bool

    @property
    def label(self) -> str:
        """The latest score's level, in words."""
        return level_label(self.latest) if self.latest else ""


def deal_qualification(*, deal: Deal, step_position: int | None) -> list[CriterionRow]:
    """The deal page's criteria: each active criterion of the deal's stream with its latest
    score; due and overdue against ``step_position`` (the deal's current step; None at no
    step or closed)."""
    criteria = criteria_active([deal.stream_id])
    latest = latest_scores([deal.pk], criteria).get(deal.pk, {})
    rows = []
    for criterion in criteria:
        score = latest.get(criterion.pk)
        known = is_known(criterion, score.level if score else None)
        at = criterion.known_by.position if criterion.known_by else None
        due = at is not None and step_position is not None and step_position >= at
        overdue = due and not known and step_position > at
        rows.append(CriterionRow(criterion, score, known, due, overdue))
    return rows


def closed_reaching(
    *, stream_id: int, step_id: int, start: datetime, end: datetime
) -> tuple[int, int]:
    """``(closed, won)``: the stream's deals closed in [``start``, ``end``) that reached the
    step, the deals a walk-away rule at that step is compared among (docs/qualification.md)."""
    found = (
        Deal.objects.filter(
            stream_id=stream_id,
            status__in=[DealStatus.WON, DealStatus.LOST],
            closed_at__gte=start,
            closed_at__lt=end,
        )
        .filter(Exists(Visit.objects.filter(deal=OuterRef("pk"), step_id=step_id)))
        .aggregate(closed=Count("pk"), won=Count("pk", filter=Q(status=DealStatus.WON)))
    )
    return found["closed"], found["won"]


def deal_latest_win_call(*, deal: Deal) -> WinCall | None:
    """The deal's latest win call (any caller), with who made it."""
    return (
        WinCall.objects.filter(deal=deal)
        .select_related("called_by")
        .order_by("-called_at", "-id")
        .first()
    )


def level_label(score: CriterionScore) -> str:
    """A score's level in words, read against its own version's scale."""
    levels = score.criterion.levels
    return levels[score.level] if score.level < len(levels) else str(score.level)


def deal_score_history(*, deal: Deal) -> list[CriterionScore]:
    """Every score of the deal, newest first, with its criterion version and step; each
    with ``label``, its level in words."""
    scores = list(
        deal.scores.select_related("criterion", "step", "scored_by").order_by("-scored_at", "-id")
    )
    for score in scores:
        score.label = level_label(score)
    return scores
