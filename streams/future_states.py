"""Future states of a current-state map: one linked future state per map, opened rather than
copied again; a second one drawn only on purpose, under a name of its own; and drawing under a
free name (" (2)", " (3)" …) where a name is taken. A future state drawn without a name is
called "<current state's name> — future state", so the two never share a name on a page."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from streams.models import StreamState, Team, ValueStream
from streams.services import LaneSpec, StageSpec, StepSpec, stream_create

#: Added to the current state's name to name its future state by default.
FUTURE_STATE_SUFFIX = " — future state"


def future_state_default_name(stream: ValueStream) -> str:
    """``New business — future state``: the current state's name, cut to leave room for the
    suffix within the name column."""
    max_length = ValueStream._meta.get_field("name").max_length
    room = max_length - len(FUTURE_STATE_SUFFIX)
    return stream.name[:room].rstrip() + FUTURE_STATE_SUFFIX


@transaction.atomic
def stream_draw_future_state(*, stream: ValueStream, name: str | None = None) -> ValueStream:
    """Copy a current-state map (lanes, stages, steps, targets) into a linked future state,
    called ``name`` (default: :func:`future_state_default_name`)."""
    if stream.state != StreamState.CURRENT:
        raise ValidationError({"stream": "A future state is drawn from a current-state map."})
    steps = list(stream.steps.select_related("lane", "stage"))
    return stream_create(
        team=stream.team,
        name=name or future_state_default_name(stream),
        description=stream.description,
        state=StreamState.FUTURE,
        drawn_from=stream,
        period_days=stream.period_days,
        target_won_deals_per_period=stream.target_won_deals_per_period,
        available_selling_hours_per_period=stream.available_selling_hours_per_period,
        currency=stream.currency,
        lanes=[LaneSpec(lane.name, lane.hourly_cost) for lane in stream.lanes.all()],
        steps=[
            StepSpec(
                name=s.name,
                lane=s.lane.name,
                value_class=s.value_class,
                planned_process_hours=s.planned_process_hours,
                planned_lead_hours=s.planned_lead_hours,
                planned_pct_complete_accurate=s.planned_pct_complete_accurate,
                planned_wip=s.planned_wip,
                notes=s.notes,
                motion_waste=s.motion_waste,
                unused_talent=s.unused_talent,
            )
            for s in steps
        ],
        stages=[
            StageSpec(stage.name, [s.name for s in steps if s.stage_id == stage.id])
            for stage in stream.stages.all()
        ],
    )


# --- Drawing a future state under a free name ---------------------------------------------


def _free_stream_name(team: Team, base: str, state: str) -> str:
    """``base``, or else ``base (2)``, ``base (3)`` …: the first name that no stream of
    ``team`` in ``state`` has, cut to fit the name column."""
    max_length = ValueStream._meta.get_field("name").max_length
    taken = set(ValueStream.objects.filter(team=team, state=state).values_list("name", flat=True))
    candidate, n = base[:max_length], 2
    while candidate in taken:
        suffix = f" ({n})"
        candidate = base[: max_length - len(suffix)].rstrip() + suffix
        n += 1
    return candidate


@transaction.atomic
def stream_draw_future_state_with_free_name(
    *, stream: ValueStream, name: str | None = None
) -> ValueStream:
    """:func:`stream_draw_future_state`, except that when the team already has a future state
    called ``name`` (default: :func:`future_state_default_name`) the copy is called "name (2)",
    "name (3)" … instead of being refused.

    The team row is locked first, so two managers drawing at the same moment get two names
    rather than one of them a database error.
    """
    Team.objects.select_for_update().filter(pk=stream.team_id).first()
    base = (name or "").strip() or future_state_default_name(stream)
    return stream_draw_future_state(
        stream=stream, name=_free_stream_name(stream.team, base, StreamState.FUTURE)
    )


# --- One linked future state per current map ------------------------------------------------


@transaction.atomic
def stream_future_state_open(
    *, stream: ValueStream, name: str | None = None
) -> tuple[ValueStream, bool]:
    """The future state of a current-state map: the linked one it already has (the latest,
    should there be several), else a new one drawn under ``name`` (default:
    :func:`future_state_default_name`, made free with " (2)" … as
    :func:`stream_draw_future_state_with_free_name` does). Returns
    ``(future, drawn)``. A second future state is never drawn by accident: that is
    :func:`stream_draw_another_future_state`, with its own name."""
    Team.objects.select_for_update().filter(pk=stream.team_id).first()
    existing = stream.future_states.order_by("-created_at").first()
    if existing is not None:
        return existing, False
    return stream_draw_future_state_with_free_name(stream=stream, name=name), True


@transaction.atomic
def stream_draw_another_future_state(*, stream: ValueStream, name: str) -> ValueStream:
    """Draw one more future state of ``stream`` on purpose, beside the one it has: it needs a
    name of its own, which no future state of the team carries."""
    Team.objects.select_for_update().filter(pk=stream.team_id).first()
    name = (name or "").strip()
    max_length = ValueStream._meta.get_field("name").max_length
    if not name:
        raise ValidationError({"name": "Give the new future state a name of its own."})
    if len(name) > max_length:
        raise ValidationError({"name": f"Keep the name within {max_length} characters."})
    if ValueStream.objects.filter(team=stream.team, state=StreamState.FUTURE, name=name).exists():
        raise ValidationError(
            {"name": f"The team already has a future state called “{name}”: choose another name."}
        )
    return stream_draw_future_state(stream=stream, name=name)
