"""Writes about the people of a team: invite by email, change a role, deactivate and
reactivate, accept an invitation, and each person's time zone.

Every function checks the acting user's right first (``PermissionDenied``: only the team's
managers and staff manage people), validates and raises ``ValidationError({field: reason})``,
then writes in one transaction. A team always keeps at least one manager: nobody demotes or
deactivates its last one, themselves included.

The invitation email carries a set-password link made with Django's password-reset token
(``default_token_generator``): it is valid for ``PASSWORD_RESET_TIMEOUT`` and stops working
once the password is set. The email is sent once the transaction commits, through Django's
email framework (``EMAIL_BACKEND``: the console by default).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from streams.models import InactiveMembership, Invitation, Membership, Role, Team, UserProfile
from streams.people.selectors import available_time_zones, team_can_manage_people
from streams.selectors import User

MAX_NAME = 150
MAX_USERNAME = 150


def _require_manager(by: User, team: Team) -> None:
    if not team_can_manage_people(user=by, team=team):
        raise PermissionDenied("Only the team's managers manage its people.")


def _check_role(role: str, errors: dict[str, str]) -> None:
    if role not in Role.values:
        errors["role"] = f"Choose a role: {', '.join(Role.labels)}."


def _keeps_a_manager(team: Team, leaving: Membership, field: str = "role") -> None:
    """Refuse a change that would leave ``team`` without a manager."""
    if leaving.role != Role.MANAGER:
        return
    others = Membership.objects.filter(team=team, role=Role.MANAGER).exclude(pk=leaving.pk)
    if not others.exists():
        raise ValidationError(
            {
                field: f"{_name(leaving.user)} is the team's last manager: make someone else "
                "a manager first, so the team is never left without one."
            }
        )


def _name(user: User) -> str:
    return user.get_full_name() or user.username


def invitation_link(*, user: User, base_url: str) -> str:
    """The set-password link of ``user`` (Django's reset token; one use, time-limited)."""
    path = reverse(
        "people:invitation_accept",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return base_url.rstrip("/") + path


def _send_invitation(invitation: Invitation, base_url: str) -> None:
    user, team = invitation.user, invitation.team
    inviter = _name(invitation.invited_by) if invitation.invited_by else "A manager"
    lines = [
        f"Hello {user.get_full_name() or user.email},",
        "",
        f"{inviter} invited you to the team “{team.name}” in Sales value stream, as "
        f"{invitation.get_role_display().lower()}.",
        "",
    ]
    if user.has_usable_password():
        lines += [f"Log in as {user.username} to see the team: {base_url.rstrip('/')}/"]
    else:
        days = max(1, round(settings.PASSWORD_RESET_TIMEOUT / 86400))
        lines += [
            "Choose your password here (the link works once, for "
            f"{days} day{'s' if days != 1 else ''}):",
            invitation_link(user=user, base_url=base_url),
            "",
            f"Then log in with the username {user.username}.",
        ]
    message = "\n".join(lines) + "\n"
    subject = f"You are invited to {team.name} (Sales value stream)"
    transaction.on_commit(
        lambda: send_mail(subject, message, None, [user.email], fail_silently=False)
    )


@transaction.atomic
def member_invite(
    *,
    team: Team,
    by: User,
    email: str,
    role: str,
    name: str = "",
    base_url: str,
    now: datetime | None = None,
) -> Invitation:
    """Invite a person by email into ``team`` with ``role``. Someone new gets an account
    (their email is the username) without a password, and an email with the set-password
    link; a person who already has an account is added to the team and told so."""
    _require_manager(by, team)
    # One invitation of the team at a time: two managers inviting the same person at once
    # get one membership and a message, not a database error.
    Team.objects.select_for_update().filter(pk=team.pk).first()
    now = now or timezone.now()
    email = (email or "").strip()
    name = " ".join((name or "").split())
    errors: dict[str, str] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = "Give an email address such as ana@example.com."
    if "email" not in errors and len(email) > MAX_USERNAME:
        # The email becomes the username, which holds 150 characters.
        errors["email"] = f"Use an email address of at most {MAX_USERNAME} characters."
    _check_role(role, errors)
    if len(name) > MAX_NAME:
        errors["name"] = f"Keep the name within {MAX_NAME} characters."
    UserModel = get_user_model()
    user = UserModel.objects.filter(email__iexact=email).order_by("pk").first() if email else None
    if user is not None and "email" not in errors:
        if Membership.objects.filter(team=team, user=user).exists():
            errors["email"] = f"{email} is already a member of {team.name}."
        elif InactiveMembership.objects.filter(team=team, user=user).exists():
            errors["email"] = (
                f"{email} was deactivated in {team.name}: reactivate them in the list below."
            )
    taken = user is None and "email" not in errors
    if taken and UserModel.objects.filter(username__iexact=email).exists():
        errors["email"] = f"The username {email} is taken by another account."
    if errors:
        raise ValidationError(errors)
    if user is None:
        first, _, last = name.partition(" ")
        user = UserModel(username=email.lower(), email=email, first_name=first, last_name=last)
        user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:  # the same person invited into another team just now
            raise ValidationError(
                {"email": f"An account for {email} was just created: invite them again."}
            ) from exc
    elif not user.is_active and not user.memberships.exists():
        user.is_active = True  # deactivated everywhere before: this team takes them back
        user.save(update_fields=["is_active"])
    Membership.objects.create(team=team, user=user, role=role)
    invitation = Invitation.objects.create(
        team=team, user=user, role=role, invited_by=by, sent_at=now
    )
    _send_invitation(invitation, base_url)
    return invitation


@transaction.atomic
def invitation_resend(
    *, invitation: Invitation, by: User, base_url: str, now: datetime | None = None
) -> Invitation:
    """Send the invitation again, with a fresh link (the old one keeps working until the
    password is set or it expires)."""
    _require_manager(by, invitation.team)
    if invitation.user.has_usable_password():
        raise ValidationError({"invitation": f"{_name(invitation.user)} already has a password."})
    if not Membership.objects.filter(team=invitation.team, user=invitation.user).exists():
        raise ValidationError({"invitation": "They are no longer a member of the team."})
    invitation.sent_at = now or timezone.now()
    invitation.save(update_fields=["sent_at"])
    _send_invitation(invitation, base_url)
    return invitation


@transaction.atomic
def invitation_accept(*, user: User, now: datetime | None = None) -> int:
    """The invited user set their password: their open invitations are accepted."""
    return Invitation.objects.filter(user=user, accepted_at__isnull=True).update(
        accepted_at=now or timezone.now()
    )


def _locked_membership(membership: Membership) -> Membership:
    # The team row first: two managers demoting each other at once cannot both pass.
    Team.objects.select_for_update().filter(pk=membership.team_id).first()
    found = (
        Membership.objects.select_for_update()
        .select_related("team", "user")
        .filter(pk=membership.pk)
        .first()
    )
    if found is None:
        raise ValidationError({"member": "That person is no longer a member of the team."})
    return found


@transaction.atomic
def member_change_role(*, membership: Membership, by: User, role: str) -> Membership:
    """Give a member another role in the team (never leaving the team without a manager)."""
    _require_manager(by, membership.team)
    membership = _locked_membership(membership)
    errors: dict[str, str] = {}
    _check_role(role, errors)
    if errors:
        raise ValidationError(errors)
    if role != Role.MANAGER:
        _keeps_a_manager(membership.team, membership)
    membership.role = role
    membership.save(update_fields=["role"])
    Invitation.objects.filter(
        team=membership.team, user=membership.user, accepted_at__isnull=True
    ).update(role=role)
    return membership


@transaction.atomic
def member_deactivate(
    *, membership: Membership, by: User, now: datetime | None = None
) -> InactiveMembership:
    """Take a member out of the team, keeping their role for a reactivation. Their deals,
    cycles and history stay. Someone left in no team can no longer log in."""
    _require_manager(by, membership.team)
    membership = _locked_membership(membership)
    _keeps_a_manager(membership.team, membership, field="member")
    user, team = membership.user, membership.team
    inactive = InactiveMembership.objects.create(
        user=user,
        team=team,
        role=membership.role,
        deactivated_at=now or timezone.now(),
        deactivated_by=by,
    )
    membership.delete()
    if not user.is_staff and not user.memberships.exists():
        user.is_active = False
        user.save(update_fields=["is_active"])
    return inactive


@transaction.atomic
def member_reactivate(*, inactive: InactiveMembership, by: User) -> Membership:
    """Bring a deactivated member back into the team, with the role they had."""
    _require_manager(by, inactive.team)
    Team.objects.select_for_update().filter(pk=inactive.team_id).first()
    inactive = (
        InactiveMembership.objects.select_related("user", "team").filter(pk=inactive.pk).first()
    )
    if inactive is None:
        raise ValidationError({"member": "That person is not deactivated in the team."})
    membership = Membership.objects.create(
        user=inactive.user, team=inactive.team, role=inactive.role
    )
    inactive.delete()
    if not membership.user.is_active:
        membership.user.is_active = True
        membership.user.save(update_fields=["is_active"])
    return membership


# --- Time zones -----------------------------------------------------------------------------


@transaction.atomic
def profile_set_time_zone(*, user: User, time_zone: str, only_if_unset: bool = False) -> bool:
    """Store ``user``'s time zone (an IANA name). ``only_if_unset``: the browser's proposal at
    the first login, which never overrides a zone the person chose. Returns whether it was
    stored."""
    time_zone = (time_zone or "").strip()
    if time_zone not in available_time_zones():
        raise ValidationError(
            {"time_zone": f"“{time_zone[:64]}” is not a time zone name such as Europe/Berlin."}
        )
    profile, _ = UserProfile.objects.select_for_update().get_or_create(user=user)
    if only_if_unset and profile.time_zone:
        return False
    profile.time_zone = time_zone
    profile.save(update_fields=["time_zone", "updated_at"])
    return True
