"""The import wizard and the export downloads through Django's test client."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from funnel.models import Deal, ImportUpload
from streams.models import Job, JobState
from vsm_project.demo import demo_seed

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
STAGES = json.loads((EXAMPLES / "mapping.json").read_text())["steps"]


@pytest.fixture
def demo():
    return demo_seed(deals=5)


def login(client, username: str) -> None:
    client.force_login(get_user_model().objects.get(username=username))


def upload(client, demo, name: str, fmt: str, content: bytes | None = None):
    data = content if content is not None else (EXAMPLES / name).read_bytes()
    stream = Deal.objects.first().stream
    return client.post(
        "/deals/import/",
        {
            "stream": stream.pk,
            "format": fmt,
            "time_zone": "UTC",
            "file": SimpleUploadedFile(name, data, content_type="text/csv"),
        },
    )


def check(client, response):
    """Submit the mapping page as shown, with the example stage mapping filled in."""
    page = client.get(response.url)
    form = {f"col-{field.name}": chosen for field, chosen in page.context["fields"] if chosen}
    for i, name, *_ in page.context["stages"]:
        if name in STAGES:
            form[f"stage-{i}"] = STAGES[name]
    return page, client.post(response.url, form)


def test_a_manager_imports_a_salesforce_stage_history_through_the_wizard(
    client, demo, django_capture_on_commit_callbacks
):
    login(client, "manager")
    response = upload(client, demo, "salesforce_opportunity_history.csv", "transitions")
    assert response.status_code == 302
    page, checked = check(client, response)
    assert "Prospecting" in page.content.decode()  # the preview and the stage list
    stages = {name: (unknown, default) for _, name, _, unknown, default in page.context["stages"]}
    assert stages["Prospecting"] == (True, "")  # needs mapping at first
    # Outcome stages are recognised by their names, and the wizard says so.
    assert stages["Closed Won"] == (False, "→ Won (recognised)")
    assert stages["Closed Lost"] == (False, "→ Lost (recognised)")
    assert "→ Won (recognised)" in page.content.decode()
    assert checked.status_code == 200, checked.context["rejection"]
    result = checked.context["checked"]
    assert result.deals_created == 4 and result.visits_written == 12
    before = Deal.objects.count()

    upload_id = ImportUpload.objects.get().pk
    with django_capture_on_commit_callbacks(execute=True):
        run = client.post(f"/deals/import/{upload_id}/run/")
    job = Job.objects.get()
    assert run.url == f"/jobs/{job.pk}/"
    assert job.state == JobState.DONE, job.error
    assert Deal.objects.count() == before + 4
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Deals created: <strong>4</strong>" in page


def test_a_file_with_bad_rows_lists_them_and_stores_nothing(client, demo):
    login(client, "manager")
    bad = (
        b"deal_id,step,entered_at,exited_at,work_minutes,actor\n"
        b"X1,Lead capture,2025-03-01T09:00:00Z,2025-02-01T09:00:00Z,,\n"
        b"X2,Lead capture,not a date,,,\n"
        b"X3,Lead capture,2025-03-01T09:00:00Z,,-4,\n"
    )
    response = upload(client, demo, "bad.csv", "visits", bad)
    _, checked = check(client, response)
    assert checked.status_code == 400
    rows = {(e.row, e.column) for e in checked.context["errors"]}
    assert {2, 3, 4} <= {row for row, _ in rows}
    assert "Nothing was imported" in checked.content.decode()
    csv_text = client.get(f"{response.url}errors.csv").content.decode()
    assert csv_text.splitlines()[0] == "row,column,reason"
    assert len(csv_text.splitlines()) == 1 + len(checked.context["rejection"].errors)
    assert not Deal.objects.filter(external_id__startswith="X").exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"deal_id,step\n\xff\xfe,oops\n", "UTF-8"), (b"", "empty"), (b"a,a\n1,2\n", "repeats")],
)
def test_a_broken_file_is_refused_at_upload_with_the_reason(client, demo, content, words):
    login(client, "manager")
    response = upload(client, demo, "broken.csv", "visits", content)
    assert response.status_code == 200
    assert words in " ".join(response.context["form"].errors["file"])
    assert not ImportUpload.objects.exists()


def test_a_file_over_the_limit_is_refused(client, demo, settings):
    settings.VSM_IMPORT_MAX_BYTES = 100
    login(client, "manager")
    response = upload(client, demo, "visits.csv", "visits")
    assert "the limit is" in " ".join(response.context["form"].errors["file"])


@pytest.mark.parametrize("who", ["alice", "vp"])
def test_reps_and_leadership_cannot_import(client, demo, who):
    login(client, who)
    assert client.get("/deals/import/").status_code == 403


def test_another_managers_upload_is_not_theirs_to_see(client, demo, team_setup):
    login(client, "manager")
    response = upload(client, demo, "visits.csv", "visits")
    client.force_login(team_setup.manager_b)
    assert client.get(response.url).status_code == 403


def test_managers_and_leadership_export_csv_and_xes_reps_do_not(client, demo):
    slug = demo.stream_slug
    login(client, "vp")
    csv_response = client.get(f"/deals/export/{slug}.csv")
    assert csv_response.status_code == 200
    body = b"".join(csv_response.streaming_content).decode()
    assert body.splitlines()[0].startswith("deal_id,step,entered_at")
    xes = b"".join(client.get(f"/deals/export/{slug}.xes").streaming_content)
    assert ET.fromstring(xes).tag.endswith("log")
    login(client, "alice")
    assert client.get(f"/deals/export/{slug}.csv").status_code == 403
    assert "Export" not in client.get("/deals/").content.decode()
