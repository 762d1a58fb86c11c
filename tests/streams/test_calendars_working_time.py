"""W(t) of a working calendar, without the database: hand-worked working times of visits
(outside hours, a weekend, a public holiday, both daylight-saving changes of Europe/Berlin,
a shutdown, a half day), the fixed origin, and a property test against a slow implementation
that steps minute by minute."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import holidays
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.calendars.working_time import (
    ORIGIN,
    ClosureSpec,
    SpanSpec,
    WorkingClock,
)

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
HOUR = 3600


def office(**kwargs) -> WorkingClock:
    """Mon–Fri 09:00–17:30 in Berlin."""
    spans = [SpanSpec(day, time(9), time(17, 30)) for day in range(5)]
    return WorkingClock(time_zone="Europe/Berlin", spans=spans, **kwargs)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_a_visit_entirely_outside_working_hours_has_no_working_time() -> None:
    # Tuesday 18:00 to Wednesday 08:00: 14 elapsed hours, none of them working.
    assert office().working_seconds(berlin(2026, 3, 10, 18), berlin(2026, 3, 11, 8)) == 0
    # Saturday morning to Sunday night.
    assert office().working_seconds(berlin(2026, 3, 14, 10), berlin(2026, 3, 15, 23)) == 0


def test_a_visit_over_a_weekend_counts_friday_afternoon_and_monday_morning() -> None:
    # Friday 16:00 → 17:30 (1.5 h), Monday 09:00 → 10:00 (1 h): 2.5 h of 66 elapsed.
    assert office().working_seconds(berlin(2026, 3, 13, 16), berlin(2026, 3, 16, 10)) == 2.5 * HOUR


def test_a_public_holiday_of_the_calendars_country_is_a_day_off() -> None:
    labour_day = date(2026, 5, 1)  # a Friday
    assert labour_day in holidays.country_holidays("DE", years=2026)
    clock = office(country="DE")
    # Thursday 17:00 → 17:30 (0.5 h), Friday off, Monday 09:00 → 10:00 (1 h).
    assert clock.working_seconds(berlin(2026, 4, 30, 17), berlin(2026, 5, 4, 10)) == 1.5 * HOUR
    assert office().working_seconds(berlin(2026, 4, 30, 17), berlin(2026, 5, 4, 10)) == 10 * HOUR
    plan = clock.day_plan(labour_day)
    assert plan.holiday and plan.working_seconds == 0 and plan.segments == ()


def test_a_subdivision_adds_its_own_holidays() -> None:
    epiphany = date(2026, 1, 6)  # a Tuesday: a holiday in Bavaria, not in Berlin
    assert office(country="DE", subdivision="BY").day_plan(epiphany).working_seconds == 0
    assert office(country="DE", subdivision="BE").day_plan(epiphany).working_seconds == 8.5 * HOUR


def test_the_spring_daylight_saving_change_keeps_the_working_day_whole() -> None:
    clock = office()
    # Berlin moves from UTC+1 to UTC+2 on Sunday 29 March 2026. Friday 17:30 CET to Monday
    # 09:00 CEST: no working time, though 62.5 elapsed hours (not 63.5) pass.
    friday_close = datetime(2026, 3, 27, 16, 30, tzinfo=UTC)
    monday_open = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert (monday_open - friday_close) == timedelta(hours=62.5)
    assert clock.working_seconds(friday_close, monday_open) == 0
    # Monday after the change works 09:00–17:30 CEST, 07:00–15:30 UTC: 8.5 h.
    assert clock.working_seconds(monday_open, datetime(2026, 3, 30, 15, 30, tzinfo=UTC)) == (
        8.5 * HOUR
    )
    # Friday 09:00 CET to Monday 17:30 CEST: two full days.
    assert clock.working_seconds(berlin(2026, 3, 27, 9), berlin(2026, 3, 30, 17, 30)) == 17 * HOUR


def test_the_autumn_daylight_saving_change_keeps_the_working_day_whole() -> None:
    clock = office()
    # Back from UTC+2 to UTC+1 on Sunday 25 October 2026.
    assert clock.working_seconds(berlin(2026, 10, 23, 9), berlin(2026, 10, 26, 17, 30)) == (
        17 * HOUR
    )
    assert clock.working_seconds(
        datetime(2026, 10, 26, 8, tzinfo=UTC), datetime(2026, 10, 26, 16, 30, tzinfo=UTC)
    ) == (8.5 * HOUR)


def test_work_on_the_day_of_the_change_counts_its_wall_clock_hours() -> None:
    every_day = WorkingClock(
        time_zone="Europe/Berlin", spans=[SpanSpec(d, time(9), time(17, 30)) for d in range(7)]
    )
    for change_day in (date(2026, 3, 29), date(2026, 10, 25)):
        assert every_day.day_plan(change_day).working_seconds == 8.5 * HOUR
    night = WorkingClock(time_zone="Europe/Berlin", spans=[SpanSpec(6, time(1), time(4))])
    # 01:00–04:00 on the spring night lasts 2 h (02:00–03:00 never happens) …
    assert night.day_plan(date(2026, 3, 29)).working_seconds == 2 * HOUR
    # … and 4 h on the autumn night (02:00–03:00 happens twice).
    assert night.day_plan(date(2026, 10, 25)).working_seconds == 4 * HOUR


def test_a_shutdown_leaves_no_working_time_in_its_window() -> None:
    shutdown = ClosureSpec(date(2026, 12, 24), date(2026, 12, 31), label="Winter shutdown")
    clock = office(country="DE", closures=[shutdown])
    assert clock.working_seconds(berlin(2026, 12, 24, 0), berlin(2027, 1, 1, 23)) == 0
    # Wednesday 23rd 17:00 → 17:30, then nothing until Monday 4 January (1 January is a
    # holiday, 2–3 January a weekend).
    assert clock.working_seconds(berlin(2026, 12, 23, 17), berlin(2027, 1, 4, 9, 30)) == HOUR
    assert clock.day_plan(date(2026, 12, 28)).closures == ("Winter shutdown",)


def test_a_calendar_that_works_only_on_weekends_has_none_on_weekdays() -> None:
    weekends = WorkingClock(time_zone="UTC", spans=[SpanSpec(5, time(10), time(14))])
    monday = datetime(2026, 3, 9, tzinfo=UTC)
    assert weekends.working_seconds(monday, monday + timedelta(days=5)) == 0
    assert weekends.working_seconds(monday, monday + timedelta(days=7)) == 4 * HOUR


def test_a_half_day_closure_takes_only_its_hours() -> None:
    afternoon = ClosureSpec(
        date(2026, 12, 24), date(2026, 12, 24), time(13), time(17, 30), "Christmas Eve"
    )
    clock = office(closures=[afternoon])
    assert clock.working_seconds(berlin(2026, 12, 24, 9), berlin(2026, 12, 24, 17, 30)) == (
        4 * HOUR
    )
    plan = clock.day_plan(date(2026, 12, 24))
    assert plan.segments == ((time(9), time(13)),) and plan.closures == ("Christmas Eve",)


def test_several_spans_a_day_leave_the_lunch_break_out() -> None:
    clock = WorkingClock(
        time_zone="Europe/Berlin",
        spans=[SpanSpec(0, time(9), time(12)), SpanSpec(0, time(13), time(17, 30))],
    )
    assert clock.working_seconds(berlin(2026, 3, 9, 11), berlin(2026, 3, 9, 14)) == 2 * HOUR


def test_w_is_measured_from_a_fixed_origin_and_signed() -> None:
    clock = WorkingClock(time_zone="UTC", spans=[SpanSpec(d, time(0), time(12)) for d in range(7)])
    assert clock.w(ORIGIN) == 0
    assert clock.w(ORIGIN + timedelta(hours=6)) == 6 * HOUR
    assert clock.w(ORIGIN - timedelta(hours=1)) == 0  # 23:00 on 31 Dec 1999: off
    assert clock.w(ORIGIN - timedelta(hours=13)) == -HOUR
    assert clock.w(ORIGIN + timedelta(days=10)) == 10 * 12 * HOUR


def test_w_does_not_depend_on_which_years_were_prepared_first() -> None:
    instants = [berlin(1985, 6, 3, 11), berlin(2026, 3, 30, 12), berlin(2090, 1, 2, 10)]
    fresh = [office(country="DE").w(t) for t in instants]
    one_clock = office(country="DE")
    assert [one_clock.w(t) for t in reversed(instants)][::-1] == fresh
    assert list(office(country="DE").offsets(instants)) == fresh


def test_offsets_take_datetimes_epoch_seconds_or_numpy_datetimes() -> None:
    clock = office()
    instants = [berlin(2026, 3, 9, 10), berlin(2026, 3, 10, 12, 30)]
    expected = clock.offsets(instants)
    seconds = np.array([t.timestamp() for t in instants])
    assert expected.dtype == np.int64
    assert list(clock.offsets(seconds)) == list(expected)
    as_numpy = np.array([t.astimezone(UTC).replace(tzinfo=None) for t in instants], "M8[s]")
    assert list(clock.offsets(as_numpy)) == list(expected)
    assert expected[1] - expected[0] == 8.5 * HOUR - HOUR + 3.5 * HOUR


def test_naive_datetimes_and_far_years_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        office().w(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="1970–2100"):
        office().w(datetime(2150, 1, 1, tzinfo=UTC))


# --- Property: W against minute-by-minute counting ---------------------------------------------

#: Zones, each with the start of a window around one of its daylight-saving changes (and
#: windows in zones without one).
WINDOWS = [
    ("Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2026, 10, 23, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 3, 6, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 10, 30, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 4, 3, tzinfo=UTC)),  # a 30-minute change
    ("Australia/Lord_Howe", datetime(2026, 10, 2, tzinfo=UTC)),
    ("America/Santiago", datetime(2026, 4, 2, tzinfo=UTC)),  # changes at midnight
    ("America/Santiago", datetime(2026, 9, 3, tzinfo=UTC)),
    ("Asia/Kolkata", datetime(2026, 12, 30, tzinfo=UTC)),
    ("UTC", datetime(2026, 12, 30, tzinfo=UTC)),
]
WINDOW_MINUTES = 4 * 24 * 60


def _quarter(n: int) -> time:
    return time(n // 4, n % 4 * 15)


@st.composite
def spans(draw) -> list[SpanSpec]:
    """Up to two spans a day on quarter hours; often the same every day, so the night of a
    clock change is covered as often as any other."""
    same = draw(st.booleans())
    out, edges = [], []
    for weekday in range(7):
        if not same or weekday == 0:
            edges = sorted(draw(st.sets(st.integers(0, 95), max_size=4)))
        for a, b in zip(edges[::2], edges[1::2], strict=False):
            out.append(SpanSpec(weekday, _quarter(a), _quarter(b)))
    return out


@st.composite
def calendars(draw) -> tuple[WorkingClock, dict]:
    zone, start = draw(st.sampled_from(WINDOWS))
    days = [(start + timedelta(days=n)).date() for n in range(-1, 6)]
    off_days = {d: "Holiday" for d in draw(st.sets(st.sampled_from(days), max_size=2))}
    closures = []
    for day in draw(st.sets(st.sampled_from(days), max_size=2)):
        if draw(st.booleans()):
            closures.append(ClosureSpec(day, day, label="Closed"))
        else:
            a, b = sorted(draw(st.sets(st.integers(0, 95), min_size=2, max_size=2)))
            closures.append(ClosureSpec(day, day, _quarter(a), _quarter(b), "Half"))
    weekly = draw(spans())
    plain = {"zone": zone, "spans": weekly, "holidays": off_days, "closures": closures}
    clock = WorkingClock(time_zone=zone, spans=weekly, holidays=off_days, closures=closures)
    return clock, {**plain, "start": start}


def _working_minute(plain: dict, instant: datetime) -> bool:
    """The obvious definition: the wall clock reads a working time of a working day."""
    local = instant.astimezone(zoneinfo.ZoneInfo(plain["zone"]))
    day, wall = local.date(), local.time().replace(tzinfo=None)
    if day in plain["holidays"]:
        return False
    for c in plain["closures"]:
        if c.start_date <= day <= c.end_date and (
            c.start_time is None or c.start_time <= wall < c.end_time
        ):
            return False
    return any(s.weekday == day.weekday() and s.start <= wall < s.end for s in plain["spans"])


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(
    calendars(),
    st.lists(st.integers(0, WINDOW_MINUTES), min_size=2, max_size=6),
)
def test_offsets_match_counting_minute_by_minute(calendar, minutes) -> None:
    clock, plain = calendar
    start = plain["start"]
    minutes = sorted(minutes)
    working = [_working_minute(plain, start + timedelta(minutes=m)) for m in range(minutes[-1])]
    cumulative = np.concatenate(([0], np.cumsum(working)))
    offsets = clock.offsets([start + timedelta(minutes=m) for m in minutes])
    for m, offset in zip(minutes, offsets, strict=True):
        assert offset - offsets[0] == 60 * (cumulative[m] - cumulative[minutes[0]])
