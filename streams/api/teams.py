"""``/api/teams/``: the teams the user belongs to, each with the user's role."""

from __future__ import annotations

from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from rest_framework import serializers, viewsets

from streams.api.permissions import ADMIN_ROLE
from streams.models import Membership, Team
from streams.selectors import teams_visible_to


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(
        choices=[*Membership._meta.get_field("role").choices, (ADMIN_ROLE, "Admin")],
        read_only=True,
        help_text="The requesting user's role in this team; 'admin' for staff who are not members.",
    )

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "role", "created_at"]
        read_only_fields = fields


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    """The teams the user belongs to, each with the user's role (staff: every team)."""

    queryset = Team.objects.none()
    serializer_class = TeamSerializer
    ordering_fields = ["name", "created_at"]

    def get_queryset(self) -> QuerySet[Team]:
        user = self.request.user
        own_role = Membership.objects.filter(team=OuterRef("pk"), user_id=user.pk).values("role")
        return teams_visible_to(user).annotate(
            role=Coalesce(Subquery(own_role[:1]), Value(ADMIN_ROLE), output_field=CharField())
        )
