"""The import wizard and the export downloads through Django's test client."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from funnel.models import Deal, ImportUpload
from funnel.tasks import import_check_task, import_scan_task
from streams.models import Job, JobState
from streams.services import job_progress
from tests.demo_snapshot import demo_restored

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
STAGES = json.loads((EXAMPLES / "mapping.json").read_text())["steps"]


@pytest.fixture
def demo():
    """The demo with 5 deals: seeded once per test process, then restored from its copy
    (``tests/demo_snapshot.py``; a seed took 3–5 s of each test at CI's load)."""
    return demo_restored(deals=5)


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


def check(client, response, **extra):
    """Submit the mapping page as shown, with the example stage mapping filled in, and
    follow the redirect (post/redirect/get) to the page with the check's verdict."""
    page = client.get(response.url)
    form = {f"col-{field.name}": chosen for field, chosen in page.context["fields"] if chosen}
    for i, name, chosen, *_ in page.context["stages"]:
        if name in STAGES:
            form[f"stage-{i}"] = STAGES[name]
        elif chosen:
            form[f"stage-{i}"] = chosen
    for i, owner, chosen in page.context["owners"]:
        form[f"owner-name-{i}"] = owner.name
        form[f"owner-{i}"] = chosen
    posted = client.post(response.url, {**form, **extra})
    assert posted.status_code == 302, posted
    return page, client.get(posted.url)


def test_a_manager_imports_a_salesforce_stage_history_through_the_wizard(
    client, demo, django_capture_on_commit_callbacks
):
    login(client, "manager")
    response = upload(client, demo, "salesforce_opportunity_history.csv", "transitions")
    assert response.status_code == 302
    page, checked = check(client, response)
    assert "Prospecting" in page.content.decode()  # the preview and the stage list
    stages = {
        name: (chosen, unknown, default)
        for _, name, chosen, unknown, default in page.context["stages"]
    }
    assert stages["Prospecting"] == ("", True, "")  # needs mapping at first
    # Outcome stages are recognised by their names and proposed as the outcome, chosen.
    assert stages["Closed Won"] == ("won", False, "→ Won (recognised)")
    assert stages["Closed Lost"] == ("lost", False, "→ Lost (recognised)")
    assert "→ Won (outcome)" in page.content.decode()
    assert checked.status_code == 200, checked.context["rejection"]
    result = checked.context["checked"]
    assert result.deals_created == 4 and result.visits_written == 12
    before = Deal.objects.count()

    upload_id = ImportUpload.objects.get().pk
    with django_capture_on_commit_callbacks(execute=True):
        run = client.post(f"/deals/import/{upload_id}/run/")
    job = Job.objects.get(kind="import")
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
    assert response.status_code == 400
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


# --- Issue 12: real CRM files, remembered and filed mappings, background checks -------------

CRM = Path(__file__).parent / "data" / "crm_sales_pipeline.csv"


def crm_upload(client, stream, **extra):
    return client.post(
        "/deals/import/",
        {
            "stream": stream.pk,
            "format": "wide",
            "time_zone": "UTC",
            "file": SimpleUploadedFile("sales_pipeline.csv", CRM.read_bytes()),
            **extra,
        },
    )


def test_a_crm_export_of_agent_names_is_imported_with_one_name_given_to_a_member(
    client, demo, django_capture_on_commit_callbacks
):
    login(client, "manager")
    stream = Deal.objects.first().stream
    response = crm_upload(client, stream)
    page = client.get(response.url)
    owners = {owner.name: chosen for _, owner, chosen in page.context["owners"]}
    assert len(owners) == 6 and set(owners.values()) == {""}  # every name kept by default
    members = dict(page.context["members"])
    assert "alice" in members and "vp" not in members  # leadership owns no deals
    form = {f"col-{f.name}": c for f, c in page.context["fields"] if c}
    for i, _name, chosen, *_ in page.context["stages"]:
        form[f"stage-{i}"] = chosen
    for i, owner, _ in page.context["owners"]:
        form[f"owner-name-{i}"] = owner.name
        form[f"owner-{i}"] = "alice" if owner.name == "Darcel Schlecht" else ""
    checked = client.get(client.post(response.url, form).url)
    assert checked.status_code == 200, checked.context["rejection"].message
    result = checked.context["checked"]
    assert (result.deals_created, result.deals_without_visit) == (36, 8)
    html = checked.content.decode()
    assert "8 deals without an engage date (Prospecting (8))" in html
    assert "5 owner names are not a team member" in html

    upload_id = ImportUpload.objects.get().pk
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/deals/import/{upload_id}/run/")
    alice = get_user_model().objects.get(username="alice")
    darcel = sum(1 for line in CRM.read_text().splitlines() if ",Darcel Schlecht," in line)
    assert (
        Deal.objects.filter(stream=stream, owner=alice, external_id__regex=r"^[A-Z0-9]{8}$").count()
        == darcel
    )
    assert Deal.objects.filter(stream=stream, owner_name="Zane Levy").exists()

    # The next upload of the same CRM report starts from the mapping chosen this time.
    again = client.get(crm_upload(client, stream).url)
    owners = {owner.name: chosen for _, owner, chosen in again.context["owners"]}
    assert owners["Darcel Schlecht"] == "alice"
    assert "a file with the same columns, last time" in again.content.decode()


def test_a_yaml_mapping_file_is_applied_at_upload(client, demo):
    login(client, "manager")
    stream = Deal.objects.first().stream
    mapping = SimpleUploadedFile(
        "crm.yaml", b"owners:\n  Zane Levy: alice\nsteps:\n  Engaging: Discovery meeting\n"
    )
    page = client.get(crm_upload(client, stream, mapping_file=mapping).url)
    owners = {owner.name: chosen for _, owner, chosen in page.context["owners"]}
    assert owners["Zane Levy"] == "alice"
    stages = {name: chosen for _, name, chosen, *_ in page.context["stages"]}
    assert stages["Engaging"] == "Discovery meeting"
    assert "Your mapping file is applied" in page.content.decode()


def test_a_bad_mapping_file_is_refused_next_to_its_field(client, demo):
    login(client, "manager")
    stream = Deal.objects.first().stream
    bad = SimpleUploadedFile("crm.yaml", b"stages:\n  Won: won\n")
    response = crm_upload(client, stream, mapping_file=bad)
    assert response.status_code == 400
    assert response.context["form"].errors["mapping_file"] == [
        "The mapping file has unknown keys: stages (known: columns, steps, owners, time_zone, "
        "day_first)."
    ]
    assert not ImportUpload.objects.exists()


def test_a_file_that_is_not_a_table_is_refused_at_upload(client, demo):
    login(client, "manager")
    response = upload(client, demo, "deals.pdf", "wide", b"%PDF-1.4\n1 0 obj\n")
    assert response.status_code == 400
    assert response.context["form"].errors["file"] == [
        "This is a PDF document, not a table. Export the data from the CRM as CSV and upload that."
    ]


def test_the_wizard_starts_on_the_stream_the_user_came_from(client, demo):
    login(client, "manager")
    stream = Deal.objects.first().stream
    page = client.get(f"/deals/import/?stream={stream.slug}")
    assert page.context["form"]["stream"].value() == stream.pk
    # A stream the user may not import into is not preselected.
    assert client.get("/deals/import/?stream=nope").context["form"]["stream"].value() is None
    # The deals page filtered to a step links with the step: its stream is preselected.
    step = stream.steps.first()
    assert (
        f"/deals/import/?step={step.pk}" in client.get(f"/deals/?step={step.pk}").content.decode()
    )
    page = client.get(f"/deals/import/?step={step.pk}")
    assert page.context["form"]["stream"].value() == stream.pk
    # The map page links to the import of its stream.
    assert (
        f"/deals/import/?stream={stream.slug}"
        in client.get(f"/streams/{stream.slug}/").content.decode()
    )


def test_no_message_of_the_wizard_names_a_command_line_flag(client, demo, settings):
    login(client, "manager")
    settings.VSM_IMPORT_MAX_BYTES = 100
    too_big = upload(client, demo, "visits.csv", "visits")
    settings.VSM_IMPORT_MAX_BYTES = 200 * 1024 * 1024
    unknown = upload(
        client, demo, "u.csv", "visits", b"deal_id,step,entered_at\nU1,Nowhere,2025-01-01\n"
    )
    page = client.get(unknown.url)
    posted = client.post(
        unknown.url, {"col-deal_id": "deal_id", "col-step": "step", "col-entered_at": "entered_at"}
    )
    verdict = client.get(posted.url)
    for html in (too_big.content.decode(), page.content.decode(), verdict.content.decode()):
        assert "--" not in html.replace("<!--", "").replace("-->", "").split("<main", 1)[-1]
        assert "manage.py" not in html
    assert "has no step for: 'Nowhere'" in verdict.context["rejection"].message


def test_a_large_file_is_read_and_checked_by_background_jobs_with_progress(
    client, demo, settings, django_capture_on_commit_callbacks
):
    settings.VSM_IMPORT_CHECK_INLINE_BYTES = 10  # every file is "large"
    login(client, "manager")
    stream = Deal.objects.first().stream
    # The upload is stored; its rows are read on a worker, not in the request.
    with (
        mock.patch("funnel.importing.views.import_scan_task.apply_async") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = crm_upload(client, stream)
    upload = ImportUpload.objects.get()
    read = Job.objects.get(kind="import read")
    assert response.url == f"/jobs/{read.pk}/"
    assert enqueue.call_args_list == [mock.call((read.pk, upload.pk), None)]
    assert "scan" not in upload.options
    # The mapping page waits for the reading: it sends the user to its progress.
    assert client.get(f"/deals/import/{upload.pk}/").url == f"/jobs/{read.pk}/"
    with mock.patch("funnel.tasks.job_progress", wraps=job_progress) as progress:
        import_scan_task(read.pk, upload.pk)
    assert progress.call_count >= 1
    read.refresh_from_db()
    assert (read.state, read.params["next"]) == (JobState.DONE, f"/deals/import/{upload.pk}/")
    # The mapping page lists stages and owners from that reading, without reading the rows.
    with mock.patch("funnel.importing.reading._cells_of") as cells:
        page = client.get(read.params["next"])
    assert cells.call_count == 0
    assert len(page.context["owners"]) == 6
    assert [name for _, name, *_ in page.context["stages"]][1:] == [
        "Lost",
        "Won",
        "Prospecting",
        "Engaging",
    ]

    form = {f"col-{f.name}": c for f, c in page.context["fields"] if c}
    with (
        mock.patch("funnel.importing.views.import_check_task.apply_async") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        posted = client.post(read.params["next"], form)
    job = Job.objects.get(kind="import check")
    assert posted.url == f"/jobs/{job.pk}/"  # the request did not check the file
    assert enqueue.call_args_list == [mock.call((job.pk, upload.pk), None)]
    assert job.state == JobState.QUEUED
    # The worker checks it, recording progress on the job.
    with mock.patch("funnel.tasks.job_progress", wraps=job_progress) as progress:
        import_check_task(job.pk, upload.pk)
    assert progress.call_count >= 2
    job.refresh_from_db()
    assert (job.state, job.result["verdict"], job.result["deals_created"]) == (
        JobState.DONE,
        "ok",
        36,
    )
    assert job.params["next"].endswith(f"?check={job.pk}#verdict")
    shown = client.get(job.params["next"])
    assert shown.context["checked"].deals_created == 36
    assert not Deal.objects.filter(external_id__regex=r"^[A-Z0-9]{8}$").exists()  # only checked
