"""The REST API: one router for every app's viewsets, plus the OpenAPI schema and docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from funnel.api import DealViewSet, VisitViewSet
from streams.api import TeamViewSet, ValueStreamViewSet

router = DefaultRouter()
router.register("teams", TeamViewSet, basename="team")
router.register("streams", ValueStreamViewSet, basename="stream")
router.register("deals", DealViewSet, basename="deal")
router.register("visits", VisitViewSet, basename="visit")

urlpatterns = [
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
