"""W(t): the working seconds of a calendar from a fixed origin up to an instant.

The working time of a visit is ``W(exit) - W(enter)``, a subtraction, so figures in working
time are computed exactly like elapsed ones once each visit stores its two offsets.

- The origin is 2000-01-01T00:00Z (:data:`ORIGIN`); W is signed: negative before it.
- The weekly spans are wall-clock times in the calendar's zone: a second is working time when
  the wall clock then reads a working time of a working day. Each local day's spans are
  turned into UTC instants with ``zoneinfo``, so a daylight-saving day still works its
  09:00–17:30 (8.5 h, though the day has 23 or 25 hours); a span across the change itself
  (02:00–03:00 at night) loses the skipped hour or counts the repeated one twice.
- Public holidays (whole days, from the ``holidays`` package by country and subdivision, or
  given as dates) and closures (whole days, or a part of one day in wall-clock times) take
  their time out of the day before it is converted.
- Years are prepared lazily, as one contiguous range of local years that always covers the
  origin, so W does not depend on which years were asked for first.

:class:`WorkingClock` needs no database: build it from plain data (the tests, a background
job) or with :meth:`WorkingClock.from_calendar` from a ``WorkingCalendar`` row.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

#: W(ORIGIN) = 0.
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
ORIGIN_EPOCH = int(ORIGIN.timestamp())
#: Wall-clock readings are counted in seconds from 1970-01-01 00:00 (naive, no zone).
_NAIVE_ORIGIN = datetime(1970, 1, 1)
#: The instants W is defined for (UTC years); outside them it raises ``ValueError``.
FIRST_YEAR, LAST_YEAR = 1970, 2100

#: A span of wall-clock time within one day, as seconds since its midnight: [start, end).
Segment = tuple[int, int]


@dataclass(frozen=True)
class SpanSpec:
    """Working time on a weekday (0 = Monday), wall-clock ``start`` to ``end``."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class ClosureSpec:
    """Days off from ``start_date`` to ``end_date`` inclusive; with times, that part of one
    day (wall clock) only."""

    start_date: date
    end_date: date
    start_time: time | None = None
    end_time: time | None = None
    label: str = ""

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ClosureSpec:
        """From a form's or a serializer's cleaned ``data``."""
        return cls(
            data["start_date"],
            data["end_date"],
            data.get("start_time"),
            data.get("end_time"),
            data["label"],
        )


@dataclass(frozen=True)
class DayPlan:
    """One local day of a calendar: its working segments (wall clock) and why time is off."""

    day: date
    segments: tuple[tuple[time, time], ...]
    working_seconds: int
    holiday: str = ""
    closures: tuple[str, ...] = field(default_factory=tuple)

    @property
    def hours(self) -> float:
        return self.working_seconds / 3600

    @property
    def minutes(self) -> list[tuple[int, int]]:
        """Each segment as (minute of the day it starts, its length in minutes): the bars of
        the coming-weeks strip."""
        return [(_seconds(a) // 60, (_seconds(b) - _seconds(a)) // 60) for a, b in self.segments]


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _time(seconds: int) -> time:
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


def _subtract(segments: list[Segment], start: int, end: int) -> list[Segment]:
    out = []
    for a, b in segments:
        if end <= a or start >= b:
            out.append((a, b))
            continue
        if a < start:
            out.append((a, start))
        if end < b:
            out.append((end, b))
    return out


def public_holidays(country: str, subdivision: str, year: int) -> dict[date, str]:
    """The public holidays of ``country`` (and ``subdivision``) in ``year``, by date."""
    if not country:
        return {}
    import holidays  # a large package: loaded on first use only

    found = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    return {day: name for day, name in found.items() if day.year == year}


@dataclass(frozen=True)
class _Prepared:
    """The working intervals of the local years [lo, hi]: sorted starts and ends (epoch
    seconds), the working seconds before each start (from the first), and that count at
    :data:`ORIGIN`."""

    lo: int
    hi: int
    starts: np.ndarray
    ends: np.ndarray
    before: np.ndarray
    origin_count: int

    def count(self, seconds: np.ndarray) -> np.ndarray:
        """Working seconds from the first interval up to each instant: the last interval
        starting at or before it (binary search), the seconds before that interval, and the
        part of the interval up to the instant."""
        if not len(self.starts):
            return np.zeros(len(seconds), dtype=np.int64)
        i = np.searchsorted(self.starts, seconds, side="right") - 1
        inside = np.clip(i, 0, None)
        partial = np.minimum(seconds, self.ends[inside]) - self.starts[inside]
        return np.where(i < 0, 0, self.before[inside] + partial)


class WorkingClock:
    """W(t) of one calendar. Build it once and ask it many instants.

    ``spans``: :class:`SpanSpec` or any object with ``weekday``, ``start`` and ``end``.
    ``closures``: :class:`ClosureSpec` or any object with its attributes (a ``Closure`` row).
    ``holidays``: extra whole days off by date (name as value), added to those of
    ``country``/``subdivision``.
    """

    def __init__(
        self,
        *,
        time_zone: str,
        spans: Iterable[Any],
        country: str = "",
        subdivision: str = "",
        holidays: Mapping[date, str] | None = None,
        closures: Iterable[Any] = (),
    ) -> None:
        self.zone = zoneinfo.ZoneInfo(time_zone)
        self.country, self.subdivision = country, subdivision
        self._extra_holidays = dict(holidays or {})
        self._weekly: list[list[Segment]] = [[] for _ in range(7)]
        for span in spans:
            self._weekly[span.weekday].append((_seconds(span.start), _seconds(span.end)))
        for day in self._weekly:
            day.sort()
        self._closures = [
            ClosureSpec(c.start_date, c.end_date, c.start_time, c.end_time, c.label)
            for c in closures
        ]
        self._holiday_years: dict[int, dict[date, str]] = {}
        self._prepared: _Prepared | None = None

    @classmethod
    def from_calendar(cls, calendar: Any) -> WorkingClock:
        """The clock of a ``WorkingCalendar`` row (its spans and closures are read here)."""
        return cls(
            time_zone=calendar.time_zone,
            spans=list(calendar.spans.all()),
            country=calendar.country,
            subdivision=calendar.subdivision,
            closures=list(calendar.closures.all()),
        )

    @property
    def has_working_hours(self) -> bool:
        return any(self._weekly)

    # --- One day -----------------------------------------------------------------------------

    def holiday(self, day: date) -> str:
        """The name of the public holiday on ``day`` (local date), or ""."""
        if day in self._extra_holidays:
            return self._extra_holidays[day]
        year = self._holiday_years.get(day.year)
        if year is None:
            year = self._holiday_years[day.year] = public_holidays(
                self.country, self.subdivision, day.year
            )
        return year.get(day, "")

    def day_plan(self, day: date) -> DayPlan:
        """The working segments of the local ``day`` after holidays and closures."""
        segments, holiday, labels = self._day(day)
        return DayPlan(
            day=day,
            segments=tuple((_time(a), _time(b)) for a, b in segments),
            working_seconds=int(sum(b - a for a, b in self._utc_intervals(day, segments))),
            holiday=holiday,
            closures=tuple(labels),
        )

    def _day(self, day: date) -> tuple[list[Segment], str, list[str]]:
        segments = list(self._weekly[day.weekday()])
        holiday = self.holiday(day)
        if holiday:
            segments = []
        labels = []
        for closure in self._closures:
            if not closure.start_date <= day <= closure.end_date:
                continue
            labels.append(closure.label)
            if closure.start_time is None:
                segments = []
            else:
                segments = _subtract(
                    segments, _seconds(closure.start_time), _seconds(closure.end_time)
                )
        return segments, holiday, labels

    def _utc_intervals(self, day: date, segments: Sequence[Segment]) -> list[Segment]:
        """The UTC instants (epoch seconds) whose wall-clock reading is ``day`` at a time in
        ``segments``. On a day without a clock change that is each segment shifted by the
        day's UTC offset; on a day with one, the part before the change is shifted by the old
        offset and the part after it by the new one: a skipped reading never counts, a
        repeated one counts both times."""
        if not segments:
            return []
        naive = int((datetime(day.year, day.month, day.day) - _NAIVE_ORIGIN).total_seconds())
        before = self._offset_at_wall(naive)
        after = self._offset_at_wall(naive + 86400)
        if before == after:
            return [(naive + a - before, naive + b - before) for a, b in segments]
        change = self._change_between(naive - before - 43200, naive + 86400 - after + 43200)
        out = []
        for a, b in segments:
            first = (naive + a - before, min(naive + b - before, change))
            second = (max(naive + a - after, change), naive + b - after)
            out += [part for part in (first, second) if part[1] > part[0]]
        return out

    def _offset_at_wall(self, naive_seconds: int) -> int:
        wall = _NAIVE_ORIGIN + timedelta(seconds=naive_seconds)
        return int(self.zone.utcoffset(wall).total_seconds())

    def _offset_at(self, epoch_seconds: int) -> int:
        return int(datetime.fromtimestamp(epoch_seconds, self.zone).utcoffset().total_seconds())

    def _change_between(self, lo: int, hi: int) -> int:
        """The first instant in (lo, hi] whose UTC offset differs from lo's (bisection)."""
        start = self._offset_at(lo)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._offset_at(mid) == start:
                lo = mid
            else:
                hi = mid
        return hi

    # --- Preparing years ---------------------------------------------------------------------

    def _year_intervals(self, year: int) -> list[Segment]:
        out: list[Segment] = []
        day = date(year, 1, 1)
        while day.year == year:
            if self._weekly[day.weekday()]:
                out.extend(self._utc_intervals(day, self._day(day)[0]))
            day += timedelta(days=1)
        return out

    def _prepare(self, lo: int, hi: int) -> _Prepared:
        """The prepared years, made to cover [lo, hi] and the origin's year (1999–2000 local).
        Replaced as a whole, never changed in place: a clock may serve several threads."""
        lo, hi = min(lo, ORIGIN.year - 1), max(hi, ORIGIN.year)
        prepared = self._prepared
        if prepared is not None and prepared.lo <= lo and hi <= prepared.hi:
            return prepared
        if prepared is not None:
            lo, hi = min(lo, prepared.lo), max(hi, prepared.hi)
        intervals: list[Segment] = []
        for year in range(lo, hi + 1):
            intervals.extend(self._year_intervals(year))
        intervals.sort()
        merged: list[list[int]] = []
        for a, b in intervals:  # never count a second twice, should two intervals touch
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        array = np.array(merged, dtype=np.int64).reshape(-1, 2)
        starts, ends = array[:, 0].copy(), array[:, 1].copy()
        before = np.concatenate(([0], np.cumsum(ends - starts)[:-1])).astype(np.int64)
        prepared = _Prepared(lo, hi, starts, ends, before, 0)
        origin = int(prepared.count(np.array([ORIGIN_EPOCH], dtype=np.int64))[0])
        self._prepared = prepared = _Prepared(lo, hi, starts, ends, before, origin)
        return prepared

    # --- W(t) --------------------------------------------------------------------------------

    def offsets(self, instants: Iterable[datetime | float | int] | np.ndarray) -> np.ndarray:
        """W of each instant (aware datetimes, or epoch seconds), as whole seconds (int64).

        Fractions of a second are dropped (floor): offsets are stored as whole seconds.
        """
        seconds = _epoch_seconds(instants)
        if not len(seconds):
            return np.zeros(0, dtype=np.int64)
        first, last = int(seconds.min()), int(seconds.max())
        lo, hi = _utc_year(first), _utc_year(last)
        if lo < FIRST_YEAR or hi > LAST_YEAR:
            raise ValueError(
                f"Working time is defined for {FIRST_YEAR}–{LAST_YEAR}; got years {lo}–{hi}."
            )
        # A local year starts up to 14 h before or after the UTC one: one year either side.
        prepared = self._prepare(lo - 1, hi + 1)
        return prepared.count(seconds) - prepared.origin_count

    def w(self, instant: datetime | float | int) -> int:
        """W(t): the working seconds from :data:`ORIGIN` up to ``instant`` (signed)."""
        return int(self.offsets([instant])[0])

    def working_seconds(self, start: datetime | float | int, end: datetime | float | int) -> int:
        """The working seconds between two instants: W(end) − W(start)."""
        a, b = self.offsets([start, end])
        return int(b - a)


def _utc_year(epoch_seconds: int) -> int:
    return (ORIGIN + timedelta(seconds=epoch_seconds - ORIGIN_EPOCH)).year


def _epoch_seconds(instants: Iterable[datetime | float | int] | np.ndarray) -> np.ndarray:
    if isinstance(instants, np.ndarray):
        if np.issubdtype(instants.dtype, np.datetime64):
            return instants.astype("datetime64[s]").astype(np.int64)
        if instants.dtype != object:
            return np.floor(instants).astype(np.int64)
    values = []
    for value in instants:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("Working time needs aware datetimes (with a time zone).")
            value = value.timestamp()
        values.append(value)
    return np.floor(np.asarray(values, dtype=np.float64)).astype(np.int64)
