"""Who may change a map through the API: reads follow the visible queryset (anything else is
404), changing a map or a part of it needs ``stream_can_edit``, creating needs the team's
manager (403 otherwise)."""

from __future__ import annotations

from django.db.models import Model
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from streams.models import Role, Team, ValueStream
from streams.selectors import User, role_in_team, stream_can_edit

#: Reported as the role of a staff user in a team they are not a member of.
ADMIN_ROLE = "admin"


EDIT_REFUSED = "You can see this map but not change it: only the team's managers edit a map."


CREATE_REFUSED = "Only the team's managers create maps in it."


def _stream_of(obj: Model) -> ValueStream:
    return obj if isinstance(obj, ValueStream) else obj.stream


class MapPermission(permissions.BasePermission):
    """Reads follow the visible queryset (anything else is 404); changing a map or a part of
    it needs ``stream_can_edit``. Creating is checked by the view once the body names the
    stream or team (:func:`_require_edit`, :func:`_require_team_manager`)."""

    message = EDIT_REFUSED

    def has_object_permission(self, request: Request, view: APIView, obj: Model) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return stream_can_edit(user=request.user, stream=_stream_of(obj))


def _require_edit(user: User, stream: ValueStream) -> None:
    if not stream_can_edit(user=user, stream=stream):
        raise exceptions.PermissionDenied(EDIT_REFUSED)


def _require_team_manager(user: User, team: Team) -> None:
    if not (user.is_staff or role_in_team(user, team.id) == Role.MANAGER):
        raise exceptions.PermissionDenied(CREATE_REFUSED)
