"""Reads about the people of a team, and who may manage them.

A team's **managers** (and Django staff) see its People page, invite, change roles, deactivate
and reactivate. Reps and leadership do not manage people; another team's users see nothing
(404).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.db.models import QuerySet

from streams.models import InactiveMembership, Invitation, Membership, Role, Team, UserProfile
from streams.selectors import User, role_in_team


def team_can_manage_people(*, user: User, team: Team) -> bool:
    if not user.is_authenticated:
        return False
    return user.is_staff or role_in_team(user, team.pk) == Role.MANAGER


def teams_people_visible_to(user: User) -> QuerySet[Team]:
    """Teams whose People page ``user`` may open (managers; staff: every team)."""
    if user.is_staff:
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user, memberships__role=Role.MANAGER)


def team_managers_count(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.MANAGER).count()


@dataclass(frozen=True)
class Person:
    """One row of the People page."""

    user: User
    role: str
    role_label: str
    #: ``active``, ``invited`` (no password set yet) or ``deactivated``.
    status: str
    membership: Membership | None
    inactive: InactiveMembership | None
    invitation: Invitation | None
    invited_at: datetime | None

    @property
    def status_label(self) -> str:
        return {
            "active": "Active",
            "invited": "Invited, no password yet",
            "deactivated": "Deactivated",
        }[self.status]


def team_people(team: Team) -> list[Person]:
    """Every member of ``team`` (active or invited), then the deactivated ones, by name."""
    invitations: dict[int, Invitation] = {}
    for invitation in Invitation.objects.filter(team=team).order_by("created_at"):
        invitations[invitation.user_id] = invitation  # the latest wins
    people = []
    for m in Membership.objects.filter(team=team).select_related("user"):
        invitation = invitations.get(m.user_id)
        status = "active" if m.user.has_usable_password() else "invited"
        people.append(
            Person(
                m.user,
                m.role,
                m.get_role_display(),
                status,
                m,
                None,
                invitation,
                invitation.sent_at if invitation else None,
            )
        )
    for i in InactiveMembership.objects.filter(team=team).select_related("user"):
        people.append(
            Person(i.user, i.role, i.get_role_display(), "deactivated", None, i, None, None)
        )
    order = {"active": 0, "invited": 0, "deactivated": 1}
    return sorted(
        people,
        key=lambda p: (order[p.status], (p.user.get_full_name() or p.user.username).lower()),
    )


# --- Time zones -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def available_time_zones() -> frozenset[str]:
    """The IANA names this machine knows (``zoneinfo.available_timezones``), without the
    legacy aliases that are not Area/Location names, plus UTC."""
    return frozenset(zoneinfo.available_timezones())


def time_zone_choices() -> list[tuple[str, str]]:
    names = sorted(
        name for name in available_time_zones() if "/" in name and not name.startswith("Etc/")
    )
    return [("UTC", "UTC")] + [(name, name.replace("_", " ")) for name in names]


def user_time_zone(user: User) -> str:
    """The user's chosen time zone name, or "" when none is set yet."""
    if not user.is_authenticated:
        return ""
    zone = UserProfile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return zone or ""
