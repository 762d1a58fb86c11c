"""The ``queue`` part of the Leads result (funnel.leads.capacity), worked out by hand.

The log (``seller_base``: window 7 Sep – 5 Oct 2026, 4 weeks, as of 5 Oct 00:00; the pull
hand-off at SQL; sellers Ann, limit 3, and Bob, limit 5: Σ limits 8). Each case is created at
its first visit:

====  =====  ========================================================  ===========  =====
case  owner  at SQL (arrival → exit; decision)                          close        source
====  =====  ========================================================  ===========  =====
W1    –      Sun 4 Oct 00:00 → open; none                               –            event
W2    –      Fri 2 Oct 00:00 → open; none                               –            event
W3    –      Mon 28 Sep 00:00 → open; none                              –            inbound
W4    –      Tue 29 Sep 00:00 → open; accept Tue 6 Oct (after as-of)     –            inbound
X1    Ann    Thu 1 Oct 00:00 → open; accept 1 Oct 12:00                 –            inbound
X2    –      Wed 30 Sep 00:00 → Thu 1 Oct 00:00 (moved on undecided)    –            inbound
X3    –      Tue 6 Oct 00:00 → open (after as-of)                       –            inbound
C1    Bob    20 Aug → 21 Aug; accept 21 Aug 00:00                       won 11 Sep   inbound
C2    Bob    25 Aug, accept 25 Aug 12:00; again 31 Aug, accept 1 Sep   lost 15 Sep  inbound
C3    Ann    Mon 7 Sep 12:00 → 8 Sep; accept 8 Sep 00:00               won 29 Sep   inbound
C4    Ann    Sat 19 Sep → 20 Sep; accept 20 Sep 00:00                  won 8 Oct    inbound
C5    Bob    30 Jun → 1 Jul; accept 1 Jul 00:00                        won 30 Aug   inbound
C6    Bob    Wed 9 Sep → 10 Sep; accept 10 Sep 00:00                   won 24 Sep   inbound
C7    Bob    a case at Discovery since 1 Sep, open                      –            inbound
====  =====  ========================================================  ===========  =====

- waiting (open at SQL and undecided at the as-of): W1, W2, W3, W4 (its decision is after):
  4; ages 24, 72, 168, 144 h; median (72 + 144) ÷ 2 = 108 h; oldest 168 h.
- arrivals at SQL in the window: W1, W2, W3, W4, X1, X2, C3, C4, C6 = 9 → 9 ÷ 4 = 2.25 a week.
- pulls (accepts at SQL decided in the window): C3, C4, C6, X1 = 4 → 1.0 a week.
- capacity: cases pulled and closed by the as-of with the close in the window: C1 (21 Aug →
  11 Sep, 3 weeks), C2 (its last pull, 1 Sep → 15 Sep, 2 weeks), C3 (8 → 29 Sep, 3 weeks),
  C6 (10 → 24 Sep, 2 weeks); not C4 (closed after the as-of) nor C5 (closed before the
  window). Median 2.5 weeks; capacity 8 ÷ 2.5 = 3.2 a week.
- verdict: 2.25 < 0.9 × 3.2 = 2.88: under.
- sellers at the as-of: Ann owns X1 and C4 (closed after the as-of) open: 2; Bob owns C7: 1.
"""

from __future__ import annotations

from datetime import time

import pytest

from funnel.leads.capacity import queue_figures, verdict
from funnel.leads.models import Handoff, HandoffDecision
from funnel.models import DealStatus
from streams.calendars.services import CalendarSpec, calendar_create
from streams.calendars.working_time import SpanSpec
from streams.models import Role, TimeBasis
from tests.factories import MembershipFactory
from tests.funnel.leads.hand_logs import at, case, decide, seller_base
from tests.funnel.leads.hand_logs import seller_view as view
from tests.working_offsets import fill_offsets

pytestmark = pytest.mark.django_db


@pytest.fixture
def log():
    ns = seller_base()
    case(ns, ("SQL", "10-04 00:00", None), source="event")  # W1
    case(ns, ("SQL", "10-02 00:00", None), source="event")  # W2
    case(ns, ("SQL", "09-28 00:00", None))  # W3
    w4 = case(ns, ("SQL", "09-29 00:00", None))
    decide(ns, w4, "SQL", "accept", "10-06 00:00", actor=ns.bob)
    x1 = case(ns, ("SQL", "10-01 00:00", None), owner=ns.ann)
    decide(ns, x1, "SQL", "accept", "10-01 12:00", actor=ns.ann)
    case(ns, ("SQL", "09-30 00:00", "10-01 00:00"), ("Discovery", "10-01 00:00", None))  # X2
    case(ns, ("SQL", "10-06 00:00", None))  # X3
    pulled = [  # (arrival, pull, close, owner, status)
        ("08-20 00:00", "08-21 00:00", "09-11 00:00", ns.bob, DealStatus.WON),  # C1
        ("09-07 12:00", "09-08 00:00", "09-29 00:00", ns.ann, DealStatus.WON),  # C3
        ("09-19 00:00", "09-20 00:00", "10-08 00:00", ns.ann, DealStatus.WON),  # C4
        ("06-30 00:00", "07-01 00:00", "08-30 00:00", ns.bob, DealStatus.WON),  # C5
        ("09-09 00:00", "09-10 00:00", "09-24 00:00", ns.bob, DealStatus.WON),  # C6
    ]
    for arrival, pull, close, owner, status in pulled:
        deal = case(
            ns,
            ("SQL", arrival, pull),
            ("Discovery", pull, close),
            owner=owner,
            closed=close,
            status=status,
        )
        decide(ns, deal, "SQL", "accept", pull, actor=owner)
    c2 = case(
        ns,
        ("SQL", "08-25 00:00", "08-26 00:00"),
        ("Nurture", "08-26 00:00", "08-31 00:00"),
        ("SQL", "08-31 00:00", "09-01 00:00"),
        ("Discovery", "09-01 00:00", "09-15 00:00"),
        owner=ns.bob,
        closed="09-15 00:00",
        status=DealStatus.LOST,
    )
    decide(ns, c2, "SQL", "accept", "08-25 12:00", actor=ns.bob)
    decide(ns, c2, "SQL", "accept", "09-01 00:00", actor=ns.bob)
    case(ns, ("Discovery", "09-01 00:00", None), owner=ns.bob)  # C7
    case(ns, ("Discovery", "10-06 00:00", None), owner=ns.bob)  # created after the as-of
    return ns


def sellers(ns, ann_wip, bob_wip):
    return [
        {"user": ns.ann.pk, "label": "Ann Able", "wip": ann_wip, "limit": 3},
        {"user": ns.bob.pk, "label": "Bob Best", "wip": bob_wip, "limit": 5},
    ]


def test_queue_worked_by_hand(log):
    assert queue_figures(view(log)) == {
        "waiting": 4,
        "median_age_hours": pytest.approx(108.0),
        "oldest_age_hours": pytest.approx(168.0),
        "arrivals_per_week": pytest.approx(2.25),
        "pulls_per_week": pytest.approx(1.0),
        "capacity_per_week": pytest.approx(3.2),
        "sellers": sellers(log, 2, 1),
        "verdict": "under",
    }


def test_as_of_reads_nothing_after_it(log):
    """As of Wed 30 Sep 00:00: waiting W3 (48 h), W4 (24 h) and X2 (entered at the as-of,
    exited after it: 0 h); median 24, oldest 48. Arrivals W3, W4, X2, C3, C4, C6 = 6 → 1.5 a
    week; pulls C3, C4, C6 → 0.75. Capacity: the same four closes, 3.2. Sellers: Ann owns C4
    (X1 is created after, C3 closed on 29 Sep): 1; Bob C7: 1."""
    assert queue_figures(view(log, as_of=at("09-30 00:00"))) == {
        "waiting": 3,
        "median_age_hours": pytest.approx(24.0),
        "oldest_age_hours": pytest.approx(48.0),
        "arrivals_per_week": pytest.approx(1.5),
        "pulls_per_week": pytest.approx(0.75),
        "capacity_per_week": pytest.approx(3.2),
        "sellers": sellers(log, 1, 1),
        "verdict": "under",
    }


def test_source_filter(log):
    """Source "event": W1 and W2 wait (24 h, 72 h: median 48) and arrived (0.5 a week);
    nothing pulled, so no capacity and no verdict; the sellers own no "event" case."""
    assert queue_figures(view(log, source="event")) == {
        "waiting": 2,
        "median_age_hours": pytest.approx(48.0),
        "oldest_age_hours": pytest.approx(72.0),
        "arrivals_per_week": pytest.approx(0.5),
        "pulls_per_week": pytest.approx(0.0),
        "capacity_per_week": None,
        "sellers": sellers(log, 0, 0),
        "verdict": "unknown",
    }


def test_owner_filter(log):
    """Owner Ann: no waiting case is hers; arrivals X1, C3, C4 (0.75 a week), pulls the same;
    capacity her limit 3 ÷ the median of C3's 3 weeks = 1.0; 0.75 < 0.9: under; the sellers
    are Ann alone."""
    assert queue_figures(view(log, owner_id=log.ann.pk)) == {
        "waiting": 0,
        "median_age_hours": None,
        "oldest_age_hours": None,
        "arrivals_per_week": pytest.approx(0.75),
        "pulls_per_week": pytest.approx(0.75),
        "capacity_per_week": pytest.approx(1.0),
        "sellers": [{"user": log.ann.pk, "label": "Ann Able", "wip": 2, "limit": 3}],
        "verdict": "under",
    }


def test_working_ages(log):
    """A UTC calendar, Monday to Friday 09:00–17:00 (8 h a day). As of Mon 5 Oct 00:00, the
    working ages: W1 (Sun 4 Oct) 0 h, W2 (Fri 2 Oct 00:00) 8 h, W4 (Tue 29 Sep) 32 h, W3
    (Mon 28 Sep) 40 h: median (8 + 32) ÷ 2 = 20, oldest 40. The rates and the capacity are
    calendar weeks in both bases (Little's law), so they do not change."""
    calendar_create(
        team=log.team,
        by=MembershipFactory(team=log.team, role=Role.MANAGER).user,
        spec=CalendarSpec(
            name="UTC office",
            time_zone="UTC",
            is_default=True,
            spans=[SpanSpec(day, time(9), time(17)) for day in range(5)],
        ),
    )
    fill_offsets(log.stream)
    figures = queue_figures(view(log, basis=TimeBasis.WORKING))
    assert figures["waiting"] == 4
    assert figures["median_age_hours"] == pytest.approx(20.0)
    assert figures["oldest_age_hours"] == pytest.approx(40.0)
    assert figures["arrivals_per_week"] == pytest.approx(2.25)
    assert figures["capacity_per_week"] == pytest.approx(3.2)
    assert figures["verdict"] == "under"


def test_verdict_thresholds():
    """Over above 1.1 × capacity, under below 0.9 ×, level between (both edges level)."""
    assert verdict(2.21, 2.0) == "over"
    assert verdict(2.2, 2.0) == "level"
    assert verdict(2.0, 2.0) == "level"
    assert verdict(1.8, 2.0) == "level"
    assert verdict(1.79, 2.0) == "under"
    assert verdict(0.0, 2.0) == "under"
    assert verdict(1.0, None) == "unknown"
    assert verdict(None, 2.0) == "unknown"


def test_over_when_marketing_over_produces(log):
    """A window of the one week from Mon 28 Sep: arrivals W3, W4, X2, X1, W2, W1 = 6 a week;
    the one close in it is C3's (29 Sep, pulled 8 Sep: 3 weeks), so capacity 8 ÷ 3 = 2.667;
    6 > 1.1 × 2.667 = 2.93: over."""
    figures = queue_figures(view(log, start=at("09-28 00:00")))
    assert figures["arrivals_per_week"] == pytest.approx(6.0)
    assert figures["pulls_per_week"] == pytest.approx(1.0)  # X1
    assert figures["capacity_per_week"] == pytest.approx(8 / 3)
    assert figures["verdict"] == "over"


def test_no_pull_handoff_no_queue(log):
    """Without a pull hand-off nothing waits and there is no capacity; the sellers remain."""
    HandoffDecision.objects.all().delete()
    Handoff.objects.filter(pk=log.sql.pk).delete()
    assert queue_figures(view(log)) == {
        "waiting": 0,
        "median_age_hours": None,
        "oldest_age_hours": None,
        "arrivals_per_week": None,
        "pulls_per_week": None,
        "capacity_per_week": None,
        "sellers": sellers(log, 2, 1),
        "verdict": "unknown",
    }
