"""REST API of the map: the user's teams, and create/read/update/delete of value streams, their
lanes, process steps and funnel stages.

Querysets come from ``streams.selectors`` so the API shows exactly what the pages show: a user
sees the teams they belong to and those teams' maps (staff: everything); anything else answers
404. Writing needs ``stream_can_edit`` (the team's managers and staff), else 403.

Every write goes through ``streams.services`` and names the map ``version`` it is based on;
the services refuse an edit based on an older version with ``StaleVersionError``, which
``vsm_project.api.exception_handler`` answers with 409 ``{"version": [reason],
"current_version": N}``. Other service errors answer 400 ``{field: [reason]}``. A successful
write answers with ``stream_version``, the map's version after the edit, so an editor can go on
without reloading the map. Serializers here only check types; the rules live in the services.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.db import transaction
from django.db.models import CharField, Model, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from streams.future_states import stream_draw_another_future_state, stream_future_state_open
from streams.models import (
    FunnelStage,
    Lane,
    Membership,
    ProcessStep,
    Role,
    StreamState,
    Team,
    ValueClass,
    ValueStream,
)
from streams.selectors import (
    User,
    role_in_team,
    stream_can_edit,
    streams_visible_to,
    teams_visible_to,
)
from streams.services import (
    lane_add,
    lane_delete,
    lane_update,
    stage_add,
    stage_delete,
    stage_update,
    step_add,
    step_delete,
    step_move,
    step_update,
    stream_create,
    stream_delete,
    stream_update,
)

#: Reported as the role of a staff user in a team they are not a member of.
ADMIN_ROLE = "admin"

EDIT_REFUSED = "You can see this map but not change it: only the team's managers edit a map."
CREATE_REFUSED = "Only the team's managers create maps in it."

#: Upper bounds of the database columns (PostgreSQL smallint / integer): type checks, not rules.
_SMALLINT_MAX = 32_767
_INTEGER_MAX = 2_147_483_647


# --- Permissions --------------------------------------------------------------------------


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


# --- Output serializers -------------------------------------------------------------------


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


_STREAM_VERSION_HELP = "The map's version after this edit: send it as `version` with the next edit."


class ValueStreamWriteSerializer(ValueStreamSerializer):
    stream_version = serializers.IntegerField(
        source="version", read_only=True, help_text=_STREAM_VERSION_HELP
    )

    class Meta(ValueStreamSerializer.Meta):
        fields = [*ValueStreamSerializer.Meta.fields, "stream_version"]
        read_only_fields = fields


class LaneDetailSerializer(LaneSerializer):
    class Meta(LaneSerializer.Meta):
        fields = ["id", "stream", "name", "position", "hourly_cost"]
        read_only_fields = fields


class LaneWriteSerializer(LaneDetailSerializer):
    stream_version = serializers.IntegerField(read_only=True, help_text=_STREAM_VERSION_HELP)

    class Meta(LaneDetailSerializer.Meta):
        fields = [*LaneDetailSerializer.Meta.fields, "stream_version"]
        read_only_fields = fields


class ProcessStepDetailSerializer(ProcessStepSerializer):
    class Meta(ProcessStepSerializer.Meta):
        fields = ["id", "stream", *ProcessStepSerializer.Meta.fields[1:]]
        read_only_fields = fields


class ProcessStepWriteSerializer(ProcessStepDetailSerializer):
    stream_version = serializers.IntegerField(read_only=True, help_text=_STREAM_VERSION_HELP)

    class Meta(ProcessStepDetailSerializer.Meta):
        fields = [*ProcessStepDetailSerializer.Meta.fields, "stream_version"]
        read_only_fields = fields


class FunnelStageDetailSerializer(FunnelStageSerializer):
    class Meta(FunnelStageSerializer.Meta):
        fields = ["id", "stream", "name", "position"]
        read_only_fields = fields


class FunnelStageWriteSerializer(FunnelStageDetailSerializer):
    stream_version = serializers.IntegerField(read_only=True, help_text=_STREAM_VERSION_HELP)

    class Meta(FunnelStageDetailSerializer.Meta):
        fields = [*FunnelStageDetailSerializer.Meta.fields, "stream_version"]
        read_only_fields = fields


class StreamVersionSerializer(serializers.Serializer):
    """The answer to deleting a lane, step or stage."""

    stream_version = serializers.IntegerField(read_only=True, help_text=_STREAM_VERSION_HELP)


class StaleVersionSerializer(serializers.Serializer):
    """The answer (409) to an edit based on an older version of the map: nothing was saved."""

    version = serializers.ListField(
        child=serializers.CharField(), help_text="Who changed the map when, and what to do."
    )
    current_version = serializers.IntegerField(help_text="The map's version now.")


# --- Input serializers (types only; the services check the rules) -------------------------


def _request_user(serializer: serializers.Serializer) -> User | None:
    return getattr(serializer.context.get("request"), "user", None)


class _InputSerializer(serializers.Serializer):
    """Refuses fields it does not know, naming them, rather than silently ignoring them (a
    misspelt or read-only field would otherwise look saved)."""

    #: Field name → why it cannot be sent here, for fields a client is likely to try.
    refused_fields: Mapping[str, str] = {}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(getattr(self, "initial_data", {})) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {
                    name: [self.refused_fields.get(name, "This field cannot be set here.")]
                    for name in unknown
                }
            )
        return attrs

    def visible_streams(self) -> QuerySet[ValueStream]:
        user = _request_user(self)
        return ValueStream.objects.none() if user is None else streams_visible_to(user)


def _version_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1,
        help_text="The map version this edit is based on: the stream's `version`, or the "
        "`stream_version` of your last edit. An older one is refused with 409.",
    )


class StreamCreateSerializer(_InputSerializer):
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = _request_user(self)
        if user is not None:
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


class VersionSerializer(serializers.Serializer):
    version = _version_field()


class LaneCreateSerializer(_InputSerializer):
    stream = serializers.PrimaryKeyRelatedField(queryset=ValueStream.objects.none())
    version = _version_field()
    name = serializers.CharField(max_length=80, allow_blank=True)
    hourly_cost = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False, allow_null=True
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = self.visible_streams()


class LaneUpdateSerializer(_InputSerializer):
    refused_fields = {"stream": "A lane stays in its map."}

    version = _version_field()
    name = serializers.CharField(required=False, max_length=80, allow_blank=True)
    hourly_cost = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False, allow_null=True
    )


class _StepFieldsSerializer(_InputSerializer):
    """The fields of a step a manager edits, all optional here."""

    name = serializers.CharField(required=False, max_length=120, allow_blank=True)
    lane = serializers.PrimaryKeyRelatedField(
        queryset=Lane.objects.none(), required=False, help_text="A lane of the same map."
    )
    value_class = serializers.ChoiceField(choices=ValueClass.choices, required=False)
    planned_process_hours = serializers.FloatField(required=False)
    planned_lead_hours = serializers.FloatField(required=False)
    planned_pct_complete_accurate = serializers.FloatField(required=False)
    planned_wip = serializers.IntegerField(required=False, max_value=_INTEGER_MAX)
    notes = serializers.CharField(required=False, allow_blank=True)
    motion_waste = serializers.BooleanField(required=False)
    unused_talent = serializers.BooleanField(required=False)
    stage = serializers.PrimaryKeyRelatedField(
        queryset=FunnelStage.objects.none(),
        required=False,
        allow_null=True,
        help_text="A funnel stage of the same map, next to the step's neighbours; empty for none.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        visible = self.visible_streams().values("pk")
        self.fields["lane"].queryset = Lane.objects.filter(stream__in=visible)
        self.fields["stage"].queryset = FunnelStage.objects.filter(stream__in=visible)


class StepCreateSerializer(_StepFieldsSerializer):
    stream = serializers.PrimaryKeyRelatedField(queryset=ValueStream.objects.none())
    version = _version_field()
    position = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Where the step goes (1 = first); later steps move down. At the end when empty.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = self.visible_streams()
        self.fields["name"].required = True
        self.fields["lane"].required = True


class StepUpdateSerializer(_StepFieldsSerializer):
    refused_fields = {
        "position": "Move a step with POST /api/steps/{id}/move/.",
        "stream": "A step stays in its map.",
    }

    version = _version_field()


class StepMoveSerializer(_InputSerializer):
    version = _version_field()
    position = serializers.IntegerField(
        help_text="The step's new place (1 = first); the steps in between shift by one."
    )


class StageCreateSerializer(_InputSerializer):
    stream = serializers.PrimaryKeyRelatedField(queryset=ValueStream.objects.none())
    version = _version_field()
    name = serializers.CharField(max_length=80, allow_blank=True)
    first_step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(), help_text="The stage's first step, of the same map."
    )
    last_step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(),
        help_text="The stage's last step (the same as the first for one step).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        visible = self.visible_streams()
        self.fields["stream"].queryset = visible
        steps = ProcessStep.objects.filter(stream__in=visible.values("pk"))
        self.fields["first_step"].queryset = steps
        self.fields["last_step"].queryset = steps


class StageUpdateSerializer(_InputSerializer):
    refused_fields = {"stream": "A funnel stage stays in its map."}

    version = _version_field()
    name = serializers.CharField(required=False, max_length=80, allow_blank=True)
    first_step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(),
        required=False,
        help_text="With last_step: the steps the stage covers from now on.",
    )
    last_step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(),
        required=False,
        help_text="With first_step: the steps the stage covers from now on.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        steps = ProcessStep.objects.filter(stream__in=self.visible_streams().values("pk"))
        self.fields["first_step"].queryset = steps
        self.fields["last_step"].queryset = steps


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


class LaneFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")

    class Meta:
        model = Lane
        fields = ["stream"]


class ProcessStepFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")

    class Meta:
        model = ProcessStep
        fields = ["stream"]


class FunnelStageFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")

    class Meta:
        model = FunnelStage
        fields = ["stream"]


# --- Schema pieces ------------------------------------------------------------------------

_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input: {field: [reason, …]}."),
    403: OpenApiResponse(description="You can see the map but not change it."),
    404: OpenApiResponse(description="No such object among the maps you can see."),
}
_EDIT_ERRORS = {
    **_ERRORS,
    409: OpenApiResponse(
        StaleVersionSerializer,
        description="The map changed since `version`: nothing was saved; reload and redo.",
    ),
}
_VERSION_PARAMETER = OpenApiParameter(
    "version",
    OpenApiTypes.INT,
    OpenApiParameter.QUERY,
    required=True,
    description="The map version this delete is based on (may also be sent in the body).",
)


def _delete_version(request: Request) -> int:
    """The ``version`` of a DELETE, from the query string or else the body."""
    data: dict[str, Any] = {}
    if "version" in request.query_params:
        data["version"] = request.query_params["version"]
    elif isinstance(request.data, Mapping) and "version" in request.data:
        data["version"] = request.data["version"]
    serializer = VersionSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["version"]


def _present(data: Mapping[str, Any], *drop: str) -> dict[str, Any]:
    """The validated fields the client sent, except ``drop``: fields left out stay as they are
    (or take the service's default)."""
    return {name: value for name, value in data.items() if name not in drop}


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


class _MapViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Shared by the map's viewsets: permissions, no PUT, input serializers per action."""

    permission_classes = [permissions.IsAuthenticated, MapPermission]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    _input_serializers: Mapping[str, type[serializers.BaseSerializer]] = {}

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return self._input_serializers.get(self.action, self.serializer_class)

    def _validated(self, request: Request) -> dict[str, Any]:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


@extend_schema_view(
    list=extend_schema(summary="Value streams you can see, with their lanes, stages and steps"),
    retrieve=extend_schema(summary="One value stream with its lanes, stages and steps"),
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
        summary="Change a map's name, description, period, targets or currency",
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


class _MapPartViewSet(_MapViewSet):
    """Lanes, steps and stages: each write answers with the object (or, for a delete, nothing
    else) and ``stream_version``."""

    write_serializer_class: type[serializers.Serializer]
    #: The keyword the services take the object by ("lane", "step", "stage") and the services
    #: that add, change and delete one (wrapped in ``staticmethod``).
    object_name: str
    add_service: Callable[..., Model]
    update_service: Callable[..., Model]
    delete_service: Callable[..., None]

    def create(self, request: Request) -> Response:
        data = self._validated(request)
        stream = data["stream"]
        _require_edit(request.user, stream)
        return self._write(
            stream,
            lambda: self.add_service(user=request.user, **_present(data)),
            status.HTTP_201_CREATED,
        )

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        data = self._validated(request)
        return self._write(
            obj.stream,
            lambda: self.update_service(
                **{self.object_name: obj}, user=request.user, **_present(data)
            ),
            status.HTTP_200_OK,
        )

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        version = _delete_version(request)
        return self._write(
            obj.stream,
            lambda: self.delete_service(
                **{self.object_name: obj}, version=version, user=request.user
            ),
            status.HTTP_200_OK,
        )

    def get_queryset(self) -> QuerySet:
        visible = streams_visible_to(self.request.user).values("pk")
        return self.queryset.model.objects.filter(stream__in=visible).select_related("stream")

    def _write(
        self, stream: ValueStream, edit: Callable[[], Model | None], status_code: int
    ) -> Response:
        """Run ``edit`` on ``stream``'s map and answer with the object as it is after it and
        the version the edit gave the map, read in the same transaction: the edit's lock on
        the stream row is still held, so no other edit can slip in between."""
        with transaction.atomic():
            obj = edit()
            version = ValueStream.objects.values_list("version", flat=True).get(pk=stream.pk)
            if obj is None:
                body = {"stream_version": version}
            else:
                fresh = self.get_queryset().get(pk=obj.pk)
                fresh.stream_version = version
                body = self.write_serializer_class(
                    fresh, context=self.get_serializer_context()
                ).data
        return Response(body, status=status_code)


@extend_schema_view(
    list=extend_schema(summary="Lanes of the maps you can see (filter with ?stream=)"),
    retrieve=extend_schema(summary="One lane"),
    create=extend_schema(
        summary="Add a lane at the bottom of a map",
        request=LaneCreateSerializer,
        responses={201: LaneWriteSerializer, **_EDIT_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Rename a lane or change its hourly cost",
        request=LaneUpdateSerializer,
        responses={200: LaneWriteSerializer, **_EDIT_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a lane that has no steps",
        description="Refused (400 naming `lane`) while steps are in the lane.",
        parameters=[_VERSION_PARAMETER],
        request=None,
        responses={200: StreamVersionSerializer, **_EDIT_ERRORS},
    ),
)
class LaneViewSet(_MapPartViewSet):
    """Swimlanes: who owns the steps."""

    queryset = Lane.objects.none()
    serializer_class = LaneDetailSerializer
    write_serializer_class = LaneWriteSerializer
    filterset_class = LaneFilter
    ordering_fields = ["position", "name"]
    _input_serializers = {"create": LaneCreateSerializer, "partial_update": LaneUpdateSerializer}
    object_name = "lane"
    add_service = staticmethod(lane_add)
    update_service = staticmethod(lane_update)
    delete_service = staticmethod(lane_delete)


@extend_schema_view(
    list=extend_schema(summary="Process steps of the maps you can see (filter with ?stream=)"),
    retrieve=extend_schema(summary="One process step"),
    create=extend_schema(
        summary="Add a step",
        description="At `position` (later steps move down), or at the end. A step added "
        "inside a funnel stage joins it.",
        request=StepCreateSerializer,
        responses={201: ProcessStepWriteSerializer, **_EDIT_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change a step's name, lane, value class, planned figures, notes or stage",
        request=StepUpdateSerializer,
        responses={200: ProcessStepWriteSerializer, **_EDIT_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a step no deal has visited",
        description="Later steps move up. Refused (400 naming `step`) when deals have visited it.",
        parameters=[_VERSION_PARAMETER],
        request=None,
        responses={200: StreamVersionSerializer, **_EDIT_ERRORS},
    ),
)
class ProcessStepViewSet(_MapPartViewSet):
    """Process steps, with the manager's planned figures."""

    queryset = ProcessStep.objects.none()
    serializer_class = ProcessStepDetailSerializer
    write_serializer_class = ProcessStepWriteSerializer
    filterset_class = ProcessStepFilter
    ordering_fields = ["position", "name"]
    _input_serializers = {
        "create": StepCreateSerializer,
        "partial_update": StepUpdateSerializer,
        "move": StepMoveSerializer,
    }
    object_name = "step"
    add_service = staticmethod(step_add)
    update_service = staticmethod(step_update)
    delete_service = staticmethod(step_delete)

    @extend_schema(
        summary="Move a step to another place in the map",
        description="The steps in between shift by one; funnel stages stay consecutive (a "
        "step moved into a stage joins it).",
        request=StepMoveSerializer,
        responses={200: ProcessStepWriteSerializer, **_EDIT_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        step = self.get_object()
        data = self._validated(request)
        return self._write(
            step.stream,
            lambda: step_move(step=step, user=request.user, **_present(data)),
            status.HTTP_200_OK,
        )


@extend_schema_view(
    list=extend_schema(summary="Funnel stages of the maps you can see (filter with ?stream=)"),
    retrieve=extend_schema(summary="One funnel stage"),
    create=extend_schema(
        summary="Add a funnel stage over consecutive steps",
        description="The stage covers the steps from `first_step` to `last_step`; they leave "
        "the stage they were in. A stage cannot split another one.",
        request=StageCreateSerializer,
        responses={201: FunnelStageWriteSerializer, **_EDIT_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Rename a funnel stage or change the steps it covers",
        description="To change the steps, give both `first_step` and `last_step`.",
        request=StageUpdateSerializer,
        responses={200: FunnelStageWriteSerializer, **_EDIT_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a funnel stage",
        description="Its steps stay on the map without a stage.",
        parameters=[_VERSION_PARAMETER],
        request=None,
        responses={200: StreamVersionSerializer, **_EDIT_ERRORS},
    ),
)
class FunnelStageViewSet(_MapPartViewSet):
    """Funnel stages: ordered groups of consecutive steps, for funnel reporting."""

    queryset = FunnelStage.objects.none()
    serializer_class = FunnelStageDetailSerializer
    write_serializer_class = FunnelStageWriteSerializer
    filterset_class = FunnelStageFilter
    ordering_fields = ["position", "name"]
    _input_serializers = {"create": StageCreateSerializer, "partial_update": StageUpdateSerializer}
    object_name = "stage"
    add_service = staticmethod(stage_add)
    update_service = staticmethod(stage_update)
    delete_service = staticmethod(stage_delete)
