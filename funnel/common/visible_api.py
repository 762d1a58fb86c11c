"""The rows of a list-and-read viewset: those a user may see, through the app's selector,
in a fixed order. Most viewsets of the catalogs (``funnel.common.catalog_api``), the asset
library, standard work, qualification and 5S read their rows this way; one
:class:`Visible` per viewset says which selector and order instead of a ``get_queryset`` of
its own, and the viewset's empty ``queryset`` (what the router and the schema read the model
from) comes from its answer serializer's model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet

from funnel.api.viewsets import ListAnsweringViewSet
from streams.selectors import User


class Visible:
    """``rows(user)``: a selector such as ``items_visible_to``; ``order``: the fields the rows
    come in (none: the selector's own order)."""

    def __init__(self, rows: Callable[[User], QuerySet], *order: str) -> None:
        self.rows = rows
        self.order = order

    def of(self, user: User) -> QuerySet:
        """The rows ``user`` may see, in order."""
        rows = self.rows(user)
        return rows.order_by(*self.order) if self.order else rows


class VisibleListViewSet(ListAnsweringViewSet):
    # A ListAnsweringViewSet whose rows are ``visible``'s (a subclass may still write its own
    # get_queryset). No docstring: the API schema shows the subclass's, or its base's.

    visible: Visible

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "visible" in cls.__dict__ and "queryset" not in cls.__dict__:
            cls.queryset = cls.serializer_class.Meta.model.objects.none()

    def get_queryset(self) -> QuerySet:
        return self.visible.of(self.request.user)
