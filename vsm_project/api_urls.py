"""The REST API: one router for every app's viewsets, plus the OpenAPI schema and docs."""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from funnel.api import DealViewSet, EventBatchView, VisitViewSet
from funnel.api.lab import StreamLabView
from funnel.api.leads import StreamLeadsView
from funnel.api.metrics import StreamMetricsView
from funnel.discovery.api import (
    StreamAcceptedDeviationsView,
    StreamAcceptedDeviationView,
    StreamDiscoveryDeviationsView,
    StreamDiscoveryGraphView,
    StreamDiscoveryVariantsView,
)
from funnel.discovery.api_design import StreamDiscoveryDesignView
from funnel.forecasts.api import StreamForecastDealsView, StreamForecastView
from funnel.leads.api import (
    HandoffReasonViewSet,
    HandoffViewSet,
    SellerLimitViewSet,
    StreamWaterfallView,
)
from funnel.qualification.api import CriterionViewSet, ScoreViewSet, WinCallViewSet
from funnel.standards.api import (
    ChecklistItemViewSet,
    ChecklistTickViewSet,
    StepAssetViewSet,
    StreamStandardsView,
)
from kaizen.api import KaizenCycleViewSet
from kaizen.fives.api import FiveSAuditViewSet, FiveSQuestionViewSet
from streams.api import (
    FunnelStageViewSet,
    LaneViewSet,
    ProcessStepViewSet,
    TeamViewSet,
    ValueStreamViewSet,
)
from streams.calendars.api import LaneCalendarView, WorkingCalendarViewSet
from streams.people.api import InactiveMemberViewSet, InvitationViewSet, MemberViewSet

router = DefaultRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("streams", ValueStreamViewSet, basename="stream")
router.register("lanes", LaneViewSet, basename="lane")
router.register("steps", ProcessStepViewSet, basename="step")
router.register("stages", FunnelStageViewSet, basename="stage")
router.register("deals", DealViewSet, basename="deal")
router.register("visits", VisitViewSet, basename="visit")
router.register("kaizen-cycles", KaizenCycleViewSet, basename="kaizen-cycle")
router.register("five-s-questions", FiveSQuestionViewSet, basename="five-s-question")
router.register("five-s-audits", FiveSAuditViewSet, basename="five-s-audit")
router.register("members", MemberViewSet, basename="member")
router.register("inactive-members", InactiveMemberViewSet, basename="inactive-member")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("calendars", WorkingCalendarViewSet, basename="calendar")
router.register("criteria", CriterionViewSet, basename="criterion")
router.register("scores", ScoreViewSet, basename="score")
router.register("win-calls", WinCallViewSet, basename="win-call")
router.register("handoff-reasons", HandoffReasonViewSet, basename="handoff-reason")
router.register("seller-limits", SellerLimitViewSet, basename="seller-limit")
router.register("handoffs", HandoffViewSet, basename="handoff")
router.register("checklist-items", ChecklistItemViewSet, basename="checklist-item")
router.register("checklist-ticks", ChecklistTickViewSet, basename="checklist-tick")
router.register("step-assets", StepAssetViewSet, basename="step-asset")

# DRF views are exempt from LoginRequiredMiddleware, and drf-spectacular serves the schema and
# docs to anyone by default: like the rest of the app they need a signed-in user (401/403).
_signed_in = {"permission_classes": [IsAuthenticated]}

urlpatterns = [
    path("streams/<int:pk>/metrics/", StreamMetricsView.as_view(), name="stream-metrics"),
    path("streams/<int:pk>/lab/", StreamLabView.as_view(), name="stream-lab"),
    path("streams/<int:pk>/leads/", StreamLeadsView.as_view(), name="stream-leads"),
    path(
        "streams/<int:pk>/discovery/graph/",
        StreamDiscoveryGraphView.as_view(),
        name="stream-discovery-graph",
    ),
    path(
        "streams/<int:pk>/discovery/variants/",
        StreamDiscoveryVariantsView.as_view(),
        name="stream-discovery-variants",
    ),
    path(
        "streams/<int:pk>/discovery/deviations/",
        StreamDiscoveryDeviationsView.as_view(),
        name="stream-discovery-deviations",
    ),
    path(
        "streams/<int:pk>/discovery/design/",
        StreamDiscoveryDesignView.as_view(),
        name="stream-discovery-design",
    ),
    path(
        "streams/<int:pk>/discovery/accepted/",
        StreamAcceptedDeviationsView.as_view(),
        name="stream-discovery-accepted",
    ),
    path(
        "streams/<int:pk>/discovery/accepted/<int:accepted>/",
        StreamAcceptedDeviationView.as_view(),
        name="stream-discovery-accepted-detail",
    ),
    path("streams/<int:pk>/forecast/", StreamForecastView.as_view(), name="stream-forecast"),
    path(
        "streams/<int:pk>/forecast/deals/",
        StreamForecastDealsView.as_view(),
        name="stream-forecast-deals",
    ),
    path("streams/<int:pk>/waterfall/", StreamWaterfallView.as_view(), name="stream-waterfall"),
    path("streams/<int:pk>/standards/", StreamStandardsView.as_view(), name="stream-standards"),
    path("lanes/<int:pk>/calendar/", LaneCalendarView.as_view(), name="lane-calendar"),
    path("", include(router.urls)),
    path("events/bulk/", EventBatchView.as_view(), name="events-bulk"),
    path("schema/", SpectacularAPIView.as_view(**_signed_in), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", **_signed_in),
        name="api-docs",
    ),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema", **_signed_in), name="api-redoc"),
]
