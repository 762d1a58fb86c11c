"""Writes to working calendars: create, update, delete, add and remove closures, and choose a
lane's calendar. Each checks the acting user's right (``PermissionDenied``: the team's
managers and staff), validates everything at once and raises ``ValidationError({field:
reason})``, then writes in one transaction, bumps the calendar's ``version`` and, once
committed, calls :func:`streams.calendars.hooks.calendar_changed`.

Rules: a name unique in the team; a known IANA zone; a country and subdivision the
``holidays`` package knows; working hours on at least one day, each span ending after it
starts and no two overlapping on a day; closures within 1970–2100 and at most a year long,
a part-day closure on one day with its end after its start. A team has at most one default
calendar (its first one becomes the default; choosing another default moves the flag).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, time
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from streams.calendars.hooks import calendar_changed
from streams.calendars.models import FIRST_YEAR, LAST_YEAR, Closure, WorkingCalendar, WorkingSpan
from streams.calendars.selectors import (
    WEEKDAYS,
    calendar_can_edit,
    calendar_lanes,
    holiday_countries,
)
from streams.calendars.working_time import ClosureSpec, SpanSpec
from streams.models import Lane, Team
from streams.people.selectors import available_time_zones
from streams.selectors import User

EDIT_REFUSED = "Only the team's managers change its working calendars."
#: A closure longer than this is a typing mistake (a shutdown is weeks, not years).
MAX_CLOSURE_DAYS = 366
MAX_NAME = 80


@dataclass(frozen=True)
class CalendarSpec:
    """Everything a calendar holds but its team: what the pages and the API send."""

    name: str
    time_zone: str
    spans: Sequence[SpanSpec]
    country: str = ""
    subdivision: str = ""
    is_default: bool = False
    closures: Sequence[ClosureSpec] = ()

    @classmethod
    def of(
        cls, data: Mapping[str, Any], spans: Sequence[SpanSpec], closures: Sequence = ()
    ) -> CalendarSpec:
        """From a form's or a serializer's cleaned ``data`` (its calendar fields)."""
        return cls(
            name=data["name"],
            time_zone=data["time_zone"],
            country=data["country"],
            subdivision=data["subdivision"],
            is_default=data["is_default"],
            spans=spans,
            closures=[ClosureSpec.of(c) for c in closures],
        )


def _require_edit(by: User, team: Team) -> None:
    if not calendar_can_edit(user=by, team=team):
        raise PermissionDenied(EDIT_REFUSED)


def weekday_key(weekday: int) -> str:
    """The error key of one weekday's spans: ``spans.monday`` … ``spans.sunday``."""
    return f"spans.{WEEKDAYS[weekday].lower()}"


def _hm(value) -> str:
    return value.strftime("%H:%M")


def _check_spans(spans: Sequence[SpanSpec], errors: dict[str, str]) -> None:
    by_day: dict[int, list[SpanSpec]] = {}
    for span in spans:
        if not isinstance(span.weekday, int) or not 0 <= span.weekday <= 6:
            errors["spans"] = f"A weekday is 0 (Monday) to 6 (Sunday), not {span.weekday!r}."
            continue
        by_day.setdefault(span.weekday, []).append(span)
    for weekday, day_spans in sorted(by_day.items()):
        key, day = weekday_key(weekday), WEEKDAYS[weekday]
        for span in day_spans:
            if span.end <= span.start:
                errors[key] = (
                    f"{day}: the span {_hm(span.start)}–{_hm(span.end)} ends before it starts "
                    "(a span ends on the day it starts, by 23:59)."
                )
                break
        else:
            ordered = sorted(day_spans, key=lambda s: s.start)
            for first, second in pairwise(ordered):
                if second.start < first.end:
                    errors[key] = (
                        f"{day}: {_hm(first.start)}–{_hm(first.end)} and "
                        f"{_hm(second.start)}–{_hm(second.end)} overlap; make them one span or "
                        "separate them."
                    )
                    break
    if not spans and "spans" not in errors:
        errors["spans"] = (
            "Weekly hours: a calendar needs working hours on at least one day; without them "
            "no time would ever count as working time."
        )


def check_closure(spec: ClosureSpec, errors: dict[str, str], prefix: str = "") -> None:
    """The rules of one closure; error keys are its fields, after ``prefix``."""
    if not spec.label.strip():
        errors[f"{prefix}label"] = "Name the closure, e.g. “Company shutdown”."
    elif len(spec.label.strip()) > MAX_NAME:
        errors[f"{prefix}label"] = f"At most {MAX_NAME} characters."
    for name in ("start_date", "end_date"):
        day: date = getattr(spec, name)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            errors[f"{prefix}{name}"] = (
                f"{day.isoformat()} is outside {FIRST_YEAR}–{LAST_YEAR}; check the year."
            )
    if f"{prefix}start_date" in errors or f"{prefix}end_date" in errors:
        return
    if spec.end_date < spec.start_date:
        errors[f"{prefix}end_date"] = "The closure ends before it starts."
    elif (spec.end_date - spec.start_date).days + 1 > MAX_CLOSURE_DAYS:
        errors[f"{prefix}end_date"] = (
            f"A closure lasts at most a year ({MAX_CLOSURE_DAYS} days); check the dates."
        )
    if (spec.start_time is None) != (spec.end_time is None):
        missing = "end_time" if spec.end_time is None else "start_time"
        errors[f"{prefix}{missing}"] = (
            "A part-day closure needs both a start and an end time; leave both empty to close "
            "whole days."
        )
    elif spec.start_time is not None:
        if spec.end_time <= spec.start_time:
            errors[f"{prefix}end_time"] = "The closure ends before it starts on that day."
        if spec.end_date != spec.start_date:
            errors[f"{prefix}end_date"] = (
                "A part-day closure is on one day: the same start and end date."
            )


def _check(team: Team, spec: CalendarSpec, errors: dict[str, str], exclude: int | None) -> None:
    name = spec.name.strip()
    if not name:
        errors["name"] = "A calendar needs a name, e.g. “Berlin office”."
    elif len(name) > MAX_NAME:
        errors["name"] = f"At most {MAX_NAME} characters."
    elif WorkingCalendar.objects.filter(team=team, name__iexact=name).exclude(pk=exclude).exists():
        errors["name"] = f"{team.name} already has a calendar named “{name}”."
    if spec.time_zone not in available_time_zones():
        errors["time_zone"] = (
            f"“{spec.time_zone}” is not a time zone name; use an IANA name such as Europe/Berlin."
        )
    countries = holiday_countries()
    if spec.country and spec.country not in countries:
        errors["country"] = (
            f"“{spec.country}” is not a country whose holidays are known; use an ISO code "
            "such as DE or US."
        )
    elif spec.subdivision:
        if not spec.country:
            errors["subdivision"] = "A subdivision needs its country."
        elif spec.subdivision not in countries[spec.country][1]:
            known = ", ".join(list(countries[spec.country][1])[:12])
            errors["subdivision"] = (
                f"“{spec.subdivision}” is not a subdivision of {countries[spec.country][0]}"
                + (f"; known: {known}…" if known else " (it has none)")
                + "."
            )
    _check_spans(spec.spans, errors)
    for i, closure in enumerate(spec.closures):
        check_closure(closure, errors, prefix=f"closures.{i}.")


def _write_spans(calendar: WorkingCalendar, spans: Iterable[SpanSpec]) -> None:
    calendar.spans.all().delete()
    WorkingSpan.objects.bulk_create(
        WorkingSpan(calendar=calendar, weekday=s.weekday, start=s.start, end=s.end) for s in spans
    )


def _closure_row(calendar: WorkingCalendar, spec: ClosureSpec) -> Closure:
    return Closure(
        calendar=calendar,
        start_date=spec.start_date,
        end_date=spec.end_date,
        start_time=spec.start_time,
        end_time=spec.end_time,
        label=spec.label.strip(),
    )


def _make_default(calendar: WorkingCalendar) -> None:
    WorkingCalendar.objects.filter(team_id=calendar.team_id, is_default=True).exclude(
        pk=calendar.pk
    ).update(is_default=False, version=F("version") + 1)


def _changed(calendar: WorkingCalendar, lane_ids: Iterable[int] | None = None) -> None:
    ids = None if lane_ids is None else list(lane_ids)
    transaction.on_commit(lambda: calendar_changed(calendar, lane_ids=ids))


@transaction.atomic
def calendar_create(*, team: Team, by: User, spec: CalendarSpec) -> WorkingCalendar:
    """A new calendar of ``team``; the team's first one is its default."""
    _require_edit(by, team)
    return _create(team, spec)


def _create(team: Team, spec: CalendarSpec) -> WorkingCalendar:
    # The team's row is locked before the checks, so two managers creating or renaming
    # calendars at once are checked one after the other (names, one default).
    Team.objects.select_for_update().filter(pk=team.pk).first()
    errors: dict[str, str] = {}
    _check(team, spec, errors, exclude=None)
    if errors:
        raise ValidationError(errors)
    first = not WorkingCalendar.objects.filter(team=team).exists()
    try:
        with transaction.atomic():  # SQLite locks nothing above: the constraint decides
            calendar = WorkingCalendar.objects.create(
                team=team,
                name=spec.name.strip(),
                time_zone=spec.time_zone,
                country=spec.country,
                subdivision=spec.subdivision,
                is_default=spec.is_default or first,
            )
    except IntegrityError:
        raise ValidationError(
            {"name": f"{team.name} already has a calendar named “{spec.name.strip()}”."}
        ) from None
    if calendar.is_default:
        _make_default(calendar)
    _write_spans(calendar, spec.spans)
    Closure.objects.bulk_create(_closure_row(calendar, c) for c in spec.closures)
    _changed(calendar)
    return calendar


def _locked(calendar: WorkingCalendar, version: int | None) -> WorkingCalendar:
    current = WorkingCalendar.objects.select_for_update().get(pk=calendar.pk)
    if version is not None and version != current.version:
        raise ValidationError(
            {
                "version": f"The calendar changed since you opened it (version {version}, now "
                f"{current.version}); reload it and make your change again."
            }
        )
    return current


def _bump(calendar: WorkingCalendar) -> WorkingCalendar:
    calendar.version += 1
    calendar.save()
    return calendar


@transaction.atomic
def calendar_update(
    *,
    calendar: WorkingCalendar,
    by: User,
    spec: CalendarSpec,
    version: int | None = None,
    replace_closures: bool = True,
) -> WorkingCalendar:
    """Replace what ``calendar`` holds with ``spec`` (its closures too, unless
    ``replace_closures`` is false: the pages edit closures one at a time). ``version``, when
    given, is the version the edit was based on; an older one is refused."""
    _require_edit(by, calendar.team)
    Team.objects.select_for_update().filter(pk=calendar.team_id).first()  # see _create
    errors: dict[str, str] = {}
    if not replace_closures:
        spec = replace(spec, closures=())
    _check(calendar.team, spec, errors, exclude=calendar.pk)
    if calendar.is_default and not spec.is_default:
        errors.setdefault(
            "is_default",
            "A team keeps one default calendar: make another calendar the default instead.",
        )
    if errors:
        raise ValidationError(errors)
    calendar = _locked(calendar, version)
    calendar.name = spec.name.strip()
    calendar.time_zone = spec.time_zone
    calendar.country, calendar.subdivision = spec.country, spec.subdivision
    calendar.is_default = spec.is_default
    if calendar.is_default:
        _make_default(calendar)
    _write_spans(calendar, spec.spans)
    if replace_closures:
        calendar.closures.all().delete()
        Closure.objects.bulk_create(_closure_row(calendar, c) for c in spec.closures)
    _changed(calendar)
    return _bump(calendar)


@transaction.atomic
def closure_add(*, calendar: WorkingCalendar, by: User, spec: ClosureSpec) -> Closure:
    _require_edit(by, calendar.team)
    errors: dict[str, str] = {}
    check_closure(spec, errors)
    if errors:
        raise ValidationError(errors)
    calendar = _locked(calendar, None)
    closure = _closure_row(calendar, spec)
    closure.save()
    _bump(calendar)
    _changed(calendar)
    return closure


@transaction.atomic
def closure_remove(*, closure: Closure, by: User) -> WorkingCalendar:
    calendar = closure.calendar
    _require_edit(by, calendar.team)
    calendar = _locked(calendar, None)
    closure.delete()
    _changed(calendar)
    return _bump(calendar)


@transaction.atomic
def calendar_delete(*, calendar: WorkingCalendar, by: User) -> None:
    """Delete a calendar no lane works on. The default goes only while no lane relies on it;
    another calendar of the team, if any, then becomes the default."""
    _require_edit(by, calendar.team)
    calendar = _locked(calendar, None)
    named = list(Lane.objects.filter(calendar=calendar).select_related("stream"))
    if named:
        names = ", ".join(f"{lane.stream.name} › {lane.name}" for lane in named[:5])
        raise ValidationError(
            {
                "calendar": f"{len(named)} lane(s) work on “{calendar.name}” ({names}"
                f"{'…' if len(named) > 5 else ''}); give them another calendar first."
            }
        )
    relying = list(calendar_lanes(calendar)) if calendar.is_default else []
    if relying:
        raise ValidationError(
            {
                "calendar": f"“{calendar.name}” is the team's default calendar and "
                f"{len(relying)} lane(s) rely on it; make another calendar the default first."
            }
        )
    was_default = calendar.is_default
    team_id = calendar.team_id
    calendar.delete()
    if was_default:
        heir = WorkingCalendar.objects.filter(team_id=team_id).order_by("created_at", "pk").first()
        if heir is not None:
            heir.is_default = True
            _bump(heir)
            _changed(heir)


@transaction.atomic
def lane_set_calendar(*, lane: Lane, by: User, calendar: WorkingCalendar | None) -> Lane:
    """Put ``lane`` on ``calendar`` (None: the team's default)."""
    team = lane.stream.team
    _require_edit(by, team)
    if calendar is not None and calendar.team_id != team.pk:
        raise ValidationError({"calendar": "Choose one of the lane's team's calendars."})
    lane = Lane.objects.select_for_update().select_related("stream").get(pk=lane.pk)
    if lane.calendar_id == (calendar.pk if calendar else None):
        return lane
    lane.calendar = calendar
    lane.save(update_fields=["calendar"])
    effective = calendar or WorkingCalendar.objects.filter(team=team, is_default=True).first()
    if effective is not None:
        _changed(effective, lane_ids=[lane.pk])
    return lane


#: The demo team's hours: Monday to Friday, 09:00–17:30.
DEMO_SPANS = tuple(SpanSpec(day, time(9), time(17, 30)) for day in range(5))


@transaction.atomic
def seed_calendar(
    team: Team, *, time_zone: str | None = None, country: str = "US", subdivision: str = ""
) -> WorkingCalendar:
    """The demo data's calendar (``vsm_project.demo`` calls it): the team's default, Monday
    to Friday 09:00–17:30 in ``time_zone`` (default: the site's ``TIME_ZONE``) with
    ``country``'s public holidays. Written by the system, as the rest of the demo: no user's
    right is checked. Replaces a calendar of the same name."""
    WorkingCalendar.objects.filter(team=team, name="Office hours", lanes__isnull=True).delete()
    return _create(
        team,
        CalendarSpec(
            name="Office hours",
            time_zone=time_zone or settings.TIME_ZONE,
            country=country,
            subdivision=subdivision,
            is_default=True,
            spans=DEMO_SPANS,
        ),
    )
