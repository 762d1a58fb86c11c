"""Working-time offsets written straight from the calendars, for tests of what reads them.

The writers of ``funnel.eventlog.working`` store W(t) on every visit and deal; a test of the
metrics fills them here instead, with the same definition (``WorkingClock.offsets`` of the
visit's lane's calendar, else the team's default; the team's default for a deal), so the
metrics tests do not depend on the writers.
"""

from __future__ import annotations

from streams.calendars.selectors import team_default_calendar
from streams.calendars.working_time import WorkingClock
from streams.models import ValueStream


def fill_offsets(stream: ValueStream) -> None:
    """Write ``entered_w``/``exited_w`` of the stream's visits and ``first_entered_w``/
    ``closed_w`` of its deals from the calendars as saved (NULL without a calendar)."""
    from funnel.models import Deal, Visit  # funnel is above streams; tests import both

    default = team_default_calendar(stream.team_id)
    clocks = {None: WorkingClock.from_calendar(default) if default is not None else None}
    calendar_of = {}
    for lane in stream.lanes.select_related("calendar"):
        calendar = lane.calendar or default
        calendar_of[lane.pk] = calendar.pk if calendar is not None else None
        if calendar is not None and calendar.pk not in clocks:
            clocks[calendar.pk] = WorkingClock.from_calendar(calendar)

    def w(clock: WorkingClock | None, moment) -> int | None:
        return None if clock is None or moment is None else int(clock.w(moment))

    visits = list(Visit.objects.filter(step__stream=stream).select_related("step"))
    for visit in visits:
        clock = clocks.get(calendar_of.get(visit.step.lane_id))
        visit.entered_w, visit.exited_w = w(clock, visit.entered_at), w(clock, visit.exited_at)
    Visit.objects.bulk_update(visits, ["entered_w", "exited_w"])
    deals = list(Deal.objects.filter(stream=stream))
    for deal in deals:
        deal.first_entered_w = w(clocks[None], deal.first_entered_at)
        deal.closed_w = w(clocks[None], deal.closed_at)
    Deal.objects.bulk_update(deals, ["first_entered_w", "closed_w"])
    _record_signature(stream)


def _record_signature(stream: ValueStream) -> None:
    """Record, as the writers do, which calendars the offsets are of: not owed any more."""
    from funnel.eventlog.working import calendar_signature
    from funnel.models import MetricsState

    MetricsState.objects.update_or_create(
        stream_id=stream.pk, defaults={"offsets_signature": calendar_signature(stream)}
    )
