"""The leads API (docs/leads.md):

- ``GET`` / ``PUT /api/streams/{id}/waterfall/``: a stream's waterfall and its hand-offs
  (managers change it; hand-offs are matched by step);
- ``/api/handoff-reasons/``: the reject, recycle and disqualify lists (managers add, rename,
  reorder and retire reasons; a used one is retired, never deleted);
- ``/api/seller-limits/``: the sellers' WIP limits with their open deals (managers set them);
- ``POST /api/handoffs/decide/``: accept, reject, recycle or disqualify an arrival;
- ``POST /api/handoffs/pull/``: a seller pulls a lead from the ready-for-sales queue;
- ``POST /api/handoffs/undo/``: undo a decision (whoever made it, for 10 minutes; a manager
  later, with a reason: ``funnel.leads.undo``);
- ``GET /api/handoffs/board/`` and ``/api/handoffs/queue/``: the arrivals waiting for a
  decision, and the ready-for-sales queue.

Every write goes through ``funnel.leads.services``. Objects outside the streams the user can
see answer 404 (in a path) or 400 naming the field (in a body); a write the user's role does
not allow answers 403; a lead someone else decided on (or pulled) a moment before answers
409 naming who.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.api.serializers import AwareDateTimeField
from funnel.api.viewsets import ListAnsweringViewSet, object_errors
from funnel.common.catalog_api import ActiveFilter, CatalogServices, CatalogViewSet, catalog_schema
from funnel.leads.models import (
    HANDOFF_TERMS,
    WATERFALL_TERMS,
    DecisionKind,
    Handoff,
    HandoffDecision,
    HandoffReason,
    HandoffUndo,
    ReasonKind,
    SellerLimit,
    Side,
    Waterfall,
    WaterfallPreset,
)
from funnel.leads.selectors import (
    BOARD_LIMIT,
    handoff_board,
    ready_queue,
    seller_load,
    stages_of,
)
from funnel.leads.services import LeadTaken, handoff_decide, lead_pull
from funnel.leads.setup import (
    HandoffSpec,
    reason_create,
    reason_retire,
    reason_update,
    seller_limit_set,
    waterfall_save,
)
from funnel.leads.undo import handoff_undo
from funnel.models import Visit
from streams.api import IdFilter
from streams.api.common import (
    ScopedToUser,
    StreamInput,
    _InputSerializer,
    list_retrieve_schema,
    write_schema,
)
from streams.models import ProcessStep, ValueStream
from streams.selectors import User, members_visible_to, streams_visible_to

_MANAGERS = "Only the team's managers change the waterfall, its reasons and limits."
_CONFLICT = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Someone decided on (or pulled) this lead a moment before: `{visit: [who, "
    "when]}`. Nothing was saved.",
)


def _visible_stream(request: Request, pk: Any) -> ValueStream:
    return get_object_or_404(streams_visible_to(request.user), pk=pk)


# --- The waterfall ----------------------------------------------------------------------------


class HandoffSerializer(serializers.ModelSerializer):
    class Meta:
        model = Handoff
        fields = ["id", "step", "position", *HANDOFF_TERMS]
        read_only_fields = fields


class WaterfallSerializer(serializers.Serializer):
    stream = serializers.IntegerField(source="stream_id")
    configured = serializers.BooleanField(help_text="False until a manager saved one.")
    preset = serializers.ChoiceField(choices=WaterfallPreset.choices)
    inquiry_stage = serializers.CharField()
    won_stage = serializers.CharField()
    recycle_step = serializers.IntegerField(source="recycle_step_id", allow_null=True)
    stages = serializers.ListField(
        child=serializers.CharField(), help_text="The waterfall's stages in order."
    )
    handoffs = HandoffSerializer(many=True)
    updated_at = serializers.DateTimeField(allow_null=True)


def _waterfall_body(stream: ValueStream) -> dict[str, Any]:
    waterfall = Waterfall.objects.filter(stream=stream).first()
    configured = waterfall is not None
    waterfall = waterfall or Waterfall(stream=stream)
    return WaterfallSerializer(
        {
            "stream_id": stream.pk,
            "configured": configured,
            "preset": waterfall.preset,
            "inquiry_stage": waterfall.inquiry_stage,
            "won_stage": waterfall.won_stage,
            "recycle_step_id": waterfall.recycle_step_id,
            "stages": stages_of(stream),
            "handoffs": Handoff.objects.filter(stream=stream).order_by("position"),
            "updated_at": waterfall.updated_at if configured else None,
        }
    ).data


class HandoffInputSerializer(serializers.Serializer):
    step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.all(), help_text="A step of the stream."
    )
    offered_stage = serializers.CharField(max_length=200, allow_blank=True)
    accepted_stage = serializers.CharField(
        max_length=200, allow_blank=True, required=False, default=""
    )
    giver = serializers.ChoiceField(choices=Side.choices)
    receiver = serializers.ChoiceField(choices=Side.choices)
    sla_minutes = serializers.IntegerField(
        allow_null=True, required=False, default=None, help_text="Working minutes; null: no SLA."
    )
    escalate_minutes = serializers.IntegerField(
        allow_null=True,
        required=False,
        default=None,
        help_text="Working minutes, more than the SLA; null: no escalation.",
    )
    pull = serializers.BooleanField(required=False, default=False)


class WaterfallInputSerializer(ScopedToUser, _InputSerializer):
    preset = serializers.ChoiceField(choices=WaterfallPreset.choices)
    inquiry_stage = serializers.CharField(max_length=200, allow_blank=True)
    won_stage = serializers.CharField(max_length=200, allow_blank=True)
    recycle_step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(),
        allow_null=True,
        help_text="The nurture step recycled leads go to; null: recycling is off.",
    )
    handoffs = HandoffInputSerializer(
        many=True, help_text="Every hand-off of the stream (a step left out loses its hand-off)."
    )

    def scope_to(self, user: User) -> None:
        steps = ProcessStep.objects.filter(stream__in=streams_visible_to(user))
        self.fields["recycle_step"].queryset = steps
        self.fields["handoffs"].child.fields["step"].queryset = steps


@extend_schema(
    parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
)
class StreamWaterfallView(APIView):
    """A stream's waterfall: its stage names, nurture step and hand-offs."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="A stream's waterfall and hand-offs",
        responses={200: WaterfallSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_waterfall_body(_visible_stream(request, pk)))

    @extend_schema(
        summary="Save a stream's waterfall and hand-offs (managers)",
        description="Hand-offs are matched by step: one at a step that had one is updated in "
        "place; a step left out loses its hand-off, refused (400 naming `handoffs`) when it "
        "has decisions. A hand-off's field errors are named `handoffs.<index>.<field>`.",
        request=WaterfallInputSerializer,
        responses={200: WaterfallSerializer, **object_errors("stream", _MANAGERS)},
    )
    def put(self, request: Request, pk: int) -> Response:
        stream = _visible_stream(request, pk)
        data = WaterfallInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        waterfall_save(
            stream=stream,
            user=request.user,
            handoffs=[HandoffSpec(**h) for h in values["handoffs"]],
            **{name: values[name] for name in WATERFALL_TERMS},
        )
        return Response(_waterfall_body(stream))


# --- Reasons ----------------------------------------------------------------------------------


class ReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = HandoffReason
        fields = ["id", "stream", "kind", "label", "position", "retired_at"]
        read_only_fields = fields


class ReasonCreateSerializer(StreamInput):
    kind = serializers.ChoiceField(choices=ReasonKind.choices)
    label = serializers.CharField(max_length=500, allow_blank=True)


class ReasonUpdateSerializer(_InputSerializer):
    label = serializers.CharField(max_length=500, allow_blank=True, required=False)
    position = serializers.IntegerField(min_value=0, max_value=32_767, required=False)


class ReasonFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")
    kind = filters.ChoiceFilter(choices=ReasonKind.choices)
    active = ActiveFilter()


@catalog_schema(
    noun="reason",
    forbidden=_MANAGERS,
    list_summary="Reasons for turning leads down, of the streams you can see",
    retrieve_summary="One reason",
    create={"summary": "Add a reason to a list (managers)"},
    partial_update={
        "summary": "Rename or move a reason (managers)",
        "description": "A new label for a reason that decisions gave retires it and answers "
        "the new reason that takes its place (past decisions keep their words).",
    },
    retire={"summary": "Retire a reason (managers); the decisions that gave it keep it"},
)
class HandoffReasonViewSet(CatalogViewSet):
    """The reject, recycle and disqualify reasons of each stream."""

    queryset = HandoffReason.objects.none()
    serializer_class = ReasonSerializer
    filterset_class = ReasonFilter
    ordering_fields = ["kind", "position", "label", "id"]
    _input_serializers = {
        "create": ReasonCreateSerializer,
        "partial_update": ReasonUpdateSerializer,
    }
    services = CatalogServices(
        "reason", create=reason_create, update=reason_update, retire=reason_retire
    )

    def get_queryset(self) -> QuerySet[HandoffReason]:
        visible = streams_visible_to(self.request.user)
        return HandoffReason.objects.filter(stream__in=visible).order_by("kind", "position", "id")


# --- Seller limits ----------------------------------------------------------------------------


class SellerLimitSerializer(serializers.ModelSerializer):
    seller = serializers.IntegerField(source="user_id", read_only=True)
    label = serializers.SerializerMethodField()
    wip = serializers.SerializerMethodField(help_text="The seller's open deals in the stream.")

    class Meta:
        model = SellerLimit
        fields = ["id", "stream", "seller", "label", "wip_limit", "wip", "updated_at"]
        read_only_fields = fields

    def _load(self, limit: SellerLimit) -> dict[int, int]:
        cache = self.context.setdefault("_wip", {})
        if limit.stream_id not in cache:
            cache[limit.stream_id] = {
                s.user_id: s.wip for s in seller_load(ValueStream(pk=limit.stream_id))
            }
        return cache[limit.stream_id]

    def get_label(self, limit: SellerLimit) -> str:
        return limit.user.get_full_name() or limit.user.get_username()

    def get_wip(self, limit: SellerLimit) -> int:
        return self._load(limit).get(limit.user_id, 0)


class SellerLimitSetSerializer(StreamInput):
    seller = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.none(),
        help_text="A rep or manager of the stream's team.",
    )
    wip_limit = serializers.IntegerField(
        allow_null=True, help_text="Open deals the seller may own, 1–500; null: no limit."
    )

    def scope_to(self, user: User) -> None:
        super().scope_to(user)
        self.fields["seller"].queryset = members_visible_to(user)


class SellerLimitFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")
    seller = IdFilter(field_name="user_id", label="Seller (user) id")


@list_retrieve_schema("Sellers' WIP limits, with their open deals", "One seller's WIP limit")
class SellerLimitViewSet(ListAnsweringViewSet):
    """A seller's WIP limit in a stream: a rep with one pulls leads while under it."""

    queryset = SellerLimit.objects.none()
    serializer_class = SellerLimitSerializer
    filterset_class = SellerLimitFilter
    ordering_fields = ["wip_limit", "id"]
    http_method_names = ["get", "post", "head", "options"]
    _input_serializers = {"create": SellerLimitSetSerializer}

    def get_queryset(self) -> QuerySet[SellerLimit]:
        visible = streams_visible_to(self.request.user)
        return SellerLimit.objects.filter(stream__in=visible).select_related("user").order_by("id")

    @extend_schema(
        summary="Set or remove a seller's WIP limit (managers)",
        description="`wip_limit` null removes the limit (the seller can no longer pull): "
        "answers 204.",
        request=SellerLimitSetSerializer,
        responses={
            200: SellerLimitSerializer,
            204: OpenApiResponse(description="The limit was removed."),
            **object_errors("stream", _MANAGERS),
        },
    )
    def create(self, request: Request) -> Response:
        data = self._validated(request)
        limit = seller_limit_set(user=request.user, **data)
        if limit is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._answer(limit)


# --- Decisions, pull, board and queue ---------------------------------------------------------


class DecisionSerializer(serializers.ModelSerializer):
    reason_label = serializers.CharField(source="reason.label", read_only=True, default=None)
    stage = serializers.CharField(source="handoff.offered_stage", read_only=True)

    class Meta:
        model = HandoffDecision
        fields = [
            "id",
            "visit",
            "deal",
            "handoff",
            "stage",
            "kind",
            "reason",
            "reason_label",
            "note",
            "actor",
            "decided_at",
            "response_seconds",
            "response_w",
        ]
        read_only_fields = fields


class DecideSerializer(ScopedToUser, _InputSerializer):
    visit = serializers.PrimaryKeyRelatedField(
        queryset=Visit.objects.none(), help_text="The lead's open visit at a hand-off step."
    )
    kind = serializers.ChoiceField(choices=DecisionKind.choices)
    reason = serializers.PrimaryKeyRelatedField(
        queryset=HandoffReason.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text="From the list of the decision's kind; none to accept.",
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    at = AwareDateTimeField(required=False, help_text="When it was decided; now when omitted.")

    def scope_to(self, user: User) -> None:
        visible = streams_visible_to(user)
        self.fields["visit"].queryset = Visit.objects.filter(deal__stream__in=visible)
        self.fields["reason"].queryset = HandoffReason.objects.filter(stream__in=visible)


class PullSerializer(ScopedToUser, _InputSerializer):
    stream = serializers.PrimaryKeyRelatedField(queryset=ValueStream.objects.none())
    visit = serializers.PrimaryKeyRelatedField(
        queryset=Visit.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text="The lead to pull (its visit at the ready-for-sales hand-off); the oldest "
        "waiting when omitted.",
    )

    def scope_to(self, user: User) -> None:
        visible = streams_visible_to(user)
        self.fields["stream"].queryset = visible
        self.fields["visit"].queryset = Visit.objects.filter(
            deal__stream__in=visible
        ).select_related("deal")


class UndoSerializer(ScopedToUser, _InputSerializer):
    decision = serializers.PrimaryKeyRelatedField(
        queryset=HandoffDecision.objects.none(), help_text="The decision to undo."
    )
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why it is undone: required of a manager after the decider's 10 minutes.",
    )

    def scope_to(self, user: User) -> None:
        self.fields["decision"].queryset = HandoffDecision.objects.filter(
            deal__stream__in=streams_visible_to(user)
        ).select_related("deal")


class UndoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = HandoffUndo
        fields = [
            "id",
            "deal",
            "visit",
            "handoff",
            "stage",
            "kind",
            "pull",
            "reason_label",
            "note",
            "decided_by",
            "decided_at",
            "undone_by",
            "undone_at",
            "reason",
        ]
        read_only_fields = fields


class ArrivalSerializer(serializers.Serializer):
    visit = serializers.IntegerField(source="visit_id")
    deal = serializers.IntegerField(source="deal_id")
    deal_name = serializers.CharField()
    external_id = serializers.CharField()
    step = serializers.IntegerField(source="step_id")
    step_name = serializers.CharField()
    handoff = serializers.IntegerField(source="handoff_id")
    stage = serializers.CharField(help_text="The stage the lead was offered as (e.g. MQL).")
    pull = serializers.BooleanField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    owner_label = serializers.CharField()
    arrived_at = serializers.DateTimeField()
    age_minutes = serializers.FloatField(
        help_text="Working minutes of the step's calendar (elapsed when `working` is false)."
    )
    age_hours = serializers.FloatField()
    working = serializers.BooleanField()
    sla_minutes = serializers.IntegerField(allow_null=True)
    escalate_minutes = serializers.IntegerField(allow_null=True)
    over_by_minutes = serializers.FloatField()
    breached = serializers.BooleanField()
    escalated = serializers.BooleanField()
    win_probability = serializers.FloatField(
        allow_null=True, help_text="The lab's win probability (0–1), where it scored the case."
    )


class ArrivalPageSerializer(serializers.Serializer):
    stream = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Arrivals waiting in all.")
    rows = ArrivalSerializer(many=True, help_text=f"The oldest, at most {BOARD_LIMIT}.")


class StreamParamSerializer(serializers.Serializer):
    stream = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    order = serializers.ChoiceField(choices=["age", "probability"], required=False, default="age")


_STREAM_PARAM = OpenApiParameter(
    "stream", OpenApiTypes.INT, OpenApiParameter.QUERY, required=True, description="Stream id"
)
_DECIDE_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input: {field: [reason, …]}."),
    403: OpenApiResponse(description="Your role in the team does not allow this decision."),
    409: _CONFLICT,
}
_decision_write = write_schema(DecisionSerializer, _DECIDE_ERRORS)


class HandoffViewSet(viewsets.GenericViewSet):
    """Decisions on arrivals at hand-offs, pulls, and the board and queue."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = DecisionSerializer
    queryset = HandoffDecision.objects.none()
    pagination_class = None
    filter_backends: list = []

    def _stream_from_query(self, request: Request) -> tuple[ValueStream, str]:
        params = StreamParamSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        stream = streams_visible_to(request.user).filter(pk=params.validated_data["stream"]).first()
        if stream is None:
            raise serializers.ValidationError(
                {"stream": ["No such stream among those you can see."]}
            )
        return stream, params.validated_data["order"]

    def _decided(
        self,
        request: Request,
        body: type[serializers.Serializer],
        service: Callable[..., HandoffDecision],
    ) -> Response:
        """The decision ``service`` makes (its keywords: ``user``, the requester; the body read
        with ``body``), answered 201; 409 when someone else decided on the lead first."""
        data = body(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        try:
            decision = service(user=request.user, **data.validated_data)
        except LeadTaken as taken:
            return Response(taken.message_dict, status=status.HTTP_409_CONFLICT)
        fresh = HandoffDecision.objects.select_related("reason", "handoff").get(pk=decision.pk)
        return Response(DecisionSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @staticmethod
    def _page(stream: ValueStream, page: Any) -> Response:
        return Response(
            ArrivalPageSerializer(
                {"stream": stream.pk, "total": page.total, "rows": page.rows}
            ).data
        )

    @_decision_write(
        "Decide on a lead waiting at a hand-off",
        DecideSerializer,
        description="accept (the lead stays, accepted), reject (back to the step it came "
        "from), recycle (to the nurture step), disqualify (closed as lost with the reason's "
        "label). Reasons are required except to accept. At the ready-for-sales queue, "
        "sellers pull instead (`POST /api/handoffs/pull/`).",
        created=True,
    )
    @action(detail=False, methods=["post"])
    def decide(self, request: Request) -> Response:
        return self._decided(request, DecideSerializer, handoff_decide)

    @_decision_write(
        "Pull a lead from the ready-for-sales queue (sellers)",
        PullSerializer,
        description="The oldest waiting lead, or `visit`. You become the case's owner. "
        "Refused (400) without a seller limit, at or over it (with your count and limit), at "
        "the step's WIP limit, or for a lead not waiting there; 409 when another seller "
        "pulled it a moment before (naming who).",
        created=True,
    )
    @action(detail=False, methods=["post"])
    def pull(self, request: Request) -> Response:
        return self._decided(request, PullSerializer, lead_pull)

    @extend_schema(
        summary="Undo a hand-off decision",
        description="Whoever made the decision may undo it for 10 minutes; the team's "
        "managers later, with a `reason`. The lead waits at the hand-off again exactly as "
        "before (a reject's or recycle's move taken back, a disqualified case reopened, a "
        "pulled case given back to its owner before the pull). 400 naming `decision` when the "
        "lead moved on since or the window has passed, `reason` when a manager gives none; "
        "403 for another rep and for leadership.",
        request=UndoSerializer,
        responses={
            200: UndoneSerializer,
            400: _DECIDE_ERRORS[400],
            403: OpenApiResponse(
                description="Only whoever decided (10 minutes) or a manager undoes it."
            ),
        },
    )
    @action(detail=False, methods=["post"])
    def undo(self, request: Request) -> Response:
        data = UndoSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        undo = handoff_undo(user=request.user, **data.validated_data)
        return Response(UndoneSerializer(undo).data)

    @extend_schema(
        summary="Leads waiting for a decision at a stream's hand-offs, oldest first",
        parameters=[_STREAM_PARAM],
        responses={200: ArrivalPageSerializer},
    )
    @action(detail=False, methods=["get"])
    def board(self, request: Request) -> Response:
        stream, _ = self._stream_from_query(request)
        return self._page(stream, handoff_board(stream))

    @extend_schema(
        summary="The ready-for-sales queue of a stream",
        description="Leads waiting at the pull hand-off, oldest first; `order=probability` "
        "puts them by the lab's win probability (the unscored after).",
        parameters=[
            _STREAM_PARAM,
            OpenApiParameter(
                "order", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=["age", "probability"]
            ),
        ],
        responses={200: ArrivalPageSerializer},
    )
    @action(detail=False, methods=["get"])
    def queue(self, request: Request) -> Response:
        stream, order = self._stream_from_query(request)
        return self._page(stream, ready_queue(stream, by_probability=order == "probability"))
