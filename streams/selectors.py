"""Reads of teams, roles and streams, and the permission rules every page and API call uses.

Roles are per team (``Membership``): a *manager* edits the streams and deals of the team, a
*rep* sees the team's streams and only their own deals, *leadership* reads everything of the
team and edits nothing. Django staff are admins and see everything.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, QuerySet

from streams.models import Membership, Role, Team, ValueStream

User = AbstractBaseUser | AnonymousUser


def team_ids_with_role(user: User, roles: tuple[str, ...] = tuple(Role.values)) -> list[int]:
    """Ids of the teams in which ``user`` has one of ``roles``."""
    if not user.is_authenticated:
        return []
    return list(
        Membership.objects.filter(user=user, role__in=roles).values_list("team_id", flat=True)
    )


def role_in_team(user: User, team_id: int) -> str | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(user=user, team_id=team_id).values_list("role", flat=True).first()
    )


def teams_visible_to(user: User) -> QuerySet[Team]:
    if user.is_authenticated and user.is_staff:
        return Team.objects.all()
    return Team.objects.filter(id__in=team_ids_with_role(user))


def streams_visible_to(user: User) -> QuerySet[ValueStream]:
    """Every member of a team sees the team's maps; reps see the map, not others' deals."""
    streams = ValueStream.objects.select_related("team", "drawn_from")
    if user.is_authenticated and user.is_staff:
        return streams
    return streams.filter(team_id__in=team_ids_with_role(user))


def stream_can_edit(*, user: User, stream: ValueStream) -> bool:
    """Managers of the stream's team and admins edit a map; reps and leadership only view."""
    if not user.is_authenticated:
        return False
    return user.is_staff or role_in_team(user, stream.team_id) == Role.MANAGER


def home_memberships(user: User) -> list[dict]:
    """The home page: each of the user's teams with the user's role and the team's streams."""
    memberships = Membership.objects.filter(user=user).select_related("team")
    teams = [
        {"team": m.team, "role": m.get_role_display(), "role_code": m.role} for m in memberships
    ]
    if user.is_staff:
        member_team_ids = {t["team"].id for t in teams}
        teams += [
            {"team": team, "role": "Admin", "role_code": "admin"}
            for team in Team.objects.exclude(id__in=member_team_ids)
        ]
    streams_by_team: dict[int, list[ValueStream]] = {}
    streams = (
        ValueStream.objects.filter(team__in=[t["team"] for t in teams])
        .select_related("drawn_from")
        .annotate(step_count=Count("steps"))
        .order_by("name", "state")
    )
    for stream in streams:
        streams_by_team.setdefault(stream.team_id, []).append(stream)
    for entry in teams:
        entry["streams"] = streams_by_team.get(entry["team"].id, [])
    return teams
