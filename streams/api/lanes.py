"""``/api/lanes/``: the map's swimlanes (who owns the steps): output and input serializers, the
filter and the viewset."""

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
from streams.models import Lane, ValueStream
from streams.services import lane_add, lane_delete, lane_update


class LaneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lane
        fields = ["id", "name", "position", "hourly_cost"]
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


class LaneFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")

    class Meta:
        model = Lane
        fields = ["stream"]


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
