"""The event-log services: each validates, names the field, and writes all or nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from funnel.eventlog.services import deal_close, deal_create, deal_move, visit_log_work
from funnel.models import Deal, DealStatus, Visit
from streams.models import Role
from tests.factories import BASE_TIME, MembershipFactory, TeamFactory, UserFactory, make_stream

pytestmark = pytest.mark.django_db

T0 = BASE_TIME  # 2025-01-06 09:00 UTC
NOW = T0 + timedelta(days=30)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def stream():
    return make_stream(TeamFactory(), n_steps=3)


@pytest.fixture
def steps(stream):
    return list(stream.steps.order_by("position"))


@pytest.fixture
def deal(stream, steps):
    rep = MembershipFactory(team=stream.team, role=Role.REP).user
    return deal_create(
        stream=stream,
        name="Acme renewal",
        owner=rep,
        created_at=T0,
        first_step=steps[0],
        amount=12_000,
    )


def field_errors(excinfo) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def test_it_creates_a_deal_with_its_first_visit(deal, steps):
    visit = deal.visits.get()
    assert (visit.step, visit.entered_at, visit.exited_at) == (steps[0], T0, None)
    assert deal.status == DealStatus.OPEN
    assert deal.external_id.startswith("D-")


def test_it_moves_a_deal_closing_the_open_visit_at_the_same_instant(deal, steps):
    at = T0 + timedelta(hours=5)
    new = deal_move(deal=deal, step=steps[1], at=at)
    first = deal.visits.get(step=steps[0])
    assert first.exited_at == at
    assert (new.step, new.entered_at, new.exited_at) == (steps[1], at, None)


def test_it_records_a_move_back_as_a_second_visit_of_the_step(deal, steps):
    deal_move(deal=deal, step=steps[1], at=T0 + timedelta(hours=1))
    deal_move(deal=deal, step=steps[0], at=T0 + timedelta(hours=2))
    assert deal.visits.filter(step=steps[0]).count() == 2


@pytest.mark.parametrize(
    ("at", "field", "words"),
    [
        (NOW + timedelta(hours=1), "at", "future"),
        (T0 - timedelta(hours=1), "at", "cannot leave before it entered"),
        (datetime(2025, 1, 7, 9, 0), "at", "time zone"),
    ],
)
def test_it_refuses_a_bad_move_time_and_changes_nothing(deal, steps, at, field, words):
    with pytest.raises(ValidationError) as excinfo:
        deal_move(deal=deal, step=steps[1], at=at)
    assert words in field_errors(excinfo)[field][0]
    assert list(deal.visits.values_list("step", "exited_at")) == [(steps[0].pk, None)]


def test_it_refuses_a_step_of_another_stream(deal, stream):
    other = make_stream(stream.team, n_steps=1)
    with pytest.raises(ValidationError) as excinfo:
        deal_move(deal=deal, step=other.steps.get(), at=T0 + timedelta(hours=1))
    assert "another value stream" in field_errors(excinfo)["step"][0]
    assert deal.visits.count() == 1


def test_it_refuses_to_move_a_deal_to_the_step_it_is_at(deal, steps):
    with pytest.raises(ValidationError) as excinfo:
        deal_move(deal=deal, step=steps[0], at=T0 + timedelta(hours=1))
    assert "already at" in field_errors(excinfo)["step"][0]


def test_it_adds_logged_work_minutes_to_the_visit(deal):
    visit = deal.visits.get()
    visit_log_work(visit=visit, minutes=30)
    visit = visit_log_work(visit=visit, minutes=45)
    assert visit.work_minutes == 75


@pytest.mark.parametrize("minutes", [0, -5, 24 * 60 + 1, 2.5, True])
def test_it_refuses_impossible_work_minutes(deal, minutes):
    visit = deal.visits.get()
    with pytest.raises(ValidationError) as excinfo:
        visit_log_work(visit=visit, minutes=minutes)
    assert "minutes" in field_errors(excinfo)
    visit.refresh_from_db()
    assert visit.work_minutes is None


def test_it_closes_a_won_deal_and_its_open_visit(deal, steps):
    deal_move(deal=deal, step=steps[2], at=T0 + timedelta(days=3))
    closed = deal_close(deal=deal, outcome=DealStatus.WON, at=T0 + timedelta(days=4))
    assert (closed.status, closed.closed_at) == (DealStatus.WON, T0 + timedelta(days=4))
    assert not Visit.objects.filter(deal=deal, exited_at__isnull=True).exists()


def test_it_closes_a_lost_deal_with_its_reason(deal):
    closed = deal_close(
        deal=deal,
        outcome=DealStatus.LOST,
        at=T0 + timedelta(days=1),
        lost_reason="Chose a competitor",
    )
    assert (closed.status, closed.lost_reason) == (DealStatus.LOST, "Chose a competitor")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"outcome": "maybe"}, "outcome"),
        ({"outcome": DealStatus.WON, "lost_reason": "why?"}, "lost_reason"),
        ({"outcome": DealStatus.WON, "at": T0 - timedelta(minutes=1)}, "at"),
        ({"outcome": DealStatus.LOST, "at": NOW + timedelta(days=1)}, "at"),
    ],
)
def test_it_refuses_a_bad_close(deal, kwargs, field):
    with pytest.raises(ValidationError) as excinfo:
        deal_close(deal=deal, **kwargs)
    assert field in field_errors(excinfo)
    deal.refresh_from_db()
    assert (deal.status, deal.closed_at) == (DealStatus.OPEN, None)


def test_it_refuses_any_action_on_a_closed_deal(deal, steps):
    deal_close(deal=deal, outcome=DealStatus.LOST, at=T0 + timedelta(days=1), lost_reason="Timing")
    later = T0 + timedelta(days=2)
    with pytest.raises(ValidationError) as moved:
        deal_move(deal=deal, step=steps[1], at=later)
    with pytest.raises(ValidationError) as worked:
        visit_log_work(visit=deal.visits.get(), minutes=10)
    with pytest.raises(ValidationError) as closed:
        deal_close(deal=deal, outcome=DealStatus.WON, at=later)
    assert "closed deal" in field_errors(moved)["deal"][0]
    assert "deal" in field_errors(worked)
    assert "already lost" in field_errors(closed)["deal"][0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"amount": -1}, "amount"),
        ({"created_at": NOW + timedelta(days=1)}, "created_at"),
    ],
)
def test_it_refuses_a_bad_new_deal_and_stores_nothing(stream, kwargs, field):
    with pytest.raises(ValidationError) as excinfo:
        deal_create(**({"stream": stream, "name": "X", "created_at": T0} | kwargs))
    assert field in field_errors(excinfo)
    assert not Deal.objects.exists()


def test_it_refuses_a_duplicate_external_id_with_a_message(stream):
    deal_create(stream=stream, name="A", external_id="OPP-7", created_at=T0)
    with pytest.raises(ValidationError) as excinfo:
        deal_create(stream=stream, name="B", external_id="OPP-7", created_at=T0)
    assert "OPP-7" in field_errors(excinfo)["external_id"][0]


def test_it_refuses_an_owner_from_outside_the_streams_team(stream):
    with pytest.raises(ValidationError) as excinfo:
        deal_create(stream=stream, name="X", owner=UserFactory(), created_at=T0)
    assert "is not a manager or rep" in field_errors(excinfo)["owner"][0]
    assert not Deal.objects.exists()


def test_deals_flow_only_through_a_current_state(stream):
    from streams.future_states import stream_draw_future_state

    future = stream_draw_future_state(stream=stream)
    with pytest.raises(ValidationError) as excinfo:
        deal_create(stream=future, name="X", created_at=T0)
    assert "current state" in field_errors(excinfo)["stream"][0]


def test_work_is_logged_on_the_open_visit_or_refused_naming_the_visit(deal, stream):
    from funnel.eventlog.services import deal_log_work

    visit = deal_log_work(deal=deal, minutes=20)
    assert (visit.step.position, visit.work_minutes) == (1, 20)
    bare = deal_create(stream=stream, name="No step yet", created_at=T0)
    with pytest.raises(ValidationError) as excinfo:
        deal_log_work(deal=bare, minutes=5)
    assert "at no step" in field_errors(excinfo)["visit"][0]
