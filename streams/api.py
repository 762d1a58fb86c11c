"""REST API of the map: the user's teams and the value streams they can see (read-only).

Querysets come from ``streams.selectors`` so the API shows exactly what the pages show: a user
sees the teams they belong to and those teams' streams; staff see everything. Editing the map
through the API comes with the map CRUD issue.
"""

from __future__ import annotations

from django import forms
from django.db.models import CharField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, viewsets

from streams.models import (
    FunnelStage,
    Lane,
    Membership,
    ProcessStep,
    StreamState,
    Team,
    ValueStream,
)
from streams.selectors import streams_visible_to, teams_visible_to

#: Reported as the role of a staff user in a team they are not a member of.
ADMIN_ROLE = "admin"


# --- Serializers --------------------------------------------------------------------------


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


class LaneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lane
        fields = ["id", "name", "position", "hourly_cost"]
        read_only_fields = fields


class FunnelStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = FunnelStage
        fields = ["id", "name", "position"]
        read_only_fields = fields


class ProcessStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProcessStep
        fields = [
            "id",
            "position",
            "name",
            "lane",
            "stage",
            "value_class",
            "planned_process_hours",
            "planned_lead_hours",
            "planned_pct_complete_accurate",
            "planned_wip",
            "notes",
            "motion_waste",
            "unused_talent",
        ]
        read_only_fields = fields


class ValueStreamSerializer(serializers.ModelSerializer):
    lanes = LaneSerializer(many=True, read_only=True)
    stages = FunnelStageSerializer(many=True, read_only=True)
    steps = ProcessStepSerializer(many=True, read_only=True)
    planned_takt_hours = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Available selling hours ÷ target won deals per period; empty when either "
        "is missing.",
    )

    class Meta:
        model = ValueStream
        fields = [
            "id",
            "team",
            "name",
            "slug",
            "description",
            "state",
            "drawn_from",
            "period_days",
            "target_won_deals_per_period",
            "available_selling_hours_per_period",
            "currency",
            "planned_takt_hours",
            "version",
            "created_at",
            "updated_at",
            "lanes",
            "stages",
            "steps",
        ]
        read_only_fields = fields


# --- Filters ------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """Filters on a foreign key by its plain id, not by a model choice: an id outside the
    user's data filters to nothing instead of answering 400, so a filter does not reveal
    which ids exist."""

    field_class = forms.IntegerField


class ValueStreamFilter(filters.FilterSet):
    team = IdFilter(field_name="team_id", label="Team id")
    state = filters.ChoiceFilter(choices=StreamState.choices)

    class Meta:
        model = ValueStream
        fields = ["team", "state"]


# --- ViewSets -----------------------------------------------------------------------------


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


class ValueStreamViewSet(viewsets.ReadOnlyModelViewSet):
    """Value streams of the user's teams, with their lanes, funnel stages and steps."""

    queryset = ValueStream.objects.none()
    serializer_class = ValueStreamSerializer
    filterset_class = ValueStreamFilter
    ordering_fields = ["name", "state", "created_at", "updated_at"]

    def get_queryset(self) -> QuerySet[ValueStream]:
        return streams_visible_to(self.request.user).prefetch_related(
            Prefetch("lanes", queryset=Lane.objects.order_by("position")),
            Prefetch("stages", queryset=FunnelStage.objects.order_by("position")),
            Prefetch("steps", queryset=ProcessStep.objects.order_by("position")),
        )
