"""Import of the event log (metrics.md §1) from CRM exports: all of a file, or nothing.

Three layouts, one row per …

* ``visits`` — visit: deal id, step, entered at, exited at, work minutes, actor, plus optional
  deal columns (deal_name, account, amount, owner, source, outcome, closed_at, lost_reason,
  created_at). This is what :mod:`funnel.exporting` writes, so an export imports back.
* ``transitions`` — stage change, as CRM stage histories export them (Salesforce
  OpportunityHistory: OpportunityId, StageName, CreatedDate, Amount). Each change opens a visit
  at the new step and closes the deal's open visit at the same instant; a change to a won or
  lost stage closes the open visit and sets the outcome; a later change to a step reopens the
  deal. Consecutive rows at the same stage (an amount change) open nothing.
* ``wide`` — deal. Either HubSpot's ``Date entered "<stage>"`` columns (detected from the
  header; sorted by date they become transitions, so a deal's visits run from one stage's date
  to the next), or a simple export with an engage date, a close date and a final stage: one
  visit per deal from the engage date at the stream's first step (or the step the mapping
  gives for the engage date's column name), closed at the close date when the final stage is
  won or lost, open otherwise. A deal without an engage date (never engaged) is stored open
  without a visit; ``ImportResult.notes`` says so.

Stage names match step names case-insensitively; ``ImportOptions.steps`` maps others to a step
or to ``won`` / ``lost`` / ``ignore`` (rows skipped); obvious names (Won, Closed Won,
closedlost …) are outcomes, even beside a step of that name. Every stage that is none of these
is listed in one error.

Owners are members (username or email, or ``ImportOptions.owners`` mapping a name to one);
any other name is kept as ``Deal.owner_name``: a file is never refused for names.

Rules of the whole import:

* **All or nothing.** The file is read and checked completely first; any bad row rejects it,
  with every problem listed (:class:`RowError`: row as in the file with the header as row 1,
  column as headed in the file, reason). Then one transaction writes it: deals with
  ``bulk_create``, visits with PostgreSQL ``COPY`` (``bulk_create`` on SQLite).
* **Idempotent.** Deals are keyed on their external id. A deal whose fields and visits equal
  the file's is not touched; one that differs (its history grew) gets the file's version:
  unchanged visits keep their rows, changed ones are updated, new ones inserted, and visits
  the file no longer has are deleted. Deals of the stream that the file does not mention are
  left alone. Deal columns the file lacks keep their stored values.
* **Times.** ISO 8601 with or without offset, ``10/20/2016`` (``day_first`` for 20/10/2016),
  ``10/20/2016 2:05 PM``, ``20.10.2016 14:05``, ``2016/10/20``, epoch milliseconds (HubSpot)
  or seconds. Times without an offset are in ``ImportOptions.time_zone`` (zoneinfo); a time
  that does not exist there (a spring-forward gap) is an error, an ambiguous one (fall back)
  is taken as the first of the two. Times in the future are errors.
* **Safety.** Not a table (a PDF, image, archive, workbook, JSON, XML, one column), not
  UTF-8, empty, a NUL byte (its row named), duplicate headers, missing required columns, more
  than ``VSM_IMPORT_MAX_BYTES`` (200 MB) or ``VSM_IMPORT_MAX_COLUMNS`` (500): one clear
  message. Cells of the mapped columns that a spreadsheet would run as formulas
  (:mod:`funnel.csv_safety`: after blanks, ``=`` ``@`` or ``+``/``-`` before something that is
  not a plain number or date, full-width forms too) are row errors; a leading ``'`` that
  neutralises one (as the export writes) is removed.
* **Afterwards.** An import that wrote anything refreshes the planner's statistics and
  schedules the metrics recompute; one that changed nothing does neither.
* **Memory.** Rows are streamed from the file; visits are held as a few integer arrays (about
  60 bytes each) and written a chunk of deals at a time, never as model instances for all.
"""

from __future__ import annotations

import array
import codecs
import csv
import hashlib
import io
import itertools
import json
import operator
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import psycopg
import yaml
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Length
from django.utils import timezone

from funnel import csv_safety
from funnel.metrics.snapshots import metrics_changed
from funnel.models import Deal, DealStatus, ImportMapping, ImportUpload, Visit
from funnel.paths import deal_paths_refresh, path_facts
from funnel.services import event_log_analyze
from streams.models import JobState, Membership, ProcessStep, Role, ValueStream

FORMATS = ("visits", "transitions", "wide")
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: Row errors kept for the report; more are counted (``ImportRejected.error_count``) only.
MAX_ERRORS = 100_000
#: Deals written (and compared with stored ones) per round trip.
CHUNK_DEALS = 2_000
CLOCK_SKEW = timedelta(minutes=5)
WON, LOST, IGNORE = "won", "lost", "ignore"

Progress = Callable[[int, int, str], None]


# --- Public types ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A canonical field the wizard maps a file column to."""

    name: str
    label: str
    required: bool
    help: str


_DEAL_FIELDS = [
    Field("deal_name", "Deal name", False, "Defaults to the deal id."),
    Field("account", "Account", False, "Company or account name."),
    Field("amount", "Amount", False, "A number (12345.67; 12,345.67 and a $ € £ sign are fine)."),
    Field(
        "owner",
        "Owner",
        False,
        "A team member's username or email, or any name (a CRM agent's display name): names "
        "that are not members are kept as the deal's owner name, or matched to a member below.",
    ),
    Field("source", "Lead source", False, "inbound, outbound, referral …"),
]
FIELDS: dict[str, list[Field]] = {
    "visits": [
        Field("deal_id", "Deal id", True, "The deal's id in the CRM (the case id)."),
        Field(
            "step",
            "Step",
            True,
            "The process step of the visit. A won or lost stage here sets the outcome instead.",
        ),
        Field("entered_at", "Entered at", True, "When the deal arrived at the step."),
        Field("exited_at", "Exited at", False, "When it left; empty while it is still there."),
        Field("work_minutes", "Work minutes", False, "Hands-on minutes, a whole number."),
        Field(
            "actor",
            "Actor",
            False,
            "Who did the work: a team member's username or email, or any name or role.",
        ),
        *_DEAL_FIELDS,
        Field("outcome", "Outcome", False, "won, lost or open (empty: open)."),
        Field(
            "closed_at",
            "Closed at",
            False,
            "When a won or lost deal closed; empty: when it left its last step.",
        ),
        Field("lost_reason", "Lost reason", False, "Only for lost deals."),
        Field(
            "created_at", "Created at", False, "When the deal was created; empty: its first visit."
        ),
    ],
    "transitions": [
        Field("deal_id", "Deal id", True, "The deal's id (Salesforce: OpportunityId)."),
        Field("stage", "Stage", True, "The stage the deal changed to (StageName)."),
        Field("changed_at", "Changed at", True, "When it changed (CreatedDate)."),
        Field("actor", "Changed by", False, "Becomes the actor of the visit the change opens."),
        *_DEAL_FIELDS,
        Field("lost_reason", "Lost reason", False, "Kept only when the deal ends lost."),
        Field(
            "created_at", "Created at", False, "When the deal was created; empty: its first change."
        ),
    ],
    "wide": [
        Field("deal_id", "Deal id", True, "The deal's id (HubSpot: Record ID)."),
        Field(
            "stage",
            "Final stage",
            False,
            "Current or final stage (Won, Lost, or an open stage). Required unless the file "
            'has Date entered "<stage>" columns.',
        ),
        Field(
            "entered_at",
            "Engage date",
            False,
            "When the deal entered the stream (its first step). Required unless the file has "
            'Date entered "<stage>" columns.',
        ),
        Field(
            "closed_at",
            "Close date",
            False,
            "When a won or lost deal closed (ignored for open deals: an expected date).",
        ),
        *_DEAL_FIELDS,
        Field("lost_reason", "Lost reason", False, "Kept only when the deal is lost."),
        Field(
            "created_at", "Created at", False, "When the deal was created; empty: its first date."
        ),
    ],
}


@dataclass
class ImportOptions:
    format: str
    time_zone: str = "UTC"
    day_first: bool = False
    #: canonical field -> file header. Empty: guessed (:func:`guess_columns`); otherwise
    #: complete: a field left out is not read.
    columns: dict[str, str] = field(default_factory=dict)
    #: source stage name -> step name, or "won" / "lost" / "ignore".
    steps: dict[str, str] = field(default_factory=dict)
    #: owner name in the file -> username or email of a manager or rep of the team, or ""
    #: to keep it as an external owner name. Names left out that match a member's username or
    #: email are that member; any other name is kept as the deal's ``owner_name``.
    owners: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportOptions:
        return cls(
            format=data["format"],
            time_zone=data.get("time_zone") or "UTC",
            day_first=bool(data.get("day_first", False)),
            columns=dict(data.get("columns") or {}),
            steps=dict(data.get("steps") or {}),
            owners=dict(data.get("owners") or {}),
        )


@dataclass(slots=True)
class RowError:
    row: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


class ImportRejected(Exception):
    """Nothing was imported. File-level problems have ``errors == []`` and say why in
    ``message``; row problems list every error (up to :data:`MAX_ERRORS`; ``error_count``
    counts them all)."""

    def __init__(
        self,
        message: str,
        errors: list[RowError] | None = None,
        *,
        error_count: int | None = None,
        unknown_stages: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.error_count = len(self.errors) if error_count is None else error_count
        #: Stages that match no step (the caller says how to map them: wizard or --mapping).
        self.unknown_stages = unknown_stages or []


@dataclass
class Table:
    """A parsed CSV file. ``rows`` excludes the header and blank lines. From
    :func:`read_table` it is a lazy sequence that re-reads the file when iterated (so a million
    rows are never all in memory); ``len()`` and slices near the start (a preview) work."""

    headers: list[str]
    rows: Sequence[list[str]]
    #: The distinct values of each column with their counts (:func:`column_values`), when a
    #: scan of the file is at hand: the wizard's lists of stages and owners then come from
    #: it instead of from reading every row again.
    values: dict[str, dict[str, int]] | None = None

    def numbered_rows(self) -> Iterator[tuple[int, list[str]]]:
        """``(row number as in the file, header = 1; cells)`` of every data row."""
        if isinstance(self.rows, _CsvRows):
            return self.rows.numbered()
        return ((i + 2, list(r)) for i, r in enumerate(self.rows))

    def row_estimate(self) -> int:
        """At least the number of data rows, without reading the file (for progress)."""
        if isinstance(self.rows, _CsvRows):
            return self.rows.estimate
        return len(self.rows)

    def may_hold_formulas(self) -> bool:
        if isinstance(self.rows, _CsvRows):
            return self.rows.may_hold_formulas
        return True


@dataclass
class ImportResult:
    deals_created: int
    deals_updated: int
    deals_unchanged: int
    #: Visits inserted or updated (a dry run: that would be).
    visits_written: int
    #: Data rows in the file.
    rows: int
    #: Deals stored without a visit: never engaged (a simple wide file without engage date).
    deals_without_visit: int = 0
    #: Distinct owner names kept as names (not team members).
    owner_names_kept: int = 0
    #: How the import read what was not plain, in words for the summary.
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The counts, and the notes as one sentence each in a string (a job's result)."""
        values = asdict(self)
        values["notes"] = " ".join(self.notes)
        return values

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportResult:
        notes = data.get("notes") or ""
        return cls(
            **{k: int(data.get(k) or 0) for k in cls.__dataclass_fields__ if k != "notes"},
            notes=[notes] if isinstance(notes, str) and notes else list(notes or []),
        )


# --- Reading the file ------------------------------------------------------------------------

# For the scan of a whole file for cells that may begin with a formula character: bytes that
# end a cell (L) and bytes a formula or its neutralising quote begins with (S).
# Blanks a spreadsheet skips before a formula (space, CR) are W.
_SCAN = bytes(
    ord("L")
    if b in b',;\t\n"'
    else ord("S")
    if b in b"=+-@'"
    else ord("W")
    if b in b" \r"
    else ord("x")
    for b in range(256)
)
# UTF-8 of the full-width forms ＝＠＋－ (EF BC ..) and of the ideographic space (E3 80 80).
_WIDE_LEADS = (b"\xef\xbc\x9d", b"\xef\xbc\xa0", b"\xef\xbc\x8b", b"\xef\xbc\x8d", b"\xe3\x80\x80")


def _may_hold_formulas(data: bytes, chunk: int = 8 << 20) -> bool:
    """Whether any cell may begin, after blanks, with = + - @ (or their full-width forms) or
    ', so that cells need checking one by one (a million rows without any are read faster).
    Scans in chunks, in bounded memory."""
    if any(lead in data for lead in _WIDE_LEADS):
        return True
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if data[start : start + 256].translate(_SCAN, b" \r")[:1] == b"S":
        return True
    # Blanks deleted, "L S" (a cell of blanks before a formula) reads "LS" too.
    return any(
        data[i : i + chunk + 256].translate(_SCAN, b" \r").find(b"LS") >= 0
        for i in range(0, len(data), chunk)
    )


class _CsvRows(Sequence[list[str]]):
    """The data rows of a CSV held as bytes, parsed again on every iteration."""

    def __init__(self, data: bytes, delimiter: str, may_hold_formulas: bool) -> None:
        self._data = data
        self._delimiter = delimiter
        self._len: int | None = None
        self.may_hold_formulas = may_hold_formulas
        # Every record but the last ends with a newline, the header is one of them.
        self.estimate = max(1, data.count(b"\n"))

    def _reader(self) -> Iterator[list[str]]:
        text = io.TextIOWrapper(io.BytesIO(self._data), encoding="utf-8-sig", newline="")
        return csv.reader(text, delimiter=self._delimiter, strict=True)

    def numbered(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader()
        number = 1
        try:
            next(reader, None)  # the header
            for cells in reader:
                number += 1
                if cells and (cells[0] or any(cells)):
                    yield number, cells
        except csv.Error as exc:
            raise ImportRejected(
                f"Row {number + 1} is not valid CSV ({exc}); check its quotes."
            ) from exc

    def __iter__(self) -> Iterator[list[str]]:
        return (cells for _, cells in self.numbered())

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for _ in self.numbered())
        return self._len

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            if (index.start or 0) >= 0 and index.stop is not None and index.stop >= 0:
                return list(itertools.islice(iter(self), index.start, index.stop, index.step))
            return list(self)[index]
        if index < 0:
            index += len(self)
        for i, row in enumerate(self):
            if i == index:
                return row
        raise IndexError(index)


DEFAULT_MAX_COLUMNS = 500

#: File signatures of things people upload instead of a table, and what each is.
_NOT_TABLES = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip-compressed file (unpack it first)"),
    (b"7z\xbc\xaf", "a 7-Zip archive (unpack it first)"),
    (b"Rar!", "a RAR archive (unpack it first)"),
)


def max_import_columns() -> int:
    return int(getattr(settings, "VSM_IMPORT_MAX_COLUMNS", DEFAULT_MAX_COLUMNS))


def _refuse_non_tables(data: bytes) -> None:
    """Refuse, with what it seems to be, a file that is not a table of text."""
    for signature, what in _NOT_TABLES:
        if data.startswith(signature):
            raise ImportRejected(
                f"This is {what}, not a table. Export the data from the CRM as CSV and upload that."
            )
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        raise ImportRejected(
            "This file is JSON, not a table. Export the data as CSV; a column and stage "
            "mapping in JSON belongs in the mapping file field."
        )
    if head[:1] == b"<":
        raise ImportRejected(
            "This file is XML or HTML (an XES event log or a web page), not a CSV table. "
            "Export the data as CSV and upload that."
        )
    sample = data[:65536]
    if sample.count(b"\x00") > len(sample) // 10:
        raise ImportRejected(
            "This file is not a text table: it is mostly NUL bytes (UTF-16 text without a "
            "byte order mark, or a binary file). Save it as CSV UTF-8 and upload that."
        )


def _refuse_nul(data: bytes, delimiter: str) -> None:
    """A NUL byte (an invisible control character) is no part of any CSV export: refuse the
    file naming its row (header = row 1) and column."""
    at = data.find(b"\x00")
    if at < 0:
        return
    before = data[:at].decode("utf-8", "replace")
    records = list(
        csv.reader(
            io.StringIO(before.removeprefix("\ufeff") + "X", newline=""), delimiter=delimiter
        )
    )
    row = len(records)
    header = records[0] if records else []
    column = len(records[-1]) - 1 if records else 0
    name = header[column].strip() if row > 1 and column < len(header) else ""
    where = f"row {row}" + (f", column '{name}'" if name else "")
    raise ImportRejected(
        f"The file holds a NUL byte (an invisible control character) in {where}. A CSV export "
        "never has one: remove it, or export the file again, and upload it."
    )


def max_import_bytes() -> int:
    return int(getattr(settings, "VSM_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def _megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:,.1f} MB" if n < 10 * 1024 * 1024 else f"{n / 1024 / 1024:,.0f} MB"


def _check_utf8(data: bytes) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    step = 4 * 1024 * 1024
    for start in range(0, len(data), step):
        try:
            decoder.decode(view[start : start + step], final=start + step >= len(data))
        except UnicodeDecodeError as exc:
            at = start + exc.start
            line = data.count(b"\n", 0, at) + 1
            raise ImportRejected(
                f"The file is not UTF-8 text: line {line} has the byte 0x{data[at]:02X}. "
                "Save it as CSV UTF-8 (Excel: Save as → CSV UTF-8) and upload it again."
            ) from exc


def read_table(data: bytes, *, max_bytes: int | None = None) -> Table:
    """Check that ``data`` is a CSV file this import can read and return its table.

    Raises :class:`ImportRejected` (with ``errors == []``) when the file is too large
    (``max_bytes``, default ``settings.VSM_IMPORT_MAX_BYTES``), not UTF-8 (a BOM is fine), not
    CSV, empty, or has blank or duplicate column names. Commas, semicolons and tabs separate
    columns (the header decides).
    """
    limit = max_import_bytes() if max_bytes is None else max_bytes
    if len(data) > limit:
        raise ImportRejected(
            f"The file is {_megabytes(len(data))}; the limit is {_megabytes(limit)}. "
            "Split it into smaller files (by date, for example) and import each."
        )
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportRejected(
            "This is an Excel workbook, not a CSV file. Save it as CSV UTF-8 and upload that."
        )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ImportRejected(
            "The file is UTF-16 text (Excel's 'Unicode text'). Save it as CSV UTF-8 instead."
        )
    if len(data) < 65536 and not data.lstrip(b"\xef\xbb\xbf \t\r\n,;"):
        raise ImportRejected("The file is empty.")
    _refuse_non_tables(data)
    _check_utf8(data)

    first_line = data[:65536].split(b"\n", 1)[0].decode("utf-8", "replace")
    delimiter = ","
    if "," not in first_line:
        delimiter = max((";", "\t", ","), key=first_line.count)
    if first_line.count(delimiter) == 0:
        raise ImportRejected(
            "This file is not a table: its first line has no commas, semicolons or tabs "
            "between column names, so it holds one column at most. Export the data from the "
            "CRM as CSV (one row per deal, visit or stage change) and upload that."
        )
    columns = first_line.count(delimiter) + 1
    if columns > max_import_columns():
        raise ImportRejected(
            f"The file has {columns:,} columns; the import reads at most "
            f"{max_import_columns():,}. Export only the columns it needs (deal id, stage, dates, "
            "deal fields) and upload that."
        )
    _refuse_nul(data, delimiter)
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        headers = [h.strip() for h in next(reader, [])]
        has_rows = any(cells and any(c.strip() for c in cells) for cells in reader)
    except csv.Error as exc:
        raise ImportRejected(
            f"Row {reader.line_num} is not valid CSV ({exc}); check its quotes."
        ) from exc
    if not any(headers):
        raise ImportRejected("The first row must name the columns (deal id, step, …); it is empty.")
    seen: dict[str, int] = {}
    duplicates = []
    for i, name in enumerate(headers, start=1):
        if not name:
            continue
        if name in seen:
            duplicates.append(f"'{name}' (columns {seen[name]} and {i})")
        else:
            seen[name] = i
    if duplicates:
        raise ImportRejected(
            "Column names must be unique; the header repeats " + ", ".join(duplicates) + "."
        )
    if not has_rows:
        raise ImportRejected("The file has a header but no data rows.")
    return Table(
        headers=headers,
        rows=_CsvRows(data, delimiter, _may_hold_formulas(data)),
    )


# --- Cells -----------------------------------------------------------------------------------


class _Bad(Exception):
    """One cell is invalid; the message is the reason shown to the user."""


#: First characters of a cell that may be a formula or a neutralised one (csv_safety).
_CHECK_LEADS = frozenset("'" + csv_safety.FORMULA_LEADS + csv_safety.BLANKS)


_PLAIN = re.compile(r"[\d\s.,:/+\-TZtz]*\d[\d\s.,:/+\-TZtz]*")
_FORMULA_CHARS = "=+-@"


def _is_plain(text: str) -> bool:
    return not text or _PLAIN.fullmatch(text) is not None


def neutralise(cell: str) -> str:
    """Make ``cell`` safe to open in a spreadsheet (the rule every CSV shares:
    :func:`funnel.csv_safety.neutralise`)."""
    return csv_safety.neutralise(cell)


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise`; raise :class:`_Bad` for a cell that is a formula."""
    try:
        return csv_safety.unneutralise(cell)
    except csv_safety.FormulaError:
        shown = cell if len(cell) <= 40 else cell[:37] + "…"
        raise _Bad(
            f"'{shown}' looks like a spreadsheet formula; remove it (or prefix a ' to keep it "
            "as text)."
        ) from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
NULL_TIME = np.iinfo(np.int64).max  # an open visit's exit: sorts after every time
_DATE = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
    r"(?:(?:[ T]+|,\s*)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,6}))?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?"
)


def to_micros(value: datetime) -> int:
    """Microseconds since 1970-01-01 UTC of an aware datetime."""
    return (value - _EPOCH) // _US


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class _Clock:
    """Parses the times of one import: zone, day order and "now" fixed at the start."""

    def __init__(self, zone: ZoneInfo, day_first: bool) -> None:
        self.zone = zone
        self.is_utc = zone.key in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu")
        self.day_first = day_first
        self.latest = to_micros(timezone.now() + CLOCK_SKEW)

    def parse(self, text: str) -> int:
        """The time ``text`` names, as microseconds since the epoch (UTC)."""
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            value = self._other_formats(text.strip())
        if value.tzinfo is None:
            value = self._localise(value)
        if value.year < 1900:
            raise _Bad(f"{text.strip()} is too long ago to be a date in a deal's history.")
        micros = (value - _EPOCH) // _US
        if micros > self.latest:
            raise _Bad(f"{text.strip()} is in the future.")
        return micros

    def _localise(self, naive: datetime) -> datetime:
        if self.is_utc:
            return naive.replace(tzinfo=UTC)
        aware = naive.replace(tzinfo=self.zone)
        if aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != naive:
            raise _Bad(
                f"{naive:%Y-%m-%d %H:%M} does not exist in {self.zone.key} (the clocks moved "
                "forward then); check the time or the time zone."
            )
        return aware

    def _other_formats(self, text: str) -> datetime:
        if not text:
            raise _Bad("empty")
        if text.isascii() and text.isdigit():
            if len(text) >= 11:  # epoch milliseconds, as HubSpot exports them
                return _EPOCH + timedelta(milliseconds=int(text))
            if len(text) >= 9:
                return _EPOCH + timedelta(seconds=int(text))
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return value
        match = _DATE.fullmatch(text)
        if match is None:
            if re.fullmatch(r"\d{5}(\.\d+)?", text):
                raise _Bad(
                    f"'{text}' looks like an Excel date serial number; format the column as "
                    "dates before saving the CSV."
                )
            raise _Bad(
                f"'{text}' is not a date and time (use ISO 8601 like 2016-10-20T14:05:00Z, "
                "10/20/2016 14:05, 20.10.2016 or epoch milliseconds)."
            )
        a, b, c, sep = match["a"], int(match["b"]), match["c"], match["sep"]
        if len(a) == 4:
            year, month, day = int(a), b, int(c)
        else:
            if len(c) != 4:
                raise _Bad(f"'{text}': write the year with four digits.")
            year = int(c)
            if sep == "." or self.day_first:
                day, month = int(a), b
            else:
                month, day = int(a), b
        hour = int(match["H"] or 0)
        if match["ampm"]:
            if not 1 <= hour <= 12:
                raise _Bad(f"'{text}': hour {hour} with AM/PM.")
            hour = hour % 12 + (12 if match["ampm"][0] in "Pp" else 0)
        try:
            return datetime(
                year,
                month,
                day,
                hour,
                int(match["M"] or 0),
                int(match["S"] or 0),
                int((match["f"] or "0").ljust(6, "0")),
            )
        except ValueError as exc:
            hint = ""
            if month > 12 >= day and not self.day_first and sep != "." and len(a) != 4:
                hint = " Are the dates day first (20/10/2016)? Then choose day-first."
            raise _Bad(f"'{text}' is not a valid date ({exc}).{hint}") from exc


_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?")
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("1e12")


def _amount(text: str) -> Decimal | None:
    t = text.strip().replace(" ", "").replace("\u00a0", "")
    if not t:
        return None
    t = t.strip("$€£¥")
    if "," in t:
        if not _THOUSANDS.fullmatch(t.lstrip("-")):
            raise _Bad(f"'{text}' is not a number (use a dot for decimals: 12345.67).")
        t = t.replace(",", "")
    try:
        value = Decimal(t)
    except InvalidOperation:
        raise _Bad(f"'{text}' is not a number.") from None
    if not value.is_finite():
        raise _Bad(f"'{text}' is not a number.")
    if value < 0:
        raise _Bad(f"negative ({text}); amounts are zero or more.")
    value = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    if value >= _MAX_AMOUNT:
        raise _Bad(f"too large ({text}); at most 999,999,999,999.99.")
    return value


_MAX_MINUTES = 2**31 - 1


def _minutes(text: str) -> int:
    t = text.strip()
    if t.isascii() and t.isdigit():
        value = int(t)
    else:
        try:
            number = float(t)
        except ValueError:
            raise _Bad(f"'{text}' is not a number of minutes.") from None
        if number < 0:
            raise _Bad(f"negative ({t}); work minutes are zero or more.")
        if number != int(number):
            raise _Bad(f"not a whole number of minutes ({t}).")
        value = int(number)
    if value > _MAX_MINUTES:
        raise _Bad(f"too large ({t} minutes).")
    return value


def _text(text: str, limit: int) -> str:
    t = text.strip()
    if len(t) > limit:
        raise _Bad(f"longer than {limit} characters ({len(t)}).")
    return t


# --- Columns and stages ------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.casefold())


def _stage_key(name: str) -> str:
    return " ".join(name.casefold().split())


# Header names (lower case, letters and digits only, space-separated) each field is guessed
# from, best first.
_DEAL_ALIASES = {
    "deal_name": "dealname opportunityname name opportunity casename",
    "account": "account accountname company associatedcompany companyname",
    "amount": "amount dealamount dealvalue value closevalue amountinhomecurrency",
    "owner": "owner dealowner opportunityowner ownerusername owneremail salesagent salesrep",
    "source": "source leadsource dealsource originalsource channel",
    "lost_reason": "lostreason closedlostreason lossreason reasonlost",
}
_ALIASES: dict[str, dict[str, str]] = {
    "visits": {
        "deal_id": "dealid opportunityid caseid caseconceptname case externalid recordid deal id",
        "step": "step stepname activity conceptname activityname stage stagename",
        "entered_at": "enteredat entered startedat starttime start enteredon starttimestamp "
        "timestamp",
        "exited_at": "exitedat exited endedat endtime end completedat leftat completetimestamp",
        "work_minutes": "workminutes work minutes handsonminutes effortminutes",
        "actor": "actor resource orgresource performedby user assignee",
        **_DEAL_ALIASES,
        "outcome": "outcome status dealstatus result wonlost",
        "closed_at": "closedat closedate dateclosed closedon closed",
        "created_at": "createdat createdate datecreated createdon created",
    },
    "transitions": {
        # Salesforce OpportunityHistory: Id is the history row's, CreatedDate the change's.
        "deal_id": "dealid opportunityid opportunity caseid recordid deal id",
        "stage": "stage stagename tostage newstage dealstage newvalue step",
        "changed_at": "changedat createddate changeddate datechanged editdate stagechangedate "
        "lastmodifieddate lastmodified timestamp date changed",
        "actor": "actor changedby createdby createdbyid lastmodifiedby editedby",
        **_DEAL_ALIASES,
        "created_at": "createdat dealcreatedat opportunitycreatedat",
    },
    "wide": {
        "deal_id": "dealid recordid hsobjectid opportunityid deal id",
        "stage": "dealstage stage stagename currentstage finalstage status",
        "entered_at": "engagedate engagedat engaged dateengaged entereddate startdate entered",
        "closed_at": "closedate closedat dateclosed closed",
        **_DEAL_ALIASES,
        "created_at": "createdate createdat datecreated created",
    },
}
# HubSpot's stage columns: Date entered "Appointment Scheduled (Sales Pipeline)" (as exported)
# or hs_date_entered_<stage id> (the internal property names).
_ENTERED = re.compile(r"""date\s+entered\s*[\"'“”‘’](?P<stage>.+?)[\"'“”‘’]\s*""", re.IGNORECASE)
_ENTERED_INTERNAL = re.compile(r"hs_date_entered_(?P<stage>\w+)", re.IGNORECASE)
_PIPELINE_SUFFIX = re.compile(r"\s*\(([^()]*)\)\s*$")


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise ImportRejected(f"Unknown format '{format}'; use one of {', '.join(FORMATS)}.")


def guess_columns(table: Table, format: str) -> dict[str, str]:
    """Default column mapping, canonical field -> header, from header names and their usual
    aliases in Salesforce, HubSpot and process-mining exports. Fields with no match are left
    out; a header is used for one field at most."""
    _check_format(format)
    by_norm: dict[str, str] = {}
    stage_columns = set(_stage_columns(table.headers)) if format == "wide" else set()
    for header in table.headers:
        if header and header not in stage_columns:
            by_norm.setdefault(_norm(header), header)
    used: set[str] = set()
    guessed: dict[str, str] = {}
    for f in FIELDS[format]:
        for alias in _ALIASES[format].get(f.name, "").split():
            header = by_norm.get(alias)
            if header is not None and header not in used:
                guessed[f.name] = header
                used.add(header)
                break
    return guessed


def _stage_columns(headers: list[str]) -> dict[str, str]:
    """Wide files: header -> stage name of each ``Date entered "<stage>"`` column. A pipeline
    name that every stage carries in parentheses ("Closed Won (Sales Pipeline)") is dropped."""
    found: dict[str, str] = {}
    for header in headers:
        match = _ENTERED.fullmatch(header) or _ENTERED_INTERNAL.fullmatch(header)
        if match:
            found[header] = match["stage"].strip()
    suffixes = {m[1] if (m := _PIPELINE_SUFFIX.search(s)) else None for s in found.values()}
    if len(found) > 1 and len(suffixes) == 1 and None not in suffixes:
        found = {h: _PIPELINE_SUFFIX.sub("", s) for h, s in found.items()}
    return found


_OBVIOUS = {
    "won": WON,
    "closedwon": WON,
    "dealwon": WON,
    "win": WON,
    "lost": LOST,
    "closedlost": LOST,
    "deallost": LOST,
}


#: The outcome column's usual values, read without a regular expression.
_OUTCOMES = {"won": WON, "lost": LOST, "open": DealStatus.OPEN, "": DealStatus.OPEN}


def _obvious_outcome(name: str) -> str | None:
    return _OBVIOUS.get(_norm(name))


def _columns(table: Table, options: ImportOptions) -> dict[str, str]:
    columns = dict(options.columns) if options.columns else guess_columns(table, options.format)
    known = {f.name for f in FIELDS[options.format]}
    columns = {k: v for k, v in columns.items() if v}
    unknown_fields = sorted(set(columns) - known)
    if unknown_fields:
        raise ImportRejected(
            f"The column mapping names fields the {options.format} format does not have: "
            + ", ".join(unknown_fields)
            + f". Its fields: {', '.join(f.name for f in FIELDS[options.format])}."
        )
    missing_headers = sorted({v for v in columns.values() if v not in table.headers})
    if missing_headers:
        raise ImportRejected(
            "The column mapping names columns the file does not have: "
            + ", ".join(f"'{h}'" for h in missing_headers)
            + ". The file's columns: "
            + ", ".join(f"'{h}'" for h in table.headers if h)
            + "."
        )
    required = [f for f in FIELDS[options.format] if f.required]
    if options.format == "wide" and not _stage_columns(table.headers):
        required += [f for f in FIELDS["wide"] if f.name in ("stage", "entered_at")]
    missing = [f for f in required if f.name not in columns]
    if missing:
        raise ImportRejected(
            "The file is missing required columns: "
            + ", ".join(f"{f.label} ({f.name})" for f in missing)
            + ". Map them to the file's columns: "
            + ", ".join(f"'{h}'" for h in table.headers if h)
            + "."
            + (
                ' A wide file needs either Date entered "<stage>" columns or an engage date '
                "and a final stage."
                if options.format == "wide"
                else ""
            )
        )
    return columns


#: A scan keeps at most this many distinct values of a column (stage and owner columns hold
#: far fewer; ids and dates are never listed).
SCAN_VALUES = 1000


def column_values(
    table: Table, *, cap: int = SCAN_VALUES, progress: Callable[[int], None] | None = None
) -> dict[str, dict[str, int]]:
    """One pass over the rows: for each named column its distinct non-empty values (stripped,
    a neutralising quote removed, formulas left out) in order of first use, with counts;
    a column's first ``cap`` values only."""
    named = [(i, h) for i, h in enumerate(table.headers) if h]
    found: list[dict[str, int]] = [{} for _ in named]
    for n, (_, cells) in enumerate(table.numbered_rows(), start=1):
        if progress and not n % 100_000:
            progress(n)
        for k, (i, _) in enumerate(named):
            if i >= len(cells):
                continue
            value = cells[i].strip()
            if not value:
                continue
            seen = found[k]
            if value in seen:
                seen[value] += 1
                continue
            if len(seen) >= cap:
                continue
            if value[0] in _CHECK_LEADS:
                try:
                    value = unneutralise(value)
                except _Bad:
                    continue
            seen[value] = seen.get(value, 0) + 1
    return {h: found[k] for k, (_, h) in enumerate(named)}


def scan_as_json(values: dict[str, dict[str, int]]) -> dict[str, list[list]]:
    """A scan for a JSON column: each column's values as ``[value, count]`` pairs, since
    PostgreSQL's jsonb keeps an object's keys sorted, not in the order of first use."""
    return {header: [[v, n] for v, n in found.items()] for header, found in values.items()}


def scan_from_json(data: dict[str, list[list]] | None) -> dict[str, dict[str, int]] | None:
    if data is None:
        return None
    return {header: {v: n for v, n in pairs} for header, pairs in data.items()}


def _distinct(table: Table, column: str) -> dict[str, int]:
    """The distinct values of ``column`` with counts, from the table's scan if it has one."""
    if table.values is not None and column in table.values:
        return table.values[column]
    values: dict[str, int] = {}
    for value in _cells_of(table, column):
        values[value] = values.get(value, 0) + 1
    return values


def _cells_of(table: Table, column: str) -> Iterator[str]:
    index = table.headers.index(column)
    for _, cells in table.numbered_rows():
        if index < len(cells):
            value = cells[index].strip()
            if value:
                if value[0] == "'":
                    try:
                        value = unneutralise(value)
                    except _Bad:
                        continue
                yield value


def source_stages(table: Table, options: ImportOptions) -> list[str]:
    """The distinct stage names the file uses, in order of first use: the step column
    (visits), the stage column (transitions), or for wide files the ``Date entered`` stage
    columns then the other values of the stage column. A simple wide file lists the engage
    date's column name first: the mapping may send it to the step deals enter at.

    Never raises for a mapping that is incomplete (the wizard asks while it is being made):
    without a stage column only the ``Date entered`` columns are listed."""
    _check_format(options.format)
    columns = {
        f: h
        for f, h in (options.columns or guess_columns(table, options.format)).items()
        if h and h in table.headers
    }
    names: dict[str, None] = {}
    if options.format == "wide":
        stage_columns = _stage_columns(table.headers)
        names.update(dict.fromkeys(stage_columns.values()))
        if not stage_columns and "entered_at" in columns:
            names[columns["entered_at"]] = None
    column = columns.get("step" if options.format == "visits" else "stage")
    if column:
        seen_keys = {_stage_key(n) for n in names}
        for value in _distinct(table, column):
            if value not in names and _stage_key(value) not in seen_keys:
                names[value] = None
                seen_keys.add(_stage_key(value))
    return list(names)


def unknown_stages(stream: ValueStream, table: Table, options: ImportOptions) -> list[str]:
    """The stages of :func:`source_stages` that match no step name (case-insensitively), are
    not in ``options.steps`` and are not obviously won or lost. In a simple wide file every
    final stage that is not won, lost or ignored means "open", so none is unknown. A stage
    mapped to a step the stream lacks counts as unknown (no error is raised here)."""
    stages = source_stages(table, options)
    resolver = _StageResolver(stream, options, strict=False)
    if options.format == "wide" and not _stage_columns(table.headers):
        return []
    return [s for s in stages if resolver.resolve(s) is None]


def stage_defaults(stream: ValueStream, table: Table, options: ImportOptions) -> dict[str, str]:
    """How each stage of :func:`source_stages` is read when the wizard leaves it unmapped, in
    words for the wizard's "no choice" option: the step of the same name, a won or lost
    outcome recognised by its name, or "" when it is unknown. In a wide file of one row per
    deal (no ``Date entered`` columns) an unmapped final stage means "open", and the engage
    date's column means the stream's first step: the readings say so."""
    resolver = _StageResolver(stream, replace(options, steps={}), strict=False)
    simple_wide = options.format == "wide" and not _stage_columns(table.headers)
    engage = (options.columns or guess_columns(table, options.format)).get("entered_at")
    readings = {}
    for stage in source_stages(table, options):
        target = resolver.resolve(stage)
        if simple_wide and stage == engage and resolver.step_names:
            readings[stage] = f"deals enter at the first step: {resolver.step_names[0]}"
        elif target in (WON, LOST):
            readings[stage] = f"→ {target.capitalize()} (recognised)"
        elif simple_wide:  # a final stage that is not an outcome: the deal is open
            readings[stage] = "open: the deal is still in the stream"
        elif isinstance(target, int):
            readings[stage] = f"same name: {resolver.step_names[target]}"
        else:
            readings[stage] = ""
    return readings


#: The wizard lists at most this many distinct owner names (the rest are read the same way).
OWNER_NAMES_LISTED = 200


@dataclass(frozen=True)
class OwnerName:
    """A distinct name of the owner column, with the member it matches (by username or
    email) or None."""

    name: str
    rows: int
    member: str | None


def source_owners(stream: ValueStream, table: Table, options: ImportOptions) -> list[OwnerName]:
    """The distinct owner names the file uses (up to :data:`OWNER_NAMES_LISTED`, most rows
    first) and the username of the team member each matches without a mapping, for the
    wizard's owner step. Empty when no column is mapped to the owner."""
    _check_format(options.format)
    columns = options.columns or guess_columns(table, options.format)
    header = columns.get("owner")
    if not header or header not in table.headers:
        return []
    counts: dict[str, int] = {}
    for value, count in _distinct(table, header).items():
        name = " ".join(value.split())
        counts[name] = counts.get(name, 0) + count
    people = _People(stream)
    names = sorted(counts, key=lambda n: (-counts[n], n.casefold()))[:OWNER_NAMES_LISTED]
    result = []
    for name in names:
        user_id = people.find(name)
        result.append(OwnerName(name, counts[name], people.usernames.get(user_id)))
    return result


def team_owners(stream: ValueStream) -> list[tuple[str, str]]:
    """(username, display name) of the members a deal may belong to: managers and reps."""
    rows = (
        Membership.objects.filter(team_id=stream.team_id, role__in=(Role.MANAGER, Role.REP))
        .order_by("user__first_name", "user__username")
        .values_list("user__username", "user__first_name", "user__last_name")
    )
    return [(u, f"{first} {last}".strip() or u) for u, first, last in rows]


class _StageResolver:
    def __init__(self, stream: ValueStream, options: ImportOptions, *, strict: bool = True):
        self.steps = list(
            ProcessStep.objects.filter(stream=stream).order_by("position").values_list("id", "name")
        )
        self.step_ids = [pk for pk, _ in self.steps]
        self.step_names = [name for _, name in self.steps]
        by_name = {_stage_key(name): i for i, name in enumerate(self.step_names)}
        self.by_name = by_name
        self.mapping: dict[str, int | str | None] = {}
        bad = []
        for source, target in options.steps.items():
            if not target or not str(target).strip():
                continue
            t = str(target).strip()
            special = t.casefold()
            if special in (WON, LOST, IGNORE):
                self.mapping[_stage_key(source)] = special
            elif _stage_key(t) in by_name:
                self.mapping[_stage_key(source)] = by_name[_stage_key(t)]
            else:
                bad.append(f"'{source}' → '{t}'")
                self.mapping[_stage_key(source)] = None  # unknown (when not strict)
        if bad and strict:
            raise ImportRejected(
                f"The stage mapping sends stages to steps that stream '{stream.name}' does not "
                f"have: {', '.join(bad)}. Its steps: "
                + (", ".join(f"'{n}'" for n in self.step_names) or "none")
                + "; or use won, lost or ignore."
            )
        self._cache: dict[str, int | str | None] = {}

    def resolve(self, name: str) -> int | str | None:
        """Step index, WON, LOST, IGNORE, or None when unknown."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        key = _stage_key(name)
        target: int | str | None
        if key in self.mapping:
            target = self.mapping[key]
        else:
            # "Closed Won" is the outcome even in a stream that has a step of that name (won
            # and lost are outcomes, not steps); a mapping can still send it to the step.
            target = _obvious_outcome(name)
            if target is None:
                target = self.by_name.get(key)
        self._cache[name] = target
        return target


# --- People -------------------------------------------------------------------------------------


class _People:
    """Managers and reps of the stream's team, found by username or email."""

    def __init__(self, stream: ValueStream) -> None:
        self.team = stream.team
        self.exact: dict[str, int] = {}
        loose: dict[str, set[int]] = {}
        self.usernames: dict[int, str] = {}
        for pk, username, email in Membership.objects.filter(
            team_id=stream.team_id, role__in=(Role.MANAGER, Role.REP)
        ).values_list("user_id", "user__username", "user__email"):
            self.exact[username] = pk
            self.usernames[pk] = username
            loose.setdefault(username.casefold(), set()).add(pk)
            if email:
                loose.setdefault(email.casefold(), set()).add(pk)
        self.loose = {k: next(iter(v)) for k, v in loose.items() if len(v) == 1}

    def find(self, text: str) -> int | None:
        t = text.strip()
        return self.exact.get(t) or self.loose.get(t.casefold())


#: Longest owner name kept for an owner who is not a user (``Deal.owner_name``).
MAX_OWNER_NAME = 120


class _Owners:
    """Reads the owner column: a member by the wizard's owner mapping, else by username or
    email, else the name itself as an external owner (a file is never refused for names)."""

    def __init__(self, stream: ValueStream, people: _People, mapping: dict[str, str]) -> None:
        self.people = people
        self.mapping: dict[str, int | None] = {}
        bad = []
        for name, target in mapping.items():
            wanted = (target or "").strip()
            if not wanted:
                self.mapping[_stage_key(name)] = None
                continue
            user_id = people.find(wanted)
            if user_id is None:
                bad.append(f"'{name}' → '{wanted}'")
            self.mapping[_stage_key(name)] = user_id
        if bad:
            raise ImportRejected(
                "The owner mapping names people who are not managers or reps of team "
                f"{stream.team.name}: {', '.join(bad)}. Choose a member, or keep the name."
            )
        self._cache: dict[str, tuple[int | None, str | None]] = {}

    def find(self, text: str) -> tuple[int | None, str | None]:
        """``(user id, None)`` for a member, ``(None, name)`` for anyone else."""
        found = self._cache.get(text)
        if found is not None:
            return found
        name = " ".join(text.split())
        key = _stage_key(name)
        user_id = self.mapping[key] if key in self.mapping else self.people.find(name)
        if user_id is None and len(name) > MAX_OWNER_NAME:
            raise _Bad(f"longer than {MAX_OWNER_NAME} characters ({len(name)}).")
        found = (user_id, None) if user_id is not None else (None, name)
        self._cache[text] = found
        return found

    def kept(self) -> list[str]:
        """The names read so far that are kept as names (no member), sorted."""
        return sorted({name for _, name in self._cache.values() if name})


# --- Building the event log from the rows --------------------------------------------------------

_UNSET: Any = object()


class _Deal:
    __slots__ = (
        "account",
        "amount",
        "bad",
        "closed_at",
        "created_at",
        "external_id",
        "key",
        "lost_reason",
        "name",
        "no_visit",
        "outcome",
        "owner",
        "row",
        "source",
        "t",
    )

    def __init__(self, external_id: str, row: int) -> None:
        self.external_id = external_id
        self.row = row
        self.key: int | None = None
        self.t = -(2**63)
        self.bad = False  # a row of the deal had an error: no checks across its rows
        # A deal of a simple wide file that never entered the stream (no engage date): it is
        # stored without a visit, created at the best date the file has (or the import's).
        self.no_visit = False
        #: (user id, None) for a member, (None, name) for an external owner, None for none.
        self.name = self.account = self.amount = self.owner = self.source = _UNSET
        self.outcome = self.closed_at = self.lost_reason = self.created_at = _UNSET


_DEAL_ATTR = {
    "deal_name": "name",
    "account": "account",
    "amount": "amount",
    "owner": "owner",
    "source": "source",
    "outcome": "outcome",
    "closed_at": "closed_at",
    "lost_reason": "lost_reason",
    "created_at": "created_at",
}


@dataclass
class _Plan:
    """The file as an event log: deals, and their visits as parallel integer arrays sorted by
    (deal, entered_at); ``starts[d]:starts[d + 1]`` are deal ``d``'s visits."""

    deals: list[_Deal]
    step_ids: list[int]
    step_names: list[str]
    actors: list[tuple[int | None, str]]
    rows: int
    #: Sentences for the summary (never-engaged deals, owner names kept).
    notes: list[str] = field(default_factory=list)
    without_visit: int = 0
    owner_names_kept: int = 0
    deal: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    step: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    entered: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    exited: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    work: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    actor: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    row: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    # Path facts (funnel.paths) of the visits: previous is a step index, -1 for none.
    reentry: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    previous: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    is_last: np.ndarray = field(default_factory=lambda: np.empty(0, bool))


class _Columns:
    def __init__(self) -> None:
        self.deal = _ints()
        self.step = _ints()
        self.entered = _ints()
        self.exited = _ints()
        self.work = _ints()
        self.actor = _ints()
        self.row = _ints()

    def add(self, deal: int, step: int, entered: int, exited: int, work: int, actor: int, row: int):
        self.deal.append(deal)
        self.step.append(step)
        self.entered.append(entered)
        self.exited.append(exited)
        self.work.append(work)
        self.actor.append(actor)
        self.row.append(row)


def _ints() -> array.array:
    """A compact column of 64-bit integers (8 bytes a value, not a Python object each)."""
    return array.array("q")


def _np(values) -> np.ndarray:
    return np.frombuffer(values, dtype=np.int64) if len(values) else np.empty(0, np.int64)


class _Builder:
    """Reads the rows of one file into a :class:`_Plan`, collecting every error."""

    def __init__(
        self,
        stream: ValueStream,
        table: Table,
        options: ImportOptions,
        progress: Callable[[int, str], None] | None,
    ) -> None:
        _check_format(options.format)
        try:
            zone = ZoneInfo(options.time_zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise ImportRejected(
                f"Unknown time zone '{options.time_zone}'; use a name like Europe/Berlin or "
                "America/New_York."
            ) from None
        self.stream = stream
        self.table = table
        self.options = options
        self.format = options.format
        self.columns = _columns(table, options)
        self.index = {f: table.headers.index(h) for f, h in self.columns.items()}
        self.header = dict(self.columns)
        self.ncols = len(table.headers)
        self.clock = _Clock(zone, options.day_first)
        self.stages = _StageResolver(stream, options)
        if not self.stages.step_ids:
            raise ImportRejected(
                f"Stream '{stream.name}' has no steps yet; draw its map before importing."
            )
        self.people = _People(stream)
        self.owners = _Owners(stream, self.people, options.owners)
        self.progress = progress
        self.errors: list[RowError] = []
        self.error_count = 0
        self.unknown: dict[str, int] = {}  # stage -> first row
        #: Simple wide files: final stage -> deals without an engage date (stored unvisited).
        self.not_engaged: dict[str, int] = {}
        self.deals: list[_Deal] = []
        self.deal_index: dict[str, int] = {}
        self.actors: list[tuple[int | None, str]] = [(None, "")]
        self.actor_index: dict[str, int] = {"": 0}
        self.rows = 0
        self.check_cells = table.may_hold_formulas()
        self.mapped = sorted(set(self.index.values()))
        deal_columns = [f for f in _DEAL_ATTR if f in self.index]
        self.deal_columns = deal_columns
        if len(deal_columns) >= 2:
            self.deal_key = operator.itemgetter(*(self.index[f] for f in deal_columns))
        elif deal_columns:
            only = self.index[deal_columns[0]]
            self.deal_key = lambda cells: (cells[only],)
        else:
            self.deal_key = lambda cells: ()

    # -- errors

    def error(self, row: int, column: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(row, self.header.get(column, column), reason))

    # -- rows

    def numbered_rows(self) -> Iterator[tuple[int, list[str]]]:
        """The data rows with their numbers, padded to the header's width; rows with surplus
        cells or formula cells (in mapped columns) are reported and skipped."""
        ncols, check, mapped = self.ncols, self.check_cells, self.mapped
        report = self.progress
        headers = self.table.headers
        error = self.error
        n = 0
        for number, cells in self._records():
            n += 1
            if report and not n % 50_000:
                self.rows = n
                report(n, f"Read {n:,} rows")
            if len(cells) != ncols:
                if len(cells) < ncols:
                    cells.extend([""] * (ncols - len(cells)))
                elif any(c.strip() for c in cells[ncols:]):
                    error(number, "", f"{len(cells)} cells, but the header names {ncols} columns.")
                    continue
            if check:
                ok = True
                for i in mapped:
                    c = cells[i]
                    if c and c[0] in _CHECK_LEADS:
                        try:
                            cells[i] = unneutralise(c)
                        except _Bad as exc:
                            error(number, headers[i], str(exc))
                            ok = False
                if not ok:
                    continue
            yield number, cells
        self.rows = n

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """Non-blank records with their row numbers (one generator over the csv reader)."""
        rows = self.table.rows
        if not isinstance(rows, _CsvRows):
            for number, cells in self.table.numbered_rows():
                yield number, list(cells)
            return
        yield from rows.numbered()

    def _deal(self, external_id: str, row: int) -> tuple[int, _Deal]:
        index = self.deal_index.get(external_id)
        if index is None:
            index = len(self.deals)
            deal = _Deal(external_id, row)
            self.deals.append(deal)
            self.deal_index[external_id] = index
            return index, deal
        return index, self.deals[index]

    def _deal_id(self, cells: list[str], row: int) -> str | None:
        external_id = cells[self.index["deal_id"]].strip()
        if not external_id:
            self.error(row, "deal_id", "empty; every row needs the deal's id.")
            return None
        if len(external_id) > 64:
            self.error(row, "deal_id", "longer than 64 characters.")
            return None
        return external_id

    def actor_of(self, text: str) -> int:
        index = self.actor_index.get(text)
        if index is None:
            name = text.strip()
            user_id = self.people.find(name) if name else None
            if user_id is None and len(name) > 120:
                raise _Bad(f"longer than 120 characters ({len(name)}).")
            index = len(self.actors)
            self.actors.append((user_id, "" if user_id else name))
            self.actor_index[text] = index
        return index

    def time(self, cells: list[str], name: str, row: int, *, required: bool) -> int | None:
        """Parsed time of column ``name``; None when empty (an error if ``required``) or bad
        (the error is recorded: check ``self._bad``)."""
        text = cells[self.index[name]]
        if not text or text.isspace():
            if required:
                self.error(row, name, "empty; a time is required here.")
                self._bad = True
            return None
        try:
            return self.clock.parse(text)
        except _Bad as exc:
            self.error(row, name, str(exc))
            self._bad = True
            return None

    def deal_fields(
        self, cells: list[str], row: int, skip: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        """The deal columns of one row, parsed; None when one is bad (errors recorded)."""
        values: dict[str, Any] = {}
        ok = True
        for name in self.deal_columns:
            if name in skip:
                continue
            text = cells[self.index[name]]
            try:
                values[name] = self._deal_value(name, text)
            except _Bad as exc:
                self.error(row, name, str(exc))
                ok = False
        return values if ok else None

    def _deal_value(self, name: str, text: str) -> Any:
        t = text.strip()
        if name == "amount":
            return _amount(t)
        if name == "owner":
            return self.owners.find(t) if t else None
        if name in ("closed_at", "created_at"):
            return self.clock.parse(t) if t else None
        if name == "outcome":
            if not t:
                return DealStatus.OPEN
            outcome = (
                _OUTCOMES.get(t) or _obvious_outcome(t) or {"open": DealStatus.OPEN}.get(_norm(t))
            )
            if outcome is None:
                raise _Bad(f"'{t}' is not an outcome; use won, lost or open.")
            return outcome
        limit = {"deal_name": 200, "account": 200, "source": 40, "lost_reason": 200}[name]
        return _text(t, limit)

    def set_deal_fields(
        self, deal: _Deal, values: dict[str, Any], row: int, *, conflicts: bool
    ) -> None:
        """Merge one row's deal columns into ``deal``. Empty cells never erase. With
        ``conflicts`` two rows that disagree are an error; otherwise the later row wins."""
        for name, value in values.items():
            if value is None or value == "":
                if name == "outcome":
                    continue
                current = getattr(deal, _DEAL_ATTR[name])
                if current is _UNSET:
                    setattr(deal, _DEAL_ATTR[name], value)
                continue
            attr = _DEAL_ATTR[name]
            current = getattr(deal, attr)
            if current is _UNSET or current is None or current == "" or not conflicts:
                setattr(deal, attr, value)
            elif name == "outcome" and value == DealStatus.OPEN:
                continue
            elif current != value:
                if name == "outcome" and current == DealStatus.OPEN:
                    setattr(deal, attr, value)
                    continue
                self.error(
                    row,
                    name,
                    f"deal {deal.external_id} has another {name} on row {deal.row}; "
                    "the rows of one deal must agree.",
                )

    # -- formats

    def build(self) -> _Plan:
        if self.format == "visits":
            columns = self._read_visits()
        else:
            changes = self._read_wide() if self.format == "wide" else self._read_transitions()
            columns = self._changes_to_visits(changes)
        if self.unknown:
            names = sorted(self.unknown, key=self.unknown.get)
            listed = ", ".join(
                f"'{n}' (first on row {self.unknown[n]})"
                if self.unknown[n] > 1
                else f"'{n}' (a column of the header)"
                for n in names
            )
            raise ImportRejected(
                f"The file uses {len(names)} stage{'s' if len(names) > 1 else ''} that stream "
                f"'{self.stream.name}' has no step for: {listed}. Map each to a step, or to "
                "won, lost or ignore (the stage mapping), or add the steps to the map. Its "
                "steps: " + ", ".join(f"'{n}'" for n in self.stages.step_names) + ".",
                self.errors,
                error_count=self.error_count,
                unknown_stages=names,
            )
        plan = _Plan(
            deals=self.deals,
            step_ids=self.stages.step_ids,
            step_names=self.stages.step_names,
            actors=self.actors,
            rows=self.rows,
        )
        self._notes(plan)
        self._sort_and_check(plan, columns)
        if self.error_count:
            raise ImportRejected(
                f"{self.error_count:,} problem{'s' if self.error_count > 1 else ''} in the "
                f"file; nothing was imported. Fix the rows listed and import it again.",
                self.errors,
                error_count=self.error_count,
            )
        return plan

    def _notes(self, plan: _Plan) -> None:
        """Say how the import read deals that never engaged and owners who are not users."""
        if self.not_engaged:
            plan.without_visit = n = sum(self.not_engaged.values())
            stages = ", ".join(
                f"{stage or 'no stage'} ({count:,})" for stage, count in self.not_engaged.items()
            )
            when = (
                "created on their created date, or on the day of the import where the file has none"
                if "created_at" in self.index
                else "created on their close date if they closed, otherwise on the day of the "
                "import (the file has no created date)"
            )
            plan.notes.append(
                f"{n:,} deal{'s' if n != 1 else ''} without an engage date ({stages}) "
                f"{'were' if n != 1 else 'was'} imported without a visit at any step: "
                f"{when}. They count in the deal list, not in flow figures, until they move."
            )
        kept = self.owners.kept()
        if kept:
            plan.owner_names_kept = len(kept)
            shown = ", ".join(kept[:10])
            if len(kept) > 10:
                shown += f" and {len(kept) - 10:,} more"
            plan.notes.append(
                f"{len(kept):,} owner name{'s are' if len(kept) != 1 else ' is'} not a team "
                f"member and {'are' if len(kept) != 1 else 'is'} kept as the deals' owner name "
                f"(the figures filter and group by it): {shown}."
            )

    def _stage(self, text: str, row: int, name: str) -> int | str | None:
        """Resolve a stage cell: step index, WON, LOST, IGNORE; None if unknown (recorded)."""
        target = self.stages.resolve(text)
        if target is None:
            self.unknown.setdefault(text, row)
        return target

    def _read_visits(self) -> _Columns:
        out = _Columns()
        add_deal, add_step, add_in, add_out, add_work, add_actor, add_row = (
            out.deal.append,
            out.step.append,
            out.entered.append,
            out.exited.append,
            out.work.append,
            out.actor.append,
            out.row.append,
        )
        ix = self.index
        i_deal, i_step, i_in = ix["deal_id"], ix["step"], ix["entered_at"]
        i_exit, i_work, i_actor = ix.get("exited_at"), ix.get("work_minutes"), ix.get("actor")
        has_outcome = "outcome" in ix
        parse = self.clock.parse
        stage_of = self.stages.resolve
        deal_index, deals = self.deal_index, self.deals
        actor_index, actor_of = self.actor_index, self.actor_of
        deal_key, error = self.deal_key, self.error
        for row, cells in self.numbered_rows():
            # The common row takes the straight path; anything unusual is reported below.
            bad = False
            external_id = cells[i_deal].strip()
            if not external_id or len(external_id) > 64:
                self._deal_id(cells, row)
                continue
            step_text = cells[i_step].strip()
            target: int | str | None = -1
            if step_text:
                target = stage_of(step_text)
                if target is None:
                    self.unknown.setdefault(step_text, row)
                    continue
                if target == IGNORE:
                    continue
            text = cells[i_in]
            entered = exited = None
            if text and not text.isspace():
                try:
                    entered = parse(text)
                except _Bad as exc:
                    error(row, "entered_at", str(exc))
                    bad = True
            elif step_text:
                error(row, "entered_at", "empty; a time is required here.")
                bad = True
            if i_exit is not None:
                text = cells[i_exit]
                if text and not text.isspace():
                    try:
                        exited = parse(text)
                    except _Bad as exc:
                        error(row, "exited_at", str(exc))
                        bad = True
                    else:
                        if entered is not None and exited < entered:
                            error(row, "exited_at", "before the visit's entered_at.")
                            bad = True
            work = -1
            if i_work is not None:
                text = cells[i_work]
                if text:
                    if text.isdigit() and text.isascii():
                        work = int(text)
                        if work > _MAX_MINUTES:
                            error(row, "work_minutes", f"too large ({text} minutes).")
                            bad = True
                    elif not text.isspace():
                        try:
                            work = _minutes(text)
                        except _Bad as exc:
                            error(row, "work_minutes", str(exc))
                            bad = True
            actor = 0
            if i_actor is not None:
                text = cells[i_actor]
                if text:
                    actor = actor_index.get(text, -1)
                    if actor < 0:
                        try:
                            actor = actor_of(text)
                        except _Bad as exc:
                            error(row, "actor", str(exc))
                            bad = True
                            actor = 0
            if not step_text and (entered is not None or exited is not None or work >= 0 or actor):
                error(row, "step", "empty, but the row has visit columns.")
                bad = True
            d = deal_index.get(external_id)
            if d is None:
                d, deal = self._deal(external_id, row)
            else:
                deal = deals[d]
            key = hash(deal_key(cells))
            if key != deal.key:
                values = self.deal_fields(cells, row)
                if values is None:
                    deal.bad = True
                    continue
                self.set_deal_fields(deal, values, row, conflicts=True)
                deal.key = key
            if bad:
                deal.bad = True
                continue
            if target.__class__ is int and target >= 0:
                add_deal(d)
                add_step(target)
                add_in(entered)
                add_out(NULL_TIME if exited is None else exited)
                add_work(work)
                add_actor(actor)
                add_row(row)
            elif target in (WON, LOST):
                # A visit "at" a won or lost stage is the outcome, at its entry time.
                if has_outcome and deal.outcome not in (_UNSET, DealStatus.OPEN, target):
                    error(row, "step", f"'{step_text}' contradicts the outcome column.")
                    deal.bad = True
                    continue
                deal.outcome = target
                if deal.closed_at in (_UNSET, None):
                    deal.closed_at = entered
            # else: a row with only the deal's columns
        return out

    def _read_transitions(self) -> _Columns:
        changes = _Columns()  # step = target (step index, -1 won, -2 lost); entered = time
        ix = self.index
        i_stage = ix["stage"]
        i_actor = ix.get("actor")
        for row, cells in self.numbered_rows():
            self._bad = False
            external_id = self._deal_id(cells, row)
            if external_id is None:
                continue
            text = cells[i_stage].strip()
            if not text:
                self.error(row, "stage", "empty; every change names the stage it changed to.")
                continue
            target = self._stage(text, row, "stage")
            if target is None or target == IGNORE:
                continue
            at = self.time(cells, "changed_at", row, required=True)
            actor = 0
            if i_actor is not None and cells[i_actor]:
                try:
                    actor = self.actor_of(cells[i_actor])
                except _Bad as exc:
                    self.error(row, "actor", str(exc))
                    self._bad = True
            d, deal = self._deal(external_id, row)
            values = self.deal_fields(cells, row)
            if values is None or self._bad or at is None:
                deal.bad = True
                continue
            if at >= deal.t:  # the latest change's deal columns win
                self.set_deal_fields(deal, values, row, conflicts=False)
                deal.t = at
            else:
                for name, value in values.items():
                    if getattr(deal, _DEAL_ATTR[name]) is _UNSET:
                        setattr(deal, _DEAL_ATTR[name], value)
            changes.add(d, _TARGET_CODE.get(target, target), at, 0, 0, actor, row)
        return changes

    def _read_wide(self) -> _Columns:
        changes = _Columns()
        ix = self.index
        stage_columns = _stage_columns(self.table.headers)
        columns: list[tuple[int, str, int | str]] = []
        for header, stage in stage_columns.items():
            target = self._stage(stage, 1, header)
            if target is None or target == IGNORE:
                continue
            columns.append((self.table.headers.index(header), header, target))
        i_stage = ix.get("stage")
        entry_step = 0
        if not stage_columns:
            engage = self.columns["entered_at"]
            mapped = self.stages.mapping.get(_stage_key(engage))
            if isinstance(mapped, int):
                entry_step = mapped
        for row, cells in self.numbered_rows():
            self._bad = False
            external_id = self._deal_id(cells, row)
            if external_id is None:
                continue
            if external_id in self.deal_index:
                first = self.deals[self.deal_index[external_id]].row
                self.error(
                    row,
                    "deal_id",
                    f"deal {external_id} is also on row {first}; a wide file has one row per deal.",
                )
                continue
            final: int | str | None = None
            if i_stage is not None and cells[i_stage].strip():
                final = self._stage_or_open(cells[i_stage].strip(), row, bool(stage_columns))
                if final == IGNORE:
                    continue
            dated: list[tuple[int, int, int | str]] = []
            for position, (index, header, target) in enumerate(columns):
                text = cells[index]
                if not text.strip():
                    continue
                try:
                    dated.append((self.clock.parse(text), position, target))
                except _Bad as exc:
                    self.error(row, header, str(exc))
                    self._bad = True
            no_visit = False
            if not stage_columns:
                at = self.time(cells, "entered_at", row, required=False)
                if at is not None:
                    dated.append((at, 0, entry_step))
                elif not self._bad:
                    # Never engaged (CRM "Prospecting"): the deal is stored without a visit.
                    no_visit = True
            dated.sort()
            closing = final in (WON, LOST) and (not dated or dated[-1][2] not in (WON, LOST))
            if closing:
                closed = (
                    self.time(cells, "closed_at", row, required=False)
                    if ("closed_at" in ix)
                    else None
                )
                if closed is None and not self._bad:
                    self.error(
                        row,
                        "closed_at" if "closed_at" in ix else "stage",
                        f"the deal is {final}, but it has no close date.",
                    )
                    self._bad = True
                elif closed is not None and dated and closed < dated[-1][0]:
                    self.error(
                        row,
                        "closed_at",
                        "before the deal's last stage date; a deal closes after its last stage.",
                    )
                    self._bad = True
                elif closed is not None:
                    dated.append((closed, len(columns) + 1, final))
            d, deal = self._deal(external_id, row)
            # The close date was read above if the deal closed; an open deal's is expected.
            values = self.deal_fields(cells, row, skip=("closed_at",))
            if values is None or self._bad:
                deal.bad = True
                continue
            self.set_deal_fields(deal, values, row, conflicts=False)
            if no_visit:
                deal.no_visit = True
                stage = cells[i_stage].strip() if i_stage is not None else ""
                self.not_engaged[stage] = self.not_engaged.get(stage, 0) + 1
            elif not dated and deal.created_at in (_UNSET, None):
                self.error(row, "deal_id", "the row has no stage dates; nothing to import.")
                deal.bad = True
                continue
            for at, _, target in dated:
                changes.add(d, _TARGET_CODE.get(target, target), at, 0, 0, 0, row)
        return changes

    def _stage_or_open(self, text: str, row: int, strict: bool) -> int | str | None:
        """The final-stage cell of a wide file. With stage columns an unknown name is an
        unknown stage; in a simple file anything not won, lost or ignored means open."""
        if strict:
            return self._stage(text, row, "stage")
        target = self.stages.resolve(text)
        return target if target in (WON, LOST, IGNORE) else None

    def _changes_to_visits(self, changes: _Columns) -> _Columns:
        """metrics.md §1: each change opens a visit at the new step and closes the open one
        at the same instant; won/lost closes it and sets the outcome."""
        out = _Columns()
        n = len(changes.deal)
        if not n:
            for deal in self.deals:
                self._outcome_of_changes(deal, DealStatus.OPEN, None)
            return out
        deal_a, target_a, at_a = _np(changes.deal), _np(changes.step), _np(changes.entered)
        order = np.lexsort((np.arange(n), at_a, deal_a))
        deals = deal_a[order].tolist()
        targets = target_a[order].tolist()
        times = at_a[order].tolist()
        rows = _np(changes.row)[order].tolist()
        actors = _np(changes.actor)[order].tolist()
        del changes, deal_a, target_a, at_a, order
        add = out.add
        current = -1
        step = status = closed = None
        entered = row_in = actor_in = 0
        for k in range(n):
            d = deals[k]
            if d != current:
                if current >= 0:
                    if step is not None:
                        add(current, step, entered, NULL_TIME, -1, actor_in, row_in)
                    self._outcome_of_changes(self.deals[current], status, closed)
                current, step, status, closed = d, None, DealStatus.OPEN, None
            target, at = targets[k], times[k]
            if target < 0:
                outcome = DealStatus.WON if target == _WON_CODE else DealStatus.LOST
                if status == outcome:
                    continue
                if step is not None:
                    add(d, step, entered, at, -1, actor_in, row_in)
                    step = None
                status, closed = outcome, at
            else:
                if status != DealStatus.OPEN:
                    status, closed = DealStatus.OPEN, None  # reopened
                if target == step:
                    continue
                if step is not None:
                    add(d, step, entered, at, -1, actor_in, row_in)
                step, entered, row_in, actor_in = target, at, rows[k], actors[k]
        if step is not None:
            add(current, step, entered, NULL_TIME, -1, actor_in, row_in)
        self._outcome_of_changes(self.deals[current], status, closed)
        return out

    @staticmethod
    def _outcome_of_changes(deal: _Deal, status: str | None, closed: int | None) -> None:
        deal.outcome = status or DealStatus.OPEN
        deal.closed_at = closed
        if deal.outcome != DealStatus.LOST and deal.lost_reason is not _UNSET:
            deal.lost_reason = ""  # a lost reason only sticks to a deal that ends lost

    # -- checks across rows

    def _sort_and_check(self, plan: _Plan, columns: _Columns) -> None:
        n_deals = len(self.deals)
        deal = _np(columns.deal)
        if len(deal):
            order = np.lexsort((_np(columns.row), _np(columns.exited), _np(columns.entered), deal))
            plan.deal = deal[order]
            plan.step = _np(columns.step)[order]
            plan.entered = _np(columns.entered)[order]
            plan.exited = _np(columns.exited)[order]
            plan.work = _np(columns.work)[order]
            plan.actor = _np(columns.actor)[order]
            plan.row = _np(columns.row)[order]
            del order
        del columns
        plan.starts = np.searchsorted(plan.deal, np.arange(n_deals + 1)).astype(np.int64)
        plan.reentry, plan.previous, plan.is_last = path_facts(plan.deal, plan.step)
        self._check_sequences(plan)
        self._check_deals(plan)

    def _check_sequences(self, plan: _Plan) -> None:
        if len(plan.deal) < 1:
            return
        is_open = plan.exited == NULL_TIME
        open_count = np.bincount(plan.deal[is_open], minlength=len(self.deals))
        same = plan.deal[1:] == plan.deal[:-1]
        names = plan.step_names
        for i in np.flatnonzero(same & is_open[:-1]).tolist():
            d = int(plan.deal[i])
            if open_count[d] > 1:
                rows = plan.row[plan.starts[d] : plan.starts[d + 1]][
                    is_open[plan.starts[d] : plan.starts[d + 1]]
                ]
                self.error(
                    int(plan.row[i]),
                    "exited_at",
                    f"deal {self.deals[d].external_id} has {int(open_count[d])} visits without "
                    f"an exit time (rows {', '.join(map(str, sorted(rows.tolist())))}); at most "
                    "one, its last, can be open.",
                )
            else:
                self.error(
                    int(plan.row[i]),
                    "exited_at",
                    f"empty, but deal {self.deals[d].external_id} entered "
                    f"'{names[plan.step[i + 1]]}' later (row {int(plan.row[i + 1])}); only a "
                    "deal's last visit can be open.",
                )
        overlap = same & ~is_open[:-1] & (plan.exited[:-1] > plan.entered[1:])
        for i in np.flatnonzero(overlap).tolist():
            self.error(
                int(plan.row[i + 1]),
                "entered_at",
                f"overlaps the deal's visit to '{names[plan.step[i]]}' (row {int(plan.row[i])}), "
                f"which ends at {from_micros(int(plan.exited[i])).isoformat()}; a deal is at "
                "one step at a time.",
            )

    def _check_deals(self, plan: _Plan) -> None:
        starts = plan.starts
        n_deals = len(self.deals)
        has_visits = (starts[1:] > starts[:-1]).tolist()
        firsts = [0] * n_deals
        last_exit = np.zeros(n_deals, np.int64)
        open_any = np.zeros(n_deals, bool)
        if len(plan.deal):
            firsts = plan.entered[np.minimum(starts[:-1], len(plan.entered) - 1)].tolist()
            is_open = plan.exited == NULL_TIME
            np.maximum.at(last_exit, plan.deal, np.where(is_open, 0, plan.exited))
            open_any[plan.deal[is_open]] = True
        last_exit_l = last_exit.tolist()
        open_l = open_any.tolist()
        for d, deal in enumerate(self.deals):
            if deal.bad:
                continue
            first = firsts[d] if has_visits[d] else None
            created = deal.created_at if deal.created_at is not _UNSET else None
            if created is not None and first is not None and created > first:
                self.error(
                    deal.row,
                    "created_at",
                    f"deal {deal.external_id} was created after its first visit "
                    f"({from_micros(first).isoformat()}).",
                )
            if first is None and created is None and not deal.no_visit:
                self.error(
                    deal.row,
                    "created_at" if "created_at" in self.index else "deal_id",
                    f"deal {deal.external_id} has no visits, so it needs a created_at.",
                )
            outcome = deal.outcome
            closed = deal.closed_at if deal.closed_at is not _UNSET else None
            if outcome in (DealStatus.WON, DealStatus.LOST):
                if open_l[d]:
                    a, b = int(starts[d]), int(starts[d + 1])
                    at = int(plan.row[a + int(np.argmax(plan.exited[a:b]))])
                    self.error(
                        at,
                        "exited_at",
                        f"deal {deal.external_id} is {outcome}, so its visits need exit times.",
                    )
                    continue
                if closed is None:
                    closed = last_exit_l[d] if first is not None else None
                    if closed is None:
                        self.error(
                            deal.row,
                            "closed_at",
                            f"deal {deal.external_id} is {outcome} but has neither a close time "
                            "nor visits to take it from.",
                        )
                        continue
                    deal.closed_at = closed
                elif first is not None and last_exit_l[d] > closed:
                    self.error(
                        deal.row,
                        "closed_at",
                        f"deal {deal.external_id} closed at {from_micros(closed).isoformat()}, "
                        "before it left its last step.",
                    )
                start = created if created is not None else first
                if start is not None and closed < start:
                    self.error(deal.row, "closed_at", "before the deal was created.")
            elif closed is not None and outcome is not _UNSET:
                self.error(
                    deal.row,
                    "closed_at",
                    "a close time needs the outcome won or lost.",
                )
            elif closed is not None:
                self.error(
                    deal.row, "closed_at", "a close time needs an outcome column (won/lost)."
                )
            if (
                deal.lost_reason not in (_UNSET, "")
                and outcome is not _UNSET
                and outcome != DealStatus.LOST
            ):
                self.error(deal.row, "lost_reason", "only a lost deal has a lost reason.")


_WON_CODE, _LOST_CODE = -1, -2
_TARGET_CODE: dict[Any, int] = {WON: _WON_CODE, LOST: _LOST_CODE}


# --- Writing ------------------------------------------------------------------------------


# Binary COPY: psycopg packs datetimes in C; its text format converts each one slowly.
_VISIT_COPY = (
    "COPY funnel_visit (deal_id, step_id, entered_at, exited_at, work_minutes, actor_id, "
    "actor_name, created_at, updated_at, reentry, previous_step_id, is_last) "
    "FROM STDIN (FORMAT BINARY)"
)
_VISIT_COPY_COLUMNS = (
    "deal_id",
    "step_id",
    "entered_at",
    "exited_at",
    "work_minutes",
    "actor_id",
    "actor_name",
    "created_at",
    "updated_at",
    "reentry",
    "previous_step_id",
    "is_last",
)


def _column_types(cursor, table: str, columns: tuple[str, ...]) -> list[str]:
    """PostgreSQL type names of ``columns`` (binary COPY needs them exactly: the user id is
    int4 or int8 depending on the user model)."""
    cursor.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    types = dict(cursor.fetchall())
    return [types[c] for c in columns]


class _Writer:
    """Compares a plan with the stream's stored deals and (unless a dry run) writes the
    difference, a chunk of deals at a time."""

    def __init__(
        self,
        stream: ValueStream,
        plan: _Plan,
        *,
        write: bool,
        progress: Callable[[int, str], None] | None,
    ) -> None:
        self.stream = stream
        self.plan = plan
        self.write = write
        self.progress = progress
        self.now = timezone.now()
        self.errors: list[RowError] = []
        self.created = self.updated = self.unchanged = self.written = 0
        self._copy_types: list[str] | None = None
        self._deal_types: list[str] | None = None

    def run(self) -> ImportResult:
        plan = self.plan
        fresh = not Deal.objects.filter(stream=self.stream).exists()
        n = len(plan.deals)
        for c0 in range(0, n, CHUNK_DEALS):
            c1 = min(n, c0 + CHUNK_DEALS)
            self._chunk(c0, c1, fresh)
            if self.progress:
                self.progress(c1, f"{'Wrote' if self.write else 'Compared'} {c1:,} of {n:,} deals")
        if self.errors:
            raise ImportRejected(
                f"{len(self.errors):,} deals conflict with what is stored; nothing was imported.",
                self.errors,
            )
        return ImportResult(
            deals_created=self.created,
            deals_updated=self.updated,
            deals_unchanged=self.unchanged,
            visits_written=self.written,
            rows=plan.rows,
            deals_without_visit=plan.without_visit,
            owner_names_kept=plan.owner_names_kept,
            notes=list(plan.notes),
        )

    def _visits(self, d: int) -> list[tuple]:
        """Deal ``d``'s visits: (step_id, entered, exited|None, work|None, actor_id, name)."""
        p = self.plan
        a, b = int(p.starts[d]), int(p.starts[d + 1])
        ids, actors = p.step_ids, p.actors
        return [
            (
                ids[s],
                e,
                None if x == NULL_TIME else x,
                None if w < 0 else w,
                *actors[ac],
            )
            for s, e, x, w, ac in zip(
                p.step[a:b].tolist(),
                p.entered[a:b].tolist(),
                p.exited[a:b].tolist(),
                p.work[a:b].tolist(),
                p.actor[a:b].tolist(),
                strict=True,
            )
        ]

    def _new_fields(self, d: int) -> dict[str, Any]:
        deal = self.plan.deals[d]
        p = self.plan
        first = int(p.entered[p.starts[d]]) if p.starts[d + 1] > p.starts[d] else None
        outcome = deal.outcome if deal.outcome is not _UNSET else DealStatus.OPEN
        closed = deal.closed_at if outcome != DealStatus.OPEN else None
        created = deal.created_at if deal.created_at not in (_UNSET, None) else first
        if created is None:  # a deal without a visit or a created date (never engaged)
            created = closed if closed not in (_UNSET, None) else to_micros(self.now)
        owner_id, owner_name = deal.owner if deal.owner not in (_UNSET, None) else (None, None)
        return {
            "external_id": deal.external_id,
            "name": (deal.name if deal.name not in (_UNSET, "") else deal.external_id),
            "account": "" if deal.account is _UNSET else deal.account,
            "amount": None if deal.amount is _UNSET else deal.amount,
            "owner_id": owner_id,
            "owner_name": owner_name,
            "source": "" if deal.source is _UNSET else deal.source,
            "created_at": from_micros(created),
            "first_entered_at": None if first is None else from_micros(first),
            "status": outcome,
            "closed_at": None if closed in (_UNSET, None) else from_micros(closed),
            "lost_reason": (
                deal.lost_reason
                if outcome == DealStatus.LOST and deal.lost_reason is not _UNSET
                else ""
            ),
        }

    def _updated_fields(self, d: int, stored: dict[str, Any]) -> dict[str, Any]:
        """The stored deal with the file's columns applied."""
        deal = self.plan.deals[d]
        values = dict(stored)
        if deal.name is not _UNSET:
            values["name"] = deal.name or deal.external_id
        for attr in ("account", "amount", "source"):
            if getattr(deal, attr) is not _UNSET:
                values[attr] = getattr(deal, attr)
        if deal.owner is not _UNSET:
            values["owner_id"], values["owner_name"] = deal.owner or (None, None)
        if deal.created_at not in (_UNSET, None):
            values["created_at"] = from_micros(deal.created_at)
        if deal.outcome is not _UNSET:
            values["status"] = deal.outcome
            closed = deal.closed_at if deal.outcome != DealStatus.OPEN else None
            values["closed_at"] = None if closed in (_UNSET, None) else from_micros(closed)
            if deal.outcome != DealStatus.LOST:
                values["lost_reason"] = ""
            elif deal.lost_reason is not _UNSET:
                values["lost_reason"] = deal.lost_reason
        elif deal.lost_reason is not _UNSET and values["status"] == DealStatus.LOST:
            values["lost_reason"] = deal.lost_reason
        return values

    _DEAL_COLUMNS = (
        "name",
        "account",
        "amount",
        "owner_id",
        "owner_name",
        "source",
        "created_at",
        "status",
        "closed_at",
        "lost_reason",
    )

    def _chunk(self, c0: int, c1: int, fresh: bool) -> None:
        plan = self.plan
        stored: dict[str, dict[str, Any]] = {}
        stored_visits: dict[int, list[tuple]] = {}
        if not fresh:
            for row in Deal.objects.filter(
                stream=self.stream, external_id__in=[d.external_id for d in plan.deals[c0:c1]]
            ).values_list("id", "external_id", *self._DEAL_COLUMNS):
                stored[row[1]] = dict(
                    zip(("id", *self._DEAL_COLUMNS), (row[0], *row[2:]), strict=True)
                )
            if stored:
                for v in Visit.objects.filter(
                    deal_id__in=[s["id"] for s in stored.values()]
                ).values_list(
                    "deal_id",
                    "id",
                    "step_id",
                    "entered_at",
                    "exited_at",
                    "work_minutes",
                    "actor_id",
                    "actor_name",
                ):
                    stored_visits.setdefault(v[0], []).append(v[1:])

        new_deals: list[tuple[int, dict[str, Any]]] = []
        deal_updates: list[Deal] = []
        changed_fields: set[str] = set()
        deletes: list[int] = []
        closing: list[Visit] = []
        reopening: list[Visit] = []
        inserts: list[tuple] = []  # (deal pk, step id, entered, exited, work, actor, name, …)
        repathed: list[int] = []  # stored deals whose visits change
        for d in range(c0, c1):
            deal = plan.deals[d]
            old = stored.get(deal.external_id)
            if old is None:
                self.created += 1
                self.written += int(plan.starts[d + 1] - plan.starts[d])
                new_deals.append((d, self._new_fields(d)))
                continue
            values = self._updated_fields(d, old)
            if values["closed_at"] is not None and values["closed_at"] < values["created_at"]:
                self.errors.append(
                    RowError(
                        deal.row,
                        "closed_at",
                        f"deal {deal.external_id} would close before it was created "
                        f"({values['created_at'].isoformat()}).",
                    )
                )
                continue
            if values["status"] == DealStatus.OPEN:
                values["closed_at"] = None
            visits_changed = self._diff_visits(
                old["id"],
                self._visits(d),
                stored_visits.get(old["id"], []),
                deletes,
                closing,
                reopening,
                inserts,
            )
            if visits_changed:
                repathed.append(old["id"])
            fields_changed = [k for k in self._DEAL_COLUMNS if values[k] != old[k]]
            if not fields_changed and not visits_changed:
                self.unchanged += 1
                continue
            self.updated += 1
            if fields_changed:
                changed_fields.update(fields_changed)
                deal_updates.append(
                    Deal(pk=old["id"], **{k: values[k] for k in self._DEAL_COLUMNS})
                )
        if not self.write or self.errors:
            return

        if deletes:
            Visit.objects.filter(pk__in=deletes).delete()
        if deal_updates:
            for obj in deal_updates:
                obj.updated_at = self.now
            Deal.objects.bulk_update(
                deal_updates, [*sorted(changed_fields), "updated_at"], batch_size=500
            )
        visit_fields = ["exited_at", "work_minutes", "actor_id", "actor_name", "updated_at"]
        for group in (closing, reopening):  # close first: one open visit per deal at any time
            if group:
                Visit.objects.bulk_update(group, visit_fields, batch_size=500)
        pk_of: dict[int, int] = {}
        if new_deals:
            pk_of = self._create_deals(new_deals)
        self._insert(itertools.chain(self._new_visit_rows(c0, c1, pk_of), inserts))
        # A stored path that changed gets its facts from the database (path order there is
        # entered_at, then id, and the new visits' ids come after the kept ones').
        deal_paths_refresh(repathed)

    _DEAL_COPY_COLUMNS = (
        "id",
        "stream_id",
        "external_id",
        *_DEAL_COLUMNS,
        "updated_at",
        "first_entered_at",
    )
    _DEAL_COPY = f"COPY funnel_deal ({', '.join(_DEAL_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"

    def _create_deals(self, new_deals: list[tuple[int, dict[str, Any]]]) -> dict[int, int]:
        """Insert new deals; returns plan index -> primary key.

        On PostgreSQL the keys are drawn from the table's own sequence first and the rows
        written with ``COPY``: ``bulk_create`` spends about 100 µs per deal preparing values
        (1.7 s for 16,700 deals), more than the whole COPY of their visits.
        """
        if connection.vendor != "postgresql":
            created = Deal.objects.bulk_create(
                [Deal(stream=self.stream, **fields) for _, fields in new_deals], batch_size=1000
            )
            return {d: obj.pk for (d, _), obj in zip(new_deals, created, strict=True)}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('funnel_deal', 'id')) "
                "FROM generate_series(1, %s)",
                [len(new_deals)],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
            if self._deal_types is None:
                self._deal_types = _column_types(cursor, "funnel_deal", self._DEAL_COPY_COLUMNS)
        stream_id, now = self.stream.pk, self.now
        with (
            connection.wrap_database_errors,  # psycopg's errors as Django's (IntegrityError …)
            connection.cursor() as cursor,
            cursor.cursor.copy(self._DEAL_COPY) as copy,
        ):
            copy.set_types(self._deal_types)
            for pk, (_, f) in zip(ids, new_deals, strict=True):
                copy.write_row(
                    (
                        pk,
                        stream_id,
                        f["external_id"],
                        f["name"],
                        f["account"],
                        f["amount"],
                        f["owner_id"],
                        f["owner_name"],
                        f["source"],
                        f["created_at"],
                        f["status"],
                        f["closed_at"],
                        f["lost_reason"],
                        now,
                        f["first_entered_at"],
                    )
                )
        return {d: pk for (d, _), pk in zip(new_deals, ids, strict=True)}

    def _new_visit_rows(self, c0: int, c1: int, pk_of: dict[int, int]) -> Iterator[tuple]:
        """Visits of the chunk's new deals as (deal pk, step id, entered, exited, work,
        actor id, actor name, reentry, previous step id, is last), from the chunk's slice of
        the arrays in one go."""
        if not pk_of:
            return
        p = self.plan
        a, b = int(p.starts[c0]), int(p.starts[c1])
        ids, actors = p.step_ids, p.actors
        everyone = len(pk_of) == c1 - c0
        for d, s, e, x, w, ac, again, before, last in zip(
            p.deal[a:b].tolist(),
            p.step[a:b].tolist(),
            p.entered[a:b].tolist(),
            p.exited[a:b].tolist(),
            p.work[a:b].tolist(),
            p.actor[a:b].tolist(),
            p.reentry[a:b].tolist(),
            p.previous[a:b].tolist(),
            p.is_last[a:b].tolist(),
            strict=True,
        ):
            if everyone or d in pk_of:
                actor_id, actor_name = actors[ac]
                yield (
                    pk_of[d],
                    ids[s],
                    e,
                    None if x == NULL_TIME else x,
                    None if w < 0 else w,
                    actor_id,
                    actor_name,
                    again,
                    None if before < 0 else ids[before],
                    last,
                )

    def _diff_visits(
        self,
        deal_pk: int,
        incoming: list[tuple],
        stored: list[tuple],
        deletes: list[int],
        closing: list[Visit],
        reopening: list[Visit],
        inserts: list[tuple],
    ) -> bool:
        by_key: dict[tuple[int, int], list[tuple]] = {}
        for pk, step_id, entered, exited, work, actor_id, actor_name in stored:
            by_key.setdefault((step_id, to_micros(entered)), []).append(
                (pk, None if exited is None else to_micros(exited), work, actor_id, actor_name)
            )
        changed = False
        for visit in incoming:
            step_id, entered, exited, work, actor_id, actor_name = visit
            matches = by_key.get((step_id, entered))
            if not matches:
                # Its path facts are worked out once the deal's visits are written.
                inserts.append((deal_pk, *visit, None, None, None))
                self.written += 1
                changed = True
                continue
            pk, old_exit, old_work, old_actor, old_name = matches.pop(0)
            if (old_exit, old_work, old_actor, old_name) == (exited, work, actor_id, actor_name):
                continue
            changed = True
            self.written += 1
            obj = Visit(
                pk=pk,
                exited_at=None if exited is None else from_micros(exited),
                work_minutes=work,
                actor_id=actor_id,
                actor_name=actor_name,
                updated_at=self.now,
            )
            (closing if exited is not None else reopening).append(obj)
        for leftovers in by_key.values():
            for pk, *_ in leftovers:
                deletes.append(pk)
                changed = True
        return changed

    def _insert(self, rows: Iterator[tuple]) -> None:
        now = self.now
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if self._copy_types is None:
                    self._copy_types = _column_types(cursor, "funnel_visit", _VISIT_COPY_COLUMNS)
            with (
                connection.wrap_database_errors,
                connection.cursor() as cursor,
                cursor.cursor.copy(_VISIT_COPY) as copy,
            ):
                copy.set_types(self._copy_types)
                write = copy.write_row
                for deal_pk, step_id, entered, exited, work, actor_id, actor_name, *facts in rows:
                    write(
                        (
                            deal_pk,
                            step_id,
                            from_micros(entered),
                            None if exited is None else from_micros(exited),
                            work,
                            actor_id,
                            actor_name,
                            now,
                            now,
                            *facts,
                        )
                    )
            return
        Visit.objects.bulk_create(
            (
                Visit(
                    deal_id=deal_pk,
                    step_id=step_id,
                    entered_at=from_micros(entered),
                    exited_at=None if exited is None else from_micros(exited),
                    work_minutes=work,
                    actor_id=actor_id,
                    actor_name=actor_name,
                    reentry=reentry,
                    previous_step_id=previous_step_id,
                    is_last=is_last,
                )
                for (
                    deal_pk,
                    step_id,
                    entered,
                    exited,
                    work,
                    actor_id,
                    actor_name,
                    reentry,
                    previous_step_id,
                    is_last,
                ) in rows
            ),
            batch_size=2000,
        )


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
    data: bytes,
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the CSV ``data`` into ``stream``: everything, or nothing (see the module
    docstring). ``progress(done, total, message)`` is called while it runs; inside the write
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
    data: bytes,
    options: ImportOptions,
    filename: str = "",
    uploaded_by=None,
    job=None,
) -> ImportUpload:
    """Store a file for a background import (:func:`funnel.tasks.import_events_task`)."""
    _check_format(options.format)
    streamed = connection.vendor == "postgresql"
    with transaction.atomic():
        upload = ImportUpload.objects.create(
            stream=stream,
            uploaded_by=uploaded_by,
            filename=filename[:200],
            data=b"" if streamed else data,
            format=options.format,
            options={**options.as_dict(), "size": len(data)},
            job=job,
        )
        if streamed:
            _store_upload_data(upload.pk, io.BytesIO(data), len(data))
    return upload


def import_uploads_prune(*, older_than_days: int = 7) -> int:
    """Delete uploaded files older than ``older_than_days`` whose import is not queued or
    running (a finished or failed import, or a wizard left before it started one); they can
    weigh hundreds of megabytes each. Returns how many were deleted."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    busy = Q(job__state__in=[JobState.QUEUED, JobState.RUNNING])
    deleted, _ = ImportUpload.objects.filter(created_at__lt=cutoff).exclude(busy).delete()
    return deleted


MAPPING_KEYS = ("columns", "steps", "owners", "time_zone", "day_first")


def load_mapping(text: str) -> dict[str, Any]:
    """Parse a mapping file, JSON or YAML (docs/importing.md): ``columns`` {field: header},
    ``steps`` {stage: step | won | lost | ignore}, ``owners`` {name in the file: username or
    email of a member, or "" to keep the name}, optional ``time_zone`` and ``day_first``.
    Raises :class:`ImportRejected` saying what is wrong."""
    text = text.removeprefix("\ufeff")
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as json_error:
        if text.lstrip()[:1] in ("{", "["):
            raise ImportRejected(f"The mapping file is not valid JSON: {json_error}.") from None
        try:
            mapping = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise ImportRejected(
                f"The mapping file is neither JSON nor YAML{line}: "
                f"{getattr(exc, 'problem', None) or exc}."
            ) from None
    if not isinstance(mapping, dict):
        raise ImportRejected(
            "The mapping file must hold a mapping with the keys columns, steps and owners "
            '(JSON: {"columns": {…}, "steps": {…}}).'
        )
    unknown = set(mapping) - set(MAPPING_KEYS)
    if unknown:
        raise ImportRejected(
            f"The mapping file has unknown keys: {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(MAPPING_KEYS)})."
        )
    for key in ("columns", "steps", "owners"):
        value = mapping.get(key) or {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str | None) for k, v in value.items()
        ):
            raise ImportRejected(f'"{key}" in the mapping file must map names to names.')
        mapping[key] = {k: v or "" for k, v in value.items()}
    if "time_zone" in mapping and not isinstance(mapping["time_zone"], str):
        raise ImportRejected('"time_zone" in the mapping file must be a name like Europe/Berlin.')
    if "day_first" in mapping and not isinstance(mapping["day_first"], bool):
        raise ImportRejected('"day_first" in the mapping file must be true or false.')
    return mapping


def options_with_mapping(
    options: ImportOptions, mapping: dict[str, Any], headers: Sequence[str]
) -> ImportOptions:
    """``options`` with a mapping (a mapping file's, or a remembered one) laid over them: its
    columns replace those guessed (a column the file lacks is left out; "" unmaps a field),
    its stages and owners are added, and its time zone and day order apply when it has them."""
    columns = dict(options.columns)
    for name, header in (mapping.get("columns") or {}).items():
        if not header:
            columns.pop(name, None)
        elif header in headers:
            columns[name] = header
    return replace(
        options,
        columns=columns,
        steps={**options.steps, **(mapping.get("steps") or {})},
        owners={**options.owners, **(mapping.get("owners") or {})},
        time_zone=mapping.get("time_zone") or options.time_zone,
        day_first=mapping.get("day_first", options.day_first),
    )


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
    streamed = connection.vendor == "postgresql"
    with transaction.atomic():
        upload = ImportUpload.objects.create(
            stream=stream,
            uploaded_by_id=user_id,
            filename=filename[:200],
            data=b"" if streamed else (data if data is not None else file.read()),
            format=options.format,
            options={**options.as_dict(), **extra},
        )
        if streamed:
            _store_upload_data(upload.pk, file, size)
    return upload


def import_upload_scan(*, upload: ImportUpload, progress: Progress | None = None) -> None:
    """Read every row of an uploaded file once for the distinct values of its columns
    (:func:`column_values`), so the wizard lists stages and owners without reading the file
    again on every page (a large file's scan runs on a worker: :func:`import_scan_task`)."""
    table = read_table(upload_bytes(upload))
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
    table = read_table(upload_bytes(upload))
    table.values = scan
    return table


def obvious_outcome(name: str) -> str | None:
    """ "won" or "lost" for a stage name that obviously is one (Won, Closed Won, closedlost
    …), else None."""
    return _obvious_outcome(name)


def import_upload_check(
    *, upload: ImportUpload, progress: Progress | None = None, user_id: int | None = None
) -> ImportResult:
    """Check an uploaded file with its options (a dry run of the whole import) and, when it
    checks out, remember its mapping for the stream and the file's source. Raises
    :class:`ImportRejected`."""
    table = read_table(upload_bytes(upload))
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


def source_key(headers: Sequence[str], format: str) -> str:
    """What identifies a file's source for a remembered mapping: its format and its column
    names (in any order, compared as :func:`_norm` does), as a hex digest."""
    names = sorted({_norm(h) for h in headers if h})
    return hashlib.sha256("\x1f".join([format, *names]).encode()).hexdigest()
