"""Forms of the calendar pages. They check types (a time is a time, a day's hours read as
``09:00–12:00, 13:00–17:30``); the rules live in ``streams.calendars.services``."""

from __future__ import annotations

import re
from datetime import time

from django import forms
from django.core.exceptions import ValidationError

from streams.calendars.selectors import WEEKDAYS, country_choices, subdivision_choices
from streams.calendars.services import CalendarSpec, weekday_key
from streams.calendars.working_time import ClosureSpec, SpanSpec
from streams.forms import apply_service_errors
from streams.people.selectors import time_zone_choices

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–—]\s*(\d{1,2}):(\d{2})\s*$")
HOURS_HELP = (
    "Wall-clock times in the calendar's zone, e.g. “09:00–12:00, 13:00–17:30”; empty: a day off."
)


def hours_field(weekday: int) -> str:
    return f"hours_{WEEKDAYS[weekday].lower()}"


def _parse_hours(text: str) -> list[tuple[time, time]]:
    spans = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _SPAN.match(part)
        if not match:
            raise ValidationError(f"“{part}” is not a span like 09:00–17:30.")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValidationError(f"“{part}”: times run from 00:00 to 23:59.")
        spans.append((time(h1, m1), time(h2, m2)))
    return spans


def format_hours(spans) -> str:
    return ", ".join(f"{s.start:%H:%M}–{s.end:%H:%M}" for s in spans)


class CalendarForm(forms.Form):
    name = forms.CharField(label="Name", max_length=80, help_text="For example: Berlin office.")
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="The working hours below are wall-clock times in this zone; a daylight-"
        "saving change keeps them.",
    )
    country = forms.ChoiceField(
        label="Public holidays of",
        required=False,
        help_text="The country whose public holidays are days off.",
    )
    subdivision = forms.ChoiceField(
        label="Region",
        required=False,
        help_text="A state or region with holidays of its own (it must be in the country above).",
    )
    is_default = forms.BooleanField(
        label="The team's default calendar",
        required=False,
        help_text="Every lane that names no calendar works on the default. A team's first "
        "calendar is its default.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "calendar_%s")
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = time_zone_choices()
        self.fields["country"].choices = country_choices()
        self.fields["subdivision"].choices = subdivision_choices()
        for weekday, day in enumerate(WEEKDAYS):
            self.fields[hours_field(weekday)] = forms.CharField(
                label=day,
                required=False,
                max_length=200,
                help_text=HOURS_HELP,
                widget=forms.TextInput(attrs={"placeholder": "day off"}),
            )

    def clean(self):
        data = super().clean()
        for weekday in range(7):
            name = hours_field(weekday)
            if name in data:
                try:
                    data[name] = _parse_hours(data[name])
                except ValidationError as exc:
                    self.add_error(name, exc)
        subdivision = data.get("subdivision") or ""
        if subdivision:
            country, _, code = subdivision.partition("-")
            if country != data.get("country"):
                self.add_error(
                    "subdivision",
                    f"{code} is a region of {country}: choose that country above, or "
                    "“The whole country”.",
                )
            data["subdivision"] = code
        return data

    def spec(self) -> CalendarSpec:
        data = self.cleaned_data
        spans = [
            SpanSpec(weekday, start, end)
            for weekday in range(7)
            for start, end in data[hours_field(weekday)]
        ]
        return CalendarSpec.of(data, spans)

    def apply_errors(self, exc: ValidationError) -> None:
        """The service's errors next to their fields: ``spans.monday`` on Monday's hours,
        ``spans`` (no hours at all) on Monday's too, where the week starts; a stale ``version``
        above the form."""
        renamed: dict[str, list[str]] = {}
        for key, messages in exc.message_dict.items():
            for weekday in range(7):
                if key == weekday_key(weekday):
                    key = hours_field(weekday)
            if key == "spans":
                key = hours_field(0)
            if key == "version":  # a hidden field: said above the form
                key = "stale"
            renamed.setdefault(key, []).extend(messages)
        apply_service_errors(self, ValidationError(renamed))

    @staticmethod
    def initial_for(calendar) -> dict:
        spans = list(calendar.spans.all())
        initial = {
            "name": calendar.name,
            "time_zone": calendar.time_zone,
            "country": calendar.country,
            "subdivision": f"{calendar.country}-{calendar.subdivision}"
            if calendar.subdivision
            else "",
            "is_default": calendar.is_default,
            "version": calendar.version,
        }
        for weekday in range(7):
            initial[hours_field(weekday)] = format_hours(s for s in spans if s.weekday == weekday)
        return initial


class ClosureForm(forms.Form):
    label = forms.CharField(label="What", max_length=80, help_text="e.g. Company shutdown.")
    start_date = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(
        label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )
    start_time = forms.TimeField(
        label="From time",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Only for part of one day (a half day); empty: whole days.",
    )
    end_time = forms.TimeField(
        label="To time",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "closure_%s")
        super().__init__(*args, **kwargs)

    def spec(self) -> ClosureSpec:
        return ClosureSpec.of(self.cleaned_data)


class LaneCalendarsForm(forms.Form):
    """One select per lane of the team: its calendar, or the team's default."""

    def __init__(self, *args, lanes, calendars, **kwargs) -> None:
        kwargs.setdefault("auto_id", "lanes_%s")
        super().__init__(*args, **kwargs)
        choices = [("", "The team's default"), *((str(c.pk), c.name) for c in calendars)]
        self.lanes = list(lanes)
        for lane in self.lanes:
            self.fields[f"lane_{lane.pk}"] = forms.ChoiceField(
                label=f"{lane.stream.name} › {lane.name}",
                choices=choices,
                required=False,
                initial=str(lane.calendar_id or ""),
            )
