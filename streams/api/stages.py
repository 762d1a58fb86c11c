"""``/api/stages/``: funnel stages, ordered groups of consecutive steps: output and input
serializers, the filter and the viewset."""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from streams.api.common import (
    _EDIT_ERRORS,
    _STREAM_VERSION_HELP,
    _VERSION_PARAMETER,
    IdFilter,
    StreamVersionSerializer,
    _InputSerializer,
    _MapPartViewSet,
    _version_field,
)
from streams.models import FunnelStage, ProcessStep, ValueStream
from streams.services import stage_add, stage_delete, stage_update


class FunnelStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = FunnelStage
        fields = ["id", "name", "position"]
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


class FunnelStageFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")

    class Meta:
        model = FunnelStage
        fields = ["stream"]


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
