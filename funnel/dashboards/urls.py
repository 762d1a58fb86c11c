"""The dashboards' URLs: the Quality dashboard (``funnel.dashboards.quality``) and the Leads
dashboard (``funnel.dashboards.leads``) before the other boards of a stream
(``funnel.dashboards.views``), whose pattern would take their paths."""

from django.urls import path

from funnel.dashboards import discovery, discovery_design, forecast, leads, quality, views
from funnel.dashboards.pdf_urls import urlpatterns as pdf_urlpatterns

app_name = "dashboards"
urlpatterns = [
    *pdf_urlpatterns,  # each dashboard's PDF: before the boards' patterns
    path("streams/<slug:slug>/quality/", quality.quality_dashboard, name="quality"),
    path("streams/<slug:slug>/quality/<slug:chart>.csv", quality.quality_csv, name="quality_csv"),
    path("streams/<slug:slug>/leads/", leads.leads_dashboard, name="leads"),
    path("streams/<slug:slug>/leads/<slug:chart>.csv", leads.leads_csv, name="leads_csv"),
    path("streams/<slug:slug>/discovery/", discovery.discovery_dashboard, name="discovery"),
    path(
        "streams/<slug:slug>/discovery/design/",
        discovery_design.discovery_design,
        name="discovery_design",
    ),
    path(
        "streams/<slug:slug>/discovery/<slug:chart>.csv",
        discovery.discovery_csv,
        name="discovery_csv",
    ),
    path(
        "streams/<slug:slug>/discovery/accept/",
        discovery.discovery_accept,
        name="discovery_accept",
    ),
    path("streams/<slug:slug>/forecast/", forecast.forecast_dashboard, name="forecast"),
    path(
        "streams/<slug:slug>/forecast/<slug:chart>.csv",
        forecast.forecast_csv,
        name="forecast_csv",
    ),
    *views.urlpatterns,
]
