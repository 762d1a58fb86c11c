"""A small lead stream for the hand-worked tests of the queue, separation and waste figures
(``funnel.leads.capacity``, ``separation``, ``waste``), built with the ORM only.

Steps in map order, with their planned process hours: 1 Capture (Marketing, 0.5), 2 MQL (SDR,
0.25; the first hand-off, MQL → SAL, SLA 60), 3 Qualify (SDR, 1), 4 SQL (Sales, 0.5; the
pull hand-off, SQL → Opportunity), 5 Discovery (Sales, 2), 6 Proposal (Sales, 3), 7 Nurture
(Marketing, 1; the waterfall's recycle step, drawn after the selling steps on purpose).

Users: ``sdr``, and the sellers ``ann`` ("Ann Able", limit 3) and ``bob`` ("Bob Best", limit
5). The window is the four ISO weeks from Monday 7 September 2026 (UTC), as of its end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from funnel.eventlog.paths import deal_paths_refresh
from funnel.leads.models import (
    Handoff,
    HandoffDecision,
    HandoffReason,
    SellerLimit,
    Side,
    Waterfall,
)
from funnel.leads.view import LeadsView
from funnel.models import Deal, DealStatus, Visit
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import TeamFactory, UserFactory

STEPS = [
    ("Capture", "Marketing", 0.5),
    ("MQL", "SDR", 0.25),
    ("Qualify", "SDR", 1.0),
    ("SQL", "Sales", 0.5),
    ("Discovery", "Sales", 2.0),
    ("Proposal", "Sales", 3.0),
    ("Nurture", "Marketing", 1.0),
]


def t(text: str) -> datetime:
    """``"09-07 09:00"``: that minute of 2026, UTC."""
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=UTC)


START, END = t("09-07 00:00"), t("10-05 00:00")


def view(ns: SimpleNamespace, **kwargs) -> LeadsView:
    values = {"start": START, "end": END, "as_of": END} | kwargs
    return LeadsView(stream_id=ns.stream.pk, **values)


def build() -> SimpleNamespace:
    ns = SimpleNamespace()
    ns.team = TeamFactory(name="Demand")
    ns.sdr = UserFactory(username="sdr", first_name="Sam", last_name="Dee")
    ns.ann = UserFactory(username="ann", first_name="Ann", last_name="Able")
    ns.bob = UserFactory(username="bob", first_name="Bob", last_name="Best")
    ns.stream = stream_create(
        team=ns.team,
        name="Leads",
        lanes=[LaneSpec("Marketing"), LaneSpec("SDR"), LaneSpec("Sales")],
        steps=[
            StepSpec(name=n, lane=lane, planned_process_hours=h, planned_lead_hours=8)
            for n, lane, h in STEPS
        ],
    )
    ns.steps = {s.name: s for s in ns.stream.steps.all()}
    Waterfall.objects.create(stream=ns.stream, recycle_step=ns.steps["Nurture"])
    ns.mql = Handoff.objects.create(
        stream=ns.stream,
        position=1,
        step=ns.steps["MQL"],
        offered_stage="MQL",
        accepted_stage="SAL",
        giver=Side.MARKETING,
        receiver=Side.SDR,
        sla_minutes=60,
    )
    ns.sql = Handoff.objects.create(
        stream=ns.stream,
        position=2,
        step=ns.steps["SQL"],
        offered_stage="SQL",
        accepted_stage="Opportunity",
        giver=Side.SDR,
        receiver=Side.SALES,
        pull=True,
    )
    SellerLimit.objects.create(stream=ns.stream, user=ns.ann, wip_limit=3)
    SellerLimit.objects.create(stream=ns.stream, user=ns.bob, wip_limit=5)
    ns.reasons = {
        label: HandoffReason.objects.create(stream=ns.stream, kind=kind, label=label)
        for kind, label in [
            ("reject", "Bad fit"),
            ("reject", "No budget"),
            ("recycle", "Not now"),
            ("disqualify", "Competitor"),
        ]
    }
    return ns


def case(ns, *path, owner=None, source="inbound", closed: str | None = None, status="won"):
    """A case along ``path``: ``(step, entered, exited[, actor[, work_minutes]])`` each
    (times as :func:`t` reads them, ``exited`` None for the open visit), created at its first
    entry; closed (``status``) at ``closed`` if given."""
    first = t(path[0][1])
    deal = Deal.objects.create(
        stream=ns.stream,
        external_id=f"L-{Deal.objects.count() + 1:04d}",
        name="Lead",
        owner=owner,
        source=source,
        created_at=first,
        status=status if closed else DealStatus.OPEN,
        closed_at=t(closed) if closed else None,
        lost_reason="Lost" if closed and status == DealStatus.LOST else "",
    )
    for step, entered, exited, *rest in path:
        Visit.objects.create(
            deal=deal,
            step=ns.steps[step],
            entered_at=t(entered),
            exited_at=t(exited) if exited else None,
            actor=rest[0] if rest else None,
            work_minutes=rest[1] if len(rest) > 1 else None,
        )
    deal_paths_refresh([deal.pk])
    return deal


def decide(ns, deal, step: str, kind: str, at: str, reason: str | None = None, actor=None):
    """The decision on ``deal``'s latest arrival at ``step`` entered by ``at``."""
    visit = (
        Visit.objects.filter(deal=deal, step=ns.steps[step], entered_at__lte=t(at))
        .order_by("-entered_at")
        .first()
    )
    return HandoffDecision.objects.create(
        visit=visit,
        handoff=ns.steps[step].handoff,
        deal=deal,
        kind=kind,
        reason=ns.reasons[reason] if reason else None,
        actor=actor,
        decided_at=t(at),
        response_seconds=int((t(at) - visit.entered_at).total_seconds()),
    )
