"""The dashboards' URLs. Each dashboard drawn from a stored snapshot (Quality, Leads,
Discovery, Forecast: ``funnel.dashboards.quality`` and the like) has its page, the CSV of each
chart and its PDF (``funnel.dashboards.pdf_views``): the page's path + ``<chart>.csv`` and +
``pdf/``, so ``templates/funnel/dashboards/_pdf_link.html`` links any dashboard to its PDF.
They and the other boards' PDFs come before the boards of a stream
(``funnel.dashboards.views``), whose patterns would take ``quality/`` as a board and
``quality/pdf/`` as a chart."""

from django.urls import URLPattern, path

from funnel.dashboards import discovery, discovery_design, forecast, leads, pdf_views, quality
from funnel.dashboards.views import urlpatterns as board_urlpatterns

#: The dashboards drawn from a stored snapshot, by the key that names their URLs: the views of
#: the page, of a chart's CSV and of the PDF.
SNAPSHOT_DASHBOARDS = {
    "quality": (quality.quality_dashboard, quality.quality_csv, pdf_views.quality_pdf),
    "leads": (leads.leads_dashboard, leads.leads_csv, pdf_views.leads_pdf),
    "discovery": (discovery.discovery_dashboard, discovery.discovery_csv, pdf_views.discovery_pdf),
    "forecast": (forecast.forecast_dashboard, forecast.forecast_csv, pdf_views.forecast_pdf),
}

#: The Discovery dashboard's path, under which its design page and accept form stand too.
DISCOVERY = "streams/<slug:slug>/discovery/"


def _snapshot_dashboard(key: str, page_view, csv_view, pdf_view) -> list[URLPattern]:
    """A snapshot dashboard's page (named ``key``), the CSV of one of its charts
    (``key_csv``) and its PDF (``key_pdf``)."""
    at = f"streams/<slug:slug>/{key}/"
    return [
        path(at, page_view, name=key),
        path(f"{at}<slug:chart>.csv", csv_view, name=f"{key}_csv"),
        path(f"{at}pdf/", pdf_view, name=f"{key}_pdf"),
    ]


app_name = "dashboards"
urlpatterns = [
    *[
        p
        for key, views_of in SNAPSHOT_DASHBOARDS.items()
        for p in _snapshot_dashboard(key, *views_of)
    ],
    path(f"{DISCOVERY}design/", discovery_design.discovery_design, name="discovery_design"),
    path(f"{DISCOVERY}accept/", discovery.discovery_accept, name="discovery_accept"),
    path("streams/<slug:slug>/<slug:board>/pdf/", pdf_views.board_pdf, name="board_pdf"),
    path("teams/<slug:slug>/pdf/", pdf_views.team_pdf, name="team_pdf"),
    *board_urlpatterns,
]
