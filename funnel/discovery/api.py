"""The Discovery read API (docs/discovery.md "API"): the directly-follows graph, the variants
(with the rework loops) and the deviations (conformance) of a stream for a view, each read
from the view's snapshot (``funnel.discovery.snapshots``): 200 with the part when it is
computed (``stale`` while a newer one is), 202 with the job while the first one is, 400
naming a bad parameter, 404 for a stream of another team. Every member of the team reads.

- ``GET /api/streams/{id}/discovery/graph/``
- ``GET /api/streams/{id}/discovery/variants/``
- ``GET /api/streams/{id}/discovery/deviations/``

and the accepted deviations: ``GET``/``POST /api/streams/{id}/discovery/accepted/`` (a
manager posts), ``DELETE /api/streams/{id}/discovery/accepted/{accepted}/`` (a manager).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.api.lab import IntervalSerializer
from funnel.api.leads import LeadsViewSerializer
from funnel.api.snapshot_reads import snapshot_schema, stream_snapshot_read
from funnel.discovery.models import AcceptedDeviation, DeviationKind, DiscoverySnapshot
from funnel.discovery.services import deviation_accept
from funnel.discovery.snapshots import discovery_view_read
from funnel.leads.snapshots import DEFAULT_DAYS
from streams.models import Role, ValueStream
from streams.selectors import role_in_team, streams_visible_to

_Int = serializers.IntegerField


def _float(help_text: str = "") -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class DiscoveryStepSerializer(serializers.Serializer):
    id = _Int()
    name = serializers.CharField()
    order = _Int(help_text="0 for the map's first step.")


class DiscoveryEdgeSerializer(serializers.Serializer):
    source = _Int(help_text="The step moved from.")
    target = _Int(help_text="The step moved to.")
    kind = serializers.ChoiceField(choices=["forward", "skip", "back", "self"])
    transitions = _Int(help_text="Moves from source straight to target.")
    deals = _Int(help_text="Deals that made the move at least once.")
    median_hours = _float("From entering source to entering target.")
    p85_hours = _float()
    n = _Int(help_text="Moves with a time (working time: those with working offsets).")
    low_sample = serializers.BooleanField()


class DiscoveryStartSerializer(serializers.Serializer):
    step = _Int()
    deals = _Int()


class DiscoveryEndSerializer(serializers.Serializer):
    step = _Int()
    won = _Int()
    lost = _Int()
    open = _Int()


class DiscoveryGraphSerializer(serializers.Serializer):
    edges = DiscoveryEdgeSerializer(many=True)
    starts = DiscoveryStartSerializer(many=True)
    ends = DiscoveryEndSerializer(many=True)


class DiscoveryOutcomeFields(serializers.Serializer):
    closed = _Int()
    won = _Int()
    win_rate = IntervalSerializer(allow_null=True, help_text="Won ÷ closed, Wilson 95 %.")
    median_cycle_hours = _float("First step to close, over the closed deals.")
    cycle_n = _Int()


class DiscoveryExampleSerializer(serializers.Serializer):
    id = _Int()
    name = serializers.CharField()


class DiscoveryVariantSerializer(DiscoveryOutcomeFields):
    rank = _Int()
    path = serializers.ListField(child=_Int(), help_text="Step ids in path order.")
    deals = _Int()
    share = serializers.FloatField()
    example = DiscoveryExampleSerializer()


class DiscoveryOtherVariantsSerializer(DiscoveryOutcomeFields):
    variants = _Int()
    deals = _Int()
    share = serializers.FloatField()


class DiscoveryVariantsSerializer(serializers.Serializer):
    deals = _Int()
    count = _Int(help_text="Distinct paths.")
    top = DiscoveryVariantSerializer(many=True)
    other = DiscoveryOtherVariantsSerializer(allow_null=True, help_text="The rest, grouped.")


class DiscoveryReworkSerializer(serializers.Serializer):
    sender = _Int()
    receiver = _Int()
    loops = _Int()
    deals = _Int()
    total_hours = serializers.FloatField()
    median_hours = _float()
    p85_hours = _float()
    n = _Int()
    low_sample = serializers.BooleanField()


class DiscoverySideSerializer(DiscoveryOutcomeFields):
    deals = _Int()


class DiscoveryWeekSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="The ISO week's Monday (UTC).")
    count = _Int()


#: "with" is a Python keyword, so this serializer's fields are given as a mapping.
CatalogueSerializer = type(
    "DiscoveryCatalogueSerializer",
    (serializers.Serializer,),
    {
        "kind": serializers.ChoiceField(choices=DeviationKind.choices),
        "source": _Int(allow_null=True, help_text="Null: the start."),
        "target": _Int(allow_null=True, help_text="Null: the end."),
        "accepted": serializers.BooleanField(),
        "occurrences": _Int(),
        "deals": _Int(),
        "weeks": DiscoveryWeekSerializer(many=True),
        "with": DiscoverySideSerializer(help_text="The deals with this deviation."),
        "without": DiscoverySideSerializer(),
        "win_rate_difference": IntervalSerializer(allow_null=True, help_text="Newcombe 95 %."),
        "cycle_hours_difference": _float("Median cycle with − without."),
    },
)


class DiscoveryDealDeviationSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DeviationKind.choices)
    source = _Int(allow_null=True)
    target = _Int(allow_null=True)
    skipped = serializers.ListField(child=_Int())
    accepted = serializers.BooleanField()


class DiscoveryDealFitnessSerializer(serializers.Serializer):
    id = _Int()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["open", "won", "lost"])
    fitness = serializers.FloatField()
    moves = _Int()
    deviations = DiscoveryDealDeviationSerializer(many=True)


class DiscoveryConformanceSummarySerializer(serializers.Serializer):
    deals = _Int()
    conforming = _Int()
    pct_conforming = IntervalSerializer(allow_null=True)
    mean_fitness = _float()
    deviations = _Int()
    accepted = _Int()


class DiscoveryByKindSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DeviationKind.choices)
    label = serializers.CharField()
    occurrences = _Int()
    accepted = _Int()
    deals = _Int()


class DiscoveryByStepSerializer(serializers.Serializer):
    step = _Int()
    arrivals = _Int()
    conforming = _Int()
    share = _float()


class DiscoveryConformanceSerializer(serializers.Serializer):
    summary = DiscoveryConformanceSummarySerializer()
    catalogue = CatalogueSerializer(many=True)
    by_kind = DiscoveryByKindSerializer(many=True)
    by_step = DiscoveryByStepSerializer(many=True)
    deals = DiscoveryDealFitnessSerializer(many=True, help_text="The least fit (at most 100).")
    deals_with_deviations = _Int()


def _result(name: str, **fields) -> type[serializers.Serializer]:
    return type(
        f"Discovery{name}ResultSerializer",
        (serializers.Serializer,),
        {
            "format": _Int(),
            "view": LeadsViewSerializer(),
            "steps": DiscoveryStepSerializer(many=True),
            **fields,
        },
    )


PARAMETERS = [
    OpenApiParameter(
        "start",
        str,
        description="Window start (inclusive), an ISO 8601 date or date-time (UTC unless it "
        f"says): the deals whose first step falls in the window. Give start and end, or "
        f"neither: the {DEFAULT_DAYS} days up to as_of.",
    ),
    OpenApiParameter("end", str, description="Window end (exclusive), as `start`."),
    OpenApiParameter(
        "as_of",
        str,
        description="Nothing after this instant is read. Default: now.",
    ),
    OpenApiParameter("source", str, description="Only deals of this lead source."),
    OpenApiParameter("owner", int, description="Only deals this user owns (an id)."),
    OpenApiParameter("time", str, enum=["elapsed", "working"], description="Basis of the hours."),
]


class _DiscoveryPart(APIView):
    parts: tuple[str, ...] = ()

    def get(self, request: Request, pk: int) -> Response:
        def part(stream: ValueStream, snapshot: DiscoverySnapshot) -> dict:
            result = snapshot.result
            keys = ("format", "view", "steps", *self.parts)
            return {k: result[k] for k in keys}

        return stream_snapshot_read(request, pk, discovery_view_read, part)


def _schema(name: str, summary: str, description: str, **fields):
    return snapshot_schema(
        f"Discovery{name}",
        _result(name, **fields),
        computing="The view's first result is being computed.",
        failed="Computing the view failed.",
        operation_id=f"streams_discovery_{name.lower()}_retrieve",
        summary=summary,
        description=description
        + " Computed by a background job into a snapshot (docs/discovery.md): 202 with the "
        "job while the first result is computed; 200 with `stale` true while a newer one is. "
        "Any member of the team may read.",
        parameters=PARAMETERS,
    )


class StreamDiscoveryGraphView(_DiscoveryPart):
    """The directly-follows graph of a stream's deals."""

    parts = ("graph",)

    @_schema(
        "Graph",
        "Directly-follows graph of a stream",
        "Per pair of steps, the moves the deals made from one straight to the other, with "
        "the median and p85 hours between entering them; the starts and the ends by outcome.",
        graph=DiscoveryGraphSerializer(),
    )
    def get(self, request: Request, pk: int) -> Response:
        return super().get(request, pk)


class StreamDiscoveryVariantsView(_DiscoveryPart):
    """The variants and rework loops of a stream's deals."""

    parts = ("variants", "rework")

    @_schema(
        "Variants",
        "Variants and rework loops of a stream",
        "The distinct paths (top 10, the rest grouped) with count, share, median cycle time, "
        "win rate and an example deal; the rework loops with their hours.",
        variants=DiscoveryVariantsSerializer(),
        rework=DiscoveryReworkSerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        return super().get(request, pk)


class StreamDiscoveryDeviationsView(_DiscoveryPart):
    """The conformance of a stream's deals against its map."""

    parts = ("conformance",)

    @_schema(
        "Deviations",
        "Deviations from the map of a stream",
        "Each deal's path checked against the map's step order: the deviation catalogue "
        "(count, weekly trend, cost with and without, Wilson and Newcombe intervals), the "
        "conformance per step, and the least fit deals with their deviations.",
        conformance=DiscoveryConformanceSerializer(),
    )
    def get(self, request: Request, pk: int) -> Response:
        return super().get(request, pk)


class AcceptedDeviationSerializer(serializers.ModelSerializer):
    """A deviation accepted as an allowed shortcut (docs/discovery.md "Accepted
    deviations"); ``source`` null: from the start, ``target`` null: to the end."""

    kind = serializers.ChoiceField(choices=DeviationKind.choices)
    source = serializers.IntegerField(source="source_id", allow_null=True, required=False)
    target = serializers.IntegerField(source="target_id", allow_null=True, required=False)
    note = serializers.CharField(allow_blank=True, required=False, max_length=300)

    class Meta:
        model = AcceptedDeviation
        fields = ["id", "kind", "source", "target", "note", "accepted_by", "accepted_at"]
        read_only_fields = ["id", "accepted_by", "accepted_at"]


def _managed_stream(request: Request, pk: int):
    """The stream (404 outside the user's teams); 403 unless the user manages its team."""
    stream = get_object_or_404(streams_visible_to(request.user), pk=pk)
    if not request.user.is_staff and role_in_team(request.user, stream.team_id) != Role.MANAGER:
        raise PermissionDenied("Only a manager of the team accepts deviations.")
    return stream


class StreamAcceptedDeviationsView(APIView):
    """The deviations of a stream accepted as allowed shortcuts: every member reads them, a
    manager accepts one (accepting one already accepted changes its note)."""

    @extend_schema(
        operation_id="streams_discovery_accepted_list",
        summary="Accepted deviations of a stream",
        responses={200: AcceptedDeviationSerializer(many=True)},
        tags=["streams"],
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = get_object_or_404(streams_visible_to(request.user), pk=pk)
        rows = AcceptedDeviation.objects.filter(stream=stream).order_by("pk")
        return Response(AcceptedDeviationSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="streams_discovery_accepted_create",
        summary="Accept a deviation",
        description="A manager of the stream's team marks a kind of deviation between two "
        "steps (step ids; null: the start or the end) as an allowed shortcut: it is still "
        "listed, apart, and no longer lowers conformance. 400 names a kind or step the stream "
        "does not have; nothing is stored then. Other members 403.",
        request=AcceptedDeviationSerializer,
        responses={201: AcceptedDeviationSerializer},
        tags=["streams"],
    )
    def post(self, request: Request, pk: int) -> Response:
        stream = _managed_stream(request, pk)
        data = AcceptedDeviationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        row = deviation_accept(
            stream=stream,
            kind=values["kind"],
            source=values.get("source_id"),
            target=values.get("target_id"),
            note=values.get("note", ""),
            user=request.user,
        )
        return Response(AcceptedDeviationSerializer(row).data, status=201)


class StreamAcceptedDeviationView(APIView):
    """One accepted deviation: a manager takes the acceptance back."""

    @extend_schema(
        operation_id="streams_discovery_accepted_destroy",
        summary="Take back an accepted deviation",
        responses={204: None},
        tags=["streams"],
    )
    def delete(self, request: Request, pk: int, accepted: int) -> Response:
        stream = _managed_stream(request, pk)
        get_object_or_404(AcceptedDeviation, stream=stream, pk=accepted).delete()
        return Response(status=204)
