"""REST API of the event log: deals (list, create, edit, move, log work, close), visits, and
a bulk endpoint applying many of those writes at once, all or nothing.

Every write goes through ``funnel.services`` (the bulk endpoint through
``funnel.bulk.events_apply``); which rows a user sees comes from ``funnel.selectors`` and who
may write from ``deal_can_edit`` / ``stream_can_edit``. Objects outside the user's visible
queryset answer 404, visible objects the user may not change 403. Services raise Django's
``ValidationError({field: reason})``, which ``vsm_project.api.exception_handler`` turns into
400 ``{field: [reason]}``.

Lists are paginated (``page``, ``page_size`` up to 500) and ordered by ``ordering``; time
filters are half-open windows ``[<name>_after, <name>_before)`` (metrics.md) and, like every
time this API reads, need a time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.db.models.expressions import OrderBy
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.widgets import DateRangeWidget
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.bulk import (
    EVENT_TYPES,
    MAX_EVENTS,
    MAX_FAILED_EVENTS,
    EventError,
    EventsRefused,
    deal_create_owner,
    events_apply,
)
from funnel.models import Deal, DealEvent, DealStatus, Visit
from funnel.moments import date_range_error, utc_offset_error
from funnel.selectors import deal_can_edit, deals_visible_to, visits_visible_to
from funnel.services import (
    deal_close,
    deal_close_undo,
    deal_create,
    deal_log_work,
    deal_move,
    deal_reopen,
    deal_update,
)
from streams.api import IdFilter
from streams.models import ProcessStep, Role, ValueStream
from streams.selectors import (
    User,
    streams_visible_to,
    team_ids_with_role,
    teams_visible_to,
)

UserModel = get_user_model()


# --- Permission helpers -------------------------------------------------------------------


class DealPermission(permissions.BasePermission):
    """Reads follow the visible queryset (anything else is 404); changing a deal needs
    ``deal_can_edit``; creating one needs a manager or rep role somewhere (the stream itself
    is checked by :func:`funnel.bulk.deal_create_owner` once the body names it)."""

    message = "You can see this deal but not change it."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if getattr(view, "action", None) != "create":
            return True
        user = request.user
        if user.is_staff or team_ids_with_role(user, (Role.MANAGER, Role.REP)):
            return True
        self.message = "Only managers and reps create deals."
        return False

    def has_object_permission(self, request: Request, view: APIView, obj: Deal) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return deal_can_edit(user=request.user, deal=obj)


# --- Fields and serializers ---------------------------------------------------------------


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 timestamp that must carry its time zone.

    DRF would silently read a naive time in the server's zone; we refuse it instead, since
    a rep in another zone would record every step change hours off. Times in the future are
    refused by the services.
    """

    default_error_messages = {
        "naive": "The time needs a time zone (for example 2026-03-01T09:00:00+00:00).",
    }

    def to_internal_value(self, value: Any) -> datetime:
        parsed = value
        if isinstance(value, str):
            if reason := utc_offset_error(value):
                raise serializers.ValidationError(reason, code="offset")
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # DRF reports it as an invalid datetime below.
        if isinstance(parsed, datetime) and (reason := date_range_error(parsed)):
            raise serializers.ValidationError(reason, code="range")
        if isinstance(parsed, datetime) and timezone.is_naive(parsed):
            self.fail("naive")
        return super().to_internal_value(value)


def _request_user(serializer: serializers.Serializer) -> User | None:
    request = serializer.context.get("request")
    return getattr(request, "user", None)


class DealSerializer(serializers.ModelSerializer):
    current_step = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The step the deal is at (its open visit); empty when at no step.",
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "stream",
            "external_id",
            "name",
            "account",
            "amount",
            "owner",
            "owner_name",
            "source",
            "created_at",
            "status",
            "closed_at",
            "lost_reason",
            "expected_close_date",
            "next_step",
            "current_step",
            "updated_at",
        ]
        read_only_fields = fields


class DealCreateSerializer(serializers.Serializer):
    stream = serializers.PrimaryKeyRelatedField(queryset=ValueStream.objects.none())
    name = serializers.CharField(max_length=200)
    external_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="The deal's id in the CRM; generated when empty.",
    )
    account = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True, default=None
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=UserModel.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A manager or rep of the stream's team. Reps may only name themselves; "
        "a deal a rep creates is theirs by default.",
    )
    source = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    created_at = AwareDateTimeField(
        required=False, help_text="When the deal was created in the CRM; now when omitted."
    )
    first_step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A step of the stream; the deal enters it at created_at.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = _request_user(self)
        if user is not None:
            streams = streams_visible_to(user)
            self.fields["stream"].queryset = streams
            self.fields["first_step"].queryset = ProcessStep.objects.filter(stream__in=streams)
            self.fields["owner"].queryset = UserModel.objects.filter(
                memberships__team__in=teams_visible_to(user)
            ).distinct()


class DealUpdateSerializer(serializers.ModelSerializer):
    """The descriptive fields of a deal, and its owner (managers only). Stream, status and
    the path's times change through their own operations, so naming them here is an error
    rather than silently ignored."""

    owner = serializers.PrimaryKeyRelatedField(
        queryset=UserModel.objects.none(),
        required=False,
        allow_null=True,
        help_text="Reassign the deal (the team's managers only) to a manager or rep of its team.",
    )

    class Meta:
        model = Deal
        fields = [
            "name",
            "account",
            "amount",
            "source",
            "expected_close_date",
            "next_step",
            "owner",
        ]
        # Blank names and negative amounts reach deal_update, which reports every field.
        extra_kwargs = {
            "name": {"allow_blank": True},
            "amount": {"min_value": 0},
            "next_step": {"allow_null": True},
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = _request_user(self)
        if user is not None:
            self.fields["owner"].queryset = UserModel.objects.filter(
                memberships__team__in=teams_visible_to(user)
            ).distinct()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(getattr(self, "initial_data", {})) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["This field cannot be changed here."] for name in unknown}
            )
        return attrs


class DealMoveSerializer(serializers.Serializer):
    step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(), help_text="A step of the deal's stream."
    )
    at = AwareDateTimeField(required=False, help_text="When the deal moved; now when omitted.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = _request_user(self)
        if user is not None:
            self.fields["step"].queryset = ProcessStep.objects.filter(
                stream__in=streams_visible_to(user)
            )


class DealLogWorkSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(
        help_text="Hands-on minutes to add to the deal's current step."
    )


class DealCloseSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[DealStatus.WON, DealStatus.LOST])
    at = AwareDateTimeField(required=False, help_text="When the deal closed; now when omitted.")
    lost_reason = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class DealReopenSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why the deal is reopened; kept in its history."
    )


class DealEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = DealEvent
        fields = [
            "id",
            "kind",
            "recorded_at",
            "actor",
            "status",
            "closed_at",
            "lost_reason",
            "reason",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "status": {"help_text": "The outcome the close set, or the undo/reopen took away."}
        }


class VisitSerializer(serializers.ModelSerializer):
    step_name = serializers.CharField(source="step.name", read_only=True)

    class Meta:
        model = Visit
        fields = [
            "id",
            "deal",
            "step",
            "step_name",
            "entered_at",
            "exited_at",
            "work_minutes",
            "actor",
            "actor_name",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- Filters, ordering and pagination -----------------------------------------------------

_NAIVE_TIME = AwareDateTimeField.default_error_messages["naive"]


class AwareIsoDateTimeField(IsoDateTimeField):
    """django-filter's ISO 8601 field, refusing a time without a zone instead of reading it
    in the server's zone (as :class:`AwareDateTimeField` does for request bodies)."""

    default_error_messages = {"naive": _NAIVE_TIME}

    def to_python(self, value: Any) -> datetime | None:
        if isinstance(value, str):
            if reason := utc_offset_error(value):
                raise DjangoValidationError(reason, code="offset")
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # reported as an invalid date/time by the parent
            if parsed is not None and (reason := date_range_error(parsed)):
                raise DjangoValidationError(reason, code="range")
            if parsed is not None and timezone.is_naive(parsed):
                raise DjangoValidationError(self.error_messages["naive"], code="naive")
        return super().to_python(value)


class AwareIsoDateTimeRangeField(RangeField):
    widget = DateRangeWidget  # the query parameters <name>_after and <name>_before

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__((AwareIsoDateTimeField(), AwareIsoDateTimeField()), *args, **kwargs)


class WindowFilter(filters.IsoDateTimeFromToRangeFilter):
    """``<name>_after`` (inclusive) and ``<name>_before`` (exclusive): the half-open window
    ``[after, before)`` of metrics.md, so consecutive windows never count a row twice.
    Either bound may be left out; times need a zone."""

    field_class = AwareIsoDateTimeRangeField

    def filter(self, qs: QuerySet, value: slice | None) -> QuerySet:
        if not value:
            return qs
        if value.start is not None:
            qs = qs.filter(**{f"{self.field_name}__gte": value.start})
        if value.stop is not None:
            qs = qs.filter(**{f"{self.field_name}__lt": value.stop})
        return qs


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` (also ``1`` / ``0``); anything else is an error, not ignored."""

    _VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        try:
            return self._VALUES[str(value).strip().lower()]
        except KeyError:
            raise DjangoValidationError("Use true or false.", code="invalid") from None


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # django-filter's BooleanWidget turns an unknown value into "no filter".
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


def _id_filter(label: str, **kwargs: Any) -> IdFilter:
    """An :class:`IdFilter` whose label reaches the schema (its class-level INT annotation
    alone would drop it)."""
    described = {"type": "integer", "description": label}
    return extend_schema_field(described)(IdFilter(label=label, **kwargs))


class DealFilter(filters.FilterSet):
    stream = _id_filter("Stream id", field_name="stream_id")
    owner = _id_filter("Owner (user) id", field_name="owner_id")
    status = filters.ChoiceFilter(choices=DealStatus.choices)
    step = _id_filter("Step id: deals at that step now (an open visit there)", method="filter_step")
    created_at = WindowFilter(
        label="Created in [created_at_after, created_at_before); ISO 8601 with a time zone"
    )
    closed_at = WindowFilter(
        label="Closed in [closed_at_after, closed_at_before); ISO 8601 with a time zone"
    )

    class Meta:
        model = Deal
        fields = ["stream", "owner", "status", "step", "created_at", "closed_at"]

    def filter_step(self, queryset: QuerySet[Deal], name: str, value: int) -> QuerySet[Deal]:
        # One filter() call, so both conditions hold for the same visit; a deal has at most
        # one open visit, so no duplicates.
        return queryset.filter(visits__step_id=value, visits__exited_at__isnull=True)


class VisitFilter(filters.FilterSet):
    deal = _id_filter("Deal id", field_name="deal_id")
    step = _id_filter("Step id", field_name="step_id")
    stream = _id_filter("Stream id", field_name="step__stream_id")
    open = StrictBooleanFilter(
        field_name="exited_at",
        lookup_expr="isnull",
        label="true: visits still open (no exited_at, the deal is there now); false: ended",
    )
    entered_at = WindowFilter(
        label="Entered in [entered_at_after, entered_at_before); ISO 8601 with a time zone"
    )
    exited_at = WindowFilter(
        label="Exited in [exited_at_after, exited_at_before); ISO 8601 with a time zone"
    )

    class Meta:
        model = Visit
        fields = ["deal", "step", "stream", "open", "entered_at", "exited_at"]


class StableOrderingFilter(OrderingFilter):
    """DRF's ``ordering`` (comma-separated fields, ``-`` for descending) with three changes:
    an unknown field is a 400 naming ``ordering`` instead of being ignored; empty values sort
    last either way (the same on PostgreSQL and SQLite); the id breaks ties, so pages of
    equal values neither overlap nor skip rows. Without ``ordering`` the model's default
    order applies."""

    def remove_invalid_fields(
        self, queryset: QuerySet, fields: list[str], view: APIView, request: Request
    ) -> list[str]:
        valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
        fields = [term for term in fields if term]
        unknown = [term for term in fields if term.lstrip("-") not in valid]
        if unknown:
            raise serializers.ValidationError(
                {
                    self.ordering_param: [
                        f"Cannot order by {', '.join(unknown)}; use {', '.join(sorted(valid))}."
                    ]
                }
            )
        return fields

    def filter_queryset(self, request: Request, queryset: QuerySet, view: APIView) -> QuerySet:
        if not request.query_params.get(self.ordering_param, "").strip():
            return queryset
        ordering = self.get_ordering(request, queryset, view) or []
        terms: list[OrderBy] = [
            F(term[1:]).desc(nulls_last=True)
            if term.startswith("-")
            else F(term).asc(nulls_last=True)
            for term in ordering
        ]
        if not {term.lstrip("-") for term in ordering} & {"id", "pk"}:
            terms.append(F("id").asc())
        return queryset.order_by(*terms)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["description"] = (
                "Comma-separated fields to order by, `-` for descending: "
                f"{', '.join(view.ordering_fields)}. Empty values come last; the id breaks "
                "ties. An unknown field is a 400."
            )
        return parameters


class EventLogPagination(PageNumberPagination):
    """``page`` (from 1) and ``page_size`` (default 50, at most 500)."""

    page_size_query_param = "page_size"
    page_size_query_description = "Results per page: 50 unless given, at most 500."
    max_page_size = 500


# --- ViewSets -----------------------------------------------------------------------------

_LIST_BACKENDS = [filters.DjangoFilterBackend, StableOrderingFilter]

_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input: {field: [reason, …]}."),
    403: OpenApiResponse(description="You can see the deal but not change it."),
    404: OpenApiResponse(description="No such deal among those you can see."),
}


@extend_schema_view(
    list=extend_schema(summary="Deals you can see"),
    retrieve=extend_schema(summary="One deal"),
)
class DealViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deals: managers and leadership see their teams' deals, reps their own."""

    queryset = Deal.objects.none()
    serializer_class = DealSerializer
    permission_classes = [permissions.IsAuthenticated, DealPermission]
    filter_backends = _LIST_BACKENDS
    filterset_class = DealFilter
    ordering_fields = [
        "created_at",
        "closed_at",
        "amount",
        "name",
        "external_id",
        "status",
        "updated_at",
        "id",
    ]
    pagination_class = EventLogPagination

    _input_serializers = {
        "create": DealCreateSerializer,
        "partial_update": DealUpdateSerializer,
        "move": DealMoveSerializer,
        "log_work": DealLogWorkSerializer,
        "close": DealCloseSerializer,
        "reopen": DealReopenSerializer,
    }

    def get_queryset(self) -> QuerySet[Deal]:
        open_visit_step = Visit.objects.filter(deal=OuterRef("pk"), exited_at__isnull=True).values(
            "step_id"
        )[:1]
        return deals_visible_to(self.request.user).annotate(current_step=Subquery(open_visit_step))

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return self._input_serializers.get(self.action, DealSerializer)

    def _validated(self, request: Request) -> dict[str, Any]:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _answer(self, deal: Deal, status_code: int = status.HTTP_200_OK) -> Response:
        """The deal as it is now, read back through the visible queryset."""
        fresh = self.get_queryset().get(pk=deal.pk)
        return Response(
            DealSerializer(fresh, context=self.get_serializer_context()).data, status=status_code
        )

    @extend_schema(
        summary="Create a deal",
        request=DealCreateSerializer,
        responses={201: DealSerializer, 400: _ERRORS[400], 403: _ERRORS[403]},
    )
    def create(self, request: Request) -> Response:
        data = self._validated(request)
        owner = deal_create_owner(user=request.user, stream=data["stream"], owner=data["owner"])
        deal = deal_create(
            stream=data["stream"],
            name=data["name"],
            owner=owner,
            external_id=data["external_id"],
            account=data["account"],
            amount=data["amount"],
            source=data["source"],
            created_at=data.get("created_at"),
            first_step=data["first_step"],
            actor=request.user,
        )
        return self._answer(deal, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a deal; managers also reassign it",
        description="Changes the fields given (name, account, amount, source, "
        "expected_close_date, next_step) for the deal's owner and the team's managers; "
        "`owner` reassigns it (managers only, to a manager or rep of the team). 403 for "
        "anyone else, even with an empty body.",
        request=DealUpdateSerializer,
        responses={200: DealSerializer, **_ERRORS},
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        serializer = self.get_serializer(deal, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        deal_update(deal=deal, user=request.user, **serializer.validated_data)
        return self._answer(deal)

    @extend_schema(
        summary="Move the deal to a step",
        description="Ends the deal's current visit and opens one at `step`, at `at`. Moving "
        "back to a step visited before is rework.",
        request=DealMoveSerializer,
        responses={200: DealSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        data = self._validated(request)
        deal_move(deal=deal, step=data["step"], at=data.get("at"), actor=request.user)
        return self._answer(deal)

    @extend_schema(
        summary="Log hands-on work at the deal's current step",
        description="Adds `minutes` to the open visit; 400 naming `visit` when the deal is at "
        "no step.",
        request=DealLogWorkSerializer,
        responses={200: DealSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="log-work")
    def log_work(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        data = self._validated(request)
        deal_log_work(deal=deal, minutes=data["minutes"])
        return self._answer(deal)

    @extend_schema(
        summary="Close the deal as won or lost",
        description="Its current visit ends at the same instant.",
        request=DealCloseSerializer,
        responses={200: DealSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        data = self._validated(request)
        deal_close(
            deal=deal,
            outcome=data["outcome"],
            at=data.get("at"),
            lost_reason=data["lost_reason"],
            actor=request.user,
        )
        return self._answer(deal)

    @extend_schema(
        summary="Undo your close of the deal (within 10 minutes)",
        description="The deal is open again at the step it closed at, as if the close had not "
        "happened; the undo is kept in its history. Only whoever closed it, within 10 "
        "minutes and while they may still change the deal (403 otherwise); 400 naming "
        "`deal` when it is open or the 10 minutes are over (a manager then reopens it).",
        request=None,
        responses={200: DealSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        deal_close_undo(deal=deal, user=request.user)
        return self._answer(deal)

    @extend_schema(
        summary="Reopen a closed deal, saying why (managers)",
        description="The deal is open again at the step it closed at; who reopened it, when, "
        "why and the outcome it had are kept in its history, and the metrics recompute. "
        "The team's managers only (403 otherwise); 400 naming `reason` without one, "
        "`deal` when it is open.",
        request=DealReopenSerializer,
        responses={200: DealSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        data = self._validated(request)
        deal_reopen(deal=deal, user=request.user, reason=data["reason"])
        return self._answer(deal)

    @extend_schema(
        summary="The deal's history of closes, undos and reopens",
        responses={200: DealEventSerializer(many=True), 404: _ERRORS[404]},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        events = deal.events.order_by("recorded_at", "id")
        return Response(DealEventSerializer(events, many=True).data)


@extend_schema_view(
    list=extend_schema(summary="Visits of the deals you can see"),
    retrieve=extend_schema(summary="One visit"),
)
class VisitViewSet(viewsets.ReadOnlyModelViewSet):
    """Visits (stays of a deal at a step) of the deals you can see."""

    queryset = Visit.objects.none()
    serializer_class = VisitSerializer
    filter_backends = _LIST_BACKENDS
    filterset_class = VisitFilter
    ordering_fields = ["entered_at", "exited_at", "work_minutes", "id"]
    pagination_class = EventLogPagination

    def get_queryset(self) -> QuerySet[Visit]:
        return visits_visible_to(self.request.user)


# --- Bulk events --------------------------------------------------------------------------

#: Database ids are 64-bit; a larger number names nothing and must not reach the query.
_ID_MAX = 2**63 - 1


def _id_field(help_text: str, **kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=_ID_MAX, help_text=help_text, **kwargs)


class _EventSerializer(serializers.Serializer):
    """Type checks of one event; the rules are ``funnel.bulk``'s and the services'. A field
    the event type does not use is an error, since a misspelt optional field would otherwise
    be dropped without a word."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            kind = self.initial_data.get("type")
            raise serializers.ValidationError(
                {name: [f"A {kind} event has no field {name}."] for name in unknown}
            )
        return attrs


class CreateDealEventSerializer(_EventSerializer):
    type = serializers.ChoiceField(choices=["create_deal"])
    stream = _id_field("A value stream you can see.")
    external_id = serializers.CharField(
        max_length=64,
        help_text="The deal's id in the CRM, unique in the stream; later events of the batch "
        "may name the deal by stream and external_id.",
    )
    name = serializers.CharField(max_length=200)
    account = serializers.CharField(max_length=200, required=False, allow_blank=True)
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True
    )
    owner = _id_field(
        "User id of a manager or rep of the stream's team. Reps may only name themselves; a "
        "deal a rep creates is theirs by default.",
        required=False,
        allow_null=True,
    )
    source = serializers.CharField(max_length=40, required=False, allow_blank=True)
    created_at = AwareDateTimeField(
        required=False, help_text="When the deal was created in the CRM; now when omitted."
    )
    first_step = _id_field(
        "A step of the stream; the deal enters it at created_at.", required=False, allow_null=True
    )


class _DealEventSerializer(_EventSerializer):
    """An event on an existing deal, named by ``deal`` or by ``stream`` and ``external_id``
    (a deal created earlier in the same batch included)."""

    deal = _id_field("The deal's id; or name it by stream and external_id.", required=False)
    stream = _id_field("With external_id, names the deal instead of deal.", required=False)
    external_id = serializers.CharField(
        max_length=64, required=False, help_text="With stream, names the deal instead of deal."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        by_ref = {"stream", "external_id"} & set(attrs)
        if "deal" in attrs and by_ref:
            raise serializers.ValidationError(
                {"deal": ["Name the deal by id or by stream and external_id, not both."]}
            )
        if "deal" not in attrs and not by_ref:
            raise serializers.ValidationError(
                {"deal": ["Name the deal: its id as deal, or stream and external_id."]}
            )
        missing = {"stream", "external_id"} - by_ref if by_ref else set()
        if missing:
            raise serializers.ValidationError(
                {name: ["Give stream and external_id together."] for name in missing}
            )
        return attrs


class MoveEventSerializer(_DealEventSerializer):
    type = serializers.ChoiceField(choices=["move"])
    step = _id_field("A step of the deal's stream.")
    at = AwareDateTimeField(required=False, help_text="When the deal moved; now when omitted.")


class LogWorkEventSerializer(_DealEventSerializer):
    type = serializers.ChoiceField(choices=["log_work"])
    minutes = serializers.IntegerField(
        help_text="Hands-on minutes to add to the deal's open visit."
    )


class CloseEventSerializer(_DealEventSerializer):
    type = serializers.ChoiceField(choices=["close"])
    outcome = serializers.ChoiceField(choices=[DealStatus.WON, DealStatus.LOST])
    at = AwareDateTimeField(required=False, help_text="When the deal closed; now when omitted.")
    lost_reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


_EVENT_SERIALIZERS: dict[str, type[_EventSerializer]] = {
    "create_deal": CreateDealEventSerializer,
    "move": MoveEventSerializer,
    "log_work": LogWorkEventSerializer,
    "close": CloseEventSerializer,
}
assert set(_EVENT_SERIALIZERS) == set(EVENT_TYPES)


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="Event",
        serializers=_EVENT_SERIALIZERS,
        resource_type_field_name="type",
    )
)
class EventField(serializers.Field):
    """One event: checked by the serializer its ``type`` names."""

    default_error_messages = {"not_an_object": "An event is a JSON object with a type."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            self.fail("not_an_object")
        kind = data.get("type")
        serializer_class = _EVENT_SERIALIZERS.get(kind) if isinstance(kind, str) else None
        if serializer_class is None:
            reason = "An event needs a type" if kind is None else f"{kind!r} is not an event type"
            raise serializers.ValidationError(
                {"type": [f"{reason}; use {', '.join(EVENT_TYPES)}."]}
            )
        serializer = serializer_class(data=data)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return dict(serializer.validated_data)

    def to_representation(self, value: Any) -> Any:
        return value


class EventListField(serializers.ListField):
    """A list refused by its length before its items are checked: no point checking 50,000
    events to refuse them all."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class EventBatchSerializer(serializers.Serializer):
    events = EventListField(
        child=EventField(),
        allow_empty=False,
        max_length=MAX_EVENTS,
        help_text=f"Up to {MAX_EVENTS} events, applied in order.",
    )


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The event's position in the batch, from 0.")
    type = serializers.ChoiceField(choices=list(EVENT_TYPES))
    deal = serializers.IntegerField(help_text="The deal the event created or changed.")
    external_id = serializers.CharField(help_text="That deal's id in the CRM.")
    visit = serializers.IntegerField(
        allow_null=True,
        help_text="create_deal: the visit opened at first_step; move: the visit it opened; "
        "log_work: the visit the work was added to; close: the visit it ended. Null when "
        "there is none.",
    )


class EventBatchResultSerializer(serializers.Serializer):
    applied = serializers.IntegerField(help_text="How many events were applied: all of them.")
    results = EventResultSerializer(many=True)


class EventErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(
        allow_null=True, help_text="The failing event's position; null: the batch itself."
    )
    field = serializers.CharField(
        allow_null=True, help_text="The field at fault; null: the event as a whole."
    )
    reason = serializers.CharField()


class EventBatchErrorSerializer(serializers.Serializer):
    errors = EventErrorSerializer(many=True)
    applied = serializers.IntegerField(help_text="Always 0: nothing of the batch was stored.")


def _shape_errors(
    detail: Any, index: int | None = None, field: str | None = None
) -> list[EventError]:
    """Flatten DRF's nested error detail of :class:`EventBatchSerializer` into
    :class:`EventError` rows (``events`` → event index → field → reasons)."""
    if isinstance(detail, Mapping):
        rows: list[EventError] = []
        for key, value in detail.items():
            if index is None and field == "events" and isinstance(key, int):
                rows += _shape_errors(value, key, None)
            elif key in ("non_field_errors", "__all__"):
                rows += _shape_errors(value, index, field)
            else:
                rows += _shape_errors(value, index, key)
        return rows
    if isinstance(detail, list):
        return [row for item in detail for row in _shape_errors(item, index, field)]
    return [EventError(index, field, str(detail))]


def _refusal(errors: list[EventError], status_code: int) -> Response:
    failing = sorted({e.index for e in errors if e.index is not None})[:MAX_FAILED_EVENTS]
    shown = [e for e in errors if e.index is None or e.index in failing]
    rows = [{"index": e.index, "field": e.field, "reason": e.reason} for e in shown]
    return Response({"errors": rows, "applied": 0}, status=status_code)


_BATCH_EXAMPLE = {
    "events": [
        {
            "type": "create_deal",
            "stream": 1,
            "external_id": "CRM-1042",
            "name": "Acme renewal",
            "amount": "12500.00",
            "created_at": "2025-01-06T09:00:00+00:00",
            "first_step": 1,
        },
        {
            "type": "move",
            "stream": 1,
            "external_id": "CRM-1042",
            "step": 2,
            "at": "2025-01-08T09:00:00+00:00",
        },
        {"type": "log_work", "stream": 1, "external_id": "CRM-1042", "minutes": 45},
        {"type": "move", "deal": 7, "step": 3, "at": "2025-01-09T14:30:00+00:00"},
        {"type": "close", "deal": 7, "outcome": "lost", "lost_reason": "No budget"},
    ]
}


class EventBatchView(APIView):
    """Many event-log writes in one request, applied in order, all or nothing."""

    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser]  # a list of typed objects has no form encoding

    @extend_schema(
        summary="Apply many events at once, all or nothing",
        description=(
            f"Applies up to {MAX_EVENTS} events in order in one transaction: `create_deal`, "
            "`move`, `log_work` (on the deal's open visit) and `close`, each with the same "
            "rules and permissions as the single-deal endpoints. A `move`, `log_work` or "
            "`close` names its deal by `deal` (id) or by `stream` and `external_id`, so a "
            "batch can create a deal and then move it.\n\n"
            "If any event fails, nothing is stored. 400 lists the errors of every failing "
            f"event (up to {MAX_FAILED_EVENTS} events; later errors may follow from an "
            "earlier failure), each as `{index, field, reason}`; a deal, stream, step or "
            "owner you cannot see is not found (400). 403 when an event asks for something "
            "you may not do (leadership writes nothing, a rep only acts on their own deals), "
            "with that event's index. Without a sign-in the answer is 401/403 `{detail}`, as "
            "everywhere in this API."
        ),
        request=EventBatchSerializer,
        responses={
            200: EventBatchResultSerializer,
            400: EventBatchErrorSerializer,
            403: EventBatchErrorSerializer,
        },
        examples=[
            OpenApiExample(
                "Create a deal, move it, log work; move and close another",
                value=_BATCH_EXAMPLE,
                request_only=True,
            ),
            OpenApiExample(
                "Applied",
                value={
                    "applied": 2,
                    "results": [
                        {
                            "index": 0,
                            "type": "create_deal",
                            "deal": 12,
                            "external_id": "CRM-1042",
                            "visit": 40,
                        },
                        {
                            "index": 1,
                            "type": "move",
                            "deal": 12,
                            "external_id": "CRM-1042",
                            "visit": 41,
                        },
                    ],
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "The third event is invalid: nothing stored",
                value={
                    "errors": [
                        {
                            "index": 2,
                            "field": "at",
                            "reason": "2999-01-01 00:00 UTC is in the future.",
                        }
                    ],
                    "applied": 0,
                },
                response_only=True,
                status_codes=["400"],
            ),
            OpenApiExample(
                "Not allowed",
                value={
                    "errors": [
                        {
                            "index": 0,
                            "field": None,
                            "reason": "Only the team's managers and reps create deals.",
                        }
                    ],
                    "applied": 0,
                },
                response_only=True,
                status_codes=["403"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        try:
            data = request.data
        except ParseError as exc:
            # Malformed JSON answers in the batch's documented shape, as any other refusal.
            return _refusal([EventError(None, None, str(exc.detail))], status.HTTP_400_BAD_REQUEST)
        serializer = EventBatchSerializer(data=data)
        if not serializer.is_valid():
            return _refusal(_shape_errors(serializer.errors), status.HTTP_400_BAD_REQUEST)
        try:
            results = events_apply(user=request.user, events=serializer.validated_data["events"])
        except EventsRefused as refused:
            code = status.HTTP_403_FORBIDDEN if refused.forbidden else status.HTTP_400_BAD_REQUEST
            return _refusal(refused.errors, code)
        return Response({"applied": len(results), "results": results})
