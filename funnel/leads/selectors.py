"""Reads of leads and hand-offs: the hand-off board, the ready-for-sales queue, the sellers'
load, and who may decide or pull (docs/leads.md).

An *arrival* waiting for a decision is an open visit (``exited_at`` empty; only an open case
has one) at a hand-off step with no :class:`HandoffDecision`. The board and the queue read them per
hand-off step through the partial index ``visit_open_step_entered`` (step, entered_at WHERE
exited_at IS NULL), oldest first, with ``NOT EXISTS`` on the decision, and cut at ``limit``
rows (the total is counted apart), so a stream of a million leads reads a page of rows, not
its history. Ages are in working minutes of the hand-off step's lane calendar (else the
team's default): ``W(now) − entered_w``, W(now) computed once per calendar; elapsed minutes
where the team has no calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils import timezone

from funnel.eventlog.working import stream_calendars
from funnel.leads.models import Handoff, HandoffDecision, HandoffReason, SellerLimit, Waterfall
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.models import LabSnapshot
from streams.models import Role, ValueStream
from streams.selectors import User, role_in_team, stream_can_edit

#: Rows the board and the queue show at most (the total is counted apart).
BOARD_LIMIT = 200


@dataclass(frozen=True)
class ArrivalRow:
    """One arrival waiting for a decision at a hand-off."""

    visit_id: int
    deal_id: int
    deal_name: str
    external_id: str
    step_id: int
    step_name: str
    handoff_id: int
    stage: str
    pull: bool
    owner_id: int | None
    owner_label: str
    arrived_at: datetime
    #: The age in working minutes (elapsed where the team has no calendar: ``working`` False).
    age_minutes: float
    working: bool
    sla_minutes: int | None
    escalate_minutes: int | None
    #: Minutes past the SLA (0 within it or without an SLA).
    over_by_minutes: float
    breached: bool
    escalated: bool
    #: The lab's win probability (0–1) of the case, where the lab scored it (the queue only).
    win_probability: float | None = None

    @property
    def age_hours(self) -> float:
        return self.age_minutes / 60


@dataclass(frozen=True)
class ArrivalPage:
    rows: list[ArrivalRow]
    #: All waiting arrivals, of which ``rows`` are the oldest ``limit``.
    total: int


@dataclass(frozen=True)
class SellerLoad:
    user_id: int
    label: str
    wip: int
    limit: int

    @property
    def room(self) -> int:
        return max(0, self.limit - self.wip)


def label_of(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def waiting_visits(step_id: int) -> QuerySet[Visit]:
    """The undecided open arrivals at a hand-off step. An open visit is an open case's: a
    close ends the case's visit (``deal_close``), and the import refuses a closed case with an
    open visit, so the cases' table is not joined (at a million leads the join made the
    planner hash the open cases)."""
    return Visit.objects.filter(step_id=step_id, exited_at__isnull=True).filter(
        ~Exists(HandoffDecision.objects.filter(visit=OuterRef("pk")))
    )


def handoffs_of(stream: ValueStream) -> list[Handoff]:
    return list(Handoff.objects.filter(stream=stream).select_related("step").order_by("position"))


def now_offsets(stream: ValueStream, handoffs: list[Handoff], now: datetime) -> dict[int, int]:
    """W(now) on each hand-off step's calendar (computed once per calendar); steps without a
    calendar are left out."""
    calendars = stream_calendars(stream.pk)
    by_key: dict[object, int | None] = {}
    found: dict[int, int] = {}
    for handoff in handoffs:
        key = calendars.lane_key(handoff.step.lane_id)
        if key is None:
            continue
        if key not in by_key:
            by_key[key] = calendars.lane_w(handoff.step.lane_id, now)
        if by_key[key] is not None:
            found[handoff.step_id] = by_key[key]
    return found


def _row(visit: Visit, handoff: Handoff, now: datetime, now_w: int | None) -> ArrivalRow:
    if now_w is not None and visit.entered_w is not None:
        age, working = (now_w - visit.entered_w) / 60, True
    else:
        age, working = (now - visit.entered_at).total_seconds() / 60, False
    age = max(0.0, age)
    sla, escalate = handoff.sla_minutes, handoff.escalate_minutes
    breached = sla is not None and age > sla
    deal = visit.deal
    return ArrivalRow(
        visit_id=visit.pk,
        deal_id=deal.pk,
        deal_name=deal.name,
        external_id=deal.external_id,
        step_id=handoff.step_id,
        step_name=handoff.step.name,
        handoff_id=handoff.pk,
        stage=handoff.offered_stage,
        pull=handoff.pull,
        owner_id=deal.owner_id,
        owner_label=label_of(deal.owner),
        arrived_at=visit.entered_at,
        age_minutes=age,
        working=working,
        sla_minutes=sla,
        escalate_minutes=escalate,
        over_by_minutes=(age - sla) if breached else 0.0,
        breached=breached,
        escalated=escalate is not None and age > escalate,
    )


def _arrivals(
    stream: ValueStream, handoffs: list[Handoff], now: datetime, limit: int
) -> ArrivalPage:
    now_w = now_offsets(stream, handoffs, now)
    rows: list[ArrivalRow] = []
    total = 0
    for handoff in handoffs:
        waiting = waiting_visits(handoff.step_id)
        total += waiting.count()
        oldest = waiting.select_related("deal", "deal__owner").order_by("entered_at", "id")[:limit]
        rows += [_row(v, handoff, now, now_w.get(handoff.step_id)) for v in oldest]
    rows.sort(key=lambda r: (r.arrived_at, r.visit_id))
    return ArrivalPage(rows=rows[:limit], total=total)


def handoff_board(
    stream: ValueStream, *, now: datetime | None = None, limit: int = BOARD_LIMIT
) -> ArrivalPage:
    """The arrivals waiting for a decision at every hand-off of the stream, oldest first
    (at most ``limit``), with their age against the SLA, and how many wait in all."""
    return _arrivals(stream, handoffs_of(stream), now or timezone.now(), limit)


_PROBABILITIES_SQL = (
    "SELECT k, s.open_deals -> k ->> 'probability' "
    f"FROM {LabSnapshot._meta.db_table} s, unnest(%s::text[]) AS k WHERE s.id = %s"
)


def _probabilities(stream: ValueStream, deal_ids: list[int]) -> dict[int, float]:
    """The win probabilities of ``deal_ids`` in the stream's latest computed lab view
    (``LabSnapshot.open_deals``: ``{deal id: {probability, …}}``). On PostgreSQL only those
    keys are read out of the JSON; SQLite (development) reads it whole."""
    snapshot = (
        LabSnapshot.objects.filter(stream=stream, computed_at__isnull=False)
        .order_by("-computed_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if snapshot is None or not deal_ids:
        return {}
    keys = [str(pk) for pk in deal_ids]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PROBABILITIES_SQL, [keys, snapshot])
            found = cursor.fetchall()
    else:
        deals = LabSnapshot.objects.values_list("open_deals", flat=True).get(pk=snapshot) or {}
        found = [(k, (deals.get(k) or {}).get("probability")) for k in keys]
    return {int(k): float(p) for k, p in found if p not in (None, "")}


def ready_queue(
    stream: ValueStream,
    *,
    now: datetime | None = None,
    limit: int = BOARD_LIMIT,
    by_probability: bool = False,
) -> ArrivalPage:
    """The ready-for-sales queue: arrivals at the pull hand-off not yet pulled, oldest first
    (at most ``limit``), each with the lab's win probability where its latest computed view
    scored the case. ``by_probability``: the shown rows ordered by it, highest first (the
    unscored after, oldest first); the rows are still the ``limit`` oldest."""
    pull = [h for h in handoffs_of(stream) if h.pull]
    if not pull:
        return ArrivalPage(rows=[], total=0)
    page = _arrivals(stream, pull, now or timezone.now(), limit)
    chances = _probabilities(stream, [r.deal_id for r in page.rows])
    rows = [
        ArrivalRow(**{**r.__dict__, "win_probability": chances.get(r.deal_id)}) for r in page.rows
    ]
    if by_probability:
        rows.sort(key=lambda r: (r.win_probability is None, -(r.win_probability or 0)))
    return ArrivalPage(rows=rows, total=page.total)


def seller_load(stream: ValueStream) -> list[SellerLoad]:
    """Each seller of the stream (a user with a seller limit) with their open deals and limit,
    by name."""
    limits = list(SellerLimit.objects.filter(stream=stream).select_related("user"))
    counts = dict(
        Deal.objects.filter(
            stream=stream, status=DealStatus.OPEN, owner_id__in=[lim.user_id for lim in limits]
        )
        .values_list("owner_id")
        .annotate(n=Count("pk"))
        .values_list("owner_id", "n")
    )
    loads = [
        SellerLoad(
            user_id=lim.user_id,
            label=label_of(lim.user),
            wip=counts.get(lim.user_id, 0),
            limit=lim.wip_limit,
        )
        for lim in limits
    ]
    return sorted(loads, key=lambda s: s.label.lower())


# --- Setup reads and permissions --------------------------------------------------------------


def waterfall_of(stream: ValueStream) -> Waterfall | None:
    return Waterfall.objects.filter(stream=stream).select_related("recycle_step").first()


def reasons_of(stream: ValueStream, *, active: bool = True) -> QuerySet[HandoffReason]:
    reasons = HandoffReason.objects.filter(stream=stream)
    return reasons.filter(retired_at__isnull=True) if active else reasons


def stages_of(stream: ValueStream) -> list[str]:
    """The waterfall's stages in order (docs/leads.md "The waterfall")."""
    waterfall = waterfall_of(stream)
    if waterfall is None:
        return []
    stages = [waterfall.inquiry_stage]
    for handoff in handoffs_of(stream):
        stages.append(handoff.offered_stage)
        if handoff.accepted_stage:
            stages.append(handoff.accepted_stage)
    return [*stages, waterfall.won_stage]


def may_decide(user: User, stream: ValueStream) -> bool:
    """Managers (and admins) and reps of the team decide at hand-offs (reps: not the pull)."""
    if not user.is_authenticated:
        return False
    return user.is_staff or role_in_team(user, stream.team_id) in (Role.MANAGER, Role.REP)


def may_pull(user: User, stream: ValueStream) -> bool:
    """A seller: a rep or manager of the team with a seller limit in the stream."""
    return (
        may_decide(user, stream)
        and SellerLimit.objects.filter(stream=stream, user_id=user.pk).exists()
    )


def may_manage(user: User, stream: ValueStream) -> bool:
    return stream_can_edit(user=user, stream=stream)


def decisions_of(stream: ValueStream) -> QuerySet[HandoffDecision]:
    return (
        HandoffDecision.objects.filter(handoff__stream=stream)
        .select_related("handoff", "reason", "actor", "deal")
        .order_by("-decided_at", "-id")
    )
