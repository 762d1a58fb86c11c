"""REST API of the map: the user's teams, and create/read/update/delete of value streams, their
lanes, process steps and funnel stages.

Querysets come from ``streams.selectors`` so the API shows exactly what the pages show: a user
sees the teams they belong to and those teams' maps (staff: everything); anything else answers
404. Writing needs ``stream_can_edit`` (the team's managers and staff), else 403.

Every write goes through ``streams.services`` and names the map ``version`` it is based on;
the services refuse an edit based on an older version with ``StaleVersionError``, which
``vsm_project.api.exception_handler`` answers with 409 ``{"version": [reason],
"current_version": N}``. Other service errors answer 400 ``{field: [reason]}``. A successful
write answers with ``stream_version``, the map's version after the edit, so an editor can go on
without reloading the map. Serializers here only check types; the rules live in the services.

The package, one module per resource: ``teams.py``, ``value_streams.py``, ``lanes.py``,
``steps.py`` and ``stages.py`` (each with its serializers and viewset);
``permissions.py`` (who may change a map) and ``common.py`` (the pieces they share). The URLs
are wired in ``vsm_project/api_urls.py``, which imports the viewsets from here.
"""

from streams.api.common import IdFilter
from streams.api.lanes import LaneViewSet
from streams.api.permissions import MapPermission
from streams.api.stages import FunnelStageViewSet
from streams.api.steps import ProcessStepViewSet
from streams.api.teams import TeamViewSet
from streams.api.value_streams import ValueStreamViewSet

__all__ = (
    "FunnelStageViewSet",
    "IdFilter",
    "LaneViewSet",
    "MapPermission",
    "ProcessStepViewSet",
    "TeamViewSet",
    "ValueStreamViewSet",
)
