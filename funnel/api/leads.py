"""``GET /api/streams/{id}/leads/``: the Leads dashboard's figures of a stream (docs/leads.md
"Leads result"; definitions in docs/metrics.md §8) for a window, an as-of instant and the
source and owner filters, read from their snapshot (``funnel.leads.snapshots``). 200 with
the result when it is computed (``stale`` while a newer one is being computed), 202 with the
job while the first one is. Every member of the team reads the same team-wide figures."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.api.snapshot_reads import snapshot_schema, stream_snapshot_read
from funnel.leads.snapshots import DEFAULT_DAYS, leads_view_read

_Float = serializers.FloatField
_Int = serializers.IntegerField


def _nullable_float(help_text: str = "") -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class LeadsViewSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    as_of = serializers.DateTimeField()
    source = serializers.CharField(allow_blank=True)
    owner = _Int(allow_null=True)
    basis = serializers.ChoiceField(choices=["elapsed", "working"])


class StageSerializer(serializers.Serializer):
    key = serializers.CharField(
        help_text="`created`, `offered-<hand-off id>`, `accepted-<hand-off id>` or `won`."
    )
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["created", "offered", "accepted", "won"])
    handoff = _Int(allow_null=True)


class CohortStageSerializer(serializers.Serializer):
    reached = _Int()
    share = _nullable_float("Reached ÷ created.")
    low = _nullable_float("The share's Wilson 95 % interval, lower bound (null: none created).")
    high = _nullable_float("The share's Wilson 95 % interval, upper bound.")
    median_hours = _nullable_float("From the first visit to the stage.")
    p85_hours = _nullable_float()


class CohortSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM (UTC) of the cases' first visit.")
    created = _Int()
    stages = serializers.DictField(child=CohortStageSerializer(), help_text="By stage key.")


class FlowSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="The ISO week's Monday (UTC).")
    reached = serializers.DictField(child=_Int(), help_text="Stage events by stage key.")
    rejected = _Int()
    recycled = _Int()
    disqualified = _Int()


class HistogramBinSerializer(serializers.Serializer):
    from_hours = _Float()
    to_hours = _nullable_float("Null: the open last bin.")
    n = _Int()


class ResponseSerializer(serializers.Serializer):
    handoff = _Int()
    name = serializers.CharField()
    n = _Int(help_text="Decisions made in the window.")
    median_hours = _nullable_float()
    p85_hours = _nullable_float()
    p95_hours = _nullable_float()
    histogram = HistogramBinSerializer(many=True)
    waiting_now = _Int(help_text="Arrivals undecided at as_of, their visit open.")


class RateSerializer(serializers.Serializer):
    due = _Int()
    met = _Int()
    rate = _nullable_float("Met ÷ due.")
    low = _nullable_float("Wilson 95 %.")
    high = _nullable_float()


class SlaGroupSerializer(RateSerializer):
    key = serializers.CharField(allow_null=True, allow_blank=True)
    label = serializers.CharField()


class SlaWeekSerializer(RateSerializer):
    week = serializers.DateField()


class SlaSerializer(RateSerializer):
    handoff = _Int()
    name = serializers.CharField()
    sla_hours = _Float()
    by_rep = SlaGroupSerializer(many=True)
    by_source = SlaGroupSerializer(many=True)
    by_week = SlaWeekSerializer(many=True)


class LeadsResultSerializer(serializers.Serializer):
    format = _Int()
    view = LeadsViewSerializer()
    stages = StageSerializer(many=True)
    cohorts = CohortSerializer(many=True)
    flow = FlowSerializer(many=True)
    response = ResponseSerializer(many=True)
    sla = SlaSerializer(many=True)
    queue = serializers.DictField(
        help_text="The ready-for-sales queue: waiting, ages, arrivals, pulls and capacity per "
        "week, sellers, verdict (docs/leads.md)."
    )
    separation = serializers.DictField(
        help_text="Prospecting share and skipped hand-offs, by week and rep, and the trend."
    )
    waste = serializers.DictField(
        help_text="Never touched, first touch, ping-pong, reasons (Pareto), recycle yield."
    )


class StreamLeadsView(APIView):
    """The Leads dashboard's figures of one value stream."""

    @snapshot_schema(
        "Leads",
        LeadsResultSerializer,
        computing="The view's first result is being computed.",
        failed="Computing the view failed.",
        operation_id="streams_leads_retrieve",
        summary="Leads dashboard of a stream",
        description=(
            "The demand waterfall (stages, cohorts by month, flow by week), response times "
            "and SLA per hand-off, the ready-for-sales queue against the sellers' capacity, "
            "the separation of prospecting from selling and the hand-off waste "
            "(docs/leads.md, definitions in docs/metrics.md §8). Computed by a background "
            "job into a snapshot: 202 with the job while the first result is computed; 200 "
            "with `stale` true while a newer one is. Any member of the team may read."
        ),
        parameters=[
            OpenApiParameter(
                "start",
                str,
                description="Window start (inclusive): an ISO 8601 date or date-time (UTC "
                f"unless it says). Give start and end, or neither: the {DEFAULT_DAYS} days up "
                "to as_of.",
            ),
            OpenApiParameter("end", str, description="Window end (exclusive), as `start`."),
            OpenApiParameter(
                "as_of",
                str,
                description="Nothing after this instant is read (an ISO 8601 date or "
                "date-time, not in the future). Default: now.",
            ),
            OpenApiParameter("source", str, description="Only cases of this lead source."),
            OpenApiParameter("owner", int, description="Only cases this user owns (an id)."),
            OpenApiParameter(
                "time",
                str,
                enum=["elapsed", "working"],
                description="The basis of the hours. Default: the stream's (elapsed while its "
                "team has no calendar).",
            ),
        ],
    )
    def get(self, request: Request, pk: int) -> Response:
        return stream_snapshot_read(request, pk, leads_view_read)
