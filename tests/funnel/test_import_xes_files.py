"""An XES log read from its file a chunk at a time (issue 18: a 1,000,000-event log imports in
bounded memory): ``read_table`` of an open file, the gzip stream over file chunks, the upload
read back from the database in slices (``upload_file``), and the same rows as from bytes."""

from __future__ import annotations

import gzip
import io
from datetime import timedelta

import pytest
import time_machine

from funnel.importing import (
    ImportOptions,
    ImportRejected,
    import_events,
    import_upload_create,
    read_table,
    upload_file,
)
from funnel.importing import uploads as uploads_module
from funnel.importing.formats import xes
from funnel.models import Visit
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import TeamFactory
from tests.funnel.test_export import visit_tuples
from tests.funnel.test_import_xes import ANCHOR, log, trace

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(ANCHOR + timedelta(days=1), tick=False):
        yield


@pytest.fixture
def stream():
    return stream_create(
        team=TeamFactory(name="Acme"),
        name="New business",
        lanes=[LaneSpec("AE")],
        steps=[StepSpec(n, "AE", planned_lead_hours=8) for n in ("Qualify", "Demo", "Close")],
    )


EVENTS = (
    ("Qualify", "2025-01-06T09:00:00Z", "start", "Pat"),
    ("Qualify", "2025-01-06T17:00:00Z", "complete"),
    ("Demo", "2025-01-07T09:00:00Z", "start"),
    ("Demo", "2025-01-08T09:00:00Z", "complete"),
)


def sample(traces: int = 100) -> bytes:
    """A log of ``traces`` traces of two visits each (100: 96 KB, more than the 64 KiB that
    are read whole to tell an XES log from a CSV)."""
    return log(*(trace(f"D-{i}", *EVENTS, account=f"Acme &amp; Co {i}") for i in range(traces)))


class Spy(io.BytesIO):
    """A file that remembers the largest read asked of it."""

    largest = 0

    def read(self, size=-1):
        data = super().read(size)
        self.largest = max(self.largest, len(data))
        return data


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(xes, "_CHUNK", 100)


def test_a_log_in_a_file_is_read_a_chunk_at_a_time_with_the_rows_of_its_bytes(small_chunks):
    data = sample()
    file = Spy(data)
    table = read_table(file)
    assert table.kind == "xes"
    rows = list(table.numbered_rows())
    assert rows == list(read_table(data).numbered_rows())
    # 100 traces of two visits; a row is numbered by the line of its start event (line 7:
    # the declaration, <log>, the log's name, <trace>, the case, the account, <event>).
    assert len(rows) == 200 and rows[0][0] == 7
    assert rows[0][1][:4] == ["D-0", "Qualify", "2025-01-06T09:00:00Z", "2025-01-06T17:00:00Z"]
    assert rows[0][1][6:8] == ["", "Acme & Co 0"]  # the deal's name, then its account
    # Sniffing the head reads 64 KiB at most; every pass after that 100 bytes at a time.
    assert file.largest <= 65536
    file.largest = 0
    list(table.numbered_rows())
    assert file.largest == 100
    # The progress estimate counts every event, tags cut between two chunks too.
    assert table.row_estimate() == 400 == data.count(b"<event>")


def test_a_gzipped_log_in_a_file_is_unpacked_as_it_is_read(small_chunks):
    data = sample()
    # Two gzip members and NUL padding after them (as some tools write): one log. (Packed,
    # it is smaller than the 64 KiB read_table reads whole: its rows are read here directly.)
    half = data.index(b"  <trace>", len(data) // 2)
    packed = gzip.compress(data[:half], mtime=0) + gzip.compress(data[half:], mtime=0)
    file = Spy(packed + b"\x00" * 300)
    rows = xes.XesRows(file, 10**8)
    assert list(rows.numbered()) == list(read_table(data).numbered_rows())
    assert file.largest == 100

    with pytest.raises(ImportRejected, match="cut short"):
        list(xes.XesRows(io.BytesIO(packed[:-12]), 10**8).numbered())
    with pytest.raises(ImportRejected, match="gzip-compressed file is damaged"):
        list(xes.XesRows(io.BytesIO(packed + b"\x00junk" * 30), 10**8).numbered())


def test_import_events_of_an_open_file_stores_what_its_bytes_do(stream, tmp_path, small_chunks):
    data = sample()
    path = tmp_path / "log.xes"
    path.write_bytes(data)
    with path.open("rb") as file:
        result = import_events(stream=stream, data=file, options=ImportOptions(format="xes"))
    assert (result.deals_created, result.visits_written) == (100, 200)
    stored = visit_tuples(stream)
    again = import_events(
        stream=stream, data=gzip.compress(data), options=ImportOptions(format="xes")
    )
    assert (again.deals_unchanged, again.visits_written) == (100, 0)
    assert visit_tuples(stream) == stored and Visit.objects.count() == 200


def test_a_csv_given_as_a_file_is_read_as_its_bytes():
    data = b"deal_id,step,entered_at\n" + b"".join(
        f"D-{i},Qualify,2025-01-0{1 + i % 9}T09:00:00Z\n".encode() for i in range(7000)
    )
    table = read_table(io.BytesIO(data))
    assert table.kind == "csv" and len(data) > 65536
    assert list(table.numbered_rows()) == list(read_table(data).numbered_rows())


def test_a_file_over_the_limit_is_refused_by_its_size_before_it_is_read():
    file = Spy(sample())
    with pytest.raises(ImportRejected, match="the limit is"):
        read_table(file, max_bytes=1000)
    assert file.largest == 0


def test_an_upload_is_read_back_as_a_file_in_slices(stream, monkeypatch):
    """On PostgreSQL each read is a slice of the stored column (``_UploadFile``); elsewhere
    the bytes in memory. Either way the same bytes, wherever the reads fall."""
    monkeypatch.setattr(uploads_module, "READ_SLICE", 1000)
    data = sample()
    upload = import_upload_create(stream=stream, data=data, options=ImportOptions(format="xes"))
    file = upload_file(upload)
    assert file.read() == data
    file.seek(0)
    parts = []
    while part := file.read(777):
        parts.append(part)
    assert b"".join(parts) == data and max(map(len, parts)) == 777
    file.seek(-10, io.SEEK_END)
    assert file.read() == data[-10:]
    stored = upload_file(upload)
    assert list(read_table(stored).numbered_rows()) == list(read_table(data).numbered_rows())
