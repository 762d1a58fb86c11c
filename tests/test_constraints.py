"""Every invariant of the event log and the map is enforced by the database itself: these
tests write with the ORM directly, bypassing services and forms, and expect IntegrityError."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from funnel.models import Deal, DealStatus, Visit
from kaizen.models import KaizenCycle, Phase
from streams.models import Lane, ProcessStep, StreamState, ValueStream
from tests.factories import BASE_TIME, DealFactory, TeamFactory, VisitFactory, make_stream

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream() -> ValueStream:
    return make_stream(TeamFactory(), n_steps=3)


@pytest.fixture
def steps(stream: ValueStream) -> list[ProcessStep]:
    return list(stream.steps.order_by("position"))


@pytest.fixture
def deal(stream: ValueStream) -> Deal:
    return DealFactory(stream=stream)


def test_it_refuses_a_visit_that_exits_before_it_enters(deal, steps):
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.create(
            deal=deal, step=steps[0], entered_at=BASE_TIME, exited_at=BASE_TIME - timedelta(1)
        )


def test_it_accepts_a_visit_that_exits_the_instant_it_enters(deal, steps):
    # CRM stage histories can hold two changes at the same timestamp.
    Visit.objects.create(deal=deal, step=steps[0], entered_at=BASE_TIME, exited_at=BASE_TIME)
    assert deal.visits.count() == 1


def test_it_refuses_negative_work_minutes(deal, steps):
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.create(deal=deal, step=steps[0], entered_at=BASE_TIME, work_minutes=-5)


def test_it_refuses_a_negative_amount(stream):
    with pytest.raises(IntegrityError), transaction.atomic():
        DealFactory(stream=stream, amount=-1)


def test_it_refuses_two_open_visits_of_one_deal(deal, steps):
    VisitFactory(deal=deal, step=steps[0], entered_at=BASE_TIME)
    with pytest.raises(IntegrityError), transaction.atomic():
        VisitFactory(deal=deal, step=steps[1], entered_at=BASE_TIME + timedelta(hours=1))
    assert deal.visits.count() == 1


def test_it_allows_many_closed_visits_and_one_open_visit(deal, steps):
    VisitFactory(deal=deal, step=steps[0], entered_at=BASE_TIME, exited=True)
    VisitFactory(deal=deal, step=steps[1], entered_at=BASE_TIME + timedelta(days=2), exited=True)
    VisitFactory(deal=deal, step=steps[2], entered_at=BASE_TIME + timedelta(days=4))
    assert deal.visits.filter(exited_at__isnull=True).count() == 1


def test_it_refuses_two_steps_at_one_position(stream, steps):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProcessStep.objects.create(stream=stream, position=1, name="Another", lane=steps[0].lane)


def test_it_refuses_two_steps_with_one_name_in_a_stream(stream, steps):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProcessStep.objects.create(stream=stream, position=9, name="Step 1", lane=steps[0].lane)


def test_it_refuses_a_visit_at_a_step_of_another_stream(deal):
    other = make_stream(deal.stream.team, n_steps=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.create(deal=deal, step=other.steps.get(), entered_at=BASE_TIME)


def test_it_refuses_moving_a_visit_to_a_step_of_another_stream(deal, steps):
    visit = VisitFactory(deal=deal, step=steps[0])
    other = make_stream(deal.stream.team, n_steps=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.filter(pk=visit.pk).update(step=other.steps.get())


def test_it_refuses_moving_a_visited_deal_to_another_stream(deal, steps):
    VisitFactory(deal=deal, step=steps[0])
    other = make_stream(deal.stream.team, n_steps=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(stream=other)


def test_it_refuses_a_step_in_a_lane_of_another_stream(stream):
    other = make_stream(stream.team, n_steps=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProcessStep.objects.create(stream=stream, position=9, name="Stray", lane=other.lanes.get())


def test_it_refuses_a_kaizen_cycle_on_a_step_of_another_stream(stream):
    other = make_stream(stream.team, n_steps=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        KaizenCycle.objects.create(
            stream=stream, step=other.steps.get(), title="x", planned_on=BASE_TIME.date()
        )


@pytest.mark.parametrize(
    "changes",
    [
        {"planned_pct_complete_accurate": 101},
        {"planned_pct_complete_accurate": -1},
        {"planned_process_hours": -1, "planned_lead_hours": 0},
        {"planned_process_hours": 10, "planned_lead_hours": 5},
        {"value_class": "sparkle"},
    ],
)
def test_it_refuses_impossible_planned_figures(steps, changes):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProcessStep.objects.filter(pk=steps[0].pk).update(**changes)


@pytest.mark.parametrize(
    "fields",
    [
        {"status": DealStatus.WON, "closed_at": None},
        {"status": DealStatus.OPEN, "closed_at": BASE_TIME},
        {"status": "gone"},
        {"status": DealStatus.WON, "closed_at": BASE_TIME - timedelta(days=1)},
        {"lost_reason": "No budget"},
    ],
)
def test_it_refuses_an_inconsistent_deal_outcome(stream, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        DealFactory(stream=stream, **fields)


def test_it_refuses_a_duplicate_external_id_in_one_stream_but_not_across_streams(stream):
    DealFactory(stream=stream, external_id="OPP-1")
    DealFactory(stream=make_stream(stream.team, n_steps=1), external_id="OPP-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        DealFactory(stream=stream, external_id="OPP-1")


def test_it_refuses_a_negative_lane_cost(stream):
    with pytest.raises(IntegrityError), transaction.atomic():
        Lane.objects.create(stream=stream, name="Legal", position=9, hourly_cost=-10)


def test_it_refuses_a_current_state_drawn_from_another_map(stream):
    with pytest.raises(IntegrityError), transaction.atomic():
        ValueStream.objects.create(
            team=stream.team, name="x", slug="x", state=StreamState.CURRENT, drawn_from=stream
        )


def test_it_refuses_a_kaizen_check_before_the_change_has_a_date(stream):
    with pytest.raises(IntegrityError), transaction.atomic():
        KaizenCycle.objects.create(
            stream=stream, title="x", phase=Phase.CHECK, planned_on=BASE_TIME.date()
        )


def test_it_deletes_a_stream_with_its_deals_and_visits(deal, steps):
    VisitFactory(deal=deal, step=steps[0])
    deal.stream.delete()
    assert not Visit.objects.exists()
    assert not Deal.objects.exists()


def _triggers(table: str) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [table],
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
            )
        return {name for (name,) in cursor.fetchall()}


def test_the_visit_table_keeps_its_rules_and_only_the_indexes_it_needs():
    # Migration 0006 dropped the single-column indexes on deal_id and step_id (the composite
    # indexes lead with them) without losing the partial unique index or the triggers.
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "funnel_visit")
    indexes = {
        name: c["columns"] for name, c in constraints.items() if c["index"] and not c["primary_key"]
    }
    assert indexes == {
        "visit_step_exited": ["step_id", "exited_at"],
        "visit_step_entered": ["step_id", "entered_at"],
        "visit_deal_entered": ["deal_id", "entered_at"],
        "visit_actor": ["actor_id"],
        "visit_one_open_per_deal": ["deal_id"],
        # migration 0016: the open visits at a step, oldest first (the hand-off board, the queue);
        # 0020 and 0021 add the id and the case, so the waiting ones are read from it alone
        "visit_open_step_entered": ["step_id", "entered_at", "id", "deal_id"],
    }
    assert constraints["visit_one_open_per_deal"]["unique"]
    assert {"visit_exits_after_entering", "visit_work_minutes_not_negative"} <= set(constraints)
    foreign_keys = {tuple(c["columns"]) for c in constraints.values() if c["foreign_key"]}
    assert foreign_keys == {("deal_id",), ("step_id",), ("actor_id",)}
    assert {"funnel_visit_step_same_stream_insert", "funnel_visit_step_same_stream_update"} <= (
        _triggers("funnel_visit")
    )
    assert "funnel_deal_stream_fixed_update" in _triggers("funnel_deal")
