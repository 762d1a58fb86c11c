"""What happens after a calendar changes: higher apps register a callback here (``funnel``
rewrites the working-time offsets of the visits the calendar covers), ``streams`` never
imports them. The services call :func:`calendar_changed` once the change is committed.

A callback receives the calendar and ``lane_ids``: ``None`` when the calendar itself changed
(every lane on it, by name or as the team's default, is affected), or the ids of the lanes
that moved onto it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from streams.calendars.models import WorkingCalendar


class CalendarChanged(Protocol):
    def __call__(
        self, calendar: WorkingCalendar, *, lane_ids: Collection[int] | None = None
    ) -> None: ...


_callbacks: list[CalendarChanged] = []


def register_calendar_changed(callback: CalendarChanged | Callable[..., None]) -> None:
    if callback not in _callbacks:
        _callbacks.append(callback)


def unregister_calendar_changed(callback: CalendarChanged | Callable[..., None]) -> None:
    if callback in _callbacks:
        _callbacks.remove(callback)


def calendar_changed(calendar: WorkingCalendar, *, lane_ids: Collection[int] | None = None) -> None:
    """Tell every registered callback that ``calendar`` (or its ``lane_ids``) changed."""
    for callback in list(_callbacks):
        callback(calendar, lane_ids=lane_ids)
