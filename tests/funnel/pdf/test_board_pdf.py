"""The PDF of the Funnel, Flow and Waste dashboards, My view and the team dashboard
(funnel.dashboards.pdf_views): the same figures as the page for the same view, the page's
permissions, a wrong filter a 400, figures not computed yet a page that says so; and the
fetcher that keeps WeasyPrint off the network. The stored figures are the hand-built ones of
``tests/funnel/test_dashboards.py``."""

# ruff: noqa: F811 (the fixtures of tests/funnel/test_dashboards.py, imported)

from __future__ import annotations

import urllib.request
from unittest import mock

import pytest
from django.test import Client

from funnel.dashboards.pdf import BASE_URL, PdfDocument, fetcher, render_pdf
from funnel.metrics.query import MetricsFilters, MetricsQuery
from streams.models import UserProfile
from tests.factories import PASSWORD
from tests.funnel.pdf.pdf_reading import page_size_mm, pdf_text
from tests.funnel.test_dashboards import NOW, board, empty_cache, frozen, store  # noqa: F401

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def pdf(ns, user, board_key: str, query: str = ""):
    url = f"/dashboards/streams/{ns.stream_a.slug}/{board_key}/pdf/"
    return client_for(user).get(url + (f"?{query}" if query else ""))


def test_the_funnel_pdf_holds_the_stream_the_view_and_the_figures(board):
    response = pdf(board, board.manager_a, "funnel")
    pages, text = pdf_text(response)
    assert response["Content-Disposition"] == 'attachment; filename="sales-a-funnel.pdf"' or (
        response["Content-Disposition"].endswith('-funnel.pdf"')
    )
    assert pages >= 1
    width, height = page_size_mm(response)
    assert (round(width), round(height)) == (297, 210)  # A4 landscape
    assert "Funnel · Sales A" in text and "Team Team A" in text
    assert "Last 90 days" in text and "elapsed (calendar) time" in text
    # The tile: a win rate of 0.4 of 30 closed deals, against 0.3 before.
    assert "40%" in text and "30 closed" in text
    # The funnel chart's table: 50 deals reached the first stage, 25 the second.
    assert "Lead" in text and "Won over" in text and "50" in text and "25" in text
    assert f"Page 1 of {pages}" in text
    assert "Generated" in text and "(UTC)" in text


@pytest.mark.parametrize("board_key", ["flow", "waste"])
def test_every_stream_board_prints(board, board_key):
    pages, text = pdf_text(pdf(board, board.leader_a, board_key))
    assert pages >= 1 and f"{board_key.capitalize()} · Sales A" in text
    if board_key == "waste":
        # Waiting: 900 h over the stored waste.
        assert "900" in text and "Waiting" in text


def test_times_are_in_the_users_zone(board):
    UserProfile.objects.update_or_create(
        user=board.manager_a, defaults={"time_zone": "America/New_York"}
    )
    _, text = pdf_text(pdf(board, board.manager_a, "funnel"))
    # Generated at NOW (2025-01-09 09:00 UTC) is 04:00 in New York.
    # (pypdf breaks the line after the slash.)
    assert "Generated 9 Jan 2025, 04:00 (America/New_York)" in text.replace("/ ", "/")


def test_a_rep_prints_their_own_view_and_not_another_reps(board):
    store(
        board,
        MetricsQuery(stream_id=board.stream_a.pk, filters=_owner(board.rep_a1.pk)),
        win_rate=0.5,
        size=2,
    )
    assert pdf(board, board.rep_a1, "funnel", f"owner={board.rep_a2.pk}").status_code == 403
    assert pdf(board, board.rep_a1, "me", f"owner={board.rep_a2.pk}").status_code == 403
    _, text = pdf_text(pdf(board, board.rep_a1, "me"))
    assert "My view · Sales A" in text and "Deals your own only" in text
    assert "Rep Two" not in text and board.rep_a2.username not in text


def _owner(pk):
    return MetricsFilters(owner_id=pk)


def test_another_teams_stream_and_an_unknown_board_are_not_found(board):
    assert pdf(board, board.manager_b, "funnel").status_code == 404
    assert pdf(board, board.manager_a, "nope").status_code == 404
    team = f"/dashboards/teams/{board.team_a.slug}/pdf/"
    assert client_for(board.manager_b).get(team).status_code == 404


def test_anonymous_is_sent_to_login(board):
    response = Client().get(f"/dashboards/streams/{board.stream_a.slug}/funnel/pdf/")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_wrong_filter_is_a_400_naming_it(board):
    response = pdf(board, board.manager_a, "funnel", "period=7y")
    assert response.status_code == 400
    assert b"period" in response.content


def test_a_view_not_computed_yet_answers_a_page_that_says_so(board):
    with mock.patch("funnel.tasks.prepare_metric_sets.apply_async"):  # no worker yet
        response = pdf(board, board.manager_a, "funnel", "period=30d")
    assert response.status_code == 202
    assert response["Content-Type"].startswith("text/html")
    assert "being computed in the background" in response.content.decode()


def test_the_team_pdf(board):
    team = f"/dashboards/teams/{board.team_a.slug}/pdf/"
    _, text = pdf_text(client_for(board.leader_a).get(team))
    assert "Team · Team A" in text and "Sales A" in text and "40%" in text


def test_the_page_links_to_its_pdf_with_its_filters(board):
    html = (
        client_for(board.manager_a)
        .get(f"/dashboards/streams/{board.stream_a.slug}/flow/?period=90d&time=elapsed")
        .content.decode()
    )
    assert (
        f'href="/dashboards/streams/{board.stream_a.slug}/flow/pdf/?period=90d&amp;time=elapsed"'
        in html
    )
    assert "Download PDF" in html


# --- No remote fetches -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/x.css",
        "http://127.0.0.1:8000/static/css/pdf.css",
        "file:///etc/passwd",
        f"{BASE_URL}static/../../etc/passwd",
        f"{BASE_URL}media/secret.pdf",
        "data:text/css,body{}",
    ],
)
def test_the_fetcher_refuses_everything_but_our_static_files(url):
    with pytest.raises(ValueError):
        fetcher().fetch(url)


def test_the_fetcher_serves_our_stylesheet():
    response = fetcher().fetch(f"{BASE_URL}static/css/pdf.css")
    assert b"A4 landscape" in response.read()


def test_a_remote_image_in_the_document_is_never_fetched(monkeypatch):
    """A name a user typed cannot make the server call out: the text is escaped, and even
    markup that reached the page would find its URL refused."""
    calls = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: calls.append(a))
    document = PdfDocument(
        title="Funnel",
        subject='<img src="https://example.com/track.png">',
        team="T",
        filename="x.pdf",
    )
    assert render_pdf(document).startswith(b"%PDF-")
    assert calls == []
