"""The Discovery engine on the hand-worked log of ``hand_log`` (docs/discovery.md): the
directly-follows graph, variants, rework loops and conformance, each figure worked by hand."""

from __future__ import annotations

import pytest

from funnel.discovery.conformance import conformance, deviations
from funnel.discovery.graph import directly_follows, rework, variants
from funnel.discovery.log import map_steps, traces
from tests.funnel.discovery.hand_log import END, START, at, hand_log, view

pytestmark = pytest.mark.django_db


@pytest.fixture
def log():
    ns = hand_log()
    ns.traces = traces(view(ns))
    ns.map = map_steps(ns.stream.pk)
    ns.id = {name: step.pk for name, step in ns.steps.items()}
    ns.name = {step.pk: name for name, step in ns.steps.items()}
    return ns


def _named(ns, rows, *fields):
    return {tuple(ns.name.get(r[f]) for f in fields): r for r in rows}


def test_traces_are_the_window_cohort_in_path_order(log):
    assert [t.name for t in log.traces] == [
        f"Deal {x}" for x in ["A", "A2", "B", "C", "D", "E", "F"]
    ]
    c = log.traces[3]
    assert [log.name[s] for s in c.steps] == ["Lead", "Qualify", "Qualify", "Qualify", "Demo"]
    assert c.reentry == [False, False, True, True, False]
    assert (log.traces[0].cycle_hours, log.traces[1].cycle_hours) == (99, 5)
    # As of before C's loss and E's start: C is open and E not yet in the view.
    early = traces(view(log, as_of=at("09-09 12:00")))
    assert [t.status for t in early if t.name == "Deal C"] == ["open"]
    assert "Deal E" not in {t.name for t in early}


def test_directly_follows_graph(log):
    graph = directly_follows(log.traces, log.map)
    edges = _named(log, graph["edges"], "source", "target")
    assert {k: (e["transitions"], e["deals"]) for k, e in edges.items()} == {
        ("Lead", "Qualify"): (4, 4),
        ("Qualify", "Demo"): (6, 5),
        ("Demo", "Proposal"): (5, 4),
        ("Proposal", "Close"): (4, 4),
        ("Lead", "Demo"): (2, 2),
        ("Qualify", "Qualify"): (2, 1),
        ("Proposal", "Qualify"): (1, 1),
        ("Demo", "Qualify"): (1, 1),
    }
    lead_qualify = edges[("Lead", "Qualify")]
    # A 3 h, A2, C and D 1 h: the median 1 h, p85 between ranks 3 and 4: 1 + 0.55 × 2.
    assert lead_qualify["median_hours"] == 1
    assert lead_qualify["p85_hours"] == pytest.approx(2.1)
    assert (lead_qualify["n"], lead_qualify["low_sample"]) == (4, True)
    assert edges[("Qualify", "Qualify")]["kind"] == "self"
    assert edges[("Proposal", "Qualify")]["kind"] == "back"
    assert edges[("Lead", "Demo")]["kind"] == "skip"
    assert edges[("Lead", "Qualify")]["kind"] == "forward"
    assert {log.name[s["step"]]: s["deals"] for s in graph["starts"]} == {"Lead": 6, "Qualify": 1}
    ends = {log.name[e["step"]]: (e["won"], e["lost"], e["open"]) for e in graph["ends"]}
    assert ends == {"Close": (4, 0, 0), "Demo": (1, 1, 0), "Qualify": (0, 0, 1)}


def test_variants_top_and_the_rest(log):
    found = variants(log.traces, top=2)
    assert (found["deals"], found["count"]) == (7, 6)
    happy, second = found["top"]
    assert [log.name[s] for s in happy["path"]] == ["Lead", "Qualify", "Demo", "Proposal", "Close"]
    assert (happy["deals"], happy["share"], happy["example"]["name"]) == (2, 2 / 7, "Deal A")
    assert happy["median_cycle_hours"] == 52  # (99 + 5) / 2
    assert (happy["closed"], happy["won"], happy["win_rate"]["value"]) == (2, 2, 1.0)
    assert second["example"]["name"] == "Deal F"  # one deal each: the shortest path first
    # The rest: E, B, C, D: 4 deals of 4 variants, closed B, C, D, won B and D.
    other = found["other"]
    assert (other["variants"], other["deals"], other["closed"], other["won"]) == (4, 4, 3, 2)
    assert other["share"] == pytest.approx(4 / 7)


def test_rework_loops_and_their_hours(log):
    loops = _named(log, rework(log.traces, log.map), "sender", "receiver")
    # C's Qualify three times in a row: two loops of 1 h each (to the next Qualify, then on
    # to Demo).
    assert (loops[("Qualify", "Qualify")]["loops"], loops[("Qualify", "Qualify")]["deals"]) == (
        2,
        1,
    )
    assert loops[("Qualify", "Qualify")]["total_hours"] == 2
    # D sent back from Proposal at 13:00, at Proposal again at 15:00.
    assert loops[("Proposal", "Qualify")]["median_hours"] == 2
    # E's loop still runs: counted, without hours.
    assert (loops[("Demo", "Qualify")]["loops"], loops[("Demo", "Qualify")]["n"]) == (1, 0)


def test_deviations_of_each_kind(log):
    by_name = {t.name: t for t in log.traces}

    def kinds(name):
        return [
            (d.kind, log.name.get(d.source), log.name.get(d.target))
            for d in deviations(by_name[name], log.map)
        ]

    assert kinds("Deal A") == []
    assert kinds("Deal B") == [("skip", "Lead", "Demo")]
    assert kinds("Deal C") == [("reentry", "Qualify", "Qualify")] * 2
    assert kinds("Deal D") == [
        ("reentry", "Proposal", "Qualify"),
        ("reentry", "Qualify", "Demo"),
        ("reentry", "Demo", "Proposal"),
    ]
    assert kinds("Deal E") == [("skip", "Lead", "Demo"), ("out_of_order", "Demo", "Qualify")]
    assert kinds("Deal F") == [("skip", None, "Qualify"), ("early_end", "Demo", None)]
    skip = deviations(by_name["Deal B"], log.map)[0]
    assert [log.name[s] for s in skip.skipped] == ["Qualify"]


def test_conformance_fitness_catalogue_and_acceptance(log):
    found = conformance(log.traces, log.map, start=at(START), end=at(END))
    fit = {d["name"]: d["fitness"] for d in found["deals"]}
    # Moves: the visits, plus the close. B 1 of 5 deviates; C 2 of 6; D 3 of 9; E 2 of 3;
    # F 2 of 3.
    assert fit == pytest.approx(
        {"Deal B": 0.8, "Deal C": 4 / 6, "Deal D": 6 / 9, "Deal E": 1 / 3, "Deal F": 1 / 3}
    )
    summary = found["summary"]
    assert (summary["deals"], summary["conforming"], summary["deviations"]) == (7, 2, 10)
    assert summary["mean_fitness"] == pytest.approx((2 + 0.8 + 4 / 6 + 6 / 9 + 2 / 3) / 7)
    skip = _named(log, [r for r in found["catalogue"] if r["kind"] == "skip"], "source", "target")
    lead_demo = skip[("Lead", "Demo")]
    assert (lead_demo["occurrences"], lead_demo["deals"]) == (2, 2)
    assert [w["count"] for w in lead_demo["weeks"]] == [1, 1]  # B in the first week, E next
    # With: B won, E open. Without: A, A2, D, F won, C lost.
    assert (lead_demo["with"]["closed"], lead_demo["with"]["won"]) == (1, 1)
    assert (lead_demo["without"]["closed"], lead_demo["without"]["won"]) == (5, 4)
    assert lead_demo["win_rate_difference"]["value"] == pytest.approx(0.2)
    assert lead_demo["with"]["median_cycle_hours"] == 73
    qualify = next(s for s in found["by_step"] if s["step"] == log.id["Qualify"])
    assert (qualify["arrivals"], qualify["conforming"]) == (9, 4)

    accepted = {("skip", log.id["Lead"], log.id["Demo"])}
    found = conformance(log.traces, log.map, accepted=accepted, start=at(START), end=at(END))
    fit = {d["name"]: d["fitness"] for d in found["deals"]}
    assert (fit["Deal B"], fit["Deal E"]) == (1, pytest.approx(2 / 3))
    assert (found["summary"]["conforming"], found["summary"]["accepted"]) == (3, 2)
    row = next(r for r in found["catalogue"] if r["kind"] == "skip" and r["accepted"])
    assert row["source"] == log.id["Lead"]
