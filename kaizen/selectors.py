"""Reads of kaizen cycles, and who may do what with them.

Roles per team (``streams.models.Role``): **managers** create cycles and move them through
every phase; **reps** propose a cycle (a plan they may edit while it is still a plan) and
comment; **leadership** reads. Django staff are admins and may do everything. Every page and
API call, and the services themselves, ask these functions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from kaizen.models import CycleCheck, KaizenCycle, Outcome, Phase, Verdict
from streams.models import Role, StreamState, ValueStream
from streams.selectors import (
    User,
    role_in_team,
    stream_can_edit,
    streams_visible_to,
    team_ids_with_role,
)


def open_cycle_step_ids(stream: ValueStream) -> set[int]:
    """Steps of ``stream`` with an open (not closed) kaizen cycle: the map's kaizen bursts."""
    return set(
        KaizenCycle.objects.filter(stream=stream, step__isnull=False)
        .exclude(phase=Phase.CLOSED)
        .values_list("step_id", flat=True)
    )


# --- Permissions ----------------------------------------------------------------------------


def cycles_visible_to(user: User) -> QuerySet[KaizenCycle]:
    """Every member of a team sees the team's cycles (leadership included)."""
    return KaizenCycle.objects.filter(stream__in=streams_visible_to(user)).select_related(
        "stream", "stream__team", "step", "owner", "proposed_by", "check_result"
    )


def cycle_can_propose(*, user: User, stream: ValueStream) -> bool:
    """Managers and reps of the stream's team (and admins) write a plan."""
    if not user.is_authenticated:
        return False
    return user.is_staff or role_in_team(user, stream.team_id) in (Role.MANAGER, Role.REP)


def cycle_can_manage(*, user: User, cycle: KaizenCycle) -> bool:
    """Managers of the team (and admins) move a cycle through Do, Check and Act."""
    return stream_can_edit(user=user, stream=cycle.stream)


def cycle_is_planner(*, user: User, cycle: KaizenCycle) -> bool:
    """Who writes a cycle's plan: its team's managers, and the rep who proposed it."""
    if not user.is_authenticated:
        return False
    if cycle_can_manage(user=user, cycle=cycle):
        return True
    return cycle.proposed_by_id == user.pk and cycle_can_propose(user=user, stream=cycle.stream)


def cycle_can_edit_plan(*, user: User, cycle: KaizenCycle) -> bool:
    """The plan can be changed (or withdrawn) while the cycle is in Plan, by its planners."""
    return cycle.phase == Phase.PLAN and cycle_is_planner(user=user, cycle=cycle)


def cycle_can_comment(*, user: User, cycle: KaizenCycle) -> bool:
    return cycle_can_propose(user=user, stream=cycle.stream)


def streams_for_cycles(user: User) -> QuerySet[ValueStream]:
    """Current-state maps on which ``user`` may propose a cycle (deals flow on those)."""
    streams = streams_visible_to(user).filter(state=StreamState.CURRENT)
    if user.is_authenticated and user.is_staff:
        return streams
    return streams.filter(team_id__in=team_ids_with_role(user, (Role.MANAGER, Role.REP)))


def possible_owners(stream: ValueStream) -> QuerySet:
    """Who may own a cycle of ``stream``: the team's managers and reps."""
    return (
        get_user_model()
        .objects.filter(
            memberships__team_id=stream.team_id,
            memberships__role__in=[Role.MANAGER, Role.REP],
        )
        .order_by("username")
    )


def owners_visible_to(user: User) -> QuerySet:
    """Owners of the cycles ``user`` can see (the board's owner filter)."""
    ids = cycles_visible_to(user).exclude(owner=None).values_list("owner_id", flat=True)
    return get_user_model().objects.filter(pk__in=ids).order_by("username")


# --- The board ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    cycle: KaizenCycle
    #: Open past its target date.
    overdue: bool
    #: In Do, and the after window (change + L) has passed: time to Check.
    check_due: bool


@dataclass(frozen=True)
class Column:
    phase: str
    label: str
    cards: list[Card]


def cycle_overdue(cycle: KaizenCycle, today: date) -> bool:
    return cycle.is_open and cycle.target_date is not None and cycle.target_date < today


def cycle_check_due(cycle: KaizenCycle, today: date) -> bool:
    if cycle.phase != Phase.DO or cycle.change_date is None:
        return False
    return (today - cycle.change_date).days >= cycle.window_days


def board_columns(cycles: QuerySet[KaizenCycle], *, today: date) -> list[Column]:
    """The cycles as cards in Plan, Do, Check, Act and Closed columns (closed: latest first)."""
    by_phase: dict[str, list[Card]] = {phase: [] for phase in Phase.values}
    for cycle in cycles.order_by("target_date", "-planned_on", "id"):
        card = Card(cycle, cycle_overdue(cycle, today), cycle_check_due(cycle, today))
        by_phase[cycle.phase].append(card)
    by_phase[Phase.CLOSED].sort(key=lambda c: c.cycle.closed_on or date.min, reverse=True)
    return [Column(phase, label, by_phase[phase]) for phase, label in Phase.choices]


# --- Improvement history ---------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    month: date  # the first day
    planned: int
    closed: int
    #: Adopted on a Check that could say something.
    adopted: int
    #: Adopted on the manager's override, with too little data (counted apart).
    unevidenced: int = 0


@dataclass(frozen=True)
class AdoptedCycle:
    cycle: KaizenCycle
    check: CycleCheck | None


@dataclass
class History:
    """The improvement history. Cycles adopted without evidence (the manager overrode a Check
    with insufficient data) are counted apart: they are neither in ``adopted`` nor in the
    share adopted, nor among the measured effects."""

    months: list[Month] = field(default_factory=list)
    closed: int = 0
    adopted: int = 0
    adapted: int = 0
    abandoned: int = 0
    adopted_without_evidence: int = 0
    adopted_cycles: list[AdoptedCycle] = field(default_factory=list)
    unevidenced_cycles: list[KaizenCycle] = field(default_factory=list)

    @property
    def share_adopted(self) -> float | None:
        """Adopted on evidence ÷ the closed cycles decided on evidence (adoptions without
        evidence are left out of both); None before any such cycle closed."""
        decided = self.closed - self.adopted_without_evidence
        return self.adopted / decided if decided else None


def _month(day: date) -> date:
    return day.replace(day=1)


def _months_back(today: date, count: int) -> list[date]:
    months, current = [], _month(today)
    for _ in range(count):
        months.append(current)
        current = _month(current.replace(day=1) - date.resolution)
    return months[::-1]


def improvement_history(cycles: QuerySet[KaizenCycle], *, today: date, months: int = 12) -> History:
    """The team's improvement history over the last ``months`` months: cycles planned,
    closed and adopted per month; how the closed cycles ended; and every cycle adopted on
    evidence with its measured effect (the Check as it stood when the cycle was adopted).
    Adoptions without evidence are counted and listed apart."""
    rows = [
        (planned, closed, "unevidenced" if outcome == Outcome.ADOPTED and override else outcome)
        for planned, closed, outcome, override in cycles.values_list(
            "planned_on", "closed_on", "outcome", "evidence_override"
        )
    ]
    planned = Counter(_month(p) for p, _, _ in rows)
    closed = Counter(_month(c) for _, c, _ in rows if c is not None)
    adopted = Counter(_month(c) for _, c, o in rows if c is not None and o == Outcome.ADOPTED)
    unevidenced = Counter(_month(c) for _, c, o in rows if c is not None and o == "unevidenced")
    outcomes = Counter(o for _, c, o in rows if c is not None)
    history = History(
        months=[
            Month(m, planned.get(m, 0), closed.get(m, 0), adopted.get(m, 0), unevidenced.get(m, 0))
            for m in _months_back(today, months)
        ],
        closed=sum(1 for _, c, _ in rows if c is not None),
        adopted=outcomes.get(Outcome.ADOPTED, 0),
        adapted=outcomes.get(Outcome.ADAPTED, 0),
        abandoned=outcomes.get(Outcome.ABANDONED, 0),
        adopted_without_evidence=outcomes.get("unevidenced", 0),
    )
    for cycle in cycles.filter(outcome=Outcome.ADOPTED).order_by("-closed_on", "-id"):
        if cycle.adopted_without_evidence:
            history.unevidenced_cycles.append(cycle)
        else:
            history.adopted_cycles.append(AdoptedCycle(cycle, getattr(cycle, "check_result", None)))
    return history


def check_needs_override(check: CycleCheck | None) -> bool:
    """A stored Check with insufficient data carries no decision: acting on it needs the
    manager's written override (``kaizen.services.cycle_start_act``, ``cycle_adopt``)."""
    return check is not None and check.verdict == Verdict.INSUFFICIENT_DATA


def cycle_check(cycle: KaizenCycle) -> CycleCheck | None:
    """The stored Check of ``cycle``, or None before it has been computed."""
    return CycleCheck.objects.filter(cycle=cycle).first()
