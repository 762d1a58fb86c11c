"""Reads of working calendars, and who may change them.

Every member of a team sees its calendars; the team's managers (and Django staff) change
them. Another team's calendars answer 404.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import lru_cache

from django.db.models import Q, QuerySet

from streams.calendars.models import WorkingCalendar
from streams.calendars.working_time import DayPlan, WorkingClock
from streams.models import Job, JobState, Lane, Role, Team, ValueStream
from streams.selectors import User, role_in_team, teams_visible_to

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def calendar_can_edit(*, user: User, team: Team) -> bool:
    """Managers of the team and admins edit its calendars; reps and leadership read them."""
    if not user.is_authenticated:
        return False
    return user.is_staff or role_in_team(user, team.pk) == Role.MANAGER


def calendars_visible_to(user: User) -> QuerySet[WorkingCalendar]:
    return WorkingCalendar.objects.filter(team__in=teams_visible_to(user)).select_related("team")


def team_default_calendar(team_id: int) -> WorkingCalendar | None:
    return WorkingCalendar.objects.filter(team_id=team_id, is_default=True).first()


def lane_calendar(lane: Lane) -> WorkingCalendar | None:
    """The calendar a lane works on: its own, else its team's default (None: no calendar)."""
    if lane.calendar_id is not None:
        return lane.calendar
    return team_default_calendar(lane.stream.team_id)


def calendar_lanes(calendar: WorkingCalendar) -> QuerySet[Lane]:
    """The lanes that work on ``calendar``: by name, or (the default) by naming none."""
    on_it = Q(calendar=calendar)
    if calendar.is_default:
        on_it |= Q(calendar__isnull=True, stream__team_id=calendar.team_id)
    return Lane.objects.filter(on_it).select_related("stream").order_by("stream__name", "position")


def team_lanes(team_id: int) -> QuerySet[Lane]:
    return (
        Lane.objects.filter(stream__team_id=team_id)
        .select_related("stream", "calendar")
        .order_by("stream__name", "position")
    )


# --- Rewrites of working-time offsets ---------------------------------------------------------

#: The ``Job.kind`` of rewriting a stream's working-time offsets after a calendar changed
#: (``funnel.eventlog.working`` queues it; the calendar pages show its progress).
WORKING_TIME_JOB = "working time"


def working_time_rewrites(
    team_id: int, *, stream_id: int | None = None
) -> list[tuple[Job, ValueStream]]:
    """The rewrites of the team's streams (or of one stream) that are queued or running,
    each with its stream."""
    jobs = Job.objects.filter(
        team_id=team_id,
        kind=WORKING_TIME_JOB,
        state__in=(JobState.QUEUED, JobState.RUNNING),
    ).order_by("pk")
    if stream_id is not None:
        jobs = jobs.filter(params__stream=stream_id)
    jobs = list(jobs)
    streams = ValueStream.objects.in_bulk({job.params.get("stream") for job in jobs})
    return [
        (job, streams[job.params["stream"]]) for job in jobs if job.params.get("stream") in streams
    ]


# --- The clock of a calendar ------------------------------------------------------------------

_clocks: dict[tuple, WorkingClock] = {}


def clock_for(calendar: WorkingCalendar) -> WorkingClock:
    """The :class:`WorkingClock` of ``calendar`` as saved (kept while its version stands;
    ``updated_at`` too, for a database whose ids start again, as the tests' do)."""
    key = (calendar.pk, calendar.version, calendar.updated_at)
    clock = _clocks.get(key)
    if clock is None:
        if len(_clocks) > 64:
            _clocks.clear()
        clock = _clocks[key] = WorkingClock.from_calendar(calendar)
    return clock


def coming_weeks(calendar: WorkingCalendar, *, start: date, weeks: int) -> list[list[DayPlan]]:
    """The ``weeks`` weeks from the Monday of ``start``: each day's working segments (wall
    clock) and its holiday and closures, so a mistake is visible before it counts."""
    clock = clock_for(calendar)
    monday = start - timedelta(days=start.weekday())
    return [
        [clock.day_plan(monday + timedelta(days=7 * week + day)) for day in range(7)]
        for week in range(weeks)
    ]


# --- Countries and subdivisions of the holidays package ---------------------------------------


def _spaced(class_name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", class_name)


@lru_cache(maxsize=1)
def holiday_countries() -> dict[str, tuple[str, dict[str, str]]]:
    """ISO code → (country name, {subdivision code: name}) for every country ``holidays``
    knows."""
    import holidays

    out = {}
    for code, subdivisions in holidays.list_supported_countries(include_aliases=False).items():
        cls = getattr(holidays, code)
        base = next((c for c in cls.__mro__[1:] if c.__name__ != code), cls)
        names = {v: k for k, v in getattr(cls, "subdivisions_aliases", {}).items()}
        out[code] = (
            _spaced(base.__name__),
            {sub: names.get(sub, sub) for sub in subdivisions},
        )
    return out


def country_choices() -> list[tuple[str, str]]:
    countries = holiday_countries()
    named = sorted((f"{name} ({code})", code) for code, (name, _) in countries.items())
    return [("", "No public holidays"), *((code, label) for label, code in named)]


def subdivision_choices() -> list[tuple[str, object]]:
    """The subdivisions of every country, grouped by country, as ISO 3166-2 codes
    (``DE-BY``): one select, whose value names its country too."""
    choices: list[tuple[str, object]] = [("", "The whole country")]
    for code, (name, subdivisions) in sorted(holiday_countries().items(), key=lambda c: c[1][0]):
        if subdivisions:
            choices.append(
                (
                    name,
                    [
                        (f"{code}-{sub}", label if label == sub else f"{label} ({sub})")
                        for sub, label in subdivisions.items()
                    ],
                )
            )
    return choices
