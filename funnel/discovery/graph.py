"""The discovered process (docs/discovery.md "The directly-follows graph", "Variants",
"Rework loops"): pure functions over the traces of a view (``funnel.discovery.log``).

- :func:`directly_follows`: per pair of steps (the stored ``previous_step`` of a visit and its
  step) the transitions, the deals that made them, and the median and p85 hours from entering
  the first step to entering the second; the starts (first visits) and ends (last visits, by
  outcome);
- :func:`variants`: the distinct paths with their count, share, median cycle time, win rate
  (Wilson) and an example deal; the top ``top`` listed, the rest grouped;
- :func:`rework`: the moves back (to an earlier step of the map, or the same step again):
  who sends deals back to whom, how often, and the hours each loop costs.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from funnel.discovery.log import MapStep, Trace
from funnel.metrics.query import LOW_SAMPLE
from funnel.metrics.stats import quantiles
from funnel.qualification.stats import interval, wilson

#: How many variants are listed one by one; the rest are grouped.
TOP_VARIANTS = 10


def edge_kind(order: dict[int, int], source: int, target: int) -> str:
    """``forward`` (to the map's next step), ``skip`` (further on), ``back`` (to an earlier
    step) or ``self`` (the same step again)."""
    step = order[target] - order[source]
    return "self" if step == 0 else "back" if step < 0 else "forward" if step == 1 else "skip"


def _spread(hours: list[float]) -> dict:
    median, p85 = quantiles(hours, (0.5, 0.85))
    return {
        "median_hours": median,
        "p85_hours": p85,
        "n": len(hours),
        "low_sample": len(hours) < LOW_SAMPLE,
    }


def directly_follows(traces: list[Trace], steps: list[MapStep]) -> dict:
    """The graph: ``edges`` (most frequent first), ``starts`` and ``ends``."""
    order = {s.id: s.order for s in steps}
    count: Counter[tuple[int, int]] = Counter()
    deals: dict[tuple[int, int], set[int]] = defaultdict(set)
    hours: dict[tuple[int, int], list[float]] = defaultdict(list)
    starts: Counter[int] = Counter()
    ends: dict[int, Counter[str]] = defaultdict(Counter)
    for trace in traces:
        for i, (step, previous) in enumerate(zip(trace.steps, trace.previous, strict=True)):
            if previous is None:
                starts[step] += 1
                continue
            pair = (previous, step)
            count[pair] += 1
            deals[pair].add(trace.deal_id)
            before, now = trace.t_in[i - 1] if i else None, trace.t_in[i]
            if before is not None and now is not None:
                hours[pair].append(now - before)
        ends[trace.steps[-1]][trace.status] += 1
    edges = [
        {
            "source": a,
            "target": b,
            "kind": edge_kind(order, a, b),
            "transitions": n,
            "deals": len(deals[(a, b)]),
            **_spread(hours[(a, b)]),
        }
        for (a, b), n in sorted(count.items(), key=lambda kv: (-kv[1], order[kv[0][0]], kv[0]))
    ]
    return {
        "edges": edges,
        "starts": [{"step": s, "deals": n} for s, n in sorted(starts.items())],
        "ends": [
            {"step": s, "won": c["won"], "lost": c["lost"], "open": c["open"]}
            for s, c in sorted(ends.items())
        ],
    }


def _outcomes(group: list[Trace]) -> dict:
    closed = [t for t in group if t.closed]
    won = sum(t.status == "won" for t in closed)
    rate = wilson(won, len(closed))
    cycle = [t.cycle_hours for t in closed if t.cycle_hours is not None]
    return {
        "closed": len(closed),
        "won": won,
        "win_rate": interval(*rate) if rate else None,
        "median_cycle_hours": quantiles(cycle, (0.5,))[0],
        "cycle_n": len(cycle),
    }


def variants(traces: list[Trace], *, top: int = TOP_VARIANTS) -> dict:
    """The distinct paths, most frequent first (ties: the shorter, then the first deal)."""
    groups: dict[tuple[int, ...], list[Trace]] = defaultdict(list)
    for trace in traces:
        groups[tuple(trace.steps)].append(trace)
    total = len(traces)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), len(kv[0]), kv[1][0].deal_id))
    rows = [
        {
            "rank": rank,
            "path": list(path),
            "deals": len(group),
            "share": len(group) / total,
            "example": {"id": group[0].deal_id, "name": group[0].name},
            **_outcomes(group),
        }
        for rank, (path, group) in enumerate(ranked[:top], start=1)
    ]
    rest = [t for _, group in ranked[top:] for t in group]
    other = None
    if rest:
        other = {
            "variants": len(ranked) - top,
            "deals": len(rest),
            "share": len(rest) / total,
            **_outcomes(rest),
        }
    return {"deals": total, "count": len(ranked), "top": rows, "other": other}


def rework(traces: list[Trace], steps: list[MapStep]) -> list[dict]:
    """Per (sender, receiver) of the moves back: ``loops``, ``deals`` and the hours a loop
    costs: from entering the receiver until the deal next enters the sender or a step after it
    on the map (until its last visit ends when it never does; a loop still running has no
    hours yet)."""
    order = {s.id: s.order for s in steps}
    loops: Counter[tuple[int, int]] = Counter()
    deals: dict[tuple[int, int], set[int]] = defaultdict(set)
    hours: dict[tuple[int, int], list[float]] = defaultdict(list)
    for trace in traces:
        path = trace.steps
        for i in range(1, len(path)):
            sender, receiver = path[i - 1], path[i]
            if order[receiver] > order[sender]:
                continue
            pair = (sender, receiver)
            loops[pair] += 1
            deals[pair].add(trace.deal_id)
            back = next(
                (j for j in range(i + 1, len(path)) if order[path[j]] >= order[sender]), None
            )
            until = trace.t_in[back] if back is not None else trace.t_out[-1]
            if until is not None and trace.t_in[i] is not None:
                hours[pair].append(until - trace.t_in[i])
    return [
        {
            "sender": a,
            "receiver": b,
            "loops": n,
            "deals": len(deals[(a, b)]),
            "total_hours": sum(hours[(a, b)]),
            **_spread(hours[(a, b)]),
        }
        for (a, b), n in sorted(loops.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
