"""Response times and the SLA per hand-off (docs/metrics.md §8) on the hand-worked logs of
``hand_logs`` (read its docstring for the cases; every number below is worked from it).

Wilson 95 % intervals (z = 1.959964), worked out once: 2/7 → 0.0822–0.6411; 1/1 →
0.2065–1; 0/1 → 0–0.7935; 2/4 → 0.15–0.85; 0/2 → 0–0.6576; 2/5 → 0.1176–0.7693; 1/3 →
0.0615–0.7923; 1/2 → 0.0945–0.9055.
"""

from __future__ import annotations

import pytest

from funnel.leads.models import Handoff
from funnel.leads.sla_figures import response_figures, sla_figures
from funnel.leads.view import LeadsView
from streams.models import TimeBasis
from tests.funnel.leads.hand_logs import at, base, elapsed_log, working_log

pytestmark = pytest.mark.django_db

START, END, AS_OF = at("2026-08-24T00:00Z"), at("2026-09-14T00:00Z"), at("2026-09-20T00:00Z")


def view(ns, **kwargs) -> LeadsView:
    values = {"start": START, "end": END, "as_of": AS_OF} | kwargs
    return LeadsView(stream_id=ns.stream.pk, **values)


def bins(*counts: int) -> list[dict]:
    edges = [0, 1, 4, 8, 24, 72, 168, None]
    return [
        {"from_hours": edges[i], "to_hours": edges[i + 1], "n": n} for i, n in enumerate(counts)
    ]


def rate(due, met, value, low, high) -> dict:
    return {"due": due, "met": met, "rate": value, "low": low, "high": high}


@pytest.fixture
def log(db):
    return elapsed_log()


# --- Response ---------------------------------------------------------------------------------


def test_response_per_hand_off_over_the_decisions_made_in_the_window(log):
    """MQL: F 1/3 h, A 1.5, B's recycle 8 and accept 0.5, C's reject 24, E's disqualify 69
    (G's is after the window). Sorted 1/3, 0.5, 1.5, 8, 24, 69: median (1.5 + 8) / 2 = 4.75;
    p85 at rank 4.25: 24 + 0.25 × 45 = 35.25; p95 at 4.75: 24 + 0.75 × 45 = 57.75. Waiting
    now: D (B's second MQL visit was decided; C's was left). SQL: A pulled after 1.5 h;
    B waits."""
    assert response_figures(view(log)) == [
        {
            "handoff": log.mql.pk,
            "name": "MQL → SAL",
            "n": 6,
            "median_hours": 4.75,
            "p85_hours": 35.25,
            "p95_hours": 57.75,
            "histogram": bins(2, 1, 0, 1, 2, 0, 0),
            "waiting_now": 1,
        },
        {
            "handoff": log.sql.pk,
            "name": "SQL → Opportunity",
            "n": 1,
            "median_hours": 1.5,
            "p85_hours": 1.5,
            "p95_hours": 1.5,
            "histogram": bins(0, 1, 0, 0, 0, 0, 0),
            "waiting_now": 1,
        },
    ]


def test_a_response_of_exactly_an_edge_falls_in_the_bin_above_it(log):
    """B's recycle took exactly 8 hours: in 8–24, not 4–8 (see the histogram above); and
    as of Wed 26 Aug 20:00 sharp it is decided (at or before as_of)."""
    mql = response_figures(view(log, as_of=at("2026-08-26T20:00Z")))[0]
    # F 1/3, A 1.5, B 8: median 1.5, p85 1.5 + 0.7 × 6.5 = 6.05, p95 1.5 + 0.9 × 6.5 = 7.35.
    assert (mql["n"], mql["median_hours"], mql["p85_hours"], mql["p95_hours"]) == (
        3,
        1.5,
        6.05,
        7.35,
    )
    assert mql["histogram"] == bins(1, 1, 0, 1, 0, 0, 0)
    assert mql["waiting_now"] == 0


def test_waiting_now_and_decisions_as_of_an_earlier_instant(log):
    """As of Wed 2 Sep 12:00: C waits at MQL (rejected the next day), B at SQL; decisions by
    then: F, A, B's two (0.5 and 8 h) → 1/3, 0.5, 1.5, 8: median 1, p85 1.5 + 0.55 × 6.5 =
    5.075, p95 1.5 + 0.85 × 6.5 = 7.025."""
    mql, sql = response_figures(view(log, as_of=at("2026-09-02T12:00Z")))
    assert (mql["n"], mql["median_hours"], mql["p85_hours"], mql["p95_hours"]) == (
        4,
        1.0,
        5.075,
        7.025,
    )
    assert (mql["waiting_now"], sql["waiting_now"]) == (1, 1)


def test_response_with_filters(log):
    """Source event: C's reject (24 h) only; D waits. Owner rep1: F, A, B (2): 1/3, 0.5, 1.5,
    8 as above."""
    mql = response_figures(view(log, source="event"))[0]
    assert (mql["n"], mql["median_hours"], mql["waiting_now"]) == (1, 24.0, 1)
    assert mql["histogram"] == bins(0, 0, 0, 0, 1, 0, 0)
    mql, sql = response_figures(view(log, owner_id=log.rep1.pk))
    assert (mql["n"], mql["median_hours"], mql["waiting_now"]) == (4, 1.0, 0)
    assert (sql["n"], sql["waiting_now"]) == (1, 1)


def test_response_in_working_time_is_the_steps_lane_calendar(db):
    """P: Mon 17:00 → Tue 09:30 Berlin is 16.5 elapsed hours, 2.5 working hours of the SDR
    lane's "Early" calendar (07:00–15:00); R: 0.5 both. Working: median 1.5, p85 0.5 + 0.85
    × 2 = 2.2, p95 2.4; elapsed: 8.5, 0.5 + 0.85 × 16 = 14.1, 15.7. Q waits."""
    ns = working_log()
    window = {"start": at("2026-09-01T00:00Z"), "end": END, "as_of": at("2026-09-08T13:45Z")}
    working = response_figures(view(ns, basis=TimeBasis.WORKING, **window))[0]
    elapsed = response_figures(view(ns, **window))[0]
    assert {k: working[k] for k in ("n", "median_hours", "p85_hours", "p95_hours")} == {
        "n": 2,
        "median_hours": 1.5,
        "p85_hours": 2.2,
        "p95_hours": 2.4,
    }
    assert working["histogram"] == bins(1, 1, 0, 0, 0, 0, 0)
    assert (elapsed["median_hours"], elapsed["p85_hours"], elapsed["p95_hours"]) == (
        8.5,
        14.1,
        15.7,
    )
    assert elapsed["histogram"] == bins(1, 0, 0, 1, 0, 0, 0)
    assert working["waiting_now"] == elapsed["waiting_now"] == 1


def test_a_stream_without_hand_offs_has_no_response_nor_sla(db):
    ns = base()
    Handoff.objects.filter(stream=ns.stream).delete()
    log = ns
    assert response_figures(view(log)) == []
    assert sla_figures(view(log)) == []


# --- SLA --------------------------------------------------------------------------------------


def test_sla_due_met_and_rate_by_rep_source_and_week(log):
    """MQL (1 hour), arrivals entered in the window: F met (1/3 h, sdr), A 1.5 (sdr), B 8
    (sdr), B 0.5 met (sdr), C 24 (sdr2), D undecided for days (no owner), E 69 (no actor:
    its owner rep2). Due 7, met 2. SQL (2 hours): A met (1.5 h, seller); B undecided for
    days (its owner rep1): due 2, met 1."""
    mql, sql = sla_figures(view(log))
    assert {k: mql[k] for k in ("handoff", "name", "sla_hours")} == {
        "handoff": log.mql.pk,
        "name": "MQL → SAL",
        "sla_hours": 1.0,
    }
    assert {k: mql[k] for k in ("due", "met", "rate", "low", "high")} == rate(
        7, 2, 0.2857, 0.0822, 0.6411
    )
    assert mql["by_rep"] == [
        {"key": str(log.rep2.pk), "label": "rep2", **rate(1, 0, 0.0, 0.0, 0.7935)},
        {"key": str(log.sdr.pk), "label": "sdr", **rate(4, 2, 0.5, 0.15, 0.85)},
        {"key": str(log.sdr2.pk), "label": "sdr2", **rate(1, 0, 0.0, 0.0, 0.7935)},
        {"key": None, "label": "No owner", **rate(1, 0, 0.0, 0.0, 0.7935)},
    ]
    assert mql["by_source"] == [
        {"key": "event", "label": "event", **rate(2, 0, 0.0, 0.0, 0.6576)},
        {"key": "web", "label": "web", **rate(5, 2, 0.4, 0.1176, 0.7693)},
    ]
    assert mql["by_week"] == [
        {"week": "2026-08-24", **rate(3, 1, 0.3333, 0.0615, 0.7923)},
        {"week": "2026-08-31", **rate(2, 1, 0.5, 0.0945, 0.9055)},
        {"week": "2026-09-07", **rate(2, 0, 0.0, 0.0, 0.6576)},
    ]
    assert {k: sql[k] for k in ("sla_hours", "due", "met", "rate")} == {
        "sla_hours": 2.0,
        "due": 2,
        "met": 1,
        "rate": 0.5,
    }
    assert sql["by_rep"] == [
        {"key": str(log.rep1.pk), "label": "rep1", **rate(1, 0, 0.0, 0.0, 0.7935)},
        {"key": str(log.seller.pk), "label": "seller", **rate(1, 1, 1.0, 0.2065, 1.0)},
    ]
    assert sql["by_week"] == [
        {"week": "2026-08-24", **rate(1, 1, 1.0, 0.2065, 1.0)},
        {"week": "2026-08-31", **rate(1, 0, 0.0, 0.0, 0.7935)},
        {"week": "2026-09-07", **rate(0, 0, None, None, None)},
    ]


def test_an_undecided_arrival_younger_than_the_sla_is_not_due_yet(log):
    """As of Tue 8 Sep 10:30, D has waited at MQL half an hour of its hour: not due. Due:
    F, A, B, B, C (5; E is not there yet), met F and B's second: 2 of 5."""
    mql = sla_figures(view(log, as_of=at("2026-09-08T10:30Z")))[0]
    assert {k: mql[k] for k in ("due", "met", "rate", "low", "high")} == rate(
        5, 2, 0.4, 0.1176, 0.7693
    )
    assert [r["label"] for r in mql["by_rep"]] == ["sdr", "sdr2"]
    assert mql["by_week"][-1] == {"week": "2026-09-07", **rate(0, 0, None, None, None)}
    # An hour and a minute after it arrived, D is due (and not met).
    mql = sla_figures(view(log, as_of=at("2026-09-08T11:01Z")))[0]
    assert (mql["due"], mql["met"]) == (6, 2)


def test_an_arrival_decided_after_as_of_is_judged_as_undecided(log):
    """As of Thu 3 Sep 10:00, C (MQL since Wed 11:00, rejected Thu 11:00) is undecided and
    23 hours old: due, not met. So is B at SQL."""
    mql, sql = sla_figures(view(log, as_of=at("2026-09-03T10:00Z")))
    c_row = [r for r in mql["by_rep"] if r["label"] == "rep2"]
    assert c_row == [{"key": str(log.rep2.pk), "label": "rep2", **rate(1, 0, 0.0, 0.0, 0.7935)}]
    assert (mql["due"], mql["met"]) == (5, 2)
    assert (sql["due"], sql["met"]) == (2, 1)


def test_sla_with_filters(log):
    """Owner rep1: F, A, B, B at MQL (2 of 4 met); source event: C and D (0 of 2)."""
    mql = sla_figures(view(log, owner_id=log.rep1.pk))[0]
    assert {k: mql[k] for k in ("due", "met", "rate", "low", "high")} == rate(4, 2, 0.5, 0.15, 0.85)
    mql = sla_figures(view(log, source="event"))[0]
    assert (mql["due"], mql["met"]) == (2, 0)
    assert mql["by_source"] == [{"key": "event", "label": "event", **rate(2, 0, 0.0, 0.0, 0.6576)}]


def test_a_hand_off_without_an_sla_has_no_sla_figures(log):
    Handoff.objects.filter(pk=log.sql.pk).update(sla_minutes=None)
    assert [s["handoff"] for s in sla_figures(view(log))] == [log.mql.pk]


def test_sla_in_working_time_is_the_steps_lane_calendar_whatever_the_basis(db):
    """P took 2.5 working hours of the SDR lane's "Early" calendar (16.5 elapsed): not met;
    R 0.5: met. Q, at MQL since 14:30 Berlin, is half an hour old on "Early" at 15:45 (it
    closes at 15:00): not due yet, though 1.25 hours old on the wall clock and on "Office"."""
    ns = working_log()
    window = {"start": at("2026-09-01T00:00Z"), "end": END, "as_of": at("2026-09-08T13:45Z")}
    for basis in (TimeBasis.WORKING, TimeBasis.ELAPSED):
        mql = sla_figures(view(ns, basis=basis, **window))[0]
        assert {k: mql[k] for k in ("due", "met", "rate", "low", "high")} == rate(
            2, 1, 0.5, 0.0945, 0.9055
        )
        assert mql["by_rep"] == [
            {"key": str(ns.sdr.pk), "label": "sdr", **rate(2, 1, 0.5, 0.0945, 0.9055)}
        ]
    # At 16:31 Berlin (14:31Z) Q is still half an hour old on "Early"; the next morning at
    # 07:31 it is 1 hour and 1 minute old: due.
    evening = view(ns, basis=TimeBasis.WORKING, **(window | {"as_of": at("2026-09-08T14:31Z")}))
    assert (sla_figures(evening)[0]["due"], sla_figures(evening)[0]["met"]) == (2, 1)
    later = view(ns, basis=TimeBasis.WORKING, **(window | {"as_of": at("2026-09-09T05:31Z")}))
    mql = sla_figures(later)[0]
    assert (mql["due"], mql["met"]) == (3, 1)
