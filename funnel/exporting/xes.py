"""The stream's event log as IEEE 1849 XES for process-mining tools (ProM, pm4py), streamed.

:func:`export_xes` writes one trace per deal (``concept:name`` = deal id, plus the deal's
fields), a ``start`` and a ``complete`` event per visit (``concept:name`` = step,
``org:resource`` = actor). XES times carry milliseconds (microseconds where a time has them). The
rows are the CSV export's (:func:`funnel.exporting.csv_export.visit_rows`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from funnel.exporting.csv_export import visit_rows
from streams.models import ValueStream

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ATTR = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}

XES_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0" xes.features="" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="__INVALID__"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>
    <string key="lifecycle:transition" value="complete"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <classifier name="Activity and transition" keys="concept:name lifecycle:transition"/>
  <string key="concept:name" value={stream}/>
"""


def _q(value: str) -> str:
    """A quoted XML attribute value."""
    return '"' + escape(_NOT_XML.sub("", value), _ATTR) + '"'


def _xes_time(value: datetime) -> str:
    """Milliseconds, or microseconds for a time that has them (xs:dateTime allows any number
    of fraction digits), so that importing the export gives every visit back exactly."""
    spec = "microseconds" if value.microsecond % 1000 else "milliseconds"
    return value.astimezone(UTC).isoformat(timespec=spec)


def _attr(kind: str, key: str, value: str) -> str:
    return f"<{kind} key={_q(key)} value={_q(value)}/>"


def _trace_open(first: tuple) -> str:
    (external_id, *_, name, account, amount, owner, source, status, closed_at, reason, created) = (
        first
    )
    parts = [
        "  <trace>",
        "    " + _attr("string", "concept:name", external_id),
        "    " + _attr("string", "deal_name", name),
        "    " + _attr("string", "outcome", status),
        "    " + _attr("date", "created_at", _xes_time(created)),
    ]
    optional = (
        ("string", "account", account),
        ("float", "amount", None if amount is None else str(amount)),
        ("string", "owner", owner),
        ("string", "source", source),
        ("date", "closed_at", None if closed_at is None else _xes_time(closed_at)),
        ("string", "lost_reason", reason),
    )
    parts += ["    " + _attr(kind, key, value) for kind, key, value in optional if value]
    return "\n".join(parts) + "\n"


def _event(step: str, at: datetime, transition: str, actor: str, work: int | None) -> str:
    lines = [
        "    <event>",
        "      " + _attr("string", "concept:name", step),
        "      " + _attr("date", "time:timestamp", _xes_time(at)),
        "      " + _attr("string", "lifecycle:transition", transition),
    ]
    if actor:
        lines.append("      " + _attr("string", "org:resource", actor))
    if work is not None:
        lines.append("      " + _attr("int", "work_minutes", str(work)))
    lines.append("    </event>")
    return "\n".join(lines) + "\n"


def _chunks(parts: Iterable[str], size: int = 256 * 1024) -> Iterator[str]:
    buffer: list[str] = []
    length = 0
    for part in parts:
        buffer.append(part)
        length += len(part)
        if length >= size:
            yield "".join(buffer)
            buffer, length = [], 0
    if buffer:
        yield "".join(buffer)


def _xes_parts(stream: ValueStream) -> Iterator[str]:
    yield XES_HEADER.format(stream=_q(stream.name))
    current = None
    for row in visit_rows(stream):
        external_id, step, entered, exited, work, actor_username, actor_name = row[:7]
        if external_id != current:
            if current is not None:
                yield "  </trace>\n"
            yield _trace_open(row)
            current = external_id
        if step is None:
            continue  # a deal without visits: a trace without events
        actor = actor_username or actor_name or ""
        # Work minutes go on the complete event, or on the start of a visit still open.
        yield _event(step, entered, "start", actor, None if exited is not None else work)
        if exited is not None:
            yield _event(step, exited, "complete", actor, work)
    if current is not None:
        yield "  </trace>\n"
    yield "</log>\n"


def export_xes(stream: ValueStream) -> Iterator[str]:
    """The stream's event log as XES (IEEE 1849) text, in chunks of about 256 KB."""
    return _chunks(_xes_parts(stream))
