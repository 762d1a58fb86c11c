"""Forms of the People and account pages. They check types; the rules live in
``streams.people.services``."""

from __future__ import annotations

from django import forms

from streams.models import Role
from streams.people.selectors import time_zone_choices


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        help_text="The invitation, with a link to choose a password, goes to this address.",
    )
    name = forms.CharField(
        label="Name", max_length=150, required=False, help_text="First and last name, if known."
    )
    role = forms.ChoiceField(
        label="Role",
        choices=Role.choices,
        initial=Role.REP,
        help_text="Managers edit maps, move deals and manage people; reps work their deals; "
        "leadership reads.",
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", "invite_%s")
        super().__init__(*args, **kwargs)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)

    def __init__(self, *args, member_id: int, **kwargs) -> None:
        kwargs.setdefault("auto_id", f"member{member_id}_%s")
        super().__init__(*args, **kwargs)


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Every time the product shows, and every date and time you enter, is in this "
        "zone.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = time_zone_choices()
