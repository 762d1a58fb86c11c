"""Writing a plan: compared with the stream's stored deals, the difference written a chunk of deals
at a time (``COPY`` on PostgreSQL).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from django.db import connection
from django.utils import timezone

from funnel.eventlog.paths import deal_paths_refresh
from funnel.eventlog.working import (
    as_value,
    deal_offsets,
    deal_offsets_refresh,
    epoch_seconds,
    micros_to_seconds,
    offsets_adopt,
    step_keys,
    step_lanes,
    stream_calendars,
    visit_offsets,
)
from funnel.importing.cells import NULL_TIME, from_micros, to_micros
from funnel.importing.plan import _UNSET, _Plan
from funnel.importing.scores import write_scores
from funnel.importing.types import CHUNK_DEALS, ImportRejected, ImportResult, RowError
from funnel.models import Deal, DealStatus, Visit
from streams.models import ValueStream

# --- Writing ------------------------------------------------------------------------------


#: A visit's own fields, as the plan holds them and as they are compared with the stored ones.
VISIT_FIELDS = ("step_id", "entered_at", "exited_at", "work_minutes", "actor_id", "actor_name")
#: The columns a visit is written with: the plan's fields, timestamps, path facts and
#: working-time offsets (``funnel.eventlog.working``).
VISIT_COPY_COLUMNS = (
    "deal_id",
    *VISIT_FIELDS,
    "created_at",
    "updated_at",
    "reentry",
    "previous_step_id",
    "is_last",
    "entered_w",
    "exited_w",
)
# Binary COPY: psycopg packs datetimes in C; its text format converts each one slowly.
_VISIT_COPY = f"COPY funnel_visit ({', '.join(VISIT_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def _column_types(cursor, table: str, columns: tuple[str, ...]) -> list[str]:
    """PostgreSQL type names of ``columns`` (binary COPY needs them exactly: the user id is
    int4 or int8 depending on the user model)."""
    cursor.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    types = dict(cursor.fetchall())
    return [types[c] for c in columns]


class _Writer:
    """Compares a plan with the stream's stored deals and (unless a dry run) writes the
    difference, a chunk of deals at a time."""

    def __init__(
        self,
        stream: ValueStream,
        plan: _Plan,
        *,
        write: bool,
        progress: Callable[[int, str], None] | None,
    ) -> None:
        self.stream = stream
        self.plan = plan
        self.write = write
        self.progress = progress
        self.now = timezone.now()
        self.errors: list[RowError] = []
        self.created = self.updated = self.unchanged = self.written = 0
        self._copy_types: list[str] | None = None
        self._deal_types: list[str] | None = None
        # The calendars of the working-time offsets, and each step's (funnel.eventlog.working).
        self.calendars = stream_calendars(stream.pk)
        self.step_keys = step_keys(self.calendars, step_lanes(stream.pk))
        self.step_id_of = np.array(plan.step_ids, np.int64)

    def run(self) -> ImportResult:
        plan = self.plan
        fresh = not Deal.objects.filter(stream=self.stream).exists()
        if fresh and self.write and self.calendars.stored != self.calendars.signature:
            offsets_adopt(self.calendars, self.stream.pk)  # nothing older to rewrite
        n = len(plan.deals)
        for c0 in range(0, n, CHUNK_DEALS):
            c1 = min(n, c0 + CHUNK_DEALS)
            self._chunk(c0, c1, fresh)
            if self.progress:
                self.progress(c1, f"{'Wrote' if self.write else 'Compared'} {c1:,} of {n:,} deals")
        if self.errors:
            raise ImportRejected(
                f"{len(self.errors):,} deals conflict with what is stored; nothing was imported.",
                self.errors,
            )
        scores = write_scores(self)
        return ImportResult(
            deals_created=self.created,
            deals_updated=self.updated,
            deals_unchanged=self.unchanged,
            visits_written=self.written,
            rows=plan.rows,
            deals_without_visit=plan.without_visit,
            owner_names_kept=plan.owner_names_kept,
            notes=list(plan.notes),
            scores_written=scores,
        )

    def _visits(self, d: int) -> list[tuple]:
        """Deal ``d``'s visits: (step_id, entered, exited|None, work|None, actor_id, name)."""
        p = self.plan
        a, b = int(p.starts[d]), int(p.starts[d + 1])
        ids, actors = p.step_ids, p.actors
        return [
            (
                ids[s],
                e,
                None if x == NULL_TIME else x,
                None if w < 0 else w,
                *actors[ac],
            )
            for s, e, x, w, ac in zip(
                p.step[a:b].tolist(),
                p.entered[a:b].tolist(),
                p.exited[a:b].tolist(),
                p.work[a:b].tolist(),
                p.actor[a:b].tolist(),
                strict=True,
            )
        ]

    def _new_fields(self, d: int) -> dict[str, Any]:
        deal = self.plan.deals[d]
        p = self.plan
        first = int(p.entered[p.starts[d]]) if p.starts[d + 1] > p.starts[d] else None
        outcome = deal.outcome if deal.outcome is not _UNSET else DealStatus.OPEN
        closed = deal.closed_at if outcome != DealStatus.OPEN else None
        created = deal.created_at if deal.created_at not in (_UNSET, None) else first
        if created is None:  # a deal without a visit or a created date (never engaged)
            created = closed if closed not in (_UNSET, None) else to_micros(self.now)
        owner_id, owner_name = deal.owner if deal.owner not in (_UNSET, None) else (None, None)
        return {
            "external_id": deal.external_id,
            "name": (deal.name if deal.name not in (_UNSET, "") else deal.external_id),
            "account": "" if deal.account is _UNSET else deal.account,
            "amount": None if deal.amount is _UNSET else deal.amount,
            "owner_id": owner_id,
            "owner_name": owner_name,
            "source": "" if deal.source is _UNSET else deal.source,
            "created_at": from_micros(created),
            "first_entered_at": None if first is None else from_micros(first),
            "status": outcome,
            "closed_at": None if closed in (_UNSET, None) else from_micros(closed),
            "lost_reason": (
                deal.lost_reason
                if outcome == DealStatus.LOST and deal.lost_reason is not _UNSET
                else ""
            ),
        }

    def _updated_fields(self, d: int, stored: dict[str, Any]) -> dict[str, Any]:
        """The stored deal with the file's columns applied."""
        deal = self.plan.deals[d]
        values = dict(stored)
        if deal.name is not _UNSET:
            values["name"] = deal.name or deal.external_id
        for attr in ("account", "amount", "source"):
            if getattr(deal, attr) is not _UNSET:
                values[attr] = getattr(deal, attr)
        if deal.owner is not _UNSET:
            values["owner_id"], values["owner_name"] = deal.owner or (None, None)
        if deal.created_at not in (_UNSET, None):
            values["created_at"] = from_micros(deal.created_at)
        if deal.outcome is not _UNSET:
            values["status"] = deal.outcome
            closed = deal.closed_at if deal.outcome != DealStatus.OPEN else None
            values["closed_at"] = None if closed in (_UNSET, None) else from_micros(closed)
            if deal.outcome != DealStatus.LOST:
                values["lost_reason"] = ""
            elif deal.lost_reason is not _UNSET:
                values["lost_reason"] = deal.lost_reason
        elif deal.lost_reason is not _UNSET and values["status"] == DealStatus.LOST:
            values["lost_reason"] = deal.lost_reason
        return values

    _DEAL_COLUMNS = (
        "name",
        "account",
        "amount",
        "owner_id",
        "owner_name",
        "source",
        "created_at",
        "status",
        "closed_at",
        "lost_reason",
    )

    def _chunk(self, c0: int, c1: int, fresh: bool) -> None:
        plan = self.plan
        stored: dict[str, dict[str, Any]] = {}
        stored_visits: dict[int, list[tuple]] = {}
        if not fresh:
            for row in Deal.objects.filter(
                stream=self.stream, external_id__in=[d.external_id for d in plan.deals[c0:c1]]
            ).values_list("id", "external_id", *self._DEAL_COLUMNS):
                stored[row[1]] = dict(
                    zip(("id", *self._DEAL_COLUMNS), (row[0], *row[2:]), strict=True)
                )
            if stored:
                for v in Visit.objects.filter(
                    deal_id__in=[s["id"] for s in stored.values()]
                ).values_list("deal_id", "id", *VISIT_FIELDS):
                    stored_visits.setdefault(v[0], []).append(v[1:])

        new_deals: list[tuple[int, dict[str, Any]]] = []
        deal_updates: list[Deal] = []
        changed_fields: set[str] = set()
        deletes: list[int] = []
        closing: list[Visit] = []
        reopening: list[Visit] = []
        inserts: list[tuple] = []  # (deal pk, step id, entered, exited, work, actor, name, …)
        repathed: list[int] = []  # stored deals whose visits change
        for d in range(c0, c1):
            deal = plan.deals[d]
            old = stored.get(deal.external_id)
            if old is None:
                self.created += 1
                self.written += int(plan.starts[d + 1] - plan.starts[d])
                new_deals.append((d, self._new_fields(d)))
                continue
            values = self._updated_fields(d, old)
            if values["closed_at"] is not None and values["closed_at"] < values["created_at"]:
                self.errors.append(
                    RowError(
                        deal.row,
                        "closed_at",
                        f"deal {deal.external_id} would close before it was created "
                        f"({values['created_at'].isoformat()}).",
                    )
                )
                continue
            if values["status"] == DealStatus.OPEN:
                values["closed_at"] = None
            visits_changed = self._diff_visits(
                old["id"],
                self._visits(d),
                stored_visits.get(old["id"], []),
                deletes,
                closing,
                reopening,
                inserts,
            )
            if visits_changed:
                repathed.append(old["id"])
            fields_changed = [k for k in self._DEAL_COLUMNS if values[k] != old[k]]
            if not fields_changed and not visits_changed:
                self.unchanged += 1
                continue
            self.updated += 1
            if fields_changed:
                changed_fields.update(fields_changed)
                deal_updates.append(
                    Deal(pk=old["id"], **{k: values[k] for k in self._DEAL_COLUMNS})
                )
        if not self.write or self.errors:
            return

        if deletes:
            Visit.objects.filter(pk__in=deletes).delete()
        if deal_updates:
            for obj in deal_updates:
                obj.updated_at = self.now
            Deal.objects.bulk_update(
                deal_updates, [*sorted(changed_fields), "updated_at"], batch_size=500
            )
        visit_fields = ["exited_at", "work_minutes", "actor_id", "actor_name", "updated_at"]
        for group in (closing, reopening):  # close first: one open visit per deal at any time
            if group:
                Visit.objects.bulk_update(group, visit_fields, batch_size=500)
        pk_of: dict[int, int] = {}
        if new_deals:
            pk_of = self._create_deals(new_deals)
        self._insert(itertools.chain(self._new_visit_rows(c0, c1, pk_of), inserts))
        # A stored path that changed gets its facts from the database (path order there is
        # entered_at, then id, and the new visits' ids come after the kept ones'), and so do
        # the working-time offsets of the stored deals that changed.
        deal_paths_refresh(repathed)
        deal_offsets_refresh([*repathed, *(obj.pk for obj in deal_updates)])

    _DEAL_COPY_COLUMNS = (
        "id",
        "stream_id",
        "external_id",
        *_DEAL_COLUMNS,
        "updated_at",
        "first_entered_at",
        "first_entered_w",
        "closed_w",
    )
    _DEAL_COPY = f"COPY funnel_deal ({', '.join(_DEAL_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"

    def _create_deals(self, new_deals: list[tuple[int, dict[str, Any]]]) -> dict[int, int]:
        """Insert new deals; returns plan index -> primary key.

        On PostgreSQL the keys are drawn from the table's own sequence first and the rows
        written with ``COPY``: ``bulk_create`` spends about 100 µs per deal preparing values
        (1.7 s for 16,700 deals), more than the whole COPY of their visits.
        """
        first_w, closed_w = deal_offsets(
            self.calendars,
            epoch_seconds(f["first_entered_at"] for _, f in new_deals),
            epoch_seconds(f["closed_at"] for _, f in new_deals),
        )
        for (_, fields), fw, cw in zip(new_deals, first_w.tolist(), closed_w.tolist(), strict=True):
            fields["first_entered_w"], fields["closed_w"] = as_value(fw), as_value(cw)
        if connection.vendor != "postgresql":
            created = Deal.objects.bulk_create(
                [Deal(stream=self.stream, **fields) for _, fields in new_deals], batch_size=1000
            )
            return {d: obj.pk for (d, _), obj in zip(new_deals, created, strict=True)}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('funnel_deal', 'id')) "
                "FROM generate_series(1, %s)",
                [len(new_deals)],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
            if self._deal_types is None:
                self._deal_types = _column_types(cursor, "funnel_deal", self._DEAL_COPY_COLUMNS)
        stream_id, now = self.stream.pk, self.now
        with (
            connection.wrap_database_errors,  # psycopg's errors as Django's (IntegrityError …)
            connection.cursor() as cursor,
            cursor.cursor.copy(self._DEAL_COPY) as copy,
        ):
            copy.set_types(self._deal_types)
            for pk, (_, f) in zip(ids, new_deals, strict=True):
                copy.write_row(
                    (
                        pk,
                        stream_id,
                        f["external_id"],
                        f["name"],
                        f["account"],
                        f["amount"],
                        f["owner_id"],
                        f["owner_name"],
                        f["source"],
                        f["created_at"],
                        f["status"],
                        f["closed_at"],
                        f["lost_reason"],
                        now,
                        f["first_entered_at"],
                        f["first_entered_w"],
                        f["closed_w"],
                    )
                )
        return {d: pk for (d, _), pk in zip(new_deals, ids, strict=True)}

    def _new_visit_rows(self, c0: int, c1: int, pk_of: dict[int, int]) -> Iterator[tuple]:
        """Visits of the chunk's new deals as (deal pk, step id, entered, exited, work,
        actor id, actor name, reentry, previous step id, is last, entered_w, exited_w), from
        the chunk's slice of the arrays in one go."""
        if not pk_of:
            return
        p = self.plan
        a, b = int(p.starts[c0]), int(p.starts[c1])
        ids, actors = p.step_ids, p.actors
        everyone = len(pk_of) == c1 - c0
        entered_w, exited_w = visit_offsets(
            self.step_keys,
            self.step_id_of[p.step[a:b]],
            micros_to_seconds(p.entered[a:b]),
            micros_to_seconds(p.exited[a:b]),
        )
        for d, s, e, x, w, ac, again, before, last, ew, xw in zip(
            p.deal[a:b].tolist(),
            p.step[a:b].tolist(),
            p.entered[a:b].tolist(),
            p.exited[a:b].tolist(),
            p.work[a:b].tolist(),
            p.actor[a:b].tolist(),
            p.reentry[a:b].tolist(),
            p.previous[a:b].tolist(),
            p.is_last[a:b].tolist(),
            entered_w.tolist(),
            exited_w.tolist(),
            strict=True,
        ):
            if everyone or d in pk_of:
                actor_id, actor_name = actors[ac]
                yield (
                    pk_of[d],
                    ids[s],
                    e,
                    None if x == NULL_TIME else x,
                    None if w < 0 else w,
                    actor_id,
                    actor_name,
                    again,
                    None if before < 0 else ids[before],
                    last,
                    as_value(ew),
                    as_value(xw),
                )

    def _diff_visits(
        self,
        deal_pk: int,
        incoming: list[tuple],
        stored: list[tuple],
        deletes: list[int],
        closing: list[Visit],
        reopening: list[Visit],
        inserts: list[tuple],
    ) -> bool:
        by_key: dict[tuple[int, int], list[tuple]] = {}
        for pk, step_id, entered, exited, work, actor_id, actor_name in stored:
            by_key.setdefault((step_id, to_micros(entered)), []).append(
                (pk, None if exited is None else to_micros(exited), work, actor_id, actor_name)
            )
        changed = False
        for visit in incoming:
            step_id, entered, exited, work, actor_id, actor_name = visit
            matches = by_key.get((step_id, entered))
            if not matches:
                # Its path facts and offsets are worked out once the deal's visits are written.
                inserts.append((deal_pk, *visit, None, None, None, None, None))
                self.written += 1
                changed = True
                continue
            pk, old_exit, old_work, old_actor, old_name = matches.pop(0)
            if (old_exit, old_work, old_actor, old_name) == (exited, work, actor_id, actor_name):
                continue
            changed = True
            self.written += 1
            obj = Visit(
                pk=pk,
                exited_at=None if exited is None else from_micros(exited),
                work_minutes=work,
                actor_id=actor_id,
                actor_name=actor_name,
                updated_at=self.now,
            )
            (closing if exited is not None else reopening).append(obj)
        for leftovers in by_key.values():
            for pk, *_ in leftovers:
                deletes.append(pk)
                changed = True
        return changed

    def _insert(self, rows: Iterator[tuple]) -> None:
        now = self.now
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if self._copy_types is None:
                    self._copy_types = _column_types(cursor, "funnel_visit", VISIT_COPY_COLUMNS)
            with (
                connection.wrap_database_errors,
                connection.cursor() as cursor,
                cursor.cursor.copy(_VISIT_COPY) as copy,
            ):
                copy.set_types(self._copy_types)
                write = copy.write_row
                for deal_pk, step_id, entered, exited, work, actor_id, actor_name, *facts in rows:
                    write(
                        (
                            deal_pk,
                            step_id,
                            from_micros(entered),
                            None if exited is None else from_micros(exited),
                            work,
                            actor_id,
                            actor_name,
                            now,
                            now,
                            *facts,
                        )
                    )
            return
        Visit.objects.bulk_create(
            (
                Visit(
                    deal_id=deal_pk,
                    step_id=step_id,
                    entered_at=from_micros(entered),
                    exited_at=None if exited is None else from_micros(exited),
                    work_minutes=work,
                    actor_id=actor_id,
                    actor_name=actor_name,
                    reentry=reentry,
                    previous_step_id=previous_step_id,
                    is_last=is_last,
                    entered_w=entered_w,
                    exited_w=exited_w,
                )
                for (
                    deal_pk,
                    step_id,
                    entered,
                    exited,
                    work,
                    actor_id,
                    actor_name,
                    reentry,
                    previous_step_id,
                    is_last,
                    entered_w,
                    exited_w,
                ) in rows
            ),
            batch_size=2000,
        )
