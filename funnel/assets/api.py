"""The asset library's API (docs/assets.md): ``/api/assets/`` (list, read, add, change;
retire, restore, review), ``/api/asset-versions/`` (list, read, upload, accept or decline a
proposal, download), ``/api/asset-attachments/`` (which steps an asset is on),
``/api/asset-usages/`` (one tap: used on a deal) and ``/api/asset-reviews/``.

Roles as on the pages: managers curate; reps read, record usage on their deals and propose
assets and versions (created as ``proposed``); leadership reads. Every write goes through
``funnel.assets.services``. Another team's asset, version, attachment, usage or review
answers 404 (in a body: 400 naming the field); a visible one the user may not change, 403.
Files are uploaded as multipart (``file``) and checked by content like the pages'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db.models import Model, QuerySet
from django.http import FileResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from funnel.api.viewsets import object_errors, post_actions
from funnel.assets import selectors, services
from funnel.assets.models import (
    Asset,
    AssetKind,
    AssetReview,
    AssetStep,
    AssetUsage,
    AssetVersion,
)
from funnel.assets.views import file_response
from funnel.common.catalog_api import CatalogServices, CatalogViewSet, LinkViewSet, catalog_schema
from funnel.common.visible_api import Visible, VisibleListViewSet
from funnel.eventlog.selectors import deals_visible_to
from funnel.models import Deal
from streams.api.common import (
    IdFilter,
    ScopedToUser,
    _InputSerializer,
    list_retrieve_schema,
    write_schema,
)
from streams.models import ProcessStep, Team
from streams.selectors import User, members_visible_to, teams_visible_to

_PARSERS = [JSONParser, MultiPartParser, FormParser]


def _both(serializer: type) -> dict:
    """A request body as multipart (with a ``file``) or JSON (with a ``link``)."""
    return {"multipart/form-data": serializer, "application/json": serializer}


# --- Answers ------------------------------------------------------------------------------


class AssetSerializer(serializers.ModelSerializer):
    tags = serializers.ListField(source="tag_list", child=serializers.CharField(), read_only=True)
    review_state = serializers.SerializerMethodField(
        help_text="current, due (from review_due_at) or stale (due for ASSETS_STALE_AFTER_DAYS "
        "more days)."
    )
    steps = serializers.SerializerMethodField(help_text="Ids of the steps it is attached to.")

    class Meta:
        model = Asset
        fields = [
            "id",
            "team",
            "kind",
            "title",
            "description",
            "tags",
            "owner",
            "reviewer",
            "review_interval_days",
            "last_reviewed_at",
            "review_due_at",
            "review_state",
            "state",
            "retired_at",
            "steps",
            "created_at",
            "created_by",
        ]
        read_only_fields = fields

    def get_review_state(self, asset: Asset) -> str:
        return selectors.review_state(asset)

    def get_steps(self, asset: Asset) -> list[int]:
        return [link.step_id for link in asset.attachments.all()]


class AssetVersionSerializer(serializers.ModelSerializer):
    link = serializers.CharField(read_only=True, help_text="The version's link; empty for a file.")
    download = serializers.SerializerMethodField(
        help_text="The file's download path (team members only), or null for a link."
    )

    class Meta:
        model = AssetVersion
        fields = [
            "id",
            "asset",
            "number",
            "state",
            "link",
            "file_name",
            "content_type",
            "size",
            "sha256",
            "change_note",
            "author",
            "created_at",
            "decided_by",
            "decided_at",
            "download",
        ]
        read_only_fields = fields

    def get_download(self, version: AssetVersion) -> str | None:
        if not version.file:
            return None
        return f"/api/asset-versions/{version.pk}/download/"


class AssetStepSerializer(serializers.ModelSerializer):
    stream = serializers.IntegerField(source="step.stream_id", read_only=True)

    class Meta:
        model = AssetStep
        fields = ["id", "asset", "step", "stream", "attached_at", "attached_by"]
        read_only_fields = fields


class AssetUsageSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssetUsage
        fields = ["id", "asset", "deal", "user", "step", "used_at"]
        read_only_fields = fields


class AssetReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssetReview
        fields = ["id", "asset", "reviewed_by", "reviewed_at", "was_due_at", "version", "note"]
        read_only_fields = fields


# --- Inputs -------------------------------------------------------------------------------


class _SourceInput(_InputSerializer):
    file = serializers.FileField(
        required=False, help_text="PDF, Office, CSV or an image; checked by content."
    )
    link = serializers.URLField(required=False, allow_blank=True, default="", max_length=500)
    change_note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500
    )


class _AssetFields(ScopedToUser, _InputSerializer):
    title = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=AssetKind.choices, default=AssetKind.OTHER)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=30
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.none(), required=False, allow_null=True, default=None
    )
    reviewer = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.none(), required=False, allow_null=True, default=None
    )
    review_interval_days = serializers.IntegerField(min_value=1, max_value=3650, default=90)

    def scope_to(self, user: User) -> None:
        self.fields["owner"].queryset = members_visible_to(user)
        self.fields["reviewer"].queryset = members_visible_to(user)


class AssetCreateSerializer(_AssetFields, _SourceInput):
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.none())

    def scope_to(self, user: User) -> None:
        super().scope_to(user)
        self.fields["team"].queryset = teams_visible_to(user)


class AssetUpdateSerializer(_AssetFields):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty


class _AssetInput(ScopedToUser, _InputSerializer):
    asset = serializers.PrimaryKeyRelatedField(queryset=Asset.objects.none())

    def scope_to(self, user: User) -> None:
        self.fields["asset"].queryset = selectors.assets_visible_to(user)


class VersionCreateSerializer(_AssetInput, _SourceInput):
    pass


class ReviewCreateSerializer(_AssetInput, _SourceInput):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class AttachSerializer(_AssetInput):
    step = serializers.PrimaryKeyRelatedField(queryset=ProcessStep.objects.none())

    def scope_to(self, user: User) -> None:
        super().scope_to(user)
        self.fields["step"].queryset = ProcessStep.objects.filter(
            stream__team__in=teams_visible_to(user)
        )


class UsageCreateSerializer(_AssetInput):
    deal = serializers.PrimaryKeyRelatedField(queryset=Deal.objects.none())

    def scope_to(self, user: User) -> None:
        super().scope_to(user)
        self.fields["deal"].queryset = deals_visible_to(user)


class DecisionSerializer(_InputSerializer):
    accept = serializers.BooleanField(help_text="true accepts the proposal, false declines it.")


# --- Filters ------------------------------------------------------------------------------


class AssetFilter(filters.FilterSet):
    team = IdFilter(field_name="team_id", label="Team id")
    kind = filters.ChoiceFilter(choices=AssetKind.choices)
    status = filters.ChoiceFilter(
        label="Status",
        method="by_status",
        choices=[
            ("due", "due"),
            ("stale", "stale"),
            ("retire", "suggested for retirement"),
            ("retired", "retired"),
            ("proposed", "proposed"),
        ],
    )
    step = IdFilter(field_name="attachments__step_id", label="Attached to this step id")
    q = filters.CharFilter(method="by_text", label="Search in title, tags and description")

    def by_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.filter_state(queryset, value) if value else queryset

    def by_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.search(queryset, value)


class _ByAsset(filters.FilterSet):
    asset = IdFilter(field_name="asset_id", label="Asset id")


class VersionFilter(_ByAsset):
    class Meta:
        model = AssetVersion
        fields = ["asset", "state"]


class AttachmentFilter(_ByAsset):
    step = IdFilter(field_name="step_id", label="Step id")


class UsageFilter(_ByAsset):
    deal = IdFilter(field_name="deal_id", label="Deal id")


# --- Viewsets -----------------------------------------------------------------------------

_ASSET_FORBIDDEN = "Managers curate; reps propose; leadership reads."
_ASSET_ERRORS = object_errors("asset", _ASSET_FORBIDDEN)


def _uploading(service: Callable[..., Model]) -> Callable[..., Model]:
    """``service`` taking the input's ``file`` (:class:`_SourceInput`) as its ``upload``, for
    :meth:`~funnel.api.viewsets.AnsweringViewSet._create`."""

    def call(*, file: UploadedFile | None = None, **data: Any) -> Model:
        return service(upload=file, **data)

    return call


@catalog_schema(
    noun="asset",
    forbidden=_ASSET_FORBIDDEN,
    list_summary="Assets of your teams' libraries",
    retrieve_summary="One asset",
    create={
        "summary": "Add an asset with its first version (managers; a rep's is a proposal)",
        "request": _both(AssetCreateSerializer),
    },
    partial_update={"summary": "Change an asset's details (managers)"},
    retire={"summary": "Retire an asset (managers): off the steps, history kept"},
    restore={"summary": "Restore a retired asset (managers)"},
)
class AssetViewSet(CatalogViewSet):
    queryset = Asset.objects.none()
    serializer_class = AssetSerializer
    filterset_class = AssetFilter
    parser_classes = _PARSERS
    ordering_fields = ["title", "review_due_at", "created_at", "id"]
    _input_serializers = {
        "create": AssetCreateSerializer,
        "partial_update": AssetUpdateSerializer,
    }
    services = CatalogServices(
        "asset",
        create=_uploading(services.asset_create),
        update=services.asset_update,
        retire=services.asset_retire,
    )

    def get_queryset(self) -> QuerySet[Asset]:
        return selectors.assets_visible_to(self.request.user).prefetch_related("attachments")

    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str | None = None) -> Response:
        return self._act(services.asset_restore)


_VERSION_ERRORS = object_errors("version", "Managers add and decide versions; reps propose.")
_version_write = write_schema(AssetVersionSerializer, _VERSION_ERRORS)


@list_retrieve_schema("Versions of the assets you can see", "One version")
class AssetVersionViewSet(VisibleListViewSet):
    serializer_class = AssetVersionSerializer
    filterset_class = VersionFilter
    parser_classes = _PARSERS
    ordering_fields = ["created_at", "number", "id"]
    _input_serializers = {"create": VersionCreateSerializer, "decide": DecisionSerializer}
    visible = Visible(selectors.versions_visible_to)

    @_version_write(
        "Add a version: a file (multipart) or a link (managers; a rep's is proposed)",
        _both(VersionCreateSerializer),
        created=True,
    )
    def create(self, request: Request) -> Response:
        return self._create(request, _uploading(services.version_add))

    @post_actions(AssetVersionSerializer, _VERSION_ERRORS)(
        "Accept or decline a proposed version (managers)", DecisionSerializer
    )
    def decide(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        accept = self._validated(request)["accept"]
        return self._answer(
            services.proposal_decide(user=request.user, version=version, accept=accept)
        )

    @extend_schema(
        summary="Download a version's file (members of the team), always as an attachment",
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, in the type found by its content."
            ),
            404: OpenApiResponse(description="No such file among those you can see."),
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        return file_response(self.get_object())


class _CreateListViewSet(VisibleListViewSet):
    http_method_names = ["get", "post", "head", "options"]


def _detach(*, link: AssetStep, user: User) -> None:
    services.asset_detach(user=user, asset=link.asset, step=link.step)


@catalog_schema(
    noun="asset",
    forbidden=_ASSET_FORBIDDEN,
    list_summary="Which steps the assets you can see are on",
    retrieve_summary="One attachment",
    create={"summary": "Attach an asset to a step of the team's maps (managers)"},
    destroy={"summary": "Take an asset off a step (managers)"},
)
class AssetAttachmentViewSet(LinkViewSet):
    serializer_class = AssetStepSerializer
    filterset_class = AttachmentFilter
    ordering_fields = ["attached_at", "id"]
    _input_serializers = {"create": AttachSerializer}
    services = CatalogServices("link", create=services.asset_attach, remove=_detach)
    visible = Visible(selectors.attachments_visible_to)


@list_retrieve_schema("Asset usage on the deals you can see", "One usage")
class AssetUsageViewSet(_CreateListViewSet):
    serializer_class = AssetUsageSerializer
    filterset_class = UsageFilter
    ordering_fields = ["used_at", "id"]
    _input_serializers = {"create": UsageCreateSerializer}
    visible = Visible(selectors.usages_visible_to)

    @extend_schema(
        summary="Record that you used an asset on a deal (its owner or a manager; once)",
        request=UsageCreateSerializer,
        responses={
            201: AssetUsageSerializer,
            200: OpenApiResponse(AssetUsageSerializer, description="Already recorded."),
            **_ASSET_ERRORS,
        },
    )
    def create(self, request: Request) -> Response:
        usage, new = services.usage_record(user=request.user, **self._validated(request))
        return self._answer(usage, status.HTTP_201_CREATED if new else status.HTTP_200_OK)


@list_retrieve_schema("Reviews of the assets you can see", "One review")
class AssetReviewViewSet(_CreateListViewSet):
    serializer_class = AssetReviewSerializer
    filterset_class = _ByAsset
    parser_classes = _PARSERS
    ordering_fields = ["reviewed_at", "id"]
    _input_serializers = {"create": ReviewCreateSerializer}
    visible = Visible(selectors.reviews_visible_to)

    @write_schema(AssetReviewSerializer, _ASSET_ERRORS)(
        "Mark an asset reviewed, optionally with a new version (reviewer, managers)",
        _both(ReviewCreateSerializer),
        created=True,
    )
    def create(self, request: Request) -> Response:
        return self._create(request, _uploading(services.asset_review))
