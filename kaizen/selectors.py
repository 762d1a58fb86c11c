"""Reads of kaizen cycles."""

from __future__ import annotations

from kaizen.models import KaizenCycle, Phase
from streams.models import ValueStream


def open_cycle_step_ids(stream: ValueStream) -> set[int]:
    """Steps of ``stream`` with an open (not closed) kaizen cycle: the map's kaizen bursts."""
    return set(
        KaizenCycle.objects.filter(stream=stream, step__isnull=False)
        .exclude(phase=Phase.CLOSED)
        .values_list("step_id", flat=True)
    )
