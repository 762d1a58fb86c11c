"""The XES reader's parsing (:mod:`funnel.importing.formats.xes`): XML to rows, with no Django
and nothing but the standard library, so that the same code runs in the importing process or,
for a large log, in a child process of its own (``python -I -S xes_parse.py``; see
:func:`main`), which reads the log while the importing process checks the rows it has sent.

expat calls a Python function at the start and the end of each element (about 6.5 million
of each for 1,000,000 events), so those are kept short: the attributes come as a list
(``ordered_attributes``, no dict per element), the end only counts the depth down, and a
trace's rows are made when the next element at its depth starts, at the end of a chunk, or at
the end of the log, not at its end tag.
"""

from __future__ import annotations

import operator
import pickle
import struct
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from pyexpat import XML_PARAM_ENTITY_PARSING_NEVER, ExpatError, ParserCreate

#: The deal's columns, after pm4py's six (funnel.importing.formats.xes.HEADERS).
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

Row = tuple[int, list[str]]


class XesError(Exception):
    """The log cannot be read; the message says why (the import refuses the file with it)."""


class Found(Exception):
    """Raised by the probing passes when what they look for is found."""


def refuse_dtd(*_args) -> None:
    raise XesError(
        "The XES file declares a document type (<!DOCTYPE …>). An event log has none, and a "
        "declaration can define entities that expand to fill the memory or read other files, "
        "so the import refuses it. Export the log again without it."
    )


def gunzipped(raw: Iterator[bytes], limit: int, chunk: int) -> Iterator[bytes]:
    """The unpacked bytes of a gzip file (of each member in turn), ``chunk`` at a time, from
    its packed bytes ``raw``. A damaged or cut stream is refused after the bytes before the
    damage (so the head of a large upload still shows its first rows), and so is one that
    unpacks to more than ``limit`` bytes (a "zip bomb")."""
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
                raise XesError(
                    "The gzip-compressed file is cut short (it ends before its end marker); "
                    "compress the XES file again and upload it."
                )
        try:
            piece = unpack.decompress(tail, chunk)
        except zlib.error as exc:
            raise XesError(
                f"The gzip-compressed file is damaged ({exc}); compress the XES file again "
                "and upload it."
            ) from None
        tail = unpack.unconsumed_tail
        if piece:
            read += len(piece)
            if read > limit:
                raise XesError(
                    f"The gzip-compressed file unpacks to more than {limit >> 20:,} MB; "
                    "split the log and import each part."
                )
            yield piece


def _pairs(attrs: list[str]) -> tuple[str | None, str]:
    """The ``key`` and ``value`` of an element's attributes (``ordered_attributes``' list) in
    any order; the common order ``key``, ``value`` is tried first by the callers."""
    key, value = None, ""
    for i in range(0, len(attrs), 2):
        if attrs[i] == "key":
            key = attrs[i + 1]
        elif attrs[i] == "value":
            value = attrs[i + 1]
    return key, value


def _parser(start: Callable, end: Callable):
    parser = ParserCreate()
    parser.ordered_attributes = True
    parser.SetParamEntityParsing(XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    return parser


def _not_a_log(name: str) -> XesError:
    return XesError(
        f"This XML file's root element is <{name}>, not an XES <log>; it is not an event log."
    )


def _well_formed(exc: ExpatError) -> XesError:
    return XesError(f"The XES file is not well-formed XML: {exc}. Export the log again.")


class Place:
    """Where the parsing of :func:`rows` stands, for a reader of pieces that are parts of a
    log rather than all of it (a child process given every other block of traces):
    ``offset`` is added to the line expat counts (the line in the log minus the line in what
    this parser was given), ``depth`` is the number of elements open after a piece, ``root``
    the name of the log's element."""

    def __init__(self) -> None:
        self.offset = 0
        self.depth = 0
        self.root = ""


def rows(
    pieces: Iterable[bytes],
    *,
    intervals: bool,
    skipped: frozenset[str],
    place: Place | None = None,
) -> Iterator[list[Row]]:
    """The rows of the log whose XML is ``pieces``, a list after each piece (often empty):
    each row numbered by the line of its (start) event, in the ``visits`` layout's columns
    (``intervals``: a start and its complete are a visit) or as stage changes (each complete
    event); a trace without events is one row of the deal's columns, numbered by its line."""
    at = Place() if place is None else place
    depth = 0  # of the element that starts next's parent: the log is 0, a trace 1, an event 2
    out: list[Row] = []
    trace: dict[str, str] | None = None
    trace_line = 0
    events: list[tuple[int, dict[str, str]]] = []
    event: dict[str, str] | None = None

    def flush() -> None:
        nonlocal trace
        if trace is not None:
            trace_rows(trace, trace_line, events, intervals, skipped, out)
            trace = None

    def start(name: str, attrs: list[str]) -> None:
        nonlocal depth, trace, trace_line, events, event
        depth += 1
        if depth == 4:  # an attribute of an event (or of a trace's other element)
            if event is not None:
                if len(attrs) == 4 and attrs[0] == "key" and attrs[2] == "value":
                    event[attrs[1]] = attrs[3]
                else:
                    key, value = _pairs(attrs)
                    if key is not None:
                        event[key] = value
        elif depth == 3:  # an event, or an attribute of the trace
            if trace is None:
                return
            if name == "event" or name.endswith(":event"):
                event = {}
                events.append((line_of.CurrentLineNumber + at.offset, event))
                return
            event = None
            if len(attrs) == 4 and attrs[0] == "key" and attrs[2] == "value":
                trace[attrs[1]] = attrs[3]
            else:
                key, value = _pairs(attrs)
                if key is not None:
                    trace[key] = value
        elif depth == 2:  # a trace, or the log's attributes, extensions, globals
            flush()
            event = None
            if name == "trace" or name.endswith(":trace"):
                trace = {}
                trace_line = line_of.CurrentLineNumber + at.offset
                events = []
        elif depth == 1:
            if not (name == "log" or name.endswith(":log")):
                raise _not_a_log(name)
            at.root = name

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser = line_of = _parser(start, end)
    try:
        for piece in pieces:
            parser.Parse(piece, False)
            if depth < 2:  # the last trace has ended (a trace is open at depth 2)
                flush()
            at.depth = depth
            yield out
            out = []
        parser.Parse(b"", True)
    except ExpatError as exc:
        if depth < 2:
            flush()  # the trace that ended before the damage is read first, as it was
            yield out
        raise _well_formed(exc) from None
    flush()
    at.depth = depth
    yield out


def probe(pieces: Iterable[bytes], *, trace: bool) -> bool:
    """Whether the log has an event whose lifecycle is ``start`` (or, with ``trace``, whether
    it has a trace), read no further than that. Damage is raised as :class:`XesError`."""
    depth = 0
    in_trace = in_event = False

    def start(name: str, attrs: list[str]) -> None:
        nonlocal depth, in_trace, in_event
        depth += 1
        if depth == 4:
            if in_event:
                if len(attrs) == 4 and attrs[0] == "key" and attrs[2] == "value":
                    key, value = attrs[1], attrs[3]
                else:
                    key, value = _pairs(attrs)
                if key == "lifecycle:transition" and value.strip().lower() == "start":
                    raise Found
        elif depth == 3:
            in_event = in_trace and (name == "event" or name.endswith(":event"))
        elif depth == 2:
            in_event = False
            in_trace = name == "trace" or name.endswith(":trace")
            if trace and in_trace:
                raise Found
        elif depth == 1 and not (name == "log" or name.endswith(":log")):
            raise _not_a_log(name)

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser = _parser(start, end)
    try:
        for piece in pieces:
            parser.Parse(piece, False)
        parser.Parse(b"", True)
    except Found:
        return True
    except ExpatError as exc:
        raise _well_formed(exc) from None
    return False


def trace_rows(
    trace: dict[str, str],
    line: int,
    events: list[tuple[int, dict[str, str]]],
    intervals: bool,
    skipped: frozenset[str],
    out: list[Row],
) -> None:
    """The rows of one trace: a visit per start and complete pair (``intervals``), or a stage
    change per event; a trace without events gives one row of the deal's columns."""
    case = trace.get("concept:name", "")
    deal = [trace.get(k, "") for k in DEAL_KEYS]
    if not events:
        out.append((line, [case, "", "", "", "", "", *deal]))
        return
    opened: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = {}
    rows: list[Row] = []
    for at, event in events:
        get = event.get
        value = get("lifecycle:transition")
        if value is None:
            transition = "complete"
        elif value == "start" or value == "complete":
            transition = value
        else:
            transition = value.strip().lower()
        activity = get("concept:name", "")
        if transition == "start":
            key = (activity, get("concept:instance", ""))
            waiting = opened.get(key)
            if waiting is None:
                opened[key] = [(at, event)]
            else:
                waiting.append((at, event))
        elif transition == "complete":
            if not intervals:
                rows.append(
                    (
                        at,
                        [
                            case,
                            activity,
                            "",
                            get("time:timestamp", ""),
                            "",
                            get("org:resource", ""),
                            *deal,
                        ],
                    )
                )
                continue
            waiting = opened.get((activity, get("concept:instance", "")))
            if not waiting:
                raise XesError(
                    f"Trace '{case}' (line {line}): the complete event of '{activity}' on line "
                    f"{at} has no start event before it. In a log with start events each "
                    "complete closes the visit its start opened; add the start, or export the "
                    "log with complete events only (each one then a stage change)."
                )
            first_at, first = waiting.pop(0)
            rows.append(
                (
                    first_at,
                    [
                        case,
                        activity,
                        first.get("time:timestamp", ""),
                        get("time:timestamp", ""),
                        get("work_minutes") or first.get("work_minutes", ""),
                        first.get("org:resource") or get("org:resource", ""),
                        *deal,
                    ],
                )
            )
        elif transition not in skipped:
            raise XesError(
                f"Trace '{case}' (line {line}): the event '{activity}' on line {at} has the "
                f"lifecycle transition '{value}', which the import does not read. It reads "
                "start and complete (a start with its complete is a visit; in a log without "
                "start events each complete is a stage change) and skips "
                + ", ".join(sorted(skipped))
                + "."
            )
    for waiting in opened.values():
        for first_at, first in waiting:
            rows.append(
                (
                    first_at,
                    [
                        case,
                        first.get("concept:name", ""),
                        first.get("time:timestamp", ""),
                        "",
                        first.get("work_minutes", ""),
                        first.get("org:resource", ""),
                        *deal,
                    ],
                )
            )
    if len(rows) > 1:
        rows.sort(key=_first)
    out.extend(rows)


_first = operator.itemgetter(0)


# -- the child process ---------------------------------------------------------------------
#
# The parent writes a header (a pickled dict: gzipped, limit, intervals, skipped, chunk), then
# frames (a length, then a pickled message): ("data", line, bytes) gives the next bytes of the
# log (packed, when gzipped), ``line`` the line in the log where they begin when they begin a
# block of traces that does not follow the bytes before (None when they do); ("end", close)
# ends it, ``close`` asking for the log's end tag (the parent gave the log's end to another
# child). Before it reads each frame after the first, the child writes one frame of what it has
# read so far: ("rows", rows, depth), ``depth`` the number of elements open after the bytes it
# was given; at the end ("done", rows) or, when the log cannot be read, ("error", rows,
# message). So the parent knows that its n-th frame sent lets it wait for the child's n-th
# answer without either of them waiting on the other.

_LENGTH = struct.Struct("<Q")


def write_frame(stream, payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def read_frame(stream) -> bytes | None:
    """A frame's bytes; None at the end of the stream (the other side has gone)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    size = _LENGTH.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    header = read_frame(stdin)
    if header is None:
        return 1
    options = pickle.loads(header)
    gzipped = options["gzipped"]
    pending: list[Row] = []
    place = Place()
    answer = False
    lines = 0  # the newlines given to the parser so far

    def send(*message) -> None:
        write_frame(stdout, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def given() -> Iterator[bytes]:
        nonlocal answer, lines
        while True:
            if answer:
                send("rows", pending[:], place.depth)
                pending.clear()
            answer = True
            frame = read_frame(stdin)
            if frame is None:
                return
            message = pickle.loads(frame)
            if message[0] == "end":
                if message[1] and place.root:
                    yield f"</{place.root}>".encode()
                return
            _, line, data = message
            if not gzipped:
                if line is not None:
                    place.offset = line - lines - 1
                lines += data.count(b"\n")
            yield data

    pieces = given()
    if gzipped:
        pieces = gunzipped(pieces, options["limit"], options["chunk"])
    try:
        for batch in rows(
            pieces, intervals=options["intervals"], skipped=options["skipped"], place=place
        ):
            pending.extend(batch)
    except XesError as exc:
        send("error", pending, str(exc))
        return 0
    send("done", pending)
    return 0


if __name__ == "__main__":
    sys.exit(main())
