"""Discovered against designed (docs/discovery.md "Discovered against designed"): the map's
steps and moves set beside what the deals of a Discovery view did, from the view's stored
result (``funnel.discovery.snapshots.compute_discovery``) and the stream's remembered import
mappings. Pure functions over the result, but :func:`stages_off_map`, which reads the
mappings.

The map *designs* one path: its steps in order, each step to the next (the flow arrows), deals
entering at the first step and won at the last. Against it:

- a **designed move** ``a → b`` (``b`` right after ``a`` on the map) with the moves the deals
  made along it; one nobody made is *never taken*;
- a **step nobody visits**: no visit of a deal of the view is at it;
- a **move not in the design**: a move the deals made that the map does not draw (a skip
  further on, a move back, the same step again), with its counts and times;
- **what the data shows that the map lacks**. Every stored visit is at a step of the map
  (the import refuses a stage the map has no step for until it is mapped), so a step outside
  the map cannot appear in the visits. What can: the moves above; deals *entering* at a step
  other than the map's first; deals *won* at a step other than its last; and the stages the
  imported files named that the map has no step for, which the import mapping dropped
  (``ignore``) or folded into another step (:func:`stages_off_map`);
- the **conformance per step**: of the arrivals at each step, the share that came as the map
  designs (accepted deviations count as designed), with its Wilson interval.
"""

from __future__ import annotations

from itertools import pairwise

from funnel.importing.types import IGNORE, LOST, WON
from funnel.metrics.query import LOW_SAMPLE
from funnel.models import ImportMapping
from funnel.qualification.stats import interval, wilson
from streams.models import ValueStream


def _stage_key(name: str) -> str:
    """A stage or step name as the import compares them (``funnel.importing.mapping``)."""
    return " ".join(name.casefold().split())


def stages_off_map(stream: ValueStream) -> list[dict]:
    """The stages the stream's remembered import mappings (``ImportMapping.steps``) send
    elsewhere than a step of their own name: ``ignored`` (the rows were dropped) or
    ``folded`` into another step. A stage the map now has a step of that name for is left
    out; an outcome (won, lost) is not a step. Sorted by stage; one row per stage (the latest
    mapping's reading)."""
    steps = dict((_stage_key(name), name) for name in stream.steps.values_list("name", flat=True))
    found: dict[str, dict] = {}
    for mapping in ImportMapping.objects.filter(stream=stream).order_by("updated_at", "pk"):
        for stage, target in (mapping.steps or {}).items():
            text = str(target or "").strip()
            key = _stage_key(stage)
            if not text or key in steps or text.casefold() in (WON, LOST):
                continue
            if text.casefold() == IGNORE:
                row = {"stage": stage, "reading": "ignored", "step": None}
            elif _stage_key(text) in steps:
                row = {"stage": stage, "reading": "folded", "step": steps[_stage_key(text)]}
            else:
                continue  # a step since renamed or removed: the next import refuses it
            found[key] = row | {
                "source": mapping.filename,
                "updated_at": mapping.updated_at.isoformat(),
            }
    return sorted(found.values(), key=lambda r: r["stage"].casefold())


def _share(conforming: int, arrivals: int) -> dict | None:
    rate = wilson(conforming, arrivals)
    return interval(*rate) if rate else None


def _times(edge: dict | None) -> dict:
    if edge is None:
        return {"median_hours": None, "p85_hours": None, "n": 0}
    return {k: edge[k] for k in ("median_hours", "p85_hours", "n")}


def design_comparison(result: dict, stages: list[dict] | None = None) -> dict:
    """The map against the deals of one Discovery ``result`` (its ``steps``, ``graph`` and
    ``conformance``); ``stages``: :func:`stages_off_map`."""
    steps = sorted(result["steps"], key=lambda s: s["order"])
    graph = result["graph"]
    made = {(e["source"], e["target"]): e for e in graph["edges"]}
    by_step = {r["step"]: r for r in result["conformance"]["by_step"]}
    starts = {s["step"]: s["deals"] for s in graph["starts"]}
    won_at = {e["step"]: e["won"] for e in graph["ends"]}
    first = steps[0]["id"] if steps else None
    last = steps[-1]["id"] if steps else None

    designed_moves = []
    for a, b in pairwise(steps):
        edge = made.get((a["id"], b["id"]))
        designed_moves.append(
            {
                "source": a["id"],
                "target": b["id"],
                "transitions": edge["transitions"] if edge else 0,
                "deals": edge["deals"] if edge else 0,
                **_times(edge),
            }
        )
    off_map = [
        {
            "source": e["source"],
            "target": e["target"],
            "kind": e["kind"],
            "transitions": e["transitions"],
            "deals": e["deals"],
            **_times(e),
        }
        for e in graph["edges"]
        if e["kind"] != "forward"
    ]
    step_rows = []
    for s in steps:
        row = by_step.get(s["id"]) or {"arrivals": 0, "conforming": 0}
        arrivals, conforming = row["arrivals"], row["conforming"]
        step_rows.append(
            {
                "step": s["id"],
                "order": s["order"],
                "arrivals": arrivals,
                "conforming": conforming,
                "share": _share(conforming, arrivals),
                "low_sample": arrivals < LOW_SAMPLE,
                "starts": starts.get(s["id"], 0),
                "won": won_at.get(s["id"], 0),
            }
        )
    total = sum(e["transitions"] for e in graph["edges"])
    along = sum(m["transitions"] for m in designed_moves)
    return {
        "steps": step_rows,
        "designed_moves": designed_moves,
        "off_map_moves": off_map,
        "unvisited": [r["step"] for r in step_rows if not r["arrivals"]],
        "never_taken": [
            {"source": m["source"], "target": m["target"]}
            for m in designed_moves
            if not m["transitions"]
        ],
        "entries_off_map": [
            {"step": s, "deals": n} for s, n in sorted(starts.items()) if s != first and n
        ],
        "wins_off_map": [
            {"step": s, "deals": n} for s, n in sorted(won_at.items()) if s != last and n
        ],
        "stages_off_map": list(stages or []),
        "summary": {
            "steps": len(steps),
            "steps_visited": sum(1 for r in step_rows if r["arrivals"]),
            "designed_moves": len(designed_moves),
            "designed_moves_taken": sum(1 for m in designed_moves if m["transitions"]),
            "moves": total,
            "moves_as_designed": along,
            "moves_off_map": total - along,
            "share_off_map": (total - along) / total if total else None,
        },
    }
