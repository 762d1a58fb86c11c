"""``/api/lanes/``: the map's swimlanes (who owns the steps): output and input serializers and the
viewset (the ``?stream=`` filter and the write actions are in ``common.py``)."""

from __future__ import annotations

from rest_framework import serializers

from streams.api.common import (
    _InputSerializer,
    _MapPartViewSet,
    _part_schema,
    _PartCreateSerializer,
    _PartServices,
    _StreamVersionMixin,
    _version_field,
)
from streams.models import Lane
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


class LaneWriteSerializer(_StreamVersionMixin, LaneDetailSerializer):
    pass


class LaneCreateSerializer(_PartCreateSerializer):
    name = serializers.CharField(max_length=80, allow_blank=True)
    hourly_cost = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False, allow_null=True
    )


class LaneUpdateSerializer(_InputSerializer):
    refused_fields = {"stream": "A lane stays in its map."}

    version = _version_field()
    name = serializers.CharField(required=False, max_length=80, allow_blank=True)
    hourly_cost = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False, allow_null=True
    )


@_part_schema(
    list_summary="Lanes of the maps you can see (filter with ?stream=)",
    retrieve_summary="One lane",
    create={"summary": "Add a lane at the bottom of a map"},
    partial_update={"summary": "Rename a lane or change its hourly cost"},
    destroy={
        "summary": "Delete a lane that has no steps",
        "description": "Refused (400 naming `lane`) while steps are in the lane.",
    },
)
class LaneViewSet(_MapPartViewSet):
    """Swimlanes: who owns the steps."""

    queryset = Lane.objects.none()
    serializer_class = LaneDetailSerializer
    write_serializer_class = LaneWriteSerializer
    _input_serializers = {"create": LaneCreateSerializer, "partial_update": LaneUpdateSerializer}
    services = _PartServices("lane", add=lane_add, update=lane_update, delete=lane_delete)
