"""Recoverable closes and deal edits in the services: the closer undoes within 10 minutes, a
manager reopens later with a reason, the history keeps both, the path and the metrics stay
right; deal_update edits with the roles of every other write and reports every field."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from funnel.eventlog import services
from funnel.eventlog.paths import deal_paths_refresh
from funnel.eventlog.services import (
    deal_close,
    deal_close_undo,
    deal_move,
    deal_reopen,
    deal_undo_deadline,
    deal_update,
)
from funnel.metrics.query import MetricsQuery
from funnel.metrics.snapshots import metrics_read, metrics_stored
from funnel.models import DealEvent, DealEventKind, DealStatus, Visit
from tests.factories import BASE_TIME

NOW = BASE_TIME + timedelta(days=3)  # team_setup's deals entered step 1 at BASE_TIME


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def changed(monkeypatch):
    """The streams the services told the metrics engine about."""
    calls: list[int] = []
    monkeypatch.setattr(services, "metrics_changed", lambda *, stream_id: calls.append(stream_id))
    return calls


def _facts(deal) -> list[tuple]:
    return list(
        Visit.objects.filter(deal=deal)
        .order_by("entered_at", "id")
        .values_list("step_id", "entered_at", "exited_at", "reentry", "previous_step_id", "is_last")
    )


# --- Undo ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_undoes_a_close_within_ten_minutes_back_to_the_step(team_setup, changed, frozen):
    ns = team_setup
    deal = ns.deal_a1
    deal_move(deal=deal, step=ns.steps_a[1], at=NOW - timedelta(days=1), actor=ns.rep_a1)
    before = _facts(deal)
    deal_close(deal=deal, outcome="lost", lost_reason="No budget", actor=ns.rep_a1)
    assert deal_undo_deadline(deal=deal, user=ns.rep_a1) == NOW + timedelta(minutes=10)
    frozen.shift(timedelta(minutes=9, seconds=59))

    deal_close_undo(deal=deal, user=ns.rep_a1)

    deal.refresh_from_db()
    assert (deal.status, deal.closed_at, deal.lost_reason) == (DealStatus.OPEN, None, "")
    assert _facts(deal) == before  # at step 2 again, open, the path facts as they were
    events = list(deal.events.values_list("kind", "actor", "status", "lost_reason"))
    assert events == [
        (DealEventKind.CLOSED, ns.rep_a1.pk, DealStatus.LOST, "No budget"),
        (DealEventKind.UNDONE, ns.rep_a1.pk, DealStatus.LOST, "No budget"),
    ]
    assert changed == [ns.stream_a.pk] * 3  # move, close, undo
    # Open again: it moves on and closes as usual.
    deal_move(deal=deal, step=ns.steps_a[2], actor=ns.rep_a1)
    deal_close(deal=deal, outcome="won", actor=ns.rep_a1)
    deal.refresh_from_db()
    assert deal.status == DealStatus.WON


@pytest.mark.django_db
def test_it_refuses_an_undo_after_ten_minutes_naming_the_time_as_pages_show_it(team_setup, frozen):
    ns = team_setup
    deal_close(deal=ns.deal_a1, outcome="won", actor=ns.rep_a1)
    frozen.shift(timedelta(minutes=10, seconds=1))
    assert deal_undo_deadline(deal=ns.deal_a1, user=ns.rep_a1) is None
    with pytest.raises(ValidationError) as excinfo:
        deal_close_undo(deal=ns.deal_a1, user=ns.rep_a1)
    reason = excinfo.value.message_dict["deal"][0]
    assert "2025-01-09 09:10 UTC" in reason and "reopen" in reason
    with timezone.override("Europe/Berlin"), pytest.raises(ValidationError) as excinfo:
        deal_close_undo(deal=ns.deal_a1, user=ns.rep_a1)
    assert "2025-01-09 10:10 CET" in excinfo.value.message_dict["deal"][0]
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.WON


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["manager_a", "leader_a", "rep_a2"])
def test_only_whoever_closed_the_deal_undoes_it(team_setup, who):
    ns = team_setup
    deal_close(deal=ns.deal_a1, outcome="won", actor=ns.rep_a1)
    assert deal_undo_deadline(deal=ns.deal_a1, user=getattr(ns, who)) is None
    with pytest.raises(PermissionDenied):
        deal_close_undo(deal=ns.deal_a1, user=getattr(ns, who))
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.WON


@pytest.mark.django_db
def test_it_refuses_undoing_an_open_deal_twice_or_a_close_without_an_actor(team_setup):
    ns = team_setup
    with pytest.raises(ValidationError, match="open"):
        deal_close_undo(deal=ns.deal_a1, user=ns.rep_a1)
    deal_close(deal=ns.deal_a1, outcome="won", actor=ns.rep_a1)
    deal_close_undo(deal=ns.deal_a1, user=ns.rep_a1)
    deal_close(deal=ns.deal_a2, outcome="won")  # e.g. an import: nobody to undo it
    with pytest.raises(PermissionDenied):
        deal_close_undo(deal=ns.deal_a2, user=ns.rep_a2)
    assert DealEvent.objects.filter(kind=DealEventKind.UNDONE).count() == 1


# --- Reopen -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_manager_reopens_a_lost_deal_with_a_reason_kept_in_its_history(
    team_setup, changed, frozen
):
    ns = team_setup
    deal = ns.deal_a1
    deal_close(deal=deal, outcome="lost", lost_reason="No budget", actor=ns.rep_a1)
    frozen.shift(timedelta(days=5))

    deal_reopen(deal=deal, user=ns.manager_a, reason="  Budget approved after all  ")

    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.closed_at is None
    visit = deal.visits.get()
    assert (visit.step, visit.exited_at, visit.is_last) == (ns.steps_a[0], None, True)
    reopen = deal.events.get(kind=DealEventKind.REOPENED)
    assert (reopen.actor, reopen.reason, reopen.status, reopen.lost_reason) == (
        ns.manager_a,
        "Budget approved after all",
        DealStatus.LOST,
        "No budget",
    )
    assert reopen.closed_at == NOW and reopen.recorded_at == NOW + timedelta(days=5)
    assert changed[-1] == ns.stream_a.pk
    # The stored path facts are what recomputing them from the visits gives.
    stored = _facts(deal)
    deal_paths_refresh([deal.pk])
    assert _facts(deal) == stored


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["rep_a1", "leader_a", "manager_b"])
def test_only_the_teams_managers_reopen(team_setup, who):
    ns = team_setup
    deal_close(deal=ns.deal_a1, outcome="won", actor=ns.rep_a1)
    with pytest.raises(PermissionDenied):
        deal_reopen(deal=ns.deal_a1, user=getattr(ns, who), reason="Mistake")
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.WON


@pytest.mark.django_db
def test_a_reopen_needs_a_reason_and_a_closed_deal(team_setup):
    ns = team_setup
    with pytest.raises(ValidationError) as excinfo:
        deal_reopen(deal=ns.deal_a1, user=ns.manager_a, reason=" ")
    assert set(excinfo.value.message_dict) == {"deal", "reason"}  # both at once
    deal_close(deal=ns.deal_a1, outcome="won", actor=ns.rep_a1)
    with pytest.raises(ValidationError) as excinfo:
        deal_reopen(deal=ns.deal_a1, user=ns.manager_a, reason="x" * 501)
    assert "500" in excinfo.value.message_dict["reason"][0]
    assert not DealEvent.objects.filter(kind=DealEventKind.REOPENED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_reopen_recomputes_the_metrics(team_setup):
    ns = team_setup
    query = MetricsQuery(stream_id=ns.stream_a.pk)
    metrics_read(query, now=NOW)
    at = NOW - timedelta(minutes=30)  # inside the window, which ends at NOW
    deal_close(deal=ns.deal_a2, outcome="lost", at=at, lost_reason="Timing", actor=ns.rep_a2)
    result = metrics_stored(query)
    assert result.summary.lost == 1 and result.step(ns.steps_a[0].pk).wip_now == 1
    deal_reopen(deal=ns.deal_a2, user=ns.manager_a, reason="They called back")
    result = metrics_stored(query)
    assert result.summary.lost == 0 and result.step(ns.steps_a[0].pk).wip_now == 2


# --- Edit ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_owner_edits_a_deals_details(team_setup, changed):
    ns = team_setup
    deal_update(
        deal=ns.deal_a1,
        user=ns.rep_a1,
        name=" Acme expansion ",
        account="Acme",
        amount=Decimal("1200.50"),
        source="referral",
        expected_close_date=date(2025, 2, 1),
        next_step="Send the proposal",
    )
    ns.deal_a1.refresh_from_db()
    d = ns.deal_a1
    assert (d.name, d.account, d.amount, d.source, d.expected_close_date, d.next_step) == (
        "Acme expansion",
        "Acme",
        Decimal("1200.50"),
        "referral",
        date(2025, 2, 1),
        "Send the proposal",
    )
    assert changed == [ns.stream_a.pk]  # the amount and source feed the figures
    deal_update(deal=ns.deal_a1, user=ns.rep_a1, next_step="")
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.next_step is None and ns.deal_a1.name == "Acme expansion"


@pytest.mark.django_db
def test_it_reports_every_bad_field_at_once_and_changes_nothing(team_setup):
    ns = team_setup
    with pytest.raises(ValidationError) as excinfo:
        deal_update(
            deal=ns.deal_a1,
            user=ns.rep_a1,
            name="",
            amount=Decimal("-1"),
            expected_close_date=date(2025, 1, 1),
            next_step="x" * 201,
            owner=ns.rep_a2,
        )
    errors = excinfo.value.message_dict
    assert set(errors) == {"name", "amount", "expected_close_date", "next_step", "owner"}
    assert "2025-01-06" in errors["expected_close_date"][0]
    assert "managers" in errors["owner"][0]
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.owner == ns.rep_a1 and ns.deal_a1.name != ""


@pytest.mark.django_db
def test_a_manager_reassigns_a_deal_within_the_team_only(team_setup):
    ns = team_setup
    deal_update(deal=ns.deal_a1, user=ns.manager_a, owner=ns.rep_a2)
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.owner == ns.rep_a2
    with pytest.raises(ValidationError) as excinfo:
        deal_update(deal=ns.deal_a1, user=ns.manager_a, owner=ns.rep_b)
    assert "not a manager or rep of team" in excinfo.value.message_dict["owner"][0]
    with pytest.raises(ValidationError):
        deal_update(deal=ns.deal_a1, user=ns.manager_a, owner=ns.leader_a)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["leader_a", "rep_a2", "manager_b"])
def test_nobody_else_edits_a_deal_even_with_nothing_to_change(team_setup, who):
    ns = team_setup
    with pytest.raises(PermissionDenied):
        deal_update(deal=ns.deal_a1, user=getattr(ns, who))
    with pytest.raises(PermissionDenied):
        deal_update(deal=ns.deal_a1, user=getattr(ns, who), name="Taken")
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.name != "Taken"


# --- Times in messages --------------------------------------------------------------------


@pytest.mark.django_db
def test_refusals_name_times_as_the_pages_show_them_never_as_iso(team_setup):
    ns = team_setup
    future = NOW + timedelta(days=2)
    with timezone.override("America/New_York"), pytest.raises(ValidationError) as excinfo:
        deal_move(deal=ns.deal_a1, step=ns.steps_a[1], at=future)
    assert excinfo.value.message_dict["at"] == ["2025-01-11 04:00 EST is in the future."]
    with pytest.raises(ValidationError) as excinfo:
        deal_close(deal=ns.deal_a1, outcome="won", at=BASE_TIME - timedelta(hours=1))
    reason = excinfo.value.message_dict["at"][0]
    assert "2025-01-06 09:00 UTC" in reason and "+00:00" not in reason
