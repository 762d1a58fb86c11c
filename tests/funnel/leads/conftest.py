"""A lead stream for the tests of hand-offs and pull.

Team "Demand": ``manager``, ``sdr`` (a rep), ``seller1`` and ``seller2`` (reps with seller
limits of 2), ``leader`` (leadership); ``outsider`` manages another team. The stream's steps,
in map order: Capture (Marketing), MQL (SDR, the first hand-off: MQL → SAL, marketing → SDR,
SLA 60 working minutes, escalation 240), Qualify (SDR), SQL (Sales, the pull hand-off: SQL →
Opportunity, SLA 120), Discovery (Sales), Nurture (Marketing, the recycle step). Reasons: the
default lists. The team has no calendar unless a test gives it one (``office``).
"""

from __future__ import annotations

from datetime import datetime, time
from types import SimpleNamespace

import pytest

from funnel.eventlog.services import deal_create, deal_move
from funnel.leads.models import HandoffReason, ReasonKind, Side
from funnel.leads.setup import HandoffSpec, seller_limit_set, waterfall_save
from streams.calendars.services import CalendarSpec, calendar_create
from streams.calendars.working_time import SpanSpec
from streams.models import Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import MembershipFactory, TeamFactory, UserFactory

STEPS = [
    ("Capture", "Marketing"),
    ("MQL", "SDR"),
    ("Qualify", "SDR"),
    ("SQL", "Sales"),
    ("Discovery", "Sales"),
    ("Nurture", "Marketing"),
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def office(team, by):
    """Monday to Friday 09:00–17:30 in Europe/Berlin with Germany's public holidays."""
    return calendar_create(
        team=team,
        by=by,
        spec=CalendarSpec(
            name="Office",
            time_zone="Europe/Berlin",
            country="DE",
            is_default=True,
            spans=[SpanSpec(day, time(9), time(17, 30)) for day in range(5)],
        ),
    )


def build(calendar: bool = False) -> SimpleNamespace:
    ns = SimpleNamespace()
    ns.team = TeamFactory(name="Demand")
    for name, role in [
        ("manager", Role.MANAGER),
        ("sdr", Role.REP),
        ("seller1", Role.REP),
        ("seller2", Role.REP),
        ("leader", Role.LEADERSHIP),
    ]:
        user = UserFactory(username=name, email=f"{name}@example.com", first_name="", last_name="")
        MembershipFactory(user=user, team=ns.team, role=role)
        setattr(ns, name, user)
    ns.outsider = UserFactory(username="outsider", email="outsider@example.com")
    MembershipFactory(user=ns.outsider, team=TeamFactory(name="Elsewhere"), role=Role.MANAGER)
    if calendar:
        office(ns.team, ns.manager)
    ns.stream = stream_create(
        team=ns.team,
        name="Leads",
        lanes=[LaneSpec("Marketing"), LaneSpec("SDR"), LaneSpec("Sales")],
        steps=[StepSpec(name=name, lane=lane) for name, lane in STEPS],
    )
    ns.steps = {s.name: s for s in ns.stream.steps.all()}
    ns.waterfall = waterfall_save(
        stream=ns.stream,
        user=ns.manager,
        preset="sirius_2006",
        inquiry_stage="Inquiry",
        won_stage="Won",
        recycle_step=ns.steps["Nurture"],
        handoffs=[
            HandoffSpec(ns.steps["MQL"], "MQL", Side.MARKETING, Side.SDR, "SAL", 60, 240),
            HandoffSpec(
                ns.steps["SQL"], "SQL", Side.SDR, Side.SALES, "Opportunity", 120, pull=True
            ),
        ],
    )
    ns.mql = ns.stream.handoffs.get(step=ns.steps["MQL"])
    ns.sql = ns.stream.handoffs.get(step=ns.steps["SQL"])
    for seller in (ns.seller1, ns.seller2):
        seller_limit_set(stream=ns.stream, user=ns.manager, seller=seller, wip_limit=2)

    def reason(kind: str) -> HandoffReason:
        return HandoffReason.objects.filter(stream=ns.stream, kind=kind).order_by("position")[0]

    ns.reject_reason = reason(ReasonKind.REJECT)
    ns.recycle_reason = reason(ReasonKind.RECYCLE)
    ns.disqualify_reason = reason(ReasonKind.DISQUALIFY)
    return ns


def lead(ns: SimpleNamespace, *path: tuple[str, str], name: str = "Lead", owner=None):
    """A case created at its first (step, time) and moved along the rest; returns its open
    visit."""
    (first, created), *rest = path
    deal = deal_create(
        stream=ns.stream,
        name=name,
        owner=owner,
        created_at=at(created),
        first_step=ns.steps[first],
    )
    for step, moment in rest:
        deal_move(deal=deal, step=ns.steps[step], at=at(moment))
    return deal.visits.get(exited_at__isnull=True)


@pytest.fixture
def leads(db) -> SimpleNamespace:
    return build()


@pytest.fixture
def leads_office(db) -> SimpleNamespace:
    return build(calendar=True)
