"""Plain-language explanations of every figure and symbol on the value stream map.

The map page renders them as a help panel (``templates/streams/_help.html`` iterates
:data:`ALL`); the SVG drawing (``streams.drawing``) puts :attr:`Explanation.tooltip` in the
``<title>`` of each figure. The ``how`` texts restate metrics.md (§2 for a step's measured
figures, §3 for the summary box); when a definition there changes, change it here too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    key: str
    label: str
    what: str  # what the figure or symbol means
    why: str  # why a sales team should care
    how: str  # how it is computed (planned: from the map; measured: from the deals' visits)

    @property
    def tooltip(self) -> str:
        """One short paragraph for an SVG ``<title>``: the label, what it is, how it is got."""
        return f"{self.label}: {self.what} {self.how}"


_ITEMS = (
    Explanation(
        key="process_time",
        label="Process time (PT)",
        what="Hands-on work time one deal needs at this step: the minutes someone actually "
        "spends on it, not the time it waits.",
        why="It is the only time that adds value. Comparing it with the lead time shows how "
        "much of the step is waiting.",
        how="Planned: entered on the map. Measured: the median work time of the step's "
        "completed visits (logged work, or the planned process time when nothing was logged).",
    ),
    Explanation(
        key="lead_time",
        label="Lead time (LT)",
        what="Elapsed calendar time a deal spends at this step, from arriving to leaving, "
        "waiting included.",
        why="Customers feel the lead time, not the work time. Long lead times are where deals "
        "go cold.",
        how="Planned: entered on the map. Measured: the median time in step "
        "(left − arrived) of the step's completed visits in the window.",
    ),
    Explanation(
        key="pct_complete_accurate",
        label="%C&A (percent complete and accurate)",
        what="Share of the deals leaving this step that the next step can use as they are, "
        "without sending them back or redoing work.",
        why="Every deal that is not complete and accurate comes back as rework: a redone "
        "proposal, a second discovery call.",
        how="Planned: entered on the map. Measured: 1 − re-entries ÷ visits, over the visits "
        "that entered the step in the window.",
    ),
    Explanation(
        key="wip",
        label="WIP (work in progress)",
        what="Deals sitting at this step: waiting in its queue or being worked on.",
        why="WIP is inventory. The more deals wait at a step, the longer each one waits "
        "(Little's law).",
        how="Planned: entered on the map. Measured: the deals at the step right now (open "
        "visits when the metrics last ran).",
    ),
    Explanation(
        key="inventory_triangle",
        label="Inventory triangle",
        what="The triangle with an \u201cI\u201d in front of a process box is the queue of "
        "deals waiting for that step; the number is its planned WIP.",
        why="Queues are where most of the lead time goes, and they are invisible in a CRM.",
        how="The planned WIP of the step the queue feeds.",
    ),
    Explanation(
        key="value_add",
        label="Value-add (VA, green)",
        what="Work the customer would gladly pay for because it moves their decision forward: "
        "understanding their problem, showing a solution, building the proposal.",
        why="This is the work to protect and speed up; everything else is a candidate to cut.",
        how="Classified by hand on the map.",
    ),
    Explanation(
        key="necessary_nva",
        label="Necessary non-value-add (NVA, amber)",
        what="Work that adds no value for the customer but cannot be dropped today: "
        "negotiation rounds, approvals, compliance.",
        why="Keep it, but make it as short as possible.",
        how="Classified by hand on the map.",
    ),
    Explanation(
        key="waste",
        label="Waste (W, red)",
        what="Work or waiting that adds no value and is not needed: chasing signatures, "
        "re-keying data, waiting for a slot in someone's calendar.",
        why="Waste is the first target of a kaizen cycle.",
        how="Classified by hand on the map.",
    ),
    Explanation(
        key="motion_waste",
        label="Motion waste (MW)",
        what="People move more than the work needs: switching tools, hunting for documents, "
        "travelling to meetings that could be calls.",
        why="It eats selling time without showing up in any deal's history.",
        how="Not in the event log: recorded by hand on the map (a yes/no per step).",
    ),
    Explanation(
        key="unused_talent",
        label="Unused talent (UT)",
        what="People at this step could do more than they are allowed to: an experienced rep "
        "who may not price a deal, an engineer used as a demo operator.",
        why="Unused skills slow the flow and drive good people away.",
        how="Not in the event log: recorded by hand on the map (a yes/no per step).",
    ),
    Explanation(
        key="activity_ratio",
        label="Activity ratio",
        what="The share of the total lead time that is hands-on work (also called process "
        "cycle efficiency).",
        why="In most sales processes it is a few percent: deals spend almost all of their "
        "time waiting. Raising it means shorter sales cycles with the same people.",
        how="Total process time ÷ total lead time. Empty when the lead time is zero.",
    ),
    Explanation(
        key="total_lead_time",
        label="Total lead time",
        what="How long a deal takes to go through every step of the map, waiting included: "
        "the upper line of the timeline ladder.",
        why="It is the sales cycle the process is built for; the customer waits all of it.",
        how="The sum of the steps' lead times, in map order (planned: the planned lead "
        "times; measured: the median time in each step). Steps without a figure add nothing.",
    ),
    Explanation(
        key="total_process_time",
        label="Total process time",
        what="How much hands-on work one deal needs across every step: the lower line of the "
        "timeline ladder.",
        why="Set against the total lead time it shows how much of the cycle is waiting.",
        how="The sum of the steps' process times (planned: the planned process times; "
        "measured: the median work time of each step).",
    ),
    Explanation(
        key="rolled_pct_complete_accurate",
        label="Rolled %C&A",
        what="The share of deals that go through every step without any rework at all.",
        why="Small losses multiply: five steps at 90 % leave only 59 % of the deals untouched.",
        how="The product of the steps' %C&A (90 % × 80 % × 100 % = 72 %). Steps without a "
        "figure are left out.",
    ),
    Explanation(
        key="takt_time",
        label="Takt time",
        what="The pace the team must win deals at to meet its target: selling hours available "
        "for each won deal.",
        why="If the steps of one deal need more time than the takt, the target cannot be met "
        "with the people at hand.",
        how="Available selling hours in the period ÷ target won deals in the period, both set "
        "on the stream. \u201cNot set\u201d until both are entered.",
    ),
    Explanation(
        key="kaizen_burst",
        label="Kaizen burst",
        what="The spiky star on a process box: an improvement (kaizen) cycle is open on this step.",
        why="It shows where the team is changing the process, so nobody is surprised by new "
        "figures there.",
        how="Drawn on every step with a kaizen cycle that is not closed yet (plan, do, check "
        "or act).",
    ),
    Explanation(
        key="funnel_stage",
        label="Funnel stage",
        what="The band across the top groups consecutive steps into a stage of the funnel: "
        "Lead, Qualified, Solution, Commit.",
        why="Funnel reports count deals per stage; the bands show which steps each stage contains.",
        how="Set on the map: each step belongs to at most one stage, and a stage's steps are "
        "consecutive.",
    ),
    Explanation(
        key="timeline_ladder",
        label="Timeline ladder",
        what="The stepped line under the lanes: for each step, the lead time on the upper "
        "level and the process time on the lower level; the totals are at its right end.",
        why="It shows at a glance how little of the elapsed time is work.",
        how="Planned figures of each step, in map order.",
    ),
    Explanation(
        key="planned_vs_measured",
        label="Planned and measured",
        what="Planned figures are what the manager entered on the map; measured figures come "
        "from what really happened to the deals.",
        why="The gap between the two is where the map is wrong or the process is not followed; "
        "both are worth a conversation.",
        how="Measured figures are read from the latest metrics run over its window (by "
        "default the last 90 days). A figure from fewer than 5 visits is marked with its "
        "sample size (n=…). \u201cNot measured yet\u201d until deals have moved through the "
        "steps and the metrics have run.",
    ),
)

#: Every explanation by key, in the order the help panel shows them.
ALL: dict[str, Explanation] = {item.key: item for item in _ITEMS}

#: The summary box's figures (the ``MapSummary`` field names, used as ``data-figure`` in the
#: SVG) and the explanation of each.
SUMMARY_FIGURES: dict[str, str] = {
    "lead_time_hours": "total_lead_time",
    "process_time_hours": "total_process_time",
    "activity_ratio": "activity_ratio",
    "rolled_pct_complete_accurate": "rolled_pct_complete_accurate",
    "takt_hours": "takt_time",
}

#: The value classes (``ValueClass`` values) and the explanation of each.
VALUE_CLASSES: dict[str, str] = {
    "value_add": "value_add",
    "necessary_nva": "necessary_nva",
    "waste": "waste",
}


def explanation(key: str) -> Explanation:
    """The explanation named ``key``; a ``KeyError`` names a figure nobody explained yet."""
    return ALL[key]
