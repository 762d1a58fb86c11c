"""The 5S audit API (docs/five-s.md): ``/api/five-s-questions/`` (a stream's questionnaire;
managers add, reword and retire questions) and ``/api/five-s-audits/`` (audits with their
answers and scores; managers record and change them).

Every write goes through ``kaizen.fives.services``. Members of the team (reps and leadership
included) read; another team's objects answer 404, or 400 naming the field when a body names
them; a visible object the user may not change answers 403.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from funnel.api.viewsets import ListAnsweringViewSet, object_errors
from funnel.common.catalog_api import ActiveFilter, CatalogServices, CatalogViewSet, catalog_schema
from funnel.common.visible_api import Visible
from kaizen.fives.models import MAX_SCORE, FiveS, FiveSAnswer, FiveSAudit, FiveSQuestion
from kaizen.fives.selectors import audits_visible_to, questions_visible_to
from kaizen.fives.services import (
    audit_create,
    audit_update,
    question_add,
    question_retire,
    question_update,
)
from streams.api import IdFilter
from streams.api.common import (
    StreamInput,
    _InputSerializer,
    list_retrieve_schema,
    write_schema,
)

_FORBIDDEN = "Only the team's managers run 5S audits and edit their questions."

# --- Questions ----------------------------------------------------------------------------


class FiveSQuestionSerializer(serializers.ModelSerializer):
    class Meta:
        model = FiveSQuestion
        fields = ["id", "stream", "s", "text", "position", "created_at", "retired_at"]
        read_only_fields = fields


class QuestionUpdateSerializer(_InputSerializer):
    text = serializers.CharField(max_length=300)


class QuestionCreateSerializer(QuestionUpdateSerializer, StreamInput):
    s = serializers.ChoiceField(choices=FiveS.choices)


class QuestionFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")
    active = ActiveFilter()

    class Meta:
        model = FiveSQuestion
        fields = ["stream", "active"]


@catalog_schema(
    noun="question",
    forbidden=_FORBIDDEN,
    list_summary="5S questions of the streams you can see",
    retrieve_summary="One 5S question",
    create={"summary": "Add a 5S question to a stream (managers)"},
    partial_update={"summary": "Reword a 5S question (managers); audits made keep the old words"},
    retire={"summary": "Retire a 5S question (managers); each S keeps at least one"},
)
class FiveSQuestionViewSet(CatalogViewSet):
    """A stream's 5S questionnaire, one or more statements per S, each scored 0–4."""

    serializer_class = FiveSQuestionSerializer
    filterset_class = QuestionFilter
    ordering_fields = ["position", "id"]
    _input_serializers = {
        "create": QuestionCreateSerializer,
        "partial_update": QuestionUpdateSerializer,
    }
    services = CatalogServices(
        "question", create=question_add, update=question_update, retire=question_retire
    )
    visible = Visible(questions_visible_to, "position", "id")

    @extend_schema(
        description="The 5S questions of the streams you can see (`stream` filters). A stream "
        "has its default questions (two per S) from the moment it is made; a read writes "
        "nothing."
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)


# --- Audits -------------------------------------------------------------------------------


class FiveSAnswerSerializer(serializers.ModelSerializer):
    is_finding = serializers.BooleanField(
        read_only=True, help_text="Scored 2 or lower, or given a note."
    )

    class Meta:
        model = FiveSAnswer
        fields = ["id", "question", "s", "question_text", "score", "note", "is_finding"]
        read_only_fields = fields


class FiveSAuditSerializer(serializers.ModelSerializer):
    answers = FiveSAnswerSerializer(many=True, read_only=True)

    class Meta:
        model = FiveSAudit
        fields = [
            "id",
            "stream",
            "audited_on",
            "auditor",
            "note",
            "score_sort",
            "score_set_in_order",
            "score_shine",
            "score_standardize",
            "score_sustain",
            "score",
            "answers",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AnswerInputSerializer(_InputSerializer):
    question = serializers.IntegerField(min_value=1, max_value=2_147_483_647)
    score = serializers.IntegerField(
        min_value=0, max_value=MAX_SCORE, help_text="0 (not at all) to 4 (fully)."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)


class AuditUpdateSerializer(_InputSerializer):
    audited_on = serializers.DateField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    answers = AnswerInputSerializer(
        many=True,
        required=False,
        help_text="One answer per active question of the stream (all of them).",
    )


class AuditCreateSerializer(AuditUpdateSerializer, StreamInput):
    audited_on = serializers.DateField()
    answers = AnswerInputSerializer(
        many=True, help_text="One answer per active question of the stream (all of them)."
    )


class AuditFilter(filters.FilterSet):
    stream = IdFilter(field_name="stream_id", label="Stream id")

    class Meta:
        model = FiveSAudit
        fields = ["stream"]


_audit_write = write_schema(FiveSAuditSerializer, object_errors("audit", _FORBIDDEN))


@list_retrieve_schema("5S audits of the streams you can see", "One 5S audit with its answers")
class FiveSAuditViewSet(ListAnsweringViewSet):
    """5S audits: scores per S and overall in percent (an S: the mean of its answers ÷ 4;
    overall: the mean of the five S scores), with the answers as given."""

    queryset = FiveSAudit.objects.none()
    serializer_class = FiveSAuditSerializer
    filterset_class = AuditFilter
    ordering_fields = ["audited_on", "score", "id"]
    _input_serializers = {
        "create": AuditCreateSerializer,
        "partial_update": AuditUpdateSerializer,
    }

    def get_queryset(self) -> QuerySet[FiveSAudit]:
        return (
            audits_visible_to(self.request.user)
            .prefetch_related("answers")
            .order_by("-audited_on", "-id")
        )

    @_audit_write("Record a 5S audit of a stream (managers)", AuditCreateSerializer, created=True)
    def create(self, request: Request) -> Response:
        return self._create(request, audit_create)

    @_audit_write("Change a 5S audit's date, note or answers (managers)", AuditUpdateSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._update(request, audit_update, "audit")
