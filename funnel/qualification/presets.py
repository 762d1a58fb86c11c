"""The qualification frameworks a stream's criteria set can start from (``criteria_set_start``).

Each preset is a list of criteria, each a name and the question a rep answers about the deal.
All use the evidence scale (*Unknown / Identified / Validated / Confirmed*, met from
*Validated*) and carry no weight and no known-by step: how much a criterion matters is the
team's belief to state, and the lab's to test; the steps differ from map to map.
"""

from __future__ import annotations

from dataclasses import dataclass

from funnel.qualification.models import Preset


@dataclass(frozen=True)
class PresetCriterion:
    name: str
    question: str


_BUDGET = PresetCriterion("Budget", "Is money set aside for this, and do we know roughly how much?")
_METRICS = PresetCriterion(
    "Metrics",
    "Do we know the measurable gain the customer expects, in their numbers (time, money, risk)?",
)
_ECONOMIC_BUYER = PresetCriterion(
    "Economic buyer",
    "Do we know who can say yes to the money, and have we spoken with them?",
)
_DECISION_CRITERIA = PresetCriterion(
    "Decision criteria", "Do we know how they will compare the options and pick one?"
)
_DECISION_PROCESS = PresetCriterion(
    "Decision process", "Do we know the steps, people and dates from here to a signed decision?"
)
_PAIN = PresetCriterion(
    "Identified pain",
    "Do we know the problem that hurts enough to act on, in the customer's own words?",
)
_CHAMPION = PresetCriterion(
    "Champion", "Is there someone inside with influence who sells for us when we are not there?"
)

PRESETS: dict[str, list[PresetCriterion]] = {
    Preset.BANT: [
        _BUDGET,
        PresetCriterion("Authority", "Do we know who signs, and are they involved?"),
        PresetCriterion("Need", "Do we know the need our offer answers, and how pressing it is?"),
        PresetCriterion("Timeline", "Do we know by when they must decide, and why then?"),
    ],
    Preset.MEDDIC: [
        _METRICS,
        _ECONOMIC_BUYER,
        _DECISION_CRITERIA,
        _DECISION_PROCESS,
        _PAIN,
        _CHAMPION,
    ],
    Preset.MEDDPICC: [
        _METRICS,
        _ECONOMIC_BUYER,
        _DECISION_CRITERIA,
        _DECISION_PROCESS,
        PresetCriterion(
            "Paper process",
            "Do we know how the contract gets signed: legal, procurement, security review, "
            "and how long each takes?",
        ),
        _PAIN,
        _CHAMPION,
        PresetCriterion(
            "Competition", "Do we know who else they are looking at, doing nothing included?"
        ),
    ],
    Preset.CHAMP: [
        PresetCriterion("Challenges", "Do we know the challenges they want to solve, and why now?"),
        PresetCriterion("Authority", "Do we know who decides, and are they involved?"),
        PresetCriterion("Money", "Is there budget, or a way to find it, for a deal this size?"),
        PresetCriterion("Prioritisation", "Is solving this among their top priorities this year?"),
    ],
    Preset.SPICED: [
        PresetCriterion("Situation", "Do we know their current set-up: team, tools, process?"),
        PresetCriterion("Pain", "Do we know what goes wrong today, and for whom?"),
        PresetCriterion("Impact", "Do we know what fixing it is worth to them, in numbers?"),
        PresetCriterion(
            "Critical event", "Is there a date or event by which they must have it solved?"
        ),
        PresetCriterion("Decision", "Do we know who decides, how, and on what criteria?"),
    ],
    Preset.CUSTOM: [],
}
