"""A hand-worked log for the Discovery tests (docs/discovery.md), written straight with the
ORM so the figures are tested apart from the services.

Team "Mining" (``manager``, the rep ``rep``, ``leader`` in leadership; ``outsider`` manages
another team), stream "Deals", one lane Sales; the map, in order: Lead, Qualify, Demo,
Proposal, Close. Window ``[Mon 2026-09-07, Mon 2026-09-21)`` (UTC, two ISO weeks), as of
2026-10-01. Times are 2026, UTC; each visit ends when the next begins:

====  ======================================================================  ==========
deal  path (entered)                                                          outcome
====  ======================================================================  ==========
A     Lead 09-07 09:00, Qualify 12:00, Demo 09-08 12:00, Proposal 09-09       won 09-11
      12:00, Close 09-10 12:00                                                12:00 (99 h)
A2    Lead 09-17 09:00, Qualify 10:00, Demo 11:00, Proposal 12:00, Close      won 14:00
      13:00  (the same path as A)                                             (5 h)
B     Lead 09-07 10:00, Demo 11:00 (skips Qualify), Proposal 09-08 11:00,     won 09-10
      Close 09-09 11:00                                                       11:00 (73 h)
C     Lead 09-08 09:00, Qualify 10:00, Qualify 11:00, Qualify 12:00 (three    lost 09-09
      times in a row), Demo 13:00                                             13:00
D     Lead 09-14 09:00, Qualify 10:00, Demo 11:00, Proposal 12:00, Qualify    won 17:00
      13:00 (sent back), Demo 14:00, Proposal 15:00, Close 16:00              (8 h)
E     Lead 09-15 09:00, Demo 10:00 (skips Qualify), Qualify 12:00 (out of     open
      order), still there
F     Qualify 09-16 09:00 (skips Lead), Demo 10:00                            won 11:00
G     Lead 09-01 09:00 (before the window), still there                       open
====  ======================================================================  ==========
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from funnel.discovery.log import DiscoveryView
from funnel.eventlog.paths import deal_paths_refresh
from funnel.models import DealStatus, Visit
from streams.models import Role
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import DealFactory, MembershipFactory, TeamFactory, UserFactory

STEPS = ["Lead", "Qualify", "Demo", "Proposal", "Close"]
START, END, AS_OF = "09-07 00:00", "09-21 00:00", "10-01 00:00"
PATHS = {
    "A": ([("Lead", "09-07 09:00"), ("Qualify", "09-07 12:00"), ("Demo", "09-08 12:00"),
           ("Proposal", "09-09 12:00"), ("Close", "09-10 12:00")], "won", "09-11 12:00"),
    "A2": ([("Lead", "09-17 09:00"), ("Qualify", "09-17 10:00"), ("Demo", "09-17 11:00"),
            ("Proposal", "09-17 12:00"), ("Close", "09-17 13:00")], "won", "09-17 14:00"),
    "B": ([("Lead", "09-07 10:00"), ("Demo", "09-07 11:00"), ("Proposal", "09-08 11:00"),
           ("Close", "09-09 11:00")], "won", "09-10 11:00"),
    "C": ([("Lead", "09-08 09:00"), ("Qualify", "09-08 10:00"), ("Qualify", "09-08 11:00"),
           ("Qualify", "09-08 12:00"), ("Demo", "09-08 13:00")], "lost", "09-09 13:00"),
    "D": ([("Lead", "09-14 09:00"), ("Qualify", "09-14 10:00"), ("Demo", "09-14 11:00"),
           ("Proposal", "09-14 12:00"), ("Qualify", "09-14 13:00"), ("Demo", "09-14 14:00"),
           ("Proposal", "09-14 15:00"), ("Close", "09-14 16:00")], "won", "09-14 17:00"),
    "E": ([("Lead", "09-15 09:00"), ("Demo", "09-15 10:00"), ("Qualify", "09-15 12:00")],
          "open", None),
    "F": ([("Qualify", "09-16 09:00"), ("Demo", "09-16 10:00")], "won", "09-16 11:00"),
    "G": ([("Lead", "09-01 09:00")], "open", None),
}  # fmt: skip


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=UTC)


def hand_log(shift: timedelta = timedelta(0)) -> SimpleNamespace:
    """The team, stream, steps (``steps`` by name) and deals (``deals`` by letter); every
    time moved by ``shift`` (the browser test's log is recent, for the default window)."""

    def when(text: str) -> datetime:
        return at(text) + shift

    ns = SimpleNamespace()
    ns.team = TeamFactory(name="Mining")
    for name, role in [("manager", Role.MANAGER), ("rep", Role.REP), ("leader", Role.LEADERSHIP)]:
        user = UserFactory(username=name)
        MembershipFactory(user=user, team=ns.team, role=role)
        setattr(ns, name, user)
    ns.outsider = UserFactory(username="outsider")
    MembershipFactory(user=ns.outsider, team=TeamFactory(name="Other"), role=Role.MANAGER)
    ns.stream = stream_create(
        team=ns.team,
        name="Deals",
        lanes=[LaneSpec("Sales")],
        steps=[StepSpec(name=name, lane="Sales") for name in STEPS],
    )
    ns.steps = {s.name: s for s in ns.stream.steps.all()}
    ns.deals = {}
    for letter, (stays, outcome, closed) in PATHS.items():
        deal = DealFactory(
            stream=ns.stream,
            name=f"Deal {letter}",
            created_at=when(stays[0][1]),
            status=outcome,
            closed_at=when(closed) if closed else None,
            lost_reason="Lost" if outcome == DealStatus.LOST else "",
            owner=ns.rep if letter in ("A", "C") else None,
        )
        ends = [when(e) for _, e in stays[1:]] + [when(closed) if closed else None]
        for (step, entered), exited in zip(stays, ends, strict=True):
            Visit.objects.create(
                deal=deal, step=ns.steps[step], entered_at=when(entered), exited_at=exited
            )
        deal_paths_refresh([deal.pk])
        ns.deals[letter] = deal
    return ns


def view(ns: SimpleNamespace, **kwargs) -> DiscoveryView:
    values = {"start": at(START), "end": at(END), "as_of": at(AS_OF)} | kwargs
    return DiscoveryView(stream_id=ns.stream.pk, **values)
