"""What the seller's pull (``funnel.leads.services.lead_pull``) reads and locks, in plain SQL
where it is hot (a pull is a few milliseconds of work: docs/benchmarks.md "the pull,
reworked"): the pull hand-off with the seller's role and limit and the calendar's key, the
seller's open deals with the step's limit, and the next lead in the queue, picked with its deal
locked ``SKIP LOCKED`` so that sellers pulling at once take different leads. Each
``FOR UPDATE`` names its own row only. SQLite has no row locks (one writer at a time): the
same statements without the locking clauses.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import OuterRef, Subquery

from funnel.leads.models import Handoff, HandoffDecision, SellerLimit, StepWipLimit
from funnel.models import Deal, DealStatus, Visit
from streams.calendars.models import WorkingCalendar
from streams.models import Lane, Membership, ProcessStep, ValueStream


def _seller_limit(stream: ValueStream, user: AbstractBaseUser) -> SellerLimit | None:
    """The seller's limit row, locked (that row only), with the seller's role in the stream's
    team (``role``): for a stream without a pull hand-off, whose pull is refused."""
    role = Membership.objects.filter(user_id=OuterRef("user_id"), team_id=stream.team_id)
    return (
        SellerLimit.objects.select_for_update(of=("self",))
        .filter(stream=stream, user=user)
        .annotate(role=Subquery(role.order_by().values("role")[:1]))
        .order_by()
        .first()
    )


def _row_locks() -> bool:
    """Whether the database locks rows (PostgreSQL); SQLite has one writer at a time."""
    return connection.features.has_select_for_update


_PULL_HANDOFF_SQL = f"""
    SELECT h.*,
        (SELECT m.role FROM {Membership._meta.db_table} m
            WHERE m.user_id = %s AND m.team_id = %s) AS seller_role,
        (SELECT l.wip_limit FROM {SellerLimit._meta.db_table} l
            WHERE l.stream_id = %s AND l.user_id = %s{{lock}}) AS seller_limit,
        COALESCE(own.id, dc.id) AS calendar_id,
        CASE WHEN own.id IS NULL THEN dc.version ELSE own.version END AS calendar_version,
        CASE WHEN own.id IS NULL THEN dc.updated_at ELSE own.updated_at END AS calendar_updated
    FROM {Handoff._meta.db_table} h
    JOIN {ProcessStep._meta.db_table} p ON p.id = h.step_id
    LEFT JOIN {Lane._meta.db_table} ln ON ln.id = p.lane_id
    LEFT JOIN {WorkingCalendar._meta.db_table} own ON own.id = ln.calendar_id AND own.team_id = %s
    LEFT JOIN {WorkingCalendar._meta.db_table} dc ON dc.team_id = %s AND dc.is_default
    WHERE h.stream_id = %s AND h.pull
"""


def _pull_handoff(stream: ValueStream, user: AbstractBaseUser) -> Handoff | None:
    """The stream's pull hand-off, read with what a pull checks first, in one query:
    ``seller_role`` (the user's role in the stream's team), ``seller_limit`` (their WIP limit,
    its row locked: the first of the pull's locks; None without one) and ``calendar_key``, the
    calendar the step's lane works on (its own, else the team's default; None without one) as
    saved, id, version and ``updated_at``: the clock built from it (``clock_of``, once per
    process and version) is never that of a calendar since changed. None without a pull
    hand-off (the limit then neither read nor locked)."""
    team = stream.team_id
    sql = _PULL_HANDOFF_SQL.format(lock=" FOR UPDATE" if _row_locks() else "")
    params = [user.pk, team, stream.pk, user.pk, team, team, stream.pk]
    handoff = next(iter(Handoff.objects.raw(sql, params)), None)
    if handoff is not None:
        handoff.calendar_key = (
            None
            if handoff.calendar_id is None
            else (handoff.calendar_id, handoff.calendar_version, handoff.calendar_updated)
        )
    return handoff


_OWNED_SQL = f"""
    SELECT
        (SELECT COUNT(*) FROM {Deal._meta.db_table} d
            WHERE d.stream_id = %s AND d.owner_id = %s AND d.status = %s),
        (SELECT s.wip_limit FROM {StepWipLimit._meta.db_table} s WHERE s.step_id = %s{{lock}})
"""


def _sql_row(sql: str, params: Sequence) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


_LOCKED_VISIT_SQL = f"""
    SELECT v.*, EXISTS (
        SELECT 1 FROM {HandoffDecision._meta.db_table} x WHERE x.visit_id = v.id
    ) AS decided
    FROM {Visit._meta.db_table} v WHERE v.id = %s{{lock}}
"""


def _locked_visit(visit_id: int) -> Visit | None:
    """The visit re-read under its row lock, and whether it was decided on (``decided``),
    read now: after its deal's lock, so a pull that held the deal a moment ago and committed
    is seen."""
    sql = _LOCKED_VISIT_SQL.format(lock=" FOR UPDATE" if _row_locks() else "")
    return next(iter(Visit.objects.raw(sql, [visit_id])), None)


_UNDECIDED_SQL = (
    f"NOT EXISTS (SELECT 1 FROM {HandoffDecision._meta.db_table} x WHERE x.visit_id = v.id)"
)
#: The pick: of the oldest undecided open visits at the step (``{candidates}`` of them, read
#: from the step's index of open visits alone), the first whose deal is open and not held.
_PICK_SQL = f"""
    SELECT d.*, v.id AS picked_visit FROM (
        SELECT v.id, v.deal_id, v.entered_at FROM {Visit._meta.db_table} v
        WHERE v.step_id = %s AND v.exited_at IS NULL AND {_UNDECIDED_SQL}{{tried}}
        ORDER BY v.entered_at, v.id
        LIMIT {{candidates}}
    ) v
    JOIN {Deal._meta.db_table} d ON d.id = v.deal_id
    WHERE d.status = %s
    ORDER BY v.entered_at, v.id
    LIMIT 1{{lock}}
"""
#: The same over the whole queue, when every candidate was held (as many pulls at once).
_PICK_ALL_SQL = f"""
    SELECT d.*, v.id AS picked_visit FROM {Visit._meta.db_table} v
    JOIN {Deal._meta.db_table} d ON d.id = v.deal_id
    WHERE v.step_id = %s AND v.exited_at IS NULL AND {_UNDECIDED_SQL}{{tried}}
        AND d.status = %s
    ORDER BY v.entered_at, v.id
    LIMIT 1{{lock}}
"""
#: How many of the oldest waiting leads the pick looks at first.
PICK_CANDIDATES = 64


def _next_in_queue(handoff: Handoff) -> Visit | None:
    """The oldest undecided open arrival at the pull hand-off whose deal no other pull holds,
    its deal and then its visit locked: one query picks it and locks its deal, skipping the
    deals other pulls hold (``FOR UPDATE OF d SKIP LOCKED``), one re-reads the visit under
    its lock. The pick reads the decisions as of its start: a lead pulled and committed just
    before its deal was locked here shows in the re-read, and the next one is tried. SQLite
    has no row locks (one writer at a time): the pick is plain there, and two pulls racing
    for one lead are told apart when the second's decision is refused (:func:`_record`)."""
    lock = " FOR UPDATE OF d SKIP LOCKED" if _row_locks() else ""
    tried: list[int] = []
    whole = False  # the pick over the whole queue, once the candidates were all held
    for _ in range(QUEUE_TRIES):
        sql = (_PICK_ALL_SQL if whole else _PICK_SQL).format(
            lock=lock,
            candidates=PICK_CANDIDATES,
            tried=f" AND v.id NOT IN ({', '.join(['%s'] * len(tried))})" if tried else "",
        )
        params = [handoff.step_id, *tried, DealStatus.OPEN]
        deal = next(iter(Deal.objects.raw(sql, params)), None)
        if deal is None:
            if whole:
                return None
            whole = True
            continue
        visit = _locked_visit(deal.picked_visit)
        if (
            visit is not None
            and visit.step_id == handoff.step_id
            and visit.exited_at is None
            and not visit.decided
        ):
            visit.deal = deal  # as locked: its latest version
            return visit
        tried.append(deal.picked_visit)
    return None


#: How many leads a pull tries, each found taken by a pull that committed a moment before,
#: before saying the queue is empty.
QUEUE_TRIES = 50
