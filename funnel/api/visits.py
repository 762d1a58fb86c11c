"""``/api/visits/``: the visits (stays of a deal at a step) of the deals a user can see,
read-only; a visit changes through the deal's actions (``funnel.api.deals``)."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import viewsets

from funnel.api.filters import LIST_BACKENDS, EventLogPagination, VisitFilter
from funnel.api.serializers import VisitSerializer
from funnel.eventlog.selectors import visits_visible_to
from funnel.models import Visit
from streams.api.common import list_retrieve_schema


@list_retrieve_schema("Visits of the deals you can see", "One visit")
class VisitViewSet(viewsets.ReadOnlyModelViewSet):
    """Visits (stays of a deal at a step) of the deals you can see."""

    queryset = Visit.objects.none()
    serializer_class = VisitSerializer
    filter_backends = LIST_BACKENDS
    filterset_class = VisitFilter
    ordering_fields = ["entered_at", "exited_at", "work_minutes", "id"]
    pagination_class = EventLogPagination

    def get_queryset(self) -> QuerySet[Visit]:
        return visits_visible_to(self.request.user)
