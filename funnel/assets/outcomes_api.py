"""Usage against outcome in the API (docs/assets.md, "Usage and outcome"):

- ``GET /api/assets/{id}/outcome/``: one asset's usage and its with and without;
- ``GET /api/teams/{id}/asset-outcomes/``: the library's report (per asset, per step, per
  rep, the assets nobody used, the steps with no asset).

Both take the window of closing dates (``start``, ``end``: ISO dates, ``end`` left out;
default the last 365 days); a wrong one is a 400 naming the field. Every member of the team
reads them (as the library); another team's asset or team answers 404. A rep's usage per rep
holds only their own row, as the Quality dashboard's coverage by rep.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.assets import outcomes, selectors
from funnel.assets.outcomes import DEFAULT_DAYS, Outcome, Side, Window
from funnel.metrics.query import ELAPSED, WORKING
from funnel.qualification.stats import MIN_SIDE
from streams.selectors import teams_visible_to


class OutcomeShareSerializer(serializers.Serializer):
    value = serializers.FloatField(help_text="0–1.")
    low = serializers.FloatField(help_text="95 % interval, low end.")
    high = serializers.FloatField(help_text="95 % interval, high end.")


class OutcomeSideSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Closed deals on this side.")
    won = serializers.IntegerField()
    win_rate = OutcomeShareSerializer(allow_null=True, help_text="won ÷ n, Wilson 95 % interval.")
    time_n = serializers.IntegerField(help_text="Won deals that entered a later step.")
    median_hours = serializers.FloatField(
        allow_null=True, help_text="Won deals' median hours in the steps after the asset's step."
    )


class AssetWithWithoutSerializer(serializers.Serializer):
    reached = serializers.IntegerField(help_text="Closed deals that reached the asset's steps.")
    used = OutcomeSideSerializer(help_text="Those it was used on.")
    not_used = OutcomeSideSerializer(help_text="The others.")
    difference = OutcomeShareSerializer(
        allow_null=True, help_text="Win rate used − not used, Newcombe's interval."
    )
    p_value = serializers.FloatField(
        allow_null=True, help_text=f"Fisher's exact two-sided p; null under {MIN_SIDE} a side."
    )
    too_few = serializers.BooleanField(help_text=f"A side has fewer than {MIN_SIDE} deals.")
    verdict = serializers.ChoiceField(
        choices=["too_few", "higher", "lower", "no_clear_difference"],
        help_text="An association, not proof: a kaizen cycle's Check tests a change.",
    )
    basis = serializers.ChoiceField(choices=[ELAPSED, WORKING], help_text="Time basis.")


class AssetUsageCountsSerializer(serializers.Serializer):
    deals = serializers.IntegerField(help_text="Deals it was used on in the window.")
    users = serializers.IntegerField(help_text="People who used it.")
    uses = serializers.IntegerField(help_text="Taps (one per person and deal).")


class AssetOutcomeSerializer(serializers.Serializer):
    asset = serializers.IntegerField()
    title = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField(help_text="Left out of the window.")
    usage = AssetUsageCountsSerializer()
    outcome = AssetWithWithoutSerializer(allow_null=True, help_text="Null for an asset on no step.")


class AssetStepUsageSerializer(serializers.Serializer):
    step = serializers.IntegerField(allow_null=True, source="step_id")
    step_name = serializers.CharField(source="step")
    stream_name = serializers.CharField(source="stream")
    deals = serializers.IntegerField()
    assets = serializers.IntegerField()
    uses = serializers.IntegerField()


class AssetRepUsageSerializer(serializers.Serializer):
    user = serializers.IntegerField(allow_null=True, source="user_id")
    name = serializers.CharField()
    deals = serializers.IntegerField()
    assets = serializers.IntegerField()
    uses = serializers.IntegerField()


class OutcomeNamedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TeamOutcomesSerializer(serializers.Serializer):
    team = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField(help_text="Left out of the window.")
    min_side = serializers.IntegerField(help_text="Closed deals a side needs for a verdict.")
    assets = AssetOutcomeSerializer(many=True, help_text="Active assets, most used first.")
    by_step = AssetStepUsageSerializer(many=True, help_text="Usage by the step the deal was at.")
    by_rep = AssetRepUsageSerializer(many=True, help_text="A rep sees only their own row.")
    by_rep_own_only = serializers.BooleanField()
    unused_assets = OutcomeNamedSerializer(
        many=True, help_text="Active assets not used in the window."
    )
    steps_without_assets = OutcomeNamedSerializer(
        many=True, help_text="Current-state steps with no active asset."
    )


def _side(side: Side) -> dict:
    return {
        "n": side.n,
        "won": side.won,
        "win_rate": side.win_rate,
        "time_n": side.time_n,
        "median_hours": side.median_hours,
    }


def outcome_data(found: Outcome | None) -> dict | None:
    if found is None:
        return None
    return {
        "reached": found.reached,
        "used": _side(found.used),
        "not_used": _side(found.other),
        "difference": found.difference,
        "p_value": found.p_value,
        "too_few": found.too_few,
        "verdict": found.verdict,
        "basis": found.basis,
    }


def _asset_data(asset, usage: dict, found: Outcome | None, window: Window) -> dict:
    return {
        "asset": asset.pk,
        "title": asset.title,
        **_window_data(window),
        "usage": usage,
        "outcome": outcome_data(found),
    }


def _window_data(window: Window) -> dict:
    return {"start": window.start.date(), "end": window.end.date()}


def _window(request: Request) -> Window:
    try:
        return outcomes.window_from(request.query_params)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from exc


_WINDOW = [
    OpenApiParameter(
        "start",
        str,
        description="Window of closing dates (and usage), first day (YYYY-MM-DD, UTC). "
        f"Default: {DEFAULT_DAYS} days before `end`.",
    ),
    OpenApiParameter(
        "end", str, description="The day after the window (left out); default tomorrow."
    ),
]
_ASSOCIATION = (
    "An association, not proof: the deals an asset is used on may differ from the others in "
    "ways it did not cause; a kaizen cycle's Check is where a change is tested."
)


class AssetOutcomeView(APIView):
    @extend_schema(
        operation_id="assets_outcome_retrieve",
        summary="Does an asset go with winning? Its usage and the deals with and without it",
        description="Among the deals that reached the asset's steps and closed in the window: "
        "the win rate where it was used and where not (Wilson intervals, n), the difference "
        "(Newcombe) and Fisher's p, and the won deals' median time in the following steps with n. "
        + _ASSOCIATION,
        parameters=_WINDOW,
        responses={
            200: AssetOutcomeSerializer,
            400: OpenApiResponse(description="A wrong date, named by its field."),
            404: OpenApiResponse(description="No such asset among those you can see."),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        asset = get_object_or_404(selectors.assets_visible_to(request.user), pk=pk)
        window = _window(request)
        data = _asset_data(
            asset,
            outcomes.asset_usage(asset, window),
            outcomes.asset_outcome(asset, window),
            window,
        )
        return Response(AssetOutcomeSerializer(data).data)


class TeamAssetOutcomesView(APIView):
    @extend_schema(
        operation_id="teams_asset_outcomes_retrieve",
        summary="Usage and outcome of a team's asset library",
        description="Usage per asset, step and rep (a rep: their own row), each active "
        "asset's with and without, the assets nobody used in the window and the steps with no "
        "asset. " + _ASSOCIATION,
        parameters=_WINDOW,
        responses={
            200: TeamOutcomesSerializer,
            400: OpenApiResponse(description="A wrong date, named by its field."),
            404: OpenApiResponse(description="No such team among yours."),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        team = get_object_or_404(teams_visible_to(request.user), pk=pk)
        window = _window(request)
        report = outcomes.team_report(team, window, request.user)
        data = {
            "team": team.pk,
            **_window_data(window),
            "min_side": MIN_SIDE,
            "assets": [
                _asset_data(r["asset"], r["usage"], r["outcome"], window) for r in report.assets
            ],
            "by_step": report.by_step,
            "by_rep": report.by_rep,
            "by_rep_own_only": report.own_only,
            "unused_assets": [{"id": a.pk, "name": a.title} for a in report.unused],
            "steps_without_assets": [
                {"id": s.pk, "name": f"{s.stream.name} · {s.name}"} for s in report.steps_without
            ],
        }
        return Response(TeamOutcomesSerializer(data).data)
