"""The file as an event log: the deals and their visits as integer arrays."""

from __future__ import annotations

import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnel.importing.cells import NULL_TIME
from funnel.importing.types import LOST, WON
from funnel.models import DealStatus

# --- Building the event log from the rows --------------------------------------------------------

_UNSET: Any = object()


class _Deal:
    __slots__ = (
        "account",
        "amount",
        "bad",
        "closed_at",
        "created_at",
        "external_id",
        "key",
        "lost_reason",
        "name",
        "no_visit",
        "outcome",
        "owner",
        "row",
        "source",
        "t",
    )

    def __init__(self, external_id: str, row: int) -> None:
        self.external_id = external_id
        self.row = row
        self.key: int | None = None
        self.t = -(2**63)
        self.bad = False  # a row of the deal had an error: no checks across its rows
        # A deal of a simple wide file that never entered the stream (no engage date): it is
        # stored without a visit, created at the best date the file has (or the import's).
        self.no_visit = False
        #: (user id, None) for a member, (None, name) for an external owner, None for none.
        self.name = self.account = self.amount = self.owner = self.source = _UNSET
        self.outcome = self.closed_at = self.lost_reason = self.created_at = _UNSET


_DEAL_ATTR = {
    "deal_name": "name",
    "account": "account",
    "amount": "amount",
    "owner": "owner",
    "source": "source",
    "outcome": "outcome",
    "closed_at": "closed_at",
    "lost_reason": "lost_reason",
    "created_at": "created_at",
}


@dataclass
class _Plan:
    """The file as an event log: deals, and their visits as parallel integer arrays sorted by
    (deal, entered_at); ``starts[d]:starts[d + 1]`` are deal ``d``'s visits."""

    deals: list[_Deal]
    step_ids: list[int]
    step_names: list[str]
    actors: list[tuple[int | None, str]]
    rows: int
    #: Sentences for the summary (never-engaged deals, owner names kept).
    notes: list[str] = field(default_factory=list)
    without_visit: int = 0
    owner_names_kept: int = 0
    #: Qualification scores read from criteria columns (funnel.importing.scores).
    scores: list = field(default_factory=list)
    deal: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    step: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    entered: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    exited: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    work: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    actor: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    row: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    # Path facts (funnel.eventlog.paths) of the visits: previous is a step index, -1 for none.
    reentry: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    previous: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    is_last: np.ndarray = field(default_factory=lambda: np.empty(0, bool))


class _Columns:
    def __init__(self) -> None:
        self.deal = _ints()
        self.step = _ints()
        self.entered = _ints()
        self.exited = _ints()
        self.work = _ints()
        self.actor = _ints()
        self.row = _ints()

    def add(self, deal: int, step: int, entered: int, exited: int, work: int, actor: int, row: int):
        self.deal.append(deal)
        self.step.append(step)
        self.entered.append(entered)
        self.exited.append(exited)
        self.work.append(work)
        self.actor.append(actor)
        self.row.append(row)


def _ints() -> array.array:
    """A compact column of 64-bit integers (8 bytes a value, not a Python object each)."""
    return array.array("q")


def _np(values) -> np.ndarray:
    return np.frombuffer(values, dtype=np.int64) if len(values) else np.empty(0, np.int64)


#: How a stage change to an outcome is coded in the changes' step column.
_WON_CODE, _LOST_CODE = -1, -2
_TARGET_CODE: dict[Any, int] = {WON: _WON_CODE, LOST: _LOST_CODE}


def changes_to_visits(deals: list[_Deal], changes: _Columns) -> _Columns:
    """metrics.md §1: each change opens a visit at the new step and closes the open one
    at the same instant; won/lost closes it and sets the outcome."""
    out = _Columns()
    n = len(changes.deal)
    if not n:
        for deal in deals:
            _outcome_of_changes(deal, DealStatus.OPEN, None)
        return out
    deal_a, target_a, at_a = _np(changes.deal), _np(changes.step), _np(changes.entered)
    order = np.lexsort((np.arange(n), at_a, deal_a))
    deal_of = deal_a[order].tolist()
    targets = target_a[order].tolist()
    times = at_a[order].tolist()
    rows = _np(changes.row)[order].tolist()
    actors = _np(changes.actor)[order].tolist()
    del changes, deal_a, target_a, at_a, order
    add = out.add
    current = -1
    step = status = closed = None
    entered = row_in = actor_in = 0
    for k in range(n):
        d = deal_of[k]
        if d != current:
            if current >= 0:
                if step is not None:
                    add(current, step, entered, NULL_TIME, -1, actor_in, row_in)
                _outcome_of_changes(deals[current], status, closed)
            current, step, status, closed = d, None, DealStatus.OPEN, None
        target, at = targets[k], times[k]
        if target < 0:
            outcome = DealStatus.WON if target == _WON_CODE else DealStatus.LOST
            if status == outcome:
                continue
            if step is not None:
                add(d, step, entered, at, -1, actor_in, row_in)
                step = None
            status, closed = outcome, at
        else:
            if status != DealStatus.OPEN:
                status, closed = DealStatus.OPEN, None  # reopened
            if target == step:
                continue
            if step is not None:
                add(d, step, entered, at, -1, actor_in, row_in)
            step, entered, row_in, actor_in = target, at, rows[k], actors[k]
    if step is not None:
        add(current, step, entered, NULL_TIME, -1, actor_in, row_in)
    _outcome_of_changes(deals[current], status, closed)
    return out


def _outcome_of_changes(deal: _Deal, status: str | None, closed: int | None) -> None:
    deal.outcome = status or DealStatus.OPEN
    deal.closed_at = closed
    if deal.outcome != DealStatus.LOST and deal.lost_reason is not _UNSET:
        deal.lost_reason = ""  # a lost reason only sticks to a deal that ends lost
