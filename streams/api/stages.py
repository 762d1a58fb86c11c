"""``/api/stages/``: funnel stages, ordered groups of consecutive steps: output and input
serializers and the viewset (the ``?stream=`` filter and the write actions are in ``common.py``)."""

from __future__ import annotations

from typing import Any

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
from streams.models import FunnelStage, ProcessStep
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


class FunnelStageWriteSerializer(_StreamVersionMixin, FunnelStageDetailSerializer):
    pass


class _StageStepsMixin(_InputSerializer):
    # ``first_step`` and ``last_step`` (declared by each serializer, with its own wording)
    # choose among the steps of the maps the user can see. No docstring: the schema would
    # show it as the serializers' description.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        steps = ProcessStep.objects.filter(stream__in=self.visible_streams().values("pk"))
        self.fields["first_step"].queryset = steps
        self.fields["last_step"].queryset = steps


class StageCreateSerializer(_StageStepsMixin, _PartCreateSerializer):
    name = serializers.CharField(max_length=80, allow_blank=True)
    first_step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(), help_text="The stage's first step, of the same map."
    )
    last_step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(),
        help_text="The stage's last step (the same as the first for one step).",
    )


class StageUpdateSerializer(_StageStepsMixin):
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


@_part_schema(
    list_summary="Funnel stages of the maps you can see (filter with ?stream=)",
    retrieve_summary="One funnel stage",
    create={
        "summary": "Add a funnel stage over consecutive steps",
        "description": "The stage covers the steps from `first_step` to `last_step`; they "
        "leave the stage they were in. A stage cannot split another one.",
    },
    partial_update={
        "summary": "Rename a funnel stage or change the steps it covers",
        "description": "To change the steps, give both `first_step` and `last_step`.",
    },
    destroy={
        "summary": "Delete a funnel stage",
        "description": "Its steps stay on the map without a stage.",
    },
)
class FunnelStageViewSet(_MapPartViewSet):
    """Funnel stages: ordered groups of consecutive steps, for funnel reporting."""

    queryset = FunnelStage.objects.none()
    serializer_class = FunnelStageDetailSerializer
    write_serializer_class = FunnelStageWriteSerializer
    _input_serializers = {"create": StageCreateSerializer, "partial_update": StageUpdateSerializer}
    services = _PartServices("stage", add=stage_add, update=stage_update, delete=stage_delete)
