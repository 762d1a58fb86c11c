"""The asset library's API routes, under ``/api/`` (``vsm_project/urls.py`` includes them
beside the main router)."""

from rest_framework.routers import SimpleRouter

from funnel.assets.api import (
    AssetAttachmentViewSet,
    AssetReviewViewSet,
    AssetUsageViewSet,
    AssetVersionViewSet,
    AssetViewSet,
)

router = SimpleRouter()
router.register("assets", AssetViewSet, basename="asset")
router.register("asset-versions", AssetVersionViewSet, basename="asset-version")
router.register("asset-attachments", AssetAttachmentViewSet, basename="asset-attachment")
router.register("asset-usages", AssetUsageViewSet, basename="asset-usage")
router.register("asset-reviews", AssetReviewViewSet, basename="asset-review")
urlpatterns = router.urls
