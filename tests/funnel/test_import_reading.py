"""What the import refuses before reading rows (not a table, NUL bytes, too many columns),
the formula check of its cells (issue 12 §6), the outcome stages it recognises, and mapping
files in JSON or YAML."""

from __future__ import annotations

import io

import pytest

from funnel.importing import (
    ImportOptions,
    ImportRejected,
    column_values,
    import_events,
    load_mapping,
    read_table,
    source_key,
    stage_defaults,
)
from funnel.models import Deal
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream():
    return stream_create(
        team=TeamFactory(name="Acme"),
        name="Sales",
        lanes=[LaneSpec("Sales")],
        steps=[StepSpec(s, "Sales", planned_lead_hours=8) for s in ("Lead", "Closed Won")],
    )


def refused(data: bytes, **kwargs) -> str:
    with pytest.raises(ImportRejected) as info:
        read_table(data, **kwargs)
    return info.value.message


# --- Not a table --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "start"),
    [
        (b"%PDF-1.7\n...", "This is a PDF document, not a table."),
        (b"\x89PNG\r\n\x1a\n....", "This is a PNG image, not a table."),
        (b"\x1f\x8b\x08\x00....", "This is a gzip-compressed file (unpack it first), not a table"),
        (b'{"columns": {"deal_id": "Id"}}', "This file is JSON, not a table."),
        (b"<?xml version='1.0'?><log/>", "The XES log holds no trace"),
        (b"Deals of the quarter\nsee the attachment\n", "This file is not a table: its first"),
        (b"d\x00e\x00a\x00l\x00,\x00i\x00d\x00\n\x00" * 50, "This file is not a text"),
    ],
)
def test_a_file_that_is_not_a_table_is_refused_saying_what_it_is(data, start):
    assert refused(data).startswith(start)


def test_a_nul_byte_is_refused_naming_its_row_and_column():
    data = b'deal_id,step,entered_at\nD-1,Lead,2025-01-01\n"D\n-2",Le\x00ad,2025-01-02\n'
    # The quoted id spans two lines: the NUL is on line 5 but in the file's row 3.
    assert refused(data) == (
        "The file holds a NUL byte (an invisible control character) in row 3, column 'step'. "
        "A CSV export never has one: remove it, or export the file again, and upload it."
    )


def test_a_file_with_more_columns_than_the_cap_is_refused(settings):
    settings.VSM_IMPORT_MAX_COLUMNS = 5
    header = ",".join(f"c{i}" for i in range(6)).encode()
    assert refused(header + b"\n" + b"1," * 5 + b"1\n") == (
        "The file has 6 columns; the import reads at most 5. Export only the columns it needs "
        "(deal id, stage, dates, deal fields) and upload that."
    )


# --- Formulas -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        '" =HYPERLINK(""http://x"")"',  # a leading space
        '"\t=1+2"',  # a tab
        '"\r=1+2"',  # a carriage return
        "＝1+2",  # a full-width equals sign
        "＠SUM(A1)",
        " @SUM(A1)",
    ],
)
def test_a_formula_behind_blanks_or_in_full_width_is_a_row_error(stream, cell):
    data = f"deal_id,step,entered_at,deal_name\nD-1,Lead,2025-01-01,{cell}\n".encode()
    with pytest.raises(ImportRejected) as info:
        import_events(stream=stream, data=data, options=ImportOptions(format="visits"))
    [error] = info.value.errors
    assert (error.row, error.column) == (2, "deal_name")
    assert "looks like a spreadsheet formula" in error.reason
    assert not Deal.objects.exists()


def test_a_neutralised_formula_behind_blanks_is_taken_back_as_text(stream):
    data = b"deal_id,step,entered_at,deal_name\nD-1,Lead,2025-01-01,' =1+2\n"
    import_events(stream=stream, data=data, options=ImportOptions(format="visits"))
    assert Deal.objects.get().name == "=1+2"


# --- Stages and mapping files -------------------------------------------------------------------


def test_obvious_outcome_stages_are_proposed_as_outcomes_even_beside_a_step_of_that_name(stream):
    table = read_table(b"deal_id,stage,changed_at\nA,Lead,2025-01-01\nA,Closed Won,2025-01-02\n")
    defaults = stage_defaults(stream, table, ImportOptions(format="transitions"))
    assert defaults == {"Lead": "same name: Lead", "Closed Won": "→ Won (recognised)"}
    result = import_events(
        stream=stream,
        data=b"deal_id,stage,changed_at\nA,Lead,2025-01-01\nA,Closed Won,2025-01-02\n",
        options=ImportOptions(format="transitions"),
    )
    assert (result.deals_created, Deal.objects.get().status) == (1, "won")


def test_a_mapping_file_may_be_yaml_or_json():
    yaml_text = (
        "# weekly Salesforce export\n"
        "columns:\n  deal_id: Opportunity ID\n"
        "steps:\n  Closed Won: won\n  Nurture: ignore\n"
        "owners:\n  Darcel Schlecht: alice\n  Zane Levy:\n"
        "time_zone: Europe/Berlin\nday_first: true\n"
    )
    assert load_mapping(yaml_text) == {
        "columns": {"deal_id": "Opportunity ID"},
        "steps": {"Closed Won": "won", "Nurture": "ignore"},
        "owners": {"Darcel Schlecht": "alice", "Zane Levy": ""},
        "time_zone": "Europe/Berlin",
        "day_first": True,
    }
    assert load_mapping('{"steps": {"Won": "won"}}')["steps"] == {"Won": "won"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"steps": ', "The mapping file is not valid JSON"),
        ("steps: [a, b", "The mapping file is neither JSON nor YAML (line"),
        ("- a\n- b\n", "The mapping file must hold a mapping with the keys"),
        ("stages: {}\n", "The mapping file has unknown keys: stages"),
        ("steps:\n  Won: [won]\n", '"steps" in the mapping file must map names to names.'),
        ("day_first: maybe\n", '"day_first" in the mapping file must be true or false.'),
    ],
)
def test_a_bad_mapping_file_is_refused_saying_why(text, message):
    with pytest.raises(ImportRejected) as info:
        load_mapping(text)
    assert info.value.message.startswith(message)


def test_a_source_is_recognised_by_its_columns_in_any_order_and_spelling():
    assert source_key(["Deal ID", "Stage"], "wide") == source_key(["stage", "deal_id"], "wide")
    assert source_key(["Deal ID", "Stage"], "wide") != source_key(["Deal ID", "Stage"], "visits")
    assert source_key(["Deal ID", "Stage"], "wide") != source_key(["Deal ID", "Owner"], "wide")


def test_one_reading_gives_each_columns_distinct_values_with_counts():
    table = read_table(
        b"id,stage,owner\n1,Won,Zane\n2,'=Lost,Zane\n3,Won,=cmd()\n4,Won,\n5,Open,Ann\n"
    )
    assert column_values(table, cap=3) == {
        "id": {"1": 1, "2": 1, "3": 1},  # the first three only
        "stage": {"Won": 3, "=Lost": 1, "Open": 1},  # the neutralising quote taken off
        "owner": {"Zane": 2, "Ann": 1},  # the formula is left out
    }


def test_an_upload_is_stored_and_read_back_byte_for_byte_in_slices(stream, settings, monkeypatch):
    from funnel import importing

    settings.VSM_IMPORT_CHECK_INLINE_BYTES = 10  # streamed into the database, read in the job
    monkeypatch.setattr(importing.uploads, "READ_SLICE", 1000)  # several slices on PostgreSQL
    data = b"deal_id,step,entered_at\n" + b"".join(
        f"D-{i},Lead,2025-01-01T00:00:{i % 60:02d}Z\n".encode() for i in range(500)
    )
    upload = importing.import_upload_start(
        stream=stream, file=io.BytesIO(data), options=ImportOptions(format="visits")
    )
    assert "scan" not in upload.options  # a large file is read on a worker
    assert importing.upload_size(upload) == len(data)
    assert importing.upload_bytes(upload) == data
    importing.import_upload_scan(upload=upload)
    upload.refresh_from_db()
    table = importing.upload_table(upload)
    assert list(importing.scan_from_json(upload.options["scan"])["step"]) == ["Lead"]
    assert table.headers == ["deal_id", "step", "entered_at"]
