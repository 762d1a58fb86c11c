"""``/api/deals/``: list, read, create and edit deals, and their actions (move, log-work,
close, undo, reopen, history).

Every write goes through ``funnel.eventlog.services``; who may write comes from ``deal_can_edit``.
A deal outside the user's visible queryset answers 404, a visible one the user may not
change 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.api.filters import LIST_BACKENDS, DealFilter, EventLogPagination
from funnel.api.serializers import (
    DealCloseSerializer,
    DealCreateSerializer,
    DealEventSerializer,
    DealLogWorkSerializer,
    DealMoveSerializer,
    DealReopenSerializer,
    DealSerializer,
    DealUpdateSerializer,
)
from funnel.api.viewsets import AnsweringViewSet, object_errors, post_actions
from funnel.eventlog.bulk import deal_create_owner
from funnel.eventlog.selectors import deal_can_edit, deals_visible_to
from funnel.eventlog.services import (
    deal_close,
    deal_close_undo,
    deal_create,
    deal_log_work,
    deal_move,
    deal_reopen,
    deal_update,
)
from funnel.models import Deal, Visit
from streams.api.common import list_retrieve_schema, write_schema
from streams.models import Role
from streams.selectors import team_ids_with_role


class DealPermission(permissions.BasePermission):
    """Reads follow the visible queryset (anything else is 404); changing a deal needs
    ``deal_can_edit``; creating one needs a manager or rep role somewhere (the stream itself
    is checked by :func:`funnel.eventlog.bulk.deal_create_owner` once the body names it)."""

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


_ERRORS = object_errors("deal", "You can see the deal but not change it.")
_deal_write = write_schema(DealSerializer, _ERRORS)
_deal_action = post_actions(DealSerializer, _ERRORS)


@list_retrieve_schema("Deals you can see", "One deal")
class DealViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AnsweringViewSet):
    """Deals: managers and leadership see their teams' deals, reps their own."""

    queryset = Deal.objects.none()
    serializer_class = DealSerializer
    permission_classes = [permissions.IsAuthenticated, DealPermission]
    filter_backends = LIST_BACKENDS
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

    def _change(self, request: Request, service: Callable[..., Any], **extra: Any) -> Response:
        """``service(deal=…, **extra, **body)``, the body read with the action's serializer
        (its fields are the service's keywords), and the deal answered as it is after."""
        deal = self.get_object()
        service(deal=deal, **extra, **self._validated(request))
        return self._answer(deal)

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

    @_deal_write(
        "Edit a deal; managers also reassign it",
        DealUpdateSerializer,
        description="Changes the fields given (name, account, amount, source, "
        "expected_close_date, next_step) for the deal's owner and the team's managers; "
        "`owner` reassigns it (managers only, to a manager or rep of the team). 403 for "
        "anyone else, even with an empty body.",
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        serializer = self.get_serializer(deal, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        deal_update(deal=deal, user=request.user, **serializer.validated_data)
        return self._answer(deal)

    @_deal_action(
        "Move the deal to a step",
        DealMoveSerializer,
        description="Ends the deal's current visit and opens one at `step`, at `at`. Moving "
        "back to a step visited before is rework.",
    )
    def move(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, deal_move, actor=request.user)

    @_deal_action(
        "Log hands-on work at the deal's current step",
        DealLogWorkSerializer,
        description="Adds `minutes` to the open visit; 400 naming `visit` when the deal is at "
        "no step.",
        url_path="log-work",
    )
    def log_work(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, deal_log_work)

    @_deal_action(
        "Close the deal as won or lost",
        DealCloseSerializer,
        description="Its current visit ends at the same instant.",
    )
    def close(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, deal_close, actor=request.user)

    @_deal_action(
        "Undo your close of the deal (within 10 minutes)",
        None,
        description="The deal is open again at the step it closed at, as if the close had not "
        "happened; the undo is kept in its history. Only whoever closed it, within 10 "
        "minutes and while they may still change the deal (403 otherwise); 400 naming "
        "`deal` when it is open or the 10 minutes are over (a manager then reopens it).",
    )
    def undo(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        deal_close_undo(deal=deal, user=request.user)
        return self._answer(deal)

    @_deal_action(
        "Reopen a closed deal, saying why (managers)",
        DealReopenSerializer,
        description="The deal is open again at the step it closed at; who reopened it, when, "
        "why and the outcome it had are kept in its history, and the metrics recompute. "
        "The team's managers only (403 otherwise); 400 naming `reason` without one, "
        "`deal` when it is open.",
    )
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        return self._change(request, deal_reopen, user=request.user)

    @extend_schema(
        summary="The deal's history of closes, undos and reopens",
        responses={200: DealEventSerializer(many=True), 404: _ERRORS[404]},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, pk: str | None = None) -> Response:
        deal = self.get_object()
        events = deal.events.order_by("recorded_at", "id")
        return Response(DealEventSerializer(events, many=True).data)
