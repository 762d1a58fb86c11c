"""The ``wide`` layout: one row per deal. Either HubSpot's ``Date entered "<stage>"`` columns
(detected from the header by :func:`funnel.importing.mapping._stage_columns`; sorted by date
they become stage changes), or a simple export with an engage date, a close date and a final
stage (one visit per deal from the engage date, closed when the final stage is won or lost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnel.importing.cells import _Bad
from funnel.importing.mapping import _stage_columns, _stage_key
from funnel.importing.plan import _TARGET_CODE, _UNSET, _Columns
from funnel.importing.types import IGNORE, LOST, WON

if TYPE_CHECKING:
    from funnel.importing.checking import _Builder


def read(builder: _Builder) -> _Columns:
    changes = _Columns()
    ix = builder.index
    stage_columns = _stage_columns(builder.table.headers)
    columns: list[tuple[int, str, int | str]] = []
    for header, stage in stage_columns.items():
        target = builder._stage(stage, 1, header)
        if target is None or target == IGNORE:
            continue
        columns.append((builder.table.headers.index(header), header, target))
    i_stage = ix.get("stage")
    entry_step = 0
    if not stage_columns:
        engage = builder.columns["entered_at"]
        mapped = builder.stages.mapping.get(_stage_key(engage))
        if isinstance(mapped, int):
            entry_step = mapped
    for row, cells, external_id in builder.rows_one_per_deal(
        noun="deal", per="a wide file has one row per deal."
    ):
        final: int | str | None = None
        if i_stage is not None and cells[i_stage].strip():
            final = _stage_or_open(builder, cells[i_stage].strip(), row, bool(stage_columns))
            if final == IGNORE:
                continue
        dated: list[tuple[int, int, int | str]] = []
        for position, (index, header, target) in enumerate(columns):
            text = cells[index]
            if not text.strip():
                continue
            try:
                dated.append((builder.clock.parse(text), position, target))
            except _Bad as exc:
                builder.error(row, header, str(exc))
                builder._bad = True
        no_visit = False
        if not stage_columns:
            at = builder.time(cells, "entered_at", row, required=False)
            if at is not None:
                dated.append((at, 0, entry_step))
            elif not builder._bad:
                # Never engaged (CRM "Prospecting"): the deal is stored without a visit.
                no_visit = True
        dated.sort()
        closing = final in (WON, LOST) and (not dated or dated[-1][2] not in (WON, LOST))
        if closing:
            closed = (
                builder.time(cells, "closed_at", row, required=False)
                if ("closed_at" in ix)
                else None
            )
            if closed is None and not builder._bad:
                builder.error(
                    row,
                    "closed_at" if "closed_at" in ix else "stage",
                    f"the deal is {final}, but it has no close date.",
                )
                builder._bad = True
            elif closed is not None and dated and closed < dated[-1][0]:
                builder.error(
                    row,
                    "closed_at",
                    "before the deal's last stage date; a deal closes after its last stage.",
                )
                builder._bad = True
            elif closed is not None:
                dated.append((closed, len(columns) + 1, final))
        d, deal = builder._deal(external_id, row)
        # The close date was read above if the deal closed; an open deal's is expected.
        values = builder.deal_fields(cells, row, skip=("closed_at",))
        if values is None or builder._bad:
            deal.bad = True
            continue
        builder.set_deal_fields(deal, values, row, conflicts=False)
        if no_visit:
            deal.no_visit = True
            stage = cells[i_stage].strip() if i_stage is not None else ""
            builder.not_engaged[stage] = builder.not_engaged.get(stage, 0) + 1
        elif not dated and deal.created_at in (_UNSET, None):
            builder.error(row, "deal_id", "the row has no stage dates; nothing to import.")
            deal.bad = True
            continue
        for at, _, target in dated:
            changes.add(d, _TARGET_CODE.get(target, target), at, 0, 0, 0, row)
    return changes


def _stage_or_open(builder: _Builder, text: str, row: int, strict: bool) -> int | str | None:
    """The final-stage cell of a wide file. With stage columns an unknown name is an
    unknown stage; in a simple file anything not won, lost or ignored means open."""
    if strict:
        return builder._stage(text, row, "stage")
    target = builder.stages.resolve(text)
    return target if target in (WON, LOST, IGNORE) else None
