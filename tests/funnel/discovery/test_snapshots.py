"""The Discovery snapshot: computed by its job, read fresh, stale once a deviation is
accepted."""

from __future__ import annotations

import pytest
from django.utils import timezone

from funnel.discovery.models import AcceptedDeviation
from funnel.discovery.snapshots import discovery_view_read
from tests.funnel.discovery.hand_log import START, at, hand_log

pytestmark = pytest.mark.django_db

PARAMS = {"start": "2026-09-07", "end": "2026-09-21", "as_of": "2026-10-01"}


def test_computed_read_and_stale_after_accepting():
    ns = hand_log()
    snapshot, job = discovery_view_read(ns.stream, PARAMS)
    assert job is not None and job.state == "done"
    result = snapshot.result
    assert result["variants"]["deals"] == 7
    assert result["conformance"]["summary"]["conforming"] == 2
    assert result["view"]["start"] == at(START).isoformat()
    again, job = discovery_view_read(ns.stream, PARAMS)
    assert (again.pk, job) == (snapshot.pk, None)
    AcceptedDeviation.objects.create(
        stream=ns.stream,
        kind="skip",
        source=ns.steps["Lead"],
        target=ns.steps["Demo"],
        accepted_at=timezone.now(),
    )
    fresh, job = discovery_view_read(ns.stream, PARAMS)
    assert job is not None
    assert fresh.result["conformance"]["summary"]["conforming"] == 3


def test_the_catch_up_queues_a_discovery_job_whose_message_was_lost():
    """A view queued while Redis lost its message is queued again by the beat's catch-up, as
    the lab's and the Leads dashboard's are."""
    from unittest import mock

    from streams.models import JobState
    from vsm_project.tasks import _requeuers

    ns = hand_log()
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        snapshot, job = discovery_view_read(ns.stream, PARAMS)
    assert snapshot is None and job.state == JobState.QUEUED
    assert _requeuers()[job.kind](job)  # eager: it runs
    job.refresh_from_db()
    assert job.state == JobState.DONE
    assert discovery_view_read(ns.stream, PARAMS)[1] is None  # fresh now
