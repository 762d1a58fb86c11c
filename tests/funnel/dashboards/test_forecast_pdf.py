"""The Forecast dashboard's PDF (funnel.dashboards.pdf_views.forecast_pdf) on the stored
hand-built forecast of ``test_forecast_page``: the tables, the track record in words, roles."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.funnel.dashboards.test_forecast_page import QUERY, ns  # noqa: F401
from tests.funnel.pdf.pdf_reading import pdf_text

pytestmark = pytest.mark.django_db


def pdf(client, ns, user, query=QUERY):  # noqa: F811
    client.force_login(user)
    return client.get(reverse("dashboards:forecast_pdf", args=[ns.stream.slug]) + "?" + query)


def test_the_forecast_pdf_holds_the_deals_and_the_track_record(client, ns):  # noqa: F811
    response = pdf(client, ns, ns.manager)
    _, text = pdf_text(response)
    assert response["Content-Disposition"].endswith('-forecast.pdf"')
    assert f"Forecast · {ns.stream.name}" in text
    assert "Globex renewal" in text and "Initech pilot" in text
    assert "back-tests" in text and "too narrow" in text
    assert "40%" in text  # the target tile


def test_roles(client, ns):  # noqa: F811
    _, text = pdf_text(pdf(client, ns, ns.rep))
    assert "Globex renewal" in text and "Initech pilot" not in text  # the rep's own deal only
    assert pdf(client, ns, ns.leader).status_code == 200
    assert pdf(client, ns, ns.outsider).status_code == 404
    response = pdf(client, ns, ns.manager, "when_wins=0")
    assert response.status_code == 400 and b"when_wins" in response.content
