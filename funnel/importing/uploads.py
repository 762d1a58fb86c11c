"""The entry points: the import itself (all or nothing), the check, and the wizard's uploads
(stored, scanned, checked) and remembered mappings.
"""

from __future__ import annotations

import csv
import io
import struct
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, BinaryIO

import psycopg
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Length
from django.utils import timezone

from funnel.eventlog.services import event_log_analyze
from funnel.importing.cells import neutralise
from funnel.importing.checking import _Builder
from funnel.importing.mapping import _check_format, guess_columns, options_with_mapping, source_key
from funnel.importing.plan import _Plan
from funnel.importing.reading import (
    Table,
    _megabytes,
    column_values,
    max_import_bytes,
    read_table,
    scan_as_json,
    scan_from_json,
)
from funnel.importing.types import ImportOptions, ImportRejected, ImportResult, Progress, RowError
from funnel.importing.writing import _Writer
from funnel.metrics.snapshots import metrics_changed
from funnel.models import ImportMapping, ImportUpload
from streams.models import JobState, ProcessStep, ValueStream

# --- Public entry points ----------------------------------------------------------------------


class _Phases:
    """Maps the two phases (reading rows, writing deals) onto one progress scale."""

    def __init__(self, progress: Progress | None, rows: int) -> None:
        self.progress = progress
        self.rows = max(rows, 1)
        self.total = 2 * self.rows
        self.deals = 1

    def read(self, done: int, message: str) -> None:
        if self.progress:
            self.progress(min(done, self.rows), self.total, message)

    def write(self, done: int, message: str) -> None:
        if self.progress:
            share = self.rows * done // max(self.deals, 1)
            self.progress(min(self.rows + share, self.total), self.total, message)


def _plan(
    stream: ValueStream, table: Table, options: ImportOptions, phases: _Phases | None = None
) -> _Plan:
    return _Builder(stream, table, options, phases.read if phases else None).build()


def validate(stream: ValueStream, table: Table, options: ImportOptions) -> ImportResult:
    """Dry run: read and check the whole file and compare it with what the stream holds.
    Raises :class:`ImportRejected`, or returns what :func:`import_events` would do."""
    plan = _plan(stream, table, options)
    return _Writer(stream, plan, write=False, progress=None).run()


def import_events(
    *,
    stream: ValueStream,
    data: bytes | BinaryIO,
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the CSV ``data`` (its bytes, or a binary file: :func:`read_table`) into
    ``stream``: everything, or nothing (see the module docstring). ``progress(done, total,
    message)`` is called while it runs; inside the write
    transaction, so a caller that records it in the database must do so on another
    connection to make it visible before the end."""
    table = read_table(data)
    phases = _Phases(progress, table.row_estimate())
    plan = _plan(stream, table, options, phases)
    phases.deals = len(plan.deals)
    try:
        with transaction.atomic():
            _lock(stream, plan)
            result = _Writer(stream, plan, write=True, progress=phases.write).run()
    except (IntegrityError, DataError) as exc:
        raise ImportRejected(
            f"The database refused the import, so nothing was stored: {exc}".strip()
        ) from exc
    if result.deals_created or result.deals_updated:
        # Fresh planner statistics before the recompute queued below reads the new rows (a
        # first recompute on stale ones took 6.0 s instead of 0.6 s after 8,800 deals). An
        # import that changed nothing touched no table and owes no recompute.
        event_log_analyze()
        metrics_changed(stream_id=stream.pk)
    if progress:
        progress(phases.total, phases.total, "Done")
    return result


def _lock(stream: ValueStream, plan: _Plan) -> None:
    """Lock the stream row (map edits and other imports of it wait) and make sure its steps
    are still the ones the file was checked against."""
    list(ValueStream.objects.select_for_update().filter(pk=stream.pk).values_list("pk"))
    steps = list(
        ProcessStep.objects.filter(stream=stream).order_by("position").values_list("id", "name")
    )
    if [pk for pk, _ in steps] != plan.step_ids or [n for _, n in steps] != plan.step_names:
        raise ImportRejected(
            "The stream's steps changed while the file was being checked; import it again."
        )


def errors_csv(errors: list[RowError]) -> str:
    """The errors as CSV with the header ``row,column,reason`` (cells neutralised against
    spreadsheet formulas)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "column", "reason"])
    for e in errors:
        writer.writerow([e.row, neutralise(e.column), neutralise(e.reason)])
    return out.getvalue()


def import_upload_create(
    *,
    stream: ValueStream,
    data: bytes | BinaryIO,
    options: ImportOptions,
    filename: str = "",
    uploaded_by=None,
    job=None,
) -> ImportUpload:
    """Store a file (its bytes, or a binary file read in chunks) for a background import
    (:func:`funnel.tasks.import_events_task`)."""
    _check_format(options.format)
    file = io.BytesIO(data) if isinstance(data, bytes) else data
    size = _file_size(file)
    return _store_upload(
        file,
        size,
        stream=stream,
        uploaded_by_id=getattr(uploaded_by, "pk", None),
        filename=filename,
        format=options.format,
        options={**options.as_dict(), "size": size},
        job=job,
    )


@transaction.atomic
def _store_upload(file: BinaryIO, size: int, **fields: Any) -> ImportUpload:
    """One stored upload: on PostgreSQL its bytes are streamed into the row in chunks after
    it is created (:func:`_store_upload_data`), elsewhere they are the row's ``data``."""
    streamed = connection.vendor == "postgresql"
    fields["filename"] = fields.get("filename", "")[:200]
    upload = ImportUpload.objects.create(data=b"" if streamed else file.read(), **fields)
    if streamed:
        _store_upload_data(upload.pk, file, size)
    return upload


def import_uploads_prune(*, older_than_days: int = 7) -> int:
    """Delete uploaded files older than ``older_than_days`` whose import is not queued or
    running (a finished or failed import, or a wizard left before it started one); they can
    weigh hundreds of megabytes each. Returns how many were deleted."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    busy = Q(job__state__in=[JobState.QUEUED, JobState.RUNNING])
    deleted, _ = ImportUpload.objects.filter(created_at__lt=cutoff).exclude(busy).delete()
    return deleted


def import_mapping_for(*, stream: ValueStream, headers: Sequence[str], format: str):
    """The mapping remembered for files of this source (format and columns) in ``stream``,
    or None."""
    return ImportMapping.objects.filter(
        stream=stream, source_key=source_key(headers, format)
    ).first()


@transaction.atomic
def import_mapping_remember(
    *,
    stream: ValueStream,
    headers: Sequence[str],
    options: ImportOptions,
    filename: str = "",
    user_id: int | None = None,
) -> ImportMapping:
    """Remember how a file of this source was read, for the next upload of one (upsert)."""
    mapping, _ = ImportMapping.objects.update_or_create(
        stream=stream,
        source_key=source_key(headers, options.format),
        defaults={
            "format": options.format,
            "filename": filename[:200],
            "columns": dict(options.columns),
            "steps": dict(options.steps),
            "owners": dict(options.owners),
            "time_zone": options.time_zone or "UTC",
            "day_first": options.day_first,
            "updated_by_id": user_id,
        },
    )
    return mapping


#: The wizard reads this much of a large upload in the request (the header and first rows);
#: the rest is read on a worker.
UPLOAD_HEAD = 1 << 20
UPLOAD_CHUNK = 4 << 20


def _file_size(file: BinaryIO) -> int:
    size = getattr(file, "size", None)
    if size is None:
        file.seek(0, io.SEEK_END)
        size = file.tell()
    file.seek(0)
    return int(size)


def _cut_head(head: bytes) -> bytes:
    """``head`` up to its last line end (a cut line would read as a broken row)."""
    end = head.rfind(b"\n")
    return head[: end + 1] if 0 <= end < len(head) - 1 else head


def _head(file: BinaryIO) -> bytes:
    """The first lines of a file, up to :data:`UPLOAD_HEAD` bytes."""
    file.seek(0)
    head = file.read(UPLOAD_HEAD)
    file.seek(0)
    return _cut_head(head)


def _store_upload_data(upload_pk: int, file: BinaryIO, size: int) -> None:
    """Write a file into ``ImportUpload.data`` on PostgreSQL without holding it in memory:
    a binary ``COPY`` of one row into a temporary table, fed a chunk at a time, then moved.
    (Django's client-side parameters would hold the file several times over as an escaped
    literal: 1.9 GB and half a minute for a 197 MB file.) Inside a transaction."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS funnel_upload_data (data bytea) ON COMMIT DROP"
        )
        with cursor.copy("COPY funnel_upload_data (data) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
            copy.write(struct.pack("!hi", 1, size))
            file.seek(0)
            while chunk := file.read(UPLOAD_CHUNK):
                copy.write(chunk)
            copy.write(struct.pack("!h", -1))
        cursor.execute(
            "UPDATE funnel_importupload SET data = t.data FROM funnel_upload_data t "
            "WHERE funnel_importupload.id = %s",
            [upload_pk],
        )
        cursor.execute("DROP TABLE funnel_upload_data")


#: An upload is read back in slices of this size: libpq would otherwise hold the whole file
#: twice more while it arrives (and keep its buffer): 684 MiB instead of 522 for 197 MB.
READ_SLICE = 16 << 20


def _read_upload(upload: ImportUpload, length: int | None = None) -> bytes:
    if connection.vendor != "postgresql":
        data = bytes(ImportUpload.objects.values_list("data", flat=True).get(pk=upload.pk))
        return data if length is None else data[:length]
    total = upload_size(upload) if length is None else length
    connection.ensure_connection()
    parts = []
    with psycopg.Cursor(connection.connection) as cursor:
        for start in range(0, max(total, 1), READ_SLICE):
            cursor.execute(
                "SELECT substring(data from %s for %s) FROM funnel_importupload WHERE id = %s",
                [start + 1, min(READ_SLICE, total - start) if total else 1, upload.pk],
                binary=True,
            )
            parts.append(cursor.fetchone()[0] or b"")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def upload_bytes(upload: ImportUpload) -> bytes:
    """An uploaded file's bytes. On PostgreSQL read in binary (the ORM reads ``bytea`` as hex
    text: twice the size, decoded in Python); load uploads with ``.defer("data")``."""
    return _read_upload(upload)


class _UploadFile(io.RawIOBase):
    """An upload stored in PostgreSQL read as a file: each read is a slice of its ``data``
    column (binary), so that an XES log is parsed a chunk at a time without the whole file
    in memory (:func:`upload_file`)."""

    def __init__(self, upload_pk: int, size: int) -> None:
        super().__init__()
        self._pk, self._size, self._at = upload_pk, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self._size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def _slice(self, length: int) -> bytes:
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                "SELECT substring(data from %s for %s) FROM funnel_importupload WHERE id = %s",
                [self._at + 1, length, self._pk],
                binary=True,
            )
            data = bytes(cursor.fetchone()[0] or b"")
        self._at += len(data)
        return data

    def readinto(self, buffer) -> int:
        length = min(len(buffer), self._size - self._at)
        if length <= 0:
            return 0
        data = self._slice(length)
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        parts = []
        while self._at < self._size:
            part = self._slice(min(READ_SLICE, self._size - self._at))
            if not part:
                break
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def upload_file(upload: ImportUpload) -> BinaryIO:
    """An uploaded file to read (:func:`funnel.importing.reading.read_table` takes it): on
    PostgreSQL read from the database in slices of :data:`READ_SLICE` as it is read, so an
    XES log is never held whole; elsewhere its bytes in memory."""
    if connection.vendor != "postgresql":
        return io.BytesIO(_read_upload(upload))
    return io.BufferedReader(_UploadFile(upload.pk, upload_size(upload)), READ_SLICE)


def upload_size(upload: ImportUpload) -> int:
    """The size of an uploaded file in bytes, without reading it."""
    size = (upload.options or {}).get("size")
    if size is None:
        size = ImportUpload.objects.filter(pk=upload.pk).values_list(Length("data"), flat=True)[0]
    return int(size or 0)


def import_upload_start(
    *,
    stream: ValueStream,
    file: BinaryIO | bytes,
    options: ImportOptions,
    filename: str = "",
    mapping: dict[str, Any] | None = None,
    user_id: int | None = None,
) -> ImportUpload:
    """Store a file for the wizard with the mapping it starts from: the columns guessed from
    its header, then the mapping remembered for its source in this stream (columns, stages,
    owners), then ``mapping`` (a mapping file's) over both. Raises :class:`ImportRejected`
    when the file cannot be read as a table. ``options["start"]`` says where the mapping
    came from, for the wizard to tell the user.

    A file up to ``VSM_IMPORT_CHECK_INLINE_BYTES`` is read here, every row (its distinct
    values, ``options["scan"]``); of a larger one only the head is, and the file is streamed
    into the database: :func:`import_upload_scan` reads the rest on a worker."""
    if isinstance(file, bytes):
        file = io.BytesIO(file)
    size = _file_size(file)
    limit = max_import_bytes()
    if size > limit:
        raise ImportRejected(
            f"The file is {_megabytes(size)}; the limit is {_megabytes(limit)}. "
            "Split it into smaller files (by date, for example) and import each."
        )
    small = size <= settings.VSM_IMPORT_CHECK_INLINE_BYTES
    data = file.read() if small else None
    table = read_table(data if data is not None else _head(file))
    options = replace(options, columns=guess_columns(table, options.format))
    start: dict[str, Any] = {}
    remembered = import_mapping_for(stream=stream, headers=table.headers, format=options.format)
    if remembered is not None:
        options = options_with_mapping(
            options,
            {"columns": remembered.columns, "steps": remembered.steps, "owners": remembered.owners},
            table.headers,
        )
        start["remembered"] = {
            "filename": remembered.filename,
            "updated_at": remembered.updated_at.isoformat(),
        }
    if mapping:
        options = options_with_mapping(options, mapping, table.headers)
        start["mapping_file"] = True
    extra: dict[str, Any] = {"start": start, "size": size}
    if small:
        extra["scan"] = scan_as_json(column_values(table))  # a small file is read at once
    return _store_upload(
        io.BytesIO(data) if data is not None else file,
        size,
        stream=stream,
        uploaded_by_id=user_id,
        filename=filename,
        format=options.format,
        options={**options.as_dict(), **extra},
    )


def import_upload_scan(*, upload: ImportUpload, progress: Progress | None = None) -> None:
    """Read every row of an uploaded file once for the distinct values of its columns
    (:func:`column_values`), so the wizard lists stages and owners without reading the file
    again on every page (a large file's scan runs on a worker: :func:`import_scan_task`)."""
    table = read_table(upload_file(upload))
    total = table.row_estimate()
    report = (lambda n: progress(min(n, total), total, f"Read {n:,} rows")) if progress else None
    values = scan_as_json(column_values(table, progress=report))
    ImportUpload.objects.filter(pk=upload.pk).update(options={**upload.options, "scan": values})


def upload_table(upload: ImportUpload) -> Table:
    """The uploaded file as a table, with its scan when it has one: of a large file the head
    only (the preview and the header need no more; the lists come from the scan)."""
    scan = scan_from_json((upload.options or {}).get("scan"))
    if scan is not None and upload_size(upload) > settings.VSM_IMPORT_CHECK_INLINE_BYTES:
        table = read_table(_cut_head(_read_upload(upload, UPLOAD_HEAD)))
        table.values = scan
        return table
    table = read_table(upload_file(upload))
    table.values = scan
    return table


def import_upload_check(
    *, upload: ImportUpload, progress: Progress | None = None, user_id: int | None = None
) -> ImportResult:
    """Check an uploaded file with its options (a dry run of the whole import) and, when it
    checks out, remember its mapping for the stream and the file's source. Raises
    :class:`ImportRejected`."""
    table = read_table(upload_file(upload))
    options = ImportOptions.from_dict({"format": upload.format, **(upload.options or {})})
    phases = _Phases(progress, table.row_estimate())
    plan = _plan(upload.stream, table, options, phases)
    phases.deals = len(plan.deals)
    result = _Writer(upload.stream, plan, write=False, progress=phases.write).run()
    import_mapping_remember(
        stream=upload.stream,
        headers=table.headers,
        options=options,
        filename=upload.filename,
        user_id=user_id or upload.uploaded_by_id,
    )
    return result
