"""What the API answers for a figure computed by a background job into a snapshot (the lab,
the Leads dashboard): 200 with the result when there is one (``stale`` while a newer one is
being computed), 202 with the job and its progress page while the first one is, 503 when
computing it failed (tried again after a while)."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from streams.models import Job, JobState


class SnapshotComputingSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["computing"])
    job = serializers.IntegerField()
    progress = serializers.CharField(help_text="The job's progress page.")


class SnapshotFailedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["failed"])
    job = serializers.IntegerField()
    progress = serializers.CharField()
    error = serializers.CharField()


def snapshot_response(
    request: Request, snapshot: object | None, job: Job | None, result: Callable[[], dict]
) -> Response:
    """The answer for ``snapshot`` (None: never computed) and the ``job`` computing it (None:
    the snapshot is fresh); ``result()`` gives the snapshot's result as the user may see it."""
    if snapshot is None:
        progress = request.build_absolute_uri(reverse("job_detail", args=[job.pk]))
        if job.state == JobState.FAILED:
            return Response(
                {"status": "failed", "job": job.pk, "progress": progress, "error": job.error},
                status=503,
            )
        return Response({"status": "computing", "job": job.pk, "progress": progress}, status=202)
    return Response(
        {
            "status": "ready",
            "result": result(),
            "computed_at": snapshot.computed_at,
            "stale": job is not None and job.state != JobState.DONE,
            "job": job.pk if job is not None else None,
        }
    )
