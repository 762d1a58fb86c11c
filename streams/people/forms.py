"""Forms of the People and account pages. They check types; the rules live in
``streams.people.services``."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm

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


class _RulesOnTheFirstPasswordField:
    """Django reports a password its rules refuse ("This password is too short…") on the
    confirmation field, ``new_password2``: the person reads "New password confirmation: …"
    about the password they typed first. Here the rules speak on ``new_password1``, where the
    password is chosen; the confirmation only says when the two differ."""

    def clean(self):
        self.validate_passwords("new_password1", "new_password2")
        self.validate_password_for_user(self.user, "new_password1")
        return forms.Form.clean(self)


class InvitationPasswordForm(_RulesOnTheFirstPasswordField, SetPasswordForm):
    """The invitation's *Choose your password* form."""


class AccountPasswordChangeForm(_RulesOnTheFirstPasswordField, PasswordChangeForm):
    """The header's *Password* page (old password, new, confirmation)."""
