"""Uploaded import files are deleted once nobody needs them (the nightly beat task)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from funnel.importing import ImportOptions, import_upload_create
from funnel.models import ImportUpload
from funnel.tasks import prune_import_uploads
from streams.models import Job, JobState
from tests.factories import BASE_TIME, TeamFactory, make_stream

pytestmark = pytest.mark.django_db


def test_it_deletes_old_uploads_whose_import_is_not_queued_or_running():
    stream = make_stream(TeamFactory())
    options = ImportOptions(format="visits")

    def upload(name: str, days_ago: int, state: str | None) -> ImportUpload:
        job = Job.objects.create(kind="import", state=state) if state else None
        with time_machine.travel(BASE_TIME - timedelta(days=days_ago), tick=False):
            return import_upload_create(
                stream=stream, data=b"deal_id\n", options=options, filename=name, job=job
            )

    upload("finished.csv", 8, JobState.DONE)
    upload("failed.csv", 30, JobState.FAILED)
    upload("abandoned-wizard.csv", 9, None)
    upload("running.csv", 8, JobState.RUNNING)
    upload("queued.csv", 8, JobState.QUEUED)
    upload("recent.csv", 6, JobState.DONE)

    with time_machine.travel(BASE_TIME, tick=False):
        assert prune_import_uploads() == 3

    assert sorted(ImportUpload.objects.values_list("filename", flat=True)) == [
        "queued.csv",
        "recent.csv",
        "running.csv",
    ]
