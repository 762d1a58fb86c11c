"""The Discovery API's comparison of the discovered process with the designed map
(docs/discovery.md "Discovered against designed"):
``GET /api/streams/{id}/discovery/design/``, read from the view's snapshot as the other
Discovery reads (``funnel.discovery.api``): 200 ready, 202 computing, 400 naming a bad
parameter, 404 for another team's stream, 503 when computing failed. Every member reads."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.api.lab import IntervalSerializer
from funnel.api.snapshot_reads import stream_snapshot_read
from funnel.discovery.api import _schema
from funnel.discovery.design import design_comparison, stages_off_map
from funnel.discovery.models import DiscoverySnapshot
from funnel.discovery.snapshots import discovery_view_read
from streams.models import ValueStream

_Int = serializers.IntegerField


class DiscoveryDesignStepSerializer(serializers.Serializer):
    step = _Int()
    order = _Int(help_text="0 for the map's first step.")
    arrivals = _Int(help_text="Visits to the step.")
    conforming = _Int(help_text="Arrivals that came as the map designs.")
    share = IntervalSerializer(allow_null=True, help_text="conforming ÷ arrivals, Wilson 95 %.")
    low_sample = serializers.BooleanField()
    starts = _Int(help_text="Deals whose first visit was here.")
    won = _Int(help_text="Deals won with their latest visit here.")


class DiscoveryDesignedMoveSerializer(serializers.Serializer):
    source = _Int()
    target = _Int(help_text="The step right after source on the map (or any step: off-map).")
    transitions = _Int(help_text="Moves the deals made from source straight to target.")
    deals = _Int()
    median_hours = serializers.FloatField(allow_null=True)
    p85_hours = serializers.FloatField(allow_null=True)
    n = _Int(help_text="Moves with a time.")


class DiscoveryOffMapMoveSerializer(DiscoveryDesignedMoveSerializer):
    kind = serializers.ChoiceField(choices=["skip", "back", "self"])


class DiscoveryDesignPairSerializer(serializers.Serializer):
    source = _Int()
    target = _Int()


class DiscoveryDesignStepDealsSerializer(serializers.Serializer):
    step = _Int()
    deals = _Int()


class DiscoveryDesignStageSerializer(serializers.Serializer):
    stage = serializers.CharField(help_text="The stage as the imported file named it.")
    reading = serializers.ChoiceField(choices=["ignored", "folded"])
    step = serializers.CharField(allow_null=True, help_text="The step it was folded into.")
    source = serializers.CharField(help_text="The file the mapping was saved from.")
    updated_at = serializers.DateTimeField()


class DiscoveryDesignSummarySerializer(serializers.Serializer):
    steps = _Int()
    steps_visited = _Int()
    designed_moves = _Int()
    designed_moves_taken = _Int()
    moves = _Int()
    moves_as_designed = _Int()
    moves_off_map = _Int()
    share_off_map = serializers.FloatField(allow_null=True)


class DiscoveryDesignSerializer(serializers.Serializer):
    steps = DiscoveryDesignStepSerializer(many=True)
    designed_moves = DiscoveryDesignedMoveSerializer(many=True)
    off_map_moves = DiscoveryOffMapMoveSerializer(many=True, help_text="Not drawn on the map.")
    unvisited = serializers.ListField(child=_Int(), help_text="Steps nobody visits.")
    never_taken = DiscoveryDesignPairSerializer(many=True, help_text="Designed moves nobody made.")
    entries_off_map = DiscoveryDesignStepDealsSerializer(many=True, help_text="Starts later.")
    wins_off_map = DiscoveryDesignStepDealsSerializer(many=True, help_text="Wins before the last.")
    stages_off_map = DiscoveryDesignStageSerializer(
        many=True, help_text="Imported stages the map has no step for: dropped or folded."
    )
    summary = DiscoveryDesignSummarySerializer()


class StreamDiscoveryDesignView(APIView):
    """The discovered process of a stream against its designed map."""

    @_schema(
        "Design",
        "Discovered against designed, for a stream",
        "The map's steps and designed moves (each step to the next) beside what the deals "
        "did: the moves along each designed move (0: never taken), the steps nobody visits, "
        "the moves the map does not draw with their counts, deals entering after the first "
        "step or won before the last, imported stages the map has no step for, and the "
        "conformance per step.",
        design=DiscoveryDesignSerializer(),
    )
    def get(self, request: Request, pk: int) -> Response:
        def part(stream: ValueStream, snapshot: DiscoverySnapshot) -> dict:
            result = snapshot.result
            return {k: result[k] for k in ("format", "view", "steps")} | {
                "design": design_comparison(result, stages_off_map(stream))
            }

        return stream_snapshot_read(request, pk, discovery_view_read, part)
