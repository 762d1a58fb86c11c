"""The Quality dashboard's PDF (funnel.dashboards.pdf_views.quality_pdf) on the hand-written
lab result of ``lab_fixture``: its figures, the page's roles, the empty states."""

from __future__ import annotations

from unittest import mock

import pytest

from tests.funnel.pdf.pdf_reading import pdf_text
from tests.funnel.qualification.test_lab_pages import client_for, lab  # noqa: F401

pytestmark = pytest.mark.django_db


def pdf(ns, user, query: str = ""):
    return client_for(user).get(f"/dashboards/streams/{ns.stream_a.slug}/quality/pdf/{query}")


def test_the_lab_pdf_holds_the_criteria_and_the_figures(lab):  # noqa: F811
    response = pdf(lab, lab.manager_a)
    _, text = pdf_text(response)
    assert response["Content-Disposition"].endswith('-quality.pdf"')
    assert f"Quality · {lab.stream_a.name}" in text
    assert "Deals closed 6 Dec 2025 – 5 Dec 2026" in text
    # The criteria table: Economic buyer met, 46.7 % of 300 deals (the fixture).
    assert "Each criterion, met and not met" in text and "Economic buyer" in text
    assert "$412,000" in text  # the pipeline-quality tile
    assert "Rep One" in text and "Rep Two" in text  # a manager sees every rep's coverage


def test_a_rep_prints_only_their_own_coverage_row(lab):  # noqa: F811
    _, text = pdf_text(pdf(lab, lab.rep_a1))
    assert "Rep One" in text and "Rep Two" not in text


def test_roles_and_wrong_filters(lab):  # noqa: F811
    assert pdf(lab, lab.leader_a).status_code == 200
    assert pdf(lab, lab.manager_b).status_code == 404
    response = pdf(lab, lab.manager_a, "?start=2026-13-01")
    assert response.status_code == 400 and b"start" in response.content


def test_a_stream_without_criteria_says_there_is_nothing_to_print(team_setup):
    response = client_for(team_setup.manager_a).get(
        f"/dashboards/streams/{team_setup.stream_a.slug}/quality/pdf/"
    )
    assert response.status_code == 404
    assert "no qualification criteria" in response.content.decode()


def test_a_view_not_computed_yet_says_so(lab):  # noqa: F811
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):  # no worker yet
        response = pdf(lab, lab.manager_a, "?start=2026-01-01")
    assert response.status_code == 202, response.content[:300]
    assert "being computed in the background" in response.content.decode()
