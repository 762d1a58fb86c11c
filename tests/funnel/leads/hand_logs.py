"""Hand-worked lead logs for the tests of the Leads figures (docs/metrics.md §8), written
straight with the ORM (visits, decisions) so the figures are tested apart from the services.

The map, in order: Capture (Marketing), MQL (SDR; hand-off 1: MQL → SAL, marketing → SDR,
SLA 60 minutes), Qualify (SDR), SQL (Sales; hand-off 2: SQL → Opportunity, pulled, SLA 120
minutes), Discovery (Sales), Nurture (Marketing, the recycle step).

:func:`elapsed_log` (no calendar). Window ``[Mon 2026-08-24, Mon 2026-09-14)`` (UTC, ISO
weeks of 24 Aug, 31 Aug and 7 Sep); as of Sun 2026-09-20 00:00Z. Times are UTC:

====  =====  ======  =======================================================================
case  src    owner   path
====  =====  ======  =======================================================================
A     web    rep1    Capture Mon 24 Aug 09:00; MQL Tue 25 10:00, accepted 11:30 by sdr (1.5 h);
                     Qualify; SQL Thu 27 09:00, pulled 10:30 by seller (1.5 h); Discovery;
                     won Thu 3 Sep 12:00
B     web    rep1    Capture Wed 26 Aug 09:00; MQL 12:00, recycled 20:00 by sdr (8 h);
                     Nurture; MQL again Tue 1 Sep 09:00, accepted 09:30 by sdr (0.5 h);
                     Qualify; SQL Wed 2 Sep 09:00, undecided, open
C     event  rep2    Capture Wed 2 Sep 10:00; MQL 11:00, rejected Thu 3 Sep 11:00 by sdr2
                     (24 h); back in Capture, open
D     event  -       Capture Tue 8 Sep 09:00; MQL 10:00, undecided, open
E     web    rep2    Capture Wed 9 Sep 09:00; MQL 13:00, disqualified Sat 12 Sep 10:00, no
                     actor (69 h); lost
F     web    rep1    Capture Thu 20 Aug 09:00 (before the window); MQL Mon 24 Aug 12:00,
                     accepted 12:20 by sdr (1/3 h); Qualify, open
G     web    rep1    Capture Tue 15 Sep 09:00 (after the window); MQL 10:00, accepted 10:30;
                     Qualify, open
====  =====  ======  =======================================================================

:func:`working_log` (a calendar). The team's default calendar "Office" works Monday to Friday
09:00–17:30 in Europe/Berlin (CEST, UTC+2, in September); the SDR lane (the MQL step) has its
own, "Early", Monday to Friday 07:00–15:00 Berlin. Window ``[2026-09-01, 2026-09-14)``; as of
Tue 2026-09-08 13:45Z (15:45 Berlin). Times in Berlin's:

====  =======================================================================================
case  path
====  =======================================================================================
P     Capture Fri 4 Sep 17:00; MQL Mon 7 Sep 17:00, accepted Tue 8 Sep 09:30; Qualify
Q     Capture Tue 8 Sep 09:00; MQL 14:30, undecided, open
R     Capture Tue 8 Sep 09:00; MQL 09:30, accepted 10:00; Qualify
====  =======================================================================================
"""

from __future__ import annotations

from datetime import datetime, time
from types import SimpleNamespace

from funnel.leads.models import (
    DecisionKind,
    Handoff,
    HandoffDecision,
    HandoffReason,
    ReasonKind,
    Side,
    Waterfall,
)
from funnel.models import DealStatus, Visit
from streams.calendars.services import CalendarSpec, calendar_create
from streams.calendars.working_time import SpanSpec, WorkingClock
from streams.models import Lane, Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import DealFactory, MembershipFactory, TeamFactory, UserFactory, VisitFactory
from tests.working_offsets import fill_offsets

STEPS = [
    ("Capture", "Marketing"),
    ("MQL", "SDR"),
    ("Qualify", "SDR"),
    ("SQL", "Sales"),
    ("Discovery", "Sales"),
    ("Nurture", "Marketing"),
]
REASON_KINDS = {
    DecisionKind.REJECT: ReasonKind.REJECT,
    DecisionKind.RECYCLE: ReasonKind.RECYCLE,
    DecisionKind.DISQUALIFY: ReasonKind.DISQUALIFY,
}


def at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment


def base() -> SimpleNamespace:
    """The team (``manager``, reps ``sdr``, ``sdr2``, ``rep1``, ``rep2``, ``seller``,
    ``leader``), the stream and its two hand-offs (``mql``, ``sql``)."""
    ns = SimpleNamespace(clocks={})
    ns.team = TeamFactory(name="Demand")
    for name, role in [
        ("manager", Role.MANAGER),
        ("sdr", Role.REP),
        ("sdr2", Role.REP),
        ("rep1", Role.REP),
        ("rep2", Role.REP),
        ("seller", Role.REP),
        ("leader", Role.LEADERSHIP),
    ]:
        user = UserFactory(username=name, first_name="", last_name="")
        MembershipFactory(user=user, team=ns.team, role=role)
        setattr(ns, name, user)
    ns.stream = stream_create(
        team=ns.team,
        name="Leads",
        lanes=[LaneSpec("Marketing"), LaneSpec("SDR"), LaneSpec("Sales")],
        steps=[StepSpec(name=name, lane=lane) for name, lane in STEPS],
    )
    ns.steps = {s.name: s for s in ns.stream.steps.all()}
    Waterfall.objects.create(stream=ns.stream, recycle_step=ns.steps["Nurture"])
    ns.mql = Handoff.objects.create(
        stream=ns.stream,
        position=0,
        step=ns.steps["MQL"],
        offered_stage="MQL",
        accepted_stage="SAL",
        giver=Side.MARKETING,
        receiver=Side.SDR,
        sla_minutes=60,
    )
    ns.sql = Handoff.objects.create(
        stream=ns.stream,
        position=1,
        step=ns.steps["SQL"],
        offered_stage="SQL",
        accepted_stage="Opportunity",
        giver=Side.SDR,
        receiver=Side.SALES,
        sla_minutes=120,
        pull=True,
    )
    ns.reasons = {
        kind: HandoffReason.objects.create(stream=ns.stream, kind=kind, label=f"{kind} reason")
        for kind in ReasonKind.values
    }
    return ns


def case(
    ns: SimpleNamespace,
    *stays: tuple,
    source: str = "web",
    owner=None,
    status: str = DealStatus.OPEN,
    closed: str | None = None,
):
    """A case and its visits, each ``(step name, entered, exited or None)``."""
    made = DealFactory(
        stream=ns.stream,
        created_at=at(stays[0][1]),
        status=status,
        closed_at=at(closed) if closed else None,
        lost_reason="Disqualified" if status == DealStatus.LOST else "",
        owner=owner,
        source=source,
    )
    for step, entered, exited in stays:
        VisitFactory(
            deal=made,
            step=ns.steps[step],
            entered_at=at(entered),
            exited_at=at(exited) if exited else None,
        )
    return made


def decide(ns: SimpleNamespace, deal, step: str, entered: str, kind: str, decided: str, actor):
    """The decision on ``deal``'s arrival at ``step`` entered at ``entered``, with its response
    in elapsed seconds and, when the step's calendar is known (``ns.clocks``), working ones."""
    visit = Visit.objects.get(deal=deal, step=ns.steps[step], entered_at=at(entered))
    handoff = Handoff.objects.get(step=ns.steps[step])
    clock = ns.clocks.get(step)
    return HandoffDecision.objects.create(
        visit=visit,
        handoff=handoff,
        deal=deal,
        kind=kind,
        reason=ns.reasons.get(REASON_KINDS.get(kind)),
        actor=actor,
        decided_at=at(decided),
        response_seconds=int((at(decided) - at(entered)).total_seconds()),
        response_w=clock.working_seconds(at(entered), at(decided)) if clock else None,
    )


def elapsed_log() -> SimpleNamespace:
    ns = base()
    accept, reject = DecisionKind.ACCEPT, DecisionKind.REJECT
    ns.a = case(
        ns,
        ("Capture", "2026-08-24T09:00Z", "2026-08-25T10:00Z"),
        ("MQL", "2026-08-25T10:00Z", "2026-08-25T11:30Z"),
        ("Qualify", "2026-08-25T11:30Z", "2026-08-27T09:00Z"),
        ("SQL", "2026-08-27T09:00Z", "2026-08-27T10:30Z"),
        ("Discovery", "2026-08-27T10:30Z", "2026-09-03T12:00Z"),
        owner=ns.rep1,
        status=DealStatus.WON,
        closed="2026-09-03T12:00Z",
    )
    decide(ns, ns.a, "MQL", "2026-08-25T10:00Z", accept, "2026-08-25T11:30Z", ns.sdr)
    decide(ns, ns.a, "SQL", "2026-08-27T09:00Z", accept, "2026-08-27T10:30Z", ns.seller)
    ns.b = case(
        ns,
        ("Capture", "2026-08-26T09:00Z", "2026-08-26T12:00Z"),
        ("MQL", "2026-08-26T12:00Z", "2026-08-26T20:00Z"),
        ("Nurture", "2026-08-26T20:00Z", "2026-09-01T09:00Z"),
        ("MQL", "2026-09-01T09:00Z", "2026-09-01T09:30Z"),
        ("Qualify", "2026-09-01T09:30Z", "2026-09-02T09:00Z"),
        ("SQL", "2026-09-02T09:00Z", None),
        owner=ns.rep1,
    )
    decide(ns, ns.b, "MQL", "2026-08-26T12:00Z", DecisionKind.RECYCLE, "2026-08-26T20:00Z", ns.sdr)
    decide(ns, ns.b, "MQL", "2026-09-01T09:00Z", accept, "2026-09-01T09:30Z", ns.sdr)
    ns.c = case(
        ns,
        ("Capture", "2026-09-02T10:00Z", "2026-09-02T11:00Z"),
        ("MQL", "2026-09-02T11:00Z", "2026-09-03T11:00Z"),
        ("Capture", "2026-09-03T11:00Z", None),
        source="event",
        owner=ns.rep2,
    )
    decide(ns, ns.c, "MQL", "2026-09-02T11:00Z", reject, "2026-09-03T11:00Z", ns.sdr2)
    ns.d = case(
        ns,
        ("Capture", "2026-09-08T09:00Z", "2026-09-08T10:00Z"),
        ("MQL", "2026-09-08T10:00Z", None),
        source="event",
    )
    ns.e = case(
        ns,
        ("Capture", "2026-09-09T09:00Z", "2026-09-09T13:00Z"),
        ("MQL", "2026-09-09T13:00Z", "2026-09-12T10:00Z"),
        owner=ns.rep2,
        status=DealStatus.LOST,
        closed="2026-09-12T10:00Z",
    )
    decide(ns, ns.e, "MQL", "2026-09-09T13:00Z", DecisionKind.DISQUALIFY, "2026-09-12T10:00Z", None)
    ns.f = case(
        ns,
        ("Capture", "2026-08-20T09:00Z", "2026-08-24T12:00Z"),
        ("MQL", "2026-08-24T12:00Z", "2026-08-24T12:20Z"),
        ("Qualify", "2026-08-24T12:20Z", None),
        owner=ns.rep1,
    )
    decide(ns, ns.f, "MQL", "2026-08-24T12:00Z", accept, "2026-08-24T12:20Z", ns.sdr)
    ns.g = case(
        ns,
        ("Capture", "2026-09-15T09:00Z", "2026-09-15T10:00Z"),
        ("MQL", "2026-09-15T10:00Z", "2026-09-15T10:30Z"),
        ("Qualify", "2026-09-15T10:30Z", None),
        owner=ns.rep1,
    )
    decide(ns, ns.g, "MQL", "2026-09-15T10:00Z", accept, "2026-09-15T10:30Z", ns.sdr)
    return ns


def _calendar(ns: SimpleNamespace, name: str, start: time, end: time, default: bool):
    return calendar_create(
        team=ns.team,
        by=ns.manager,
        spec=CalendarSpec(
            name=name,
            time_zone="Europe/Berlin",
            country="DE",
            is_default=default,
            spans=[SpanSpec(day, start, end) for day in range(5)],
        ),
    )


def working_log() -> SimpleNamespace:
    ns = base()
    office = _calendar(ns, "Office", time(9), time(17, 30), True)
    early = _calendar(ns, "Early", time(7), time(15), False)
    Lane.objects.filter(stream=ns.stream, name="SDR").update(calendar=early)
    ns.clocks = {"MQL": WorkingClock.from_calendar(early)}
    ns.office = WorkingClock.from_calendar(office)
    accept = DecisionKind.ACCEPT
    ns.p = case(
        ns,
        ("Capture", "2026-09-04T15:00Z", "2026-09-07T15:00Z"),
        ("MQL", "2026-09-07T15:00Z", "2026-09-08T07:30Z"),
        ("Qualify", "2026-09-08T07:30Z", None),
    )
    decide(ns, ns.p, "MQL", "2026-09-07T15:00Z", accept, "2026-09-08T07:30Z", ns.sdr)
    ns.q = case(
        ns,
        ("Capture", "2026-09-08T07:00Z", "2026-09-08T12:30Z"),
        ("MQL", "2026-09-08T12:30Z", None),
    )
    ns.r = case(
        ns,
        ("Capture", "2026-09-08T07:00Z", "2026-09-08T07:30Z"),
        ("MQL", "2026-09-08T07:30Z", "2026-09-08T08:00Z"),
        ("Qualify", "2026-09-08T08:00Z", None),
    )
    decide(ns, ns.r, "MQL", "2026-09-08T07:30Z", accept, "2026-09-08T08:00Z", ns.sdr)
    fill_offsets(ns.stream)
    return ns
