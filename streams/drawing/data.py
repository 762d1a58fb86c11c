"""The map read from the database into plain values (layer 1 of the drawing): lanes,
stages, steps with their planned and measured figures, the kaizen bursts and the planned
summary box."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from streams.hooks import burst_step_ids, measured_map, step_markers
from streams.metrics import MapSummary, MeasuredMap, StepFigures
from streams.models import StreamState, ValueStream
from streams.selectors import planned_figures, planned_summary


@dataclass(frozen=True)
class VsmLane:
    id: int
    name: str
    position: int
    hourly_cost: Decimal | None = None


@dataclass(frozen=True)
class VsmStage:
    id: int
    name: str
    position: int


@dataclass(frozen=True)
class VsmStep:
    id: int
    position: int
    name: str
    lane_id: int
    stage_id: int | None
    value_class: str
    planned: StepFigures
    motion_waste: bool = False
    unused_talent: bool = False
    notes: str = ""


@dataclass(frozen=True)
class VsmMap:
    """Everything the drawing shows, as plain values (no model instances)."""

    stream_id: int | None
    name: str
    state: str  # StreamState value
    currency: str
    lanes: tuple[VsmLane, ...]  # in position order
    stages: tuple[VsmStage, ...]  # in position order
    steps: tuple[VsmStep, ...]  # in map order
    planned_summary: MapSummary
    measured: MeasuredMap | None = None
    burst_step_ids: frozenset[int] = frozenset()
    #: Per step id, (symbol, tooltip) pills from ``streams.hooks.step_markers``.
    step_markers: Mapping[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @property
    def state_label(self) -> str:
        return StreamState(self.state).label if self.state in StreamState.values else self.state


def vsm_map_data(stream: ValueStream, basis: str | None = None) -> VsmMap:
    """Read ``stream``'s map for drawing: two queries for lanes and steps (stages come with
    the steps), plus whatever the measures and bursts providers run (one or two each)."""
    lanes = tuple(
        VsmLane(id=lane.id, name=lane.name, position=lane.position, hourly_cost=lane.hourly_cost)
        for lane in stream.lanes.order_by("position")
    )
    rows = list(stream.steps.select_related("stage").order_by("position"))
    stages: dict[int, VsmStage] = {}
    steps: list[VsmStep] = []
    for row in rows:
        if row.stage is not None:
            stages.setdefault(
                row.stage.id,
                VsmStage(id=row.stage.id, name=row.stage.name, position=row.stage.position),
            )
        steps.append(
            VsmStep(
                id=row.id,
                position=row.position,
                name=row.name,
                lane_id=row.lane_id,
                stage_id=row.stage_id,
                value_class=row.value_class,
                planned=planned_figures(row),
                motion_waste=row.motion_waste,
                unused_talent=row.unused_talent,
                notes=row.notes,
            )
        )
    return VsmMap(
        stream_id=stream.id,
        name=stream.name,
        state=stream.state,
        currency=stream.currency,
        lanes=lanes,
        stages=tuple(sorted(stages.values(), key=lambda s: s.position)),
        steps=tuple(steps),
        planned_summary=planned_summary(stream, rows),
        measured=measured_map(stream, basis),
        burst_step_ids=frozenset(burst_step_ids(stream)),
        step_markers={k: tuple(v) for k, v in step_markers(stream).items()},
    )
