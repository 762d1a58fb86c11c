"""REST API of the event log: deals (list, create, edit, move, log work, close) and visits.

Every write goes through ``funnel.services``; which rows a user sees comes from
``funnel.selectors`` and who may write from ``deal_can_edit`` / ``stream_can_edit``. Objects
outside the user's visible queryset answer 404, visible objects the user may not change 403.
Services raise Django's ``ValidationError({field: reason})``, which
``vsm_project.api.exception_handler`` turns into 400 ``{field: [reason]}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.models import Deal, DealStatus, Visit
from funnel.selectors import deal_can_edit, deal_open_visit, deals_visible_to, visits_visible_to
from funnel.services import deal_close, deal_create, deal_move, visit_log_work
from streams.api import IdFilter
from streams.models import ProcessStep, Role, ValueStream
from streams.selectors import (
    User,
    role_in_team,
    stream_can_edit,
    streams_visible_to,
    team_ids_with_role,
    teams_visible_to,
)

UserModel = get_user_model()


# --- Permission helpers -------------------------------------------------------------------


class DealPermission(permissions.BasePermission):
    """Reads follow the visible queryset (anything else is 404); changing a deal needs
    ``deal_can_edit``; creating one needs a manager or rep role somewhere (the stream itself
    is checked by :func:`deal_owner_for_create` once the body names it)."""

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


def deal_owner_for_create(
    *, user: User, stream: ValueStream, owner: AbstractBaseUser | None
) -> AbstractBaseUser | None:
    """The owner a deal created by ``user`` in ``stream`` gets, or an API error.

    Managers of the stream's team (and admins) create deals for any manager or rep of that
    team (``deal_create`` checks the team), or unowned; reps create deals they own, and own
    them when no owner is given; leadership and outsiders create nothing (403).
    """
    if stream_can_edit(user=user, stream=stream):
        return owner
    if role_in_team(user, stream.team_id) == Role.REP:
        if owner is not None and owner.pk != user.pk:
            raise exceptions.PermissionDenied(
                "A rep creates deals they own; ask a manager to create it for someone else."
            )
        return user
    raise exceptions.PermissionDenied("Only the team's managers and reps create deals.")


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
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # DRF reports it as an invalid datetime below.
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
            "source",
            "created_at",
            "status",
            "closed_at",
            "lost_reason",
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
    """The descriptive fields of a deal. Owner, stream, status and dates change through
    their own operations, so naming them here is an error rather than silently ignored."""

    class Meta:
        model = Deal
        fields = ["name", "account", "amount", "source"]
        extra_kwargs = {"amount": {"min_value": 0}}

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


# --- Filters ------------------------------------------------------------------------------


class DealFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")
    owner = IdFilter(field_name="owner_id", label="Owner (user) id")
    status = filters.ChoiceFilter(choices=DealStatus.choices)
    created_at = filters.IsoDateTimeFromToRangeFilter(label="Created between")
    closed_at = filters.IsoDateTimeFromToRangeFilter(label="Closed between")

    class Meta:
        model = Deal
        fields = ["stream", "owner", "status", "created_at", "closed_at"]


class VisitFilter(filters.FilterSet):
    deal = IdFilter(field_name="deal_id", label="Deal id")
    step = IdFilter(field_name="step_id", label="Step id")
    stream = IdFilter(field_name="step__stream_id", label="Stream id")
    entered_at = filters.IsoDateTimeFromToRangeFilter(label="Entered between")
    exited_at = filters.IsoDateTimeFromToRangeFilter(label="Exited between")

    class Meta:
        model = Visit
        fields = ["deal", "step", "stream", "entered_at", "exited_at"]


# --- ViewSets -----------------------------------------------------------------------------

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
    filterset_class = DealFilter
    ordering_fields = ["created_at", "closed_at", "amount", "name", "status", "updated_at"]

    _input_serializers = {
        "create": DealCreateSerializer,
        "partial_update": DealUpdateSerializer,
        "move": DealMoveSerializer,
        "log_work": DealLogWorkSerializer,
        "close": DealCloseSerializer,
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
        responses={201: DealSerializer, **_ERRORS},
    )
    def create(self, request: Request) -> Response:
        data = self._validated(request)
        owner = deal_owner_for_create(user=request.user, stream=data["stream"], owner=data["owner"])
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
        summary="Edit a deal's name, account, amount or source",
        request=DealUpdateSerializer,
        responses={200: DealSerializer, **_ERRORS},
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        serializer = self.get_serializer(deal, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
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
        visit = deal_open_visit(deal=deal)
        if visit is None:
            raise serializers.ValidationError(
                {"visit": ["The deal is at no step; move it to a step before logging work."]}
            )
        visit_log_work(visit=visit, minutes=data["minutes"])
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
            deal=deal, outcome=data["outcome"], at=data.get("at"), lost_reason=data["lost_reason"]
        )
        return self._answer(deal)


class VisitViewSet(viewsets.ReadOnlyModelViewSet):
    """Visits (stays of a deal at a step) of the deals you can see."""

    queryset = Visit.objects.none()
    serializer_class = VisitSerializer
    filterset_class = VisitFilter
    ordering_fields = ["entered_at", "exited_at", "work_minutes"]

    def get_queryset(self) -> QuerySet[Visit]:
        return visits_visible_to(self.request.user)
