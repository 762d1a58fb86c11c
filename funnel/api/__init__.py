"""REST API of the event log: deals (list, create, edit, move, log work, close), visits, and
a bulk endpoint applying many of those writes at once, all or nothing.

Every write goes through ``funnel.eventlog.services`` (the bulk endpoint through
``funnel.eventlog.bulk.events_apply``); which rows a user sees comes from
``funnel.eventlog.selectors`` and who may write from ``deal_can_edit`` / ``stream_can_edit``.
Objects outside the user's visible queryset answer 404, visible objects the user may not change
403. Services raise Django's ``ValidationError({field: reason})``, which
``vsm_project.api.exception_handler`` turns into 400 ``{field: [reason]}``.

Lists are paginated (``page``, ``page_size`` up to 500) and ordered by ``ordering``; time
filters are half-open windows ``[<name>_after, <name>_before)`` (metrics.md) and, like every
time this API reads, need a time zone.

One module per endpoint, named as a user of the API calls it:

- ``deals``: ``/api/deals/`` and its actions (move, log-work, close, undo, reopen, history);
- ``visits``: ``/api/visits/``;
- ``bulk_events``: ``/api/events/bulk/``, its event serializers and error shape;
- ``serializers``: the deal and visit serializers, and :class:`AwareDateTimeField`;
- ``filters``: the list filters, ``ordering`` and pagination (shared with the kaizen API).

The stream metrics endpoint is ``funnel.api.metrics``; the rules of a batch
``funnel.eventlog.bulk``. This package re-exports what the URL wiring and the kaizen API import
from it.
"""

from funnel.api.bulk_events import EventBatchView
from funnel.api.deals import DealViewSet
from funnel.api.filters import EventLogPagination, StableOrderingFilter
from funnel.api.visits import VisitViewSet

__all__ = [
    "DealViewSet",
    "EventBatchView",
    "EventLogPagination",
    "StableOrderingFilter",
    "VisitViewSet",
]
