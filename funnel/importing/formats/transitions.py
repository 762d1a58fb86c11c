"""The ``transitions`` layout: one row per stage change, as CRM stage histories export them
(Salesforce OpportunityHistory: OpportunityId, StageName, CreatedDate, Amount). Each change is
read as (deal, target stage, time); :func:`funnel.importing.plan.changes_to_visits` turns the
changes into visits. The latest change's deal columns win.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnel.importing.cells import _Bad
from funnel.importing.plan import _DEAL_ATTR, _TARGET_CODE, _UNSET, _Columns
from funnel.importing.types import IGNORE

if TYPE_CHECKING:
    from funnel.importing.checking import _Builder


def read(builder: _Builder) -> _Columns:
    changes = _Columns()  # step = target (step index, -1 won, -2 lost); entered = time
    ix = builder.index
    i_stage = ix["stage"]
    i_actor = ix.get("actor")
    i_lifecycle = ix.get("lifecycle")
    for row, cells in builder.numbered_rows():
        builder._bad = False
        if i_lifecycle is not None and not _is_change(builder, cells[i_lifecycle], row):
            continue
        external_id = builder._deal_id(cells, row)
        if external_id is None:
            continue
        text = cells[i_stage].strip()
        if not text:
            builder.error(row, "stage", "empty; every change names the stage it changed to.")
            continue
        target = builder._stage(text, row, "stage")
        if target is None or target == IGNORE:
            continue
        at = builder.time(cells, "changed_at", row, required=True)
        actor = 0
        if i_actor is not None and cells[i_actor]:
            try:
                actor = builder.actor_of(cells[i_actor])
            except _Bad as exc:
                builder.error(row, "actor", str(exc))
                builder._bad = True
        d, deal = builder._deal(external_id, row)
        values = builder.deal_fields(cells, row)
        if values is None or builder._bad or at is None:
            deal.bad = True
            continue
        if at >= deal.t:  # the latest change's deal columns win
            builder.set_deal_fields(deal, values, row, conflicts=False)
            deal.t = at
        else:
            for name, value in values.items():
                if getattr(deal, _DEAL_ATTR[name]) is _UNSET:
                    setattr(deal, _DEAL_ATTR[name], value)
        changes.add(d, _TARGET_CODE.get(target, target), at, 0, 0, actor, row)
    return changes


#: Lifecycle transitions (XES's lifecycle model) that neither begin nor end a visit.
SKIPPED_TRANSITIONS = frozenset(("schedule", "assign", "reassign", "suspend", "resume"))


def _is_change(builder: _Builder, text: str, row: int) -> bool:
    """Whether an event log's row (pm4py's lifecycle:transition column) is a stage change:
    a complete event (or one without a transition). Skipped transitions are not; anything
    else is a row error."""
    value = text.strip().lower()
    if value in ("", "complete"):
        return True
    if value in SKIPPED_TRANSITIONS:
        return False
    if value == "start":
        builder.error(
            row,
            "lifecycle",
            "a start event: this format reads each complete event as a stage change. Import "
            "a log with start and complete events as XES, or as visits with one row per "
            "activity (start_timestamp and time:timestamp columns).",
        )
    else:
        builder.error(
            row,
            "lifecycle",
            f"'{text.strip()}' is not a lifecycle transition the import reads: complete (a "
            "stage change), or " + ", ".join(sorted(SKIPPED_TRANSITIONS)) + " (skipped).",
        )
    return False
