"""The asset library's API routes, under ``/api/`` (``vsm_project/urls.py`` includes them
beside the main router)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from funnel.assets.api import (
    AssetAttachmentViewSet,
    AssetReviewViewSet,
    AssetUsageViewSet,
    AssetVersionViewSet,
    AssetViewSet,
)
from funnel.assets.outcomes_api import AssetOutcomeView, TeamAssetOutcomesView

router = SimpleRouter()
router.register("assets", AssetViewSet, basename="asset")
router.register("asset-versions", AssetVersionViewSet, basename="asset-version")
router.register("asset-attachments", AssetAttachmentViewSet, basename="asset-attachment")
router.register("asset-usages", AssetUsageViewSet, basename="asset-usage")
router.register("asset-reviews", AssetReviewViewSet, basename="asset-review")
urlpatterns = [
    path("assets/<int:pk>/outcome/", AssetOutcomeView.as_view(), name="asset-outcome"),
    path(
        "teams/<int:pk>/asset-outcomes/",
        TeamAssetOutcomesView.as_view(),
        name="team-asset-outcomes",
    ),
    *router.urls,
]
