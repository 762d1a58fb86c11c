"""``GET /api/streams/{id}/lab/``: the qualification lab of a stream for a window and an as-of
step, read from its snapshot (``funnel.qualification.snapshots``). 200 with the result when
it is computed (``stale`` while a newer one is being computed), 202 with the job while the
first one is; reps see only their own coverage row and open deals."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.api.snapshot_reads import rep_id, snapshot_schema, stream_snapshot_read
from funnel.qualification.snapshots import (
    AT_CLOSE,
    DEFAULT_DAYS,
    lab_result_for,
    lab_snapshot_result,
    lab_view_read,
)


class IntervalSerializer(serializers.Serializer):
    value = serializers.FloatField()
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


class LevelSerializer(serializers.Serializer):
    level = serializers.IntegerField(
        allow_null=True,
        help_text="Index in the active scale; null: never scored, or a label only an earlier "
        "version's scale had.",
    )
    label = serializers.CharField()
    n = serializers.IntegerField()
    won = serializers.IntegerField()
    win_rate = IntervalSerializer(allow_null=True)


class SplitSerializer(serializers.Serializer):
    """Deals at or above a level ("met") against the others."""

    n_met = serializers.IntegerField()
    won_met = serializers.IntegerField()
    n_not_met = serializers.IntegerField()
    won_not_met = serializers.IntegerField()
    win_rate_met = IntervalSerializer(allow_null=True, help_text="Wilson 95 %.")
    win_rate_not_met = IntervalSerializer(allow_null=True)
    difference = IntervalSerializer(allow_null=True, help_text="Newcombe hybrid score 95 %.")
    lift = IntervalSerializer(allow_null=True, help_text="Katz log 95 %.")
    p = serializers.FloatField(allow_null=True, help_text="Fisher's exact, two-sided.")
    q = serializers.FloatField(
        allow_null=True, help_text="Benjamini–Hochberg over every threshold of every criterion."
    )


class ThresholdSerializer(SplitSerializer):
    level = serializers.IntegerField(help_text="At or above this level of the active scale.")
    label = serializers.CharField()


class LabCriterionSerializer(SplitSerializer):
    key = serializers.CharField()
    name = serializers.CharField()
    weight = serializers.IntegerField(allow_null=True)
    met_label = serializers.CharField()
    verdict = serializers.ChoiceField(
        choices=["predicts_win", "predicts_loss", "no_effect", "not_yet"]
    )
    deals_needed = serializers.IntegerField(allow_null=True)
    levels = LevelSerializer(many=True)
    thresholds = ThresholdSerializer(
        many=True, help_text="Each level above the lowest: at or above it against below."
    )


class MythSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    weight = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(
        choices=["weighted_no_effect", "weighted_unproven", "unweighted_effect"]
    )
    text = serializers.CharField()


class BinSerializer(serializers.Serializer):
    predicted = serializers.FloatField()
    observed = serializers.FloatField()
    n = serializers.IntegerField()


class CoefficientSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    coef = serializers.FloatField()


class FloorSerializer(serializers.Serializer):
    won = serializers.IntegerField()
    lost = serializers.IntegerField()


class ModelSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "not_enough"])
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    floor = FloorSerializer()
    message = serializers.CharField(allow_blank=True)
    folds = serializers.IntegerField()
    auc = IntervalSerializer(allow_null=True, help_text="Out of sample, bootstrap 95 %.")
    brier = serializers.FloatField(allow_null=True)
    reliability = BinSerializer(many=True)
    coefficients = CoefficientSerializer(many=True)


class RuleSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    step = serializers.IntegerField()
    step_name = serializers.CharField()
    condition = serializers.ChoiceField(choices=["unknown", "not_met"])
    text = serializers.CharField()
    n = serializers.IntegerField()
    won = serializers.IntegerField()
    win_rate = IntervalSerializer()
    others_win_rate = IntervalSerializer()
    p = serializers.FloatField()
    q = serializers.FloatField()
    hours_after = serializers.FloatField()
    revenue_won = serializers.FloatField()
    hours_per_10k = serializers.FloatField(allow_null=True)


class DriverSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    effect = serializers.FloatField()


class OpenDealSerializer(serializers.Serializer):
    probability = serializers.FloatField()
    step = serializers.IntegerField(help_text="The deal's current step, whose model scored it.")
    drivers = DriverSerializer(many=True)


class StepModelSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    step_name = serializers.CharField()
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    folds = serializers.IntegerField()
    auc = serializers.FloatField(help_text="Out of sample (stratified 5-fold).")
    brier = serializers.FloatField(help_text="Out of sample (stratified 5-fold).")


class PipelineSerializer(serializers.Serializer):
    model_ok = serializers.BooleanField()
    expected_value = serializers.FloatField(
        allow_null=True, help_text="Σ probability × amount over the open deals scored."
    )
    pipeline = serializers.FloatField(
        allow_null=True, help_text="Σ amount over the same deals (those scored)."
    )
    deals_scored = serializers.IntegerField()
    deals_open = serializers.IntegerField(help_text="Open deals, with a probability or not.")
    pipeline_all = serializers.FloatField(help_text="Σ amount over every open deal.")


class OpenDealsSerializer(PipelineSerializer):
    by_owner = serializers.DictField(
        child=PipelineSerializer(),
        required=False,
        help_text="The same figures per owner id (left out for a rep, who gets their own).",
    )
    steps = serializers.DictField(
        child=StepModelSerializer(),
        required=False,
        help_text="By step id: each step model's training deals and out-of-sample AUC, Brier.",
    )
    deals = serializers.DictField(child=OpenDealSerializer(), help_text="By deal id.")


class WinCallsSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    brier = serializers.FloatField(allow_null=True)
    reliability = BinSerializer(many=True)


class CoverageRowSerializer(serializers.Serializer):
    open_deals = serializers.IntegerField()
    due = serializers.IntegerField()
    known = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    overdue = serializers.IntegerField(help_text="Open deals with a criterion overdue.")


class StepCoverageSerializer(CoverageRowSerializer):
    step = serializers.IntegerField()
    step_name = serializers.CharField()


class RepCoverageSerializer(CoverageRowSerializer):
    owner = serializers.IntegerField(allow_null=True)
    owner_name = serializers.CharField()


class CoverageSerializer(serializers.Serializer):
    by_step = StepCoverageSerializer(many=True)
    by_rep = RepCoverageSerializer(many=True, help_text="A rep sees only their own row.")


class LabViewSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    as_of = serializers.IntegerField(allow_null=True, help_text="Null: as known at close.")
    as_of_name = serializers.CharField(allow_null=True)


class DealCountsSerializer(serializers.Serializer):
    closed = serializers.IntegerField()
    won = serializers.IntegerField()
    lost = serializers.IntegerField()


class LabResultSerializer(serializers.Serializer):
    view = LabViewSerializer()
    deals = DealCountsSerializer()
    criteria = LabCriterionSerializer(many=True)
    myths = MythSerializer(many=True)
    model = ModelSerializer()
    rules = RuleSerializer(many=True)
    open_deals = OpenDealsSerializer()
    win_calls = WinCallsSerializer()
    coverage = CoverageSerializer()
    computed_at = serializers.DateTimeField()


class StreamLabView(APIView):
    """The qualification lab of one value stream."""

    @snapshot_schema(
        "Lab",
        LabResultSerializer,
        computing="The lab's first result is being computed.",
        failed="Computing the lab's view failed.",
        operation_id="streams_lab_retrieve",
        summary="Qualification lab of a stream",
        description=(
            "Which qualification criteria go with winning, over the deals closed in a window, "
            "as known when each deal first reached the as-of step (docs/qualification.md): "
            "win rates with Wilson intervals, difference (Newcombe) and lift (Katz), Fisher's "
            "p and Benjamini–Hochberg q, verdicts, myths, the cross-validated model, "
            "walk-away rules, open deals' probabilities, win calls and score coverage. "
            "Computed by a background job into a snapshot: 202 with the job while the first "
            "result is computed; 200 with `stale` true while a newer one is. Any member of "
            "the team may read; a rep sees only their own coverage row and open deals."
        ),
        parameters=[
            OpenApiParameter(
                "start",
                str,
                description="Window of closing dates, start (inclusive): an ISO 8601 date or "
                f"date-time (UTC unless it says). Without start and end: the last "
                f"{DEFAULT_DAYS} days up to the end of today.",
            ),
            OpenApiParameter("end", str, description="Window end (exclusive), as `start`."),
            OpenApiParameter(
                "as_of",
                str,
                description=f"A step id of this stream (criteria as known when each deal "
                f"first reached it) or `{AT_CLOSE}`. Default: the latest known-by step of "
                "the active criteria, else close.",
            ),
        ],
    )
    def get(self, request: Request, pk: int) -> Response:
        return stream_snapshot_read(
            request,
            pk,
            lab_view_read,
            lambda stream, snapshot: lab_result_for(
                lab_snapshot_result(snapshot), rep_id=rep_id(request.user, stream)
            ),
        )
