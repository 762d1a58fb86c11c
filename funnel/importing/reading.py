"""Reading an uploaded file as a table: what is refused before any row is read (not a table, not
UTF-8, NUL bytes, too large, too many columns), the lazy rows, and one scan of every column's
distinct values.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings

from funnel.importing.cells import _CHECK_LEADS, _Bad, unneutralise
from funnel.importing.formats import xes
from funnel.importing.types import DEFAULT_MAX_BYTES, ImportRejected, NumberedRows


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
    #: "csv", or "xes" for an XES event log read as a table (funnel.importing.formats.xes).
    kind: str = "csv"

    def numbered_rows(self) -> Iterator[tuple[int, list[str]]]:
        """``(row number as in the file, header = 1; cells)`` of every data row (of an XES
        log: the line of the row's event)."""
        numbered = getattr(self.rows, "numbered", None)
        if numbered is not None:
            return numbered()
        return ((i + 2, list(r)) for i, r in enumerate(self.rows))

    def row_estimate(self) -> int:
        """At least the number of data rows, without reading the file (for progress)."""
        estimate = getattr(self.rows, "estimate", None)
        return len(self.rows) if estimate is None else estimate

    def may_hold_formulas(self) -> bool:
        return getattr(self.rows, "may_hold_formulas", True)


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


class _CsvRows(NumberedRows):
    """The data rows of a CSV held as bytes, parsed again on every iteration."""

    def __init__(self, data: bytes, delimiter: str, may_hold_formulas: bool) -> None:
        self._data = data
        self._delimiter = delimiter
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
            "This file is XML or HTML (a web page, or XML whose root is not an XES <log>), "
            "not a CSV table. Export the data as CSV, or the event log as XES (the xes "
            "format), and upload that."
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


def _xes_table(source: bytes | BinaryIO, limit: int, head: bytes | None = None) -> Table:
    """An XES event log as a table (:data:`funnel.importing.formats.xes.HEADERS`), its rows
    read lazily (from ``source``, its bytes or a file, on every pass). Refuses, before any row
    is checked, a file that is not well-formed up to its first trace, declares a document
    type, or holds no trace."""
    rows = xes.XesRows(source, limit, head)
    if not rows.has_trace():
        raise ImportRejected("The XES log holds no trace (no <trace> element): nothing to import.")
    return Table(headers=list(xes.HEADERS), rows=rows, kind="xes")


#: Of a file (rather than bytes) this much is read to tell an XES log from a CSV table.
_SNIFF = 65536


def read_table(data: bytes | BinaryIO, *, max_bytes: int | None = None) -> Table:
    """Check that ``data`` is a CSV file this import can read and return its table.

    ``data`` is the file's bytes, or the file itself (binary, seekable: a path opened, an
    upload read from the database). An XES log in a file is read from it a chunk at a time on
    every pass, never held whole (a 1,000,000-event log is about 320 MB); any other file is
    read into memory, as its bytes would be.

    Raises :class:`ImportRejected` (with ``errors == []``) when the file is too large
    (``max_bytes``, default ``settings.VSM_IMPORT_MAX_BYTES``), not UTF-8 (a BOM is fine), not
    CSV, empty, or has blank or duplicate column names. Commas, semicolons and tabs separate
    columns (the header decides).
    """
    limit = max_import_bytes() if max_bytes is None else max_bytes
    size = len(data) if isinstance(data, bytes) else data.seek(0, io.SEEK_END)
    if size > limit:
        raise ImportRejected(
            f"The file is {_megabytes(size)}; the limit is {_megabytes(limit)}. "
            "Split it into smaller files (by date, for example) and import each."
        )
    if not isinstance(data, bytes):
        data.seek(0)
        head = data.read(_SNIFF)
        if size > len(head) and xes.looks_like_xes(head):
            return _xes_table(data, limit, head)
        data.seek(0)
        data = data.read()  # once: ``head + data.read()`` would hold the file twice a moment
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
    if xes.looks_like_xes(data):
        return _xes_table(data, limit)
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
