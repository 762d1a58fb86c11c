"""The XES import (funnel.importing.formats.xes): start/complete and complete-only logs, gzip,
lifecycle values, time zones, hostile XML, pm4py's CSV column names, and the round trip
export → import. Checked against hand-worked logs (pm4py is AGPL/GPL: not a dependency)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from funnel.exporting.xes import export_xes
from funnel.importing import ImportOptions, ImportRejected, import_events, read_table, validate
from funnel.importing.mapping import guess_columns
from funnel.models import Deal, DealStatus, ImportUpload, Visit
from streams.models import Job, JobState, ValueStream
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import TeamFactory
from tests.funnel.test_export import deal_tuples, visit_tuples
from vsm_project.demo import LANES, STEPS, demo_seed

pytestmark = pytest.mark.django_db

ANCHOR = datetime(2025, 6, 1, tzinfo=UTC)
XES = "xes"


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


def log(*traces: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<log xes.version="1.0" xmlns="http://www.xes-standard.org/">\n'
        '  <string key="concept:name" value="a log"/>\n' + "".join(traces) + "</log>\n"
    ).encode()


def trace(case: str, *events: tuple, **attrs: str) -> str:
    lines = [f'  <trace>\n    <string key="concept:name" value="{case}"/>\n']
    lines += [f'    <string key="{k}" value="{v}"/>\n' for k, v in attrs.items()]
    for event in events:
        activity, at, *rest = event
        lines.append("    <event>\n")
        lines.append(f'      <string key="concept:name" value="{activity}"/>\n')
        lines.append(f'      <date key="time:timestamp" value="{at}"/>\n')
        if rest and rest[0]:
            lines.append(f'      <string key="lifecycle:transition" value="{rest[0]}"/>\n')
        if len(rest) > 1:
            lines.append(f'      <string key="org:resource" value="{rest[1]}"/>\n')
        lines.append("    </event>\n")
    lines.append("  </trace>\n")
    return "".join(lines)


def visits_of(stream: ValueStream) -> list[tuple]:
    return [
        (d, s, e.isoformat(), x.isoformat() if x else None, a)
        for d, s, e, x, *_, a in visit_tuples(stream)
    ]


def run(stream, data: bytes, **options):
    return import_events(stream=stream, data=data, options=ImportOptions(format=XES, **options))


# --- Start and complete events: each pair a visit ------------------------------------------------


def test_start_and_complete_pairs_are_visits_and_a_lone_start_stays_open(stream):
    data = log(
        trace(
            "D-1",
            ("Qualify", "2025-01-06T09:00:00.000+01:00", "start", "ann"),
            ("Qualify", "2025-01-06T17:00:00.000+01:00", "complete", "ann"),
            ("Demo", "2025-01-07T09:00:00.000+01:00", "start"),
            ("Demo", "2025-01-07T10:00:00.000+01:00", "suspend"),  # skipped
            ("Demo", "2025-01-08T09:00:00.000+01:00", "complete"),
            ("Close", "2025-01-09T09:00:00.000+01:00", "START"),
        ),
        trace("D-2", created_at="2025-01-02T00:00:00Z"),  # a deal without visits
    )
    result = run(stream, data)
    assert (result.deals_created, result.visits_written, result.rows) == (2, 3, 4)
    assert visits_of(stream) == [
        ("D-1", "Qualify", "2025-01-06T08:00:00+00:00", "2025-01-06T16:00:00+00:00", "ann"),
        ("D-1", "Demo", "2025-01-07T08:00:00+00:00", "2025-01-08T08:00:00+00:00", ""),
        ("D-1", "Close", "2025-01-09T08:00:00+00:00", None, ""),
    ]
    assert Deal.objects.get(external_id="D-2").visits.count() == 0


def test_a_complete_without_its_start_is_refused_naming_the_trace_and_line(stream):
    data = log(
        trace(
            "D-1",
            ("Qualify", "2025-01-06T09:00:00Z", "start"),
            ("Qualify", "2025-01-06T17:00:00Z", "complete"),
            ("Demo", "2025-01-07T09:00:00Z", "complete"),
        )
    )
    with pytest.raises(ImportRejected, match=r"Trace 'D-1'.*'Demo' on line 16 has no start"):
        run(stream, data)
    assert not Deal.objects.exists()


# --- Complete-only: each event a stage change ----------------------------------------------------


def test_a_complete_only_log_is_read_as_stage_changes(stream):
    data = log(
        trace(
            "D-1",
            ("Qualify", "2025-01-06T09:00:00Z", "complete", "ann"),
            ("Qualify", "2025-01-06T12:00:00Z"),  # the same stage again (no lifecycle: complete)
            ("Demo", "2025-01-07T09:00:00Z", "complete", "bob"),
            ("Closed Won", "2025-01-09T09:00:00Z", "complete"),
        ),
        trace(
            "D-2",
            ("Demo", "2025-01-08T10:00:00Z", "schedule"),  # skipped
            ("Qualify", "2025-01-08T09:00:00Z"),  # events out of order: sorted by time
            ("Demo", "2025-01-07T09:00:00Z"),
        ),
    )
    result = run(stream, data)
    assert result.visits_written == 4
    assert visits_of(stream) == [
        ("D-1", "Qualify", "2025-01-06T09:00:00+00:00", "2025-01-07T09:00:00+00:00", "ann"),
        ("D-1", "Demo", "2025-01-07T09:00:00+00:00", "2025-01-09T09:00:00+00:00", "bob"),
        ("D-2", "Demo", "2025-01-07T09:00:00+00:00", "2025-01-08T09:00:00+00:00", ""),
        ("D-2", "Qualify", "2025-01-08T09:00:00+00:00", None, ""),
    ]
    won = Deal.objects.get(external_id="D-1")
    assert (won.status, won.closed_at) == (DealStatus.WON, datetime(2025, 1, 9, 9, tzinfo=UTC))
    assert Deal.objects.get(external_id="D-2").status == DealStatus.OPEN


def test_an_unknown_lifecycle_value_is_refused_naming_the_event_and_trace(stream):
    data = log(
        trace("D-1", ("Qualify", "2025-01-06T09:00:00Z", "complete")),
        trace("D-7", ("Demo", "2025-01-07T09:00:00Z", "teleport")),
    )
    with pytest.raises(ImportRejected) as caught:
        run(stream, data)
    message = caught.value.message
    assert "Trace 'D-7'" in message and "'Demo' on line 14" in message
    assert "'teleport'" in message and "start and complete" in message
    assert not Deal.objects.exists()


def test_row_errors_name_the_event_line_and_nothing_is_stored(stream):
    data = log(
        trace("D-1", ("Qualify", "2025-01-06T09:00:00Z", "start"), ("Qualify", "soon", "complete")),
        trace("D-2", ("Nowhere", "2025-01-06T09:00:00Z", "start")),
    )
    with pytest.raises(ImportRejected) as caught:
        run(stream, data)
    assert "'Nowhere' (first on row 19)" in caught.value.message
    data = log(
        trace("D-1", ("Qualify", "2025-01-06T09:00:00Z", "start"), ("Qualify", "soon", "complete"))
    )
    with pytest.raises(ImportRejected) as caught:
        run(stream, data)
    assert [(e.row, e.column) for e in caught.value.errors] == [(6, "time:timestamp")]
    assert not Deal.objects.exists()


# --- Gzip, time zones, hostile files -------------------------------------------------------------


def test_a_gzipped_log_imports_as_the_plain_one(stream):
    plain = log(
        trace(
            "D-1",
            ("Qualify", "2025-01-06T09:00:00Z", "start"),
            ("Qualify", "2025-01-06T17:00:00Z", "complete"),
        )
    )
    table = read_table(gzip.compress(plain))
    assert table.kind == "xes" and table.headers[:4] == [
        "case:concept:name",
        "concept:name",
        "start_timestamp",
        "time:timestamp",
    ]
    assert run(stream, gzip.compress(plain)).visits_written == 1
    assert run(stream, plain).deals_unchanged == 1


def test_a_damaged_gzip_file_is_refused(stream):
    packed = gzip.compress(log(trace("D-1", ("Qualify", "2025-01-06T09:00:00Z", "start"))))
    with pytest.raises(ImportRejected, match="cut short"):
        run(stream, packed[: len(packed) - 12])
    broken = packed[:-8] + bytes(b ^ 0xFF for b in packed[-8:])  # a wrong checksum
    with pytest.raises(ImportRejected, match="gzip-compressed file is damaged"):
        run(stream, broken)


def test_times_keep_their_offsets_and_times_without_one_are_in_the_chosen_zone(stream):
    data = log(
        trace(
            "D-1",
            ("Qualify", "2025-03-30T01:30:00", "start"),  # Berlin winter time: 00:30 UTC
            ("Qualify", "2025-03-30T03:30:00", "complete"),  # summer time: 01:30 UTC
            ("Demo", "2025-03-30T09:00:00-05:00", "start"),  # its own offset wins
        )
    )
    run(stream, data, time_zone="Europe/Berlin")
    assert visits_of(stream) == [
        ("D-1", "Qualify", "2025-03-30T00:30:00+00:00", "2025-03-30T01:30:00+00:00", ""),
        ("D-1", "Demo", "2025-03-30T14:00:00+00:00", None, ""),
    ]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE log [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<log><trace><string key="concept:name" value="&lol4;"/></trace></log>
"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE log [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<log><trace><string key="concept:name" value="&secret;"/></trace></log>
"""


# Named ids, and a gzip header without a time: the test ids must be the same in every
# pytest-xdist process, and gzip.compress writes the current second into the header.
@pytest.mark.parametrize(
    "data",
    [BILLION_LAUGHS, EXTERNAL, gzip.compress(BILLION_LAUGHS, mtime=0)],
    ids=["billion-laughs", "external-entity", "billion-laughs-gzipped"],
)
def test_a_hostile_xml_file_with_entities_is_refused(stream, data):
    with pytest.raises(ImportRejected, match="declares a document type"):
        run(stream, data)
    assert not Deal.objects.exists()


def test_broken_xml_and_other_xml_are_refused_with_a_reason(stream):
    with pytest.raises(ImportRejected, match="not well-formed XML"):
        run(stream, log(trace("D-1", ("Qualify", "2025-01-06T09:00:00Z"))).replace(b"</log>", b""))
    with pytest.raises(ImportRejected, match="holds no trace"):
        run(stream, log())
    with pytest.raises(ImportRejected, match="XML or HTML"):
        read_table(b"<html><body>hello</body></html>")


def test_the_format_and_the_file_must_agree(stream):
    data = log(trace("D-1", ("Qualify", "2025-01-06T09:00:00Z")))
    with pytest.raises(ImportRejected, match="choose the xes format"):
        import_events(stream=stream, data=data, options=ImportOptions(format="visits"))
    with pytest.raises(ImportRejected, match="is a CSV table"):
        run(stream, b"deal_id,step,entered_at\nD-1,Qualify,2025-01-06T09:00:00Z\n")


# --- pm4py's column names in CSV files ----------------------------------------------------------


def test_pm4py_interval_columns_are_read_as_visits_without_a_mapping(stream):
    data = (
        b"case:concept:name,concept:name,start_timestamp,time:timestamp,org:resource\n"
        b"D-1,Qualify,2025-01-06 09:00:00+00:00,2025-01-06 17:00:00+00:00,ann\n"
        b"D-1,Demo,2025-01-07 09:00:00+00:00,,bob\n"
    )
    assert guess_columns(read_table(data), "visits") == {
        "deal_id": "case:concept:name",
        "step": "concept:name",
        "entered_at": "start_timestamp",
        "exited_at": "time:timestamp",
        "actor": "org:resource",
    }
    import_events(stream=stream, data=data, options=ImportOptions(format="visits"))
    assert visits_of(stream) == [
        ("D-1", "Qualify", "2025-01-06T09:00:00+00:00", "2025-01-06T17:00:00+00:00", "ann"),
        ("D-1", "Demo", "2025-01-07T09:00:00+00:00", None, "bob"),
    ]


def test_pm4py_event_columns_are_read_as_stage_changes_without_a_mapping(stream):
    data = (
        b"case:concept:name,concept:name,time:timestamp,org:resource,lifecycle:transition\n"
        b"D-1,Qualify,2025-01-06T09:00:00Z,ann,complete\n"
        b"D-1,Demo,2025-01-06T10:00:00Z,ann,schedule\n"
        b"D-1,Demo,2025-01-07T09:00:00Z,bob,COMPLETE\n"
    )
    assert guess_columns(read_table(data), "transitions") == {
        "deal_id": "case:concept:name",
        "stage": "concept:name",
        "changed_at": "time:timestamp",
        "actor": "org:resource",
        "lifecycle": "lifecycle:transition",
    }
    import_events(stream=stream, data=data, options=ImportOptions(format="transitions"))
    assert visits_of(stream) == [
        ("D-1", "Qualify", "2025-01-06T09:00:00+00:00", "2025-01-07T09:00:00+00:00", "ann"),
        ("D-1", "Demo", "2025-01-07T09:00:00+00:00", None, "bob"),
    ]
    bad = data + b"D-1,Close,2025-01-08T09:00:00Z,bob,start\nD-1,Close,2025-01-08T09:00:00Z,,x\n"
    with pytest.raises(ImportRejected) as caught:
        import_events(stream=stream, data=bad, options=ImportOptions(format="transitions"))
    assert [(e.row, e.column) for e in caught.value.errors] == [
        (5, "lifecycle:transition"),
        (6, "lifecycle:transition"),
    ]


# --- The round trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("packed", [False, True])
def test_xes_export_then_import_reproduces_every_visit(packed):
    seeded = demo_seed(deals=60, anchor=ANCHOR)
    source = ValueStream.objects.get(slug=seeded.stream_slug)
    data = "".join(export_xes(source)).encode()
    if packed:
        data = gzip.compress(data)
    target = stream_create(
        team=source.team, name="Imported", lanes=LANES, steps=[s.spec for s in STEPS]
    )

    result = run(target, data)

    cases = seeded.deals + seeded.leads
    assert (result.deals_created, result.visits_written) == (cases, seeded.visits)
    assert visit_tuples(target) == visit_tuples(source)
    assert deal_tuples(target) == deal_tuples(source)
    assert Visit.objects.filter(deal__stream=target).count() == seeded.visits
    # Importing the export into the stream it came from changes nothing.
    again = run(source, data)
    assert (again.deals_unchanged, again.deals_updated, again.visits_written) == (cases, 0, 0)


def test_the_command_imports_an_xes_file(stream, tmp_path):
    path = tmp_path / "log.xes.gz"
    path.write_bytes(
        gzip.compress(
            log(
                trace(
                    "D-1",
                    ("Qualify", "2025-01-06T09:00:00Z", "start"),
                    ("Qualify", "2025-01-06T17:00:00Z", "complete"),
                )
            )
        )
    )
    call_command("import_events", str(path), "--stream", stream.slug, "--format", "xes")
    assert Visit.objects.filter(deal__stream=stream).count() == 1
    assert validate(stream, read_table(path.read_bytes()), ImportOptions(format=XES)).rows == 1


def test_a_manager_imports_a_gzipped_xes_log_through_the_wizard(
    client, django_capture_on_commit_callbacks
):
    from tests.funnel.test_import_wizard import check, login, upload

    seeded = demo_seed(deals=5, anchor=ANCHOR)
    source = ValueStream.objects.get(slug=seeded.stream_slug)
    first, second = source.steps.order_by("position").values_list("name", flat=True)[:2]
    data = log(
        trace(
            "W-1",
            (first, "2025-01-06T09:00:00Z", "start", "Pat"),
            (first, "2025-01-06T17:00:00Z", "complete", "Pat"),
            (second, "2025-01-07T09:00:00Z", "start"),
        ),
        trace(
            "W-2",
            (first, "2025-01-07T09:00:00Z", "start"),
            (first, "2025-01-08T09:00:00Z", "complete"),
            ("Closed Won", "2025-01-08T09:00:00Z", "start"),  # the outcome, at its time
        ),
    )
    login(client, "manager")
    response = upload(client, seeded, "log.xes.gz", XES, gzip.compress(data))
    assert response.status_code == 302
    page, checked = check(client, response)
    html = page.content.decode()
    assert "case:concept:name" in html and "W-1" in html  # the columns and the preview
    assert {name for _, name, *_ in page.context["stages"]} == {first, second, "Closed Won"}
    assert checked.status_code == 200, checked.context["rejection"]
    assert checked.context["checked"].visits_written == 3
    upload_id = ImportUpload.objects.get().pk
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/deals/import/{upload_id}/run/")
    assert Job.objects.get(kind="import").state == JobState.DONE
    assert Deal.objects.get(stream=source, external_id="W-1").visits.count() == 2
    won = Deal.objects.get(stream=source, external_id="W-2")
    assert (won.status, won.visits.count()) == (DealStatus.WON, 1)
    assert won.closed_at == datetime(2025, 1, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize("packed", [False, True])
def test_the_head_of_a_large_log_is_enough_for_the_header_and_the_preview(packed):
    """The wizard reads only the first megabyte of a large upload: a cut log still gives its
    columns and first rows (the rest is read by the background jobs)."""
    events = [
        ("Qualify", "2025-01-06T09:00:00Z", "start"),
        ("Qualify", "2025-01-06T17:00:00Z", "complete"),
    ]
    data = log(*(trace(f"D-{i}", *events) for i in range(3000)))
    if packed:
        data = gzip.compress(data)
    table = read_table(data[: len(data) // 3])
    assert table.headers[0] == "case:concept:name"
    assert [row[:4] for row in table.rows[:2]] == [
        ["D-0", "Qualify", "2025-01-06T09:00:00Z", "2025-01-06T17:00:00Z"],
        ["D-1", "Qualify", "2025-01-06T09:00:00Z", "2025-01-06T17:00:00Z"],
    ]
