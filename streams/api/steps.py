"""``/api/steps/``: the map's process steps with their planned figures, and moving a step:
output and input serializers and the viewset (the ``?stream=`` filter and the write actions are
in ``common.py``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from streams.api.common import (
    _EDIT_ERRORS,
    _INTEGER_MAX,
    _InputSerializer,
    _MapPartViewSet,
    _part_schema,
    _PartCreateSerializer,
    _PartServices,
    _present,
    _StreamVersionMixin,
    _version_field,
)
from streams.models import FunnelStage, Lane, ProcessStep, ValueClass
from streams.services import STEP_FIELDS, step_add, step_delete, step_move, step_update


class ProcessStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProcessStep
        fields = ["id", "position", *STEP_FIELDS]
        read_only_fields = fields


class ProcessStepDetailSerializer(ProcessStepSerializer):
    class Meta(ProcessStepSerializer.Meta):
        fields = ["id", "stream", *ProcessStepSerializer.Meta.fields[1:]]
        read_only_fields = fields


class ProcessStepWriteSerializer(_StreamVersionMixin, ProcessStepDetailSerializer):
    pass


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


class StepCreateSerializer(_StepFieldsSerializer, _PartCreateSerializer):
    position = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Where the step goes (1 = first); later steps move down. At the end when empty.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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


@_part_schema(
    list_summary="Process steps of the maps you can see (filter with ?stream=)",
    retrieve_summary="One process step",
    create={
        "summary": "Add a step",
        "description": "At `position` (later steps move down), or at the end. A step added "
        "inside a funnel stage joins it.",
    },
    partial_update={
        "summary": "Change a step's name, lane, value class, planned figures, notes or stage",
    },
    destroy={
        "summary": "Delete a step no deal has visited",
        "description": "Later steps move up. Refused (400 naming `step`) when deals have "
        "visited it.",
    },
)
class ProcessStepViewSet(_MapPartViewSet):
    """Process steps, with the manager's planned figures."""

    queryset = ProcessStep.objects.none()
    serializer_class = ProcessStepDetailSerializer
    write_serializer_class = ProcessStepWriteSerializer
    _input_serializers = {
        "create": StepCreateSerializer,
        "partial_update": StepUpdateSerializer,
        "move": StepMoveSerializer,
    }
    services = _PartServices("step", add=step_add, update=step_update, delete=step_delete)

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
