"""REST API of kaizen cycles: the PDCA record, phase moves, Act decisions and comments.

Every write goes through ``kaizen.services``, which check the user's role
(``kaizen.selectors``): managers create cycles and move them through every phase; reps
propose a cycle (a plan they own and may edit while it is a plan) and comment; leadership
reads. Cycles outside the user's teams answer 404, visible ones the user may not change 403;
a refused rule is a 400 naming the field. The Check is read as stored (computed by a Celery
task), never computed on a request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from funnel.api import EventLogPagination, StableOrderingFilter
from funnel.api.viewsets import AnsweringViewSet, object_errors, post_actions
from kaizen.models import (
    CycleCheck,
    CycleComment,
    Direction,
    KaizenCycle,
    Metric,
    Outcome,
    Phase,
)
from kaizen.selectors import cycle_can_manage, cycles_visible_to
from kaizen.services import (
    DO_NOTES_FIELDS,
    PLAN_FIELDS,
    cycle_abandon,
    cycle_adapt,
    cycle_adopt,
    cycle_comment_add,
    cycle_delete,
    cycle_plan,
    cycle_start_act,
    cycle_start_check,
    cycle_start_do,
    cycle_update,
)
from streams.api import IdFilter
from streams.api.common import ScopedToUser, _InputSerializer, list_retrieve_schema, write_schema
from streams.models import ProcessStep, StreamState, ValueStream
from streams.selectors import User, members_visible_to, streams_visible_to

UserModel = get_user_model()


# --- Serializers ----------------------------------------------------------------------------


class CycleCheckSerializer(serializers.ModelSerializer):
    series = serializers.JSONField(
        help_text="The weekly run chart: change_at; weeks (start, value, n, after, partial, "
        "signal); the baseline weeks' XmR mean, mean_moving_range, upper, lower."
    )

    class Meta:
        model = CycleCheck
        fields = [
            "computed_at",
            "metric",
            "baseline_start",
            "change_at",
            "after_end",
            "n_before",
            "n_after",
            "value_before",
            "value_after",
            "effect",
            "p_value",
            "statistic",
            "verdict",
            "needed_before",
            "needed_after",
            "series",
        ]
        read_only_fields = fields


class CycleSerializer(serializers.ModelSerializer):
    step_name = serializers.CharField(source="step.name", read_only=True, allow_null=True)
    check_result = serializers.SerializerMethodField(
        help_text="The stored Check (metrics.md §6); null before it has been computed."
    )
    follow_ups = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    decision = serializers.ChoiceField(
        source="outcome",
        choices=Outcome.choices,
        allow_blank=True,  # "" until decided: in the schema's enum too
        read_only=True,
        help_text="The Act decision of a closed cycle; empty until decided.",
    )

    adopted_without_evidence = serializers.BooleanField(
        read_only=True,
        help_text="Adopted on the manager's override although the Check had insufficient "
        "data; such cycles are left out of the share adopted and the measured effects.",
    )

    class Meta:
        model = KaizenCycle
        fields = [
            "id",
            "stream",
            "step",
            "step_name",
            "title",
            "owner",
            "proposed_by",
            "phase",
            "problem",
            "current_condition",
            "metric",
            "direction",
            "baseline_value",
            "baseline_n",
            "baseline_start",
            "baseline_end",
            "target_value",
            "planned_on",
            "target_date",
            "root_cause",
            "countermeasure",
            "prediction",
            "window_days",
            "change_date",
            "change_description",
            "do_notes",
            "decision",
            "decision_notes",
            "adopted_standard",
            "evidence_override",
            "adopted_without_evidence",
            "follow_up_of",
            "follow_ups",
            "closed_on",
            "check_result",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(CycleCheckSerializer(allow_null=True))
    def get_check_result(self, cycle: KaizenCycle) -> dict | None:
        check = getattr(cycle, "check_result", None)
        return CycleCheckSerializer(check).data if check is not None else None


_VALUE_HELP = (
    "In the metric's unit: hours (time in step), days (sales cycle), or a share 0–1 (%C&A, "
    "conversion, win rate)."
)


class _PlanFields(ScopedToUser, _InputSerializer):
    # Unknown fields are refused by name, as in the map's inputs (``_InputSerializer``).
    step = serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(),
        required=False,
        allow_null=True,
        help_text="A step of the stream; needed for time in step, %C&A and conversion.",
    )
    title = serializers.CharField(max_length=200)
    metric = serializers.ChoiceField(choices=Metric.choices)
    direction = serializers.ChoiceField(
        choices=Direction.choices,
        required=False,
        allow_blank=True,
        help_text="Which way is better; by default the metric's usual way (shorter times, "
        "higher shares).",
    )
    target_value = serializers.FloatField(required=False, allow_null=True, help_text=_VALUE_HELP)
    target_date = serializers.DateField(required=False, allow_null=True)
    problem = serializers.CharField(required=False, allow_blank=True)
    current_condition = serializers.CharField(required=False, allow_blank=True)
    root_cause = serializers.CharField(required=False, allow_blank=True, help_text="Five whys.")
    countermeasure = serializers.CharField(required=False, allow_blank=True)
    prediction = serializers.CharField(required=False, allow_blank=True)
    window_days = serializers.IntegerField(
        required=False,
        help_text="L: the Check compares the L days before the change with the L days after "
        "(7–366, default 56).",
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=UserModel.objects.none(),
        required=False,
        allow_null=True,
        help_text="A manager or rep of the team; a rep's proposal is theirs.",
    )

    def scope_to(self, user: User) -> None:
        streams = streams_visible_to(user)
        self.fields["step"].queryset = ProcessStep.objects.filter(stream__in=streams)
        self.fields["owner"].queryset = members_visible_to(user)


class CycleCreateSerializer(_PlanFields):
    stream = serializers.PrimaryKeyRelatedField(
        queryset=ValueStream.objects.none(), help_text="A current-state value stream."
    )

    def scope_to(self, user: User) -> None:
        super().scope_to(user)
        self.fields["stream"].queryset = streams_visible_to(user).filter(state=StreamState.CURRENT)


class CycleUpdateSerializer(_PlanFields):
    """Plan fields while in Plan; what was done and notes from Do on; the change date in Do."""

    change_date = serializers.DateField(required=False, allow_null=True)
    change_description = serializers.CharField(required=False, allow_blank=True)
    do_notes = serializers.CharField(required=False, allow_blank=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.fields:
            self.fields[name].required = False


class StartDoSerializer(serializers.Serializer):
    change_date = serializers.DateField(
        help_text="The day the change started (from 00:00 UTC); not in the future."
    )
    change_description = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="What was done."
    )
    do_notes = serializers.CharField(required=False, allow_blank=True, default="")


_OVERRIDE_HELP = (
    "Needed only when the Check has insufficient data: why the team acts without evidence "
    "(kept on the cycle as `evidence_override`; an adoption on it is labelled adopted without "
    "evidence). Ignored when the Check can carry the decision."
)


class StartActSerializer(serializers.Serializer):
    override_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, help_text=_OVERRIDE_HELP
    )


class AdoptSerializer(serializers.Serializer):
    standard = serializers.CharField(help_text="The new standard: what everyone now does.")
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text=_OVERRIDE_HELP + " The reason given when moving to Act counts.",
    )
    planned_value = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The step's new planned figure on the future-state map: planned lead time "
        "in hours (time in step) or planned %C&A in percent; only for those metrics.",
    )


class AdaptSerializer(serializers.Serializer):
    notes = serializers.CharField(help_text="What the follow-up cycle changes.")
    title = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="The follow-up's title."
    )


class AbandonSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why the change is abandoned.")


class CommentSerializer(serializers.ModelSerializer):
    author_name = serializers.SerializerMethodField()

    class Meta:
        model = CycleComment
        fields = ["id", "author", "author_name", "body", "created_at"]
        read_only_fields = ["id", "author", "author_name", "created_at"]

    def get_author_name(self, comment: CycleComment) -> str:
        author = comment.author
        return (author.get_full_name() or author.username) if author else ""


# --- Filters --------------------------------------------------------------------------------


def _id_filter(label: str, **kwargs: Any) -> IdFilter:
    return extend_schema_field({"type": "integer", "description": label})(
        IdFilter(label=label, **kwargs)
    )


class CycleFilter(filters.FilterSet):
    stream = _id_filter("Stream id", field_name="stream_id")
    step = _id_filter("Step id", field_name="step_id")
    owner = _id_filter("Owner (user) id", field_name="owner_id")
    phase = filters.ChoiceFilter(choices=Phase.choices)
    metric = filters.ChoiceFilter(choices=Metric.choices)
    decision = filters.ChoiceFilter(field_name="outcome", choices=Outcome.choices)

    class Meta:
        model = KaizenCycle
        fields = ["stream", "step", "owner", "phase", "metric", "decision"]


# --- The viewset ----------------------------------------------------------------------------

_ERRORS = object_errors("cycle", "Your role in the team does not allow this.")
_cycle_write = write_schema(CycleSerializer, _ERRORS)
_cycle_action = post_actions(CycleSerializer, _ERRORS)


class PhaseMovePermission(permissions.BasePermission):
    """Do, Check and Act are the managers': a phase move that another role sends is refused
    (403) before its body is read, so an empty or invalid body is not a 400 as if the move
    were allowed (the services check again)."""

    message = "Only the team's managers move a cycle through Do, Check and Act."
    actions = frozenset({"start_do", "start_check", "start_act", "adopt", "adapt", "abandon"})

    def has_object_permission(self, request: Request, view: Any, obj: KaizenCycle) -> bool:
        return view.action not in self.actions or cycle_can_manage(user=request.user, cycle=obj)


@list_retrieve_schema("Kaizen cycles of your teams", "One kaizen cycle, with its stored Check")
class KaizenCycleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AnsweringViewSet):
    """Kaizen (PDCA) cycles: every member of a team reads them; managers and reps plan;
    managers move them through Do, Check and Act."""

    queryset = KaizenCycle.objects.none()
    serializer_class = CycleSerializer
    permission_classes = [permissions.IsAuthenticated, PhaseMovePermission]
    filter_backends = [filters.DjangoFilterBackend, StableOrderingFilter]
    filterset_class = CycleFilter
    ordering_fields = ["planned_on", "target_date", "change_date", "closed_on", "updated_at", "id"]
    pagination_class = EventLogPagination

    _input_serializers = {
        "create": CycleCreateSerializer,
        "partial_update": CycleUpdateSerializer,
        "start_do": StartDoSerializer,
        "start_act": StartActSerializer,
        "adopt": AdoptSerializer,
        "adapt": AdaptSerializer,
        "abandon": AbandonSerializer,
        "comments": CommentSerializer,
    }

    def get_queryset(self) -> QuerySet[KaizenCycle]:
        return cycles_visible_to(self.request.user).prefetch_related("follow_ups")

    def _decide(
        self,
        request: Request,
        service: Callable[..., KaizenCycle],
        status_code: int = status.HTTP_200_OK,
    ) -> Response:
        """A phase move or decision with a body: the body read with the action's serializer,
        ``service(cycle=…, user=…, **body)`` called, and the cycle it returns answered (the
        follow-up, for adapt)."""
        return self._update(request, service, "cycle", status_code)

    @_cycle_write(
        "Plan a cycle (managers; reps propose one they own)",
        CycleCreateSerializer,
        description="The baseline of the metric is measured from the stream's metric snapshot "
        "(the rolling 90 days) when the plan is made.",
        created=True,
    )
    def create(self, request: Request) -> Response:
        return self._create(request, cycle_plan)

    @_cycle_write(
        "Change the record",
        CycleUpdateSerializer,
        description="The plan's fields while the cycle is in Plan (managers, and the rep who "
        "proposed it); `change_description` and `do_notes` from Do until the decision and "
        "`change_date` while in Do (managers). A new metric or step re-measures the baseline.",
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        cycle = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = {
            name: value
            for name, value in serializer.validated_data.items()
            if name in PLAN_FIELDS or name in DO_NOTES_FIELDS or name == "change_date"
        }
        cycle_update(cycle=cycle, user=request.user, **fields)
        return self._answer(cycle)

    @extend_schema(
        summary="Withdraw a plan",
        description="Only while in Plan (managers, and the rep who proposed it); cycles past "
        "Plan end with a decision in Act.",
        responses={204: None, **_ERRORS},
    )
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        cycle_delete(cycle=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @_cycle_action("Do: the change started", StartDoSerializer, url_path="start-do")
    def start_do(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, cycle_start_do)

    @_cycle_action(
        "Check: compare after the change with before",
        None,
        description="Needs the cycle in Do. The Check is computed by a background task a "
        "moment later, then again every few minutes while in Check or Act.",
        url_path="start-check",
    )
    def start_check(self, request: Request, pk: str | None = None) -> Response:
        cycle = self.get_object()
        cycle_start_check(cycle=cycle, user=request.user, now=timezone.now())
        return self._answer(cycle)

    @_cycle_action(
        "Act: decide on the result",
        StartActSerializer,
        description="Needs the cycle in Check with its Check computed. A Check with "
        "insufficient data needs `override_reason` (400 naming it otherwise).",
        url_path="start-act",
    )
    def start_act(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, cycle_start_act)

    @_cycle_action(
        "Adopt the change as the new standard (closes the cycle)",
        AdoptSerializer,
        description="Needs a Check other than insufficient data, or `override_reason` (or the "
        "one given when moving to Act): the cycle is then adopted without evidence.",
    )
    def adopt(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, cycle_adopt)

    @_cycle_action(
        "Adapt: close the cycle and plan a linked follow-up",
        AdaptSerializer,
        created=True,
        description="Answers the new follow-up cycle (its `follow_up_of` is this one).",
    )
    def adapt(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, cycle_adapt, status.HTTP_201_CREATED)

    @_cycle_action("Abandon the change, saying why (closes the cycle)", AbandonSerializer)
    def abandon(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, cycle_abandon)

    @extend_schema(
        methods=["get"],
        summary="The cycle's comments, oldest first",
        request=None,
        responses={200: CommentSerializer(many=True), 404: _ERRORS[404]},
    )
    @extend_schema(
        methods=["post"],
        summary="Comment on the cycle (managers and reps)",
        request=CommentSerializer,
        responses={201: CommentSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def comments(self, request: Request, pk: str | None = None) -> Response:
        cycle = self.get_object()
        if request.method == "GET":
            comments = cycle.comments.select_related("author")
            return Response(CommentSerializer(comments, many=True).data)
        data = self._validated(request)
        comment = cycle_comment_add(cycle=cycle, user=request.user, body=data["body"])
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)
