"""What happens after a calendar changes: higher apps register a callback here (``funnel``
rewrites the working-time offsets of the visits the calendar covers), ``streams`` never
imports them. The services call :func:`calendar_changed` once the change is committed.

A callback receives the calendar and ``lane_ids``: ``None`` when the calendar itself changed
(every lane on it, by name or as the team's default, is affected), or the ids of the lanes
that moved onto it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from streams.calendars.models import WorkingCalendar
from streams.hooks import Providers


class CalendarChanged(Protocol):
    def __call__(
        self, calendar: WorkingCalendar, *, lane_ids: Collection[int] | None = None
    ) -> None: ...


_callbacks: Providers[CalendarChanged] = Providers()

register_calendar_changed = _callbacks.register
unregister_calendar_changed = _callbacks.unregister


def calendar_changed(calendar: WorkingCalendar, *, lane_ids: Collection[int] | None = None) -> None:
    """Tell every registered callback that ``calendar`` (or its ``lane_ids``) changed."""
    for callback in _callbacks:
        callback(calendar, lane_ids=lane_ids)
