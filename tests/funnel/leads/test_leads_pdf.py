"""The Leads dashboard's PDF (funnel.dashboards.pdf_views.leads_pdf) on the hand-written
result of ``leads_fixture``: its figures, the page's roles, the empty states."""

from __future__ import annotations

from unittest import mock

import pytest

from funnel.leads.models import Waterfall
from tests.funnel.leads.test_leads_page import _no_clock_tick, board, client_for  # noqa: F401
from tests.funnel.pdf.pdf_reading import pdf_text

pytestmark = pytest.mark.django_db


def pdf(ns, user, query: str = ""):
    return client_for(user).get(f"/dashboards/streams/{ns.stream.slug}/leads/pdf/{query}")


def test_the_leads_pdf_holds_the_verdict_and_the_figures(board):  # noqa: F811
    response = pdf(board, board.manager)
    _, text = pdf_text(response)
    assert response["Content-Disposition"].endswith('-leads.pdf"')
    assert f"Leads · {board.stream.name}" in text
    assert "Marketing over-produces: 2.5 leads a week" in text
    # The waterfall's September SAL: 6 of 10, Wilson 95 % [31.3, 83.2] % (the fixture).
    assert "2026-09" in text and "SAL" in text and "31.3" in text and "83.2" in text
    assert "Seller One" in text and "Seller Two" in text


def test_a_rep_prints_only_their_own_rows_and_never_another_reps(board):  # noqa: F811
    _, text = pdf_text(pdf(board, board.seller2))
    assert "Seller Two" in text and "Seller One" not in text
    assert pdf(board, board.seller1, f"?owner={board.seller2.pk}").status_code == 403


def test_roles_and_wrong_filters(board):  # noqa: F811
    assert pdf(board, board.sdr).status_code == 200
    assert pdf(board, board.outsider).status_code == 404
    response = pdf(board, board.manager, "?start=2026-13-01")
    assert response.status_code == 400 and b"start" in response.content


def test_a_stream_without_a_waterfall_says_there_is_nothing_to_print(board):  # noqa: F811
    Waterfall.objects.filter(stream=board.stream).delete()
    response = pdf(board, board.manager)
    assert response.status_code == 404
    assert "no lead waterfall" in response.content.decode()


def test_a_view_not_computed_yet_says_so(board):  # noqa: F811
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):  # no worker yet
        response = pdf(board, board.manager, "?start=2026-09-01&end=2026-10-01")
    assert response.status_code == 202
    assert "being computed in the background" in response.content.decode()
