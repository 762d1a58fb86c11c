"""Reads of leads and hand-offs: the hand-off board, the ready-for-sales queue, the sellers'
load, and who may decide or pull (docs/leads.md).

An *arrival* waiting for a decision is an open visit (``exited_at`` empty; only an open case
has one) at a hand-off step with no :class:`HandoffDecision`. The board and the queue read them a
page at a time per hand-off step through the partial index ``visit_open_step_entered`` (step,
entered_at WHERE exited_at IS NULL), oldest first, with ``NOT EXISTS`` on the decision: a page
of ``limit`` rows after a cursor (the ``(entered_at, id)`` of the previous page's last row),
so a stream of a million leads reads a page of rows, not its history. How many wait is counted
apart (:func:`waiting_counts`). Ages are in working minutes of the hand-off step's lane
calendar (else the team's default): ``W(now) − entered_w``, W(now) computed once per calendar;
elapsed minutes where the team has no calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from funnel.eventlog.working import stream_calendars
from funnel.leads.models import (
    Handoff,
    HandoffDecision,
    HandoffReason,
    HandoffUndo,
    SellerLimit,
    Waterfall,
)
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.models import LabSnapshot
from streams.models import Membership, Role, ValueStream
from streams.selectors import User, role_in_team, stream_can_edit

#: Rows the board and the queue read at most at once (the API's page; the pages show fewer).
BOARD_LIMIT = 200
#: Up to this many open visits at a hand-off step, its waiting arrivals are counted on every
#: read (one index probe each); above it the count is kept in the cache while the step's open
#: visits and the latest decision stay the same (:func:`waiting_counts`).
COUNT_EXACT_UNDER = 1000
#: The longest a kept count is used (seconds), whatever the signature says.
COUNT_SECONDS = 60


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
    #: All waiting arrivals (of every hand-off read), of which ``rows`` is one page.
    total: int
    #: More rows follow the last of ``rows`` in the page's order.
    more: bool = False
    #: Waiting arrivals per hand-off (id → count), every hand-off of the stream (the board) or
    #: the pull hand-off (the queue).
    counts: dict[int, int] = field(default_factory=dict)
    #: Ordered by the lab's win probability (the queue, when asked and the lab has a view).
    by_probability: bool = False


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


#: The columns a row reads of its visit, case and owner (``.only``: fewer to fetch and build).
ROW_FIELDS = (
    "id",
    "entered_at",
    "entered_w",
    "deal__id",
    "deal__name",
    "deal__external_id",
    "deal__owner_id",
    "deal__owner__id",
    "deal__owner__username",
    "deal__owner__first_name",
    "deal__owner__last_name",
)


def _row(visit: Visit, handoff: Handoff, now: datetime, now_w: int | None) -> ArrivalRow:
    deal = visit.deal
    return _row_of(
        (visit.pk, visit.entered_at, visit.entered_w, deal.pk, deal.name, deal.external_id),
        label_of(deal.owner),
        deal.owner_id,
        handoff,
        now,
        now_w,
    )


def _row_of(
    values: tuple,
    owner_label: str,
    owner_id: int | None,
    handoff: Handoff,
    now: datetime,
    now_w: int | None,
) -> ArrivalRow:
    """A row from its visit's and case's values: ``(visit id, entered_at, entered_w, case id,
    name, external id)``."""
    visit_id, entered_at, entered_w, deal_id, name, external_id = values
    if now_w is not None and entered_w is not None:
        age, working = (now_w - entered_w) / 60, True
    else:
        age, working = (now - entered_at).total_seconds() / 60, False
    age = max(0.0, age)
    sla, escalate = handoff.sla_minutes, handoff.escalate_minutes
    breached = sla is not None and age > sla
    return ArrivalRow(
        visit_id=visit_id,
        deal_id=deal_id,
        deal_name=name,
        external_id=external_id,
        step_id=handoff.step_id,
        step_name=handoff.step.name,
        handoff_id=handoff.pk,
        stage=handoff.offered_stage,
        pull=handoff.pull,
        owner_id=owner_id,
        owner_label=owner_label,
        arrived_at=entered_at,
        age_minutes=age,
        working=working,
        sla_minutes=sla,
        escalate_minutes=escalate,
        over_by_minutes=(age - sla) if breached else 0.0,
        breached=breached,
        escalated=escalate is not None and age > escalate,
    )


#: A page of a step's waiting arrivals with what their rows show, oldest first (after the
#: cursor ``{after}``): the query the ORM made of ``waiting_visits`` with the case and its
#: owner joined, written out so that its rows are read as tuples, not built as models (three
#: per row: a fifth of the board's time). The pages of several steps are read in one query,
#: each its own subquery.
_USERS = Deal._meta.get_field("owner").related_model._meta.db_table
_PAGE_SQL = f"""
    SELECT v.id, v.entered_at, v.entered_w, d.id, d.name, d.external_id, d.owner_id,
        u.username, u.first_name, u.last_name, v.step_id
    FROM {Visit._meta.db_table} v
    JOIN {Deal._meta.db_table} d ON d.id = v.deal_id
    LEFT JOIN {_USERS} u ON u.id = d.owner_id
    WHERE v.exited_at IS NULL AND v.step_id = %s
        AND NOT EXISTS (SELECT 1 FROM {HandoffDecision._meta.db_table} x WHERE x.visit_id = v.id)
        {{after}}
    ORDER BY v.entered_at, v.id
    LIMIT %s
"""
_AFTER_SQL = "AND v.entered_at >= %s AND (v.entered_at > %s OR v.id > %s)"


def _page_rows(
    handoffs: list[Handoff],
    after: tuple[datetime, int] | None,
    limit: int,
    now: datetime,
    now_w: dict[int, int],
) -> dict[int, list[ArrivalRow]]:
    """Up to ``limit`` waiting arrivals at each hand-off's step after ``after``, as rows, by
    step: one query."""
    if not handoffs:
        return {}
    one = _PAGE_SQL.format(after=_AFTER_SQL if after else "")
    params: list = []
    for handoff in handoffs:
        params.append(handoff.step_id)
        if after is not None:
            at = connection.ops.adapt_datetimefield_value(after[0])
            params += [at, at, after[1]]
        params.append(limit)
    sql = " UNION ALL ".join(f"SELECT * FROM ({one}) p{k}" for k in range(len(handoffs)))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    by_step = {h.step_id: h for h in handoffs}
    rows: dict[int, list[ArrivalRow]] = {h.step_id: [] for h in handoffs}
    for visit_id, entered_at, w, deal_id, name, ext, owner_id, username, first, last, step in found:
        if timezone.is_naive(entered_at):  # SQLite
            entered_at = timezone.make_aware(entered_at, UTC)
        label = (f"{first} {last}".strip() or username) if owner_id is not None else ""
        values = (visit_id, entered_at, w, deal_id, name, ext)
        handoff = by_step[step]
        rows[step].append(_row_of(values, label, owner_id, handoff, now, now_w.get(step)))
    return rows


def _waiting_sql() -> str:
    """The step's open visits not yet decided, as a ``FROM`` clause ``w (id, deal_id,
    entered_at)`` read from the step's index alone (step, entered_at, id, deal), in its order.

    The ORDER BY keeps them a subquery of their own: counted or paged as one NOT EXISTS per
    open visit of the step. Otherwise PostgreSQL reads every open visit of the stream
    (``visit_one_open_per_deal``) and filters them by step, a heap page each (benchmarks.md,
    "Leads, hand-offs and pull")."""
    visit, decision = Visit._meta.db_table, HandoffDecision._meta.db_table
    return (
        f"(SELECT v.id, v.deal_id, v.entered_at FROM {visit} v WHERE v.step_id = %s "
        "AND v.exited_at IS NULL ORDER BY v.step_id, v.entered_at, v.id) w "
        f"WHERE NOT EXISTS (SELECT 1 FROM {decision} d WHERE d.visit_id = w.id)"
    )


def _count_sql() -> str:
    return "SELECT count(*) FROM " + _waiting_sql()


def _count_now(step_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_count_sql(), [step_id])
        return cursor.fetchone()[0]


def _signatures(step_ids: list[int]) -> tuple[dict[int, tuple[int, object]], object]:
    """Per step: its open visits and latest arrival (from the step's partial index alone);
    and the latest decision's and the latest undone decision's ids anywhere. One query."""
    visit, decision = Visit._meta.db_table, HandoffDecision._meta.db_table
    undone = HandoffUndo._meta.db_table
    marks = ", ".join(["%s"] * len(step_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT step_id, count(*), max(entered_at), (SELECT max(id) FROM {decision}), "
            f"(SELECT max(id) FROM {undone}) FROM {visit} "
            f"WHERE step_id IN ({marks}) AND exited_at IS NULL GROUP BY step_id",
            step_ids,
        )
        found = cursor.fetchall()
    latest = (found[0][3], found[0][4]) if found else None
    return {row[0]: (row[1], row[2]) for row in found}, latest


def waiting_counts(step_ids: list[int], known: dict[int, int] | None = None) -> dict[int, int]:
    """How many arrivals wait (open, undecided) at each of ``step_ids``.

    Counting them is one index probe per open visit of the step (tens of milliseconds for
    the ten thousand open visits of a queue at a million leads). So one query first reads,
    from the step's partial index alone, how many visits are open at each step and the latest
    arrival, with the latest decision and undone decision anywhere: a step with at most
    :data:`COUNT_EXACT_UNDER` open visits is counted again; a larger one takes its count from
    the cache while that signature is unchanged (an arrival, a move or a close on the step,
    a new decision or an undone one changes it) and for at most :data:`COUNT_SECONDS`.
    ``known``: steps whose count the caller read whole (a first
    page that held every waiting arrival), not counted again."""
    known = {s: n for s, n in (known or {}).items() if s in step_ids}
    step_ids = [s for s in step_ids if s not in known]
    if not step_ids:
        return known
    open_at, latest = _signatures(step_ids)
    big = [s for s in step_ids if open_at.get(s, (0, None))[0] > COUNT_EXACT_UNDER]
    kept = cache.get_many([f"leads:waiting:{s}" for s in big]) if big else {}
    counts: dict[int, int] = dict(known)
    for step in step_ids:
        n, last = open_at.get(step, (0, None))
        if n == 0:
            counts[step] = 0
            continue
        if step not in big:
            counts[step] = _count_now(step)
            continue
        key = f"leads:waiting:{step}"
        signature = (n, str(last), latest)
        found = kept.get(key)
        if isinstance(found, tuple) and found[0] == signature:
            counts[step] = found[1]
            continue
        counts[step] = _count_now(step)
        cache.set(key, (signature, counts[step]), COUNT_SECONDS)
    return counts


def _after(cursor: tuple[datetime, int] | None) -> Q:
    """Rows after ``cursor`` (an arrival's ``(entered_at, visit id)``) in the page's order."""
    if cursor is None:
        return Q()
    at, pk = cursor
    # entered_at >= at bounds the index scan; the OR drops the cursor's own moment's earlier ids.
    return Q(entered_at__gte=at) & (Q(entered_at__gt=at) | Q(pk__gt=pk))


def cursor_of(stream: ValueStream, visit_id: int | None) -> tuple[datetime, int] | None:
    """The cursor of the page after the arrival ``visit_id`` (its visit at a step of the
    stream, decided since or not); None for an unknown one (the page starts at the oldest)."""
    if visit_id is None:
        return None
    at = (
        Visit.objects.filter(pk=visit_id, deal__stream=stream)
        .values_list("entered_at", flat=True)
        .first()
    )
    return (at, visit_id) if at is not None else None


def _arrivals(
    stream: ValueStream,
    handoffs: list[Handoff],
    now: datetime,
    limit: int,
    *,
    after: tuple[datetime, int] | None = None,
    read: list[Handoff] | None = None,
) -> ArrivalPage:
    """One page: the ``limit`` oldest waiting arrivals after ``after`` at the hand-offs
    ``read`` (all of ``handoffs`` by default), and the counts of every one of ``handoffs``."""
    read = handoffs if read is None else read
    now_w = now_offsets(stream, read, now)
    rows: list[ArrivalRow] = []
    known: dict[int, int] = {}
    for step, oldest in _page_rows(read, after, limit + 1, now, now_w).items():
        if after is None and len(oldest) <= limit:  # the first page holds them all
            known[step] = len(oldest)
        rows += oldest
    rows.sort(key=lambda r: (r.arrived_at, r.visit_id))
    by_step = waiting_counts([h.step_id for h in handoffs], known)
    counts = {h.pk: by_step.get(h.step_id, 0) for h in handoffs}
    return ArrivalPage(
        rows=rows[:limit],
        total=sum(counts[h.pk] for h in read),
        more=len(rows) > limit,
        counts=counts,
    )


def handoff_board(
    stream: ValueStream,
    *,
    now: datetime | None = None,
    limit: int = BOARD_LIMIT,
    handoff_id: int | None = None,
    after: tuple[datetime, int] | None = None,
    handoffs: list[Handoff] | None = None,
) -> ArrivalPage:
    """The arrivals waiting for a decision at every hand-off of the stream (or the one
    ``handoff_id``), oldest first: a page of at most ``limit`` after ``after`` (the
    ``(entered_at, visit id)`` of the previous page's last row), with their age against the
    SLA; how many wait in all, and at each hand-off. ``handoffs``: the stream's, when the
    caller read them already."""
    handoffs = handoffs_of(stream) if handoffs is None else handoffs
    read = [h for h in handoffs if handoff_id is None or h.pk == handoff_id]
    return _arrivals(stream, handoffs, now or timezone.now(), limit, after=after, read=read)


# The snapshot's JSON is unpacked once (``|| '{}'`` in a subquery of its own makes a plain
# copy): ``open_deals -> k`` on the stored column unpacks the whole stored value for each key
# (136 ms for 25 keys of a lab view of 73,000 open deals; 7 ms so).
_PROBABILITIES_SQL = (
    "SELECT k, s.j -> k ->> 'probability' FROM (SELECT open_deals || '{}'::jsonb AS j "
    f"FROM {LabSnapshot._meta.db_table} WHERE id = %s OFFSET 0) s, unnest(%s::text[]) AS k"
)


def _latest_lab(stream: ValueStream) -> int | None:
    return (
        LabSnapshot.objects.filter(stream=stream, computed_at__isnull=False)
        .order_by("-computed_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )


def _probabilities(
    stream: ValueStream, deal_ids: list[int], snapshot: int | None = None
) -> dict[int, float]:
    """The win probabilities of ``deal_ids`` in the stream's latest computed lab view
    (``LabSnapshot.open_deals``: ``{deal id: {probability, …}}``). On PostgreSQL only those
    keys are read out of the JSON; SQLite (development) reads it whole."""
    snapshot = snapshot or _latest_lab(stream)
    if snapshot is None or not deal_ids:
        return {}
    keys = [str(pk) for pk in deal_ids]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PROBABILITIES_SQL, [snapshot, keys])
            found = cursor.fetchall()
    else:
        deals = LabSnapshot.objects.values_list("open_deals", flat=True).get(pk=snapshot) or {}
        found = [(k, (deals.get(k) or {}).get("probability")) for k in keys]
    return {int(k): float(p) for k, p in found if p not in (None, "")}


def _with_chances(rows: list[ArrivalRow], chances: dict[int, float]) -> list[ArrivalRow]:
    return [ArrivalRow(**{**r.__dict__, "win_probability": chances.get(r.deal_id)}) for r in rows]


def _by_probability(
    stream: ValueStream, pull: Handoff, now: datetime, limit: int, start: int, snapshot: int
) -> ArrivalPage:
    """The whole waiting set at the pull hand-off ordered by the lab's win probability,
    highest first (the unscored after it, oldest first; ties oldest first), rows ``start`` to
    ``start + limit``. Every waiting arrival's id, case and arrival are read from the step's
    index (one probe each for its decision, as the count), their probabilities out of the
    lab's JSON unpacked once, ordered here, and then the page's rows are read. (Ordering them
    in SQL with the JSON joined made PostgreSQL unpack it again per arrival: seconds.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w.id, w.deal_id, w.entered_at FROM " + _waiting_sql(), [pull.step_id]
        )
        waiting = cursor.fetchall()
    everyone = _probabilities(stream, [deal for _, deal, _ in waiting], snapshot)

    def order(item):
        pk, deal, at = item
        chance = everyone.get(deal)
        return (chance is None, -(chance or 0.0), at, pk)

    waiting.sort(key=order)
    page = [pk for pk, _, _ in waiting[start : start + limit]]
    total = len(waiting)
    visits = (
        Visit.objects.filter(pk__in=page).select_related("deal", "deal__owner").only(*ROW_FIELDS)
    )
    now_w = now_offsets(stream, [pull], now).get(pull.step_id)
    by_pk = {v.pk: _row(v, pull, now, now_w) for v in visits}
    rows = [by_pk[pk] for pk in page if pk in by_pk]
    return ArrivalPage(
        rows=_with_chances(rows, everyone),
        total=total,
        more=total > start + limit,
        counts={pull.pk: total},
        by_probability=True,
    )


def ready_queue(
    stream: ValueStream,
    *,
    now: datetime | None = None,
    limit: int = BOARD_LIMIT,
    by_probability: bool = False,
    after: tuple[datetime, int] | None = None,
    start: int = 0,
    handoffs: list[Handoff] | None = None,
) -> ArrivalPage:
    """The ready-for-sales queue: arrivals at the pull hand-off not yet pulled, each with the
    lab's win probability where its latest computed view scored the case. Oldest first: a
    page of at most ``limit`` after ``after`` (as :func:`handoff_board`). ``by_probability``:
    every waiting arrival ordered by that probability, highest first (the unscored after,
    oldest first), the page of ``limit`` from position ``start``; oldest first as above
    when the stream has no computed lab view."""
    pull = [h for h in (handoffs_of(stream) if handoffs is None else handoffs) if h.pull]
    if not pull:
        return ArrivalPage(rows=[], total=0)
    now = now or timezone.now()
    snapshot = _latest_lab(stream)
    if by_probability and snapshot is not None:
        return _by_probability(stream, pull[0], now, limit, max(0, start), snapshot)
    page = _arrivals(stream, pull, now, limit, after=after)
    chances = _probabilities(stream, [r.deal_id for r in page.rows], snapshot) if snapshot else {}
    return ArrivalPage(
        rows=_with_chances(page.rows, chances),
        total=page.total,
        more=page.more,
        counts=page.counts,
    )


def seller_load(stream: ValueStream) -> list[SellerLoad]:
    """Each seller of the stream (a user with a seller limit) with their open deals and limit,
    by name."""
    # One query: each limit with its seller and their open deals in the stream (counted from
    # the index deal_owner_status alone).
    wip = (
        Deal.objects.filter(stream=stream, status=DealStatus.OPEN, owner_id=OuterRef("user_id"))
        .order_by()
        .values("owner_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    limits = (
        SellerLimit.objects.filter(stream=stream)
        .select_related("user")
        .annotate(wip=Subquery(wip[:1]))
    )
    loads = [
        SellerLoad(
            user_id=lim.user_id,
            label=label_of(lim.user),
            wip=lim.wip or 0,
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


@dataclass(frozen=True)
class Rights:
    """What a user may do on the leads pages of a stream: :func:`may_decide`,
    :func:`may_manage` and :func:`may_pull` at once."""

    decide: bool
    manage: bool
    pull: bool


def rights_of(user: User, stream: ValueStream, sellers: set[int] | None = None) -> Rights:
    """:func:`may_decide`, :func:`may_manage` and :func:`may_pull` with the role read once;
    ``sellers``: the ids of the stream's users with a seller limit, when the caller read
    them already."""
    if not user.is_authenticated:
        return Rights(decide=False, manage=False, pull=False)
    if sellers is not None:
        role, limited = role_in_team(user, stream.team_id), user.pk in sellers
    else:  # the role and whether the user has a seller limit, in one query
        with connection.cursor() as cursor:
            cursor.execute(_RIGHTS_SQL, [user.pk, stream.team_id, stream.pk, user.pk])
            role, limited = cursor.fetchone()
    decide = user.is_staff or role in (Role.MANAGER, Role.REP)
    manage = user.is_staff or role == Role.MANAGER
    return Rights(decide=decide, manage=manage, pull=bool(decide and limited))


_RIGHTS_SQL = f"""
    SELECT (SELECT m.role FROM {Membership._meta.db_table} m
            WHERE m.user_id = %s AND m.team_id = %s ORDER BY m.id LIMIT 1),
        EXISTS (SELECT 1 FROM {SellerLimit._meta.db_table} l
            WHERE l.stream_id = %s AND l.user_id = %s)
"""


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
