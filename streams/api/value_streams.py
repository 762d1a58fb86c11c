"""``/api/streams/``: value streams with their lanes, stages and steps; create, change, delete
and draw a future state: output and input serializers, the filter and the viewset."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from streams.api.common import (
    _EDIT_ERRORS,
    _ERRORS,
    _INTEGER_MAX,
    _SMALLINT_MAX,
    _STREAM_VERSION_HELP,
    _VERSION_PARAMETER,
    IdFilter,
    ScopedToUser,
    _delete_version,
    _InputSerializer,
    _MapViewSet,
    _present,
    _version_field,
    list_retrieve_schema,
)
from streams.api.lanes import LaneSerializer
from streams.api.permissions import _require_team_manager
from streams.api.stages import FunnelStageSerializer
from streams.api.steps import ProcessStepSerializer
from streams.future_states import stream_draw_another_future_state, stream_future_state_open
from streams.models import (
    FunnelStage,
    Lane,
    ProcessStep,
    StreamState,
    Team,
    TimeBasis,
    ValueStream,
)
from streams.selectors import User, streams_visible_to, teams_visible_to
from streams.services import stream_create, stream_delete, stream_update


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
    updated_by = serializers.CharField(
        source="updated_by.username",
        read_only=True,
        allow_null=True,
        help_text="Username of who made the last map edit; empty when nobody has edited it.",
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
            "time_basis",
            "planned_takt_hours",
            "version",
            "created_at",
            "updated_at",
            "updated_by",
            "lanes",
            "stages",
            "steps",
        ]
        read_only_fields = fields


class ValueStreamWriteSerializer(ValueStreamSerializer):
    stream_version = serializers.IntegerField(
        source="version", read_only=True, help_text=_STREAM_VERSION_HELP
    )

    class Meta(ValueStreamSerializer.Meta):
        fields = [*ValueStreamSerializer.Meta.fields, "stream_version"]
        read_only_fields = fields


class StreamCreateSerializer(ScopedToUser, _InputSerializer):
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.none(), help_text="A team you manage."
    )
    name = serializers.CharField(max_length=120, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    period_days = serializers.IntegerField(required=False, max_value=_SMALLINT_MAX)
    target_won_deals_per_period = serializers.IntegerField(
        required=False, allow_null=True, max_value=_INTEGER_MAX
    )
    available_selling_hours_per_period = serializers.FloatField(required=False, allow_null=True)
    currency = serializers.CharField(required=False, max_length=20)

    def scope_to(self, user: User) -> None:
        self.fields["team"].queryset = teams_visible_to(user)


class StreamUpdateSerializer(_InputSerializer):
    refused_fields = {
        "team": "A map stays in its team.",
        "state": "Draw a future state with POST /api/streams/{id}/draw-future-state/.",
    }

    version = _version_field()
    name = serializers.CharField(required=False, max_length=120, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    period_days = serializers.IntegerField(required=False, max_value=_SMALLINT_MAX)
    target_won_deals_per_period = serializers.IntegerField(
        required=False, allow_null=True, max_value=_INTEGER_MAX
    )
    available_selling_hours_per_period = serializers.FloatField(required=False, allow_null=True)
    currency = serializers.CharField(required=False, max_length=20)
    time_basis = serializers.ChoiceField(
        choices=TimeBasis.choices,
        required=False,
        help_text="The time durations are shown in by default on the dashboards, the map and "
        "the metrics API: elapsed (calendar) time or the working time of the team's calendars "
        "(elapsed while the team has none).",
    )


class DrawFutureStateSerializer(_InputSerializer):
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=120,
        help_text="The future state's name. For the first one: '<current state's name> — "
        "future state' when empty (' (2)', ' (3)' … added when the team already has a future "
        "state of that name). "
        "With `another`: required, and no future state of the team may have it.",
    )
    another = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Draw one more future state although the map has one, on purpose and under "
        "its own `name`. Without it, a map that has a future state answers that one (200).",
    )


class ValueStreamFilter(filters.FilterSet):
    team = IdFilter(field_name="team_id", label="Team id")
    state = filters.ChoiceFilter(choices=StreamState.choices)

    class Meta:
        model = ValueStream
        fields = ["team", "state"]


@list_retrieve_schema(
    "Value streams you can see, with their lanes, stages and steps",
    "One value stream with its lanes, stages and steps",
)
class ValueStreamViewSet(_MapViewSet):
    """Value streams of the user's teams, with their lanes, funnel stages and steps."""

    queryset = ValueStream.objects.none()
    serializer_class = ValueStreamSerializer
    filterset_class = ValueStreamFilter
    ordering_fields = ["name", "state", "created_at", "updated_at"]
    _input_serializers = {
        "create": StreamCreateSerializer,
        "partial_update": StreamUpdateSerializer,
        "draw_future_state": DrawFutureStateSerializer,
    }

    def get_queryset(self) -> QuerySet[ValueStream]:
        return (
            streams_visible_to(self.request.user)
            .select_related("updated_by")
            .prefetch_related(
                Prefetch("lanes", queryset=Lane.objects.order_by("position")),
                Prefetch("stages", queryset=FunnelStage.objects.order_by("position")),
                Prefetch("steps", queryset=ProcessStep.objects.order_by("position")),
            )
        )

    def _write(self, edit: Callable[[], ValueStream], status_code: int) -> Response:
        """Run ``edit`` and answer with the stream as it is after it, read in the same
        transaction (the edit's lock on the stream row is still held, so no other edit can
        slip in between)."""
        with transaction.atomic():
            stream = edit()
            fresh = self.get_queryset().get(pk=stream.pk)
            body = ValueStreamWriteSerializer(fresh, context=self.get_serializer_context()).data
        return Response(body, status=status_code)

    @extend_schema(
        summary="Create an empty value stream in a team you manage",
        description="The map starts with no lanes, steps or stages: add them with "
        "/api/lanes/, /api/steps/ and /api/stages/. A team you cannot see is 400 naming `team`; "
        "a team you see but do not manage is 403.",
        request=StreamCreateSerializer,
        responses={201: ValueStreamWriteSerializer, **_ERRORS},
    )
    def create(self, request: Request) -> Response:
        data = self._validated(request)
        _require_team_manager(request.user, data["team"])
        return self._write(
            lambda: stream_create(lanes=[], steps=[], **data), status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Change a map's name, description, period, targets, currency or time basis",
        request=StreamUpdateSerializer,
        responses={200: ValueStreamWriteSerializer, **_EDIT_ERRORS},
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        stream = self.get_object()
        data = self._validated(request)
        fields = _present(data, "version")
        return self._write(
            lambda: stream_update(
                stream=stream, version=data["version"], user=request.user, **fields
            ),
            status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Delete a map",
        description="Refused (400 naming `stream`) when deals are logged against the map.",
        parameters=[_VERSION_PARAMETER],
        request=None,
        responses={204: OpenApiResponse(description="Deleted."), **_EDIT_ERRORS},
    )
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        stream = self.get_object()
        stream_delete(stream=stream, version=_delete_version(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The future state of a current-state map: the linked one, or a new copy",
        description="One linked future state per current map: when the map already has one, "
        "it is answered as it is (200) and nothing is drawn. Otherwise the lanes, steps, stages "
        "and targets are copied into a new future-state map linked to this one (`drawn_from`, "
        "201); when the team already has a future state of that name, ' (2)', ' (3)' … is "
        "added. A second future state is drawn only with `another: true` and a `name` of its "
        "own (400 naming `name` when it is empty or taken).",
        request=DrawFutureStateSerializer,
        responses={
            200: ValueStreamWriteSerializer,
            201: ValueStreamWriteSerializer,
            **_ERRORS,
        },
    )
    @action(detail=True, methods=["post"], url_path="draw-future-state")
    def draw_future_state(self, request: Request, pk: str | None = None) -> Response:
        stream = self.get_object()
        data = self._validated(request)
        if data.get("another"):
            return self._write(
                lambda: stream_draw_another_future_state(stream=stream, name=data.get("name", "")),
                status.HTTP_201_CREATED,
            )
        drawn: list[bool] = []

        def open_or_draw() -> ValueStream:
            future, was_drawn = stream_future_state_open(
                stream=stream, name=data.get("name") or None
            )
            drawn.append(was_drawn)
            return future

        response = self._write(open_or_draw, status.HTTP_201_CREATED)
        if not drawn[0]:
            response.status_code = status.HTTP_200_OK
        return response
