"""Working calendars: when a team works. A calendar has a time zone, weekly working spans
(wall-clock times in that zone, several per weekday), public holidays by country and
subdivision (the ``holidays`` package) and the team's own closures. ``working_time.py`` turns
one into W(t), the working seconds from a fixed origin; ``docs/calendars.md`` explains it.

The tables belong to the ``streams`` app (``streams/models.py`` imports this module). The
rules a ``CHECK`` can state are constraints here; overlapping spans, zone and country names
are checked by ``streams.calendars.services`` with a message that names the field.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

#: Closures outside these years are typing mistakes, not plans.
FIRST_YEAR, LAST_YEAR = 1970, 2100


class WorkingCalendar(models.Model):
    team = models.ForeignKey("streams.Team", on_delete=models.CASCADE, related_name="calendars")
    name = models.CharField(max_length=80)
    time_zone = models.CharField(
        max_length=64, help_text="IANA name; the working spans are wall-clock times in it."
    )
    country = models.CharField(
        max_length=3, blank=True, help_text="ISO code whose public holidays are days off."
    )
    subdivision = models.CharField(
        max_length=10, blank=True, help_text="State or region code within the country."
    )
    is_default = models.BooleanField(
        default=False, help_text="The calendar of every lane that names none."
    )
    #: Bumped by every change of the calendar, its spans or its closures.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team__name", "-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="calendar_name_unique"),
            models.UniqueConstraint(
                fields=["team"], condition=Q(is_default=True), name="calendar_one_default"
            ),
            models.CheckConstraint(
                condition=Q(subdivision="") | ~Q(country=""),
                name="calendar_subdivision_needs_country",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WorkingSpan(models.Model):
    """One span of working time on a weekday (0 = Monday), in the calendar's wall clock."""

    calendar = models.ForeignKey(WorkingCalendar, on_delete=models.CASCADE, related_name="spans")
    weekday = models.PositiveSmallIntegerField()
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        ordering = ["calendar", "weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="span_weekday_0_6"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="span_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.weekday}: {self.start:%H:%M}–{self.end:%H:%M}"


class Closure(models.Model):
    """The team's own days off (a shutdown), from ``start_date`` to ``end_date`` inclusive;
    with times, a part of one day (a half day): ``start_time`` to ``end_time`` on it."""

    calendar = models.ForeignKey(WorkingCalendar, on_delete=models.CASCADE, related_name="closures")
    start_date = models.DateField()
    end_date = models.DateField()
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    label = models.CharField(max_length=80)

    class Meta:
        ordering = ["calendar", "start_date", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="closure_ends_after_start"
            ),
            models.CheckConstraint(
                condition=(Q(start_time__isnull=True) & Q(end_time__isnull=True))
                | (
                    Q(start_time__isnull=False)
                    & Q(end_time__gt=F("start_time"))
                    & Q(end_date=F("start_date"))
                ),
                name="closure_part_of_one_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.start_date}–{self.end_date})"
