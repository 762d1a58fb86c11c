"""The PDF of each dashboard (``funnel.dashboards.pdf_views``): the page's path + ``pdf/``,
so ``templates/funnel/dashboards/_pdf_link.html`` links any dashboard to its PDF. Listed in
``funnel.dashboards.urls`` before the stream boards' pattern, which would take
``quality/pdf/`` and the like as a chart."""

from django.urls import path

from funnel.dashboards import pdf_views

urlpatterns = [
    path("streams/<slug:slug>/quality/pdf/", pdf_views.quality_pdf, name="quality_pdf"),
    path("streams/<slug:slug>/leads/pdf/", pdf_views.leads_pdf, name="leads_pdf"),
    path("streams/<slug:slug>/discovery/pdf/", pdf_views.discovery_pdf, name="discovery_pdf"),
    path("streams/<slug:slug>/forecast/pdf/", pdf_views.forecast_pdf, name="forecast_pdf"),
    path("streams/<slug:slug>/<slug:board>/pdf/", pdf_views.board_pdf, name="board_pdf"),
    path("teams/<slug:slug>/pdf/", pdf_views.team_pdf, name="team_pdf"),
]
