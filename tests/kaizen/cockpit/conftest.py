"""A small hand-worked stream for the cockpit's tests (docs/cockpit.md).

"Now" is 2025-06-01 12:00 UTC; the default dashboard view is the 90 days before it,
``[2025-03-03 12:00, 2025-06-01 12:00)``, and the previous period the 90 days before that,
``[2024-12-03 12:00, 2025-03-03 12:00)``. ``T`` = 2025-03-03 12:00, where the period begins.

Two steps, Qualify and Propose, each planned at 1 h of work (so a visit's wait is its time in
step − 1 h). Seven deals, times UTC midnight:

=====  ===========================================  =======  ======  ======================
deal   path (step: entered → exited)                outcome  amount  in which period
=====  ===========================================  =======  ======  ======================
A      Qualify 01-10 → 01-12, Propose 01-12 → 01-20  won      10,000  previous
B      Qualify 01-15 → 01-16                        lost      5,000  previous
C      Qualify 02-01 → 02-03, Propose 02-03 → 04-01  won      20,000  current (open at T)
D      Qualify 02-10 → (open)                        open      8,000  open at T and now
E      Qualify 04-01 → 04-02, Propose 04-02 → 04-10  lost      7,000  current
F      Qualify 05-01 → 05-03, Propose 05-03 → (open)  open     12,000  open now
G      Qualify 05-20 → 05-21, Propose 05-21 → 05-22  won      30,000  current
=====  ===========================================  =======  ======  ======================
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from django.core.cache import cache

from funnel.models import DealStatus
from streams.models import Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import DealFactory, MembershipFactory, TeamFactory, UserFactory, VisitFactory

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2025-{text}T00:00+00:00")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def _deal(stream, steps, stays, status, amount):
    closed_at = at(stays[-1][2]) if status != DealStatus.OPEN else None
    deal = DealFactory(
        stream=stream,
        created_at=at(stays[0][1]),
        status=status,
        closed_at=closed_at,
        lost_reason="No budget" if status == DealStatus.LOST else "",
        amount=Decimal(amount),
    )
    for step, entered, exited in stays:
        VisitFactory(
            deal=deal,
            step=steps[step],
            entered_at=at(entered),
            exited_at=at(exited) if exited else None,
        )
    return deal


@pytest.fixture
def hand(db: None) -> SimpleNamespace:
    """The hand-worked stream of the module docstring, its team (``leader``, ``manager``,
    ``rep``) and a second team (``other_team``, ``other_manager``) with a stream of its own."""
    team = TeamFactory(name="Hand team")
    stream = stream_create(
        team=team,
        name="Hand stream",
        lanes=[LaneSpec("AE")],
        steps=[
            StepSpec("Qualify", "AE", planned_process_hours=1, planned_lead_hours=8),
            StepSpec("Propose", "AE", planned_process_hours=1, planned_lead_hours=8),
        ],
    )
    qualify, propose = stream.steps.order_by("position")
    steps = {"Q": qualify, "P": propose}
    won, lost, open_ = DealStatus.WON, DealStatus.LOST, DealStatus.OPEN
    _deal(stream, steps, [("Q", "01-10", "01-12"), ("P", "01-12", "01-20")], won, "10000")
    _deal(stream, steps, [("Q", "01-15", "01-16")], lost, "5000")
    _deal(stream, steps, [("Q", "02-01", "02-03"), ("P", "02-03", "04-01")], won, "20000")
    _deal(stream, steps, [("Q", "02-10", None)], open_, "8000")
    _deal(stream, steps, [("Q", "04-01", "04-02"), ("P", "04-02", "04-10")], lost, "7000")
    _deal(stream, steps, [("Q", "05-01", "05-03"), ("P", "05-03", None)], open_, "12000")
    _deal(stream, steps, [("Q", "05-20", "05-21"), ("P", "05-21", "05-22")], won, "30000")
    ns = SimpleNamespace(team=team, stream=stream, qualify=qualify, propose=propose)
    for name, role in (("leader", Role.LEADERSHIP), ("manager", Role.MANAGER), ("rep", Role.REP)):
        user = UserFactory(username=f"hand-{name}", email=f"{name}@example.com")
        MembershipFactory(user=user, team=team, role=role)
        setattr(ns, name, user)
    ns.other_team = TeamFactory(name="Other team")
    ns.other_manager = UserFactory(username="other-manager", email="other@example.com")
    MembershipFactory(user=ns.other_manager, team=ns.other_team, role=Role.MANAGER)
    ns.other_stream = stream_create(
        team=ns.other_team,
        name="Other stream",
        lanes=[LaneSpec("AE")],
        steps=[StepSpec("Call", "AE", planned_process_hours=1, planned_lead_hours=8)],
    )
    return ns
