"""The ``hs_contacts`` layout: HubSpot's contacts export, one row per contact, with a date per
lifecycle stage reached ("Became a Lead Date", "Became a Marketing Qualified Lead Date" …, or
the internal ``hs_lifecyclestage_<stage>_date`` and ``Date entered "<stage>"`` columns; found
by :func:`funnel.importing.mapping._stage_columns`). Each contact is a case; its dates, sorted,
are stage changes, so it has one visit per stage reached, each until the next stage's date.

A contact without any stage date enters its current Lifecycle Stage at its Create Date. The
current stage is read only then (HubSpot keeps the latest date of each stage, so the dates
already say where the contact is). A Create Date after the first stage date (a contact imported
into HubSpot with its older dates) is read as that date: the case began at its first stage.
The case's name is the Name column, else First and Last Name, else the Record ID.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnel.importing.cells import _Bad
from funnel.importing.mapping import _stage_columns, lifecycle_stage
from funnel.importing.plan import _TARGET_CODE, _UNSET, _Columns
from funnel.importing.types import IGNORE

if TYPE_CHECKING:
    from funnel.importing.checking import _Builder


def read(builder: _Builder) -> _Columns:
    changes = _Columns()
    headers = builder.table.headers
    stage_columns = _stage_columns(headers, "hs_contacts")
    columns: list[tuple[int, str, int | str]] = []
    for header, stage in stage_columns.items():
        target = builder._stage(stage, 1, header)
        if target is not None and target != IGNORE:
            columns.append((headers.index(header), header, target))
    i_stage = builder.index.get("stage")
    parse, error = builder.clock.parse, builder.error
    add_deal, add_step, add_in, add_out, add_work, add_actor, add_row = (
        changes.deal.append,
        changes.step.append,
        changes.entered.append,
        changes.exited.append,
        changes.work.append,
        changes.actor.append,
        changes.row.append,
    )
    # Exports repeat times (to the minute) and stages: each distinct text is read once.
    times: dict[str, int] = {}
    stages: dict[str, int | str | None] = {}
    for row, cells, external_id in builder.rows_one_per_deal(
        noun="contact", per="the export has one row per contact."
    ):
        dated: list[tuple[int, int, int | str]] = []
        for position, (index, header, target) in enumerate(columns):
            text = cells[index]
            if not text or text.isspace():
                continue
            value = times.get(text)
            if value is None:
                try:
                    value = parse(text)
                except _Bad as exc:
                    error(row, header, str(exc))
                    builder._bad = True
                    continue
                if len(times) > 500_000:
                    times.clear()
                times[text] = value
            dated.append((value, position, target))
        current: int | str | None = None
        unknown = False
        if i_stage is not None and (text := cells[i_stage].strip()):
            if text in stages:
                current = stages[text]
            else:
                current = builder._stage(lifecycle_stage(text, stage_columns), row, "stage")
                stages[text] = current
            unknown = current is None
        if not dated and current == IGNORE and not builder._bad:
            continue  # only an ignored current stage: the contact is left out
        d, deal = builder._deal(external_id, row)
        values = builder.deal_fields(cells, row)
        if values is None or builder._bad or unknown:
            deal.bad = True
            continue
        if not values.get("deal_name"):
            values["deal_name"] = builder.person_name(cells)
        builder.set_deal_fields(deal, values, row, conflicts=False)
        if not dated:
            created = values.get("created_at")
            if current is None or created is None:
                error(
                    row,
                    "deal_id",
                    f"contact {external_id} has no lifecycle stage dates, and no lifecycle "
                    "stage with a create date; nothing to import.",
                )
                deal.bad = True
                continue
            dated.append((created, 0, current))
        # Stages dated alike are taken in the map's order, outcomes last.
        if len(dated) > 1:
            dated.sort(key=_order)
        if deal.created_at is not _UNSET and deal.created_at is not None:
            # Contacts imported into HubSpot keep older stage dates than their Create Date:
            # the case began at its first stage.
            deal.created_at = min(deal.created_at, dated[0][0])
        for at, _, target in dated:
            add_deal(d)
            add_step(_TARGET_CODE.get(target, target))
            add_in(at)
            add_out(0)
            add_work(0)
            add_actor(0)
            add_row(row)
    return changes


def _order(change: tuple[int, int, int | str]) -> tuple[int, int, int]:
    at, position, target = change
    return at, target if target.__class__ is int else 1 << 30, position
