"""The Discovery dashboard's PDF (funnel.dashboards.pdf_views.discovery_pdf) on the
hand-worked log: the graph drawn (our own SVG), the tables, the page's roles."""

from __future__ import annotations

from unittest import mock

import pytest
from django.urls import reverse

from tests.funnel.discovery.hand_log import hand_log
from tests.funnel.pdf.pdf_reading import pdf_text

pytestmark = pytest.mark.django_db

VIEW = "start=2026-09-07&end=2026-09-21&as_of=2026-10-01"


@pytest.fixture
def ns():
    return hand_log()


def pdf(client, ns, user, query=VIEW):
    client.force_login(user)
    return client.get(reverse("dashboards:discovery_pdf", args=[ns.stream.slug]) + "?" + query)


def test_the_discovery_pdf_draws_the_graph_and_prints_the_tables(client, ns):
    response = pdf(client, ns, ns.manager)
    _, text = pdf_text(response)
    assert f"Discovery · {ns.stream.name}" in text
    # The most common path, two deals (the variants table of the hand-worked log).
    assert "Lead → Qualify → Demo → Proposal → Close" in text
    # The graph is drawn: its step names are text of the drawing too.
    assert text.count("Qualify") >= 3
    assert b"/Subtype /Form" in response.content or b"/XObject" in response.content


def test_reader_roles(client, ns):
    assert pdf(client, ns, ns.leader).status_code == 200
    assert pdf(client, ns, ns.rep).status_code == 200
    assert pdf(client, ns, ns.rep, f"{VIEW}&owner={ns.manager.pk}").status_code == 403
    assert pdf(client, ns, ns.outsider).status_code == 404
    assert pdf(client, ns, ns.manager, "start=2026-13-01").status_code == 400


def test_a_view_not_computed_yet_says_so(client, ns):
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):  # no worker yet
        response = pdf(client, ns, ns.manager, "start=2026-08-01&end=2026-09-01")
    assert response.status_code == 202
    assert "being computed in the background" in response.content.decode()
