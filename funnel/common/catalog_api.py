"""The API of a catalog: items a team's managers add, change and retire (some also restore)
through one service each, every write answering the item as it is now. The hand-off reasons
(``funnel.leads.api``), checklist items (``funnel.standards.api``), qualification criteria
(``funnel.qualification.api``) and library assets (``funnel.assets.api``) are catalogs. A
link (a checklist tick, an asset a step relies on, an asset on a step) is added and removed
through one service each.

A viewset names its services (:class:`CatalogServices`) and declares its words with
:func:`catalog_schema`; :class:`ActiveFilter` is the ``?active=`` filter of retired items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Model
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from funnel.api.viewsets import object_errors
from funnel.common.visible_api import VisibleListViewSet


class ActiveFilter(filters.BooleanFilter):
    """``?active=true``: only the items not retired (``retired_at`` empty); ``false``: only
    the retired ones."""

    def __init__(self) -> None:
        super().__init__(
            field_name="retired_at", lookup_expr="isnull", label="Only active (true) or retired"
        )


@dataclass(frozen=True)
class CatalogServices:
    """The keyword the services take an item by (``keyword``: "reason", "criterion", …) and the
    services that add one and, as the viewset offers them, change, retire or remove one."""

    keyword: str
    create: Callable[..., Model]
    update: Callable[..., Model] | None = None
    retire: Callable[..., Model] | None = None
    remove: Callable[..., None] | None = None


# No docstrings on the viewsets below: a viewset without its own shows its base's in the API
# schema, as the asset viewsets did before they were catalogs.


class _ServiceViewSet(VisibleListViewSet):
    # Lists and reads the items its queryset lets the user see; POST adds one
    # (services.create) and answers it as it is now (serializer_class). The services check
    # who may.

    services: CatalogServices

    def create(self, request: Request) -> Response:
        return self._create(request, self.services.create)

    def _act(self, service: Callable[..., Model]) -> Response:
        """Run ``service`` on the URL's item (no body) and answer the item."""
        obj = service(**{self.services.keyword: self.get_object()}, user=self.request.user)
        return self._answer(obj)


class CatalogViewSet(_ServiceViewSet):
    # Also PATCH changes an item (services.update) and POST …/{id}/retire/ retires one
    # (services.retire), each answering it as it is now.

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._update(request, self.services.update, self.services.keyword)

    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str | None = None) -> Response:
        return self._act(self.services.retire)


class LinkViewSet(mixins.DestroyModelMixin, _ServiceViewSet):
    # Also DELETE removes a link (services.remove), answering 204. No PATCH.

    http_method_names = ["get", "post", "delete", "head", "options"]

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        self.services.remove(**{self.services.keyword: self.get_object()}, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def catalog_schema(
    *,
    noun: str,
    forbidden: str,
    list_summary: str,
    retrieve_summary: str,
    **writes: Mapping[str, Any],
) -> Callable[[type[_ServiceViewSet]], type[_ServiceViewSet]]:
    """The schema of a catalog or link viewset. ``writes`` holds each write's own words by
    action (``create``, ``partial_update``, ``retire``, ``destroy``, and any other POST action
    on one item: ``summary``, maybe ``description``, and ``request`` where the schema shows
    another input than the viewset's); the rest is the same for all: the viewset's input
    serializer of the action as the request (none for an action without one), and as the
    answers the item (201 when created; a removal, nothing: 204; else 200) or the 400, 403
    (``forbidden``: why) and 404 about one ``noun``."""
    errors = object_errors(noun, forbidden)

    def answers(viewset: type[_ServiceViewSet], name: str) -> dict[int, Any]:
        if name == "destroy":
            return {204: None, **errors}
        return {201 if name == "create" else 200: viewset.serializer_class, **errors}

    def decorate(viewset: type[_ServiceViewSet]) -> type[_ServiceViewSet]:
        actions = {
            name: extend_schema(
                summary=words["summary"],
                description=words.get("description"),
                request=words.get("request", viewset._input_serializers.get(name)),
                responses=answers(viewset, name),
            )
            for name, words in writes.items()
        }
        return extend_schema_view(
            list=extend_schema(summary=list_summary),
            retrieve=extend_schema(summary=retrieve_summary),
            **actions,
        )(viewset)

    return decorate
