"""The value stream summary box (metrics.md §3), as pure functions over plain figures.

The same function serves the planned map (figures the manager entered) and the measured map
(figures the metrics engine stores in snapshots), so both boxes are computed one way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StepFigures:
    """One process box's figures: planned (from the map) or measured (from a snapshot)."""

    process_hours: float | None  # PT: hands-on work per deal (measured: median work_hours)
    lead_hours: float | None  # LT: elapsed time per deal (measured: median_hours)
    pct_complete_accurate: float | None  # %C&A, 0–100
    wip: float | None  # planned WIP, or measured wip_now
    n: int | None = None  # sample size behind measured figures; None for planned ones
    low_sample: bool = False  # measured from fewer than 5 items (metrics.md conventions)


@dataclass(frozen=True)
class MapSummary:
    lead_time_hours: float
    process_time_hours: float
    activity_ratio: float | None  # PT / LT; None when the lead time is zero
    rolled_pct_complete_accurate: float | None  # Π %C&A, in percent; None for an empty map
    takt_hours: float | None  # available hours / target won deals; None when either is unset
    steps: int


@dataclass(frozen=True)
class MeasuredMap:
    """What the metrics engine measured for a stream's steps over one window."""

    computed_at: datetime
    window_start: datetime
    window_end: datetime
    steps: dict[int, StepFigures]  # by step id; a step without data is absent
    summary: MapSummary | None
    #: The time the durations are in: "elapsed" (lead times in calendar days) or "working"
    #: (working hours of the team's calendars; docs/metrics.md "Working time").
    basis: str = "elapsed"

    @property
    def working(self) -> bool:
        return self.basis == "working"


def map_summary(
    steps: Sequence[StepFigures],
    *,
    available_hours: float | None,
    target_wins: int | None,
) -> MapSummary:
    """metrics.md §3, in map order: lead time = Σ LT, process time = Σ PT, activity ratio =
    PT / LT, rolled %C&A = Π %C&A, takt = available hours / target won deals.

    A step whose figure is unknown (None) adds nothing to a sum and is left out of the product.
    """
    lead = math.fsum(s.lead_hours for s in steps if s.lead_hours is not None)
    process = math.fsum(s.process_hours for s in steps if s.process_hours is not None)
    known_ca = [s.pct_complete_accurate for s in steps if s.pct_complete_accurate is not None]
    rolled = 100 * math.prod(pct / 100 for pct in known_ca) if known_ca else None
    return MapSummary(
        lead_time_hours=lead,
        process_time_hours=process,
        activity_ratio=process / lead if lead > 0 else None,
        rolled_pct_complete_accurate=rolled,
        takt_hours=available_hours / target_wins if available_hours and target_wins else None,
        steps=len(steps),
    )
