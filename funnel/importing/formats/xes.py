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
entities can be declared (billion laughs, external entities), refuses the file. The parsing
itself is :mod:`funnel.importing.formats.xes_parse`; a large log's rows are parsed there by a
child process while this one checks them (:data:`CHILD_MIN_EVENTS`).
"""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import queue
import re
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from funnel.importing.formats import transitions, visits, xes_parse
from funnel.importing.plan import _Columns, changes_to_visits
from funnel.importing.types import ImportRejected, NumberedRows

if TYPE_CHECKING:
    from funnel.importing.checking import _Builder

#: The table an XES log is read as: pm4py's names for the case, the activity, the start and
#: the complete time, the resource; then the export's own attributes.
DEAL_KEYS = xes_parse.DEAL_KEYS
HEADERS = [
    "case:concept:name",
    "concept:name",
    "start_timestamp",
    "time:timestamp",
    "work_minutes",
    "org:resource",
    *DEAL_KEYS,
]
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


#: What an XES log is read from: its bytes, or a binary file (seekable) that is read a chunk at
#: a time on every pass, so that a large upload is never held in memory whole.
Source = bytes | BinaryIO

#: A log of at least this many events (:attr:`XesRows.estimate`) is read by a child process
#: (:mod:`funnel.importing.formats.xes_parse`) while this one checks the rows it sends: on two
#: cores the reading then costs the import little more than reading a CSV of the same rows.
CHILD_MIN_EVENTS = 20_000
#: Frames of the log's bytes sent to the child and not yet answered, at most.
_IN_FLIGHT = 6


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
        return xes_parse.gunzipped(_raw_chunks(self._source), self._limit, _CHUNK)

    # -- parsing

    def mode(self) -> str:
        """:data:`INTERVALS` when some event's lifecycle is ``start``, else :data:`CHANGES`."""
        if self._mode is None:
            try:
                found = xes_parse.probe(self._chunks(), trace=False)
            except xes_parse.XesError:
                found = False  # a damaged file (or the head of one): the rows' pass says why
            self._mode = INTERVALS if found else CHANGES
        return self._mode

    def has_trace(self) -> bool:
        """Whether the log holds a trace (parsed up to the first one only)."""
        try:
            return xes_parse.probe(self._chunks(), trace=True)
        except xes_parse.XesError as exc:
            raise ImportRejected(str(exc)) from None

    def numbered(self) -> Iterator[tuple[int, list[str]]]:
        intervals = self.mode() == INTERVALS
        if self.estimate >= CHILD_MIN_EVENTS:
            return self._in_children(intervals)
        return self._here(intervals)

    def _here(self, intervals: bool) -> Iterator[tuple[int, list[str]]]:
        """The rows, parsed in this process."""
        try:
            for batch in xes_parse.rows(self._chunks(), intervals=intervals, skipped=SKIPPED):
                yield from batch
        except xes_parse.XesError as exc:
            raise ImportRejected(str(exc)) from None

    def _options(self, intervals: bool, *, gzipped: bool) -> dict:
        return {
            "gzipped": gzipped,
            "limit": self._limit,
            "intervals": intervals,
            "skipped": SKIPPED,
            "chunk": _CHUNK,
        }

    def _in_children(self, intervals: bool) -> Iterator[tuple[int, list[str]]]:
        """The rows, parsed by two child processes (:func:`xes_parse.main`) as they are read
        here, each given every other block of whole traces (about :data:`_BLOCK` bytes), so
        that on two cores the reading costs the import little more than reading a CSV of the
        same rows. This process reads the file (from wherever it is: a path, the database),
        unpacks it when it is gzipped, cuts it before a ``<trace`` tag and sends the blocks;
        each child is given the log's head (everything before the first trace) and then its
        blocks, each with the line where it begins, and answers each with its rows.

        A block is cut only where nothing can hide a tag (no comment, CDATA section or
        processing instruction in it, no lone carriage return that would put the lines off),
        and each child says how many elements are open after each block: one (the log), or
        the cut was not between two traces. Then, and when a child finds the log damaged, the
        rows are read again by one child from the start (:meth:`_in_child`), the rows already
        given skipped: the rows, their numbers and the message that refuses the file are
        always those of reading the log in one piece."""
        given = 0
        try:
            for row in self._split(intervals):
                given += 1
                yield row
            return
        except _Again:
            pass
        for n, row in enumerate(self._in_child(intervals)):
            if n >= given:
                yield row

    def _split(self, intervals: bool) -> Iterator[tuple[int, list[str]]]:
        children: list[_Child] = []
        answers: collections.deque[tuple[_Child, bool]] = collections.deque()

        def send(child: _Child, message: tuple, check: bool) -> None:
            child.send(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
            answers.append((child, check))

        def answer() -> list[tuple[int, list[str]]]:
            child, check = answers.popleft()
            frame = child.receive()
            if frame is None:
                raise _Again
            kind, rows, *rest = pickle.loads(frame)
            if kind == "error" or (check and rest[0] != 1):
                raise _Again
            return rows

        def start() -> _Child:
            child = _Child.start(self._options(intervals, gzipped=False))
            if child is None:
                raise _Again
            children.append(child)
            return child

        try:
            first = start()
            current = first
            head: bytes | None = None
            cuts = True
            buf = b""
            line = 1  # of buf's first byte
            block_open = False  # buf continues a block already sent (no more cuts)
            pieces = self._chunks()
            while True:
                try:
                    piece = next(pieces, None)
                except xes_parse.XesError:
                    raise _Again from None  # the reading in one piece says where and why
                if piece is not None:
                    buf += piece
                if head is None and piece is not None:
                    at = _trace_tag(buf, 0)
                    if at < 0:
                        if len(buf) < _BLOCK * 8:
                            continue
                        cuts = False  # no trace in 8 blocks: no cut at all
                    else:
                        head, buf = buf[:at], buf[at:]
                        cuts = _clean_head(head)
                        send(first, ("data", 1, head), cuts)
                        line += head.count(b"\n")
                while cuts and head is not None and len(buf) >= _BLOCK:
                    at = _trace_tag(buf, _BLOCK // 2, last=True)
                    if at < 0:
                        break
                    if (
                        buf.find(b"<!", 0, at) >= 0
                        or buf.find(b"<?", 0, at) >= 0
                        or (buf.find(b"\r", 0, at) >= 0)
                    ):
                        cuts = False
                        break
                    block, buf = buf[:at], buf[at:]
                    send(current, ("data", line, block), True)
                    line += block.count(b"\n")
                    if len(children) < 2:
                        other = start()
                        send(other, ("data", 1, head), True)
                    current = children[1] if current is children[0] else children[0]
                    while len(answers) >= _IN_FLIGHT:
                        yield from answer()
                if not cuts and buf:
                    if head is None:
                        head = b""
                    send(current, ("data", None if block_open else line, buf), False)
                    block_open = True
                    buf = b""
                if piece is None:
                    break
                while len(answers) >= _IN_FLIGHT:
                    yield from answer()
            if buf:
                send(current, ("data", None if block_open else line, buf), False)
            for child in children:
                if child is not current:
                    send(child, ("end", True), False)
            send(current, ("end", False), False)
            while answers:
                yield from answer()
            for child in children:
                child.wait()  # each ends after its last frame
        finally:
            for child in children:
                child.stop()

    def _in_child(self, intervals: bool) -> Iterator[tuple[int, list[str]]]:
        """The rows, parsed by one child process (:func:`xes_parse.main`) as they are read
        here: this process reads the file (from wherever it is: a path, the database) and
        sends its bytes, packed or not, as they come; the child unpacks and parses them and
        sends the rows back, a chunk's at a time, or the message that refuses the file, after
        the rows before the damage, as the reading in this process would raise it. Nothing
        but the current chunks is held on either side. Parsed here when no child can start."""
        child = _Child.start(self._options(intervals, gzipped=self._gzipped))
        if child is None:
            yield from self._here(intervals)
            return
        raw = _raw_chunks(self._source)
        sent = answered = 0
        ended = False
        try:
            while True:
                while not ended and sent - answered < _IN_FLIGHT:
                    data = next(raw, b"")
                    ended = not data
                    message = ("end", False) if ended else ("data", None, data)
                    child.send(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
                    sent += 1
                frame = child.receive()
                if frame is None:
                    raise child.died()
                answered += 1
                kind, rows, *rest = pickle.loads(frame)
                if kind != "rows":
                    child.wait()  # it ends after its last frame
                yield from rows
                if kind == "error":
                    raise ImportRejected(rest[0])
                if kind == "done":
                    return
        finally:
            child.stop()


class _Again(Exception):
    """The log is to be read again in one piece (see :meth:`XesRows._in_children`)."""


#: The size of a block of traces given to one of the two child processes.
_BLOCK = 1 << 20
_TAG_ENDS = frozenset(b" \t\r\n>/")
_HIDDEN = re.compile(rb"<!--.*?-->|<\?.*?\?>", re.DOTALL)


def _trace_tag(data: bytes, start: int, *, last: bool = False) -> int:
    """Where the first (or ``last``) ``<trace`` start tag at or after ``start`` in ``data``
    begins, its name whole (not ``<traces``); -1 if none (or its name may go on after
    ``data``)."""
    end = len(data)
    at = data.rfind(b"<trace", start, end) if last else data.find(b"<trace", start)
    while at >= 0:
        if at + 6 < len(data) and data[at + 6] in _TAG_ENDS:
            return at
        if last:
            end = at
            at = data.rfind(b"<trace", start, end)
        else:
            at = data.find(b"<trace", at + 1)
    return -1


def _clean_head(head: bytes) -> bool:
    """Whether the log's head ends outside any comment or processing instruction (and holds
    no CDATA section or document type), so that a block can follow it."""
    rest = _HIDDEN.sub(b"", head)
    return b"<!" not in rest and b"<?" not in rest and b"\r" not in head


class _Child:
    """A child process running :func:`xes_parse.main`, and the thread that writes to it (the
    child may be writing rows while this process would be blocked writing to it)."""

    def __init__(self, process: subprocess.Popen, errors) -> None:
        self.process = process
        self.errors = errors
        self.frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.feeder = threading.Thread(target=_feed, args=(process.stdin, self.frames), daemon=True)
        self.feeder.start()

    @classmethod
    def start(cls, options: dict) -> _Child | None:
        errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", xes_parse.__file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        except OSError:
            errors.close()
            return None
        child = cls(process, errors)
        child.send(pickle.dumps(options))
        return child

    def send(self, payload: bytes) -> None:
        self.frames.put(payload)

    def receive(self) -> bytes | None:
        return xes_parse.read_frame(self.process.stdout)

    def wait(self) -> None:
        self.process.wait(timeout=30)

    def died(self) -> RuntimeError:
        self.process.wait()
        self.errors.seek(0)
        return RuntimeError(
            f"The process reading the XES log ended (exit code {self.process.returncode}) "
            "before the end of the log: " + self.errors.read()[-2000:].decode("utf-8", "replace")
        )

    def stop(self) -> None:
        self.frames.put(None)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.feeder.join()
        self.process.stdout.close()
        self.errors.close()


def _feed(pipe, frames: queue.SimpleQueue) -> None:
    """Write the frames put in ``frames`` to the child's input until None (or the child has
    gone), then close it."""
    try:
        for data in iter(frames.get, None):
            xes_parse.write_frame(pipe, data)
    except OSError:
        pass  # the child has ended (done, refused the file, or was stopped)
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


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
