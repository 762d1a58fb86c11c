"""The deal page's timeline with the case's hand-off decisions (docs/leads.md "Undo"): who
accepted, rejected, recycled, disqualified or pulled it, when and why, and the decisions
undone (kept as ``HandoffUndo`` rows: the decision where it was made, then its undo), among
the visits and outcome changes of ``funnel.eventlog.selectors.deal_timeline``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from funnel.eventlog.selectors import HistoryEntry, PathEntry
from funnel.leads.models import HandoffDecision, HandoffUndo
from funnel.leads.undo import what_done
from funnel.models import Deal


@dataclass(frozen=True)
class HandoffEntry:
    """A decision (``undo`` None: standing, or the record of one undone) or its undo."""

    at: datetime
    what: str  # "rejected", "pulled", …
    stage: str  # the hand-off's offered stage (MQL, SQL, …)
    actor: object  # the user, or None (a deleted account)
    reason_label: str = ""
    note: str = ""
    undone: HandoffUndo | None = None  # the decision was undone later
    undo: HandoffUndo | None = None  # this entry is the undo itself
    event: None = None
    handoff: bool = True


def handoff_entries(deal: Deal) -> list[HandoffEntry]:
    """The case's decisions standing and undone, and the undos, each at its time."""
    entries: list[HandoffEntry] = []
    for decision in HandoffDecision.objects.filter(deal=deal).select_related(
        "handoff", "reason", "actor"
    ):
        entries.append(
            HandoffEntry(
                at=decision.decided_at,
                what=what_done(decision.kind, decision.handoff.pull),
                stage=decision.handoff.offered_stage,
                actor=decision.actor,
                reason_label=decision.reason.label if decision.reason else "",
                note=decision.note,
            )
        )
    for undo in HandoffUndo.objects.filter(deal=deal).select_related("decided_by", "undone_by"):
        what = what_done(undo.kind, undo.pull)
        entries.append(
            HandoffEntry(
                at=undo.decided_at,
                what=what,
                stage=undo.stage,
                actor=undo.decided_by,
                reason_label=undo.reason_label,
                note=undo.note,
                undone=undo,
            )
        )
        entries.append(
            HandoffEntry(
                at=undo.undone_at, what=what, stage=undo.stage, actor=undo.undone_by, undo=undo
            )
        )
    return entries


def _key(entry: object) -> tuple[datetime, int]:
    """Where an entry goes: by time; at one instant a decision before the visit it opened and
    the close it made, and an undo after what it undid."""
    if isinstance(entry, HandoffEntry):
        return entry.at, 2 if entry.undo is not None else -1
    if isinstance(entry, PathEntry):
        return entry.visit.entered_at, 0
    assert isinstance(entry, HistoryEntry)
    return entry.at, 1


def with_handoffs(timeline: list, deal: Deal) -> list:
    """``timeline`` (visits and outcome changes) with the case's hand-off entries merged in."""
    extra = handoff_entries(deal)
    if not extra:
        return timeline
    return sorted([*timeline, *extra], key=_key)  # stable: the timeline keeps its order
