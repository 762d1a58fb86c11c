"""The standard work API (docs/five-s.md): ``/api/checklist-items/`` (a step's definition of
done; managers add, reword and retire items), ``/api/checklist-ticks/`` (ticks on a deal; its
rep or a manager ticks and unticks), ``/api/step-assets/`` (the library assets a step relies
on; managers) and ``GET /api/streams/{id}/standards/`` (adherence per step and the win rate
with and without the whole checklist, with the qualification lab's statistics).

Every write goes through ``funnel.standards.services``. Another team's objects answer 404, or
400 naming the field when a body names them; a visible object the user may not change 403.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.assets.models import Asset
from funnel.assets.outcomes_api import _WINDOW, _window
from funnel.common.catalog_api import (
    ActiveFilter,
    CatalogServices,
    CatalogViewSet,
    LinkViewSet,
    catalog_schema,
)
from funnel.common.visible_api import Visible
from funnel.eventlog.selectors import deals_visible_to
from funnel.models import Deal
from funnel.standards.models import ChecklistItem, ChecklistTick, StepAsset
from funnel.standards.selectors import (
    items_visible_to,
    step_assets_visible_to,
    stream_standards,
    ticks_visible_to,
)
from funnel.standards.services import (
    item_add,
    item_retire,
    item_update,
    step_asset_add,
    step_asset_remove,
    tick_add,
    tick_remove,
)
from streams.api import IdFilter
from streams.api.common import ScopedToUser, _InputSerializer
from streams.models import ProcessStep
from streams.selectors import User, streams_visible_to

_MANAGERS = "Only the team's managers change a step's standard work."


def _visible_steps(user: User) -> QuerySet[ProcessStep]:
    return ProcessStep.objects.filter(stream__in=streams_visible_to(user))


# --- Checklist items ----------------------------------------------------------------------


class ChecklistItemSerializer(serializers.ModelSerializer):
    stream = serializers.IntegerField(source="step.stream_id", read_only=True)

    class Meta:
        model = ChecklistItem
        fields = ["id", "stream", "step", "text", "position", "created_at", "retired_at"]
        read_only_fields = fields


class ItemUpdateSerializer(_InputSerializer):
    text = serializers.CharField(max_length=200)


class ItemCreateSerializer(ScopedToUser, ItemUpdateSerializer):
    step = serializers.PrimaryKeyRelatedField(queryset=ProcessStep.objects.none())

    def scope_to(self, user: User) -> None:
        self.fields["step"].queryset = _visible_steps(user)


class ItemFilter(filters.FilterSet):
    stream = IdFilter(field_name="step__stream_id", label="Stream id")
    step = IdFilter(field_name="step_id", label="Step id")
    active = ActiveFilter()


@catalog_schema(
    noun="checklist item",
    forbidden=_MANAGERS,
    list_summary="Checklist items of the streams you can see",
    retrieve_summary="One checklist item",
    create={"summary": "Add an item to a step's checklist (managers)"},
    partial_update={"summary": "Reword a checklist item (managers)"},
    retire={"summary": "Retire a checklist item (managers); its ticks stay"},
)
class ChecklistItemViewSet(CatalogViewSet):
    """A step's definition of done, one item a row."""

    serializer_class = ChecklistItemSerializer
    filterset_class = ItemFilter
    ordering_fields = ["position", "id"]
    _input_serializers = {"create": ItemCreateSerializer, "partial_update": ItemUpdateSerializer}
    services = CatalogServices("item", create=item_add, update=item_update, retire=item_retire)
    visible = Visible(items_visible_to, "step__position", "position", "id")


# --- Ticks --------------------------------------------------------------------------------


class ChecklistTickSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChecklistTick
        fields = ["id", "deal", "item", "step", "ticked_by", "ticked_at"]
        read_only_fields = fields


class TickCreateSerializer(ScopedToUser, _InputSerializer):
    deal = serializers.PrimaryKeyRelatedField(queryset=Deal.objects.none())
    item = serializers.PrimaryKeyRelatedField(queryset=ChecklistItem.objects.none())

    def scope_to(self, user: User) -> None:
        self.fields["deal"].queryset = deals_visible_to(user)
        self.fields["item"].queryset = items_visible_to(user)


class TickFilter(filters.FilterSet):
    deal = IdFilter(field_name="deal_id", label="Deal id")
    step = IdFilter(field_name="step_id", label="Step id")


@catalog_schema(
    noun="tick",
    forbidden="Only the deal's owner and the team's managers tick it.",
    list_summary="Checklist ticks on the deals you can see",
    retrieve_summary="One tick",
    create={
        "summary": "Tick a checklist item on a deal (its rep or a manager)",
        "description": "The deal must be open and have been at the item's step. Ticking an "
        "item already ticked answers the first tick.",
    },
    destroy={"summary": "Untick (its rep or a manager, while the deal is open)"},
)
class ChecklistTickViewSet(LinkViewSet):
    """Ticks of a deal's checklist: optional, never needed to move a deal."""

    serializer_class = ChecklistTickSerializer
    filterset_class = TickFilter
    ordering_fields = ["ticked_at", "id"]
    _input_serializers = {"create": TickCreateSerializer}
    services = CatalogServices("tick", create=tick_add, remove=tick_remove)
    visible = Visible(ticks_visible_to, "ticked_at", "id")


# --- Assets a step relies on ----------------------------------------------------------------


class StepAssetSerializer(serializers.ModelSerializer):
    asset_title = serializers.CharField(source="asset.title", read_only=True)

    class Meta:
        model = StepAsset
        fields = ["id", "step", "asset", "asset_title", "added_by", "added_at"]
        read_only_fields = fields


class StepAssetCreateSerializer(ScopedToUser, _InputSerializer):
    step = serializers.PrimaryKeyRelatedField(queryset=ProcessStep.objects.none())
    asset = serializers.PrimaryKeyRelatedField(queryset=Asset.objects.none())

    def scope_to(self, user: User) -> None:
        self.fields["step"].queryset = _visible_steps(user)
        teams = streams_visible_to(user).values("team_id")
        self.fields["asset"].queryset = Asset.objects.filter(team_id__in=teams)


class StepAssetFilter(filters.FilterSet):
    stream = IdFilter(field_name="step__stream_id", label="Stream id")
    step = IdFilter(field_name="step_id", label="Step id")


@catalog_schema(
    noun="step asset",
    forbidden=_MANAGERS,
    list_summary="Assets the steps you can see rely on",
    retrieve_summary="One step's asset",
    create={"summary": "Name an asset a step relies on (managers)"},
    destroy={"summary": "Remove it (managers)"},
)
class StepAssetViewSet(LinkViewSet):
    """The library assets a step's standard work relies on."""

    serializer_class = StepAssetSerializer
    filterset_class = StepAssetFilter
    ordering_fields = ["id"]
    _input_serializers = {"create": StepAssetCreateSerializer}
    services = CatalogServices("link", create=step_asset_add, remove=step_asset_remove)
    visible = Visible(step_assets_visible_to, "id")


# --- Adherence ----------------------------------------------------------------------------


class ShareSerializer(serializers.Serializer):
    value = serializers.FloatField(help_text="A share, 0–1.")
    low = serializers.FloatField(help_text="95 % interval, low end.")
    high = serializers.FloatField(help_text="95 % interval, high end.")


class StepStandardSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    step_name = serializers.CharField()
    items = ChecklistItemSerializer(many=True)
    assets = StepAssetSerializer(many=True)
    reached = serializers.IntegerField(
        allow_null=True, help_text="Deals at the step while it had a checklist."
    )
    complete = serializers.IntegerField(allow_null=True, help_text="Of those, every item ticked.")
    adherence = ShareSerializer(allow_null=True, help_text="complete ÷ reached, Wilson interval.")
    n_with = serializers.IntegerField(
        allow_null=True, help_text="Closed deals, checklist complete."
    )
    won_with = serializers.IntegerField(allow_null=True)
    win_rate_with = ShareSerializer(allow_null=True)
    n_without = serializers.IntegerField(allow_null=True, help_text="Closed deals, the others.")
    won_without = serializers.IntegerField(allow_null=True)
    win_rate_without = ShareSerializer(allow_null=True)
    difference = ShareSerializer(
        allow_null=True, help_text="Win rate with − without, Newcombe's interval."
    )
    p_value = serializers.FloatField(
        allow_null=True, help_text="Fisher's exact two-sided p; null under 5 deals a side."
    )


def _row(standard) -> dict:
    f = standard.figures
    row = {
        "step": standard.step.pk,
        "step_name": standard.step.name,
        "items": standard.items,
        "assets": standard.assets,
    }
    names = ["reached", "complete", "adherence", "n_with", "won_with", "win_rate_with"]
    names += ["n_without", "won_without", "win_rate_without", "difference", "p_value"]
    return row | {name: getattr(f, name) if f is not None else None for name in names}


class StreamStandardsView(APIView):
    @extend_schema(
        summary="Standard work of a stream: checklists, assets, adherence and win rates",
        description="Per step: its active checklist and the assets it relies on; for a step "
        "with a checklist, the deals that reached it while it had one, those with every item "
        "ticked (adherence, Wilson interval), and the win rate of the closed ones with and "
        "without the whole checklist (Wilson intervals, Newcombe's difference, Fisher's p), "
        "as the qualification lab computes them. An association, not proof. Only the deals "
        "still open or closed in the window (closing dates, the last 365 days by default, as "
        "the asset outcome report) count.",
        parameters=_WINDOW,
        responses={
            200: StepStandardSerializer(many=True),
            400: OpenApiResponse(description="A date of the window is wrong (the field named)."),
            404: OpenApiResponse(description="No such stream among those you can see."),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        stream = get_object_or_404(streams_visible_to(request.user), pk=pk)
        rows = [_row(s) for s in stream_standards(stream, _window(request))]
        return Response(StepStandardSerializer(rows, many=True).data)
