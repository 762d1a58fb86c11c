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
