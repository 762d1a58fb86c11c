"""Export of the event log (funnel.exporting, manage.py export_events) and the round trip
export → import."""

from __future__ import annotations

import csv
import io
import types
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from funnel.exporting import csv_export
from funnel.exporting.csv_export import CSV_COLUMNS, export_csv
from funnel.exporting.xes import export_xes
from funnel.importing import ImportOptions, import_events
from funnel.models import Deal, DealStatus, Visit
from streams.models import Role, ValueStream
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import DealFactory, MembershipFactory, TeamFactory, UserFactory, VisitFactory
from vsm_project.demo import LANES, STEPS, demo_seed

pytestmark = pytest.mark.django_db

ANCHOR = datetime(2025, 6, 1, tzinfo=UTC)
XES = "{http://www.xes-standard.org/}"


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(ANCHOR + timedelta(days=1), tick=False):
        yield


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def small():
    """One stream with three steps; a won deal with two visits (one by a rep, one by a lane),
    an open deal whose name looks like a formula, and a deal without visits."""
    team = TeamFactory(name="Acme")
    alice = UserFactory(username="alice")
    MembershipFactory(user=alice, team=team, role=Role.REP)
    stream = stream_create(
        team=team,
        name="New business",
        lanes=[LaneSpec("AE")],
        steps=[StepSpec(n, "AE", planned_lead_hours=8) for n in ("Qualify", "Demo", "Close")],
    )
    qualify, demo, _ = stream.steps.order_by("position")
    won = DealFactory(
        stream=stream,
        external_id="D-1",
        name="Northwind",
        account="Northwind Traders",
        amount=Decimal("1200.50"),
        owner=alice,
        source="inbound",
        created_at=t("2025-03-03T09:00:00+00:00"),
        status=DealStatus.WON,
        closed_at=t("2025-03-07T17:30:00.250000+00:00"),
    )
    VisitFactory(
        deal=won,
        step=qualify,
        entered_at=t("2025-03-03T09:00:00+00:00"),
        exited_at=t("2025-03-04T10:15:00.123456+00:00"),
        work_minutes=30,
        actor=alice,
    )
    VisitFactory(
        deal=won,
        step=demo,
        entered_at=t("2025-03-04T10:15:00.123456+00:00"),
        exited_at=t("2025-03-07T17:30:00.250000+00:00"),
        actor_name="Sales Engineer",
    )
    open_ = DealFactory(
        stream=stream,
        external_id="D-2",
        name="=cmd|' /C calc'!A0",
        account="-1",
        amount=None,
        source="",
        created_at=t("2025-03-05T08:00:00+00:00"),
    )
    VisitFactory(deal=open_, step=qualify, entered_at=t("2025-03-05T08:00:00+00:00"))
    DealFactory(
        stream=stream,
        external_id="D-3",
        name="No visits yet",
        account="",
        amount=None,
        source="",
        created_at=t("2025-03-06T08:00:00+00:00"),
    )
    return stream


def test_it_exports_csv_with_the_visits_import_columns_neutralising_formulas(small):
    chunks = export_csv(small)
    assert isinstance(chunks, types.GeneratorType)  # streamed, not built in memory
    text = "".join(chunks)
    assert text.splitlines() == [
        ",".join(CSV_COLUMNS),
        "D-1,Qualify,2025-03-03T09:00:00.000000Z,2025-03-04T10:15:00.123456Z,30,alice,Northwind,"
        "Northwind Traders,1200.50,alice,inbound,won,2025-03-07T17:30:00.250000Z,,"
        "2025-03-03T09:00:00.000000Z",
        "D-1,Demo,2025-03-04T10:15:00.123456Z,2025-03-07T17:30:00.250000Z,,Sales Engineer,"
        "Northwind,Northwind Traders,1200.50,alice,inbound,won,2025-03-07T17:30:00.250000Z,,"
        "2025-03-03T09:00:00.000000Z",
        # A formula gets a leading quote; a plain negative number does not.
        "D-2,Qualify,2025-03-05T08:00:00.000000Z,,,,'=cmd|' /C calc'!A0,-1,,,,open,,,"
        "2025-03-05T08:00:00.000000Z",
        # A deal without visits: one row with empty visit columns.
        "D-3,,,,,,No visits yet,,,,,open,,,2025-03-06T08:00:00.000000Z",
    ]
    assert CSV_COLUMNS == [
        "deal_id",
        "step",
        "entered_at",
        "exited_at",
        "work_minutes",
        "actor",
        "deal_name",
        "account",
        "amount",
        "owner",
        "source",
        "outcome",
        "closed_at",
        "lost_reason",
        "created_at",
    ]


def test_it_yields_the_csv_in_chunks(small, monkeypatch):
    # The portable path (SQLite); PostgreSQL's COPY path chunks by size (test_security_csv).
    monkeypatch.setattr(csv_export, "ROWS_PER_CHUNK", 2)
    chunks = list(csv_export._export_csv_rows(small))
    assert len(chunks) == 3  # rows 1–2, rows 3–4, and the rest (nothing)
    assert "".join(chunks).count("\r\n") == 5


def test_it_exports_xes_that_process_mining_tools_read(small):
    text = "".join(export_xes(small))
    root = ET.fromstring(text.encode())

    assert root.tag == f"{XES}log"
    assert root.get("xes.version") == "1.0"
    assert {e.get("prefix"): e.get("uri") for e in root.iter(f"{XES}extension")} == {
        "concept": "http://www.xes-standard.org/concept.xesext",
        "time": "http://www.xes-standard.org/time.xesext",
        "lifecycle": "http://www.xes-standard.org/lifecycle.xesext",
        "org": "http://www.xes-standard.org/org.xesext",
    }
    assert {g.get("scope") for g in root.iter(f"{XES}global")} == {"trace", "event"}
    traces = root.findall(f"{XES}trace")
    assert len(traces) == 3

    def attrs(element) -> dict[str, tuple[str, str]]:
        return {
            a.get("key"): (a.tag.removeprefix(XES), a.get("value"))
            for a in element
            if a.tag != f"{XES}event"
        }

    assert attrs(traces[0]) == {
        "concept:name": ("string", "D-1"),
        "deal_name": ("string", "Northwind"),
        "outcome": ("string", "won"),
        "created_at": ("date", "2025-03-03T09:00:00.000+00:00"),
        "account": ("string", "Northwind Traders"),
        "amount": ("float", "1200.50"),
        "owner": ("string", "alice"),
        "source": ("string", "inbound"),
        "closed_at": ("date", "2025-03-07T17:30:00.250+00:00"),
    }
    events = [attrs(e) for e in traces[0].findall(f"{XES}event")]
    assert events == [
        {
            "concept:name": ("string", "Qualify"),
            "time:timestamp": ("date", "2025-03-03T09:00:00.000+00:00"),
            "lifecycle:transition": ("string", "start"),
            "org:resource": ("string", "alice"),
        },
        {
            "concept:name": ("string", "Qualify"),
            "time:timestamp": ("date", "2025-03-04T10:15:00.123456+00:00"),
            "lifecycle:transition": ("string", "complete"),
            "org:resource": ("string", "alice"),
            "work_minutes": ("int", "30"),
        },
        {
            "concept:name": ("string", "Demo"),
            "time:timestamp": ("date", "2025-03-04T10:15:00.123456+00:00"),
            "lifecycle:transition": ("string", "start"),
            "org:resource": ("string", "Sales Engineer"),
        },
        {
            "concept:name": ("string", "Demo"),
            "time:timestamp": ("date", "2025-03-07T17:30:00.250+00:00"),
            "lifecycle:transition": ("string", "complete"),
            "org:resource": ("string", "Sales Engineer"),
        },
    ]
    # The open visit has only its start; the XML escapes what needs escaping.
    assert attrs(traces[1])["deal_name"] == ("string", "=cmd|' /C calc'!A0")
    assert [attrs(e)["lifecycle:transition"][1] for e in traces[1].iter(f"{XES}event")] == ["start"]
    assert traces[2].findall(f"{XES}event") == []


def test_the_command_writes_a_file_or_standard_output(small, tmp_path):
    path = tmp_path / "log.xes"
    err = io.StringIO()
    call_command("export_events", stream=small.slug, format="xes", output=str(path), stderr=err)
    assert ET.parse(path).getroot().tag == f"{XES}log"
    assert err.getvalue().startswith(f"Wrote {path} (")

    out = io.StringIO()
    call_command("export_events", stream=small.slug, format="csv", stdout=out)
    assert out.getvalue() == "".join(export_csv(small))


def test_an_exported_formula_imports_back_as_it_was(small):
    data = "".join(export_csv(small)).encode()
    copy = stream_create(
        team=small.team,
        name="Copy",
        lanes=[LaneSpec("AE")],
        steps=[StepSpec(n, "AE", planned_lead_hours=8) for n in ("Qualify", "Demo", "Close")],
    )
    import_events(stream=copy, data=data, options=ImportOptions(format="visits"))
    assert Deal.objects.get(stream=copy, external_id="D-2").name == "=cmd|' /C calc'!A0"
    assert Deal.objects.get(stream=copy, external_id="D-3").visits.count() == 0


# --- The round trip -------------------------------------------------------------------------------


def visit_tuples(stream: ValueStream) -> list[tuple]:
    return list(
        Visit.objects.filter(deal__stream=stream)
        .order_by("deal__external_id", "entered_at", "exited_at")
        .values_list(
            "deal__external_id",
            "step__name",
            "entered_at",
            "exited_at",
            "work_minutes",
            "actor_id",
            "actor_name",
        )
    )


def deal_tuples(stream: ValueStream) -> list[tuple]:
    return list(
        Deal.objects.filter(stream=stream)
        .order_by("external_id")
        .values_list(
            "external_id",
            "name",
            "account",
            "amount",
            "owner_id",
            "source",
            "created_at",
            "status",
            "closed_at",
            "lost_reason",
        )
    )


def test_export_then_import_into_an_empty_stream_reproduces_the_event_log():
    seeded = demo_seed(deals=60, anchor=ANCHOR)
    source = ValueStream.objects.get(slug=seeded.stream_slug)
    data = "".join(export_csv(source)).encode()
    target = stream_create(
        team=source.team, name="Imported", lanes=LANES, steps=[s.spec for s in STEPS]
    )

    result = import_events(stream=target, data=data, options=ImportOptions(format="visits"))

    cases = seeded.deals + seeded.leads  # the demo's deals and its leads (demo_leads)
    assert (result.deals_created, result.visits_written) == (cases, seeded.visits)
    assert visit_tuples(target) == visit_tuples(source)
    assert deal_tuples(target) == deal_tuples(source)
    statuses = {d[7] for d in deal_tuples(target)}
    assert statuses == {DealStatus.OPEN, DealStatus.WON, DealStatus.LOST}

    # And importing the export into the stream it came from changes nothing.
    again = import_events(stream=source, data=data, options=ImportOptions(format="visits"))
    assert (again.deals_unchanged, again.deals_updated, again.visits_written) == (cases, 0, 0)


def test_the_export_round_trips_through_the_csv_module_too():
    """Spreadsheet-style readers see the same cells the importer does."""
    seeded = demo_seed(deals=5, anchor=ANCHOR)
    source = ValueStream.objects.get(slug=seeded.stream_slug)
    rows = list(csv.DictReader(io.StringIO("".join(export_csv(source)))))
    assert len(rows) == seeded.visits
    assert {r["outcome"] for r in rows} <= {"open", "won", "lost"}
    assert all(r["entered_at"].endswith("Z") for r in rows)
