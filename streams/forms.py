"""HTML forms of the map pages. Forms check types; the rules live in ``streams.services``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from streams.models import Team

T = TypeVar("T")


def apply_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ``ValidationError({field: reason})`` next to the form's fields."""
    for field, messages in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


def form_submit(
    form: forms.Form,
    call: Callable[[dict], T],
    errors: Callable[[forms.Form, ValidationError], None] = apply_service_errors,
) -> tuple[bool, T | None]:
    """Run ``call(form.cleaned_data)`` (one service call) if the form is valid. A service's
    ``ValidationError`` goes next to the fields (``errors(form, exc)``, by default
    :func:`apply_service_errors`). Returns ``(True, what the call returned)``, or
    ``(False, None)`` when the form or the service refused."""
    if not form.is_valid():
        return False, None
    try:
        return True, call(form.cleaned_data)
    except ValidationError as exc:
        errors(form, exc)
        return False, None


def confirmed_post(request: HttpRequest, call: Callable[[], T]) -> tuple[bool, T | None, str]:
    """A confirmation page's POST: run ``call`` (one service call). Returns ``(True, what it
    returned, "")`` when it ran, ``(False, None, the service's reasons)`` when the service
    refused, and ``(False, None, "")`` for the page itself (a GET)."""
    if request.method != "POST":
        return False, None, ""
    try:
        return True, call(), ""
    except ValidationError as exc:
        return False, None, " ".join(exc.messages)


class StreamCreateForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    name = forms.CharField(max_length=120, help_text="For example: New business, Renewals.")
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Where the stream starts and ends, and for which customers.",
    )
    period_days = forms.IntegerField(
        min_value=1,
        max_value=366,
        initial=30,
        label="Planning period (days)",
        help_text="The targets below are per period of this many days.",
    )
    target_won_deals_per_period = forms.IntegerField(
        min_value=1,
        required=False,
        label="Target won deals per period",
        help_text="Customer demand. With available hours it gives the takt time.",
    )
    available_selling_hours_per_period = forms.FloatField(
        min_value=0.1,
        required=False,
        label="Available selling hours per period",
        help_text="Hours the team can spend selling in one period (people × hours).",
    )
    currency = forms.CharField(
        min_length=3, max_length=3, initial="USD", help_text="Three letters: USD, EUR, GBP…"
    )

    def __init__(self, *args, teams=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()


class FutureStateForm(forms.Form):
    """A second future state, asked for on purpose: its own name."""

    name = forms.CharField(
        max_length=120,
        label="Name of the new future state",
        help_text="A name no other future state of the team has, for example “Sales A: "
        "self-serve trials”.",
    )
