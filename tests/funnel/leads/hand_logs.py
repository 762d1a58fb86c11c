"""Hand-worked lead logs for the tests of the Leads figures (docs/metrics.md §8), written
straight with the ORM (visits, decisions) so the figures are tested apart from the services.

Every log is a team "Demand" and its stream "Leads" (lanes Marketing, SDR, Sales) with a
waterfall (recycle step Nurture) and two hand-offs: ``mql`` (MQL → SAL, marketing → SDR, SLA
60 minutes) and ``sql`` (SQL → Opportunity, SDR → sales, pulled). :func:`case` writes a case
and its visits, :func:`decide` a decision on an arrival; times are read by :func:`at`.

:func:`base` and its logs :func:`elapsed_log` and :func:`working_log`
----------------------------------------------------------------------

The map, in order: Capture (Marketing), MQL (SDR), Qualify (SDR), SQL (Sales; the pull
hand-off has an SLA of 120 minutes), Discovery (Sales), Nurture (Marketing, the recycle step).
Users, each a member of the team: ``manager``, the reps ``sdr``, ``sdr2``, ``rep1``,
``rep2``, ``seller`` and ``leader`` (leadership). Reasons: one per kind, "<kind> reason".

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

:func:`seller_base`: the stream of the queue, separation and waste tests
-----------------------------------------------------------------------

For ``funnel.leads.capacity``, ``separation`` and ``waste`` (each test writes its cases).
Steps in map order, with their planned process hours: 1 Capture (Marketing, 0.5), 2 MQL (SDR,
0.25), 3 Qualify (SDR, 1), 4 SQL (Sales, 0.5; the pull hand-off, no SLA), 5 Discovery (Sales,
2), 6 Proposal (Sales, 3), 7 Nurture (Marketing, 1; the recycle step, drawn after the selling
steps on purpose). Users (not members): ``sdr`` ("Sam Dee"), and the sellers ``ann`` ("Ann
Able", limit 3) and ``bob`` ("Bob Best", limit 5). Reasons: Bad fit and No budget (reject),
Not now (recycle), Competitor (disqualify). The window (:func:`seller_view`) is the four ISO
weeks from Monday 7 September 2026 (UTC), as of its end.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from types import SimpleNamespace

from funnel.eventlog.paths import deal_paths_refresh
from funnel.leads.models import (
    DecisionKind,
    Handoff,
    HandoffDecision,
    HandoffReason,
    ReasonKind,
    SellerLimit,
    Side,
    Waterfall,
)
from funnel.leads.view import LeadsView
from funnel.models import DealStatus, Visit
from streams.calendars.services import CalendarSpec, calendar_create
from streams.calendars.working_time import SpanSpec, WorkingClock
from streams.models import Lane, Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import DealFactory, MembershipFactory, TeamFactory, UserFactory
from tests.working_offsets import fill_offsets

#: The map of :func:`base`: (step, lane).
STEPS = [
    ("Capture", "Marketing"),
    ("MQL", "SDR"),
    ("Qualify", "SDR"),
    ("SQL", "Sales"),
    ("Discovery", "Sales"),
    ("Nurture", "Marketing"),
]
#: The map of :func:`seller_base`: (step, lane, planned process hours).
SELLER_STEPS = [
    ("Capture", "Marketing", 0.5),
    ("MQL", "SDR", 0.25),
    ("Qualify", "SDR", 1.0),
    ("SQL", "Sales", 0.5),
    ("Discovery", "Sales", 2.0),
    ("Proposal", "Sales", 3.0),
    ("Nurture", "Marketing", 1.0),
]


def at(text: str) -> datetime:
    """An instant: ISO 8601 with its offset (``"2026-08-24T09:00Z"``), or ``"09-07 09:00"``,
    that minute of 2026 in UTC."""
    if len(text) == len("09-07 09:00"):
        return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=UTC)
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
    _stream(ns, [StepSpec(name=name, lane=lane) for name, lane in STEPS], sql_sla=120)
    _reasons(ns, [(kind, f"{kind} reason") for kind in ReasonKind.values])
    return ns


def seller_base() -> SimpleNamespace:
    """The stream of the queue, separation and waste tests: users ``sdr``, ``ann`` and
    ``bob`` (sellers, limits 3 and 5), planned hours on the steps, reasons by label."""
    ns = SimpleNamespace(clocks={})
    ns.team = TeamFactory(name="Demand")
    ns.sdr = UserFactory(username="sdr", first_name="Sam", last_name="Dee")
    ns.ann = UserFactory(username="ann", first_name="Ann", last_name="Able")
    ns.bob = UserFactory(username="bob", first_name="Bob", last_name="Best")
    steps = [
        StepSpec(name=n, lane=lane, planned_process_hours=h, planned_lead_hours=8)
        for n, lane, h in SELLER_STEPS
    ]
    _stream(ns, steps, sql_sla=None)
    SellerLimit.objects.create(stream=ns.stream, user=ns.ann, wip_limit=3)
    SellerLimit.objects.create(stream=ns.stream, user=ns.bob, wip_limit=5)
    _reasons(
        ns,
        [
            ("reject", "Bad fit"),
            ("reject", "No budget"),
            ("recycle", "Not now"),
            ("disqualify", "Competitor"),
        ],
    )
    return ns


SELLER_START, SELLER_END = at("09-07 00:00"), at("10-05 00:00")


def seller_view(ns: SimpleNamespace, **kwargs) -> LeadsView:
    """The view of :func:`seller_base`'s window, as of its end unless ``kwargs`` say."""
    values = {"start": SELLER_START, "end": SELLER_END, "as_of": SELLER_END} | kwargs
    return LeadsView(stream_id=ns.stream.pk, **values)


def _stream(ns: SimpleNamespace, steps: list[StepSpec], *, sql_sla: int | None) -> None:
    """The stream of ``steps`` in lanes Marketing, SDR and Sales, its waterfall (recycle step
    Nurture) and the hand-offs ``mql`` and ``sql``, on ``ns``."""
    ns.stream = stream_create(
        team=ns.team,
        name="Leads",
        lanes=[LaneSpec("Marketing"), LaneSpec("SDR"), LaneSpec("Sales")],
        steps=steps,
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
        sla_minutes=sql_sla,
        pull=True,
    )


def _reasons(ns: SimpleNamespace, kinds_labels: list[tuple[str, str]]) -> None:
    ns.reasons = {
        label: HandoffReason.objects.create(stream=ns.stream, kind=kind, label=label)
        for kind, label in kinds_labels
    }


def case(
    ns: SimpleNamespace,
    *stays: tuple,
    source: str = "inbound",
    owner=None,
    status: str | None = None,
    closed: str | None = None,
):
    """A case along ``stays``, each ``(step, entered, exited[, actor[, work_minutes]])``
    (``exited`` None for the open visit), created at its first entry; closed at ``closed``
    if given, ``status`` won unless it says."""
    made = DealFactory(
        stream=ns.stream,
        created_at=at(stays[0][1]),
        status=status or (DealStatus.WON if closed else DealStatus.OPEN),
        closed_at=at(closed) if closed else None,
        lost_reason="Lost" if status == DealStatus.LOST else "",
        owner=owner,
        source=source,
    )
    for step, entered, exited, *rest in stays:
        Visit.objects.create(
            deal=made,
            step=ns.steps[step],
            entered_at=at(entered),
            exited_at=at(exited) if exited else None,
            actor=rest[0] if rest else None,
            work_minutes=rest[1] if len(rest) > 1 else None,
        )
    deal_paths_refresh([made.pk])
    return made


def decide(ns, deal, step: str, kind: str, decided: str, reason: str | None = None, actor=None):
    """The decision on ``deal``'s latest arrival at ``step`` entered by ``decided``, with
    the reason labelled ``reason`` and its response in elapsed seconds and, when the step's
    calendar is known (``ns.clocks``), working ones."""
    visit = (
        Visit.objects.filter(deal=deal, step=ns.steps[step], entered_at__lte=at(decided))
        .order_by("-entered_at")
        .first()
    )
    clock = ns.clocks.get(step)
    return HandoffDecision.objects.create(
        visit=visit,
        handoff=ns.steps[step].handoff,
        deal=deal,
        kind=kind,
        reason=ns.reasons[reason] if reason else None,
        actor=actor,
        decided_at=at(decided),
        response_seconds=int((at(decided) - visit.entered_at).total_seconds()),
        response_w=clock.working_seconds(visit.entered_at, at(decided)) if clock else None,
    )


def elapsed_log() -> SimpleNamespace:
    ns = base()
    accept, recycle = DecisionKind.ACCEPT, DecisionKind.RECYCLE
    ns.a = case(
        ns,
        ("Capture", "2026-08-24T09:00Z", "2026-08-25T10:00Z"),
        ("MQL", "2026-08-25T10:00Z", "2026-08-25T11:30Z"),
        ("Qualify", "2026-08-25T11:30Z", "2026-08-27T09:00Z"),
        ("SQL", "2026-08-27T09:00Z", "2026-08-27T10:30Z"),
        ("Discovery", "2026-08-27T10:30Z", "2026-09-03T12:00Z"),
        source="web",
        owner=ns.rep1,
        closed="2026-09-03T12:00Z",
    )
    decide(ns, ns.a, "MQL", accept, "2026-08-25T11:30Z", actor=ns.sdr)
    decide(ns, ns.a, "SQL", accept, "2026-08-27T10:30Z", actor=ns.seller)
    ns.b = case(
        ns,
        ("Capture", "2026-08-26T09:00Z", "2026-08-26T12:00Z"),
        ("MQL", "2026-08-26T12:00Z", "2026-08-26T20:00Z"),
        ("Nurture", "2026-08-26T20:00Z", "2026-09-01T09:00Z"),
        ("MQL", "2026-09-01T09:00Z", "2026-09-01T09:30Z"),
        ("Qualify", "2026-09-01T09:30Z", "2026-09-02T09:00Z"),
        ("SQL", "2026-09-02T09:00Z", None),
        source="web",
        owner=ns.rep1,
    )
    decide(ns, ns.b, "MQL", recycle, "2026-08-26T20:00Z", "recycle reason", ns.sdr)
    decide(ns, ns.b, "MQL", accept, "2026-09-01T09:30Z", actor=ns.sdr)
    ns.c = case(
        ns,
        ("Capture", "2026-09-02T10:00Z", "2026-09-02T11:00Z"),
        ("MQL", "2026-09-02T11:00Z", "2026-09-03T11:00Z"),
        ("Capture", "2026-09-03T11:00Z", None),
        source="event",
        owner=ns.rep2,
    )
    decide(ns, ns.c, "MQL", DecisionKind.REJECT, "2026-09-03T11:00Z", "reject reason", ns.sdr2)
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
        source="web",
        owner=ns.rep2,
        status=DealStatus.LOST,
        closed="2026-09-12T10:00Z",
    )
    decide(ns, ns.e, "MQL", DecisionKind.DISQUALIFY, "2026-09-12T10:00Z", "disqualify reason")
    ns.f = case(
        ns,
        ("Capture", "2026-08-20T09:00Z", "2026-08-24T12:00Z"),
        ("MQL", "2026-08-24T12:00Z", "2026-08-24T12:20Z"),
        ("Qualify", "2026-08-24T12:20Z", None),
        source="web",
        owner=ns.rep1,
    )
    decide(ns, ns.f, "MQL", accept, "2026-08-24T12:20Z", actor=ns.sdr)
    ns.g = case(
        ns,
        ("Capture", "2026-09-15T09:00Z", "2026-09-15T10:00Z"),
        ("MQL", "2026-09-15T10:00Z", "2026-09-15T10:30Z"),
        ("Qualify", "2026-09-15T10:30Z", None),
        source="web",
        owner=ns.rep1,
    )
    decide(ns, ns.g, "MQL", accept, "2026-09-15T10:30Z", actor=ns.sdr)
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
        source="web",
    )
    decide(ns, ns.p, "MQL", accept, "2026-09-08T07:30Z", actor=ns.sdr)
    ns.q = case(
        ns,
        ("Capture", "2026-09-08T07:00Z", "2026-09-08T12:30Z"),
        ("MQL", "2026-09-08T12:30Z", None),
        source="web",
    )
    ns.r = case(
        ns,
        ("Capture", "2026-09-08T07:00Z", "2026-09-08T07:30Z"),
        ("MQL", "2026-09-08T07:30Z", "2026-09-08T08:00Z"),
        ("Qualify", "2026-09-08T08:00Z", None),
        source="web",
    )
    decide(ns, ns.r, "MQL", accept, "2026-09-08T08:00Z", actor=ns.sdr)
    fill_offsets(ns.stream)
    return ns
