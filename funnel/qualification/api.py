"""The qualification API: ``/api/criteria/`` (a stream's criteria; managers add, change,
retire and restore them), ``/api/scores/`` (list and add scores; ``/api/scores/bulk/`` many at
once, all or nothing) and ``/api/win-calls/`` (reps' own win probabilities).

Every write goes through ``funnel.qualification.services``. What a user sees comes from the
selectors (a rep: the team's criteria, their own deals' scores); an object outside it answers
404, or 400 naming the field when a body names it; a visible object the user may not change
403. A bulk refusal answers like ``/api/events/bulk/``: ``{errors: [{index, field, reason}],
applied: 0}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from funnel.api.bulk_events import EventBatchErrorSerializer, _refusal, _shape_errors
from funnel.api.serializers import AwareDateTimeField
from funnel.api.viewsets import ListAnsweringViewSet, object_errors
from funnel.common.catalog_api import ActiveFilter, CatalogServices, CatalogViewSet, catalog_schema
from funnel.common.visible_api import Visible, VisibleListViewSet
from funnel.eventlog.bulk import EventError, EventsRefused
from funnel.eventlog.selectors import deals_visible_to
from funnel.models import Deal
from funnel.qualification.models import Criterion, CriterionScore, LevelScale, WinCall
from funnel.qualification.selectors import criteria_visible_to, level_label, scores_visible_to
from funnel.qualification.services import (
    MAX_SCORES,
    criterion_create,
    criterion_restore,
    criterion_retire,
    criterion_update,
    score_create,
    scores_bulk,
    win_call_create,
)
from streams.api import IdFilter
from streams.api.common import (
    ScopedToUser,
    StreamInput,
    _InputSerializer,
    list_retrieve_schema,
    write_schema,
)
from streams.models import ProcessStep
from streams.selectors import User, streams_visible_to

# --- Criteria -----------------------------------------------------------------------------


class CriterionSerializer(serializers.ModelSerializer):
    stream = serializers.IntegerField(source="criteria_set.stream_id", read_only=True)
    levels = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="The answer levels, lowest first."
    )

    class Meta:
        model = Criterion
        fields = [
            "id",
            "stream",
            "key",
            "version",
            "name",
            "question",
            "scale",
            "levels",
            "met_level",
            "known_by",
            "weight",
            "position",
            "created_at",
            "retired_at",
        ]
        read_only_fields = fields


def _step_field(**kwargs: Any) -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=ProcessStep.objects.none(),
        allow_null=True,
        help_text="The step by which the criterion should be known (a step of the stream).",
        **kwargs,
    )


class CriterionUpdateSerializer(ScopedToUser, _InputSerializer):
    name = serializers.CharField(max_length=80, required=False)
    question = serializers.CharField(max_length=300, required=False, allow_blank=True)
    scale = serializers.ChoiceField(choices=LevelScale.choices, required=False)
    met_level = serializers.IntegerField(min_value=0, max_value=9, required=False)
    known_by = _step_field(required=False)
    weight = serializers.IntegerField(min_value=0, max_value=5, required=False, allow_null=True)
    position = serializers.IntegerField(min_value=0, max_value=32_767, required=False)

    def scope_to(self, user: User) -> None:
        super().scope_to(user)
        self.fields["known_by"].queryset = ProcessStep.objects.filter(
            stream__in=streams_visible_to(user)
        )


class CriterionCreateSerializer(CriterionUpdateSerializer, StreamInput):
    name = serializers.CharField(max_length=80)
    position = None


class CriterionFilter(filters.FilterSet):
    stream = IdFilter(field_name="criteria_set__stream_id", label="Stream id")
    active = ActiveFilter()
    key = filters.CharFilter(label="Every version of one criterion")


@catalog_schema(
    noun="criterion",
    forbidden="Only the team's managers change its criteria.",
    list_summary="Qualification criteria of the streams you can see",
    retrieve_summary="One criterion version",
    create={"summary": "Add a criterion to a stream's set (managers)"},
    partial_update={
        "summary": "Change a criterion (managers)",
        "description": "Changing `name`, `question`, `scale` or `met_level` of a criterion "
        "that has scores retires this version and answers the new one (same `key`, next "
        "`version`); other changes are made in place.",
    },
    retire={"summary": "Retire a criterion (managers); its scores stay"},
    restore={"summary": "Restore a retired criterion version (managers)"},
)
class CriterionViewSet(CatalogViewSet):
    """Criteria, one row per version (``key`` stays across versions)."""

    serializer_class = CriterionSerializer
    filterset_class = CriterionFilter
    ordering_fields = ["position", "name", "version", "id"]
    _input_serializers = {
        "create": CriterionCreateSerializer,
        "partial_update": CriterionUpdateSerializer,
    }
    services = CatalogServices(
        "criterion", create=criterion_create, update=criterion_update, retire=criterion_retire
    )
    visible = Visible(criteria_visible_to)

    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str | None = None) -> Response:
        return self._act(criterion_restore)


# --- Scores -------------------------------------------------------------------------------


class ScoreSerializer(serializers.ModelSerializer):
    criterion_key = serializers.CharField(source="criterion.key", read_only=True)
    level_label = serializers.SerializerMethodField()

    class Meta:
        model = CriterionScore
        fields = [
            "id",
            "deal",
            "criterion",
            "criterion_key",
            "level",
            "level_label",
            "note",
            "scored_at",
            "recorded_at",
            "step",
            "scored_by",
            "scored_by_name",
            "source",
        ]
        read_only_fields = fields

    def get_level_label(self, score: CriterionScore) -> str:
        return level_label(score)


class _DealInput(ScopedToUser, _InputSerializer):
    deal = serializers.PrimaryKeyRelatedField(
        queryset=Deal.objects.none(), help_text="An open deal you may change."
    )

    def scope_to(self, user: User) -> None:
        self.fields["deal"].queryset = deals_visible_to(user)


class ScoreCreateSerializer(_DealInput):
    criterion = serializers.PrimaryKeyRelatedField(
        queryset=Criterion.objects.none(), help_text="An active criterion of the deal's stream."
    )
    level = serializers.IntegerField(help_text="Index into the criterion's `levels`, from 0.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    scored_at = AwareDateTimeField(
        required=False, help_text="When this was known; now when omitted. Not in the future."
    )

    def scope_to(self, user: User) -> None:
        super().scope_to(user)
        self.fields["criterion"].queryset = criteria_visible_to(user)


class _ScoreRow(serializers.DictField):
    """One score of a batch: an object, checked afterwards as in ``POST /api/scores/``."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                "A score is a JSON object {deal, criterion, level, note?, scored_at?}, "
                f"not {type(data).__name__}."
            )
        return super().run_validation(data)


class ScoreBatchSerializer(serializers.Serializer):
    scores = serializers.ListField(
        child=_ScoreRow(),
        allow_empty=False,
        max_length=MAX_SCORES,
        help_text=f"Up to {MAX_SCORES} scores, each as in POST /api/scores/.",
    )


class ScoreBatchResultSerializer(serializers.Serializer):
    applied = serializers.IntegerField()
    results = ScoreSerializer(many=True)


class ScoreFilter(filters.FilterSet):
    deal = IdFilter(field_name="deal_id", label="Deal id")
    criterion = IdFilter(field_name="criterion_id", label="Criterion (version) id")
    stream = IdFilter(field_name="deal__stream_id", label="Stream id")
    key = filters.CharFilter(field_name="criterion__key", label="Criterion key (every version)")


_SCORE_ERRORS = object_errors("deal", "Only the deal's owner and the team's managers score it.")
_score_write = write_schema(ScoreSerializer, _SCORE_ERRORS)


@list_retrieve_schema("Scores of the deals you can see", "One score")
class ScoreViewSet(VisibleListViewSet):
    """Scores of deals against criteria: each a new row, never changed."""

    serializer_class = ScoreSerializer
    filterset_class = ScoreFilter
    ordering_fields = ["scored_at", "recorded_at", "id"]
    _input_serializers = {"create": ScoreCreateSerializer, "bulk": ScoreBatchSerializer}
    visible = Visible(scores_visible_to, "scored_at", "id")

    @_score_write(
        "Score a deal against a criterion",
        ScoreCreateSerializer,
        description="Adds a score (earlier ones stay). 400 naming the field for a closed "
        "deal, a criterion of another stream or retired, an unknown level, a time in the "
        "future or before the deal; 403 when you may not change the deal.",
        created=True,
    )
    def create(self, request: Request) -> Response:
        return self._create(request, score_create, source="api")

    @extend_schema(
        summary="Add many scores at once, all or nothing",
        description=f"Up to {MAX_SCORES} scores, each as in `POST /api/scores/`, in one "
        "transaction. If any fails nothing is stored: 400 lists every failing row as "
        "`{index, field, reason}`; 403 names the first row on a deal you may not change.",
        request=ScoreBatchSerializer,
        responses={
            200: ScoreBatchResultSerializer,
            400: EventBatchErrorSerializer,
            403: EventBatchErrorSerializer,
        },
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def bulk(self, request: Request) -> Response:
        batch = ScoreBatchSerializer(data=request.data)
        if not batch.is_valid():
            return _refusal(_shape_errors(batch.errors), status.HTTP_400_BAD_REQUEST)
        rows, positions, errors = [], [], []
        context = self.get_serializer_context()
        for index, raw in enumerate(batch.validated_data["scores"]):
            row = ScoreCreateSerializer(data=raw, context=context)
            if row.is_valid():
                rows.append(row.validated_data)
                positions.append(index)
                continue
            for field, reasons in row.errors.items():
                errors += [EventError(index, field, str(reason)) for reason in reasons]
        # The well-formed rows are checked by the rules too, so every failing row is reported
        # at once; any error rolls them back.
        with transaction.atomic():
            try:
                scores = scores_bulk(user=request.user, rows=rows) if rows else []
            except EventsRefused as refused:
                found = [EventError(positions[e.index], e.field, e.reason) for e in refused.errors]
                if refused.forbidden:
                    return _refusal(found, status.HTTP_403_FORBIDDEN)
                errors += found
            if errors:
                transaction.set_rollback(True)
                errors.sort(key=lambda e: e.index)
                return _refusal(errors, status.HTTP_400_BAD_REQUEST)
        fresh = self.get_queryset().filter(pk__in=[s.pk for s in scores]).order_by("id")
        body = ScoreSerializer(fresh, many=True, context=context).data
        return Response({"applied": len(scores), "results": body})


# --- Win calls ----------------------------------------------------------------------------


class WinCallSerializer(serializers.ModelSerializer):
    class Meta:
        model = WinCall
        fields = ["id", "deal", "probability", "called_at", "called_by"]
        read_only_fields = fields


class WinCallCreateSerializer(_DealInput):
    probability = serializers.IntegerField(help_text="Your win probability, 0 to 100 %.")
    called_at = AwareDateTimeField(required=False, help_text="Now when omitted.")


class WinCallFilter(filters.FilterSet):
    deal = IdFilter(field_name="deal_id", label="Deal id")
    stream = IdFilter(field_name="deal__stream_id", label="Stream id")


_win_call_write = write_schema(WinCallSerializer, _SCORE_ERRORS)


@list_retrieve_schema("Win calls of the deals you can see", "One win call")
class WinCallViewSet(ListAnsweringViewSet):
    """Reps' own win probabilities for deals, kept to compare with outcomes."""

    queryset = WinCall.objects.none()
    serializer_class = WinCallSerializer
    filterset_class = WinCallFilter
    ordering_fields = ["called_at", "id"]
    _input_serializers = {"create": WinCallCreateSerializer}

    def get_queryset(self) -> QuerySet[WinCall]:
        visible = deals_visible_to(self.request.user)
        return WinCall.objects.filter(deal__in=visible).order_by("called_at", "id")

    @_win_call_write(
        "Record your win probability for a deal", WinCallCreateSerializer, created=True
    )
    def create(self, request: Request) -> Response:
        return self._create(request, win_call_create)
