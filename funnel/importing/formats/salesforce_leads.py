"""The ``sf_leads`` layout: Salesforce's lead history, one row per field change (LeadHistory:
LeadId, CreatedDate, Field, OldValue, NewValue, CreatedById), each row with its lead's columns
(Lead: Name, Company, LeadSource, Owner, CreatedDate, Status, ConvertedDate), as Data Loader
exports a query of LeadHistory with ``Lead.`` fields, or the Lead History report does.
:func:`join_lead_export` makes such a file of the two plain exports.

Each lead is a case. Rows whose Field is not the status (Owner, Rating …) are not read. A lead
enters the status before its first change (that change's OldValue; without changes, its
current Status) when it was created (Lead CreatedDate, else its "created" history row); each
status change opens a visit at the new status's step, as the transitions layout does; a
converted lead whose history never changes to its current Status reaches it at its
ConvertedDate (a date: the history's time is more precise when it has one).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from funnel.importing.cells import _Bad
from funnel.importing.mapping import _norm, lead_row_kind
from funnel.importing.plan import _DEAL_ATTR, _TARGET_CODE, _UNSET, _Columns
from funnel.importing.reading import read_table
from funnel.importing.types import IGNORE, ImportRejected

if TYPE_CHECKING:
    from funnel.importing.checking import _Builder


def read(builder: _Builder) -> _Columns:
    changes = _Columns()
    add = changes.add
    ix = builder.index
    i_field, i_old, i_new = ix.get("field"), ix.get("old_value"), ix["new_value"]
    i_at, i_actor = ix["changed_at"], ix.get("actor")
    kinds: dict[str, str] = {}

    def kind_of(cells: list[str]) -> str:
        text = cells[i_field]
        kind = kinds.get(text)
        if kind is None:
            kind = kinds[text] = lead_row_kind(text)
        return kind

    keep = (lambda cells: kind_of(cells) != "other") if i_field is not None else None
    parse, error, stage = builder.clock.parse, builder.error, builder._stage
    deals, deal_key = builder.deals, builder.deal_key
    # Per lead (index): the earliest status change (time, the status before it), the time of
    # its "created" row, its current status and its conversion time.
    first: dict[int, tuple[int, int | str | None]] = {}
    born: dict[int, int] = {}
    current: dict[int, int | str | None] = {}
    converted: dict[int, int] = {}
    reached: set[tuple[int, int | str]] = set()  # (lead, status) its history changes to
    last_text, last_value = None, 0
    for row, cells in builder.numbered_rows(keep):
        builder._bad = False
        external_id = cells[ix["deal_id"]].strip()
        if not external_id or len(external_id) > 64:
            builder._deal_id(cells, row)
            continue
        kind = kind_of(cells) if i_field is not None else "status"
        text = cells[i_at]
        at: int | None = None
        if text == last_text:  # the rows of one change, or of one day, share the time
            at = last_value
        elif text and not text.isspace():
            try:
                at = last_value = parse(text)
                last_text = text
            except _Bad as exc:
                error(row, "changed_at", str(exc))
                builder._bad = True
        else:
            error(row, "changed_at", "empty; a time is required here.")
            builder._bad = True
        d, deal = builder._deal(external_id, row)
        key = hash(deal_key(cells))
        if key != deal.key:  # the lead's columns, read once per lead (rows repeat them)
            deal.key = key
            if not _lead_columns(builder, deal, d, cells, row, current, converted):
                deal.bad = True
                continue
        if kind == "created":
            if at is not None and (d not in born or at < born[d]):
                born[d] = at
            if builder._bad:
                deal.bad = True
            continue
        new = cells[i_new].strip()
        target = stage(new, row, "new_value") if new else None
        if not new:
            error(row, "new_value", "empty; a status change names the new status.")
            builder._bad = True
        old_text = cells[i_old].strip() if i_old is not None else ""
        old = stage(old_text, row, "old_value") if old_text else None
        actor = 0
        if i_actor is not None and cells[i_actor]:
            try:
                actor = builder.actor_of(cells[i_actor])
            except _Bad as exc:
                error(row, "actor", str(exc))
                builder._bad = True
        if builder._bad or at is None:
            deal.bad = True
            continue
        if d not in first or at < first[d][0]:
            first[d] = (at, old)
        if target is not None and target != IGNORE:
            add(d, _TARGET_CODE.get(target, target), at, 0, 0, actor, row)
            reached.add((d, target))
    # Each lead's first status at its creation comes first (a change at the same instant
    # follows it), its conversion last (changes keep their order at equal times).
    out = _Columns()
    for d, deal in enumerate(deals):
        if deal.bad:
            continue
        created = deal.created_at if deal.created_at not in (_UNSET, None) else born.get(d)
        if created is not None and deal.created_at in (_UNSET, None):
            deal.created_at = created
        initial = first[d][1] if d in first else current.get(d)
        if created is not None and initial is not None and initial != IGNORE:
            out.add(d, _TARGET_CODE.get(initial, initial), created, 0, 0, 0, deal.row)
    for name in ("deal", "step", "entered", "exited", "work", "actor", "row"):
        getattr(out, name).extend(getattr(changes, name))
    for d, at in converted.items():
        status = current.get(d)
        # A day-precise ConvertedDate only dates a conversion the history does not have.
        if (
            not deals[d].bad
            and status is not None
            and status != IGNORE
            and (d, status) not in reached
        ):
            out.add(d, _TARGET_CODE.get(status, status), at, 0, 0, 0, deals[d].row)
    return out


def _lead_columns(
    builder: _Builder,
    deal,
    d: int,
    cells: list[str],
    row: int,
    current: dict[int, int | str | None],
    converted: dict[int, int],
) -> bool:
    """Read a row's lead columns into ``deal`` and the lead's current status and conversion
    time; False when one is bad (errors recorded)."""
    values = builder.deal_fields(cells, row)
    if values is None:
        return False
    if not values.get("deal_name") and (name := builder.person_name(cells)):
        values["deal_name"] = name
    for name, value in values.items():  # the latest row with a value wins
        if value not in (None, "") or getattr(deal, _DEAL_ATTR[name]) is _UNSET:
            setattr(deal, _DEAL_ATTR[name], value)
    ok = True
    i_status = builder.index.get("status")
    if i_status is not None and (text := cells[i_status].strip()):
        target = builder._stage(text, row, "status")
        if target is None:  # unknown (listed with the others): the row is read on
            deal.bad = True
        current[d] = target
    i_converted = builder.index.get("converted_at")
    if i_converted is not None:
        at = builder.time(cells, "converted_at", row, required=False)
        if at is not None:
            converted[d] = at
        ok = ok and not builder._bad
    return ok


# --- The two plain exports as one file ----------------------------------------------------------

#: The Lead export's columns copied onto each history row (as ``Lead.<column>``), by the
#: normalised header names they may carry.
_LEAD_COLUMNS = (
    "name",
    "firstname",
    "lastname",
    "company",
    "leadsource",
    "owner",
    "ownername",
    "ownerid",
    "createddate",
    "status",
    "isconverted",
    "converteddate",
)


def join_lead_export(history: bytes, leads: bytes) -> bytes:
    """One ``sf_leads`` file of Salesforce's two exports: every LeadHistory row as it is (so
    its row number stays the history file's), with its lead's columns from the Lead export
    appended as ``Lead.Name``, ``Lead.CreatedDate`` …; then one ``created`` row for each lead
    of the Lead export without history rows. Raises :class:`ImportRejected` when the Lead
    export has no Id column (both files are checked as tables first)."""
    history_table = read_table(history)
    try:
        lead_table = read_table(leads)
    except ImportRejected as exc:
        raise ImportRejected(f"The Lead export: {exc.message}") from exc
    by_norm = {_norm(h): i for i, h in enumerate(lead_table.headers) if h}
    if "id" not in by_norm and "leadid" not in by_norm:
        raise ImportRejected(
            "The Lead export has no Id column; export the leads with their Id, or import the "
            "lead history alone."
        )
    i_id = by_norm.get("id", by_norm.get("leadid"))
    kept = [(n, by_norm[n]) for n in _LEAD_COLUMNS if n in by_norm]
    names = [f"Lead.{lead_table.headers[i]}" for _, i in kept]
    width = len(kept)
    lead_rows: dict[str, list[str]] = {}
    for cells in lead_table.rows:
        if i_id < len(cells) and (lead_id := cells[i_id].strip()):
            lead_rows[lead_id] = [cells[i] if i < len(cells) else "" for _, i in kept]
    history_norm = {_norm(h): i for i, h in enumerate(history_table.headers)}
    i_lead = history_norm.get("leadid", history_norm.get("lead"))
    if i_lead is None:
        raise ImportRejected("The lead history has no LeadId column.")
    ncols = len(history_table.headers)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*history_table.headers, *names])
    seen: set[str] = set()
    empty = [""] * width
    for cells in history_table.rows:
        lead_id = cells[i_lead].strip() if i_lead < len(cells) else ""
        seen.add(lead_id)
        padded = cells + [""] * (ncols - len(cells)) if len(cells) < ncols else cells
        writer.writerow([*padded, *lead_rows.get(lead_id, empty)])
    i_field = history_norm.get("field")
    i_at = history_norm.get("createddate")
    k_created = [n for n, _ in kept].index("createddate") if "createddate" in by_norm else None
    for lead_id, values in lead_rows.items():
        if lead_id in seen:
            continue
        row = [""] * ncols
        row[i_lead] = lead_id
        if i_field is not None:
            row[i_field] = "created"
        if i_at is not None and k_created is not None:
            row[i_at] = values[k_created]
        writer.writerow([*row, *values])
    return out.getvalue().encode()
