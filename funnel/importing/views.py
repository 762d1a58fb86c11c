"""The import wizard (managers and admins): upload a CRM export, map its columns and stages
with a preview of the first rows, validate (every bad row listed, downloadable as CSV), then
import in the background with a progress bar. Export links live here too.

The rules are ``funnel.importing`` (shared with ``manage.py import_events``); these views
only move the upload between the steps. The check of the whole file runs as a job
(``funnel.tasks.import_check_task``): in the request for a small file, on a worker with a
progress bar for a large one; either way the page then shows its verdict (post/redirect/get).
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

from funnel.eventlog.selectors import streams_exportable_by, streams_importable_by
from funnel.exporting.csv_export import export_csv
from funnel.exporting.xes import export_xes
from funnel.importing import (
    FIELDS,
    IMPORT_FORMATS,
    ImportOptions,
    ImportRejected,
    ImportResult,
    RowError,
    errors_csv,
    import_upload_check,
    import_upload_start,
    join_lead_export,
    load_mapping,
    max_import_columns,
    obvious_outcome,
    source_owners,
    source_stages,
    stage_defaults,
    team_owners,
    unknown_stages,
    upload_size,
    upload_table,
)
from funnel.models import ImportUpload
from funnel.tasks import import_check_task, import_events_task, import_scan_task
from streams.ids import parse_id
from streams.models import Job, JobState, ProcessStep, ValueStream
from streams.selectors import stream_can_edit, streams_visible_to
from streams.services import job_create
from vsm_project.background import enqueue, job_enqueue, job_restartable

FORMAT_HELP = {
    "visits": "One row per visit: deal id, step, entered at, exited at, work minutes, actor "
    "(this app's own export).",
    "transitions": "One row per stage change, as CRM stage histories export them (Salesforce "
    "OpportunityHistory): deal id, stage, changed at.",
    "wide": 'One row per deal with a date column per stage (HubSpot\'s Date entered "…" '
    "columns), or an engage date, a close date and a final stage.",
    "hs_contacts": "Leads: HubSpot's contacts export, one row per contact with its lifecycle "
    'dates ("Became a Lead Date" …).',
    "sf_leads": "Leads: Salesforce lead history (LeadId, CreatedDate, Field, OldValue, "
    "NewValue), with the Lead export's columns or the Lead export below.",
    "xes": "An XES event log (.xes or .xes.gz) from a process-mining tool or this app's "
    "export: start and complete events (each pair a visit), or complete events only (each a "
    "stage change).",
}
STAGE_TARGET_SPECIAL = [
    ("won", "→ Won (outcome)"),
    ("lost", "→ Lost (outcome)"),
    ("ignore", "Ignore these rows"),
]
PREVIEW_ROWS = 5
MAX_ERRORS_SHOWN = 100
#: The Job kinds of a check of an uploaded file and of the first reading of a large one.
CHECK_JOB = "import check"
SCAN_JOB = "import read"
#: A mapping file is a few kilobytes; anything much larger is not one.
MAX_MAPPING_BYTES = 1024 * 1024


class UploadForm(forms.Form):
    stream = forms.ModelChoiceField(
        queryset=ValueStream.objects.none(), empty_label=None, label="Into value stream"
    )
    format = forms.ChoiceField(
        choices=[(f, f) for f in IMPORT_FORMATS], widget=forms.RadioSelect, initial="transitions"
    )
    file = forms.FileField(help_text="A CSV file, UTF-8.")
    lead_file = forms.FileField(
        required=False,
        label="Salesforce Lead export (optional, sf_leads only)",
        help_text="The Lead export (Id, Name, Company, LeadSource, Owner, CreatedDate, Status, "
        "ConvertedDate) whose columns the lead history above lacks: each history row gets its "
        "lead's columns, and leads without history are added.",
    )
    mapping_file = forms.FileField(
        required=False,
        label="Mapping file (optional)",
        help_text="JSON or YAML naming the columns, stages and owners (the import guide "
        "describes it). It is laid over the mapping remembered for files like this one.",
    )
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
        self.fields["format"].choices = [(f, f"{f} — {FORMAT_HELP[f]}") for f in IMPORT_FORMATS]
        limit = settings.VSM_IMPORT_MAX_BYTES
        self.fields["file"].help_text = (
            f"A CSV file, UTF-8: at most {limit / 1e6:,.0f} MB and {max_import_columns():,} "
            "columns; or an XES event log for the xes format (gzipped or not)."
        )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.VSM_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {upload.size / 1e6:,.0f} MB; the limit is {limit / 1e6:,.0f} MB. "
                "Split it into smaller files (by date, for example) and upload each."
            )
        return upload

    def clean(self):
        cleaned = super().clean()
        lead_file = cleaned.get("lead_file")
        if lead_file and cleaned.get("format") != "sf_leads":
            self.add_error("lead_file", "A Lead export goes with the sf_leads format only.")
        elif lead_file and cleaned.get("file"):
            limit = settings.VSM_IMPORT_MAX_BYTES
            if lead_file.size + cleaned["file"].size > limit:
                self.add_error(
                    "lead_file",
                    f"The two files are {(lead_file.size + cleaned['file'].size) / 1e6:,.0f} MB "
                    f"together; the limit is {limit / 1e6:,.0f} MB.",
                )
        return cleaned

    def clean_mapping_file(self) -> dict | None:
        upload = self.cleaned_data.get("mapping_file")
        if not upload:
            return None
        if upload.size > MAX_MAPPING_BYTES:
            raise forms.ValidationError("A mapping file is a few kilobytes; this one is larger.")
        try:
            return load_mapping(upload.read().decode("utf-8"))
        except UnicodeDecodeError:
            raise forms.ValidationError("The mapping file is not UTF-8 text.") from None
        except ImportRejected as exc:
            raise forms.ValidationError(exc.message) from None


def _stream_from_query(request: HttpRequest, streams) -> int | None:
    """The stream the user came from, when they may import into it: ``?stream=`` (slug or
    id, from the map page) or ``?step=`` (the deals page filtered to a step of it)."""
    wanted = (request.GET.get("stream") or "").strip()
    step = parse_id(request.GET.get("step"))
    if not wanted and step is not None:
        wanted = str(
            ProcessStep.objects.filter(pk=step).values_list("stream_id", flat=True).first()
        )
    for stream in streams:
        if wanted and wanted in (stream.slug, str(stream.pk)):
            return stream.pk
    return None


def import_start(request: HttpRequest) -> HttpResponse:
    streams = streams_importable_by(request.user)
    if not streams:
        raise PermissionDenied("Only managers and admins import deal history.")
    form = UploadForm(
        request.POST or None,
        request.FILES or None,
        streams=streams,
        initial={"stream": _stream_from_query(request, streams)},
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            file = upload
            if form.cleaned_data["lead_file"]:
                file = join_lead_export(upload.read(), form.cleaned_data["lead_file"].read())
            saved = import_upload_start(
                stream=form.cleaned_data["stream"],
                file=file,
                options=ImportOptions(
                    format=form.cleaned_data["format"],
                    time_zone=form.cleaned_data["time_zone"],
                    day_first=form.cleaned_data["day_first"],
                ),
                filename=upload.name,
                mapping=form.cleaned_data["mapping_file"],
                user_id=request.user.pk,
            )
        except ImportRejected as exc:
            lead_export = exc.message.startswith("The Lead export")
            form.add_error("lead_file" if lead_export else "file", exc.message)
        else:
            if "scan" not in saved.options:  # a large file is read on a worker
                return _start_job(request, saved, SCAN_JOB, import_scan_task, "")
            return redirect("funnel:import_map", pk=saved.pk)
    status = 400 if form.errors else 200
    return render(request, "funnel/import_start.html", {"form": form}, status=status)


def _upload_for(request: HttpRequest, pk: int) -> ImportUpload:
    upload = get_object_or_404(
        ImportUpload.objects.select_related("stream", "job").defer("data"), pk=pk
    )
    if not stream_can_edit(user=request.user, stream=upload.stream):
        raise PermissionDenied("Only the team's managers and admins import into this stream.")
    return upload


def _options(upload: ImportUpload) -> ImportOptions:
    return ImportOptions.from_dict({"format": upload.format, **(upload.options or {})})


def _check_job(upload: ImportUpload, job_id: str | None) -> Job | None:
    """The check job ``?check=`` names, if it is this upload's latest (an older one checked
    another mapping)."""
    pk = parse_id(job_id)
    if pk is None or pk != upload.options.get("check_job"):
        return None
    return Job.objects.filter(pk=pk, kind=CHECK_JOB, params__upload=upload.pk).first()


def _verdict(job: Job | None) -> tuple[ImportResult | None, ImportRejected | None]:
    if job is None or job.state != JobState.DONE:
        return None, None
    result = job.result or {}
    if result.get("verdict") == "ok":
        return ImportResult.from_dict(result), None
    errors = [RowError(**e) for e in result.get("errors", [])]
    return None, ImportRejected(
        result.get("message", ""), errors, error_count=result.get("error_count", len(errors))
    )


def _enqueue(task, job: Job, upload: ImportUpload) -> None:
    if not enqueue(task, job.pk, upload.pk):  # no broker: do it here, slower but never stuck
        task.apply((job.pk, upload.pk))


def _start_job(request: HttpRequest, upload: ImportUpload, kind: str, task, query: str):
    """Run ``task`` on the upload as a job that returns to the mapping page: at once for a
    small file, on a worker with a progress bar for a large one (the web worker neither waits
    nor reads the file's rows)."""
    job = job_create(
        kind=kind,
        params={"upload": upload.pk, "file": upload.filename},
        created_by=request.user,
        team=upload.stream.team,
    )
    page = reverse("funnel:import_map", args=[upload.pk]) + query.format(job=job.pk)
    Job.objects.filter(pk=job.pk).update(params={**job.params, "next": page})
    if kind == CHECK_JOB:
        upload.options = {**upload.options, "check_job": job.pk}
        upload.save(update_fields=["options"])
    if upload_size(upload) <= settings.VSM_IMPORT_CHECK_INLINE_BYTES:
        task.apply((job.pk, upload.pk))
        return redirect(page)
    transaction.on_commit(lambda: _enqueue(task, job, upload))
    return redirect("job_detail", pk=job.pk)


def _start_check(request: HttpRequest, upload: ImportUpload) -> HttpResponse:
    return _start_job(request, upload, CHECK_JOB, import_check_task, "?check={job}#verdict")


def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Map columns, stages and owners (with a preview), then check the whole file."""
    upload = _upload_for(request, pk)
    if (
        "scan" not in upload.options
        and upload_size(upload) > settings.VSM_IMPORT_CHECK_INLINE_BYTES
    ):
        # A large file not read yet: follow its reading, or start it again if it never ran.
        reading = (
            Job.objects.filter(kind=SCAN_JOB, params__upload=upload.pk)
            .exclude(state=JobState.FAILED)
            .first()
        )
        if reading is not None:
            return redirect("job_detail", pk=reading.pk)
        return _start_job(request, upload, SCAN_JOB, import_scan_task, "")
    table = upload_table(upload)
    options = _options(upload)
    stream = upload.stream
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
        # Owner choices travel with their names, so a changed owner column cannot shift them.
        members = {username for username, _ in team_owners(stream)}
        options.owners = {
            request.POST[key]: choice
            for key in request.POST
            if key.startswith("owner-name-")
            and (choice := request.POST.get("owner-" + key.removeprefix("owner-name-"), ""))
            in members | {""}
        }
        upload.options = {
            **upload.options,
            "columns": options.columns,
            "steps": options.steps,
            "owners": options.owners,
        }
        upload.save(update_fields=["options"])
        return _start_check(request, upload)
    check = _check_job(upload, request.GET.get("check"))
    checked, rejection = _verdict(check)
    stages = source_stages(table, options)
    unknown = set(unknown_stages(stream, table, options))
    defaults = stage_defaults(stream, table, options)
    step_names = list(stream.steps.order_by("position").values_list("name", flat=True))
    owners = source_owners(stream, table, options)
    return render(
        request,
        "funnel/import_map.html",
        {
            "upload": upload,
            "table": table,
            "start": upload.options.get("start") or {},
            "size": upload_size(upload),
            "preview": table.rows[:PREVIEW_ROWS],
            "fields": [(f, options.columns.get(f.name, "")) for f in FIELDS[options.format]],
            "stages": [
                (
                    i,
                    name,
                    # An obvious outcome (Closed Won) is proposed as the outcome, chosen.
                    options.steps.get(name) or obvious_outcome(name, options.format) or "",
                    name in unknown,
                    defaults[name],
                )
                for i, name in enumerate(stages)
            ],
            "owners": [
                (i, o, options.owners.get(o.name, o.member or "")) for i, o in enumerate(owners)
            ],
            "members": team_owners(stream),
            "step_names": step_names,
            "special": STAGE_TARGET_SPECIAL,
            "check": check,
            "checked": checked,
            "rejection": rejection,
            "errors": rejection.errors[:MAX_ERRORS_SHOWN] if rejection else [],
        },
        status=400 if rejection else 200,
    )


def import_errors_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The bad rows of the upload's last check, as CSV (row, column, reason): every one for a
    file small enough to check in the request, the first the check job kept otherwise."""
    upload = _upload_for(request, pk)
    if upload_size(upload) <= settings.VSM_IMPORT_CHECK_INLINE_BYTES:
        try:
            import_upload_check(upload=upload, user_id=request.user.pk)
            errors = []
        except ImportRejected as exc:
            errors = exc.errors
    else:
        _, rejection = _verdict(_check_job(upload, str(upload.options.get("check_job", ""))))
        errors = rejection.errors if rejection else []
    response = HttpResponse(errors_csv(errors), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{upload.pk}-errors.csv"'
    return response


@require_POST
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Import in the background (Celery) and follow the progress bar."""
    upload = _upload_for(request, pk)
    # A job that never reached a worker (the queue was down) may be started again.
    if upload.job_id and not job_restartable(upload.job):
        return redirect("job_detail", pk=upload.job_id)
    job = job_create(
        kind="import",
        params={
            "upload": upload.pk,
            "file": upload.filename,
            "next": reverse("funnel:deal_list") + "?scope=team",
            "restart": reverse("funnel:import_run", args=[upload.pk]),
        },
        created_by=request.user,
        team=upload.stream.team,
    )
    upload.job = job
    upload.save(update_fields=["job"])
    # Views run in autocommit: the job is stored for the worker already. With Redis down the
    # job fails at once saying so, and its page offers to start it again.
    if job_enqueue(job, import_events_task, upload.pk):
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
