"""What the seller's pull (``funnel.leads.services.lead_pull``) reads and locks, in plain SQL
where it is hot (a pull is a few milliseconds of work: docs/benchmarks.md "the pull,
reworked"): the pull hand-off with the seller's role and limit and the calendar's key, the
seller's open deals with the step's limit, and the next lead in the queue, picked with its deal
locked ``SKIP LOCKED`` so that sellers pulling at once take different leads. Each
``FOR UPDATE`` names its own row only. SQLite has no row locks (one writer at a time): the
same statements without the locking clauses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import OuterRef, Subquery

from funnel.leads.models import (
    DecisionKind,
    Handoff,
    HandoffDecision,
    SellerLimit,
    StepWipLimit,
)
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


#: The hand-off's columns, in the model's order (``Handoff.from_db`` takes them as they come).
_HANDOFF_COLUMNS = ", ".join(f"h.{f.column}" for f in Handoff._meta.concrete_fields)
_PULL_HANDOFF_SQL = f"""
    SELECT {_HANDOFF_COLUMNS},
        (SELECT m.role FROM {Membership._meta.db_table} m
            WHERE m.user_id = %s AND m.team_id = %s) AS seller_role,
        (SELECT l.wip_limit FROM {SellerLimit._meta.db_table} l
            WHERE l.stream_id = %s AND l.user_id = %s{{lock}}) AS seller_limit,
        (SELECT s.wip_limit FROM {StepWipLimit._meta.db_table} s
            WHERE s.step_id = h.step_id) AS step_limit,
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
    its row locked: the first of the pull's locks; None without one), ``step_limit`` (the
    step's WIP limit as read, not locked: None without one) and ``calendar_key``, the
    calendar the step's lane works on (its own, else the team's default; None without one) as
    saved, id, version and ``updated_at``: the clock built from it (``clock_of``, once per
    process and version) is never that of a calendar since changed. None without a pull
    hand-off (the limit then neither read nor locked)."""
    team = stream.team_id
    sql = _PULL_HANDOFF_SQL.format(lock=" FOR UPDATE" if _row_locks() else "")
    row = _sql_row(sql, [user.pk, team, stream.pk, user.pk, team, team, stream.pk])
    if row is None:
        return None
    n = len(Handoff._meta.concrete_fields)
    handoff = Handoff.from_db(connection.alias, None, row[:n])
    handoff.pull = bool(handoff.pull)  # SQLite's 1
    role, limit, step_limit, calendar, version, updated = row[n:]
    handoff.seller_role, handoff.seller_limit, handoff.step_limit = role, limit, step_limit
    handoff.calendar_key = None if calendar is None else (calendar, version, updated)
    return handoff


_OWNED_SQL = f"""
    SELECT
        (SELECT COUNT(*) FROM {Deal._meta.db_table} d
            WHERE d.stream_id = %s AND d.owner_id = %s AND d.status = %s),
        (SELECT s.wip_limit FROM {StepWipLimit._meta.db_table} s WHERE s.step_id = %s{{lock}})
"""


def _sql_row(sql: str, params: Sequence | Mapping) -> tuple | None:
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _cursor():
    """A cursor for the pull's statements. On PostgreSQL (psycopg 3) one that binds its
    parameters on the server and runs each statement as a prepared statement of the
    connection (parsed and planned once per connection, not at each pull: about a third of
    the database's work of a pull, docs/benchmarks.md); Django's cursors bind on the client
    and prepare nothing, to suit connection poolers in transaction mode, which this project
    does not use. Where queries are logged (``DEBUG``, tests counting them), Django's own
    cursor, whose log shows the statements with their values."""
    if connection.vendor != "postgresql" or _Prepared is None or connection.queries_logged:
        return connection.cursor()
    connection.ensure_connection()
    conn = connection.connection
    if conn.prepare_threshold is None:  # Django's default: psycopg then prepares nothing
        # Only what asks for it (``prepare=True``): never reached by counting executions.
        conn.prepare_threshold = _NEVER
    return connection.make_cursor(_Prepared(conn))


_NEVER = 2**31 - 1

try:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class _Prepared(ServerBindingCursor):
        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=True, **kwargs)

except (ImportError, AttributeError):  # psycopg 2, or without psycopg: Django's cursors
    _Prepared = None


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


# --- The pull of the next lead in one statement (PostgreSQL) -----------------------------------

#: What a pull keeps of the case it takes (the rest is read if asked for).
_DEAL_FIELDS = [
    f
    for f in Deal._meta.concrete_fields
    if f.attname in {"id", "stream_id", "external_id", "name", "owner_id", "status"}
]
_DEAL_COLUMNS = ", ".join(f"d.{f.column}" for f in _DEAL_FIELDS)
_DECISION = HandoffDecision._meta.db_table
#: After the hand-off (the seller's limit row locked, so two pulls of one seller count one
#: after the other: this statement's snapshot is taken after that lock), one statement does
#: the rest: ``own`` counts the seller's open deals; ``pick`` locks the case of the oldest
#: waiting lead that no other pull holds (``SKIP LOCKED``), when the seller is under the
#: limit; ``locked`` locks its visit, still open at the step (a row changed since the
#: statement began is checked again as it is now: PostgreSQL's re-check of locked rows);
#: ``made`` records the decision unless one was made meanwhile (the visit's unique decision:
#: ``DO NOTHING``, and the pull tries the next lead); ``owner`` makes the seller the owner.
_PULL_NEXT_SQL = f"""
    WITH own AS (
        SELECT COUNT(*) AS n FROM {Deal._meta.db_table} d
        WHERE d.stream_id = %(stream)s AND d.owner_id = %(user)s AND d.status = %(open)s
    ), pick AS (
        SELECT {_DEAL_COLUMNS}, v.id AS visit_id FROM (
            SELECT v.id, v.deal_id, v.entered_at FROM {Visit._meta.db_table} v
            WHERE v.step_id = %(step)s AND v.exited_at IS NULL AND {_UNDECIDED_SQL}{{tried}}
            ORDER BY v.entered_at, v.id
            {{candidates}}
        ) v
        JOIN {Deal._meta.db_table} d ON d.id = v.deal_id
        WHERE d.status = %(open)s AND (SELECT n FROM own) < %(limit)s
        ORDER BY v.entered_at, v.id
        LIMIT 1
        FOR UPDATE OF d SKIP LOCKED
    ), locked AS (
        SELECT v.id, v.entered_at, v.entered_w FROM {Visit._meta.db_table} v
        JOIN pick ON pick.visit_id = v.id
        WHERE v.step_id = %(step)s AND v.exited_at IS NULL
        FOR UPDATE OF v
    ), made AS (
        INSERT INTO {_DECISION} (visit_id, handoff_id, deal_id, kind, reason_id, note,
            actor_id, decided_at, response_seconds, response_w, recorded_at, owner_before_id)
        SELECT l.id, %(handoff)s, pick.id, %(kind)s, NULL, '', %(user)s, %(now)s,
            GREATEST(0, TRUNC(EXTRACT(EPOCH FROM %(now)s::timestamptz - l.entered_at)))::bigint,
            CASE WHEN l.entered_w IS NULL OR %(now_w)s::bigint IS NULL THEN NULL
                ELSE GREATEST(0, %(now_w)s::bigint - l.entered_w) END,
            %(now)s, pick.owner_id
        FROM locked l JOIN pick ON pick.visit_id = l.id
        ON CONFLICT (visit_id) DO NOTHING
        RETURNING id, response_seconds, response_w
    ), owner AS (
        UPDATE {Deal._meta.db_table} SET owner_id = %(user)s, updated_at = %(now)s
        FROM made, pick WHERE {Deal._meta.db_table}.id = pick.id
        RETURNING {Deal._meta.db_table}.id
    )
    SELECT own.n, made.id, made.response_seconds, made.response_w, pick.*
    FROM own LEFT JOIN pick ON TRUE LEFT JOIN made ON TRUE
"""


def pull_next(
    handoff: Handoff, user: AbstractBaseUser, wip_limit: int, now: datetime, now_w: int | None
) -> tuple[int, HandoffDecision | None]:
    """PostgreSQL: the seller (their limit row locked by :func:`_pull_handoff`) pulls the
    oldest waiting lead no other pull holds, in one statement a try (:data:`_PULL_NEXT_SQL`):
    the seller's open deals as counted before it, and the decision (its ``deal``, ``handoff``
    and ``actor`` set; the case's owner is the seller); None for no decision: over the limit
    (the count says so) or the queue empty. A lead found decided or moved on under its lock
    (by a pull or a move that committed a moment before) is passed over for the next; past
    the first :data:`PICK_CANDIDATES` (all held by other pulls) the whole queue is read."""
    params = {
        "stream": handoff.stream_id,
        "user": user.pk,
        "open": DealStatus.OPEN,
        "step": handoff.step_id,
        "limit": wip_limit,
        "handoff": handoff.pk,
        "kind": DecisionKind.ACCEPT,
        "now": now,
        "now_w": now_w,
    }
    tried: list[int] = []
    whole = False
    owned = 0
    for _ in range(QUEUE_TRIES):
        sql = _PULL_NEXT_SQL.format(
            candidates="" if whole else f"LIMIT {PICK_CANDIDATES}",
            tried=f" AND v.id NOT IN ({', '.join(map(str, tried))})" if tried else "",
        )
        row = _sql_row(sql, params)
        owned, decision_id, seconds, working = row[:4]
        if owned >= wip_limit:
            return owned, None
        picked = row[4:]
        if picked[-1] is None:  # nothing free to pick
            if whole:
                return owned, None
            whole = True
            continue
        if decision_id is None:  # decided or moved on meanwhile: the next one
            tried.append(int(picked[-1]))
            continue
        deal = Deal.from_db(connection.alias, [f.attname for f in _DEAL_FIELDS], picked[:-1])
        owner_before = deal.owner_id
        deal.owner, deal.updated_at = user, now
        decision = HandoffDecision.from_db(
            connection.alias,
            None,
            [
                decision_id,
                picked[-1],  # the visit
                handoff.pk,
                deal.pk,
                DecisionKind.ACCEPT,
                None,
                "",
                user.pk,
                now,
                seconds,
                working,
                now,
                owner_before,
            ],
        )
        decision.deal, decision.handoff, decision.actor = deal, handoff, user
        return owned, decision
    return owned, None
