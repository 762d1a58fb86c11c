"""Checking every row and building the plan (:class:`_Builder`): each row's cells and deal
columns, and the checks across a deal's rows. Each layout's rows are read by its own module in
:mod:`funnel.importing.formats`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from funnel.eventlog.paths import path_facts
from funnel.importing.cells import (
    _CHECK_LEADS,
    NULL_TIME,
    _amount,
    _Bad,
    _Clock,
    _text,
    from_micros,
    unneutralise,
)
from funnel.importing.formats import (
    hubspot_contacts,
    salesforce_leads,
    transitions,
    visits,
    wide,
    xes,
)
from funnel.importing.mapping import (
    _OUTCOMES,
    _check_format,
    _check_table_format,
    _columns,
    _norm,
    _obvious_outcome,
    _Owners,
    _People,
    _StageResolver,
)
from funnel.importing.plan import (
    _DEAL_ATTR,
    _UNSET,
    _Columns,
    _Deal,
    _np,
    _Plan,
    changes_to_visits,
)
from funnel.importing.reading import Table, _CsvRows
from funnel.importing.scores import ScoreReader
from funnel.importing.types import (
    MAX_ERRORS,
    ImportOptions,
    ImportRejected,
    RowError,
)
from funnel.models import DealStatus
from streams.models import ValueStream


class _Builder:
    """Reads the rows of one file into a :class:`_Plan`, collecting every error."""

    def __init__(
        self,
        stream: ValueStream,
        table: Table,
        options: ImportOptions,
        progress: Callable[[int, str], None] | None,
    ) -> None:
        _check_format(options.format)
        _check_table_format(table, options.format)
        try:
            zone = ZoneInfo(options.time_zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise ImportRejected(
                f"Unknown time zone '{options.time_zone}'; use a name like Europe/Berlin or "
                "America/New_York."
            ) from None
        self.stream = stream
        self.table = table
        self.options = options
        self.format = options.format
        self.columns = _columns(table, options)
        self.index = {f: table.headers.index(h) for f, h in self.columns.items()}
        self.header = dict(self.columns)
        self.ncols = len(table.headers)
        self.clock = _Clock(zone, options.day_first)
        self.stages = _StageResolver(stream, options)
        if not self.stages.step_ids:
            raise ImportRejected(
                f"Stream '{stream.name}' has no steps yet; draw its map before importing."
            )
        self.people = _People(stream)
        self.owners = _Owners(stream, self.people, options.owners)
        self.progress = progress
        self.errors: list[RowError] = []
        self.error_count = 0
        self.unknown: dict[str, int] = {}  # stage -> first row
        #: Simple wide files: final stage -> deals without an engage date (stored unvisited).
        self.not_engaged: dict[str, int] = {}
        self.deals: list[_Deal] = []
        self.deal_index: dict[str, int] = {}
        self.actors: list[tuple[int | None, str]] = [(None, "")]
        self.actor_index: dict[str, int] = {"": 0}
        self.rows = 0
        self.check_cells = table.may_hold_formulas()
        # Qualification scores: one column per criterion (funnel.importing.scores).
        self.scores = ScoreReader.of(stream, table.headers, set(self.index.values()))
        self.mapped = sorted(set(self.index.values()) | self.scores.indexes)
        deal_columns = [f for f in _DEAL_ATTR if f in self.index]
        self.deal_columns = deal_columns
        if len(deal_columns) >= 2:
            self.deal_key = operator.itemgetter(*(self.index[f] for f in deal_columns))
        elif deal_columns:
            only = self.index[deal_columns[0]]
            self.deal_key = lambda cells: (cells[only],)
        else:
            self.deal_key = lambda cells: ()

    # -- errors

    def error(self, row: int, column: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(row, self.header.get(column, column), reason))

    # -- rows

    def numbered_rows(
        self, keep: Callable[[list[str]], bool] | None = None
    ) -> Iterator[tuple[int, list[str]]]:
        """The data rows with their numbers, padded to the header's width; rows with surplus
        cells or formula cells (in mapped columns) are reported and skipped. ``keep`` (of the
        padded cells) leaves out, unchecked, rows the format does not read (a lead history's
        changes of fields other than the status)."""
        ncols, check, mapped = self.ncols, self.check_cells, self.mapped
        report = self.progress
        headers = self.table.headers
        error = self.error
        n = 0
        for number, cells in self._records():
            n += 1
            if report and not n % 50_000:
                self.rows = n
                report(n, f"Read {n:,} rows")
            if len(cells) != ncols:
                if len(cells) < ncols:
                    cells.extend([""] * (ncols - len(cells)))
                elif any(c.strip() for c in cells[ncols:]):
                    error(number, "", f"{len(cells)} cells, but the header names {ncols} columns.")
                    continue
            if keep is not None and not keep(cells):
                continue
            if check:
                ok = True
                for i in mapped:
                    c = cells[i]
                    if c and c[0] in _CHECK_LEADS:
                        try:
                            cells[i] = unneutralise(c)
                        except _Bad as exc:
                            error(number, headers[i], str(exc))
                            ok = False
                if not ok:
                    continue
            if self.scores.columns:
                self.scores.read(self, number, cells)
            yield number, cells
        self.rows = n

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """Non-blank records with their row numbers (one generator over the csv reader)."""
        rows = self.table.rows
        if not isinstance(rows, (_CsvRows, xes.XesRows)):
            for number, cells in self.table.numbered_rows():
                yield number, list(cells)
            return
        yield from rows.numbered()

    def _deal(self, external_id: str, row: int) -> tuple[int, _Deal]:
        index = self.deal_index.get(external_id)
        if index is None:
            index = len(self.deals)
            deal = _Deal(external_id, row)
            self.deals.append(deal)
            self.deal_index[external_id] = index
            return index, deal
        return index, self.deals[index]

    def _deal_id(self, cells: list[str], row: int) -> str | None:
        external_id = cells[self.index["deal_id"]].strip()
        if not external_id:
            self.error(row, "deal_id", "empty; every row needs the deal's id.")
            return None
        if len(external_id) > 64:
            self.error(row, "deal_id", "longer than 64 characters.")
            return None
        return external_id

    def rows_one_per_deal(self, *, noun: str, per: str) -> Iterator[tuple[int, list[str], str]]:
        """The data rows of a file with one row per deal (the wide and contact formats), with
        their numbers and deal ids, each row's ``_bad`` flag cleared. A row without a deal id,
        or with one an earlier row had (``noun``: what a row is; ``per``: the file's rule), is
        reported and skipped."""
        for row, cells in self.numbered_rows():
            self._bad = False
            external_id = self._deal_id(cells, row)
            if external_id is None:
                continue
            if external_id in self.deal_index:
                first = self.deals[self.deal_index[external_id]].row
                self.error(row, "deal_id", f"{noun} {external_id} is also on row {first}; {per}")
                continue
            yield row, cells, external_id

    def person_name(self, cells: list[str]) -> str:
        """The first and last name columns (the lead formats) as one name; "" without them."""
        parts = [
            cells[self.index[f]].strip() for f in ("first_name", "last_name") if f in self.index
        ]
        return " ".join(p for p in parts if p)[:200]

    def actor_of(self, text: str) -> int:
        index = self.actor_index.get(text)
        if index is None:
            name = text.strip()
            user_id = self.people.find(name) if name else None
            if user_id is None and len(name) > 120:
                raise _Bad(f"longer than 120 characters ({len(name)}).")
            index = len(self.actors)
            self.actors.append((user_id, "" if user_id else name))
            self.actor_index[text] = index
        return index

    def time(self, cells: list[str], name: str, row: int, *, required: bool) -> int | None:
        """Parsed time of column ``name``; None when empty (an error if ``required``) or bad
        (the error is recorded: check ``self._bad``)."""
        text = cells[self.index[name]]
        if not text or text.isspace():
            if required:
                self.error(row, name, "empty; a time is required here.")
                self._bad = True
            return None
        try:
            return self.clock.parse(text)
        except _Bad as exc:
            self.error(row, name, str(exc))
            self._bad = True
            return None

    def deal_fields(
        self, cells: list[str], row: int, skip: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        """The deal columns of one row, parsed; None when one is bad (errors recorded)."""
        values: dict[str, Any] = {}
        ok = True
        for name in self.deal_columns:
            if name in skip:
                continue
            text = cells[self.index[name]]
            try:
                values[name] = self._deal_value(name, text)
            except _Bad as exc:
                self.error(row, name, str(exc))
                ok = False
        return values if ok else None

    def _deal_value(self, name: str, text: str) -> Any:
        t = text.strip()
        if name == "amount":
            return _amount(t)
        if name == "owner":
            return self.owners.find(t) if t else None
        if name in ("closed_at", "created_at"):
            return self.clock.parse(t) if t else None
        if name == "outcome":
            if not t:
                return DealStatus.OPEN
            outcome = (
                _OUTCOMES.get(t) or _obvious_outcome(t) or {"open": DealStatus.OPEN}.get(_norm(t))
            )
            if outcome is None:
                raise _Bad(f"'{t}' is not an outcome; use won, lost or open.")
            return outcome
        limit = {"deal_name": 200, "account": 200, "source": 40, "lost_reason": 200}[name]
        return _text(t, limit)

    def set_deal_fields(
        self, deal: _Deal, values: dict[str, Any], row: int, *, conflicts: bool
    ) -> None:
        """Merge one row's deal columns into ``deal``. Empty cells never erase. With
        ``conflicts`` two rows that disagree are an error; otherwise the later row wins."""
        for name, value in values.items():
            if value is None or value == "":
                if name == "outcome":
                    continue
                current = getattr(deal, _DEAL_ATTR[name])
                if current is _UNSET:
                    setattr(deal, _DEAL_ATTR[name], value)
                continue
            attr = _DEAL_ATTR[name]
            current = getattr(deal, attr)
            if current is _UNSET or current is None or current == "" or not conflicts:
                setattr(deal, attr, value)
            elif name == "outcome" and value == DealStatus.OPEN:
                continue
            elif current != value:
                if name == "outcome" and current == DealStatus.OPEN:
                    setattr(deal, attr, value)
                    continue
                self.error(
                    row,
                    name,
                    f"deal {deal.external_id} has another {name} on row {deal.row}; "
                    "the rows of one deal must agree.",
                )

    # -- formats

    def build(self) -> _Plan:
        if self.format == "visits":
            columns = visits.read(self)
        elif self.format == "xes":
            columns = xes.read(self)
        else:
            columns = changes_to_visits(self.deals, _CHANGES[self.format](self))
        if self.unknown:
            names = sorted(self.unknown, key=self.unknown.get)
            listed = ", ".join(
                f"'{n}' (first on row {self.unknown[n]})"
                if self.unknown[n] > 1
                else f"'{n}' (a column of the header)"
                for n in names
            )
            raise ImportRejected(
                f"The file uses {len(names)} stage{'s' if len(names) > 1 else ''} that stream "
                f"'{self.stream.name}' has no step for: {listed}. Map each to a step, or to "
                "won, lost or ignore (the stage mapping), or add the steps to the map. Its "
                "steps: " + ", ".join(f"'{n}'" for n in self.stages.step_names) + ".",
                self.errors,
                error_count=self.error_count,
                unknown_stages=names,
            )
        plan = _Plan(
            deals=self.deals,
            step_ids=self.stages.step_ids,
            step_names=self.stages.step_names,
            actors=self.actors,
            rows=self.rows,
            scores=self.scores.found,
        )
        self._notes(plan)
        self._sort_and_check(plan, columns)
        if self.error_count:
            raise ImportRejected(
                f"{self.error_count:,} problem{'s' if self.error_count > 1 else ''} in the "
                f"file; nothing was imported. Fix the rows listed and import it again.",
                self.errors,
                error_count=self.error_count,
            )
        return plan

    def _notes(self, plan: _Plan) -> None:
        """Say how the import read deals that never engaged and owners who are not users."""
        if self.not_engaged:
            plan.without_visit = n = sum(self.not_engaged.values())
            stages = ", ".join(
                f"{stage or 'no stage'} ({count:,})" for stage, count in self.not_engaged.items()
            )
            when = (
                "created on their created date, or on the day of the import where the file has none"
                if "created_at" in self.index
                else "created on their close date if they closed, otherwise on the day of the "
                "import (the file has no created date)"
            )
            plan.notes.append(
                f"{n:,} deal{'s' if n != 1 else ''} without an engage date ({stages}) "
                f"{'were' if n != 1 else 'was'} imported without a visit at any step: "
                f"{when}. They count in the deal list, not in flow figures, until they move."
            )
        kept = self.owners.kept()
        if kept:
            plan.owner_names_kept = len(kept)
            shown = ", ".join(kept[:10])
            if len(kept) > 10:
                shown += f" and {len(kept) - 10:,} more"
            plan.notes.append(
                f"{len(kept):,} owner name{'s are' if len(kept) != 1 else ' is'} not a team "
                f"member and {'are' if len(kept) != 1 else 'is'} kept as the deals' owner name "
                f"(the figures filter and group by it): {shown}."
            )

    def _stage(self, text: str, row: int, name: str) -> int | str | None:
        """Resolve a stage cell: step index, WON, LOST, IGNORE; None if unknown (recorded)."""
        target = self.stages.resolve(text)
        if target is None:
            self.unknown.setdefault(text, row)
        return target

    # -- checks across rows

    def _sort_and_check(self, plan: _Plan, columns: _Columns) -> None:
        n_deals = len(self.deals)
        deal = _np(columns.deal)
        if len(deal):
            order = np.lexsort((_np(columns.row), _np(columns.exited), _np(columns.entered), deal))
            plan.deal = deal[order]
            plan.step = _np(columns.step)[order]
            plan.entered = _np(columns.entered)[order]
            plan.exited = _np(columns.exited)[order]
            plan.work = _np(columns.work)[order]
            plan.actor = _np(columns.actor)[order]
            plan.row = _np(columns.row)[order]
            del order
        del columns
        plan.starts = np.searchsorted(plan.deal, np.arange(n_deals + 1)).astype(np.int64)
        plan.reentry, plan.previous, plan.is_last = path_facts(plan.deal, plan.step)
        self._check_sequences(plan)
        self._check_deals(plan)

    def _check_sequences(self, plan: _Plan) -> None:
        if len(plan.deal) < 1:
            return
        is_open = plan.exited == NULL_TIME
        open_count = np.bincount(plan.deal[is_open], minlength=len(self.deals))
        same = plan.deal[1:] == plan.deal[:-1]
        names = plan.step_names
        for i in np.flatnonzero(same & is_open[:-1]).tolist():
            d = int(plan.deal[i])
            if open_count[d] > 1:
                rows = plan.row[plan.starts[d] : plan.starts[d + 1]][
                    is_open[plan.starts[d] : plan.starts[d + 1]]
                ]
                self.error(
                    int(plan.row[i]),
                    "exited_at",
                    f"deal {self.deals[d].external_id} has {int(open_count[d])} visits without "
                    f"an exit time (rows {', '.join(map(str, sorted(rows.tolist())))}); at most "
                    "one, its last, can be open.",
                )
            else:
                self.error(
                    int(plan.row[i]),
                    "exited_at",
                    f"empty, but deal {self.deals[d].external_id} entered "
                    f"'{names[plan.step[i + 1]]}' later (row {int(plan.row[i + 1])}); only a "
                    "deal's last visit can be open.",
                )
        overlap = same & ~is_open[:-1] & (plan.exited[:-1] > plan.entered[1:])
        for i in np.flatnonzero(overlap).tolist():
            self.error(
                int(plan.row[i + 1]),
                "entered_at",
                f"overlaps the deal's visit to '{names[plan.step[i]]}' (row {int(plan.row[i])}), "
                f"which ends at {from_micros(int(plan.exited[i])).isoformat()}; a deal is at "
                "one step at a time.",
            )

    def _check_deals(self, plan: _Plan) -> None:
        starts = plan.starts
        n_deals = len(self.deals)
        has_visits = (starts[1:] > starts[:-1]).tolist()
        firsts = [0] * n_deals
        last_exit = np.zeros(n_deals, np.int64)
        open_any = np.zeros(n_deals, bool)
        if len(plan.deal):
            firsts = plan.entered[np.minimum(starts[:-1], len(plan.entered) - 1)].tolist()
            is_open = plan.exited == NULL_TIME
            np.maximum.at(last_exit, plan.deal, np.where(is_open, 0, plan.exited))
            open_any[plan.deal[is_open]] = True
        last_exit_l = last_exit.tolist()
        open_l = open_any.tolist()
        for d, deal in enumerate(self.deals):
            if deal.bad:
                continue
            first = firsts[d] if has_visits[d] else None
            created = deal.created_at if deal.created_at is not _UNSET else None
            if created is not None and first is not None and created > first:
                self.error(
                    deal.row,
                    "created_at",
                    f"deal {deal.external_id} was created after its first visit "
                    f"({from_micros(first).isoformat()}).",
                )
            if first is None and created is None and not deal.no_visit:
                self.error(
                    deal.row,
                    "created_at" if "created_at" in self.index else "deal_id",
                    f"deal {deal.external_id} has no visits, so it needs a created_at.",
                )
            outcome = deal.outcome
            closed = deal.closed_at if deal.closed_at is not _UNSET else None
            if outcome in (DealStatus.WON, DealStatus.LOST):
                if open_l[d]:
                    a, b = int(starts[d]), int(starts[d + 1])
                    at = int(plan.row[a + int(np.argmax(plan.exited[a:b]))])
                    self.error(
                        at,
                        "exited_at",
                        f"deal {deal.external_id} is {outcome}, so its visits need exit times.",
                    )
                    continue
                if closed is None:
                    closed = last_exit_l[d] if first is not None else None
                    if closed is None:
                        self.error(
                            deal.row,
                            "closed_at",
                            f"deal {deal.external_id} is {outcome} but has neither a close time "
                            "nor visits to take it from.",
                        )
                        continue
                    deal.closed_at = closed
                elif first is not None and last_exit_l[d] > closed:
                    self.error(
                        deal.row,
                        "closed_at",
                        f"deal {deal.external_id} closed at {from_micros(closed).isoformat()}, "
                        "before it left its last step.",
                    )
                start = created if created is not None else first
                if start is not None and closed < start:
                    self.error(deal.row, "closed_at", "before the deal was created.")
            elif closed is not None and outcome is not _UNSET:
                self.error(
                    deal.row,
                    "closed_at",
                    "a close time needs the outcome won or lost.",
                )
            elif closed is not None:
                self.error(
                    deal.row, "closed_at", "a close time needs an outcome column (won/lost)."
                )
            if (
                deal.lost_reason not in (_UNSET, "")
                and outcome is not _UNSET
                and outcome != DealStatus.LOST
            ):
                self.error(deal.row, "lost_reason", "only a lost deal has a lost reason.")


#: The formats read as stage changes, each by its module's ``read(builder)``.
_CHANGES = {
    "transitions": transitions.read,
    "wide": wide.read,
    "hs_contacts": hubspot_contacts.read,
    "sf_leads": salesforce_leads.read,
}
