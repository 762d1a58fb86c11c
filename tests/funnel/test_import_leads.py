"""Lead imports (docs/importing.md, "Leads from HubSpot and Salesforce"): HubSpot contacts with
their lifecycle dates (``hs_contacts``) and Salesforce lead history (``sf_leads``), each contact
or lead a case of funnel.Deal with one visit per stage reached. Every expected case and visit
below is worked out by hand from the example files in docs/examples/."""

# CSV fixtures are written as lines of the file, however long.
# ruff: noqa: E501

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from funnel.importing import (
    IMPORT_FORMATS,
    ImportOptions,
    ImportRejected,
    guess_columns,
    import_events,
    join_lead_export,
    read_table,
    source_stages,
    unknown_stages,
)
from funnel.models import Deal, DealStatus, ImportUpload, Visit
from streams.models import Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
STEPS = (
    "Lead capture",
    "Lead nurturing",
    "Qualification call",
    "Discovery meeting",
    "Solution demo",
    "Proposal & ROI model",
    "Negotiation",
    "Contract review",
)
MAPPING = json.loads((EXAMPLES / "leads_mapping.json").read_text())["steps"]
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def stream():
    team = TeamFactory(name="Acme")
    manager = UserFactory(username="morgan", email="morgan@acme.example")
    MembershipFactory(user=manager, team=team, role=Role.MANAGER)
    return stream_create(
        team=team,
        name="Leads and deals",
        lanes=[LaneSpec("Marketing"), LaneSpec("Sales")],
        steps=[StepSpec(s, "Marketing" if i < 3 else "Sales") for i, s in enumerate(STEPS)],
    )


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def run(stream, data: bytes, format: str, **options):
    return import_events(
        stream=stream,
        data=data,
        options=ImportOptions(format=format, steps=options.pop("steps", MAPPING), **options),
    )


def rejection(stream, data: bytes, format: str, **options) -> ImportRejected:
    with pytest.raises(ImportRejected) as info:
        run(stream, data, format, **options)
    assert not Deal.objects.filter(stream=stream).exists(), "a rejected file stores nothing"
    assert not Visit.objects.filter(deal__stream=stream).exists()
    return info.value


def cases(stream) -> dict[str, tuple]:
    return {
        d.external_id: (d.name, d.account, d.owner_name, d.source, d.status, d.closed_at)
        for d in Deal.objects.filter(stream=stream)
    }


def visits(stream) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for deal, step, entered, exited, actor in (
        Visit.objects.filter(deal__stream=stream)
        .order_by("deal__external_id", "entered_at", "id")
        .values_list("deal__external_id", "step__name", "entered_at", "exited_at", "actor_name")
    ):
        found.setdefault(deal, []).append((step, entered, exited, actor))
    return found


def stored(stream) -> tuple[list, list]:
    return (
        list(Deal.objects.filter(stream=stream).order_by("id").values_list()),
        list(Visit.objects.filter(deal__stream=stream).order_by("id").values_list()),
    )


# --- HubSpot contacts -----------------------------------------------------------------------

# fmt: off
HUBSPOT_CASES = {
    "51001": ("Ada Lovelace", "Analytical Engines", "Alice Adams", "Organic Search", DealStatus.WON, at("2025-04-02 11:00")),
    "51002": ("Grace Hopper", "Navy Yard Labs", "Bob Brown", "Email Marketing", DealStatus.OPEN, None),
    "51003": ("Alan Turing", "Bletchley Ltd", "Alice Adams", "Paid Social", DealStatus.LOST, at("2025-03-20 17:00")),
    "51004": ("Katherine Johnson", "Langley Research", "Bob Brown", "Offline Sources", DealStatus.OPEN, None),
    "51005": ("Hedy Lamarr", "Frequency Hopping Inc", None, "Direct Traffic", DealStatus.OPEN, None),
}
# fmt: on
HUBSPOT_VISITS = {
    # Lead → MQL → SQL → Opportunity → Customer (won): one visit per stage, each until the next.
    "51001": [
        ("Lead nurturing", at("2025-03-03 09:00"), at("2025-03-05 14:00"), ""),
        ("Qualification call", at("2025-03-05 14:00"), at("2025-03-10 10:00"), ""),
        ("Discovery meeting", at("2025-03-10 10:00"), at("2025-03-12 16:30"), ""),
        ("Solution demo", at("2025-03-12 16:30"), at("2025-04-02 11:00"), ""),
    ],
    # Subscriber → Lead → MQL, still an MQL: the last visit is open.
    "51002": [
        ("Lead capture", at("2025-02-20 08:15"), at("2025-03-01 10:00"), ""),
        ("Lead nurturing", at("2025-03-01 10:00"), at("2025-03-04 09:30"), ""),
        ("Qualification call", at("2025-03-04 09:30"), None, ""),
    ],
    # Lead → MQL → Other (mapped to lost): closed lost when it became Other.
    "51003": [
        ("Lead nurturing", at("2025-03-06 13:00"), at("2025-03-07 09:00"), ""),
        ("Qualification call", at("2025-03-07 09:00"), at("2025-03-20 17:00"), ""),
    ],
    # No stage dates: its current stage (the internal value "lead") from its Create Date.
    "51004": [("Lead nurturing", at("2025-03-15 12:00"), None, "")],
    # Lead and MQL at the same minute: taken in the map's order.
    "51005": [
        ("Lead nurturing", at("2025-03-18 09:00"), at("2025-03-18 09:00"), ""),
        ("Qualification call", at("2025-03-18 09:00"), None, ""),
    ],
}


def test_hubspot_contacts_become_cases_with_one_visit_per_lifecycle_stage(stream):
    result = run(stream, example("hubspot_contacts.csv"), "hs_contacts")
    assert (result.deals_created, result.deals_updated, result.deals_unchanged) == (5, 0, 0)
    assert result.visits_written == 12 == sum(len(v) for v in HUBSPOT_VISITS.values())
    assert cases(stream) == HUBSPOT_CASES
    assert visits(stream) == HUBSPOT_VISITS
    created = dict(Deal.objects.filter(stream=stream).values_list("external_id", "created_at"))
    assert created["51002"] == at("2025-02-20 08:15")
    assert created["51004"] == at("2025-03-15 12:00")


def test_hubspot_columns_and_stages_are_recognised_from_the_export(stream):
    table = read_table(example("hubspot_contacts.csv"))
    assert guess_columns(table, "hs_contacts") == {
        "deal_id": "Record ID",
        "stage": "Lifecycle Stage",
        "created_at": "Create Date",
        "first_name": "First Name",
        "last_name": "Last Name",
        "account": "Company Name",
        "owner": "Contact owner",
        "source": "Original Source",
    }
    options = ImportOptions(format="hs_contacts")
    # The date columns' stages in the file's order; "lead" is the stage "Lead" (listed once).
    assert source_stages(table, options) == [
        "Subscriber",
        "Lead",
        "Marketing Qualified Lead",
        "Sales Qualified Lead",
        "Opportunity",
        "Customer",
        "Other",
    ]
    assert unknown_stages(stream, table, options) == source_stages(table, options)
    assert unknown_stages(stream, table, ImportOptions(format="hs_contacts", steps=MAPPING)) == []


def test_the_newer_and_internal_hubspot_date_columns_name_the_same_stages(stream):
    data = (
        b'Record ID,Became a Lead Date,"Date entered ""Lead (Lifecycle Stage Pipeline)""",'
        b'"Date entered ""Marketing Qualified Lead (Lifecycle Stage Pipeline)""",'
        b"hs_v2_date_entered_salesqualifiedlead,hs_lifecyclestage_opportunity_date\n"
        b"7,2025-03-01 09:00,2025-03-01 09:00,2025-03-02 09:00,1741078800000,\n"
    )
    options = ImportOptions(format="hs_contacts")
    assert source_stages(read_table(data), options) == [
        "Lead",
        "Marketing Qualified Lead",
        "Sales Qualified Lead",
        "Opportunity",
    ]
    run(stream, data, "hs_contacts")
    # Both columns of "Lead" say 1 March; HubSpot's epoch milliseconds are 4 March 09:00.
    assert visits(stream)["7"] == [
        ("Lead nurturing", at("2025-03-01 09:00"), at("2025-03-02 09:00"), ""),
        ("Qualification call", at("2025-03-02 09:00"), at("2025-03-04 09:00"), ""),
        ("Discovery meeting", at("2025-03-04 09:00"), None, ""),
    ]


def test_a_contact_created_in_hubspot_after_its_first_stage_began_at_that_stage(stream):
    data = (
        b"Record ID,Create Date,Became a Lead Date,Became a Marketing Qualified Lead Date\n"
        b"8,2025-03-10 12:00,2024-11-02 09:00,2025-03-12 09:00\n"
    )
    run(stream, data, "hs_contacts")
    deal = Deal.objects.get(stream=stream, external_id="8")
    assert deal.created_at == at("2024-11-02 09:00")
    assert visits(stream)["8"][0] == (
        "Lead nurturing",
        at("2024-11-02 09:00"),
        at("2025-03-12 09:00"),
        "",
    )


def test_unknown_lifecycle_stages_are_listed_together_and_nothing_is_stored(stream):
    exc = rejection(stream, example("hubspot_contacts_unknown_stages.csv"), "hs_contacts")
    assert exc.unknown_stages == ["Webinar Attendee", "Partner", "Reseller"]
    assert (
        "uses 3 stages that stream 'Leads and deals' has no step for: 'Webinar Attendee' (a "
        "column of the header), 'Partner' (first on row 3), 'Reseller' (first on row 4)"
    ) in exc.message


def test_a_hubspot_reimport_is_idempotent_and_a_grown_history_updates(stream):
    data = example("hubspot_contacts.csv")
    run(stream, data, "hs_contacts")
    before = stored(stream)
    again = run(stream, data, "hs_contacts")
    assert (again.deals_created, again.deals_updated, again.deals_unchanged) == (0, 0, 5)
    assert again.visits_written == 0
    assert stored(stream) == before
    # A week later Grace became an SQL: her open visit closes and one opens.
    grown = data.replace(
        b"Marketing Qualified Lead,Open,2025-02-20 08:15,2025-03-01 10:00,2025-03-04 09:30,,",
        b"Sales Qualified Lead,Open,2025-02-20 08:15,2025-03-01 10:00,2025-03-04 09:30,2025-03-11 09:00,",
    )
    assert grown != data
    later = run(stream, grown, "hs_contacts")
    assert (later.deals_updated, later.deals_unchanged, later.visits_written) == (1, 4, 2)
    assert visits(stream)["51002"][-2:] == [
        ("Qualification call", at("2025-03-04 09:30"), at("2025-03-11 09:00"), ""),
        ("Discovery meeting", at("2025-03-11 09:00"), None, ""),
    ]


def test_a_bad_hubspot_date_names_its_row_and_column_and_stores_nothing(stream):
    data = example("hubspot_contacts.csv").replace(b"2025-03-10 10:00", b"2025-03-32 10:00")
    exc = rejection(stream, data, "hs_contacts")
    assert [(e.row, e.column) for e in exc.errors] == [(2, "Became a Sales Qualified Lead Date")]
    assert "2025-03-32 10:00" in exc.errors[0].reason


def test_a_hubspot_contact_without_dates_or_stage_is_an_error(stream):
    data = (
        b"Record ID,First Name,Create Date,Lifecycle Stage,Became a Lead Date\n"
        b"1,Ann,2025-03-01 09:00,,\n"
        b"2,Ben,,Lead,\n"
        b"3,Cy,2025-03-01 09:00,Lead,\n"
        b"3,Cy,2025-03-01 09:00,Lead,\n"
    )
    exc = rejection(stream, data, "hs_contacts")
    assert [(e.row, e.column) for e in exc.errors] == [
        (2, "Record ID"),
        (3, "Record ID"),
        (5, "Record ID"),
    ]
    assert "one row per contact" in exc.errors[2].reason


# --- Salesforce lead history --------------------------------------------------------------------

# fmt: off
SALESFORCE_CASES = {
    "00Q5g00000AbCdE1EAJ": ("Marie Curie", "Radium Works", "Sam Seller", "Web", DealStatus.OPEN, None),
    "00Q5g00000AbCdE2EAJ": ("Pierre Dupont", "Dupont SARL", "Dana Diaz", "Trade Show", DealStatus.LOST, at("2025-03-18 11:00")),
    "00Q5g00000AbCdE3EAJ": ("Rosalind Franklin", "Helix Analytics", "Dana Diaz", "Partner Referral", DealStatus.OPEN, None),
    "00Q5g00000AbCdE4EAJ": ("Niels Bohr", "Copenhagen Quantum", "Dana Diaz", "Web", DealStatus.OPEN, None),
    "00Q5g00000AbCdE5EAJ": ("Lise Meitner", "Fission GmbH", "Dana Diaz", "Web", DealStatus.LOST, at("2025-03-21 09:00")),
}
# fmt: on
SDR, AE = "0055g00000SdrAaAAJ", "0055g00000AeBbBAAZ"
SALESFORCE_VISITS = {
    # Created Open (the first change's old value), then Working, then converted (its Status
    # change at 15:45 dates it; the day-precise ConvertedDate adds nothing).
    "00Q5g00000AbCdE1EAJ": [
        ("Lead capture", at("2025-03-03 09:00"), at("2025-03-04 10:30"), ""),
        ("Qualification call", at("2025-03-04 10:30"), at("2025-03-20 15:45"), SDR),
        ("Discovery meeting", at("2025-03-20 15:45"), None, AE),
    ],
    # Closed - Not Converted: lost when it changed.
    "00Q5g00000AbCdE2EAJ": [
        ("Lead capture", at("2025-03-05 14:00"), at("2025-03-06 09:15"), ""),
        ("Qualification call", at("2025-03-06 09:15"), at("2025-03-18 11:00"), SDR),
    ],
    # Only its "created" row: its current status since it was created.
    "00Q5g00000AbCdE3EAJ": [("Qualification call", at("2025-03-10 08:00"), None, "")],
    # No history rows at all (only in the Lead export): the same.
    "00Q5g00000AbCdE4EAJ": [("Lead capture", at("2025-03-12 16:00"), None, "")],
    # Unqualified: lost (recognised in the lead formats).
    "00Q5g00000AbCdE5EAJ": [
        ("Lead capture", at("2025-03-14 10:00"), at("2025-03-14 15:00"), ""),
        ("Qualification call", at("2025-03-14 15:00"), at("2025-03-21 09:00"), SDR),
    ],
}


def salesforce_file() -> bytes:
    return join_lead_export(example("salesforce_lead_history.csv"), example("salesforce_leads.csv"))


def test_salesforce_leads_become_cases_with_one_visit_per_status(stream):
    result = run(stream, salesforce_file(), "sf_leads")
    assert (result.deals_created, result.deals_updated, result.deals_unchanged) == (5, 0, 0)
    assert result.visits_written == 9 == sum(len(v) for v in SALESFORCE_VISITS.values())
    assert cases(stream) == SALESFORCE_CASES
    assert visits(stream) == SALESFORCE_VISITS
    created = dict(Deal.objects.filter(stream=stream).values_list("external_id", "created_at"))
    assert created["00Q5g00000AbCdE4EAJ"] == at("2025-03-12 16:00")


def test_the_lead_export_is_joined_onto_the_history_rows_keeping_their_numbers():
    joined = read_table(salesforce_file())
    history = read_table(example("salesforce_lead_history.csv"))
    assert joined.headers == [
        *history.headers,
        "Lead.Name",
        "Lead.FirstName",
        "Lead.LastName",
        "Lead.Company",
        "Lead.LeadSource",
        "Lead.Owner.Name",
        "Lead.CreatedDate",
        "Lead.Status",
        "Lead.IsConverted",
        "Lead.ConvertedDate",
    ]
    rows = list(joined.rows)
    # Row for row the history first (row numbers stay the history file's) …
    assert [r[: len(history.headers)] for r in rows[: len(history.rows)]] == list(history.rows)
    assert rows[1][len(history.headers) :][:4] == ["Marie Curie", "Marie", "Curie", "Radium Works"]
    # … then a "created" row for the lead without history.
    assert rows[-1][2] == "00Q5g00000AbCdE4EAJ"
    assert rows[-1][4:6] == ["2025-03-12T16:00:00.000Z", "created"]
    assert guess_columns(joined, "sf_leads") == {
        "deal_id": "LeadId",
        "field": "Field",
        "old_value": "OldValue",
        "new_value": "NewValue",
        "changed_at": "CreatedDate",
        "actor": "CreatedById",
        "deal_name": "Lead.Name",
        "first_name": "Lead.FirstName",
        "last_name": "Lead.LastName",
        "account": "Lead.Company",
        "owner": "Lead.Owner.Name",
        "source": "Lead.LeadSource",
        "created_at": "Lead.CreatedDate",
        "status": "Lead.Status",
        "converted_at": "Lead.ConvertedDate",
    }
    # Only status values are stages (not the owner change's names).
    assert source_stages(joined, ImportOptions(format="sf_leads")) == [
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
        "Unqualified",
    ]


def test_unknown_statuses_are_listed_together_and_nothing_is_stored(stream):
    data = example("salesforce_lead_history_unknown_status.csv")
    table = read_table(data)
    options = ImportOptions(format="sf_leads", steps=MAPPING)
    assert unknown_stages(stream, table, options) == ["Nurturing", "Recycled", "Meeting Booked"]
    exc = rejection(stream, data, "sf_leads")
    # By the row each is first on (the lead's current status is read before the change).
    assert exc.unknown_stages == ["Meeting Booked", "Nurturing", "Recycled"]
    assert (
        "uses 3 stages that stream 'Leads and deals' has no step for: 'Meeting Booked' (first "
        "on row 2), 'Nurturing' (first on row 2), 'Recycled' (first on row 4)"
    ) in exc.message
    # Mapped, the same file imports: the report's own column names are recognised.
    steps = {**MAPPING, "Nurturing": "Lead nurturing", "Meeting Booked": "Discovery meeting"}
    steps["Recycled"] = "Lead nurturing"
    result = run(stream, data, "sf_leads", steps=steps)
    assert (result.deals_created, result.visits_written) == (2, 5)
    assert visits(stream)["00Q5g00000XyZ002"] == [
        ("Lead nurturing", at("2025-04-03 11:00"), at("2025-04-04 08:30"), ""),
        ("Qualification call", at("2025-04-04 08:30"), None, ""),
    ]


def test_a_salesforce_reimport_is_idempotent(stream):
    run(stream, salesforce_file(), "sf_leads")
    before = stored(stream)
    again = run(stream, salesforce_file(), "sf_leads")
    assert (again.deals_created, again.deals_updated, again.deals_unchanged) == (0, 0, 5)
    assert again.visits_written == 0
    assert stored(stream) == before


def test_a_bad_salesforce_date_names_its_row_and_column(stream):
    history = example("salesforce_lead_history.csv").replace(
        b"2025-03-06T09:15:00.000Z", b"2025-03-06T25:15:00.000Z"
    )
    leads = example("salesforce_leads.csv").replace(b"2025-03-14T10:00", b"2025-14-14T10:00")
    exc = rejection(stream, join_lead_export(history, leads), "sf_leads")
    found = [(e.row, e.column) for e in exc.errors]
    # The history's own row 8; and Lise's created date, named on her first row (11).
    assert found == [(8, "CreatedDate"), (11, "Lead.CreatedDate")]


def test_a_converted_lead_without_the_status_change_is_converted_on_its_converted_date(stream):
    data = (
        b"LeadId,CreatedDate,Field,OldValue,NewValue,Lead.CreatedDate,Lead.Status,Lead.ConvertedDate\n"
        b"L1,2025-03-01T09:00:00Z,Status,Open - Not Contacted,Working - Contacted,2025-02-28T09:00:00Z,Closed - Converted,2025-03-09\n"
        b"L1,2025-03-02T09:00:00Z,Rating,Warm,Hot,2025-02-28T09:00:00Z,Closed - Converted,2025-03-09\n"
    )
    run(stream, data, "sf_leads")
    assert visits(stream)["L1"] == [
        ("Lead capture", at("2025-02-28 09:00"), at("2025-03-01 09:00"), ""),
        ("Qualification call", at("2025-03-01 09:00"), at("2025-03-09 00:00"), ""),
        ("Discovery meeting", at("2025-03-09 00:00"), None, ""),
    ]


def test_rows_of_other_fields_are_not_read_even_with_formula_like_values(stream):
    data = (
        b"LeadId,CreatedDate,Field,OldValue,NewValue\n"
        b"L1,2025-03-01T09:00:00Z,Phone,+1 555 0100 ext 2,+1 555 0199 ext 3\n"
        b"L1,2025-03-02T09:00:00Z,Status,Open - Not Contacted,Working - Contacted\n"
    )
    result = run(stream, data, "sf_leads")
    assert result.visits_written == 1  # no created date: the lead starts at its first change
    assert visits(stream)["L1"] == [("Qualification call", at("2025-03-02 09:00"), None, "")]


def test_the_lead_formats_are_offered(stream):
    assert IMPORT_FORMATS[3:5] == ("hs_contacts", "sf_leads")  # then xes (an XES event log)


# --- The command line and the wizard ----------------------------------------------------------


def test_the_command_imports_a_lead_history_with_its_lead_export(stream, capsys):
    call_command(
        "import_events",
        str(EXAMPLES / "salesforce_lead_history.csv"),
        "--stream",
        stream.slug,
        "--format",
        "sf_leads",
        "--leads",
        str(EXAMPLES / "salesforce_leads.csv"),
        "--mapping",
        str(EXAMPLES / "leads_mapping.json"),
    )
    assert "5 deals created" in capsys.readouterr().out
    assert visits(stream) == SALESFORCE_VISITS
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command(
            "import_events",
            str(EXAMPLES / "hubspot_contacts_unknown_stages.csv"),
            "--stream",
            stream.slug,
            "--format",
            "hs_contacts",
            "--mapping",
            str(EXAMPLES / "leads_mapping.json"),
        )
    assert "'Webinar Attendee' (a column of the header), 'Partner'" in capsys.readouterr().err
    with pytest.raises(CommandError, match="--leads goes with --format sf_leads only"):
        call_command(
            "import_events",
            str(EXAMPLES / "hubspot_contacts.csv"),
            "--stream",
            stream.slug,
            "--format",
            "hs_contacts",
            "--leads",
            str(EXAMPLES / "salesforce_leads.csv"),
        )


def wizard_upload(client, stream, files: dict, fmt: str):
    manager = get_user_model().objects.get(username="morgan")
    client.force_login(manager)
    return client.post(
        "/deals/import/",
        {
            "stream": stream.pk,
            "format": fmt,
            "time_zone": "UTC",
            **{
                field: SimpleUploadedFile(name, example(name), content_type="text/csv")
                for field, name in files.items()
            },
        },
    )


def test_the_wizard_imports_hubspot_contacts_and_salesforce_leads(client, stream):
    for files, fmt, expected in [
        ({"file": "hubspot_contacts.csv"}, "hs_contacts", HUBSPOT_VISITS),
        (
            {"file": "salesforce_lead_history.csv", "lead_file": "salesforce_leads.csv"},
            "sf_leads",
            SALESFORCE_VISITS,
        ),
    ]:
        response = wizard_upload(client, stream, files, fmt)
        assert response.status_code == 302, response.context["form"].errors
        page = client.get(response.url)
        stages = {name: chosen for _, name, chosen, *_ in page.context["stages"]}
        if fmt == "sf_leads":
            # Lost statuses are proposed as lost; the others wait for the manager's choice.
            assert stages["Unqualified"] == stages["Closed - Not Converted"] == "lost"
        form = {f"col-{f.name}": chosen for f, chosen in page.context["fields"] if chosen}
        for i, name, chosen, *_ in page.context["stages"]:
            form[f"stage-{i}"] = MAPPING.get(name, chosen)
        checked = client.get(client.post(response.url, form).url)
        assert checked.status_code == 200, checked.context["rejection"]
        upload = ImportUpload.objects.get(pk=int(response.url.strip("/").split("/")[-1]))
        run(stream, bytes(upload.data), fmt)
        assert {k: v for k, v in visits(stream).items() if k in expected} == expected
    # A Lead export that is not a table is refused next to its field, saying which file.
    refused = client.post(
        "/deals/import/",
        {
            "stream": stream.pk,
            "format": "sf_leads",
            "time_zone": "UTC",
            "file": SimpleUploadedFile("h.csv", example("salesforce_lead_history.csv")),
            "lead_file": SimpleUploadedFile("l.csv", b"%PDF-1.7 not a table"),
        },
    )
    assert refused.status_code == 400
    assert (
        refused.context["form"]
        .errors["lead_file"][0]
        .startswith("The Lead export: This is a PDF document, not a table.")
    )
    # A Lead export with another format is refused next to its field.
    refused = wizard_upload(
        client,
        stream,
        {"file": "hubspot_contacts.csv", "lead_file": "salesforce_leads.csv"},
        "hs_contacts",
    )
    assert refused.status_code == 400
    assert refused.context["form"].errors["lead_file"] == [
        "A Lead export goes with the sf_leads format only."
    ]


# --- A long history ---------------------------------------------------------------------------
# Its speed (200,000 rows) is measured by bench/lead_history_bench.py, never by a test.


def test_a_long_lead_history_is_read_one_lead_at_a_time(stream):
    """Follows the visits reader: each lead's rows give one deal and its status changes as
    visits; the owner change is not read. 2,000 leads of four rows each (created, two status
    changes, an owner change)."""
    lines = [b"LeadId,CreatedDate,Field,OldValue,NewValue,Lead.Company,Lead.Status"]
    for n in range(2_000):
        day = f"2025-{1 + n % 9:02d}-{1 + n % 27:02d}"
        lines += [
            f"L{n},{day}T08:00:00Z,created,,,Co {n % 997},Working - Contacted".encode(),
            f"L{n},{day}T09:00:00Z,Status,Open - Not Contacted,Working - Contacted,Co {n % 997},Working - Contacted".encode(),
            f"L{n},{day}T09:30:00Z,Owner,Dana Diaz,Sam Seller,Co {n % 997},Working - Contacted".encode(),
            f"L{n},{day}T10:00:00Z,Status,Working - Contacted,Working - Contacted,Co {n % 997},Working - Contacted".encode(),
        ]
    from funnel.importing import validate

    table = read_table(b"\n".join(lines) + b"\n")
    result = validate(stream, table, ImportOptions(format="sf_leads", steps=MAPPING))
    assert (result.deals_created, result.visits_written) == (2_000, 4_000)
