"""Pages a reviewer found wanting (issue 12), through Django's test client: the favicon is
served at /favicon.ico, a finished import lists its counts one a line without an empty
"Notes:", and people whose account was deleted are named "someone" instead of a 500."""

from __future__ import annotations

import re

import pytest

from kaizen.models import CycleComment
from kaizen.services import cycle_plan
from streams.models import JobState
from streams.services import job_create

pytestmark = pytest.mark.django_db


def test_the_favicon_is_served_at_favicon_ico_to_anyone(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith(".svg") and "/img/favicon" in response["Location"]


def _done_import(team_setup, result: dict):
    job = job_create(kind="import", params={}, team=team_setup.team_a)
    job.state, job.result = JobState.DONE, result
    job.save()
    return job


COUNTS = {
    "deals_created": 4,
    "deals_updated": 0,
    "deals_unchanged": 0,
    "visits_written": 12,
    "rows": 15,
}


def test_a_finished_import_lists_its_counts_one_a_line_and_hides_empty_notes(client, team_setup):
    job = _done_import(team_setup, {**COUNTS, "notes": ""})
    client.force_login(team_setup.manager_a)
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    items = re.findall(r"<li>(.*?)</li>", html.split('id="job-done"')[1])
    assert items[:2] == ["Deals created: <strong>4</strong>", "Deals updated: <strong>0</strong>"]
    assert len(items) == len(COUNTS)
    assert "Notes" not in html


def test_a_finished_imports_notes_are_their_own_paragraph(client, team_setup):
    job = _done_import(team_setup, {**COUNTS, "notes": "3 deals had no engage date."})
    client.force_login(team_setup.manager_a)
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<p class="result-notes"><strong>Notes:</strong> 3 deals had no engage date.</p>' in html


def test_a_comment_or_cycle_whose_person_was_deleted_names_someone(client, team_setup):
    ns = team_setup
    cycle = cycle_plan(
        user=ns.manager_a, stream=ns.stream_a, title="Faster demos", metric="win_rate"
    )
    CycleComment.objects.create(cycle=cycle, author=ns.rep_a1, body="Good idea")
    CycleComment.objects.create(cycle=cycle, author=ns.rep_a2, body="Agreed")
    ns.rep_a2.delete()
    client.force_login(ns.manager_a)
    response = client.get(f"/kaizen/{cycle.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<strong>{ns.rep_a1.get_full_name()}</strong>" in html
    assert "<strong>someone</strong>" in html
    type(cycle).objects.filter(pk=cycle.pk).update(owner=None)
    assert "owner none" in re.sub(r"\s+", " ", client.get(f"/kaizen/{cycle.pk}/").content.decode())
    assert client.get("/kaizen/").status_code == 200


def test_a_refused_kaizen_target_comes_back_as_typed_with_the_other_problems(client, team_setup):
    ns = team_setup
    client.force_login(ns.manager_a)
    response = client.post(
        "/kaizen/new/",
        {
            "where": str(ns.stream_a.pk),
            "title": "",
            "metric": "win_rate",
            "target_value": "9o%",
            "target_date": "2001-01-01",
            "window_days": "56",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(
        r'<input type="text" name="target_value" value="9o%"[^>]*inputmode="decimal"', html
    )
    assert set(response.context["form"].errors) >= {"title", "target_value", "target_date"}
