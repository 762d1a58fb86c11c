"""Qualification scores in an import: one column per criterion of the stream's set.

A column headed with an active criterion's name (case-insensitive; not a column the mapping
already uses) holds that criterion's level on the row's deal: a level's label
(case-insensitive: ``Validated``), its index (``2``), or for a yes/no criterion ``yes`` /
``no`` (``y``, ``n``, ``true``, ``false``). An empty cell scores nothing. A column headed
``<name> date`` or ``<name> at`` dates the score (when it was known); without one, a score of
an open deal is dated at the import, and a closed deal's score must be dated, no later than
its close (no hindsight). A bad level or date is a row error naming the row and the column.

Scores are written with ``source=import`` in the import's transaction, after its deals and
visits, with the step each deal was at when scored. A score equal to one stored (same deal,
criterion, level and date; undated: the same level as the deal's latest) is not written again,
so importing a file twice adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from funnel.importing.cells import _Bad, from_micros
from funnel.importing.types import MAX_ERRORS, ImportRejected, RowError
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.models import Criterion, CriterionScore, LevelScale, ScoreSource
from funnel.qualification.services import step_at
from streams.ids import parse_id
from streams.models import ValueStream

_YES = {"yes", "y", "true"}
_NO = {"no", "n", "false"}
_DATE_SUFFIXES = (" date", " at")


@dataclass(frozen=True)
class _ScoreColumn:
    criterion: Criterion
    header: str
    value: int  # the column's index
    date: int | None  # its date column's index
    date_header: str = ""


@dataclass
class _Found:
    external_id: str
    criterion: Criterion
    level: int
    at: int | None  # microseconds since the epoch; None: undated
    row: int
    header: str


def parse_level(text: str, criterion: Criterion) -> int:
    """The level index ``text`` names on ``criterion``'s scale, or :class:`_Bad`."""
    levels = criterion.levels
    t = text.strip().lower()
    for i, label in enumerate(levels):
        if t == label.lower():
            return i
    index = parse_id(t)
    if index is not None and index < len(levels):
        return index
    if criterion.scale == LevelScale.YES_NO and (t in _YES or t in _NO):
        return 1 if t in _YES else 0
    choices = ", ".join(f"{label} ({i})" for i, label in enumerate(levels))
    raise _Bad(f"'{text.strip()}' is not a level of {criterion.name}: use {choices}.")


@dataclass
class ScoreReader:
    """The criteria columns of one file, and the scores read from its rows."""

    columns: list[_ScoreColumn] = field(default_factory=list)
    found: list[_Found] = field(default_factory=list)

    @classmethod
    def of(cls, stream: ValueStream, headers: list[str], taken: set[int]) -> ScoreReader:
        """The columns of ``headers`` (but those in ``taken``, mapped to deal fields) that
        name an active criterion of ``stream``, with their date columns."""
        criteria = {
            c.name.strip().lower(): c
            for c in Criterion.objects.filter(
                criteria_set__stream=stream, retired_at__isnull=True
            ).select_related("criteria_set")
        }
        if not criteria:
            return cls()
        named = {h.strip().lower(): i for i, h in enumerate(headers) if i not in taken}
        columns = []
        for name, criterion in criteria.items():
            if name not in named:
                continue
            date = next((named[name + s] for s in _DATE_SUFFIXES if name + s in named), None)
            columns.append(
                _ScoreColumn(
                    criterion,
                    headers[named[name]],
                    named[name],
                    date,
                    headers[date] if date is not None else "",
                )
            )
        return cls(columns)

    @property
    def indexes(self) -> set[int]:
        """The columns read (for the formula check of mapped cells)."""
        return {c.value for c in self.columns} | {
            c.date for c in self.columns if c.date is not None
        }

    def read(self, builder: Any, number: int, cells: list[str]) -> None:
        """The scores of one row (its deal named by ``deal_id``); errors go to ``builder``."""
        external_id = cells[builder.index["deal_id"]].strip()
        if not external_id:
            return  # the format reports the missing id
        for column in self.columns:
            text = cells[column.value]
            if not text.strip():
                continue
            try:
                level = parse_level(text, column.criterion)
            except _Bad as exc:
                builder.error(number, column.header, str(exc))
                continue
            at = None
            if column.date is not None and cells[column.date].strip():
                try:
                    at = builder.clock.parse(cells[column.date])
                except _Bad as exc:
                    builder.error(number, column.date_header, str(exc))
                    continue
            self.found.append(
                _Found(external_id, column.criterion, level, at, number, column.header)
            )


def write_scores(writer: Any) -> int:
    """Check the plan's scores against their deals as the import leaves them, and (unless a
    dry run) write them. Returns how many are (or would be) written; raises
    :class:`ImportRejected` naming each refused row and column."""
    found: list[_Found] = writer.plan.scores
    if not found:
        return 0
    plan = writer.plan
    index = {deal.external_id: d for d, deal in enumerate(plan.deals)}
    ids = list(index)
    stored = {
        row["external_id"]: row
        for row in Deal.objects.filter(stream=writer.stream, external_id__in=ids).values(
            "pk", "external_id", *writer._DEAL_COLUMNS
        )
    }
    deals = {
        ext: (writer._updated_fields(d, stored[ext]) if ext in stored else writer._new_fields(d))
        for ext, d in index.items()
    }
    pks = [row["pk"] for row in stored.values()]
    visits: dict[int, list[Visit]] = {pk: [] for pk in pks}
    for visit in Visit.objects.filter(deal_id__in=pks):
        visits[visit.deal_id].append(visit)
    latest: dict[tuple[int, int], CriterionScore] = {}
    for score in CriterionScore.objects.filter(deal_id__in=pks).order_by("scored_at", "id"):
        latest[(score.deal_id, score.criterion_id)] = score
    same = set(
        CriterionScore.objects.filter(deal_id__in=pks).values_list(
            "deal_id", "criterion_id", "level", "scored_at"
        )
    )
    errors: list[RowError] = []
    rows: list[CriterionScore] = []
    for f in found:
        deal = deals.get(f.external_id)
        if deal is None:
            continue  # a row the import skipped (an ignored stage)
        at = from_micros(f.at) if f.at is not None else None
        closed = deal["status"] != DealStatus.OPEN
        reason = None
        if at is None and closed:
            reason = (
                f"deal {f.external_id} is {deal['status']}: give the date this was known "
                f"(a column '{f.header} date'), before its close."
            )
        elif at is not None and closed and deal["closed_at"] and at > deal["closed_at"]:
            reason = f"dated after deal {f.external_id} closed; a score is what was known before."
        elif at is not None and at < deal["created_at"]:
            reason = f"dated before deal {f.external_id} was created."
        if reason:
            if len(errors) < MAX_ERRORS:
                errors.append(RowError(f.row, f.header, reason))
            continue
        pk = stored.get(f.external_id, {}).get("pk")
        if pk is not None:
            if at is not None and (pk, f.criterion.pk, f.level, at) in same:
                continue
            previous = latest.get((pk, f.criterion.pk))
            if at is None and previous is not None and previous.level == f.level:
                continue
        at = at or writer.now
        rows.append(
            CriterionScore(
                deal_id=pk,
                criterion=f.criterion,
                level=f.level,
                scored_at=at,
                step_id=step_at(visits.get(pk, []), at) if pk else None,
                scored_by_name="Import",
                source=ScoreSource.IMPORT,
            )
        )
    if errors:
        raise ImportRejected(
            f"{len(errors):,} score{'s' if len(errors) > 1 else ''} cannot be imported; "
            "nothing was imported.",
            errors,
        )
    if writer.write:
        CriterionScore.objects.bulk_create(rows, batch_size=5000)
    return len(rows)
