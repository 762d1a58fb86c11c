"""REST API of a team's people: members (with their role and status), deactivated members,
and invitations. As on the People page, only a team's managers (and staff) see its people,
with their emails, and invite, change roles, deactivate and reactivate: reps and leadership get
403 (a list asked by someone who manages no team, or filtered to a team they do not manage;
one member of such a team); teams the user is not in answer 404. Writes go through
``streams.people.services``: a refused rule is a 400 naming the field (``role`` when the team
would be left without a manager)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from streams.api import IdFilter
from streams.api.common import InputPerActionViewSet, ScopedToUser, write_schema
from streams.ids import parse_id
from streams.models import InactiveMembership, Invitation, Membership, Role, Team
from streams.people.selectors import team_can_manage_people, teams_people_visible_to
from streams.people.services import (
    invitation_resend,
    member_change_role,
    member_deactivate,
    member_invite,
    member_reactivate,
)
from streams.selectors import User, teams_visible_to

_ERRORS = {
    400: OpenApiResponse(description="Invalid input: {field: [reason, …]}."),
    403: OpenApiResponse(description="Only the team's managers manage its people."),
    404: OpenApiResponse(description="No such member among the teams you are in."),
}
_READ_ERRORS = {
    400: OpenApiResponse(description="Invalid filter: {parameter: [reason, …]}."),
    403: OpenApiResponse(
        description="Only the team's managers see its people (as on the People page)."
    ),
}
_READ_ONE_ERRORS = {403: _READ_ERRORS[403], 404: _ERRORS[404]}


def _name(user: Any) -> str:
    return user.get_full_name() or user.username


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    name = serializers.SerializerMethodField()
    email = serializers.EmailField(source="user.email", read_only=True)
    status = serializers.SerializerMethodField(
        help_text="`active`, or `invited` while the person has not set a password yet."
    )

    class Meta:
        model = Membership
        fields = ["id", "team", "user", "username", "name", "email", "role", "status"]
        read_only_fields = fields

    def get_name(self, membership: Membership) -> str:
        return _name(membership.user)

    def get_status(self, membership: Membership) -> str:
        return "active" if membership.user.has_usable_password() else "invited"


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InactiveMemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    name = serializers.SerializerMethodField()

    class Meta:
        model = InactiveMembership
        fields = ["id", "team", "user", "username", "name", "role", "deactivated_at"]
        read_only_fields = fields

    def get_name(self, inactive: InactiveMembership) -> str:
        return _name(inactive.user)


class InvitationSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    status = serializers.SerializerMethodField(help_text="`pending` or `accepted`.")

    class Meta:
        model = Invitation
        fields = [
            "id",
            "team",
            "user",
            "email",
            "role",
            "invited_by",
            "sent_at",
            "accepted_at",
            "status",
        ]
        read_only_fields = fields

    def get_status(self, invitation: Invitation) -> str:
        return "accepted" if invitation.accepted_at else "pending"


class InvitationCreateSerializer(ScopedToUser, serializers.Serializer):
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.none())
    email = serializers.CharField(max_length=254, help_text="Where the invitation goes.")
    role = serializers.ChoiceField(choices=Role.choices)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=150)

    def scope_to(self, user: User) -> None:
        self.fields["team"].queryset = teams_visible_to(user)


class TeamFilter(filters.FilterSet):
    team = extend_schema_field({"type": "integer", "description": "Team id"})(
        IdFilter(field_name="team_id", label="Team id")
    )


def _read_schema(
    serializer: type[serializers.Serializer], *, list_summary: str, retrieve_summary: str
) -> Any:
    """The list and retrieve schema of a people viewset: rows of ``serializer``, readable by
    the team's managers only."""
    return extend_schema_view(
        list=extend_schema(
            summary=list_summary, responses={200: serializer(many=True), **_READ_ERRORS}
        ),
        retrieve=extend_schema(
            summary=retrieve_summary, responses={200: serializer, **_READ_ONE_ERRORS}
        ),
    )


_member_write = write_schema(MemberSerializer, _ERRORS)
_inactive_write = write_schema(InactiveMemberSerializer, _ERRORS)
_invitation_write = write_schema(InvitationSerializer, _ERRORS)


class _PeopleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, InputPerActionViewSet):
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = TeamFilter
    #: How a list is ordered (the rows are those of ``queryset``'s model).
    people_order: tuple[str, ...] = ("team__name", "user__username", "pk")

    def get_queryset(self) -> QuerySet:
        """The rows of ``queryset``'s model in the teams the user is in (404 for the others'
        rows) and, as on the People page, readable only where they manage: a list is 403 for
        someone who manages no team, or filtered to a team of theirs they do not manage; one
        row of such a team is 403 too (``check_object_permissions``)."""
        user = self.request.user
        rows = self.queryset.model.objects.select_related("user", "team")
        visible = rows.order_by(*self.people_order).filter(team__in=teams_visible_to(user))
        if self.action != "list" or user.is_staff:
            return visible
        managed = teams_people_visible_to(user)
        asked = parse_id(self.request.query_params.get("team"))
        if not managed.exists() or (
            asked is not None
            and teams_visible_to(user).filter(pk=asked).exists()
            and not managed.filter(pk=asked).exists()
        ):
            raise exceptions.PermissionDenied(_READ_ERRORS[403].description)
        return visible.filter(team__in=managed)

    def check_object_permissions(self, request: Request, obj: Any) -> None:
        super().check_object_permissions(request, obj)
        if not team_can_manage_people(user=request.user, team=obj.team):
            raise exceptions.PermissionDenied(_READ_ERRORS[403].description)

    def _base_url(self) -> str:
        return self.request.build_absolute_uri("/")


@_read_schema(
    MemberSerializer,
    list_summary="Members of the teams you manage, with their email, role and status",
    retrieve_summary="One member (managers)",
)
class MemberViewSet(_PeopleViewSet):
    queryset = Membership.objects.none()
    serializer_class = MemberSerializer
    _input_serializers = {"partial_update": RoleSerializer}
    http_method_names = ["get", "post", "patch", "head", "options"]

    @_member_write(
        "Change a member's role (managers)",
        RoleSerializer,
        description="Refused (400 naming `role`) when it would leave the team without a manager.",
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        membership = self.get_object()
        # An empty or invalid body is still a write: whoever may not change roles hears 403
        # first, as for a valid one, not a 400 about the body.
        if not team_can_manage_people(user=request.user, team=membership.team):
            raise exceptions.PermissionDenied("Only the team's managers manage its people.")
        data = self._validated(request)
        membership = member_change_role(membership=membership, by=request.user, role=data["role"])
        return Response(MemberSerializer(membership).data)

    @_inactive_write(
        "Deactivate a member (managers)",
        None,
        description="The member leaves the team (kept, with the role, among the deactivated "
        "members); someone left in no team can no longer log in. Refused (400 naming `member`) "
        "for the team's last manager.",
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, pk: str | None = None) -> Response:
        inactive = member_deactivate(membership=self.get_object(), by=request.user)
        return Response(InactiveMemberSerializer(inactive).data)


@_read_schema(
    InactiveMemberSerializer,
    list_summary="Deactivated members of the teams you manage",
    retrieve_summary="One deactivated member (managers)",
)
class InactiveMemberViewSet(_PeopleViewSet):
    queryset = InactiveMembership.objects.none()
    serializer_class = InactiveMemberSerializer

    @_member_write("Reactivate a member with the role they had (managers)", None, created=True)
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, pk: str | None = None) -> Response:
        membership = member_reactivate(inactive=self.get_object(), by=request.user)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


@_read_schema(
    InvitationSerializer,
    list_summary="Invitations of the teams you manage",
    retrieve_summary="One invitation (managers)",
)
class InvitationViewSet(_PeopleViewSet):
    queryset = Invitation.objects.none()
    serializer_class = InvitationSerializer
    _input_serializers = {"create": InvitationCreateSerializer}
    people_order = ("-created_at", "-pk")  # newest first

    @_invitation_write(
        "Invite someone by email into a team with a role (managers)",
        InvitationCreateSerializer,
        description="Someone new gets an account without a password (their email is the "
        "username) and an email with a set-password link; someone with an account is added "
        "to the team and told. Sent through Django's email framework once committed.",
        created=True,
    )
    def create(self, request: Request) -> Response:
        data = self._validated(request)
        invitation = member_invite(by=request.user, base_url=self._base_url(), **data)
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @_invitation_write("Send an invitation again, with a fresh link (managers)", None)
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, pk: str | None = None) -> Response:
        invitation = invitation_resend(
            invitation=self.get_object(), by=request.user, base_url=self._base_url()
        )
        return Response(InvitationSerializer(invitation).data)
