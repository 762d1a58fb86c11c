"""The ``visits`` layout: one row per visit (deal id, step, entered at, exited at, work minutes,
actor, and optional deal columns), as the CSV export writes it. The common row takes a straight,
fast path; anything unusual is reported as a row error. Each read row is a visit of the plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnel.importing.cells import _MAX_MINUTES, NULL_TIME, _Bad, _minutes
from funnel.importing.plan import _UNSET, _Columns
from funnel.importing.types import IGNORE, LOST, WON
from funnel.models import DealStatus

if TYPE_CHECKING:
    from funnel.importing.checking import _Builder


def read(builder: _Builder) -> _Columns:
    out = _Columns()
    add_deal, add_step, add_in, add_out, add_work, add_actor, add_row = (
        out.deal.append,
        out.step.append,
        out.entered.append,
        out.exited.append,
        out.work.append,
        out.actor.append,
        out.row.append,
    )
    ix = builder.index
    i_deal, i_step, i_in = ix["deal_id"], ix["step"], ix["entered_at"]
    i_exit, i_work, i_actor = ix.get("exited_at"), ix.get("work_minutes"), ix.get("actor")
    has_outcome = "outcome" in ix
    parse = builder.clock.parse
    stage_of = builder.stages.resolve
    deal_index, deals = builder.deal_index, builder.deals
    actor_index, actor_of = builder.actor_index, builder.actor_of
    deal_key, error = builder.deal_key, builder.error
    # The last exit time read, as text and parsed (never an empty text).
    last_text, last_value = None, None
    for row, cells in builder.numbered_rows():
        # The common row takes the straight path; anything unusual is reported below.
        bad = False
        external_id = cells[i_deal].strip()
        if not external_id or len(external_id) > 64:
            builder._deal_id(cells, row)
            continue
        step_text = cells[i_step].strip()
        target: int | str | None = -1
        if step_text:
            target = stage_of(step_text)
            if target is None:
                builder.unknown.setdefault(step_text, row)
                continue
            if target == IGNORE:
                continue
        text = cells[i_in]
        entered = exited = None
        if text == last_text:  # a visit usually starts when the one before it ended
            entered = last_value
        elif text and not text.isspace():
            try:
                entered = parse(text)
            except _Bad as exc:
                error(row, "entered_at", str(exc))
                bad = True
        elif step_text:
            error(row, "entered_at", "empty; a time is required here.")
            bad = True
        if i_exit is not None:
            text = cells[i_exit]
            if text and not text.isspace():
                try:
                    exited = parse(text)
                except _Bad as exc:
                    error(row, "exited_at", str(exc))
                    bad = True
                else:
                    last_text, last_value = text, exited
                    if entered is not None and exited < entered:
                        error(row, "exited_at", "before the visit's entered_at.")
                        bad = True
        work = -1
        if i_work is not None:
            text = cells[i_work]
            if text:
                if text.isdigit() and text.isascii():
                    work = int(text)
                    if work > _MAX_MINUTES:
                        error(row, "work_minutes", f"too large ({text} minutes).")
                        bad = True
                elif not text.isspace():
                    try:
                        work = _minutes(text)
                    except _Bad as exc:
                        error(row, "work_minutes", str(exc))
                        bad = True
        actor = 0
        if i_actor is not None:
            text = cells[i_actor]
            if text:
                actor = actor_index.get(text, -1)
                if actor < 0:
                    try:
                        actor = actor_of(text)
                    except _Bad as exc:
                        error(row, "actor", str(exc))
                        bad = True
                        actor = 0
        if not step_text and (entered is not None or exited is not None or work >= 0 or actor):
            error(row, "step", "empty, but the row has visit columns.")
            bad = True
        d = deal_index.get(external_id)
        if d is None:
            d, deal = builder._deal(external_id, row)
        else:
            deal = deals[d]
        key = hash(deal_key(cells))
        if key != deal.key:
            values = builder.deal_fields(cells, row)
            if values is None:
                deal.bad = True
                continue
            builder.set_deal_fields(deal, values, row, conflicts=True)
            deal.key = key
        if bad:
            deal.bad = True
            continue
        if target.__class__ is int and target >= 0:
            add_deal(d)
            add_step(target)
            add_in(entered)
            add_out(NULL_TIME if exited is None else exited)
            add_work(work)
            add_actor(actor)
            add_row(row)
        elif target in (WON, LOST):
            # A visit "at" a won or lost stage is the outcome, at its entry time.
            if has_outcome and deal.outcome not in (_UNSET, DealStatus.OPEN, target):
                error(row, "step", f"'{step_text}' contradicts the outcome column.")
                deal.bad = True
                continue
            deal.outcome = target
            if deal.closed_at in (_UNSET, None):
                deal.closed_at = entered
        # else: a row with only the deal's columns
    return out
