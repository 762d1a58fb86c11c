"""``GET /api/streams/{id}/metrics/``: the figures of metrics.md §2–5 for a window and filters,
read from the metric snapshots (``funnel.metrics.snapshots``).

The response serializers are generated from the result dataclasses of
``funnel.metrics.results``, so the OpenAPI schema lists exactly the fields the engine computes.
A figure in a class's ``SAMPLES`` is an object ``{value, n, low_sample}``; the sample sizes
(``n_*``) and the other sums are plain numbers.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.eventlog.moments import moment_from_text
from funnel.metrics.engine import NO_CALENDAR
from funnel.metrics.query import (
    AMOUNT_BANDS,
    BASES,
    DEFAULT_WINDOW,
    ELAPSED,
    WORKING,
    MetricsFilters,
    MetricsQuery,
)
from funnel.metrics.results import MetricsResult, StageMetrics, StepMetrics, StreamSummary, Waste
from funnel.metrics.snapshots import metrics_read
from streams.calendars.selectors import team_default_calendar
from streams.ids import parse_id
from streams.models import FunnelStage, ProcessStep, Role, TimeBasis, ValueStream
from streams.selectors import role_in_team, streams_visible_to

# --- Parameters ---------------------------------------------------------------------------


def _moment(name: str, raw: str, zone: ZoneInfo) -> datetime:
    """``funnel.eventlog.moments.moment_from_text``, its reason named by the parameter."""
    try:
        return moment_from_text(raw, zone)
    except ValueError as exc:
        raise ValidationError({name: str(exc)}) from None


def metrics_query_from_params(stream: ValueStream, params: Any) -> MetricsQuery:
    """Read ``start``, ``end``, ``tz``, ``owner``, ``lane``, ``source``, ``amount_band`` and
    ``time`` (default: the stream's ``time_basis``, elapsed while its team has no calendar);
    a ``ValidationError`` naming the parameter for anything wrong, ``time=working`` on a
    stream whose team has no calendar included."""
    errors: dict[str, str] = {}
    basis = params.get("time") or stream.time_basis
    if basis not in BASES:
        errors["time"] = f"'{basis}' is not a time basis; use elapsed or working."
    elif basis == WORKING and team_default_calendar(stream.team_id) is None:
        if params.get("time"):
            errors["time"] = NO_CALENDAR
        basis = ELAPSED
    # PostgreSQL text cannot hold a NUL character: refused here, by name, not a 500 there.
    for name in ("source", "owner_name"):
        if "\x00" in (params.get(name) or ""):
            errors[name] = "A parameter cannot contain a NUL character (\\x00)."
    zone: ZoneInfo = ZoneInfo("UTC")
    if params.get("tz"):
        try:
            zone = ZoneInfo(params["tz"])
        except (ZoneInfoNotFoundError, ValueError):
            errors["tz"] = f"'{params['tz']}' is not a time zone name such as Europe/Berlin."
    moments: dict[str, datetime | None] = {"start": None, "end": None}
    for name in moments:
        if params.get(name):
            try:
                moments[name] = _moment(name, params[name], zone)
            except ValidationError as exc:
                errors.update({k: v[0] for k, v in exc.message_dict.items()})
    ids: dict[str, int | None] = {"owner": None, "lane": None}
    for name in ids:
        raw = params.get(name)
        if raw:
            ids[name] = parse_id(raw)
            if ids[name] is None:
                errors[name] = f"'{raw[:40]}' is not an id (a whole number)."
    owner_name = " ".join((params.get("owner_name") or "").split()) or None
    if owner_name is not None and ids["owner"] is not None:
        errors["owner_name"] = "Give owner (a user) or owner_name (an imported name), not both."
    elif owner_name is not None and len(owner_name) > 120:
        errors["owner_name"] = "An owner name is at most 120 characters."
    try:  # the filters check the amount band; the engine checks the lane is the stream's
        filters = MetricsFilters(
            owner_id=ids["owner"],
            owner_name=owner_name,
            lane_id=ids["lane"],
            source=params.get("source") or None,
            amount_band=params.get("amount_band") or None,
        )
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    return MetricsQuery(
        stream_id=stream.pk,
        start=moments["start"],
        end=moments["end"],
        filters=filters,
        basis=basis,
    )


# --- Response (generated from the result dataclasses) -------------------------------------


class FigureSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField(allow_null=True, help_text="Sample size behind the figure.")
    low_sample = serializers.BooleanField(help_text="Computed from fewer than 5 items.")


def _field_for(annotation: str) -> serializers.Field:
    if annotation.startswith("list"):
        return serializers.ListField(child=serializers.IntegerField())
    if annotation == "int":
        return serializers.IntegerField()
    if annotation == "bool":
        return serializers.BooleanField()
    return serializers.FloatField(allow_null=True)


def _figures_serializer(
    name: str, cls: type, extra: dict[str, serializers.Field]
) -> type[serializers.Serializer]:
    attrs: dict[str, serializers.Field] = dict(extra)
    for f in fields(cls):
        if f.name in ("step_id", "stage_id"):
            continue
        attrs[f.name] = FigureSerializer() if f.name in cls.SAMPLES else _field_for(str(f.type))
    attrs["__doc__"] = cls.__doc__
    return type(name, (serializers.Serializer,), attrs)


StepMetricsSerializer = _figures_serializer(
    "StepMetricsSerializer",
    StepMetrics,
    {
        "step": serializers.IntegerField(),
        "name": serializers.CharField(),
        "position": serializers.IntegerField(),
        "lane": serializers.CharField(),
        "work_source": serializers.ChoiceField(choices=["logged", "planned", "mixed", "none"]),
    },
)
StreamSummarySerializer = _figures_serializer("StreamSummarySerializer", StreamSummary, {})
WasteSerializer = _figures_serializer("WasteSerializer", Waste, {})
StageMetricsSerializer = _figures_serializer(
    "StageMetricsSerializer",
    StageMetrics,
    {"stage": serializers.IntegerField(), "name": serializers.CharField()},
)


class FunnelSerializer(serializers.Serializer):
    cohort_deals = serializers.IntegerField(help_text="Deals whose first visit is in the window.")
    cohort_won = serializers.IntegerField()
    stages = StageMetricsSerializer(many=True)


class WindowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="last-90d, or <start>/<end> in UTC.")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class StreamMetricsSerializer(serializers.Serializer):
    stream = serializers.IntegerField()
    window = WindowSerializer()
    filters = serializers.DictField(child=serializers.CharField(allow_null=True))
    time = serializers.ChoiceField(
        choices=TimeBasis.choices,
        help_text="The time every duration is counted in: `elapsed` (calendar hours and days) "
        "or `working` (the working hours of the team's calendars; `_days` figures in working "
        "days). Counts, WIP, throughput and Little's law are elapsed in both.",
    )
    computed_at = serializers.DateTimeField(help_text="When the window's figures were computed.")
    now_at = serializers.DateTimeField(help_text="When WIP now and stalled deals were counted.")
    stale = serializers.BooleanField(
        help_text="Visits changed after the figures were computed (a recompute is queued), or, "
        "in working time, a calendar changed and the working-time offsets are being rewritten."
    )
    summary = StreamSummarySerializer()
    steps = StepMetricsSerializer(many=True)
    waste = WasteSerializer()
    funnel = FunnelSerializer()


def _plain(obj: Any, skip: str) -> dict:
    data = {k: v for k, v in asdict(obj).items() if k != skip}
    return data | obj.figures()


def metrics_as_api(result: MetricsResult) -> dict:
    """The response body for ``result`` (the shape of :class:`StreamMetricsSerializer`)."""
    steps = {
        s.pk: s
        for s in ProcessStep.objects.filter(stream_id=result.query.stream_id).select_related("lane")
    }
    stages = dict(
        FunnelStage.objects.filter(stream_id=result.query.stream_id).values_list("pk", "name")
    )
    return {
        "stream": result.query.stream_id,
        "window": {
            "key": result.query.window_key,
            "start": result.window_start,
            "end": result.window_end,
        },
        "filters": {k: v for k, v in result.query.filters.as_dict().items() if v is not None},
        "time": result.query.basis,
        "computed_at": result.computed_at,
        "now_at": result.now_at or result.computed_at,
        "stale": result.stale,
        "summary": _plain(result.summary, ""),
        "steps": [
            {
                "step": s.step_id,
                "name": steps[s.step_id].name,
                "position": steps[s.step_id].position,
                "lane": steps[s.step_id].lane.name,
                "work_source": s.work_source,
            }
            | _plain(s, "step_id")
            for s in result.steps
            if s.step_id in steps
        ],
        "waste": _plain(result.waste, ""),
        "funnel": {
            "cohort_deals": result.cohort_deals,
            "cohort_won": result.cohort_won,
            "stages": [
                {"stage": s.stage_id, "name": stages.get(s.stage_id, "")} | _plain(s, "stage_id")
                for s in result.stages
            ],
        },
    }


_PARAMETERS = [
    OpenApiParameter(
        "start",
        str,
        description="Window start (inclusive): an ISO 8601 date or date-time. With `end`; "
        f"without both the window is the last {DEFAULT_WINDOW.days} days.",
    ),
    OpenApiParameter("end", str, description="Window end (exclusive), as `start`."),
    OpenApiParameter(
        "tz",
        str,
        description="Time zone for dates and times without an offset (default UTC), "
        "e.g. Europe/Berlin.",
    ),
    OpenApiParameter("owner", int, description="Only deals owned by this user (rep)."),
    OpenApiParameter(
        "owner_name",
        str,
        description="Only deals of this imported owner who is not a user (the owner name a CRM "
        "file gave, e.g. a sales agent's display name). Not with `owner`.",
    ),
    OpenApiParameter(
        "lane",
        int,
        description="Only the steps of this lane (deal-level figures are not narrowed).",
    ),
    OpenApiParameter("source", str, description="Only deals with this lead source."),
    OpenApiParameter(
        "time",
        str,
        enum=list(BASES),
        description="The time durations are counted in: `elapsed` (calendar time) or `working` "
        "(the working time of the team's calendars; a 400 naming `time` when the team has "
        "none). Default: the stream's `time_basis` (elapsed while its team has no calendar).",
    ),
    OpenApiParameter(
        "amount_band",
        str,
        enum=list(AMOUNT_BANDS),
        description="Only deals in this amount band: "
        + "; ".join(f"`{b.key}` {b.label}" for b in AMOUNT_BANDS.values()),
    ),
]


class StreamMetricsView(APIView):
    """The measured figures of one value stream."""

    @extend_schema(
        operation_id="streams_metrics_retrieve",
        summary="Flow, waste and funnel metrics of a stream",
        description=(
            "Every figure of the metric definitions (per step, the stream summary, waste and "
            "the funnel) for a window and filters, each with its sample size `n` and a "
            "`low_sample` flag, and `computed_at`. Read from the metric snapshots, which "
            "Celery keeps fresh; the first request for a new window or filter set computes "
            "it. Reps see the team's figures and their own (`owner` = themselves), not "
            "another rep's."
        ),
        parameters=_PARAMETERS,
        responses={
            200: StreamMetricsSerializer,
            400: OpenApiResponse(description="A parameter is invalid: {parameter: [reason]}."),
            403: OpenApiResponse(description="A rep asked for another rep's figures."),
            404: OpenApiResponse(description="No such stream among those you can see."),
        },
        tags=["streams"],
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = get_object_or_404(streams_visible_to(request.user), pk=pk)
        query = metrics_query_from_params(stream, request.query_params)
        owner = query.filters.owner_id
        if (
            (
                query.filters.owner_name is not None
                or (owner is not None and owner != request.user.pk)
            )
            and not request.user.is_staff
            and role_in_team(request.user, stream.team_id) == Role.REP
        ):
            raise PermissionDenied("Reps see the team's figures and their own, not another rep's.")
        return Response(metrics_as_api(metrics_read(query, now=timezone.now())))
