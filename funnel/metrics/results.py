"""The figures of metrics.md §2–5 as plain dataclasses, shared by the engine, the snapshot
tables (whose columns have the same names), the API and the dashboards.

Every figure is computed from some sample: completed visits, visits that entered, open
visits, closed deals … Each class's ``SAMPLES`` maps a figure to the field holding the size of
its sample, so each figure can be reported with its ``n`` and ``low_sample`` flag.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import ClassVar

from funnel.metrics.query import LOW_SAMPLE, MetricsQuery


def figure(value: float | int | None, n: int | None) -> dict:
    """One figure with its sample size, as the API and the dashboards show it."""
    return {"value": value, "n": n, "low_sample": n is not None and n < LOW_SAMPLE}


class _Figures:
    SAMPLES: ClassVar[dict[str, str]] = {}

    def figures(self) -> dict[str, dict]:
        return {
            name: figure(getattr(self, name), getattr(self, n)) for name, n in self.SAMPLES.items()
        }

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]  # type: ignore[arg-type]


@dataclass
class StepMetrics(_Figures):
    """metrics.md §2 for one step, plus the step's share of the wastes of §4."""

    step_id: int
    # Sample sizes.
    n_completed: int = 0  # visits that left the step in the window
    n_entered: int = 0  # visits that entered the step in the window
    n_overlap: int = 0  # visits at the step at any moment of the window
    n_open: int = 0  # visits at the step now
    # Time in step of completed visits, hours.
    median_hours: float | None = None
    p85_hours: float | None = None
    p95_hours: float | None = None
    mean_hours: float | None = None
    time_in_step_hours: float = 0.0  # Σ time_in_step
    # Work (logged minutes / 60, else the planned process time) and waiting.
    median_work_hours: float | None = None
    work_hours: float = 0.0  # Σ work_hours
    wait_hours: float = 0.0  # Σ wait_hours = the Waiting waste of this step
    work_logged: int = 0  # completed visits whose work was logged (work_source = "logged")
    flow_efficiency: float | None = None
    # Flow.
    arrivals: int = 0
    throughput_per_week: float | None = None
    wip_now: int = 0
    avg_wip: float | None = None
    littles_law_ratio: float | None = None
    # Quality and losses.
    reentries: int = 0
    pct_complete_accurate: float | None = None  # a fraction, 0–1
    lost: int = 0  # deals lost while at the step
    loss_rate: float | None = None
    stalled: int = 0
    stalled_amount: float = 0.0
    stall_threshold_hours: float | None = None  # p85, or the planned lead time unmeasured
    step_takt_hours: float | None = None
    # Wastes (§4) at this step.
    defects_hours: float = 0.0  # Σ time_in_step of completed re-entry visits
    handoffs: int = 0  # visits that entered from a step of another lane
    extra_processing_hours: float = 0.0  # Σ time_in_step when the step is classed waste
    overproduction_hours: float = 0.0  # Σ work_hours of deals lost in the window
    # Money, where the lane's hourly cost is set: the work hours spent in the waste × cost.
    defects_cost: float | None = None
    extra_processing_cost: float | None = None
    overproduction_cost: float | None = None

    SAMPLES: ClassVar[dict[str, str]] = {
        "median_hours": "n_completed",
        "p85_hours": "n_completed",
        "p95_hours": "n_completed",
        "mean_hours": "n_completed",
        "median_work_hours": "n_completed",
        "work_hours": "n_completed",
        "wait_hours": "n_completed",
        "flow_efficiency": "n_completed",
        "throughput_per_week": "n_completed",
        "loss_rate": "n_completed",
        "arrivals": "n_entered",
        "reentries": "n_entered",
        "pct_complete_accurate": "n_entered",
        "handoffs": "n_entered",
        "avg_wip": "n_overlap",
        "littles_law_ratio": "n_completed",
        "wip_now": "n_open",
        "stalled": "n_open",
        "step_takt_hours": "n_completed",
    }

    @property
    def work_source(self) -> str:
        """Where the work hours came from: "logged", "planned" or "mixed" ("none" without
        completed visits)."""
        if self.n_completed == 0:
            return "none"
        if self.work_logged == self.n_completed:
            return "logged"
        return "planned" if self.work_logged == 0 else "mixed"


@dataclass
class StreamSummary(_Figures):
    """metrics.md §3: the measured summary box and the deal outcomes of the window."""

    n_ladder: int = 0  # fewest completed visits of any step on the ladder
    n_entered_min: int = 0  # fewest entering visits of any step (for the rolled %C&A)
    lead_time_hours: float | None = None
    process_time_hours: float | None = None
    activity_ratio: float | None = None
    rolled_pct_complete_accurate: float | None = None  # a fraction, 0–1
    won: int = 0
    lost: int = 0
    closed: int = 0  # won + lost: the win rate's denominator
    win_rate: float | None = None
    #: Whether the map has a ready-for-sales (pull) hand-off (docs/metrics.md §3). With one:
    #: the closed deals that reached selling (won, or lost after a visit at a step past the
    #: hand-off), the leads lost before it, and won ÷ the former; 0, 0 and None without.
    handoff: bool = False
    selling_closed: int = 0
    leads_lost: int = 0
    selling_win_rate: float | None = None
    sales_cycle_days: float | None = None
    won_with_amount: int = 0
    mean_won_amount: float | None = None
    open_deals: int = 0
    #: With a ready-for-sales hand-off on the map: the open deals at a step after it now.
    open_past_handoff: int = 0
    pipeline_velocity_per_day: float | None = None
    takt_hours: float | None = None
    #: The hours of a day in this result's basis: 24 in elapsed time; in working time, the
    #: working hours of a working day of the team's default calendar (the ``_days`` figures'
    #: unit; metrics.md "Working time").
    day_hours: float = 24.0

    SAMPLES: ClassVar[dict[str, str]] = {
        "lead_time_hours": "n_ladder",
        "process_time_hours": "n_ladder",
        "activity_ratio": "n_ladder",
        "rolled_pct_complete_accurate": "n_entered_min",
        "win_rate": "closed",
        "selling_win_rate": "selling_closed",
        "sales_cycle_days": "won",
        "mean_won_amount": "won_with_amount",
        "pipeline_velocity_per_day": "closed",
        "open_deals": "open_deals",
    }

    @property
    def deals_win_rate(self) -> float | None:
        """The win rate the dashboards and the cockpit show as "Win rate": of the deals past
        the ready-for-sales hand-off where the map has one, else of every closed deal."""
        return self.selling_win_rate if self.handoff else self.win_rate

    @property
    def deals_closed(self) -> int:
        """The closed deals behind :attr:`deals_win_rate`."""
        return self.selling_closed if self.handoff else self.closed


@dataclass
class Waste(_Figures):
    """metrics.md §4 for the whole stream (the sums of the steps' shares)."""

    waiting_hours: float = 0.0
    waiting_visits: int = 0
    defects_hours: float = 0.0
    defects_count: int = 0  # re-entries
    inventory_count: int = 0  # stalled open visits
    inventory_amount: float = 0.0
    open_visits: int = 0
    transport_handoffs: int = 0
    transport_deals: int = 0  # deals with a visit entering in the window
    transport_per_deal: float | None = None
    extra_processing_hours: float = 0.0
    extra_processing_visits: int = 0
    overproduction_hours: float = 0.0
    overproduction_deals: int = 0  # deals lost in the window
    defects_cost: float | None = None
    extra_processing_cost: float | None = None
    overproduction_cost: float | None = None
    motion_steps: list[int] = field(default_factory=list)  # recorded by hand on the map
    unused_talent_steps: list[int] = field(default_factory=list)

    SAMPLES: ClassVar[dict[str, str]] = {
        "waiting_hours": "waiting_visits",
        "defects_hours": "defects_count",
        "defects_count": "defects_count",
        "inventory_count": "open_visits",
        "inventory_amount": "open_visits",
        "transport_handoffs": "transport_deals",
        "transport_per_deal": "transport_deals",
        "extra_processing_hours": "extra_processing_visits",
        "overproduction_hours": "overproduction_deals",
    }


@dataclass
class StageMetrics(_Figures):
    """metrics.md §5 for one funnel stage, over the window's cohort."""

    stage_id: int
    reached: int = 0
    conversion: float | None = None
    cumulative_conversion: float | None = None
    drop_off: float | None = None
    n_left: int = 0  # cohort deals that left the stage
    median_days_in_stage: float | None = None
    n_first: int = 0  # reached(first stage): the cumulative conversion's denominator

    SAMPLES: ClassVar[dict[str, str]] = {
        "reached": "reached",
        "conversion": "reached",
        "drop_off": "reached",
        "cumulative_conversion": "n_first",
        "median_days_in_stage": "n_left",
    }


@dataclass
class MetricsResult:
    """Everything computed for one query, as stored in a snapshot and served by the API."""

    query: MetricsQuery
    window_start: datetime
    window_end: datetime
    computed_at: datetime
    steps: list[StepMetrics]  # in map order
    summary: StreamSummary
    waste: Waste
    stages: list[StageMetrics]  # in funnel order
    cohort_deals: int = 0
    cohort_won: int = 0
    now_at: datetime | None = None  # when the figures that depend on "now" were computed
    stale: bool = False  # visits changed since; a recompute is queued

    def step(self, step_id: int) -> StepMetrics | None:
        return next((s for s in self.steps if s.step_id == step_id), None)

    def as_plain(self) -> dict:
        """Plain values (no sample wrapping), for storage and tests."""
        return {
            "steps": [asdict(s) for s in self.steps],
            "summary": asdict(self.summary),
            "waste": asdict(self.waste),
            "stages": [asdict(s) for s in self.stages],
        }
