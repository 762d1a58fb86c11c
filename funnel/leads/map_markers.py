"""The waterfall's hand-off points drawn on the map: a pill on each hand-off step's box
naming the stage a lead reaches when it arrives there (registered with
``streams.hooks.register_step_markers`` in ``funnel.apps``)."""

from __future__ import annotations

from funnel.leads.models import Handoff
from streams.models import ValueStream

#: The pill holds a few letters; a longer stage name is cut and given whole in the tooltip.
SYMBOL_LETTERS = 4


def _hours(minutes: int) -> str:
    hours = minutes / 60
    return f"{hours:g} working hours" if hours < 8 or hours % 8 else f"{hours / 8:g} working days"


def handoff_markers(stream: ValueStream) -> dict[int, list[tuple[str, str]]]:
    """Per hand-off step: (the offered stage, cut to fit; what happens there)."""
    markers: dict[int, list[tuple[str, str]]] = {}
    for handoff in Handoff.objects.filter(stream=stream).order_by("position"):
        parts = [
            f"Hand-off: leads arrive here as {handoff.offered_stage}, from "
            f"{handoff.get_giver_display()} to {handoff.get_receiver_display()}."
        ]
        if handoff.accepted_stage:
            parts.append(f"Accepted, they become {handoff.accepted_stage}.")
        if handoff.sla_minutes:
            parts.append(f"SLA: accept or turn down within {_hours(handoff.sla_minutes)}.")
        if handoff.pull:
            parts.append("Sellers pull from here (the ready-for-sales queue).")
        symbol = handoff.offered_stage[:SYMBOL_LETTERS]
        markers.setdefault(handoff.step_id, []).append((symbol, " ".join(parts)))
    return markers
