"""Forms of the rep pages. They check types; the rules live in ``funnel.eventlog.services``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from funnel.eventlog.moments import date_range_error
from funnel.eventlog.selectors import deal_owner_choices
from funnel.models import DealStatus
from streams.models import ProcessStep

LOST_REASONS = ("No budget", "Chose a competitor", "No decision", "Bad timing", "Went silent")
SOURCES = ("inbound", "outbound", "referral", "event", "partner")


class WhenField(forms.DateTimeField):
    """A ``datetime-local`` input, read in the time zone the form names in its ``tz`` field:
    the person's own (``templates/funnel/_when.html``), else the browser's (filled in by
    ``static/js/deal.js``), else the zone active for the request. Empty means now."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Leave empty for now.")
        super().__init__(**kwargs)

    def to_python(self, value: str) -> datetime | None:
        # Naive here; the form attaches the time zone in clean().
        if not value:
            return None
        for fmt in self.input_formats:
            try:
                parsed = datetime.strptime(value.strip(), fmt)
            except ValueError:
                continue
            # Year 1 or 9999 overflowed when converted between zones (a 500).
            if reason := date_range_error(parsed):
                raise forms.ValidationError(reason)
            return parsed
        raise forms.ValidationError("Enter a date and time, like 2026-03-01 09:30.")


class AmountField(forms.DecimalField):
    """A deal's amount: up to 14 digits, 2 after the point (the column's size). A text input
    with the decimal keyboard, not ``type=number``: a browser empties a number input it cannot
    read (with a console warning), so a refused amount would come back blank instead of as
    typed, next to its message."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
    default_error_messages = {
        "invalid": "Enter the amount as a number, e.g. 12500 or 12500.50.",
        "max_digits": "Enter an amount under 1,000,000,000,000.",
        "max_whole_digits": "Enter an amount under 1,000,000,000,000.",
        "max_decimal_places": "Give the amount to the cent: at most 2 decimals.",
    }

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class WhenForm(forms.Form):
    tz = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict:
        data = super().clean()
        # The page names the zone (the person's own, or the browser's until they have one);
        # without it, the zone active for the request: the person's (vsm_project.timezones).
        try:
            zone = ZoneInfo(data.get("tz") or timezone.get_current_timezone_name())
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(settings.TIME_ZONE)
        for name, field in self.fields.items():
            if isinstance(field, WhenField) and data.get(name) is not None:
                data[name] = data[name].replace(tzinfo=zone)
        return data


class MoveForm(WhenForm):
    step = forms.ModelChoiceField(queryset=ProcessStep.objects.none(), empty_label=None)
    at = WhenField(label="When")

    def __init__(self, *args, deal=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if deal is not None:
            self.fields["step"].queryset = deal.stream.steps.order_by("position")


class WorkForm(forms.Form):
    minutes = forms.IntegerField(
        label="Minutes worked",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 1, "max": 1440}),
    )


class CloseForm(WhenForm):
    outcome = forms.ChoiceField(choices=[(DealStatus.WON, "Won"), (DealStatus.LOST, "Lost")])
    lost_reason = forms.CharField(required=False, max_length=200, label="Why was it lost?")
    at = WhenField(label="When")
    # Closing is asked twice: the first post shows what will happen, the second (with this
    # set) does it. A mis-tap next to the work chips then changes nothing.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("outcome") == DealStatus.LOST and not (data.get("lost_reason") or "").strip():
            self.add_error("lost_reason", "Say why the deal was lost: it is what we learn from.")
        return data


def _source_field() -> forms.CharField:
    """A deal's source, typed or picked from the team's usual ones (the page's datalist)."""
    return forms.CharField(
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"list": "sources"}),
        help_text="Where the lead came from: inbound, outbound, referral…",
    )


class DealCreateForm(WhenForm):
    first_step = forms.ModelChoiceField(
        queryset=ProcessStep.objects.none(),
        empty_label=None,
        label="Starts at step",
        help_text="The value stream and the step the deal enters first.",
    )
    # The service's wording for a missing name, as on the edit form (which leaves it to it).
    name = forms.CharField(
        max_length=200, label="Deal name", error_messages={"required": "A deal needs a name."}
    )
    account = forms.CharField(max_length=200, required=False)
    amount = AmountField()
    source = _source_field()
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)
    created_at = WhenField(label="Started", help_text="Leave empty for now.")

    def __init__(self, *args, streams=None, can_assign: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        streams = list(streams or [])
        self.fields["first_step"].queryset = (
            ProcessStep.objects.filter(stream__in=streams)
            .select_related("stream")
            .order_by("stream__name", "position")
        )
        self.fields["first_step"].label_from_instance = lambda step: (
            f"{step.stream.name} — {step.position}. {step.name}"
            if len(streams) > 1
            else f"{step.position}. {step.name}"
        )
        if can_assign:
            self.fields["owner"].queryset = deal_owner_choices({s.team_id for s in streams})
            self.fields["owner"].help_text = "Leave empty to own it yourself."
        else:
            del self.fields["owner"]


class AccessibleForm(forms.Form):
    """Ties each field's widget to its help and its errors (``aria-describedby``, with the
    ids ``includes/form_fields.html`` gives them) and marks refused fields ``aria-invalid``,
    so a screen reader reads the reason with the field."""

    def full_clean(self) -> None:
        super().full_clean()
        self._describe()

    def add_error(self, field, error) -> None:
        super().add_error(field, error)
        self._describe()  # also for the errors a service reports after validation

    def _describe(self) -> None:
        for name, field in self.fields.items():
            bound = self[name]
            described = [f"{bound.auto_id}_help"] if field.help_text else []
            if name in (self._errors or {}):
                described.append(f"{bound.auto_id}_error")
                field.widget.attrs["aria-invalid"] = "true"
            if described:
                field.widget.attrs["aria-describedby"] = " ".join(described)


class ReopenForm(AccessibleForm):
    reason = forms.CharField(
        max_length=500,
        label="Why reopen it?",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the deal's history.",
    )


class HandoffUndoForm(AccessibleForm):
    """Undo the case's latest hand-off decision (``funnel.leads.undo``): the decider within
    its window sends no reason; a manager later says why."""

    reason = forms.CharField(
        max_length=500,
        required=False,
        label="Why undo it?",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the case's history.",
    )


class DealEditForm(AccessibleForm):
    """A deal's descriptive fields; ``owner`` only for those who may reassign it. The form
    checks types only: a missing name, a negative amount or a close date before the deal was
    created are ``deal_update``'s to report, all at once."""

    name = forms.CharField(max_length=200, label="Deal name", required=False)
    account = forms.CharField(max_length=200, required=False)
    amount = AmountField()
    source = _source_field()
    expected_close_date = forms.DateField(
        required=False,
        label="Expected close date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    next_step = forms.CharField(
        max_length=200,
        required=False,
        label="Next step",
        help_text="The next thing to do, e.g. “Send the proposal by Friday”.",
    )
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        label="Owner",
        empty_label="Nobody",
        help_text="A manager or rep of the team.",
    )

    def __init__(self, *args, owners=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if owners is None:
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = owners
            self.fields["owner"].label_from_instance = lambda user: (
                user.get_full_name() or user.get_username()
            )
