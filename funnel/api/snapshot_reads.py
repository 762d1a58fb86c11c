"""What the API answers for a figure computed by a background job into a snapshot (the lab,
the Leads dashboard): 200 with the result when there is one (``stale`` while a newer one is
being computed), 202 with the job and its progress page while the first one is, 503 when
computing it failed (tried again after a while); and the schema of those answers
(:func:`snapshot_schema`). :func:`stream_snapshot_read` is a whole GET of a stream's view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from streams.models import Job, JobState, Role, ValueStream
from streams.selectors import role_in_team, streams_visible_to


class SnapshotComputingSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["computing"])
    job = serializers.IntegerField()
    progress = serializers.CharField(help_text="The job's progress page.")


class SnapshotFailedSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["failed"])
    job = serializers.IntegerField()
    progress = serializers.CharField()
    error = serializers.CharField()


def snapshot_schema(
    name: str,
    result: type[serializers.Serializer],
    *,
    computing: str,
    failed: str,
    **schema: Any,
) -> Callable:
    """``extend_schema`` of a snapshot read of a stream (tagged ``streams``; ``schema``: its
    operation id, summary, description and parameters), whose answers are 200 with a
    ``result``, 202 while computing, a bad parameter (400), no such stream (404) and 503 when
    computing failed. The answers' serializers are ``<name>ReadySerializer``,
    ``<name>ComputingSerializer`` and ``<name>FailedSerializer`` (the schema's components
    ``<name>Ready`` …); ``computing`` and ``failed`` describe the latter two."""
    ready = type(
        f"{name}ReadySerializer",
        (serializers.Serializer,),
        {
            "status": serializers.ChoiceField(choices=["ready"]),
            "result": result(),
            "computed_at": serializers.DateTimeField(),
            "stale": serializers.BooleanField(
                help_text="A newer result is being computed (see job)."
            ),
            "job": serializers.IntegerField(allow_null=True),
        },
    )
    computing_class = type(
        f"{name}ComputingSerializer", (SnapshotComputingSerializer,), {"__doc__": computing}
    )
    failed_class = type(f"{name}FailedSerializer", (SnapshotFailedSerializer,), {"__doc__": failed})
    responses = {
        200: ready,
        202: computing_class,
        400: OpenApiResponse(description="A parameter is invalid: {parameter: [reason]}."),
        404: OpenApiResponse(description="No such stream among those you can see."),
        503: OpenApiResponse(
            response=failed_class,
            description="Computing this view failed; it is tried again after 5 minutes.",
        ),
    }
    return extend_schema(**schema, responses=responses, tags=["streams"])


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


def rep_id(user: Any, stream: ValueStream) -> int | None:
    """The user's id when they are a rep of the stream's team (who sees only their own deals
    in a view); None for anyone else, staff included."""
    if user.is_staff:
        return None
    return user.pk if role_in_team(user, stream.team_id) == Role.REP else None


def stream_snapshot_read(
    request: Request,
    pk: int,
    read: Callable[..., tuple[Any, Job | None]],
    result: Callable[[ValueStream, Any], dict] = lambda stream, snapshot: snapshot.result,
) -> Response:
    """The answer to a GET of the view of stream ``pk`` (404 outside the streams the user
    sees) that ``read(stream, params, user=…) -> (snapshot, job)`` reads from the query
    parameters (:func:`snapshot_response`); ``result(stream, snapshot)`` gives the snapshot's
    result as the user may see it (default: as it is stored)."""
    stream = get_object_or_404(streams_visible_to(request.user), pk=pk)
    snapshot, job = read(stream, request.query_params, user=request.user)
    return snapshot_response(request, snapshot, job, lambda: result(stream, snapshot))
