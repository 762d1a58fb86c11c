import json
import os
import time
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from funnel.importing import (
    IMPORT_FORMATS,
    ImportOptions,
    ImportRejected,
    ImportResult,
    RowError,
    errors_csv,
    guess_columns,
    import_events,
    import_upload_create,
    join_lead_export,
    load_mapping,
    max_import_bytes,
    read_table,
    validate,
)
from funnel.tasks import import_events_task
from streams.models import Job, JobState, ValueStream
from streams.services import job_create
from vsm_project.background import job_enqueue

ERRORS_PRINTED = 50


class Command(BaseCommand):
    help = (
        "Import a CSV event log into a value stream: all of it or nothing. Formats: visits "
        "(one row per visit), transitions (one row per stage change, e.g. Salesforce "
        "OpportunityHistory), wide (one row per deal, e.g. HubSpot's Date entered columns), "
        "hs_contacts (HubSpot contacts with lifecycle dates), sf_leads (Salesforce lead "
        "history, with --leads for the Lead export), xes (an XES event log, plain or gzipped). "
        "Importing the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file (UTF-8), or an XES log (.xes, .xes.gz).")
        parser.add_argument("--stream", required=True, help="Slug of the value stream.")
        parser.add_argument("--format", required=True, choices=IMPORT_FORMATS)
        parser.add_argument(
            "--leads",
            help="sf_leads only: Salesforce's Lead export (Id, Name, Company, LeadSource, "
            "Owner, CreatedDate, Status, ConvertedDate), joined to the lead history FILE.",
        )
        parser.add_argument(
            "--mapping",
            help='JSON or YAML file: {"columns": {field: header}, "steps": {stage: step|won|'
            'lost|ignore}, "owners": {name: username or "" to keep the name}, "time_zone": …, '
            '"day_first": …} (docs/importing.md). Columns it leaves out are guessed.',
        )
        parser.add_argument(
            "--time-zone", help="Time zone of times without an offset (default UTC)."
        )
        parser.add_argument(
            "--day-first", action="store_true", help="Dates are day first: 20/10/2016."
        )
        parser.add_argument(
            "--background", action="store_true", help="Run as a Celery task; follow its progress."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and say what would change."
        )
        parser.add_argument("--errors-csv", help="On rejection, write every row error here.")

    def handle(self, *args, **opts) -> None:
        try:
            stream = ValueStream.objects.select_related("team").get(slug=opts["stream"])
        except ValueStream.DoesNotExist:
            raise CommandError(f"No value stream with slug '{opts['stream']}'.") from None
        path = Path(opts["file"])
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        limit = max_import_bytes()
        with ExitStack() as stack:
            try:
                if size > limit:
                    raise ImportRejected(
                        f"The file is {size / 1024 / 1024:,.0f} MB; the limit is "
                        f"{limit / 1024 / 1024:,.0f} MB (VSM_IMPORT_MAX_BYTES). Split it."
                    )
                # An XES log is read from the file a chunk at a time (a 1,000,000-event log is
                # about 320 MB); the table formats are read into memory.
                data: bytes | BinaryIO = (
                    stack.enter_context(path.open("rb"))
                    if opts["format"] == "xes"
                    else path.read_bytes()
                )
                if opts["leads"]:
                    if opts["format"] != "sf_leads":
                        raise CommandError("--leads goes with --format sf_leads only.")
                    try:
                        leads = Path(opts["leads"]).read_bytes()
                    except OSError as exc:
                        raise CommandError(f"Cannot read {opts['leads']}: {exc.strerror}.") from exc
                    data = join_lead_export(data, leads)
                options = self._options(data, opts)
                started = time.monotonic()
                if opts["dry_run"]:
                    result = validate(stream, read_table(data), options)
                    self._report(result, time.monotonic() - started, dry_run=True)
                    return
                if opts["background"]:
                    result = self._background(stream, path.name, data, options)
                else:
                    self.stdout.write(f"Importing {path.name} into {stream.name} ({size:,} bytes)")
                    result = import_events(
                        stream=stream, data=data, options=options, progress=self._printer()
                    )
                self._report(result, time.monotonic() - started, dry_run=False)
            except ImportRejected as exc:
                self._rejected(exc, opts.get("errors_csv"))

    def _options(self, data: bytes | BinaryIO, opts: dict) -> ImportOptions:
        mapping = load_mapping(Path(opts["mapping"]).read_text("utf-8")) if opts["mapping"] else {}
        columns = dict(mapping.get("columns", {}))
        if columns or not mapping:
            # The mapping names the columns to change; the rest are guessed from the header.
            columns = {**guess_columns(read_table(data), opts["format"]), **columns}
        return ImportOptions(
            format=opts["format"],
            time_zone=opts["time_zone"] or mapping.get("time_zone") or "UTC",
            day_first=opts["day_first"] or bool(mapping.get("day_first", False)),
            columns={k: v for k, v in columns.items() if v},
            steps=dict(mapping.get("steps", {})),
            owners=dict(mapping.get("owners", {})),
        )

    def _printer(self):
        last = {"pct": -1}

        def show(done: int, total: int, message: str) -> None:
            pct = int(100 * done / total) if total else 100
            if pct != last["pct"]:
                last["pct"] = pct
                self.stdout.write(f"  [{pct:3d}%] {message}")

        return show

    def _background(
        self, stream: ValueStream, filename: str, data: bytes | BinaryIO, options: ImportOptions
    ) -> ImportResult:
        job = job_create(
            kind="import", params={"file": filename, "stream": stream.slug}, team=stream.team
        )
        upload = import_upload_create(
            stream=stream, data=data, options=options, filename=filename, job=job
        )
        self.stdout.write(f"Queued job #{job.pk} for upload #{upload.pk}")
        if not job_enqueue(job, import_events_task, upload.pk):
            raise CommandError(f"{job.error} (job #{job.pk}: run this command again)")
        show = self._printer()
        seen = None
        while True:
            job = Job.objects.get(pk=job.pk)
            if (job.done, job.state) != seen:
                seen = (job.done, job.state)
                show(job.done, job.total, job.message or job.state)
            if job.state == JobState.DONE:
                return ImportResult.from_dict(job.result)
            if job.state == JobState.FAILED:
                errors = job.result.get("errors") if isinstance(job.result, dict) else None
                if errors is not None:
                    raise ImportRejected(
                        job.error,
                        [RowError(**e) for e in errors],
                        error_count=job.result.get("error_count", len(errors)),
                    )
                raise CommandError(f"The import task failed: {job.error}")
            time.sleep(0.5)

    def _report(self, result: ImportResult, seconds: float, *, dry_run: bool) -> None:
        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {result.rows:,} rows in {seconds:.1f} s: {result.deals_created:,} deals "
                f"created, {result.deals_updated:,} updated, {result.deals_unchanged:,} "
                f"unchanged; {result.visits_written:,} visits written."
            )
        )
        for note in result.notes:
            self.stdout.write(note)

    def _rejected(self, exc: ImportRejected, errors_path: str | None) -> None:
        self.stderr.write(exc.message)
        if exc.unknown_stages:
            example = json.dumps({"steps": {exc.unknown_stages[0]: "<step, won, lost or ignore>"}})
            self.stderr.write(f"Map them with --mapping FILE, a JSON or YAML file like {example}.")
        for e in exc.errors[:ERRORS_PRINTED]:
            self.stderr.write(f"  row {e.row}, {e.column or '-'}: {e.reason}")
        if exc.error_count > ERRORS_PRINTED:
            self.stderr.write(f"  … and {exc.error_count - ERRORS_PRINTED:,} more.")
        if errors_path and exc.errors:
            Path(errors_path).write_text(errors_csv(exc.errors), "utf-8")
            self.stderr.write(f"Every row error is in {errors_path}.")
        raise CommandError("Nothing was imported.")
