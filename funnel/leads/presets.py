"""The demand waterfalls a stream's hand-offs can start from, and the default reason lists.

A preset names the stages (docs/leads.md "The waterfall"): the first and last stage, and for
each hand-off the stage a lead reaches when it is offered there and when it is accepted, who
gives it and who receives it, and whether it is the ready-for-sales queue (``pull``). The
manager then picks each hand-off's step on the map (``funnel.leads.setup.waterfall_save``
takes the hand-offs with their steps).

- Sirius 2006: Inquiry → MQL → SAL (marketing → SDR), SQL → Opportunity (SDR → sales, pull).
- Sirius 2012: AQL → TQL (marketing → SDR; an automation-qualified lead becomes
  teleprospecting-qualified), the TQL offered as an MQL → SAL (SDR → SDR), SQL → Opportunity
  (SDR → sales, pull).
- The team's own: no hand-offs to start with; any names, any number, at most one ``pull``.
"""

from __future__ import annotations

from dataclasses import dataclass

from funnel.leads.models import ReasonKind, Side, WaterfallPreset


@dataclass(frozen=True)
class PresetHandoff:
    """One hand-off of a preset, without its step (the manager picks it)."""

    offered_stage: str
    accepted_stage: str
    giver: str
    receiver: str
    pull: bool = False


@dataclass(frozen=True)
class PresetWaterfall:
    inquiry_stage: str
    won_stage: str
    handoffs: tuple[PresetHandoff, ...]


_SQL = PresetHandoff("SQL", "Opportunity", Side.SDR, Side.SALES, pull=True)

PRESETS: dict[str, PresetWaterfall] = {
    WaterfallPreset.SIRIUS_2006: PresetWaterfall(
        "Inquiry",
        "Won",
        (PresetHandoff("MQL", "SAL", Side.MARKETING, Side.SDR), _SQL),
    ),
    WaterfallPreset.SIRIUS_2012: PresetWaterfall(
        "Inquiry",
        "Won",
        (
            PresetHandoff("AQL", "TQL", Side.MARKETING, Side.SDR),
            PresetHandoff("MQL", "SAL", Side.SDR, Side.SDR),
            _SQL,
        ),
    ),
    WaterfallPreset.CUSTOM: PresetWaterfall("Inquiry", "Won", ()),
}

#: The reasons a new waterfall starts with (the team edits them; docs/leads.md "Decisions").
DEFAULT_REASONS: dict[str, tuple[str, ...]] = {
    ReasonKind.REJECT: (
        "Not enough information",
        "Wrong contact",
        "Duplicate",
        "Not the right time to hand over",
    ),
    ReasonKind.RECYCLE: (
        "Not ready to buy yet",
        "No budget this year",
        "No reply after several attempts",
        "Interested later",
    ),
    ReasonKind.DISQUALIFY: (
        "Not our target market",
        "Competitor or partner",
        "Student or job seeker",
        "Spam or fake contact",
        "Already a customer",
    ),
}
