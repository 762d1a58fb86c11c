"""The dashboards' URLs: the Quality dashboard (``funnel.dashboards.quality``) before the
other boards of a stream (``funnel.dashboards.views``), whose pattern would take its path."""

from django.urls import path

from funnel.dashboards import quality, views

app_name = "dashboards"
urlpatterns = [
    path("streams/<slug:slug>/quality/", quality.quality_dashboard, name="quality"),
    path("streams/<slug:slug>/quality/<slug:chart>.csv", quality.quality_csv, name="quality_csv"),
    *views.urlpatterns,
]
