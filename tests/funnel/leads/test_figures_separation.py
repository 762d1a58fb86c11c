"""The ``separation`` part of the Leads result (funnel.leads.separation), worked out by hand.

The log (``seller_base``: window 7 Sep – 5 Oct 2026, the ISO weeks of 7, 14, 21 and 28 Sep;
lead steps Capture 0.5 h, MQL, Qualify 1 h and the recycle step Nurture 1 h; selling steps
after the pull step SQL: Discovery 2 h, Proposal 3 h; sellers Ann and Bob). Visits (actor,
logged work; planned hours where none is logged):

====  =====  ======  ===============================================================  =======
case  owner  source  path                                                             accept
====  =====  ======  ===============================================================  =======
S1    Ann    inb.    Qualify 7 Sep (Ann, 120 min); SQL 8 Sep; Discovery 9 Sep (Ann)  8 Sep
S2    Bob    inb.    Nurture 14 Sep (Bob, planned 1 h); Proposal 15 Sep (Bob, 3 h)    –
S3    Ann    inb.    Capture 28 Sep (Ann, 30 min); Discovery 29 Sep (Ann, 270 min);   –
                     Proposal 30 Sep
S4    Ann    inb.    SQL 14 Sep; Discovery 16 Sep 09:00                               16 Sep 09:00
S5    –      event   SQL 21 Sep; Discovery 22 Sep 09:00; Nurture 23 Sep; Discovery    22 Sep 10:00
                     24 Sep
S6    Bob    inb.    Discovery 6 Sep (before the window); Proposal 8 Sep              –
S7    Ann    inb.    Discovery 8 Sep (its first visit); Nurture 28 Sep; Discovery     –
                     29 Sep
S8    –      inb.    Qualify 21 Sep (the SDR, 60 min); Qualify 6 Sep and 6 Oct (Ann)  –
====  =====  ======  ===============================================================  =======

Prospecting share (the sellers' visits, by week of entry):

- 7 Sep: Ann's Qualify 2 h (lead) + Discovery 2 h planned = 4 h, 2 on lead steps: 0.5;
- 14 Sep: Bob's Nurture 1 h (lead: the recycle step) + Proposal 3 h = 4 h: 0.25;
- 21 Sep: only the SDR's visit: no seller hours, the week is left out;
- 28 Sep: Ann's Capture 0.5 h + Discovery 4.5 h = 5 h: 0.1.
  By rep: Ann 9 h, 2.5 on lead steps (5/18); Bob 4 h, 1 (0.25). S8's visits of 6 Sep and
  6 Oct are outside the window.

Trend over the weeks x = 0, 1, 3 (21 Sep is a gap) and shares 0.5, 0.25, 0.1: x̄ = 4/3,
ȳ = 0.85/3; Sxx = 16/9 + 1/9 + 25/9 = 42/9; Sxy = −(4/3)(0.65/3) + (1/3)(0.1/3) −
(5/3)(0.55/3) = −5.25/9; slope = Sxy / Sxx = −5.25/42 = −0.125 a week. r² = Sxy² / (Sxx
Syy) with Syy = (0.65² + 0.1² + 0.55²)/9 = 0.735/9: r² = 27.5625/(42 × 0.735) = 25/28; with
1 degree of freedom t = r √(1 / (1 − r²)) = −√(25/3) = −5/√3 and the two-sided p of
Student's t with one degree of freedom (Cauchy) is 1 − (2/π) atan(5/√3) = (2/π) atan(√3/5).

Skipped (entries into Discovery or Proposal from another step or as the first visit):

- 7 Sep: S1 (accepted before: no), S7 (first visit, never accepted: skipped): 2, 1;
- 14 Sep: S2 (from Nurture, no accept: skipped), S4 (accepted at the very instant: no): 2, 1;
  S6's move Discovery → Proposal is not an entry;
- 21 Sep: S5 (accepted an hour after entering: skipped; its second entry on 24 Sep, after
  the accept, is the same case in the same week): 1, 1;
- 28 Sep: S3 (from Capture: skipped; Discovery → Proposal is not an entry), S7 again: 2, 2.

By owner over the window (each case once): Ann S1, S3, S4, S7: 4, 2 skipped; Bob S2: 1, 1;
no owner S5: 1, 1.

Wilson 95 % (z = 1.959964): 1 of 2: 0.5 ± 0.405469 about the centre 0.5 → [0.094531,
0.905469]; 1 of 1 and 2 of 2: centre (k + z²/2)/(n + z²), with the upper bound 1; 2 of 4:
[0.150039, 0.849961].
"""

from __future__ import annotations

import math

import pytest

from funnel.leads.models import HandoffDecision
from funnel.leads.separation import separation_figures, trend
from tests.funnel.leads.hand_logs import at, case, decide, seller_base
from tests.funnel.leads.hand_logs import seller_view as view

pytestmark = pytest.mark.django_db
approx = pytest.approx

HALF = {"rate": 0.5, "low": approx(0.0945312, abs=1e-6), "high": approx(0.9054688, abs=1e-6)}
ONE = {"rate": 1.0, "low": approx(0.2065493, abs=1e-6), "high": 1.0}
TWO_OF_TWO = {"rate": 1.0, "low": approx(0.3423802, abs=1e-6), "high": 1.0}
TWO_OF_FOUR = {"rate": 0.5, "low": approx(0.1500390, abs=1e-6), "high": approx(0.8499610, abs=1e-6)}


@pytest.fixture
def log():
    ns = seller_base()
    ann, bob = ns.ann, ns.bob
    s1 = case(
        ns,
        ("Qualify", "09-07 09:00", "09-08 09:00", ann, 120),
        ("SQL", "09-08 09:00", "09-09 09:00"),
        ("Discovery", "09-09 09:00", None, ann),
        owner=ann,
    )
    decide(ns, s1, "SQL", "accept", "09-08 12:00", actor=ann)
    case(
        ns,
        ("Nurture", "09-14 09:00", "09-15 09:00", bob),
        ("Proposal", "09-15 09:00", None, bob),
        owner=bob,
    )
    case(
        ns,
        ("Capture", "09-28 09:00", "09-29 09:00", ann, 30),
        ("Discovery", "09-29 09:00", "09-30 09:00", ann, 270),
        ("Proposal", "09-30 09:00", None),
        owner=ann,
    )
    s4 = case(
        ns, ("SQL", "09-14 09:00", "09-16 09:00"), ("Discovery", "09-16 09:00", None), owner=ann
    )
    decide(ns, s4, "SQL", "accept", "09-16 09:00", actor=ann)
    s5 = case(
        ns,
        ("SQL", "09-21 09:00", "09-22 09:00"),
        ("Discovery", "09-22 09:00", "09-23 09:00"),
        ("Nurture", "09-23 09:00", "09-24 09:00"),
        ("Discovery", "09-24 09:00", None),
        source="event",
    )
    decide(ns, s5, "SQL", "accept", "09-22 10:00")
    case(
        ns,
        ("Discovery", "09-06 09:00", "09-08 09:00"),
        ("Proposal", "09-08 09:00", None),
        owner=bob,
    )
    case(
        ns,
        ("Discovery", "09-08 09:00", "09-28 09:00"),
        ("Nurture", "09-28 09:00", "09-29 09:00"),
        ("Discovery", "09-29 09:00", None),
        owner=ann,
    )
    case(
        ns,
        ("Qualify", "09-06 09:00", "09-21 09:00", ann, 600),
        ("Qualify", "09-21 09:00", "10-06 09:00", ns.sdr, 60),
        ("Qualify", "10-06 09:00", None, ann, 600),
    )
    return ns


def test_separation_worked_by_hand(log):
    figures = separation_figures(view(log))
    assert figures["prospecting_share"] == [
        {"week": "2026-09-07", "share": 0.5, "hours": 4.0, "prospecting_hours": 2.0},
        {"week": "2026-09-14", "share": 0.25, "hours": 4.0, "prospecting_hours": 1.0},
        {"week": "2026-09-28", "share": approx(0.1), "hours": 5.0, "prospecting_hours": 0.5},
    ]
    assert figures["by_rep"] == [
        {
            "user": log.ann.pk,
            "label": "Ann Able",
            "share": approx(5 / 18),
            "hours": 9.0,
            "prospecting_hours": 2.5,
        },
        {
            "user": log.bob.pk,
            "label": "Bob Best",
            "share": 0.25,
            "hours": 4.0,
            "prospecting_hours": 1.0,
        },
    ]
    assert figures["trend_per_week"] == approx(-0.125)
    assert figures["trend_p"] == approx(2 / math.pi * math.atan(math.sqrt(3) / 5))
    assert figures["skipped_share"] == [
        {"week": "2026-09-07", "n": 2, "skipped": 1, **HALF},
        {"week": "2026-09-14", "n": 2, "skipped": 1, **HALF},
        {"week": "2026-09-21", "n": 1, "skipped": 1, **ONE},
        {"week": "2026-09-28", "n": 2, "skipped": 2, **TWO_OF_TWO},
    ]
    assert figures["skipped_by_rep"] == [
        {"user": log.ann.pk, "label": "Ann Able", "n": 4, "skipped": 2, **TWO_OF_FOUR},
        {"user": log.bob.pk, "label": "Bob Best", "n": 1, "skipped": 1, **ONE},
        {"user": None, "label": "", "n": 1, "skipped": 1, **ONE},
    ]


def test_as_of(log):
    """As of Tue 22 Sep 09:30: the prospecting weeks of 7 and 14 Sep only (two: no trend); S5's
    first entry (22 Sep 09:00) is in, its accept (10:00) after: skipped; S3's and S7's
    entries of 29 Sep are not there yet."""
    figures = separation_figures(view(log, as_of=at("09-22 09:30")))
    assert [row["week"] for row in figures["prospecting_share"]] == ["2026-09-07", "2026-09-14"]
    assert figures["trend_per_week"] is None
    assert figures["trend_p"] is None
    assert figures["skipped_share"] == [
        {"week": "2026-09-07", "n": 2, "skipped": 1, **HALF},
        {"week": "2026-09-14", "n": 2, "skipped": 1, **HALF},
        {"week": "2026-09-21", "n": 1, "skipped": 1, **ONE},
    ]
    assert [(r["user"], r["n"], r["skipped"]) for r in figures["skipped_by_rep"]] == [
        (log.ann.pk, 3, 1),
        (log.bob.pk, 1, 1),
        (None, 1, 1),
    ]


def test_source_filter(log):
    """Source "event" is S5 alone: no seller worked on it; one skipped entry."""
    assert separation_figures(view(log, source="event")) == {
        "prospecting_share": [],
        "by_rep": [],
        "skipped_share": [{"week": "2026-09-21", "n": 1, "skipped": 1, **ONE}],
        "skipped_by_rep": [{"user": None, "label": "", "n": 1, "skipped": 1, **ONE}],
        "trend_per_week": None,
        "trend_p": None,
    }


def test_owner_filter(log):
    """Owner Bob: his cases S2 and S6; Bob's hours on S2 (the week of 14 Sep); S2 skipped."""
    assert separation_figures(view(log, owner_id=log.bob.pk)) == {
        "prospecting_share": [
            {"week": "2026-09-14", "share": 0.25, "hours": 4.0, "prospecting_hours": 1.0}
        ],
        "by_rep": [
            {
                "user": log.bob.pk,
                "label": "Bob Best",
                "share": 0.25,
                "hours": 4.0,
                "prospecting_hours": 1.0,
            }
        ],
        "skipped_share": [{"week": "2026-09-14", "n": 1, "skipped": 1, **ONE}],
        "skipped_by_rep": [{"user": log.bob.pk, "label": "Bob Best", "n": 1, "skipped": 1, **ONE}],
        "trend_per_week": None,
        "trend_p": None,
    }


def test_trend_on_a_known_series():
    """Shares 0.4, 0.3, 0.3, 0.2 in consecutive weeks: Σ(x − 1.5)(y − 0.3) = −0.3,
    Σ(x − 1.5)² = 5, slope −0.06; Σ(y − 0.3)² = 0.02, r² = 0.09 / (5 × 0.02) = 0.9, t = −√18
    with 2 degrees of freedom, whose two-sided p is 1 − |t| / √(t² + 2) = 1 − √0.9. A
    constant series has slope 0 and no p; two weeks no trend."""
    slope, p = trend(
        [("2026-09-07", 0.4), ("2026-09-14", 0.3), ("2026-09-21", 0.3), ("2026-09-28", 0.2)]
    )
    assert slope == approx(-0.06)
    assert p == approx(1 - math.sqrt(0.9))
    assert trend([("2026-09-07", 0.3), ("2026-09-14", 0.3), ("2026-09-21", 0.3)]) == (0.0, None)
    assert trend([("2026-09-07", 0.3), ("2026-09-14", None), ("2026-09-21", 0.2)]) == (None, None)


def test_no_pull_handoff(log):
    HandoffDecision.objects.all().delete()
    log.sql.delete()
    assert separation_figures(view(log)) == {
        "prospecting_share": [],
        "by_rep": [],
        "skipped_share": [],
        "skipped_by_rep": [],
        "trend_per_week": None,
        "trend_p": None,
    }
