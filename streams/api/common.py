"""Pieces every map endpoint shares: the input serializers' base (unknown fields are refused by
name), the relations narrowed to what the requesting user may see (:class:`ScopedToUser`;
a body naming one of their streams, :class:`StreamInput`), the ``version`` field and the
answers carrying ``stream_version``, the id filter, the schema's error answers and a write's
schema (:func:`write_schema`), the input serializer per
action (:class:`InputPerActionViewSet`, also the base of the deal and kaizen viewsets), and
the viewset bases (:class:`_MapViewSet` for the map, :class:`_MapPartViewSet` for its lanes,
steps and stages) with what their resources share: the ``stream_version`` answer
(:class:`_StreamVersionMixin`), the ``?stream=`` filter (:class:`_StreamFilter`), the services
(:class:`_PartServices`), the create input's ``stream`` and ``version``
(:class:`_PartCreateSerializer`) and the schema of their actions (:func:`_part_schema`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db import transaction
from django.db.models import Model, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from streams.api.permissions import MapPermission, _require_edit
from streams.ids import ID_MAX
from streams.models import ValueStream
from streams.selectors import User, streams_visible_to

#: Upper bounds of the database columns (PostgreSQL smallint / integer): type checks, not rules.
_SMALLINT_MAX = 32_767


_INTEGER_MAX = 2_147_483_647


_STREAM_VERSION_HELP = "The map's version after this edit: send it as `version` with the next edit."


class StreamVersionSerializer(serializers.Serializer):
    """The answer to deleting a lane, step or stage."""

    stream_version = serializers.IntegerField(read_only=True, help_text=_STREAM_VERSION_HELP)


class StaleVersionSerializer(serializers.Serializer):
    """The answer (409) to an edit based on an older version of the map: nothing was saved."""

    version = serializers.ListField(
        child=serializers.CharField(), help_text="Who changed the map when, and what to do."
    )
    current_version = serializers.IntegerField(help_text="The map's version now.")


def _request_user(serializer: serializers.Serializer) -> User | None:
    return getattr(serializer.context.get("request"), "user", None)


def refuse_unknown_fields(
    serializer: serializers.BaseSerializer,
    reasons: Mapping[str, str] | None = None,
    default: str = "This field cannot be set here.",
) -> None:
    """Raise a 400 naming every field of the request body the serializer does not know (with
    ``reasons[name]`` where given), rather than silently ignoring it: a misspelt or read-only
    field would otherwise look saved."""
    unknown = sorted(set(getattr(serializer, "initial_data", {})) - set(serializer.fields))
    if unknown:
        raise serializers.ValidationError(
            {name: [(reasons or {}).get(name, default)] for name in unknown}
        )


class _InputSerializer(serializers.Serializer):
    """Refuses fields it does not know, naming them, rather than silently ignoring them (a
    misspelt or read-only field would otherwise look saved)."""

    #: Field name → why it cannot be sent here, for fields a client is likely to try.
    refused_fields: Mapping[str, str] = {}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown_fields(self, self.refused_fields)
        return attrs

    def visible_streams(self) -> QuerySet[ValueStream]:
        user = _request_user(self)
        return ValueStream.objects.none() if user is None else streams_visible_to(user)


class ScopedToUser:
    # Put before a serializer class: its relations narrowed to what the requesting user may
    # see by ``scope_to(user)``, which is not called without a user in the context (as when the
    # schema is generated). No docstring: drf-spectacular would show it on every serializer.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = _request_user(self)
        if user is not None:
            self.scope_to(user)

    def scope_to(self, user: User) -> None:
        """Set the querysets of the fields that name objects to those ``user`` may see."""


class StreamInput(ScopedToUser, _InputSerializer):
    # A body naming one of the streams the user can see (``stream``): a stream's 5S question
    # or audit, qualification criterion, hand-off reason or seller limit, a new lane, step or
    # stage. Put after a serializer whose fields come first. A subclass's scope_to calls
    # super().

    stream = serializers.PrimaryKeyRelatedField(queryset=ValueStream.objects.none())

    def scope_to(self, user: User) -> None:
        super().scope_to(user)
        self.fields["stream"].queryset = streams_visible_to(user)


def _version_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1,
        help_text="The map version this edit is based on: the stream's `version`, or the "
        "`stream_version` of your last edit. An older one is refused with 409.",
    )


class VersionSerializer(serializers.Serializer):
    version = _version_field()


# No docstrings on the bases below: drf-spectacular would show a base's docstring as the
# description of every serializer without one of its own, and the schema must not change.


class _PartCreateSerializer(StreamInput):
    # Adding a lane, step or stage: the map it goes into (one the user can see) and the map
    # version the edit is based on. Subclasses add their own fields after these two.
    version = _version_field()


class _StreamVersionMixin(serializers.ModelSerializer):
    # Put before a detail serializer: its fields, then the read-only ``stream_version`` the
    # write gave the map (set on the instance by ``_MapPartViewSet._write``).
    stream_version = serializers.IntegerField(read_only=True, help_text=_STREAM_VERSION_HELP)

    def get_field_names(
        self, declared_fields: Mapping[str, serializers.Field], info: Any
    ) -> list[str]:
        # The detail serializer's ``Meta.fields`` does not name ``stream_version``, which
        # ModelSerializer refuses for a declared field: leave it out there and add it last.
        others = {name: f for name, f in declared_fields.items() if name != "stream_version"}
        return [*super().get_field_names(others, info), "stream_version"]


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """Filters on a foreign key by its plain id, not by a model choice: an id outside the
    user's data filters to nothing instead of answering 400, so a filter does not reveal
    which ids exist. An id no database integer holds is a 400 naming the parameter."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", -ID_MAX)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)


class _StreamFilter(filters.FilterSet):
    """``?stream=<id>``: a lane, step or stage list narrowed to one map. No model: the filter
    is the same for the three, and applies to the viewset's queryset."""

    stream = IdFilter(field_name="stream_id", label="Stream id")


def list_retrieve_schema(list_summary: str, retrieve_summary: str) -> Any:
    """The schema of a viewset's list and retrieve actions: their summaries (the rest is read
    from the viewset)."""
    return extend_schema_view(
        list=extend_schema(summary=list_summary),
        retrieve=extend_schema(summary=retrieve_summary),
    )


def write_schema(
    answer: type[serializers.BaseSerializer], errors: dict[int, Any]
) -> Callable[..., Callable[[Callable[..., Response]], Callable[..., Response]]]:
    """The schema decorator of a viewset's writes that all answer ``answer`` (201 with
    ``created=True``, else 200) or one of ``errors``: ``@write(summary, request,
    description=…, created=…)``; ``request`` is the write's input (None: no body)."""

    def write(
        summary: str,
        request: type[serializers.BaseSerializer] | None,
        *,
        description: str | None = None,
        created: bool = False,
    ) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
        return extend_schema(
            summary=summary,
            description=description,
            request=request,
            responses={201 if created else 200: answer, **errors},
        )

    return write


_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input: {field: [reason, …]}."),
    403: OpenApiResponse(description="You can see the map but not change it."),
    404: OpenApiResponse(description="No such object among the maps you can see."),
}


_EDIT_ERRORS = {
    **_ERRORS,
    409: OpenApiResponse(
        StaleVersionSerializer,
        description="The map changed since `version`: nothing was saved; reload and redo.",
    ),
}


_VERSION_PARAMETER = OpenApiParameter(
    "version",
    OpenApiTypes.INT,
    OpenApiParameter.QUERY,
    required=True,
    description="The map version this delete is based on (may also be sent in the body).",
)


def _delete_version(request: Request) -> int:
    """The ``version`` of a DELETE, from the query string or else the body."""
    data: dict[str, Any] = {}
    if "version" in request.query_params:
        data["version"] = request.query_params["version"]
    elif isinstance(request.data, Mapping) and "version" in request.data:
        data["version"] = request.data["version"]
    serializer = VersionSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["version"]


def _present(data: Mapping[str, Any], *drop: str) -> dict[str, Any]:
    """The validated fields the client sent, except ``drop``: fields left out stay as they are
    (or take the service's default)."""
    return {name: value for name, value in data.items() if name not in drop}


class InputPerActionViewSet(viewsets.GenericViewSet):
    """A viewset whose writes each read their own input serializer (``_input_serializers``, by
    action; other actions use ``serializer_class``). Also the base of the deal and kaizen
    viewsets (``funnel.api.viewsets``)."""

    _input_serializers: Mapping[str, type[serializers.BaseSerializer]] = {}

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return self._input_serializers.get(self.action, self.serializer_class)

    def _validated(self, request: Request) -> dict[str, Any]:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class _MapViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, InputPerActionViewSet):
    """Shared by the map's viewsets: permissions, no PUT, input serializers per action."""

    permission_classes = [permissions.IsAuthenticated, MapPermission]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


@dataclass(frozen=True)
class _PartServices:
    """The keyword the services take a lane, step or stage by (``object_name``: "lane",
    "step", "stage") and the services that add, change and delete one."""

    object_name: str
    add: Callable[..., Model]
    update: Callable[..., Model]
    delete: Callable[..., None]


class _MapPartViewSet(_MapViewSet):
    """Lanes, steps and stages: each write answers with the object (or, for a delete, nothing
    else) and ``stream_version``."""

    write_serializer_class: type[serializers.Serializer]
    filterset_class = _StreamFilter
    ordering_fields = ["position", "name"]
    services: _PartServices

    def create(self, request: Request) -> Response:
        data = self._validated(request)
        stream = data["stream"]
        _require_edit(request.user, stream)
        return self._write(
            stream,
            lambda: self.services.add(user=request.user, **_present(data)),
            status.HTTP_201_CREATED,
        )

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        data = self._validated(request)
        return self._write(
            obj.stream,
            lambda: self.services.update(
                **{self.services.object_name: obj}, user=request.user, **_present(data)
            ),
            status.HTTP_200_OK,
        )

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        version = _delete_version(request)
        return self._write(
            obj.stream,
            lambda: self.services.delete(
                **{self.services.object_name: obj}, version=version, user=request.user
            ),
            status.HTTP_200_OK,
        )

    def get_queryset(self) -> QuerySet:
        visible = streams_visible_to(self.request.user).values("pk")
        return self.queryset.model.objects.filter(stream__in=visible).select_related("stream")

    def _write(
        self, stream: ValueStream, edit: Callable[[], Model | None], status_code: int
    ) -> Response:
        """Run ``edit`` on ``stream``'s map and answer with the object as it is after it and
        the version the edit gave the map, read in the same transaction: the edit's lock on
        the stream row is still held, so no other edit can slip in between."""
        with transaction.atomic():
            obj = edit()
            version = ValueStream.objects.values_list("version", flat=True).get(pk=stream.pk)
            if obj is None:
                body = {"stream_version": version}
            else:
                fresh = self.get_queryset().get(pk=obj.pk)
                fresh.stream_version = version
                body = self.write_serializer_class(
                    fresh, context=self.get_serializer_context()
                ).data
        return Response(body, status=status_code)


def _part_schema(
    *,
    list_summary: str,
    retrieve_summary: str,
    create: Mapping[str, str],
    partial_update: Mapping[str, str],
    destroy: Mapping[str, str],
) -> Callable[[type[_MapPartViewSet]], type[_MapPartViewSet]]:
    """The schema of a lane, step or stage viewset's actions. ``create``, ``partial_update``
    and ``destroy`` hold each resource's own words (``summary``, ``description``); the rest is
    the same for all: the viewset's input serializers as the requests, and as the answers the
    object with ``stream_version`` (a delete: ``stream_version`` alone) or an edit error."""

    def decorate(viewset: type[_MapPartViewSet]) -> type[_MapPartViewSet]:
        inputs = viewset._input_serializers
        return extend_schema_view(
            list=extend_schema(summary=list_summary),
            retrieve=extend_schema(summary=retrieve_summary),
            create=extend_schema(
                **create,
                request=inputs["create"],
                responses={201: viewset.write_serializer_class, **_EDIT_ERRORS},
            ),
            partial_update=extend_schema(
                **partial_update,
                request=inputs["partial_update"],
                responses={200: viewset.write_serializer_class, **_EDIT_ERRORS},
            ),
            destroy=extend_schema(
                **destroy,
                parameters=[_VERSION_PARAMETER],
                request=None,
                responses={200: StreamVersionSerializer, **_EDIT_ERRORS},
            ),
        )(viewset)

    return decorate
