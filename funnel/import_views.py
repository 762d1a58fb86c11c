"""The import wizard (managers and admins): upload a CRM export, map its columns and stages
with a preview of the first rows, validate (every bad row listed, downloadable as CSV), then
import in the background with a progress bar. Export links live here too.

The rules are ``funnel.importing`` (shared with ``manage.py import_events``); these views
only move the upload between the steps.
"""

from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from funnel.exporting import export_csv, export_xes
from funnel.importing import (
    FIELDS,
    FORMATS,
    ImportOptions,
    ImportRejected,
    errors_csv,
    guess_columns,
    read_table,
    source_stages,
    stage_defaults,
    unknown_stages,
    validate,
)
from funnel.models import ImportUpload
from funnel.selectors import streams_exportable_by, streams_importable_by
from funnel.tasks import import_events_task
from streams.models import ValueStream
from streams.selectors import stream_can_edit, streams_visible_to
from streams.services import job_create

FORMAT_HELP = {
    "visits": "One row per visit: deal id, step, entered at, exited at, work minutes, actor "
    "(this app's own export).",
    "transitions": "One row per stage change, as CRM stage histories export them (Salesforce "
    "OpportunityHistory): deal id, stage, changed at.",
    "wide": 'One row per deal with a date column per stage (HubSpot\'s Date entered "…" '
    "columns), or an engage date, a close date and a final stage.",
}
STAGE_TARGET_SPECIAL = [
    ("won", "→ Won (outcome)"),
    ("lost", "→ Lost (outcome)"),
    ("ignore", "Ignore these rows"),
]
PREVIEW_ROWS = 5
MAX_ERRORS_SHOWN = 100


class UploadForm(forms.Form):
    stream = forms.ModelChoiceField(
        queryset=ValueStream.objects.none(), empty_label=None, label="Into value stream"
    )
    format = forms.ChoiceField(
        choices=[(f, f) for f in FORMATS], widget=forms.RadioSelect, initial="transitions"
    )
    file = forms.FileField(help_text="A CSV file, UTF-8.")
    time_zone = forms.ChoiceField(
        initial="UTC",
        help_text="The time zone of times in the file that carry none.",
        choices=[(z, z) for z in sorted(zoneinfo.available_timezones())],
    )
    day_first = forms.BooleanField(
        required=False, label="Dates are day first (20/10/2016, not 10/20/2016)"
    )

    def __init__(self, *args, streams=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = ValueStream.objects.filter(pk__in=[s.pk for s in streams])
        self.fields["format"].choices = [(f, f"{f} — {FORMAT_HELP[f]}") for f in FORMATS]


def import_start(request: HttpRequest) -> HttpResponse:
    streams = streams_importable_by(request.user)
    if not streams:
        raise PermissionDenied("Only managers and admins import deal history.")
    form = UploadForm(
        request.POST or None,
        request.FILES or None,
        streams=streams,
        initial={"stream": request.GET.get("stream")},
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        limit = settings.VSM_IMPORT_MAX_BYTES
        if upload.size > limit:
            form.add_error(
                "file",
                f"The file is {upload.size / 1e6:.0f} MB; the limit is "
                f"{limit / 1e6:.0f} MB. Split it, or use manage.py import_events.",
            )
        else:
            data = upload.read()
            try:
                table = read_table(data, max_bytes=limit)
            except ImportRejected as exc:
                form.add_error("file", exc.message)
            else:
                fmt = form.cleaned_data["format"]
                saved = ImportUpload.objects.create(
                    stream=form.cleaned_data["stream"],
                    uploaded_by=request.user,
                    filename=upload.name[:200],
                    data=data,
                    format=fmt,
                    options={
                        "format": fmt,
                        "time_zone": form.cleaned_data["time_zone"],
                        "day_first": form.cleaned_data["day_first"],
                        "columns": guess_columns(table, fmt),
                        "steps": {},
                    },
                )
                return redirect("funnel:import_map", pk=saved.pk)
    return render(request, "funnel/import_start.html", {"form": form})


def _upload_for(request: HttpRequest, pk: int) -> ImportUpload:
    upload = get_object_or_404(ImportUpload.objects.select_related("stream", "job"), pk=pk)
    if not stream_can_edit(user=request.user, stream=upload.stream):
        raise PermissionDenied("Only the team's managers and admins import into this stream.")
    return upload


def _options(upload: ImportUpload) -> ImportOptions:
    o = upload.options
    return ImportOptions(
        format=o["format"],
        time_zone=o["time_zone"],
        day_first=o["day_first"],
        columns=dict(o.get("columns", {})),
        steps=dict(o.get("steps", {})),
    )


def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Map columns and stages (with a preview), then check the whole file."""
    upload = _upload_for(request, pk)
    table = read_table(bytes(upload.data), max_bytes=settings.VSM_IMPORT_MAX_BYTES)
    options = _options(upload)
    checked = None
    rejection = None
    if request.method == "POST":
        options.columns = {
            field.name: request.POST[f"col-{field.name}"]
            for field in FIELDS[options.format]
            if request.POST.get(f"col-{field.name}") in table.headers
        }
        options.steps = {
            name: request.POST[f"stage-{i}"]
            for i, name in enumerate(source_stages(table, options))
            if request.POST.get(f"stage-{i}")
        }
        upload.options = {**upload.options, "columns": options.columns, "steps": options.steps}
        upload.save(update_fields=["options"])
        try:
            checked = validate(upload.stream, table, options)
        except ImportRejected as exc:
            rejection = exc
    stages = source_stages(table, options)
    unknown = set(unknown_stages(upload.stream, table, options))
    defaults = stage_defaults(upload.stream, table, options)
    step_names = list(upload.stream.steps.order_by("position").values_list("name", flat=True))
    return render(
        request,
        "funnel/import_map.html",
        {
            "upload": upload,
            "table": table,
            "preview": table.rows[:PREVIEW_ROWS],
            "fields": [(f, options.columns.get(f.name, "")) for f in FIELDS[options.format]],
            "stages": [
                (i, name, options.steps.get(name, ""), name in unknown, defaults[name])
                for i, name in enumerate(stages)
            ],
            "step_names": step_names,
            "special": STAGE_TARGET_SPECIAL,
            "checked": checked,
            "rejection": rejection,
            "errors": rejection.errors[:MAX_ERRORS_SHOWN] if rejection else [],
        },
        status=400 if rejection else 200,
    )


def import_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """Every bad row of the upload, as CSV (row, column, reason)."""
    upload = _upload_for(request, pk)
    try:
        validate(upload.stream, read_table(bytes(upload.data)), _options(upload))
        errors = []
    except ImportRejected as exc:
        errors = exc.errors
    response = HttpResponse(errors_csv(errors), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{upload.pk}-errors.csv"'
    return response


@require_POST
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Import in the background (Celery) and follow the progress bar."""
    upload = _upload_for(request, pk)
    if upload.job_id:
        return redirect("job_detail", pk=upload.job_id)
    job = job_create(
        kind="import",
        params={
            "upload": upload.pk,
            "file": upload.filename,
            "next": reverse("funnel:deal_list") + "?scope=team",
        },
        created_by=request.user,
        team=upload.stream.team,
    )
    upload.job = job
    upload.save(update_fields=["job"])
    transaction.on_commit(lambda: import_events_task.delay(job.pk, upload.pk))
    messages.info(request, f"Importing {upload.filename} into {upload.stream.name}.")
    return redirect("job_detail", pk=job.pk)


def _exportable_stream(request: HttpRequest, slug: str) -> ValueStream:
    stream = get_object_or_404(streams_visible_to(request.user), slug=slug)
    if stream not in streams_exportable_by(request.user):
        raise PermissionDenied("The export holds every deal of the team: ask your manager.")
    return stream


def export_events_csv(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    stream = _exportable_stream(request, slug)
    response = StreamingHttpResponse(export_csv(stream), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stream.slug}-events.csv"'
    return response


def export_events_xes(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    stream = _exportable_stream(request, slug)
    response = StreamingHttpResponse(export_xes(stream), content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="{stream.slug}-events.xes"'
    return response
