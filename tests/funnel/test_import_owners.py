"""A one-row-per-deal CRM export whose owners are display names, not users (issue 12 §5): the
names are kept or matched to members, deals never engaged are kept without a visit, and the
figures filter by the kept names."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from funnel.importing import (
    ImportOptions,
    ImportRejected,
    import_events,
    read_table,
    source_owners,
    stage_defaults,
)
from funnel.metrics.engine import compute_metrics
from funnel.metrics.query import MetricsFilters, MetricsQuery
from funnel.models import Deal, DealStatus, Visit
from streams.models import Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

#: 36 deals of the public "CRM sales opportunities" shape: 12 Won, 8 Lost, 8 Engaging, 8
#: Prospecting (no engage date), owned by six agents named by display name.
CRM = (Path(__file__).parent / "data" / "crm_sales_pipeline.csv").read_bytes()
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def team():
    team = TeamFactory(name="Acme")
    people = {}
    for username, role in [
        ("morgan", Role.MANAGER),
        ("alice", Role.REP),
        ("vera", Role.LEADERSHIP),
    ]:
        people[username] = UserFactory(username=username, email=f"{username}@acme.example")
        MembershipFactory(user=people[username], team=team, role=role)
    stream = stream_create(
        team=team,
        name="Sales",
        lanes=[LaneSpec("Sales")],
        steps=[StepSpec("Engaging", "Sales", planned_lead_hours=8)],
    )
    return team, stream, people


def rows_of(agent: str) -> list[list[str]]:
    return [r for r in read_table(CRM).rows if r[1] == agent]


def test_it_imports_every_row_keeping_agents_who_are_not_users_as_owner_names(team):
    _, stream, _ = team
    result = import_events(stream=stream, data=CRM, options=ImportOptions(format="wide"))

    assert (result.rows, result.deals_created) == (36, 36)
    # 28 engaged deals visit the first step; the 8 Prospecting ones have no engage date.
    assert (result.visits_written, result.deals_without_visit) == (28, 8)
    assert Visit.objects.filter(deal__stream=stream).count() == 28
    assert result.owner_names_kept == 6
    assert not Deal.objects.filter(owner__isnull=False).exists()
    assert Deal.objects.filter(owner_name="Zane Levy").count() == len(rows_of("Zane Levy"))
    assert any("6 owner names are not a team member" in note for note in result.notes)
    assert any("8 deals without an engage date (Prospecting (8))" in n for n in result.notes)
    for status, count in ((DealStatus.WON, 12), (DealStatus.LOST, 8), (DealStatus.OPEN, 16)):
        assert Deal.objects.filter(stream=stream, status=status).count() == count
    never_engaged = Deal.objects.filter(stream=stream, visits__isnull=True)
    assert never_engaged.count() == 8
    assert set(never_engaged.values_list("status", "created_at")) == {(DealStatus.OPEN, NOW)}


def test_the_owner_mapping_matches_names_to_members_and_keeps_the_rest(team):
    _, stream, people = team
    options = ImportOptions(
        format="wide", owners={"Darcel Schlecht": "alice", "Zane Levy": "", "Moses Frase": ""}
    )
    result = import_events(stream=stream, data=CRM, options=options)

    darcel = Deal.objects.filter(stream=stream, owner=people["alice"])
    assert darcel.count() == len(rows_of("Darcel Schlecht"))
    assert set(darcel.values_list("owner_name", flat=True)) == {None}
    assert result.owner_names_kept == 5
    # Imported again with the same mapping: nothing changes.
    again = import_events(stream=stream, data=CRM, options=options)
    assert (again.deals_unchanged, again.deals_updated, again.deals_created) == (36, 0, 0)


def test_a_name_mapped_to_someone_who_may_not_own_deals_is_refused_by_name(team):
    _, stream, _ = team
    options = ImportOptions(format="wide", owners={"Zane Levy": "vera", "Anna Snelling": "nobody"})
    with pytest.raises(ImportRejected) as info:
        import_events(stream=stream, data=CRM, options=options)
    assert info.value.message == (
        "The owner mapping names people who are not managers or reps of team Acme: "
        "'Zane Levy' → 'vera', 'Anna Snelling' → 'nobody'. Choose a member, or keep the name."
    )
    assert not Deal.objects.exists()


def test_the_wizard_lists_the_distinct_owner_names_with_the_member_each_matches(team):
    _, stream, _ = team
    data = b"deal_id,stage,engage_date,owner\nA,Won,2025-01-01,alice@acme.example\n" + (
        b"B,Engaging,2025-01-02,Zane Levy\nC,Engaging,2025-01-03,Zane  Levy\n"
    )
    listed = source_owners(stream, read_table(data), ImportOptions(format="wide"))
    assert [(o.name, o.rows, o.member) for o in listed] == [
        ("Zane Levy", 2, None),
        ("alice@acme.example", 1, "alice"),
    ]


def test_the_figures_filter_by_an_owner_name_when_the_owner_is_not_a_user(team):
    _, stream, people = team
    morgan = people["morgan"]
    import_events(stream=stream, data=CRM, options=ImportOptions(format="wide"))
    zane = rows_of("Zane Levy")
    query = MetricsQuery(stream_id=stream.pk, filters=MetricsFilters(owner_name="Zane Levy"))
    result = compute_metrics(query, now=NOW)
    everyone = compute_metrics(MetricsQuery(stream_id=stream.pk), now=NOW)

    # Open deals now: Zane's Engaging and Prospecting rows (8 + 8 in the whole file).
    zane_open = sum(1 for r in zane if r[4] in ("Engaging", "Prospecting"))
    assert everyone.summary.open_deals == 16
    assert result.summary.open_deals == zane_open
    # WIP at the one step: Zane's engaged, open deals only (Prospecting deals have no visit).
    assert result.steps[0].wip_now == sum(1 for r in zane if r[4] == "Engaging")
    # A deal owned by a user is never the named owner's, whatever name it was imported under.
    Deal.objects.filter(owner_name="Zane Levy", status=DealStatus.OPEN).update(owner=morgan)
    assert compute_metrics(query, now=NOW).summary.open_deals == 0
    # The snapshot key names the filter, so the stored figures are the filtered ones.
    assert MetricsFilters(owner_name="Zane Levy").key == "owner_name=Zane+Levy"


def test_the_metrics_api_filters_by_owner_name_for_managers_not_for_reps(team, client):
    _, stream, people = team
    import_events(stream=stream, data=CRM, options=ImportOptions(format="wide"))
    url = f"/api/streams/{stream.pk}/metrics/"
    client.force_login(people["morgan"])
    response = client.get(url, {"owner_name": "Zane Levy"})
    assert response.status_code == 200
    zane_open = sum(1 for r in rows_of("Zane Levy") if r[4] in ("Engaging", "Prospecting"))
    assert response.json()["summary"]["open_deals"]["value"] == zane_open
    both = client.get(url, {"owner_name": "Zane Levy", "owner": people["alice"].pk})
    assert both.status_code == 400 and "owner_name" in both.json()
    client.force_login(people["alice"])
    assert client.get(url, {"owner_name": "Zane Levy"}).status_code == 403


def test_the_wizard_says_how_a_one_row_per_deal_file_reads_each_stage_left_unmapped(team):
    _, stream, _ = team
    defaults = stage_defaults(stream, read_table(CRM), ImportOptions(format="wide"))
    assert defaults == {
        "engage_date": "deals enter at the first step: Engaging",
        "Lost": "→ Lost (recognised)",
        "Won": "→ Won (recognised)",
        # A final stage that is not an outcome keeps the deal open, even one named as a step.
        "Prospecting": "open: the deal is still in the stream",
        "Engaging": "open: the deal is still in the stream",
    }


def test_the_deals_api_shows_an_imported_owner_name(team, client):
    _, stream, people = team
    import_events(stream=stream, data=CRM, options=ImportOptions(format="wide"))
    deal = Deal.objects.filter(owner_name="Zane Levy").first()
    client.force_login(people["morgan"])
    body = client.get(f"/api/deals/{deal.pk}/").json()
    assert (body["owner"], body["owner_name"]) == (None, "Zane Levy")
