"""A large XES log's rows parsed by two child processes (funnel.importing.formats.xes_parse run
as a script), each given every other block of traces, while the import checks them (issue 18:
no slower than the same log as CSV): the same rows, line numbers and messages as the parsing in
the importing process, errors raised in a child reported with their line, a log that cannot be
cut safely (comments, carriage returns, a trace where no trace belongs) read again in one
piece, the children stopped when the rows are no longer read, and the parsing done here when
no child can be started."""

from __future__ import annotations

import gzip
import io
import subprocess
from datetime import timedelta

import pytest
import time_machine

from funnel.importing import ImportOptions, ImportRejected, import_events, read_table
from funnel.importing.formats import xes
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import TeamFactory
from tests.funnel.test_export import visit_tuples
from tests.funnel.test_import_xes import ANCHOR, log, trace
from tests.funnel.test_import_xes_files import EVENTS, sample

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(ANCHOR + timedelta(days=1), tick=False):
        yield


class Started(list):
    """The child processes started, and how many times a log was read again in one piece."""

    again = 0

    def ended(self) -> bool:
        return all(child.poll() is not None for child in self)


@pytest.fixture
def children(monkeypatch):
    """Every log is parsed by child processes, read 300 bytes at a time and cut into blocks of
    about 500 bytes (so that the rows come back over many frames, from both children)."""
    started = Started()
    popen = subprocess.Popen
    in_child = xes.XesRows._in_child

    def spy(*args, **kwargs):
        child = popen(*args, **kwargs)
        started.append(child)
        return child

    def again(self, intervals):
        started.again += 1
        return in_child(self, intervals)

    monkeypatch.setattr(xes, "CHILD_MIN_EVENTS", 0)
    monkeypatch.setattr(xes, "_CHUNK", 300)
    monkeypatch.setattr(xes, "_BLOCK", 500)
    monkeypatch.setattr(xes.subprocess, "Popen", spy)
    monkeypatch.setattr(xes.XesRows, "_in_child", again)
    return started


def rows_here(data: bytes, monkeypatch) -> list:
    with monkeypatch.context() as m:
        m.setattr(xes, "CHILD_MIN_EVENTS", 10**12)
        return list(read_table(data).numbered_rows())


def test_the_child_gives_the_rows_and_line_numbers_of_the_parsing_here(children, monkeypatch):
    data = sample(100)
    expected = rows_here(data, monkeypatch)
    assert len(expected) == 200 and expected[0][0] == 7
    for given in (data, gzip.compress(data), io.BytesIO(data), io.BytesIO(gzip.compress(data))):
        assert list(read_table(given).numbered_rows()) == expected
    # Two children for each, each given every other block; none read again in one piece.
    assert len(children) == 8 and children.again == 0
    assert all(child.wait(timeout=10) == 0 for child in children)


def test_one_child_reads_a_whole_log_as_the_parsing_here(children, monkeypatch):
    data = sample(50)
    expected = rows_here(data, monkeypatch)
    for given in (data, gzip.compress(data)):
        assert list(xes.XesRows(given, 10**8)._in_child(True)) == expected
    assert len(children) == 2 and all(child.wait(timeout=10) == 0 for child in children)


@pytest.mark.parametrize(
    "change",
    [
        # A comment (with a trace tag in it) halfway: no cut after it.
        lambda d: (
            d[: len(d) // 2]
            + d[len(d) // 2 :].replace(b"  <trace>", b"  <!-- <trace>\n -->\n  <trace>", 1)
        ),
        # Windows line ends: no cut at all (lines are counted by their newlines).
        lambda d: d.replace(b"\n", b"\r\n"),
        # A processing instruction and a CDATA section in the head and in a trace.
        lambda d: d.replace(b"<log ", b"<?tool x?><log ").replace(
            b'value="D-3"/>', b'value="D-3"/><![CDATA[ <trace> ]]>'
        ),
    ],
)
def test_a_log_with_what_may_hide_a_tag_is_read_whole_where_it_is(children, monkeypatch, change):
    data = change(sample(60))
    assert list(read_table(data).numbered_rows()) == rows_here(data, monkeypatch)
    assert children.again == 0 and children.ended()


def test_a_trace_where_no_trace_belongs_has_the_log_read_again_in_one_piece(children, monkeypatch):
    # A <trace> inside an event: a cut before it is not between two traces; the child given
    # the block before it finds more than the log open after it.
    nested = b"      <trace><string key='concept:name' value='X'/></trace>\n    </event>"
    data = sample(60)
    at = data.index(b"    </event>", len(data) // 2)
    data = data[:at] + nested + data[at + len(b"    </event>") :]
    assert list(read_table(data).numbered_rows()) == rows_here(data, monkeypatch)
    assert children.again == 1 and children.ended()


def test_a_complete_only_log_and_a_trace_without_events_from_the_child(children, monkeypatch):
    data = log(
        trace("D-1", ("Qualify", "2025-01-06T09:00:00Z"), ("Demo", "2025-01-07T09:00:00Z")),
        trace("D-2", created_at="2025-01-02T00:00:00Z"),
        *(trace(f"D-{i}", ("Qualify", "2025-01-06T09:00:00Z", "complete")) for i in range(3, 40)),
    )
    expected = rows_here(data, monkeypatch)
    assert list(read_table(data).numbered_rows()) == expected
    assert [(n, cells[:4]) for n, cells in expected[:3]] == [
        (6, ["D-1", "Qualify", "", "2025-01-06T09:00:00Z"]),
        (10, ["D-1", "Demo", "", "2025-01-07T09:00:00Z"]),
        (15, ["D-2", "", "", ""]),
    ]
    assert children


def test_an_error_in_the_child_is_raised_with_its_line_after_the_rows_before_it(children):
    data = log(
        *(trace(f"D-{i}", *EVENTS) for i in range(30)),
        trace(
            "D-bad",
            ("Qualify", "2025-01-06T09:00:00Z", "start"),
            ("Demo", "2025-01-07T09:00:00Z", "complete"),
        ),
        *(trace(f"D-{i}", *EVENTS) for i in range(30, 40)),
    )
    rows = []
    with pytest.raises(ImportRejected) as caught:
        for row in read_table(data).numbered_rows():
            rows.append(row)
    bad = data.index(b"D-bad")
    at_trace = data[: data.rindex(b"<trace>", 0, bad)].count(b"\n") + 1
    demo = data.rindex(b"<event>", 0, data.index(b'value="Demo"', bad))
    at_event = data[:demo].count(b"\n") + 1
    assert (
        f"Trace 'D-bad' (line {at_trace}): the complete event of 'Demo' on line {at_event} has "
        "no start event before it." in caught.value.message
    )
    assert len(rows) == 60 and rows[-1][1][0] == "D-29"  # the 30 traces before it, not after
    # Found by a child given a block, said again by reading the log in one piece.
    assert children.again == 1 and children.ended()


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda d: d.replace(b"</log>", b"</lag>"), "not well-formed XML: mismatched tag: line"),
        (lambda d: d.replace(b'value="start"', b'value="teleport"', 1), "'teleport'"),
    ],
)
def test_a_damaged_log_is_refused_by_the_child_as_here(children, monkeypatch, damage, reason):
    data = damage(sample(60))
    with pytest.raises(ImportRejected) as here:
        rows_here(data, monkeypatch)
    with pytest.raises(ImportRejected) as there:
        list(read_table(data).numbered_rows())
    assert reason in there.value.message and there.value.message == here.value.message


def test_a_cut_or_damaged_gzip_stream_is_refused_by_the_child(children):
    packed = gzip.compress(sample(60), mtime=0)
    with pytest.raises(ImportRejected, match="cut short"):
        list(xes.XesRows(io.BytesIO(packed[:-12]), 10**8).numbered())
    with pytest.raises(ImportRejected, match="gzip-compressed file is damaged"):
        list(xes.XesRows(io.BytesIO(packed + b"\x00junk" * 30), 10**8).numbered())
    with pytest.raises(ImportRejected, match="unpacks to more than"):
        list(xes.XesRows(io.BytesIO(packed), 10**3).numbered())
    assert children.again == 3 and children.ended()


def test_the_child_is_stopped_when_the_rows_are_no_longer_read(children, monkeypatch):
    data = sample(200)
    rows = read_table(data).numbered_rows()
    first = [next(rows) for _ in range(3)]
    assert first == rows_here(data, monkeypatch)[:3]
    rows.close()
    assert len(children) == 2 and children.ended()  # not left running


def test_an_import_through_the_child_stores_what_the_parsing_here_does(children, monkeypatch):
    data = sample(50)
    teams = []
    for force in (True, False):
        stream = stream_create(
            team=TeamFactory(name=f"Acme {force}"),
            name="New business",
            lanes=[LaneSpec("AE")],
            steps=[StepSpec(n, "AE", planned_lead_hours=8) for n in ("Qualify", "Demo", "Close")],
        )
        with monkeypatch.context() as m:
            if not force:
                m.setattr(xes, "CHILD_MIN_EVENTS", 10**12)
            result = import_events(stream=stream, data=data, options=ImportOptions(format="xes"))
        assert (result.deals_created, result.visits_written) == (50, 100)
        teams.append(visit_tuples(stream))
    assert teams[0] == teams[1] and len(children) == 2 and children.again == 0


def test_the_log_is_parsed_here_when_no_child_can_be_started(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no processes left")

    data = sample(20)
    expected = rows_here(data, monkeypatch)
    monkeypatch.setattr(xes, "CHILD_MIN_EVENTS", 0)
    monkeypatch.setattr(xes.subprocess, "Popen", refuse)
    assert list(read_table(data).numbered_rows()) == expected
