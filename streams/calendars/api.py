"""``/api/calendars/``: a team's working calendars with their weekly spans and closures
(list, create, retrieve, replace, change, delete), ``/api/calendars/{id}/strip/``: the coming
weeks as working and non-working time, and ``/api/lanes/{id}/calendar/``: the calendar a lane
works on. Reads follow the teams the user is in (another team's calendar: 404); writes need
the team's manager (403) and go through ``streams.calendars.services`` (400 naming the field).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from streams.api.common import ScopedToUser, refuse_unknown_fields, write_schema
from streams.calendars.models import Closure, WorkingCalendar, WorkingSpan
from streams.calendars.selectors import (
    calendar_can_edit,
    calendar_lanes,
    calendars_visible_to,
    clock_for,
    coming_weeks,
    lane_calendar,
)
from streams.calendars.services import (
    EDIT_REFUSED,
    CalendarSpec,
    calendar_create,
    calendar_delete,
    calendar_update,
    lane_set_calendar,
)
from streams.calendars.working_time import SpanSpec
from streams.models import Lane, Team
from streams.selectors import User, streams_visible_to, teams_visible_to

MAX_STRIP_WEEKS = 12


@extend_schema_field({"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$", "example": "09:00"})
class WallClockField(serializers.TimeField):
    """A wall-clock time in the calendar's zone, ``HH:MM``: no UTC offset (JSON Schema's
    ``time`` format would demand one)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class SpanSerializer(serializers.ModelSerializer):
    weekday = serializers.IntegerField(
        min_value=0, max_value=6, help_text="0 = Monday … 6 = Sunday."
    )
    start = WallClockField(help_text="Wall-clock time in the calendar's zone, e.g. 09:00.")
    end = WallClockField(help_text="Wall-clock time in the calendar's zone, after `start`.")

    class Meta:
        model = WorkingSpan
        fields = ["weekday", "start", "end"]


class ClosureSerializer(serializers.ModelSerializer):
    start_time = WallClockField(
        required=False,
        allow_null=True,
        help_text="With `end_time`: only this part of one day is closed (wall clock).",
    )
    end_time = WallClockField(required=False, allow_null=True)

    class Meta:
        model = Closure
        fields = ["id", "label", "start_date", "end_date", "start_time", "end_time"]
        read_only_fields = ["id"]
        extra_kwargs = {
            # The rules (1970–2100, at most a year, a label) are the service's, named by field.
            "label": {"allow_blank": True},
        }
        validators: list = []


class CalendarSerializer(serializers.ModelSerializer):
    spans = SpanSerializer(many=True, read_only=True)
    closures = ClosureSerializer(many=True, read_only=True)
    lanes = serializers.SerializerMethodField(
        help_text="Ids of the lanes that work on this calendar (by name, or as the default)."
    )

    class Meta:
        model = WorkingCalendar
        fields = [
            "id",
            "team",
            "name",
            "time_zone",
            "country",
            "subdivision",
            "is_default",
            "version",
            "spans",
            "closures",
            "lanes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_lanes(self, calendar: WorkingCalendar) -> list[int]:
        return list(calendar_lanes(calendar).values_list("id", flat=True))


class CalendarInputSerializer(ScopedToUser, serializers.Serializer):
    """What a client sends to create or change a calendar."""

    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.none(), help_text="Only when creating: the calendar's team."
    )
    name = serializers.CharField(max_length=200, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, help_text="IANA name, e.g. Europe/Berlin.")
    country = serializers.CharField(
        max_length=3, allow_blank=True, required=False, default="", help_text="ISO code, or ''."
    )
    subdivision = serializers.CharField(
        max_length=10, allow_blank=True, required=False, default="", help_text="e.g. BY, or ''."
    )
    is_default = serializers.BooleanField(required=False, default=False)
    spans = SpanSerializer(many=True, help_text="The weekly working hours.")
    closures = ClosureSerializer(many=True, required=False, default=list)
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="When changing: the version the change is based on; an older one is refused.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            del self.fields["team"]

    def scope_to(self, user: User) -> None:
        self.fields["team"].queryset = teams_visible_to(user)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown_fields(self)
        return attrs

    def spec(self) -> CalendarSpec:
        data = self.validated_data
        spans = [SpanSpec(s["weekday"], s["start"], s["end"]) for s in data["spans"]]
        return CalendarSpec.of(data, spans, data["closures"])


class StripSegmentSerializer(serializers.Serializer):
    start = WallClockField()
    end = WallClockField()


class StripDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    working_seconds = serializers.IntegerField()
    segments = StripSegmentSerializer(many=True, help_text="Working time, wall clock.")
    holiday = serializers.CharField(help_text="The public holiday's name, or ''.")
    closures = serializers.ListField(child=serializers.CharField())


class StripSerializer(serializers.Serializer):
    calendar = serializers.IntegerField()
    time_zone = serializers.CharField()
    version = serializers.IntegerField()
    days = StripDaySerializer(many=True)


def _current_values(calendar: WorkingCalendar) -> dict[str, Any]:
    return {
        "name": calendar.name,
        "time_zone": calendar.time_zone,
        "country": calendar.country,
        "subdivision": calendar.subdivision,
        "is_default": calendar.is_default,
        "spans": SpanSerializer(calendar.spans.all(), many=True).data,
        "closures": ClosureSerializer(calendar.closures.all(), many=True).data,
    }


#: A calendar's create and changes read a CalendarInputSerializer and answer the calendar.
_calendar_write = write_schema(CalendarSerializer, {})


@extend_schema_view(
    list=extend_schema(summary="Working calendars of your teams"),
    retrieve=extend_schema(summary="One working calendar with its spans and closures"),
    create=_calendar_write(
        "Create a working calendar (the team's first becomes its default)",
        CalendarInputSerializer,
        created=True,
    ),
    update=_calendar_write(
        "Replace a calendar: its fields, weekly spans and closures", CalendarInputSerializer
    ),
    partial_update=_calendar_write(
        "Change some of a calendar's fields (spans and closures: the whole list)",
        CalendarInputSerializer,
    ),
    destroy=extend_schema(
        summary="Delete a calendar no lane works on",
        description="Refused (400 naming `calendar`) while lanes work on it, or while it is "
        "the default and lanes rely on it.",
    ),
)
class WorkingCalendarViewSet(viewsets.ModelViewSet):
    """Working calendars: when a team works (docs/calendars.md)."""

    queryset = WorkingCalendar.objects.none()
    serializer_class = CalendarSerializer
    ordering_fields = ["name", "created_at"]

    def get_queryset(self) -> QuerySet[WorkingCalendar]:
        return calendars_visible_to(self.request.user).prefetch_related("spans", "closures")

    def _answer(self, calendar: WorkingCalendar, code: int = status.HTTP_200_OK) -> Response:
        calendar = self.get_queryset().get(pk=calendar.pk)
        return Response(CalendarSerializer(calendar, context={"request": self.request}).data, code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = CalendarInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        calendar = calendar_create(
            team=serializer.validated_data["team"], by=request.user, spec=serializer.spec()
        )
        return self._answer(calendar, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        calendar = self.get_object()
        data = request.data
        if kwargs.get("partial"):
            data = {**_current_values(calendar), **request.data}
        serializer = CalendarInputSerializer(
            calendar, data=data, context={"request": request}, partial=False
        )
        serializer.is_valid(raise_exception=True)
        calendar = calendar_update(
            calendar=calendar,
            by=request.user,
            spec=serializer.spec(),
            version=serializer.validated_data.get("version"),
        )
        return self._answer(calendar)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        calendar_delete(calendar=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The coming weeks as working and non-working time, day by day",
        parameters=[
            OpenApiParameter(
                "weeks", OpenApiTypes.INT, description=f"1–{MAX_STRIP_WEEKS}; default 6."
            ),
            OpenApiParameter(
                "start",
                OpenApiTypes.DATE,
                description="A day of the first week (its Monday starts the strip); default "
                "today in the calendar's zone.",
            ),
        ],
        responses={200: StripSerializer},
    )
    @action(detail=True, methods=["get"])
    def strip(self, request: Request, pk: str | None = None) -> Response:
        calendar = self.get_object()
        query = StripQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start = (
            query.validated_data.get("start")
            or timezone.now().astimezone(clock_for(calendar).zone).date()
        )
        weeks = coming_weeks(calendar, start=start, weeks=query.validated_data["weeks"])
        days = [
            {
                "day": plan.day,
                "working_seconds": plan.working_seconds,
                "segments": [{"start": a, "end": b} for a, b in plan.segments],
                "holiday": plan.holiday,
                "closures": list(plan.closures),
            }
            for week in weeks
            for plan in week
        ]
        body = {
            "calendar": calendar.pk,
            "time_zone": calendar.time_zone,
            "version": calendar.version,
            "days": days,
        }
        return Response(StripSerializer(body).data)


class StripQuerySerializer(serializers.Serializer):
    weeks = serializers.IntegerField(min_value=1, max_value=MAX_STRIP_WEEKS, default=6)
    start = serializers.DateField(required=False)

    def validate_start(self, value):
        if not 1970 <= value.year <= 2100:
            raise serializers.ValidationError("Choose a day within 1970–2100.")
        return value


class LaneCalendarSerializer(serializers.Serializer):
    lane = serializers.IntegerField(read_only=True)
    calendar = serializers.IntegerField(
        allow_null=True, help_text="The lane's own calendar; null: the team's default."
    )
    effective_calendar = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The calendar the lane works on."
    )


class LaneCalendarView(APIView):
    """The calendar one lane works on: its own, or (null) the team's default."""

    def _lane(self, pk: int) -> Lane:
        return get_object_or_404(
            Lane.objects.select_related("stream__team", "calendar"),
            pk=pk,
            stream__in=streams_visible_to(self.request.user),
        )

    def _answer(self, lane: Lane) -> Response:
        effective = lane_calendar(lane)
        return Response(
            {
                "lane": lane.pk,
                "calendar": lane.calendar_id,
                "effective_calendar": effective.pk if effective else None,
            }
        )

    @extend_schema(summary="The calendar a lane works on", responses=LaneCalendarSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return self._answer(self._lane(pk))

    @extend_schema(
        summary="Put a lane on one of its team's calendars (null: the team's default)",
        request=LaneCalendarSerializer,
        responses=LaneCalendarSerializer,
    )
    def put(self, request: Request, pk: int) -> Response:
        lane = self._lane(pk)
        if not calendar_can_edit(user=request.user, team=lane.stream.team):
            raise PermissionDenied(EDIT_REFUSED)
        serializer = LaneCalendarSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        calendar_id = serializer.validated_data["calendar"]
        calendar = None
        if calendar_id is not None:
            calendar = WorkingCalendar.objects.filter(
                pk=calendar_id, team_id=lane.stream.team_id
            ).first()
            if calendar is None:
                return Response(
                    {"calendar": ["Choose one of the lane's team's calendars."]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        lane = lane_set_calendar(lane=lane, by=request.user, calendar=calendar)
        return self._answer(self._lane(lane.pk))
