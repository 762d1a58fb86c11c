"""Conformance against the map (docs/discovery.md "Conformance"): each trace checked against
the map's step order, pure functions over the traces of a view.

Walking a path, each visit is a *move* (from the start or the previous step); a closed deal's
close is one more. A move deviates when it is:

- ``reentry``: to a step the deal visited before (rework; a step visited three times in a
  row is two re-entries);
- ``out_of_order``: to a step it never visited, before the furthest step it reached;
- ``skip``: beyond the step after the furthest it reached (the steps between are skipped; a
  first visit after the map's first step skips the steps before it);
- ``early_end``: a win closed at a step other than the map's last (a loss may end anywhere).

A deviation is named by its kind and step pair (``from`` None: the start; ``to`` None: the
end). A manager may accept one (``AcceptedDeviation``): it is still listed, apart, but its
moves count as conforming. A deal's **fitness** is its conforming moves ÷ its moves; it
**conforms** when that is 1.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from funnel.discovery.log import MapStep, Trace, week_of
from funnel.qualification.stats import interval, newcombe, wilson

KINDS = {
    "skip": "Skipped steps",
    "out_of_order": "Step out of order",
    "reentry": "Re-entry",
    "early_end": "Won before the last step",
}
#: How many of the least fit deals the result lists with their deviations.
DEALS_LISTED = 100
#: The weekly trend covers at most the window's last this many weeks (ten years).
TREND_WEEKS = 520

Key = tuple[str, int | None, int | None]


@dataclass(frozen=True)
class Deviation:
    kind: str
    source: int | None
    target: int | None
    #: The move's index in the path (the path's length for an end).
    index: int
    #: Seconds since 1970 (UTC): the move's entry, or the win.
    moment: float
    #: The steps skipped (``skip`` only).
    skipped: tuple[int, ...] = ()

    @property
    def key(self) -> Key:
        return (self.kind, self.source, self.target)


@dataclass(frozen=True)
class MapOrder:
    """The map's order, worked out once for every trace of a view."""

    #: Step id -> its place (0 first).
    place: dict[int, int]
    #: Step ids in the map's order.
    ids: list[int]

    @classmethod
    def of(cls, steps: list[MapStep]) -> MapOrder:
        return cls(
            {s.id: s.order for s in steps}, [s.id for s in sorted(steps, key=lambda s: s.order)]
        )


def deviations(
    trace: Trace, steps: list[MapStep], order: MapOrder | None = None
) -> list[Deviation]:
    """The deviations of one trace, in path order (``order``: the map's, when already
    worked out)."""
    known = order or MapOrder.of(steps)
    place, by_order, last_place = known.place, known.ids, len(known.ids) - 1
    found: list[Deviation] = []
    visited: set[int] = set()
    furthest = -1
    for i, step in enumerate(trace.steps):
        source = trace.steps[i - 1] if i else None
        here = place[step]
        if step in visited:
            found.append(Deviation("reentry", source, step, i, trace.entered[i]))
        elif here < furthest:
            found.append(Deviation("out_of_order", source, step, i, trace.entered[i]))
        elif here > furthest + 1:
            skipped = tuple(by_order[furthest + 1 : here])
            found.append(Deviation("skip", source, step, i, trace.entered[i], skipped))
        visited.add(step)
        furthest = max(furthest, here)
    last = trace.steps[-1]
    if trace.status == "won" and place[last] != last_place:
        moment = trace.closed_at.timestamp() if trace.closed_at else trace.entered[-1]
        found.append(Deviation("early_end", last, None, len(trace.steps), moment))
    return found


def moves(trace: Trace) -> int:
    return len(trace.steps) + (1 if trace.closed else 0)


def fitness(trace: Trace, found: list[Deviation], accepted: set[Key]) -> float:
    """Conforming moves ÷ moves (accepted deviations conform)."""
    deviating = {d.index for d in found if d.key not in accepted}
    return 1 - len(deviating) / moves(trace)


class _Outcomes:
    """The view's deals as arrays (closed, won, cycle hours), so each deviation's two sides
    are counted with a mask instead of a walk over every deal."""

    def __init__(self, traces: list[Trace]) -> None:
        self.position = {t.deal_id: i for i, t in enumerate(traces)}
        self.closed = np.array([t.closed for t in traces], dtype=bool)
        self.won = np.array([t.status == "won" for t in traces], dtype=bool)
        self.cycle = np.array(
            [np.nan if t.cycle_hours is None else t.cycle_hours for t in traces], dtype=float
        )

    def mask(self, deal_ids: set[int]) -> np.ndarray:
        mask = np.zeros(len(self.closed), dtype=bool)
        mask[[self.position[d] for d in deal_ids]] = True
        return mask

    def side(self, mask: np.ndarray) -> dict:
        closed = self.closed & mask
        n, won = int(closed.sum()), int((self.won & closed).sum())
        cycle = self.cycle[closed]
        cycle = cycle[~np.isnan(cycle)]
        rate = wilson(won, n)
        return {
            "deals": int(mask.sum()),
            "closed": n,
            "won": won,
            "win_rate": interval(*rate) if rate else None,
            "median_cycle_hours": float(np.quantile(cycle, 0.5)) if len(cycle) else None,
            "cycle_n": len(cycle),
        }


def weeks(start: datetime, end: datetime) -> list[str]:
    """The Mondays of the ISO weeks ``[start, end)`` touches."""
    first, last = week_of(start), week_of(end - timedelta(microseconds=1))
    day = datetime.fromisoformat(first).date()
    out = []
    while day.isoformat() <= last:
        out.append(day.isoformat())
        day += timedelta(days=7)
    return out


def conformance(
    traces: list[Trace],
    steps: list[MapStep],
    *,
    accepted: set[Key] = frozenset(),
    start: datetime,
    end: datetime,
) -> dict:
    """The conformance of a view: ``summary``, ``catalogue`` (each kind and step pair with its
    count, deals, weekly trend and cost), ``by_kind``, ``by_step`` (the share of arrivals at
    each step that followed the map) and ``deals`` (the least fit, with their deviations)."""
    map_order = MapOrder.of(steps)
    outcomes = _Outcomes(traces)
    per_trace = [(t, deviations(t, steps, map_order)) for t in traces]
    week_list = weeks(max(start, end - timedelta(weeks=TREND_WEEKS)), end)
    occurrences: Counter[Key] = Counter()
    with_deal: dict[Key, set[int]] = defaultdict(set)
    trend: dict[Key, Counter[str]] = defaultdict(Counter)
    arrivals: Counter[int] = Counter()
    conforming_arrivals: Counter[int] = Counter()
    deal_rows = []
    conforming = 0
    fit_sum = 0.0
    for trace, found in per_trace:
        for d in found:
            occurrences[d.key] += 1
            with_deal[d.key].add(trace.deal_id)
            trend[d.key][week_of(d.moment)] += 1
        deviating = {d.index for d in found if d.key not in accepted}
        for i, step in enumerate(trace.steps):
            arrivals[step] += 1
            conforming_arrivals[step] += i not in deviating
        fit = 1 - len(deviating) / moves(trace)  # fitness(), with the set already made
        fit_sum += fit
        conforming += fit == 1
        if found:
            deal_rows.append(
                {
                    "id": trace.deal_id,
                    "name": trace.name,
                    "status": trace.status,
                    "fitness": fit,
                    "moves": moves(trace),
                    "deviations": [
                        {
                            "kind": d.kind,
                            "source": d.source,
                            "target": d.target,
                            "skipped": list(d.skipped),
                            "accepted": d.key in accepted,
                        }
                        for d in found
                    ],
                }
            )
    catalogue = []
    for key, n in sorted(occurrences.items(), key=lambda kv: (-kv[1], str(kv[0]))):
        kind, source, target = key
        having = with_deal[key]
        mask = outcomes.mask(having)
        with_side, without = outcomes.side(mask), outcomes.side(~mask)
        diff = newcombe(with_side["won"], with_side["closed"], without["won"], without["closed"])
        catalogue.append(
            {
                "kind": kind,
                "source": source,
                "target": target,
                "accepted": key in accepted,
                "occurrences": n,
                "deals": len(having),
                "weeks": [{"week": w, "count": trend[key][w]} for w in week_list],
                "with": with_side,
                "without": without,
                "win_rate_difference": interval(*diff) if diff else None,
                "cycle_hours_difference": (
                    with_side["median_cycle_hours"] - without["median_cycle_hours"]
                    if with_side["median_cycle_hours"] is not None
                    and without["median_cycle_hours"] is not None
                    else None
                ),
            }
        )
    by_kind = [
        {
            "kind": kind,
            "label": label,
            "occurrences": sum(r["occurrences"] for r in catalogue if r["kind"] == kind),
            "accepted": sum(
                r["occurrences"] for r in catalogue if r["kind"] == kind and r["accepted"]
            ),
            "deals": len(
                set().union(*[with_deal[r] for r in occurrences if r[0] == kind] or [set()])
            ),
        }
        for kind, label in KINDS.items()
    ]
    share = wilson(conforming, len(traces))
    deal_rows.sort(key=lambda r: (r["fitness"], r["id"]))
    return {
        "summary": {
            "deals": len(traces),
            "conforming": conforming,
            "pct_conforming": interval(*share) if share else None,
            "mean_fitness": fit_sum / len(traces) if traces else None,
            "deviations": sum(occurrences.values()),
            "accepted": sum(n for k, n in occurrences.items() if k in accepted),
        },
        "catalogue": catalogue,
        "by_kind": by_kind,
        "by_step": [
            {
                "step": s.id,
                "arrivals": arrivals[s.id],
                "conforming": conforming_arrivals[s.id],
                "share": conforming_arrivals[s.id] / arrivals[s.id] if arrivals[s.id] else None,
            }
            for s in steps
        ],
        "deals": deal_rows[:DEALS_LISTED],
        "deals_with_deviations": len(deal_rows),
    }
