"""What the deal, qualification and kaizen viewsets share (:mod:`funnel.api.deals`,
``kaizen.api``): an input serializer per action (from ``streams.api.common``), answers that
read the object back through the visible queryset and a create through one service
and a change of the URL's object through one service (:class:`AnsweringViewSet`; with list and
read, :class:`ListAnsweringViewSet`), the schema's 400/403/404 answers about one object
(:func:`object_errors`), and the routing and schema of a POST action on one object
(:func:`post_actions`, through ``streams.api.common.write_schema``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from funnel.api.filters import LIST_BACKENDS, EventLogPagination
from streams.api.common import InputPerActionViewSet, write_schema


def object_errors(noun: str, forbidden: str) -> dict[int, OpenApiResponse]:
    """The schema's 400, 403 (``forbidden``: why) and 404 answers of an action on one
    ``noun``."""
    return {
        400: OpenApiResponse(
            OpenApiTypes.OBJECT, description="Invalid input: {field: [reason, …]}."
        ),
        403: OpenApiResponse(description=forbidden),
        404: OpenApiResponse(description=f"No such {noun} among those you can see."),
    }


def post_actions(
    answer: type[serializers.BaseSerializer], errors: dict[int, Any]
) -> Callable[..., Callable[[Callable[..., Response]], Callable[..., Response]]]:
    """The decorator of a viewset's POST actions on one object, which all answer ``answer``
    or one of ``errors``: ``@post(summary, request, description=…, created=…, url_path=…)``
    routes the method (``@action(detail=True, methods=["post"])``, under ``url_path`` when
    given) and declares its schema with the other arguments, as
    ``streams.api.common.write_schema`` does."""
    write = write_schema(answer, errors)

    def post(
        *schema: Any, url_path: str | None = None, **schema_keywords: Any
    ) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
        def decorate(method: Callable[..., Response]) -> Callable[..., Response]:
            routed = action(detail=True, methods=["post"], url_path=url_path)(method)
            return write(*schema, **schema_keywords)(routed)

        return decorate

    return post


class AnsweringViewSet(InputPerActionViewSet):
    """An :class:`~streams.api.common.InputPerActionViewSet` whose writes answer the object as
    it is now, in ``serializer_class``."""

    def _answer(self, obj: Model, status_code: int = status.HTTP_200_OK) -> Response:
        """``obj`` as it is now, read back through the visible queryset."""
        fresh = self.get_queryset().get(pk=obj.pk)
        return Response(
            self.serializer_class(fresh, context=self.get_serializer_context()).data,
            status=status_code,
        )

    def _create(self, request: Request, service: Callable[..., Model], **extra: Any) -> Response:
        """Create through ``service`` (its keywords: ``user``, the requester; the validated
        input; ``extra``) and answer 201 with what it made."""
        made = service(user=request.user, **extra, **self._validated(request))
        return self._answer(made, status.HTTP_201_CREATED)

    def _update(
        self,
        request: Request,
        service: Callable[..., Model],
        noun: str,
        status_code: int = status.HTTP_200_OK,
    ) -> Response:
        """Change the URL's object through ``service`` (its keywords: ``noun``, the object;
        ``user``, the requester; the validated input) and answer what it returns."""
        obj = self.get_object()
        data = self._validated(request)
        return self._answer(service(**{noun: obj}, user=request.user, **data), status_code)


class ListAnsweringViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AnsweringViewSet):
    """An :class:`AnsweringViewSet` that lists and reads what its queryset lets the user see,
    filtered, ordered and paged like the deal lists (the qualification's and the leads'
    viewsets); writes through the services."""

    permission_classes = [permissions.IsAuthenticated]
    http_method_names = ["get", "post", "patch", "head", "options"]
    filter_backends = LIST_BACKENDS
    pagination_class = EventLogPagination
