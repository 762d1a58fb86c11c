"""The ``xes`` format: an IEEE 1849 XES event log, plain or gzipped, as process-mining tools
(ProM, Disco, pm4py, Celonis) and this app's own export (:mod:`funnel.exporting.xes`) write it.

The file is read as a table with pm4py's column names (:data:`HEADERS`), so the rest of the
import (mapping, checks, plan, writing) is the CSV formats'. Two kinds of log:

- **start and complete events** (the log has at least one ``start``): each start with its
  complete (same activity, and the same ``concept:instance`` when the log has one) is a visit,
  read as a row of the ``visits`` layout; a start without a complete is a visit still open.
- **complete-only** (no ``start`` anywhere): each event is a stage change, as CRM stage
  histories are, read by the ``transitions`` layout.

Each row's number is the line of its (start) event in the file; a trace without events is one
row of the deal's columns, numbered by its line. The trace's attributes ``concept:name`` (the
deal id) and the export's deal fields (``deal_name``, ``account``, ``amount``, ``owner``,
``source``, ``outcome``, ``closed_at``, ``lost_reason``, ``created_at``) are the deal's columns.

The file is untrusted: it is parsed by expat as a stream (a chunk at a time, nothing of it
kept but the current trace), and a document type declaration (``<!DOCTYPE``), the only place
entities can be declared (billion laughs, external entities), refuses the file.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator
from pyexpat import XML_PARAM_ENTITY_PARSING_NEVER, ExpatError, ParserCreate
from typing import TYPE_CHECKING, BinaryIO

from funnel.importing.formats import transitions, visits
from funnel.importing.plan import _Columns, changes_to_visits
from funnel.importing.types import ImportRejected, NumberedRows

if TYPE_CHECKING:
    from funnel.importing.checking import _Builder

#: The table an XES log is read as: pm4py's names for the case, the activity, the start and
#: the complete time, the resource; then the export's own attributes.
DEAL_KEYS = (
    "deal_name",
    "account",
    "amount",
    "owner",
    "source",
    "outcome",
    "closed_at",
    "lost_reason",
    "created_at",
)
HEADERS = [
    "case:concept:name",
    "concept:name",
    "start_timestamp",
    "time:timestamp",
    "work_minutes",
    "org:resource",
    *DEAL_KEYS,
]
_TRACE_KEYS = frozenset(("concept:name", *DEAL_KEYS))
_EVENT_KEYS = frozenset(
    (
        "concept:name",
        "concept:instance",
        "time:timestamp",
        "lifecycle:transition",
        "org:resource",
        "work_minutes",
    )
)
#: Lifecycle transitions (the XES standard lifecycle model) that neither begin nor end a
#: visit: read as nothing. Any other value than these, start and complete refuses the file.
SKIPPED = transitions.SKIPPED_TRANSITIONS
_CHUNK = 1 << 20
#: A gzipped log may unpack to at most this many times the upload limit (a "zip bomb").
_MAX_RATIO = 20

INTERVALS, CHANGES = "intervals", "changes"


_PROLOG = re.compile(
    rb"(?:\s*(?:<\?.*?\?>|<!--.*?-->))*\s*(?:<!DOCTYPE\s+(?:[\w.-]+:)?log\b|<(?:[\w.-]+:)?log\b)",
    re.DOTALL,
)


def looks_like_xes(data: bytes) -> bool:
    """Whether ``data`` (or its gzip-compressed content) is an XML document whose root is a
    ``log`` element: an XES event log."""
    head = data[:65536]
    if head[:2] == b"\x1f\x8b":
        if len(data) <= len(head):
            head = head[:-8]  # without the checksum: a damaged one is the parse's to report
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 65536)
        except zlib.error:
            return False
    return _PROLOG.match(head.removeprefix(b"\xef\xbb\xbf")) is not None


class _Stop(Exception):
    pass


def _refuse_dtd(*_args) -> None:
    raise ImportRejected(
        "The XES file declares a document type (<!DOCTYPE …>). An event log has none, and a "
        "declaration can define entities that expand to fill the memory or read other files, "
        "so the import refuses it. Export the log again without it."
    )


#: What an XES log is read from: its bytes, or a binary file (seekable) that is read a chunk at
#: a time on every pass, so that a large upload is never held in memory whole.
Source = bytes | BinaryIO


def _size(source: Source) -> int:
    if isinstance(source, bytes):
        return len(source)
    at = source.seek(0, io.SEEK_END)
    source.seek(0)
    return at


def _raw_chunks(source: Source) -> Iterator[bytes]:
    """The bytes of ``source`` from its start, :data:`_CHUNK` at a time."""
    if isinstance(source, bytes):
        view = memoryview(source)
        for start in range(0, len(view), _CHUNK):
            yield bytes(view[start : start + _CHUNK])
        return
    source.seek(0)
    while chunk := source.read(_CHUNK):
        yield chunk


class XesRows(NumberedRows):
    """The rows of an XES log (gzipped or not) held as bytes or in a file, parsed again on
    every iteration (as :class:`funnel.importing.reading._CsvRows` is)."""

    may_hold_formulas = False  # XML text is not a spreadsheet's cell

    def __init__(self, source: Source, limit: int, head: bytes | None = None) -> None:
        self._source = source
        if head is None:
            head = source[:2] if isinstance(source, bytes) else next(_raw_chunks(source), b"")
        self._gzipped = head[:2] == b"\x1f\x8b"
        self._limit = limit * _MAX_RATIO
        self._mode: str | None = None
        size = _size(source)
        if self._gzipped:
            self.estimate = max(1, size // 40)  # about 10 events a kilobyte gzipped
        else:
            # A tag cut between two chunks is counted across the cut (5 bytes either side).
            count, carry = 0, b""
            for chunk in _raw_chunks(source):
                count += (carry + chunk[:5]).count(b"<event") + chunk.count(b"<event")
                carry = chunk[-5:]
            self.estimate = max(1, count)

    # -- the stream of bytes

    def _chunks(self) -> Iterator[bytes]:
        if not self._gzipped:
            return _raw_chunks(self._source)
        return self._gunzipped()

    def _gunzipped(self) -> Iterator[bytes]:
        """The unpacked bytes of a gzip file (of each member in turn), a chunk at a time. A
        damaged or cut stream is refused after the bytes before the damage (so the head of a
        large upload still shows its first rows)."""
        raw = _raw_chunks(self._source)
        unpack = zlib.decompressobj(16 + zlib.MAX_WBITS)
        read, tail = 0, b""
        while True:
            if unpack.eof:
                rest = unpack.unused_data
                # NUL bytes after the last member are padding; anything else is a member (a
                # member never begins with a NUL, so one NUL kept says the rest is damaged).
                while not rest.strip(b"\x00"):
                    more = next(raw, None)
                    if more is None:
                        return
                    rest = rest[:1] + more
                unpack, tail = zlib.decompressobj(16 + zlib.MAX_WBITS), rest
            elif not tail:
                tail = next(raw, b"")
                if not tail:
                    raise ImportRejected(
                        "The gzip-compressed file is cut short (it ends before its end marker); "
                        "compress the XES file again and upload it."
                    )
            try:
                chunk = unpack.decompress(tail, _CHUNK)
            except zlib.error as exc:
                raise ImportRejected(
                    f"The gzip-compressed file is damaged ({exc}); compress the XES file again "
                    "and upload it."
                ) from None
            tail = unpack.unconsumed_tail
            if chunk:
                read += len(chunk)
                if read > self._limit:
                    raise ImportRejected(
                        f"The gzip-compressed file unpacks to more than {self._limit >> 20:,} MB; "
                        "split the log and import each part."
                    )
                yield chunk

    # -- parsing

    def mode(self) -> str:
        """:data:`INTERVALS` when some event's lifecycle is ``start``, else :data:`CHANGES`."""
        if self._mode is None:
            self._mode = CHANGES
            try:
                for _ in self._parse(detect=True):
                    pass
            except _Stop:
                self._mode = INTERVALS
            except ImportRejected:
                pass  # a damaged file (or the head of one): the rows' own pass says why
        return self._mode

    def has_trace(self) -> bool:
        """Whether the log holds a trace (parsed up to the first one only)."""
        try:
            for _ in self._parse(detect=True, probe=True):
                pass
        except _Stop:
            return True
        return False

    def numbered(self) -> Iterator[tuple[int, list[str]]]:
        return self._parse(detect=False)

    def _parse(self, *, detect: bool, probe: bool = False) -> Iterator[tuple[int, list[str]]]:
        parser = ParserCreate()
        parser.SetParamEntityParsing(XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = _refuse_dtd
        parser.EntityDeclHandler = _refuse_dtd
        parser.ExternalEntityRefHandler = _refuse_dtd
        out: list[tuple[int, list[str]]] = []
        intervals = not detect and self.mode() == INTERVALS
        depth = 0
        trace: dict[str, str] | None = None
        trace_line = 0
        events: list[tuple[int, dict[str, str]]] = []
        event: dict[str, str] | None = None
        line_of = parser  # CurrentLineNumber is read off the parser

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal depth, trace, trace_line, event
            depth += 1
            if depth == 4:
                if event is not None:
                    key = attrs.get("key")
                    if key in _EVENT_KEYS:
                        value = attrs.get("value", "")
                        event[key] = value
                        if (
                            detect
                            and key == "lifecycle:transition"
                            and value.strip().lower() == "start"
                        ):
                            raise _Stop
                return
            if depth == 3:
                if trace is None:
                    return
                if name == "event" or name.endswith(":event"):
                    event = {}
                    events.append((line_of.CurrentLineNumber, event))
                else:
                    key = attrs.get("key")
                    if key in _TRACE_KEYS:
                        trace[key] = attrs.get("value", "")
                return
            if depth == 2 and (name == "trace" or name.endswith(":trace")):
                if probe:
                    raise _Stop
                trace = {}
                trace_line = line_of.CurrentLineNumber
                events.clear()
            elif depth == 1 and not (name == "log" or name.endswith(":log")):
                raise ImportRejected(
                    f"This XML file's root element is <{name}>, not an XES <log>; it is not "
                    "an event log."
                )

        def end(name: str) -> None:
            nonlocal depth, trace, event
            if depth == 3:
                event = None
            elif depth == 2 and trace is not None:
                if not detect:
                    _trace_rows(trace, trace_line, events, intervals, out)
                trace = None
                events.clear()
            depth -= 1

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        try:
            for chunk in self._chunks():
                parser.Parse(chunk, False)
                if out:
                    yield from out
                    out.clear()
            parser.Parse(b"", True)
        except ExpatError as exc:
            raise ImportRejected(
                f"The XES file is not well-formed XML: {exc}. Export the log again."
            ) from None
        yield from out


def _trace_rows(
    trace: dict[str, str],
    line: int,
    events: list[tuple[int, dict[str, str]]],
    intervals: bool,
    out: list[tuple[int, list[str]]],
) -> None:
    """The rows of one trace: a visit per start and complete pair (``intervals``), or a stage
    change per event; a trace without events gives one row of the deal's columns."""
    case = trace.get("concept:name", "")
    deal = [trace.get(k, "") for k in DEAL_KEYS]
    if not events:
        out.append((line, [case, "", "", "", "", "", *deal]))
        return
    opened: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = {}
    rows: list[tuple[int, list[str]]] = []
    for at, event in events:
        value = event.get("lifecycle:transition")
        transition = "complete" if value is None else value.strip().lower()
        activity = event.get("concept:name", "")
        if transition == "complete":
            if not intervals:
                rows.append(
                    (
                        at,
                        [
                            case,
                            activity,
                            "",
                            event.get("time:timestamp", ""),
                            "",
                            event.get("org:resource", ""),
                            *deal,
                        ],
                    )
                )
                continue
            waiting = opened.get((activity, event.get("concept:instance", "")))
            if not waiting:
                raise ImportRejected(
                    f"Trace '{case}' (line {line}): the complete event of '{activity}' on line "
                    f"{at} has no start event before it. In a log with start events each "
                    "complete closes the visit its start opened; add the start, or export the "
                    "log with complete events only (each one then a stage change)."
                )
            first_at, first = waiting.pop(0)
            rows.append((first_at, _visit(case, activity, first, event, deal)))
        elif transition == "start":
            key = (activity, event.get("concept:instance", ""))
            opened.setdefault(key, []).append((at, event))
        elif transition not in SKIPPED:
            raise ImportRejected(
                f"Trace '{case}' (line {line}): the event '{activity}' on line {at} has the "
                f"lifecycle transition '{value}', which the import does not read. It reads "
                "start and complete (a start with its complete is a visit; in a log without "
                "start events each complete is a stage change) and skips "
                + ", ".join(sorted(SKIPPED))
                + "."
            )
    for waiting in opened.values():
        for first_at, first in waiting:
            rows.append((first_at, _visit(case, first.get("concept:name", ""), first, None, deal)))
    rows.sort(key=lambda r: r[0])
    out.extend(rows)


def _visit(
    case: str, activity: str, first: dict[str, str], last: dict[str, str] | None, deal: list[str]
) -> list[str]:
    work = (last or {}).get("work_minutes") or first.get("work_minutes", "")
    resource = first.get("org:resource") or (last or {}).get("org:resource", "")
    return [
        case,
        activity,
        first.get("time:timestamp", ""),
        "" if last is None else last.get("time:timestamp", ""),
        work,
        resource,
        *deal,
    ]


def read(builder: _Builder) -> _Columns:
    """The visits of an XES table: its pairs as the ``visits`` layout's rows, or its
    complete-only events as the ``transitions`` layout's stage changes."""
    rows = builder.table.rows
    if rows.mode() == INTERVALS:  # type: ignore[attr-defined]
        return visits.read(builder)
    # The transitions layout reads the activity as the stage, the time as the change's.
    for field, same in (("stage", "step"), ("changed_at", "exited_at")):
        if same in builder.index:
            builder.index[field] = builder.index[same]
            builder.header[field] = builder.header[same]
    return changes_to_visits(builder.deals, transitions.read(builder))
