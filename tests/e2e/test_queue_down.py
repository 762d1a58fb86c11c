"""A manager starts an import while the background queue (Redis) is down, sees why it did not
start, and starts it again from the job page once the queue is back (docs/background-work.md).

The broker is simulated in this process (the live server runs in a thread of it): every
publish raises what kombu raises when Redis refuses the connection. ``tests/test_faults.py``
does the same against a real Redis and a real worker.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
from kombu.exceptions import OperationalError
from playwright.sync_api import expect

from funnel.models import Deal
from streams.models import Job, JobState
from vsm_project.background import QUEUE_UNREACHABLE
from vsm_project.celery import app as celery_app
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_an_import_the_queue_could_not_take_is_started_again_from_its_page(page, demo):
    stages = json.loads((EXAMPLES / "mapping.json").read_text())["steps"]
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/deals/import/")
    page.get_by_label("Into value stream").select_option(label="New business (current state)")
    page.get_by_label("transitions", exact=False).check()
    page.get_by_label("File", exact=True).set_input_files(
        EXAMPLES / "salesforce_opportunity_history.csv"
    )
    page.get_by_role("button", name="Upload and preview").click()
    for label, step in stages.items():
        select = page.get_by_label(label, exact=True)
        if select.count():
            select.select_option(label=step)
    page.get_by_role("button", name="Check the whole file").click()
    expect(page.get_by_role("heading", name="The file checks out")).to_be_visible()

    celery_app.conf.task_always_eager = False
    try:
        refused = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        with mock.patch("celery.app.task.Task.apply_async", side_effect=refused):
            page.get_by_role("button", name="Import now").click()
            expect(page.locator("#job-status .state")).to_have_text("Failed")
    finally:
        celery_app.conf.task_always_eager = True
    expect(page.locator(".error-summary")).to_have_text(QUEUE_UNREACHABLE)
    expect(page.get_by_text("Importing salesforce_opportunity_history.csv")).to_have_count(0)
    again = page.get_by_role("button", name="Start again")
    expect(again).to_be_visible()
    save_screenshot(page, "import-queue-down-1440x900")
    assert not Deal.objects.filter(external_id="0061x00000XyZ01").exists()

    again.click()  # the queue is back (eager Celery runs it at once)
    expect(page.locator("#job-status .state")).to_have_text("Done")
    expect(page.locator("#job-done")).to_contain_text("Deals created: 4")
    expect(page.get_by_role("button", name="Start again")).to_have_count(0)
    assert Deal.objects.filter(external_id="0061x00000XyZ01").count() == 1
    assert list(Job.objects.filter(kind="import").values_list("state", flat=True)) == [
        JobState.DONE,  # newest first
        JobState.FAILED,
    ]
