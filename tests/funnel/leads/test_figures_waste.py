"""The ``waste`` part of the Leads result (funnel.leads.waste), worked out by hand.

The log (``seller_base``: window 7 Sep – 5 Oct 2026, as of 5 Oct 00:00; hand-offs at MQL and
SQL, the pull). Arrivals are visits at MQL or SQL; a decision's hours are from the arrival:

=======  ====================================================================  =====  ======
arrival  entered; decision (reason)                                             hours  bin
=======  ====================================================================  =====  ======
A1       MQL Tue 8 Sep 09:00; accept 09:30                                      0.5    0–1
A2a      MQL 8 Sep 09:00; reject 11:00 (Bad fit)                                2      1–4
A2b      MQL 10 Sep 09:00; reject 15:00 (Bad fit)                               6      4–8
A2c      MQL 12 Sep 09:00; reject 13 Sep 09:00 (No budget)                      24     24–72
A3a      MQL 15 Sep 09:00; recycle 16 Sep 09:00 (Not now), owner Ann            24     24–72
A3b      SQL 25 Sep 09:00 (after that recycle); none, open, untouched, Ann      –      waiting
A4       SQL 20 Sep 09:00; disqualify 23 Sep 09:00 (Competitor)                 72     72–168
A5       MQL 21 Sep 09:00; none; moved on 22 Sep; the SDR is the visit's actor  –      waiting
A6       MQL 22 Sep 09:00; none; 15 minutes of work logged                      –      waiting
A7       MQL 23 Sep 09:00; none, untouched; source "event"                      –      waiting
A8       MQL 24 Sep 09:00; accept 6 Oct (after the as-of): untouched by then    –      waiting
A9       SQL 26 Sep 09:00; accept 4 Oct 09:00                                   192    168+
A12a     MQL 9 Sep 09:00; recycle 10:00 (Not now)                               1      1–4
A12b     MQL 18 Sep 09:00; recycle 09:00 (Not now)                              0      0–1
A13      MQL 28 Sep 08:00; recycle 09:00 (Not now); at SQL 6 Oct, after as-of   1      1–4
A14      MQL 14 Sep 09:00; reject 09:45 (Bad fit); source "event", owner Ann    0.75   0–1
A15      MQL 30 Sep 09:00; reject 1 Oct 09:00 (No budget); again on 6 Oct       24     24–72
=======  ====================================================================  =====  ======

Outside the window: A10's arrivals at MQL in August, rejected 20 Aug and 8 Sep (Bad fit; the
second decision is in the window); A11 at MQL on 6 Oct.

- never touched: A3b, A7, A8 of 17 arrivals: 3/17;
- first touch: 0–1: A1, A12b, A14 (3); 1–4: A2a, A12a, A13 (3); 4–8: A2b (1); 8–24: 0;
  24–72: A2c, A3a, A15 (3); 72–168: A4 (1); 168+: A9 (1); still waiting A3b, A5, A6, A7,
  A8 (5); 12 + 5 = 17;
- ping-pong: rejects decided in the window on A2, A10, A14, A15 (4 cases); rejected more
  than once by the as-of: A2 (3 times), A10 (twice): 2, share 0.5, examples A2 then A10 (A15's
  second reject is after the as-of);
- reasons: Not now (recycle) 4, Bad fit (reject: A2a, A2b, A10, A14) 4, No budget 2,
  Competitor 1, of 11: cumulative 4/11, 8/11, 10/11, 1 (a tie by count goes by kind);
- recycle yield: A3, A12, A13 recycled in the window; A3 offered at SQL afterwards: 1 of 3,
  Wilson [0.061492, 0.792340].
"""

from __future__ import annotations

import pytest

from funnel.leads.bins import EDGES
from funnel.leads.models import HandoffDecision
from funnel.leads.waste import waste_figures
from funnel.models import Visit
from streams.models import TimeBasis
from tests.funnel.leads.hand_logs import at, case, decide, seller_base
from tests.funnel.leads.hand_logs import seller_view as view

pytestmark = pytest.mark.django_db
approx = pytest.approx


def bins(*counts: int) -> list[dict]:
    uppers = (1, 4, 8, 24, 72, 168, None)
    return [
        {"from_hours": low, "to_hours": high, "n": n}
        for low, high, n in zip(EDGES, uppers, counts, strict=True)
    ]


@pytest.fixture
def log():
    ns = seller_base()
    ns.cases = {}

    def add(name, *path, **kwargs):
        ns.cases[name] = case(ns, *path, **kwargs)
        return ns.cases[name]

    a1 = add("A1", ("MQL", "09-08 09:00", "09-08 09:30"), ("Qualify", "09-08 09:30", None))
    decide(ns, a1, "MQL", "accept", "09-08 09:30", actor=ns.sdr)
    a2 = add(
        "A2",
        ("MQL", "09-08 09:00", "09-08 11:00"),
        ("Capture", "09-08 11:00", "09-10 09:00"),
        ("MQL", "09-10 09:00", "09-10 15:00"),
        ("Capture", "09-10 15:00", "09-12 09:00"),
        ("MQL", "09-12 09:00", "09-13 09:00"),
        ("Capture", "09-13 09:00", None),
    )
    decide(ns, a2, "MQL", "reject", "09-08 11:00", "Bad fit", ns.sdr)
    decide(ns, a2, "MQL", "reject", "09-10 15:00", "Bad fit", ns.sdr)
    decide(ns, a2, "MQL", "reject", "09-13 09:00", "No budget", ns.sdr)
    a3 = add(
        "A3",
        ("MQL", "09-15 09:00", "09-16 09:00"),
        ("Nurture", "09-16 09:00", "09-25 09:00"),
        ("SQL", "09-25 09:00", None),
        owner=ns.ann,
    )
    decide(ns, a3, "MQL", "recycle", "09-16 09:00", "Not now")
    a4 = add("A4", ("SQL", "09-20 09:00", "09-23 09:00"), ("Nurture", "09-23 09:00", None))
    decide(ns, a4, "SQL", "disqualify", "09-23 09:00", "Competitor", ns.bob)
    add(
        "A5",
        ("MQL", "09-21 09:00", "09-22 09:00", ns.sdr),
        ("Qualify", "09-22 09:00", None),
    )
    add("A6", ("MQL", "09-22 09:00", None, None, 15))
    add("A7", ("MQL", "09-23 09:00", None), source="event")
    a8 = add("A8", ("MQL", "09-24 09:00", None))
    decide(ns, a8, "MQL", "accept", "10-06 00:00")
    a9 = add("A9", ("SQL", "09-26 09:00", None))
    decide(ns, a9, "SQL", "accept", "10-04 09:00", actor=ns.ann)
    a10 = add(
        "A10",
        ("MQL", "08-19 09:00", "08-20 09:00"),
        ("Capture", "08-20 09:00", "08-31 09:00"),
        ("MQL", "08-31 09:00", "09-08 09:00"),
        ("Capture", "09-08 09:00", None),
    )
    decide(ns, a10, "MQL", "reject", "08-20 09:00", "Bad fit")
    decide(ns, a10, "MQL", "reject", "09-08 09:00", "Bad fit")
    add("A11", ("MQL", "10-06 09:00", None))
    a12 = add(
        "A12",
        ("MQL", "09-09 09:00", "09-09 10:00"),
        ("Nurture", "09-09 10:00", "09-18 09:00"),
        ("MQL", "09-18 09:00", "09-18 09:00"),
        ("Nurture", "09-18 09:00", None),
    )
    decide(ns, a12, "MQL", "recycle", "09-09 10:00", "Not now")
    decide(ns, a12, "MQL", "recycle", "09-18 09:00", "Not now")
    a13 = add(
        "A13",
        ("MQL", "09-28 08:00", "09-28 09:00"),
        ("Nurture", "09-28 09:00", "10-06 09:00"),
        ("SQL", "10-06 09:00", None),
    )
    decide(ns, a13, "MQL", "recycle", "09-28 09:00", "Not now")
    a14 = add(
        "A14",
        ("MQL", "09-14 09:00", "09-14 09:45"),
        ("Capture", "09-14 09:45", None),
        source="event",
        owner=ns.ann,
    )
    decide(ns, a14, "MQL", "reject", "09-14 09:45", "Bad fit")
    a15 = add(
        "A15",
        ("MQL", "09-30 09:00", "10-01 09:00"),
        ("Capture", "10-01 09:00", "10-05 09:00"),
        ("MQL", "10-05 09:00", "10-06 09:00"),
        ("Capture", "10-06 09:00", None),
    )
    decide(ns, a15, "MQL", "reject", "10-01 09:00", "No budget")
    decide(ns, a15, "MQL", "reject", "10-06 09:00", "No budget")
    return ns


def test_waste_worked_by_hand(log):
    c = log.cases
    assert waste_figures(view(log)) == {
        "never_touched": {"n": 3, "arrivals": 17, "share": approx(3 / 17)},
        "first_touch_histogram": bins(3, 3, 1, 0, 3, 1, 1),
        "still_waiting": 5,
        "ping_pong": {
            "cases": 2,
            "rejected_cases": 4,
            "share": 0.5,
            "examples": [c["A2"].pk, c["A10"].pk],
        },
        "reasons": [
            {"kind": "recycle", "label": "Not now", "n": 4, "cumulative_share": approx(4 / 11)},
            {"kind": "reject", "label": "Bad fit", "n": 4, "cumulative_share": approx(8 / 11)},
            {"kind": "reject", "label": "No budget", "n": 2, "cumulative_share": approx(10 / 11)},
            {"kind": "disqualify", "label": "Competitor", "n": 1, "cumulative_share": 1.0},
        ],
        "recycle_yield": {
            "recycled": 3,
            "became_sql": 1,
            "rate": approx(1 / 3),
            "low": approx(0.0614919, abs=1e-6),
            "high": approx(0.7923404, abs=1e-6),
        },
    }


def test_as_of(log):
    """As of Wed 16 Sep 00:00: arrivals A1, A2a–c, A3a, A12a, A14 (7); A3a is decided only
    at 09:00, after the as-of, and untouched: never touched 1/7, still waiting 1; the others
    in 0–1 (A1, A14), 1–4 (A2a, A12a), 4–8 (A2b), 24–72 (A2c). Ping-pong: A2, A10, A14 had a
    reject in the window by then (3), A2 and A10 more than one. Reasons: Bad fit 4, then the
    ties of 1 by kind: Not now (recycle, A12a), No budget (A2c); of 6. Recycled: A12 (not
    offered at SQL by then)."""
    c = log.cases
    assert waste_figures(view(log, as_of=at("09-16 00:00"))) == {
        "never_touched": {"n": 1, "arrivals": 7, "share": approx(1 / 7)},
        "first_touch_histogram": bins(2, 2, 1, 0, 1, 0, 0),
        "still_waiting": 1,
        "ping_pong": {
            "cases": 2,
            "rejected_cases": 3,
            "share": approx(2 / 3),
            "examples": [c["A2"].pk, c["A10"].pk],
        },
        "reasons": [
            {"kind": "reject", "label": "Bad fit", "n": 4, "cumulative_share": approx(4 / 6)},
            {"kind": "recycle", "label": "Not now", "n": 1, "cumulative_share": approx(5 / 6)},
            {"kind": "reject", "label": "No budget", "n": 1, "cumulative_share": 1.0},
        ],
        "recycle_yield": {
            "recycled": 1,
            "became_sql": 0,
            "rate": 0.0,
            "low": 0.0,
            "high": approx(0.7934507, abs=1e-6),
        },
    }


def test_source_filter(log):
    """Source "event": A7 (untouched, waiting) and A14 (rejected once, 0.75 h)."""
    assert waste_figures(view(log, source="event")) == {
        "never_touched": {"n": 1, "arrivals": 2, "share": 0.5},
        "first_touch_histogram": bins(1, 0, 0, 0, 0, 0, 0),
        "still_waiting": 1,
        "ping_pong": {"cases": 0, "rejected_cases": 1, "share": 0.0, "examples": []},
        "reasons": [{"kind": "reject", "label": "Bad fit", "n": 1, "cumulative_share": 1.0}],
        "recycle_yield": {
            "recycled": 0,
            "became_sql": 0,
            "rate": None,
            "low": None,
            "high": None,
        },
    }


def test_owner_filter(log):
    """Owner Ann: A3 (A3a recycled after 24 h, A3b untouched and waiting; offered at SQL
    after the recycle: 1 of 1) and A14 (rejected once, 0.75 h). Reasons tie at 1: recycle
    before reject."""
    assert waste_figures(view(log, owner_id=log.ann.pk)) == {
        "never_touched": {"n": 1, "arrivals": 3, "share": approx(1 / 3)},
        "first_touch_histogram": bins(1, 0, 0, 0, 1, 0, 0),
        "still_waiting": 1,
        "ping_pong": {"cases": 0, "rejected_cases": 1, "share": 0.0, "examples": []},
        "reasons": [
            {"kind": "recycle", "label": "Not now", "n": 1, "cumulative_share": 0.5},
            {"kind": "reject", "label": "Bad fit", "n": 1, "cumulative_share": 1.0},
        ],
        "recycle_yield": {
            "recycled": 1,
            "became_sql": 1,
            "rate": 1.0,
            "low": approx(0.2065493, abs=1e-6),
            "high": 1.0,
        },
    }


def test_working_basis_reads_the_working_response(log):
    """In working time the bins read each decision's ``response_w``: here 0 for every decision
    but A9's 5 working hours (4–8) and A1's, left without an offset (in no bin)."""
    HandoffDecision.objects.update(response_w=0)
    HandoffDecision.objects.filter(deal=log.cases["A9"]).update(response_w=5 * 3600)
    HandoffDecision.objects.filter(deal=log.cases["A1"]).update(response_w=None)
    figures = waste_figures(view(log, basis=TimeBasis.WORKING))
    assert figures["first_touch_histogram"] == bins(10, 0, 1, 0, 0, 0, 0)
    assert figures["still_waiting"] == 5
    assert figures["never_touched"] == {"n": 3, "arrivals": 17, "share": approx(3 / 17)}


def test_logged_zero_minutes_is_no_work(log):
    """A6's logged work set to 0 minutes: no work, so A6 joins the never touched (4/17)."""
    Visit.objects.filter(deal=log.cases["A6"]).update(work_minutes=0)
    assert waste_figures(view(log))["never_touched"] == {
        "n": 4,
        "arrivals": 17,
        "share": approx(4 / 17),
    }


def test_without_handoffs():
    """A stream without a waterfall: nothing arrives; every figure is empty or null."""
    ns = seller_base()
    HandoffDecision.objects.all().delete()
    ns.mql.delete()
    ns.sql.delete()
    case(ns, ("MQL", "09-08 09:00", None))
    assert waste_figures(view(ns)) == {
        "never_touched": {"n": 0, "arrivals": 0, "share": None},
        "first_touch_histogram": bins(0, 0, 0, 0, 0, 0, 0),
        "still_waiting": 0,
        "ping_pong": {"cases": 0, "rejected_cases": 0, "share": None, "examples": []},
        "reasons": [],
        "recycle_yield": {
            "recycled": 0,
            "became_sql": None,
            "rate": None,
            "low": None,
            "high": None,
        },
    }
