"""Import of the event log (funnel.importing, manage.py import_events, the Celery task)."""

# CSV fixtures are written as lines of the file, however long.
# ruff: noqa: E501

from __future__ import annotations

import io
import json
import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from funnel.importing import (
    FIELDS,
    FORMATS,
    ImportOptions,
    ImportRejected,
    RowError,
    Table,
    errors_csv,
    guess_columns,
    import_events,
    import_upload_create,
    read_table,
    source_stages,
    unknown_stages,
    validate,
)
from funnel.models import Deal, DealStatus, Visit
from funnel.tasks import _JobProgress, import_events_task
from streams.models import Job, JobState, Role
from streams.services import LaneSpec, StepSpec, job_create, stream_create
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from vsm_project.demo import STEPS as DEMO_STEPS

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
STEPS = ("Prospecting", "Qualification", "Proposal", "Negotiation")
# Every time in these files is before this instant.
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def csv_data(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def acme() -> SimpleNamespace:
    """Team Acme with manager morgan, reps alice and bob, leadership vera, and the stream
    "New business" of four steps: Prospecting, Qualification, Proposal, Negotiation."""
    ns = SimpleNamespace()
    ns.team = TeamFactory(name="Acme")
    for username, role in [
        ("morgan", Role.MANAGER),
        ("alice", Role.REP),
        ("bob", Role.REP),
        ("vera", Role.LEADERSHIP),
    ]:
        user = UserFactory(username=username, email=f"{username}@acme.example")
        MembershipFactory(user=user, team=ns.team, role=role)
        setattr(ns, username, user)
    ns.stream = make_stream(ns.team, "New business")
    return ns


def make_stream(team, name: str, steps=STEPS):
    return stream_create(
        team=team,
        name=name,
        lanes=[LaneSpec("Account Executive")],
        steps=[StepSpec(s, "Account Executive", planned_lead_hours=8) for s in steps],
    )


def run(stream, data: bytes, format: str = "visits", **options):
    return import_events(stream=stream, data=data, options=ImportOptions(format=format, **options))


def rejection(stream, data: bytes, format: str = "visits", **options) -> ImportRejected:
    with pytest.raises(ImportRejected) as info:
        run(stream, data, format, **options)
    assert not Deal.objects.filter(stream=stream).exists(), "a rejected file stores nothing"
    return info.value


def visits_of(stream) -> list[tuple]:
    return list(
        Visit.objects.filter(deal__stream=stream)
        .order_by("deal__external_id", "entered_at")
        .values_list(
            "deal__external_id",
            "step__name",
            "entered_at",
            "exited_at",
            "work_minutes",
            "actor__username",
            "actor_name",
        )
    )


def stored_rows(stream) -> tuple[list[tuple], list[tuple]]:
    """Every column of the stream's deals and visits, ids and updated_at included."""
    deals = list(Deal.objects.filter(stream=stream).order_by("id").values_list())
    visits = list(Visit.objects.filter(deal__stream=stream).order_by("id").values_list())
    return deals, visits


# --- The three formats ----------------------------------------------------------------------------

VISITS = csv_data(
    """
    deal_id,step,entered_at,exited_at,work_minutes,actor,deal_name,account,amount,owner,outcome
    D-1,Prospecting,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z,30,alice,Northwind,Northwind Traders,"12,500.50",alice,won
    D-1,Qualification,2025-03-04T09:00:00Z,2025-03-06T09:00:00Z,,SDR,Northwind,Northwind Traders,"12,500.50",alice,won
    D-2,proposal,2025-03-05 10:00,,45,Legal team,Contoso,,,BOB@acme.example,
    """
)


def test_it_imports_a_visits_file_with_deal_columns(acme):
    result = run(acme.stream, VISITS)

    assert result.as_dict() == {
        "deals_created": 2,
        "deals_updated": 0,
        "deals_unchanged": 0,
        "visits_written": 3,
        "rows": 3,
        "deals_without_visit": 0,
        "owner_names_kept": 0,
        "scores_written": 0,
        "notes": "",
    }
    d1 = Deal.objects.get(external_id="D-1")
    assert (d1.name, d1.account, d1.amount, d1.owner, d1.status) == (
        "Northwind",
        "Northwind Traders",
        Decimal("12500.50"),
        acme.alice,
        DealStatus.WON,
    )
    # No closed_at column: the deal closed when it left its last step; created at its first.
    assert d1.closed_at == t("2025-03-06T09:00:00+00:00")
    assert d1.created_at == t("2025-03-03T09:00:00+00:00")
    d2 = Deal.objects.get(external_id="D-2")
    assert (d2.name, d2.owner, d2.status, d2.amount, d2.account) == (
        "Contoso",
        acme.bob,  # found by email, case-insensitively
        DealStatus.OPEN,
        None,
        "",
    )
    # A team member's username becomes the visit's actor; any other name is kept as text.
    assert visits_of(acme.stream) == [
        ("D-1", "Prospecting", t("2025-03-03T09:00Z"), t("2025-03-04T09:00Z"), 30, "alice", ""),
        ("D-1", "Qualification", t("2025-03-04T09:00Z"), t("2025-03-06T09:00Z"), None, None, "SDR"),
        ("D-2", "Proposal", t("2025-03-05T10:00Z"), None, 45, None, "Legal team"),
    ]


def test_it_imports_a_salesforce_stage_history_with_closed_won_and_closed_lost(acme):
    data = csv_data(
        """
        Id,OpportunityId,StageName,Amount,CloseDate,CreatedDate,CreatedById
        00k1,0061,Prospecting,10000,2025-06-30,2025-03-03T09:00:00.000Z,005A
        00k2,0061,Qualification,10000,2025-06-30,2025-03-05T09:00:00.000Z,005B
        00k3,0061,Qualification,15000,2025-06-30,2025-03-06T09:00:00.000Z,005B
        00k4,0061,Closed Won,15000,2025-03-10,2025-03-10T17:00:00.000Z,005B
        00k6,0062,Closed Lost,5000,2025-03-12,2025-03-12T12:00:00.000Z,005A
        00k5,0062,Prospecting,5000,2025-06-30,2025-03-04T08:00:00.000Z,005A
        00k7,0063,Prospecting,,2025-06-30,2025-03-07T08:00:00.000Z,005A
        """
    )
    assert guess_columns(read_table(data), "transitions") == {
        "deal_id": "OpportunityId",  # not Id, the history row's own id
        "stage": "StageName",
        "changed_at": "CreatedDate",
        "actor": "CreatedById",
        "amount": "Amount",
    }
    result = run(acme.stream, data, "transitions")

    assert (result.deals_created, result.visits_written, result.rows) == (3, 4, 7)
    won, lost, open_ = (Deal.objects.get(external_id=i) for i in ("0061", "0062", "0063"))
    # The amount change at Qualification opened no visit; the latest amount wins.
    assert (won.status, won.closed_at, won.amount) == (
        DealStatus.WON,
        t("2025-03-10T17:00Z"),
        Decimal("15000.00"),
    )
    # Rows need not be in time order.
    assert (lost.status, lost.closed_at) == (DealStatus.LOST, t("2025-03-12T12:00Z"))
    assert (open_.status, open_.closed_at, open_.amount) == (DealStatus.OPEN, None, None)
    assert visits_of(acme.stream) == [
        ("0061", "Prospecting", t("2025-03-03T09:00Z"), t("2025-03-05T09:00Z"), None, None, "005A"),
        (
            "0061",
            "Qualification",
            t("2025-03-05T09:00Z"),
            t("2025-03-10T17:00Z"),
            None,
            None,
            "005B",
        ),
        ("0062", "Prospecting", t("2025-03-04T08:00Z"), t("2025-03-12T12:00Z"), None, None, "005A"),
        ("0063", "Prospecting", t("2025-03-07T08:00Z"), None, None, None, "005A"),
    ]


def test_it_reopens_a_deal_that_moves_on_after_being_lost(acme):
    data = csv_data(
        """
        OpportunityId,StageName,CreatedDate
        0061,Prospecting,2025-03-03T09:00:00Z
        0061,Closed Lost,2025-03-04T09:00:00Z
        0061,Qualification,2025-03-10T09:00:00Z
        """
    )
    run(acme.stream, data, "transitions")

    deal = Deal.objects.get(external_id="0061")
    assert (deal.status, deal.closed_at) == (DealStatus.OPEN, None)
    assert [v[1:4] for v in visits_of(acme.stream)] == [
        ("Prospecting", t("2025-03-03T09:00Z"), t("2025-03-04T09:00Z")),
        ("Qualification", t("2025-03-10T09:00Z"), None),
    ]


HUBSPOT = csv_data(
    '''
    Record ID,Deal Name,Deal Stage,Amount,Deal owner,Create Date,Close Date,"Date entered ""Appointment Scheduled (Sales Pipeline)""","Date entered ""Qualified To Buy (Sales Pipeline)""","Date entered ""Contract Sent (Sales Pipeline)""","Date entered ""Closed Won (Sales Pipeline)""","Date entered ""Closed Lost (Sales Pipeline)"""
    9001,Fabrikam,Closed Won,20000,alice@acme.example,2025-03-01 08:00,2025-04-01,2025-03-02 09:00,2025-03-05 09:00,1741600800000,2025-03-15 16:00,
    9002,Litware,Qualified To Buy,,,2025-03-03 10:00,2026-06-30,2025-03-03 10:00,2025-03-08 10:00,,,
    9003,Adatum,Closed Lost,800,bob,2025-03-04 11:00,2025-03-09,2025-03-04 11:00,,,,2025-03-09 12:00
    '''
)
HUBSPOT_STEPS = {
    "Appointment Scheduled": "Prospecting",
    "Qualified To Buy": "Qualification",
    "Contract Sent": "Negotiation",
}


def test_it_imports_a_hubspot_wide_export_with_date_entered_columns(acme):
    table = read_table(HUBSPOT)
    options = ImportOptions(format="wide")
    # The pipeline name that every stage carries is dropped.
    assert source_stages(table, options) == [
        "Appointment Scheduled",
        "Qualified To Buy",
        "Contract Sent",
        "Closed Won",
        "Closed Lost",
    ]
    assert unknown_stages(acme.stream, table, options) == [
        "Appointment Scheduled",
        "Qualified To Buy",
        "Contract Sent",
    ]
    assert guess_columns(table, "wide") == {
        "deal_id": "Record ID",
        "stage": "Deal Stage",
        "closed_at": "Close Date",
        "deal_name": "Deal Name",
        "amount": "Amount",
        "owner": "Deal owner",
        "created_at": "Create Date",
    }

    result = run(acme.stream, HUBSPOT, "wide", steps=HUBSPOT_STEPS)

    assert (result.deals_created, result.visits_written) == (3, 6)
    won, open_, lost = (Deal.objects.get(external_id=i) for i in ("9001", "9002", "9003"))
    assert (won.status, won.closed_at, won.owner, won.created_at) == (
        DealStatus.WON,
        t("2025-03-15T16:00Z"),
        acme.alice,
        t("2025-03-01T08:00Z"),
    )
    # Open: its close date (in the future) is only the expected one and is ignored.
    assert (open_.status, open_.closed_at) == (DealStatus.OPEN, None)
    assert (lost.status, lost.closed_at, lost.owner) == (
        DealStatus.LOST,
        t("2025-03-09T12:00Z"),
        acme.bob,
    )
    assert [v[:4] for v in visits_of(acme.stream)] == [
        ("9001", "Prospecting", t("2025-03-02T09:00Z"), t("2025-03-05T09:00Z")),
        # 1741600800000 ms after the epoch = 2025-03-10 10:00 UTC
        ("9001", "Qualification", t("2025-03-05T09:00Z"), t("2025-03-10T10:00Z")),
        ("9001", "Negotiation", t("2025-03-10T10:00Z"), t("2025-03-15T16:00Z")),
        ("9002", "Prospecting", t("2025-03-03T10:00Z"), t("2025-03-08T10:00Z")),
        ("9002", "Qualification", t("2025-03-08T10:00Z"), None),
        ("9003", "Prospecting", t("2025-03-04T11:00Z"), t("2025-03-09T12:00Z")),
    ]


SIMPLE_WIDE = csv_data(
    """
    opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value
    1C1I7A6R,alice,GTX Basic,Cancity,Won,2025-03-20,2025-05-01,1054
    Z063OYW0,bob,MG Special,Isdom,Lost,2025-03-25,2025-04-11,0
    EC4QE1BX,alice,GTX Pro,Cancity,Engaging,2025-04-02,,
    MV1LWRNH,bob,GTX Pro,Codehow,Prospecting,,,
    """
)


def test_it_imports_a_simple_wide_export_with_engage_and_close_dates(acme):
    table = read_table(SIMPLE_WIDE)
    options = ImportOptions(format="wide", steps={"Prospecting": "ignore"})
    # The engage date's column comes first: the mapping may name the step deals enter at.
    assert source_stages(table, options) == [
        "engage_date",
        "Won",
        "Lost",
        "Engaging",
        "Prospecting",
    ]
    assert unknown_stages(acme.stream, table, options) == []  # not won/lost/ignored: open

    result = run(
        acme.stream,
        SIMPLE_WIDE,
        "wide",
        steps={"Prospecting": "ignore", "engage_date": "Qualification"},
    )

    assert (result.deals_created, result.visits_written, result.rows) == (3, 3, 4)
    assert list(
        Deal.objects.order_by("id").values_list("external_id", "status", "closed_at", "amount")
    ) == [
        ("1C1I7A6R", DealStatus.WON, t("2025-05-01T00:00Z"), Decimal("1054.00")),
        ("Z063OYW0", DealStatus.LOST, t("2025-04-11T00:00Z"), Decimal("0.00")),
        ("EC4QE1BX", DealStatus.OPEN, None, None),
    ]
    assert [v[:4] for v in visits_of(acme.stream)] == [
        ("1C1I7A6R", "Qualification", t("2025-03-20T00:00Z"), t("2025-05-01T00:00Z")),
        ("EC4QE1BX", "Qualification", t("2025-04-02T00:00Z"), None),
        ("Z063OYW0", "Qualification", t("2025-03-25T00:00Z"), t("2025-04-11T00:00Z")),
    ]


def test_it_starts_simple_wide_deals_at_the_first_step_unless_mapped(acme):
    run(acme.stream, SIMPLE_WIDE, "wide", steps={"Prospecting": "ignore"})
    assert {v[1] for v in visits_of(acme.stream)} == {"Prospecting"}


def test_it_imports_never_engaged_deals_without_a_visit_and_says_so(acme):
    result = run(acme.stream, SIMPLE_WIDE, "wide")

    assert (result.deals_created, result.visits_written, result.deals_without_visit) == (4, 3, 1)
    prospect = Deal.objects.get(external_id="MV1LWRNH")
    # No date in the row and no created column: created at the import, open, at no step.
    assert (prospect.status, prospect.created_at, prospect.visits.count()) == (
        DealStatus.OPEN,
        NOW,
        0,
    )
    assert result.notes[0] == (
        "1 deal without an engage date (Prospecting (1)) was imported without a visit at any "
        "step: created on their close date if they closed, otherwise on the day of the import "
        "(the file has no created date). They count in the deal list, not in flow figures, "
        "until they move."
    )
    # Imported again a day later: the deal keeps its creation date and nothing changes.
    with time_machine.travel(datetime(2026, 1, 16, tzinfo=UTC), tick=False):
        again = run(acme.stream, SIMPLE_WIDE, "wide")
    assert (again.deals_unchanged, again.deals_updated) == (4, 0)
    assert Deal.objects.get(external_id="MV1LWRNH").created_at == NOW


def test_ignoring_the_never_engaged_stage_still_skips_those_deals(acme):
    result = run(acme.stream, SIMPLE_WIDE, "wide", steps={"Prospecting": "ignore"})
    assert (result.deals_created, result.deals_without_visit) == (3, 0)


def test_it_keeps_a_deal_of_only_deal_columns_when_it_has_a_created_at(acme):
    data = csv_data(
        """
        deal_id,step,entered_at,deal_name,created_at
        D-9,,,Tailspin,2025-02-01T10:00:00Z
        """
    )
    assert run(acme.stream, data).deals_created == 1
    deal = Deal.objects.get(external_id="D-9")
    assert (deal.name, deal.created_at, deal.visits.count()) == (
        "Tailspin",
        t("2025-02-01T10:00Z"),
        0,
    )


# --- All or nothing -------------------------------------------------------------------------------

BAD_ROWS = csv_data(
    """
    deal_id,step,entered_at,exited_at,work_minutes,amount,owner,outcome
    D-1,Prospecting,2025-03-03T09:00:00Z,2025-03-02T09:00:00Z,,,,
    D-2,Prospecting,2025-03-03T09:00:00Z,,-5,lots,,
    D-3,Prospecting,2026-02-01T09:00:00Z,,2.5,,mallory,
    D-8,Prospecting,2025-03-03T09:00:00Z,,,,vera,
    D-4,Prospecting,2025-03-03T09:00:00Z,2025-03-05T09:00:00Z,,,,
    D-4,Qualification,2025-03-04T09:00:00Z,,,,,
    D-5,Prospecting,2025-03-03T09:00:00Z,,,,,
    D-5,Qualification,2025-03-04T09:00:00Z,,,,,
    ,Prospecting,2025-03-03T09:00:00Z,,,,,
    D-6,Prospecting,yesterday,,,,,
    D-7,Prospecting,2025-03-03T09:00:00Z,,,,,won
    D-10,Prospecting,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z,,,,
    """
)


def test_it_stores_nothing_and_reports_every_bad_row(acme):
    exc = rejection(acme.stream, BAD_ROWS)

    assert exc.message == (
        "10 problems in the file; nothing was imported. Fix the rows listed and import it again."
    )
    assert exc.error_count == len(exc.errors) == 10
    assert {(e.row, e.column): e.reason for e in exc.errors} == {
        (2, "exited_at"): "before the visit's entered_at.",
        (3, "work_minutes"): "negative (-5); work minutes are zero or more.",
        (3, "amount"): "'lots' is not a number.",
        (4, "entered_at"): "2026-02-01T09:00:00Z is in the future.",
        (4, "work_minutes"): "not a whole number of minutes (2.5).",
        # Owners who are not members (mallory; vera of leadership) are no error: their names
        # are kept as the deals' owner names.
        (7, "entered_at"): "overlaps the deal's visit to 'Prospecting' (row 6), which ends at "
        "2025-03-05T09:00:00+00:00; a deal is at one step at a time.",
        (8, "exited_at"): "deal D-5 has 2 visits without an exit time (rows 8, 9); at most one, "
        "its last, can be open.",
        (10, "deal_id"): "empty; every row needs the deal's id.",
        (11, "entered_at"): "'yesterday' is not a date and time (use ISO 8601 like "
        "2016-10-20T14:05:00Z, 10/20/2016 14:05, 20.10.2016 or epoch milliseconds).",
        (12, "exited_at"): "deal D-7 is won, so its visits need exit times.",
    }
    assert errors_csv(exc.errors).splitlines()[:4] == [
        "row,column,reason",
        "2,exited_at,before the visit's entered_at.",
        "3,work_minutes,negative (-5); work minutes are zero or more.",
        "3,amount,'lots' is not a number.",
    ]


def test_it_names_the_files_own_column_headers_in_errors(acme):
    data = csv_data(
        """
        Opportunity ID,Stage Name,Edit Date
        0061,Prospecting,31.02.2025
        """
    )
    exc = rejection(acme.stream, data, "transitions")
    assert [(e.row, e.column) for e in exc.errors] == [(2, "Edit Date")]
    assert exc.errors[0].reason.startswith("'31.02.2025' is not a valid date (day is out of range")


def test_it_reports_an_open_visit_followed_by_another_and_visits_after_the_close(acme):
    data = csv_data(
        """
        deal_id,step,entered_at,exited_at,outcome,closed_at
        D-1,Prospecting,2025-03-03T09:00:00Z,,,
        D-1,Qualification,2025-03-05T09:00:00Z,2025-03-06T09:00:00Z,,
        D-2,Prospecting,2025-03-03T09:00:00Z,2025-03-09T09:00:00Z,lost,2025-03-08T09:00:00Z
        """
    )
    exc = rejection(acme.stream, data)
    assert [(e.row, e.column, e.reason) for e in exc.errors] == [
        (
            2,
            "exited_at",
            "empty, but deal D-1 entered 'Qualification' later (row 3); only a deal's last "
            "visit can be open.",
        ),
        (
            4,
            "closed_at",
            "deal D-2 closed at 2025-03-08T09:00:00+00:00, before it left its last step.",
        ),
    ]


def test_it_reports_deal_columns_that_disagree_between_rows(acme):
    data = csv_data(
        """
        deal_id,step,entered_at,exited_at,amount,lost_reason,outcome
        D-1,Prospecting,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z,100,,
        D-1,Qualification,2025-03-04T09:00:00Z,,200,,
        D-2,Prospecting,2025-03-03T09:00:00Z,2025-03-04T09:00:00Z,,No budget,won
        """
    )
    exc = rejection(acme.stream, data)
    assert [(e.row, e.column, e.reason) for e in exc.errors] == [
        (3, "amount", "deal D-1 has another amount on row 2; the rows of one deal must agree."),
        (4, "lost_reason", "only a lost deal has a lost reason."),
    ]


def test_it_rejects_a_file_whose_rows_have_more_cells_than_the_header(acme):
    data = csv_data(
        """
        deal_id,step,entered_at
        D-1,Prospecting,2025-03-03T09:00:00Z,surplus
        D-2,Prospecting
        """
    )
    exc = rejection(acme.stream, data)
    assert [(e.row, e.column, e.reason) for e in exc.errors] == [
        (2, "", "4 cells, but the header names 3 columns."),
        (3, "entered_at", "empty; a time is required here."),
    ]


# --- Idempotence ----------------------------------------------------------------------------------


def test_it_changes_nothing_when_the_same_file_is_imported_again(acme, monkeypatch):
    from funnel import importing

    scheduled, analysed = [], []
    monkeypatch.setattr(importing.uploads, "metrics_changed", lambda **kw: scheduled.append(kw))
    monkeypatch.setattr(importing.uploads, "event_log_analyze", lambda: analysed.append(1))
    first = run(acme.stream, HUBSPOT, "wide", steps=HUBSPOT_STEPS)
    # The first import wrote: statistics refreshed, one recompute owed.
    assert (scheduled, analysed) == ([{"stream_id": acme.stream.pk}], [1])
    before = stored_rows(acme.stream)
    with time_machine.travel(datetime(2026, 1, 16, tzinfo=UTC), tick=False):
        again = run(acme.stream, HUBSPOT, "wide", steps=HUBSPOT_STEPS)

    assert first.deals_created == 3
    assert again.as_dict() == {
        "deals_created": 0,
        "deals_updated": 0,
        "deals_unchanged": 3,
        "visits_written": 0,
        "rows": 3,
        "deals_without_visit": 0,
        "owner_names_kept": 0,
        "scores_written": 0,
        "notes": "",
    }
    assert stored_rows(acme.stream) == before  # ids and updated_at too
    # Nothing changed: no second recompute, no second ANALYZE.
    assert (len(scheduled), len(analysed)) == (1, 1)


def test_it_updates_a_deal_whose_history_grew_and_leaves_the_others(acme):
    run(acme.stream, VISITS)
    d1_before = Deal.objects.filter(external_id="D-1").values_list().get()
    d2 = Deal.objects.get(external_id="D-2")
    open_visit = d2.visits.get()
    closed = VISITS.replace(b"2025-03-05 10:00,,45", b"2025-03-05 10:00,2025-03-09 10:00,45")
    grown = closed + b"D-2,Negotiation,2025-03-09T10:00:00Z,,,,Contoso,,,bob,\n"

    with time_machine.travel(datetime(2026, 1, 16, tzinfo=UTC), tick=False):
        result = validate(acme.stream, read_table(grown), ImportOptions(format="visits"))
        assert Visit.objects.filter(deal=d2).count() == 1  # a dry run writes nothing
        assert run(acme.stream, grown) == result

    assert (result.deals_created, result.deals_updated, result.deals_unchanged) == (0, 1, 1)
    assert result.visits_written == 2  # the closed visit and the new one
    assert Deal.objects.filter(external_id="D-1").values_list().get() == d1_before
    assert [v[1:4] for v in visits_of(acme.stream) if v[0] == "D-2"] == [
        ("Proposal", t("2025-03-05T10:00Z"), t("2025-03-09T10:00Z")),
        ("Negotiation", t("2025-03-09T10:00Z"), None),
    ]
    # The visit that was open is the same row, now closed.
    assert Visit.objects.get(pk=open_visit.pk).exited_at == t("2025-03-09T10:00Z")


def test_it_replaces_visits_the_file_no_longer_has(acme):
    run(acme.stream, VISITS)
    shrunk = b"\n".join(line for line in VISITS.split(b"\n") if b"Qualification" not in line)

    result = run(acme.stream, shrunk)

    assert (result.deals_updated, result.deals_unchanged) == (1, 1)
    assert [v[1] for v in visits_of(acme.stream) if v[0] == "D-1"] == ["Prospecting"]
    # Its outcome now dates from the one visit left.
    assert Deal.objects.get(external_id="D-1").closed_at == t("2025-03-04T09:00Z")


def test_it_keeps_stored_deal_fields_the_file_has_no_column_for(acme):
    run(acme.stream, VISITS)
    bare = csv_data(
        """
        deal_id,step,entered_at,exited_at,work_minutes,actor
        D-2,Proposal,2025-03-05T10:00:00Z,,45,Legal team
        """
    )
    result = run(acme.stream, bare)
    assert (result.deals_unchanged, result.deals_updated) == (1, 0)
    assert Deal.objects.get(external_id="D-2").owner == acme.bob


# --- Stages ---------------------------------------------------------------------------------------


def test_it_lists_every_unknown_stage_in_one_error(acme):
    data = csv_data(
        """
        OpportunityId,StageName,CreatedDate
        0061,Discovery,2025-03-03T09:00:00Z
        0061,Demo,2025-03-04T09:00:00Z
        0062,Discovery,2025-03-04T09:00:00Z
        0062,Pilot,2025-03-05T09:00:00Z
        0062,Closed Won,2025-03-06T09:00:00Z
        """
    )
    exc = rejection(acme.stream, data, "transitions")
    assert exc.errors == []
    assert exc.message == (
        "The file uses 3 stages that stream 'New business' has no step for: 'Discovery' (first "
        "on row 2), 'Demo' (first on row 3), 'Pilot' (first on row 5). Map each to a step, or "
        "to won, lost or ignore (the stage mapping), or add the steps to the map. Its steps: "
        "'Prospecting', 'Qualification', 'Proposal', 'Negotiation'."
    )
    # The message is shown in the browser too: no command-line flag in it.
    assert "--" not in exc.message
    assert exc.unknown_stages == ["Discovery", "Demo", "Pilot"]
    table = read_table(data)
    options = ImportOptions(format="transitions")
    assert source_stages(table, options) == ["Discovery", "Demo", "Pilot", "Closed Won"]
    assert unknown_stages(acme.stream, table, options) == ["Discovery", "Demo", "Pilot"]


def test_it_maps_stages_to_steps_outcomes_or_nothing(acme):
    data = csv_data(
        """
        OpportunityId,StageName,CreatedDate
        0061,Discovery,2025-03-03T09:00:00Z
        0061,Spam check,2025-03-03T10:00:00Z
        0061,Demo,2025-03-04T09:00:00Z
        0061,Closed - Signed,2025-03-06T09:00:00Z
        """
    )
    steps = {
        "discovery": "prospecting",  # both sides case-insensitive
        "Demo": "Qualification",
        "Closed - Signed": "won",
        "Spam check": "ignore",
    }
    table = read_table(data)
    assert unknown_stages(acme.stream, table, ImportOptions("transitions", steps=steps)) == []

    run(acme.stream, data, "transitions", steps=steps)

    assert Deal.objects.get().status == DealStatus.WON
    assert [v[1:4] for v in visits_of(acme.stream)] == [
        ("Prospecting", t("2025-03-03T09:00Z"), t("2025-03-04T09:00Z")),
        ("Qualification", t("2025-03-04T09:00Z"), t("2025-03-06T09:00Z")),
    ]


def test_it_refuses_a_mapping_to_a_step_the_stream_lacks(acme):
    exc = rejection(acme.stream, VISITS, steps={"Prospecting": "Discovery"})
    assert exc.message == (
        "The stage mapping sends stages to steps that stream 'New business' does not have: "
        "'Prospecting' → 'Discovery'. Its steps: 'Prospecting', 'Qualification', 'Proposal', "
        "'Negotiation'; or use won, lost or ignore."
    )


# --- Times ----------------------------------------------------------------------------------------


def entered(stream) -> list[datetime]:
    return [v[2] for v in visits_of(stream)]


def test_it_reads_naive_times_in_the_chosen_zone_across_a_dst_change(acme):
    data = csv_data(
        """
        deal_id,step,entered_at,exited_at
        A,Prospecting,2025-03-30 01:30,2025-03-30 03:30
        B,Prospecting,2025-10-26 02:30,2025-10-26T12:00:00+05:30
        """
    )
    run(acme.stream, data, time_zone="Europe/Berlin")

    assert [v[2:4] for v in visits_of(acme.stream)] == [
        # 01:30 CET (+01:00) and 03:30 CEST (+02:00): one hour apart, not two.
        (t("2025-03-30T00:30Z"), t("2025-03-30T01:30Z")),
        # 02:30 happens twice on 2025-10-26: the first (CEST); a time with an offset keeps it.
        (t("2025-10-26T00:30Z"), t("2025-10-26T06:30Z")),
    ]


def test_it_rejects_a_time_that_does_not_exist_in_the_zone(acme):
    data = csv_data(
        """
        deal_id,step,entered_at
        A,Prospecting,2025-03-30 02:30
        """
    )
    exc = rejection(acme.stream, data, time_zone="Europe/Berlin")
    assert exc.errors == [
        RowError(
            2,
            "entered_at",
            "2025-03-30 02:30 does not exist in Europe/Berlin (the clocks moved forward then); "
            "check the time or the time zone.",
        )
    ]


def test_it_refuses_an_unknown_time_zone(acme):
    assert rejection(acme.stream, VISITS, time_zone="Mars/Olympus").message == (
        "Unknown time zone 'Mars/Olympus'; use a name like Europe/Berlin or America/New_York."
    )


def test_it_reads_us_dates_and_common_crm_formats(acme):
    data = csv_data(
        """
        deal_id,step,entered_at,exited_at
        A,Prospecting,10/20/2016,10/20/2016 14:05
        B,Prospecting,2016-10-20 14:05:00,10/21/2016 2:05 PM
        C,Prospecting,20.10.2016,20.10.2016 18:30
        D,Prospecting,1476972300000,2016/10/21
        """
    )
    run(acme.stream, data, time_zone="America/New_York")

    assert [v[2:4] for v in visits_of(acme.stream)] == [
        (t("2016-10-20T04:00Z"), t("2016-10-20T18:05Z")),  # EDT is UTC-4
        (t("2016-10-20T18:05Z"), t("2016-10-21T18:05Z")),
        (t("2016-10-20T04:00Z"), t("2016-10-20T22:30Z")),
        # Epoch milliseconds are UTC whatever the zone.
        (t("2016-10-20T14:05Z"), t("2016-10-21T04:00Z")),
    ]


def test_it_reads_day_first_dates_when_told(acme):
    data = csv_data(
        """
        deal_id,step,entered_at,exited_at
        A,Prospecting,03/04/2025,20/04/2025 09:15
        """
    )
    exc = rejection(acme.stream, data)
    assert exc.errors == [
        RowError(
            2,
            "exited_at",
            "'20/04/2025 09:15' is not a valid date (month must be in 1..12). Are the dates day "
            "first (20/10/2016)? Then choose day-first.",
        )
    ]

    run(acme.stream, data, day_first=True)
    assert [v[2:4] for v in visits_of(acme.stream)] == [
        (t("2025-04-03T00:00Z"), t("2025-04-20T09:15Z"))
    ]


# --- Files that are not what they should be -------------------------------------------------------


def test_it_refuses_a_file_that_is_not_utf8(acme):
    data = "deal_id,step,entered_at\nD-1,Pr\u00e9sentation,2025-03-03\n".encode("latin-1")
    assert rejection(acme.stream, data).message == (
        "The file is not UTF-8 text: line 2 has the byte 0xE9. Save it as CSV UTF-8 (Excel: "
        "Save as → CSV UTF-8) and upload it again."
    )


def test_it_reads_a_utf8_file_with_a_byte_order_mark_and_semicolons(acme):
    data = b"\xef\xbb\xbf" + csv_data(
        """
        deal_id;step;entered_at;account
        D-1;Prospecting;2025-03-03T09:00:00Z;Caf\u00e9 M\u00fcller
        """
    )
    table = read_table(data)
    assert table.headers == ["deal_id", "step", "entered_at", "account"]
    run(acme.stream, data)
    assert Deal.objects.get().account == "Café Müller"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\xef\xbb\xbf\r\n\r\n", "The file is empty."),
        (b"deal_id,step,entered_at\r\n", "The file has a header but no data rows."),
        (
            b"deal_id,step,entered_at,step\nD-1,A,2025-03-03,B\n",
            "Column names must be unique; the header repeats 'step' (columns 2 and 4).",
        ),
        (
            b"PK\x03\x04xlsx",
            "This is an Excel workbook, not a CSV file. Save it as CSV UTF-8 and upload that.",
        ),
        (
            b'deal_id,step\nD-1,"Prosp"ecting\n',
            "Row 2 is not valid CSV (',' expected after '\"'); check its quotes.",
        ),
    ],
)
def test_it_refuses_files_it_cannot_read_with_one_message(acme, data, message):
    exc = rejection(acme.stream, data)
    assert (exc.message, exc.errors) == (message, [])


def test_it_names_missing_required_columns(acme):
    data = csv_data(
        """
        deal_id,when
        D-1,2025-03-03
        """
    )
    assert rejection(acme.stream, data).message == (
        "The file is missing required columns: Step (step), Entered at (entered_at). Map them "
        "to the file's columns: 'deal_id', 'when'."
    )


def test_it_refuses_a_file_over_the_size_limit(acme, settings):
    assert read_table(VISITS, max_bytes=len(VISITS)).headers[0] == "deal_id"
    with pytest.raises(ImportRejected) as info:
        read_table(VISITS, max_bytes=100)
    assert info.value.message == (
        f"The file is {len(VISITS) / 1024 / 1024:.1f} MB; the limit is 0.0 MB. Split it into "
        "smaller files (by date, for example) and import each."
    )
    settings.VSM_IMPORT_MAX_BYTES = 100
    assert rejection(acme.stream, VISITS).message.startswith("The file is 0.0 MB; the limit")


def test_it_reports_cells_that_look_like_spreadsheet_formulas(acme):
    data = csv_data(
        """
        deal_id,step,entered_at,deal_name,account,amount,source
        D-1,Prospecting,2025-03-03T09:00:00Z,"=HYPERLINK(""http://x.example"",""Click"")",+49 30 1234,,@SUM(A1)
        D-2,Prospecting,2025-03-03T09:00:00Z,-,-,-5,
        """
    )
    exc = rejection(acme.stream, data)
    assert [(e.row, e.column, e.reason) for e in exc.errors] == [
        (
            2,
            "deal_name",
            '\'=HYPERLINK("http://x.example","Click")\' looks like a spreadsheet formula; '
            "remove it (or prefix a ' to keep it as text).",
        ),
        (
            2,
            "source",
            "'@SUM(A1)' looks like a spreadsheet formula; remove it (or prefix a ' to keep it as "
            "text).",
        ),
        # A plain number is not a formula; as an amount it is negative.
        (3, "amount", "negative (-5); amounts are zero or more."),
    ]


def test_it_removes_the_quote_that_neutralises_a_formula(acme):
    data = csv_data(
        """
        deal_id,step,entered_at,deal_name,account
        D-1,Prospecting,2025-03-03T09:00:00Z,'=SUM(A1),'s-Hertogenbosch B.V.
        """
    )
    run(acme.stream, data)
    deal = Deal.objects.get()
    assert (deal.name, deal.account) == ("=SUM(A1)", "'s-Hertogenbosch B.V.")


# --- The table and the wizard's helpers -----------------------------------------------------------


def test_the_table_streams_its_rows_and_slices_a_preview():
    data = b"a,b\n1,2\n\n3,4\n5,6\n"
    table = read_table(data)
    assert table.headers == ["a", "b"]
    assert len(table.rows) == 3  # the blank line is no row
    assert table.rows[:2] == [["1", "2"], ["3", "4"]]
    assert table.rows[-1] == ["5", "6"]
    # Row numbers are the file's, header = 1, the blank line counted.
    assert list(table.numbered_rows()) == [(2, ["1", "2"]), (4, ["3", "4"]), (5, ["5", "6"])]
    # A table built by hand works too.
    assert list(Table(["a"], [["x"]]).numbered_rows()) == [(2, ["x"])]


def test_the_fields_of_every_format_name_their_required_columns():
    assert FORMATS == ("visits", "transitions", "wide")
    required = {f: [x.name for x in FIELDS[f] if x.required] for f in FORMATS}
    assert required == {
        "visits": ["deal_id", "step", "entered_at"],
        "transitions": ["deal_id", "stage", "changed_at"],
        "wide": ["deal_id"],
    }


def test_it_guesses_the_columns_of_its_own_export():
    header = (
        "deal_id,step,entered_at,exited_at,work_minutes,actor,deal_name,account,amount,owner,"
        "source,outcome,closed_at,lost_reason,created_at"
    )
    table = read_table(f"{header}\nD-1,A,2025-01-01,,,,,,,,,,,,\n".encode())
    assert guess_columns(table, "visits") == {name: name for name in header.split(",")}


# --- The command ----------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_the_command_imports_with_a_mapping_file_and_prints_progress(acme, tmp_path):
    mapping = write(
        tmp_path,
        "mapping.json",
        json.dumps({"steps": HUBSPOT_STEPS, "columns": {"owner": ""}}).encode(),
    )
    out = io.StringIO()
    call_command(
        "import_events",
        write(tmp_path, "deals.csv", HUBSPOT),
        stream=acme.stream.slug,
        format="wide",
        mapping=mapping,
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    assert lines[0] == f"Importing deals.csv into New business ({len(HUBSPOT):,} bytes)"
    assert lines[1:-1] == ["  [100%] Wrote 3 of 3 deals"]  # one line per percent reached
    assert lines[-1].startswith("Imported 3 rows in ")
    assert lines[-1].endswith("3 deals created, 0 updated, 0 unchanged; 6 visits written.")
    # The mapping unmapped the owner column: no owners.
    assert not Deal.objects.filter(owner__isnull=False).exists()


def test_the_command_reports_every_error_and_writes_them_as_csv(acme, tmp_path):
    errors = tmp_path / "errors.csv"
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"Nothing was imported\."):
        call_command(
            "import_events",
            write(tmp_path, "bad.csv", BAD_ROWS),
            stream=acme.stream.slug,
            format="visits",
            errors_csv=str(errors),
            stderr=err,
        )
    assert err.getvalue().splitlines()[:2] == [
        "10 problems in the file; nothing was imported. Fix the rows listed and import it again.",
        "  row 2, exited_at: before the visit's entered_at.",
    ]
    assert len(errors.read_text().splitlines()) == 11
    assert not Deal.objects.exists()


def test_the_command_dry_run_and_background_options(acme, tmp_path, settings):
    path = write(tmp_path, "visits.csv", VISITS)
    out = io.StringIO()
    call_command(
        "import_events", path, stream=acme.stream.slug, format="visits", dry_run=True, stdout=out
    )
    assert "Would import 3 rows" in out.getvalue()
    assert not Deal.objects.exists()

    # Celery runs eagerly without a broker (settings.CELERY_TASK_ALWAYS_EAGER).
    out = io.StringIO()
    call_command(
        "import_events", path, stream=acme.stream.slug, format="visits", background=True, stdout=out
    )
    assert "2 deals created" in out.getvalue()
    job = Job.objects.get()
    assert (job.state, job.kind, job.result["deals_created"]) == (JobState.DONE, "import", 2)


def test_the_command_says_how_to_map_unknown_stages_with_a_mapping_file(acme, tmp_path):
    data = b"deal_id,step,entered_at\nD-1,Discovery,2025-03-03T09:00:00Z\n"
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import_events",
            write(tmp_path, "v.csv", data),
            stream=acme.stream.slug,
            format="visits",
            stderr=err,
        )
    assert err.getvalue().splitlines()[1] == (
        'Map them with --mapping FILE, a JSON or YAML file like {"steps": {"Discovery": '
        '"<step, won, lost or ignore>"}}.'
    )
    # A YAML mapping file maps them.
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("steps:\n  Discovery: Qualification\n")
    call_command(
        "import_events",
        write(tmp_path, "v.csv", data),
        stream=acme.stream.slug,
        format="visits",
        mapping=str(mapping),
        stdout=io.StringIO(),
    )
    assert visits_of(acme.stream)[0][1] == "Qualification"


def test_the_command_refuses_an_unknown_stream(tmp_path):
    with pytest.raises(CommandError, match=r"No value stream with slug 'nope'\."):
        call_command(
            "import_events", write(tmp_path, "v.csv", VISITS), stream="nope", format="visits"
        )


# --- The Celery task ------------------------------------------------------------------------------


# Outside a test transaction, so that on PostgreSQL the progress the task records through its
# second connection (while the import's transaction is open) is visible.
@pytest.mark.django_db(transaction=True)
def test_the_task_imports_an_upload_and_finishes_the_job(acme):
    job = job_create(kind="import", params={}, team=acme.team)
    upload = import_upload_create(
        stream=acme.stream,
        data=HUBSPOT,
        options=ImportOptions(format="wide", steps=HUBSPOT_STEPS),
        filename="hubspot.csv",
        uploaded_by=acme.morgan,
        job=job,
    )
    outcome = import_events_task.delay(job.pk, upload.pk).get()

    job.refresh_from_db()
    assert outcome["ok"] is True
    assert (job.state, job.done, job.total, job.percent) == (JobState.DONE, job.total, 8, 100)
    assert job.result == {
        "deals_created": 3,
        "deals_updated": 0,
        "deals_unchanged": 0,
        "visits_written": 6,
        "rows": 3,
        "deals_without_visit": 0,
        "owner_names_kept": 0,
        "scores_written": 0,
        "notes": "",
    }
    assert job.message == "Imported: 3 deals created, 0 updated, 0 unchanged"


def test_the_task_fails_the_job_with_the_row_errors(acme):
    job = job_create(kind="import", params={}, team=acme.team)
    upload = import_upload_create(
        stream=acme.stream, data=BAD_ROWS, options=ImportOptions(format="visits")
    )
    outcome = import_events_task.delay(job.pk, upload.pk).get()

    job.refresh_from_db()
    assert outcome["ok"] is False
    assert job.state == JobState.FAILED
    assert job.error.startswith("10 problems in the file; nothing was imported.")
    assert job.result["error_count"] == 10
    assert job.result["errors"][0] == {
        "row": 2,
        "column": "exited_at",
        "reason": "before the visit's entered_at.",
    }
    assert not Deal.objects.exists()


# --- The example files ----------------------------------------------------------------------------


@pytest.fixture
def demo_like() -> SimpleNamespace:
    """A stream with the demo's steps and users, which the example files are written for."""
    team = TeamFactory(name="Acme Sales")
    for username, role in [
        ("manager", Role.MANAGER),
        ("alice", Role.REP),
        ("bob", Role.REP),
        ("carol", Role.REP),
    ]:
        MembershipFactory(
            team=team,
            role=role,
            user=UserFactory(username=username, email=f"{username}@example.com"),
        )
    return SimpleNamespace(
        stream=make_stream(team, "New business", [s.spec.name for s in DEMO_STEPS])
    )


@pytest.mark.parametrize(
    ("name", "format", "deals", "visits"),
    [
        ("visits.csv", "visits", 4, 13),
        ("salesforce_opportunity_history.csv", "transitions", 4, 12),
        ("hubspot_deals_wide.csv", "wide", 4, 11),
        ("simple_wide.csv", "wide", 5, 5),
    ],
)
def test_the_example_files_import_with_the_example_mapping(
    demo_like, tmp_path, name, format, deals, visits
):
    out = io.StringIO()
    call_command(
        "import_events",
        str(EXAMPLES / name),
        stream=demo_like.stream.slug,
        format=format,
        mapping=str(EXAMPLES / "mapping.json"),
        stdout=out,
    )
    assert Deal.objects.count() == deals
    assert Visit.objects.count() == visits
    # And again: nothing changes.
    call_command(
        "import_events",
        str(EXAMPLES / name),
        stream=demo_like.stream.slug,
        format=format,
        mapping=str(EXAMPLES / "mapping.json"),
        stdout=out,
    )
    assert f"0 deals created, 0 updated, {deals} unchanged" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_task_progress_shows_while_the_import_transaction_is_open(acme):
    job = job_create(kind="import", params={}, team=acme.team)
    progress = _JobProgress(job.pk)
    try:
        with transaction.atomic():
            progress(5, 10, "Wrote 1,000 of 2,000 deals")
            if connection.vendor == "postgresql":
                # Another session (the browser's poll) already sees it.
                other = connections.create_connection(DEFAULT_DB_ALIAS)
                try:
                    with other.cursor() as cursor:
                        cursor.execute(
                            "SELECT done, total FROM streams_job WHERE id = %s", [job.pk]
                        )
                        assert cursor.fetchone() == (5, 10)
                finally:
                    other.close()
    finally:
        progress.close()
    job.refresh_from_db()
    assert (job.done, job.total, job.state, job.message) == (
        5,
        10,
        JobState.RUNNING,
        "Wrote 1,000 of 2,000 deals",
    )


def test_the_wizard_helpers_do_not_raise_while_the_mapping_is_incomplete(acme):
    table = read_table(VISITS)
    options = ImportOptions(format="visits", columns={"deal_id": "deal_id"}, steps={"x": "Nope"})
    assert source_stages(table, options) == []
    assert unknown_stages(acme.stream, table, options) == []
    options = ImportOptions(format="visits", steps={"Proposal": "Nope"})
    assert unknown_stages(acme.stream, table, options) == ["proposal"]


def test_it_names_unknown_stage_columns_of_a_wide_file(acme):
    exc = rejection(acme.stream, HUBSPOT, "wide")
    assert exc.message.startswith(
        "The file uses 3 stages that stream 'New business' has no step for: 'Appointment "
        "Scheduled' (a column of the header), 'Qualified To Buy' (a column of the header), "
        "'Contract Sent' (a column of the header)."
    )


def test_a_database_refusal_stores_nothing_and_is_reported_not_raised(acme, monkeypatch):
    from funnel import importing

    original = importing._Writer._new_fields

    def negative_amount(self, d):  # a rule the checks missed: the database still refuses
        return {**original(self, d), "amount": Decimal("-1")}

    monkeypatch.setattr(importing._Writer, "_new_fields", negative_amount)
    exc = rejection(acme.stream, VISITS)
    assert exc.message.startswith("The database refused the import, so nothing was stored:")
    assert "deal_amount_not_negative" in exc.message
    assert not Visit.objects.exists()


def test_every_format_the_import_reads_is_a_choice_of_the_stored_upload():
    """The wizard stores the lead formats too; the admin and ``get_format_display`` name them."""
    from funnel.importing import IMPORT_FORMATS
    from funnel.models import ImportUpload

    choices = dict(ImportUpload._meta.get_field("format").choices)
    assert list(choices) == list(IMPORT_FORMATS)
    assert ImportUpload(format="sf_leads").get_format_display() == "Salesforce lead history (leads)"
