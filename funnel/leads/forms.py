"""HTML forms of the leads pages: the waterfall setup (its hand-offs, reasons and limits), a
decision on the hand-off board and a pull from the ready-for-sales queue. Forms check types;
the rules live in ``funnel.leads.services``.

SLA and escalation are typed as working time ("4 hours", "2 days") and stored in working
minutes; a working day is 8 working hours (the same day the maximum of
``funnel.leads.models.MAX_SLA_MINUTES`` counts: 60 days of 8 hours)."""

from __future__ import annotations

import re

from django import forms

from funnel.leads.models import (
    MAX_SLA_MINUTES,
    DecisionKind,
    HandoffReason,
    ReasonKind,
    Side,
    WaterfallPreset,
)
from streams.models import ProcessStep, ValueStream

#: Working minutes in a working day and an hour.
DAY_MINUTES = 8 * 60
HOUR_MINUTES = 60

_UNITS = {
    "m": 1,
    "min": 1,
    "mins": 1,
    "minute": 1,
    "minutes": 1,
    "h": HOUR_MINUTES,
    "hr": HOUR_MINUTES,
    "hrs": HOUR_MINUTES,
    "hour": HOUR_MINUTES,
    "hours": HOUR_MINUTES,
    "d": DAY_MINUTES,
    "day": DAY_MINUTES,
    "days": DAY_MINUTES,
}
_DURATION = re.compile(r"^(\d{1,6}(?:[.,]\d{1,3})?)\s*(?:working\s+)?([a-z]+)?$")
DURATION_EXAMPLE = "for example “4 hours”, “90 minutes” or “2 days”"
CONVERSION_TEXT = (
    "A day is 8 working hours, so “2 days” is 16 working hours (960 working minutes), "
    "counted in the hand-off step's lane calendar (elapsed time where the team has none). "
    "At most 60 days."
)


def working_minutes(text: str) -> int | None:
    """``"4 hours"`` → 240, ``"2 days"`` → 960 (8 working hours a day), ``""`` → None.
    Raises ``forms.ValidationError`` naming what is wrong."""
    text = " ".join((text or "").strip().lower().split())
    if not text:
        return None
    match = _DURATION.match(text)
    if not match:
        raise forms.ValidationError(f"Write a number and a unit, {DURATION_EXAMPLE}.")
    number, unit = match.groups()
    if unit is None:
        raise forms.ValidationError(f"Give the unit too, {DURATION_EXAMPLE}.")
    if unit not in _UNITS:
        raise forms.ValidationError(
            f"“{unit}” is not a unit this page knows: use minutes, hours or days "
            f"({DURATION_EXAMPLE})."
        )
    minutes = round(float(number.replace(",", ".")) * _UNITS[unit])
    if minutes < 1:
        raise forms.ValidationError("Give at least 1 working minute.")
    if minutes > MAX_SLA_MINUTES:
        raise forms.ValidationError(
            f"At most 60 working days ({MAX_SLA_MINUTES // HOUR_MINUTES} working hours); "
            f"“{text}” is {format_working(minutes)}."
        )
    return minutes


def format_working(minutes: int | None) -> str:
    """Working minutes as the page writes them back: ``"2 days"``, ``"4 hours"``,
    ``"1.5 hours"``, ``"45 minutes"``; ``""`` for none."""
    if not minutes:
        return ""

    def plural(n: float, unit: str) -> str:
        return f"{n:g} {unit}" + ("" if n == 1 else "s")

    if minutes % DAY_MINUTES == 0:
        return plural(minutes / DAY_MINUTES, "day")
    if minutes % 30 == 0:
        return plural(minutes / HOUR_MINUTES, "hour")
    return plural(minutes, "minute")


class WorkingDurationField(forms.CharField):
    """A working duration typed in words; ``clean`` gives working minutes (or None)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("widget", forms.TextInput(attrs={"autocomplete": "off"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return format_working(value) if isinstance(value, int) else value

    def clean(self, value):
        return working_minutes(super().clean(value))


def _step_label(step: ProcessStep) -> str:
    lane = f" ({step.lane.name})" if step.lane_id else ""
    return f"{step.position}. {step.name}{lane}"


def _steps(stream: ValueStream):
    return stream.steps.select_related("lane").order_by("position")


class PresetPickForm(forms.Form):
    """The setup page's first question (a GET): which waterfall to fill the form in with."""

    preset = forms.ChoiceField(
        choices=WaterfallPreset.choices,
        widget=forms.RadioSelect,
        label="Start from",
        help_text="Fills in the stage names and hand-offs below; you then pick each "
        "hand-off's step. Nothing is saved until you save the waterfall.",
    )


class WaterfallForm(forms.Form):
    preset = forms.ChoiceField(choices=WaterfallPreset.choices, widget=forms.HiddenInput)
    inquiry_stage = forms.CharField(
        max_length=40,
        label="First stage",
        help_text="What a case is when it is created, e.g. Inquiry.",
    )
    won_stage = forms.CharField(
        max_length=40, label="Last stage", help_text="What a won case is, e.g. Won."
    )
    recycle_step = forms.ModelChoiceField(
        queryset=ProcessStep.objects.none(),
        required=False,
        label="Recycled leads go to",
        empty_label="Nowhere: recycling is off",
        help_text="The nurture step a recycled lead goes back to.",
    )

    def __init__(self, *args, stream: ValueStream, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recycle_step"].queryset = _steps(stream)
        self.fields["recycle_step"].label_from_instance = _step_label


class HandoffForm(forms.Form):
    """One hand-off of the waterfall. A row left without a step and a stage is ignored."""

    step = forms.ModelChoiceField(
        queryset=ProcessStep.objects.none(),
        required=False,
        label="At step",
        empty_label="Choose the step…",
        help_text="Entering this step offers the lead to the receiving side.",
    )
    offered_stage = forms.CharField(
        max_length=40, required=False, label="Offered as", help_text="e.g. MQL"
    )
    accepted_stage = forms.CharField(
        max_length=40,
        required=False,
        label="Accepted as",
        help_text="e.g. SAL; empty: accepting changes no stage.",
    )
    giver = forms.ChoiceField(choices=Side.choices, label="Handed over by")
    receiver = forms.ChoiceField(choices=Side.choices, label="Decided by")
    sla = WorkingDurationField(
        label="SLA",
        help_text=f"Accept or turn down within, {DURATION_EXAMPLE}; empty: no SLA.",
    )
    escalate = WorkingDurationField(
        label="Tell the managers after",
        help_text="Longer than the SLA; empty: no escalation.",
    )
    pull = forms.BooleanField(
        required=False,
        label="Sellers pull from here (the ready-for-sales queue)",
        help_text="At most one hand-off.",
    )
    remove = forms.BooleanField(required=False, label="Remove this hand-off")

    def __init__(self, *args, stream: ValueStream, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["step"].queryset = _steps(stream)
        self.fields["step"].label_from_instance = _step_label

    @property
    def blank(self) -> bool:
        """Nothing chosen, or marked to remove: the row is not a hand-off."""
        data = getattr(self, "cleaned_data", {})
        if data.get("remove"):
            return True
        return not data.get("step") and not (data.get("offered_stage") or "").strip()

    def clean(self) -> dict:
        data = super().clean()
        if data.get("remove"):
            return data
        if data.get("step") and not (data.get("offered_stage") or "").strip():
            self.add_error("offered_stage", "Name the stage a lead reaches here, e.g. MQL.")
        elif (data.get("offered_stage") or "").strip() and not data.get("step"):
            self.add_error("step", "Choose the step where leads are offered.")
        return data


class BaseHandoffFormSet(forms.BaseFormSet):
    def __init__(self, *args, stream: ValueStream, **kwargs) -> None:
        self.stream = stream
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "stream": self.stream}


HandoffFormSet = forms.formset_factory(
    HandoffForm, formset=BaseHandoffFormSet, extra=1, max_num=12, validate_max=True
)
#: The same with three empty rows, for a waterfall of the team's own stages.
HANDOFF_ROWS_EMPTY = forms.formset_factory(
    HandoffForm, formset=BaseHandoffFormSet, extra=3, max_num=12, validate_max=True
)


class ReasonAddForm(forms.Form):
    kind = forms.ChoiceField(choices=ReasonKind.choices, widget=forms.HiddenInput)
    label = forms.CharField(max_length=120, label="New reason")


class ReasonRenameForm(forms.Form):
    label = forms.CharField(max_length=120, label="Rename to")


class SellerLimitForm(forms.Form):
    seller = forms.ModelChoiceField(queryset=None, widget=forms.HiddenInput)
    wip_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=500,
        label="WIP limit",
        help_text="Open deals they may own before a pull is refused; empty: not a seller.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, members, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["seller"].queryset = members


class StepLimitForm(forms.Form):
    step = forms.ModelChoiceField(queryset=ProcessStep.objects.none(), widget=forms.HiddenInput)
    wip_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100000,
        label="WIP limit",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, stream: ValueStream, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["step"].queryset = stream.steps.all()


class DecisionForm(forms.Form):
    """A decision on one arrival, from the hand-off board. The reason is checked by the
    service (required for all but accept), so its message is the server's."""

    kind = forms.ChoiceField(
        choices=DecisionKind.choices,
        error_messages={"required": "Choose accept, reject, recycle or disqualify."},
    )
    reason = forms.ModelChoiceField(
        queryset=HandoffReason.objects.none(),
        required=False,
        error_messages={"invalid_choice": "Choose one of the team's reasons."},
    )
    note = forms.CharField(max_length=500, required=False, label="Note (optional)")
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, stream: ValueStream, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].queryset = HandoffReason.objects.filter(
            stream=stream, retired_at__isnull=True
        )

    def clean(self) -> dict:
        data = super().clean()
        reason, kind = data.get("reason"), data.get("kind")
        if reason is not None and kind and kind != DecisionKind.ACCEPT and reason.kind != kind:
            self.add_error(
                "reason", f"“{reason.label}” is a {reason.get_kind_display().lower()} reason."
            )
        return data
