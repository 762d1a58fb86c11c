"""The qualification lab's probability for the outcome, the flow for the timing (issue 19,
point 1; docs/forecasts.md "The lab's probability for the outcome").

Where the qualification lab has a calibrated model, a deal's chance of being won is the lab's
and only the timing is the flow's:

- :func:`lab_probabilities` reads each open deal's probability from the stream's stored lab
  view (the Quality dashboard's default view, else the latest computed one; it is never
  computed here: the lab's own background job does that). A deal gets one only when the
  lab's combined model passed its floor (40 won and 40 lost closed deals,
  docs/qualification.md), the deal's current step has a step model, and the lab scored the
  deal **at the step it is in now** (a deal that moved on since the lab view was computed
  has a probability for a step it left: it is not used).
- :func:`combine_outcomes` redraws those deals' runs: run ``r`` is won with the lab's
  probability, independently of the flow's outcome of that run, and a won run's close time
  is drawn at random (with replacement) from the times of the runs in which **the flow** won
  that deal. So the deal's close-date quantiles, given it is won, keep the flow's
  distribution (age-conditioned, in the stream's time basis) and only the share of won runs
  changes. When the flow never won the deal in its runs, ``RESCUE_RUNS`` more runs of it at
  its age are simulated for won times, then as many of a fresh deal at its step; when even
  those never win (the measured flow has no way to a win from there), the deal keeps the
  flow's outcome (source "flow", and the note says why).

A back-test never uses the lab: its stored probabilities are today's, hindsight at a past date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.core.exceptions import ValidationError

from funnel.forecasts.model import FlowModel, OpenDeals
from funnel.forecasts.simulation import DealRuns, simulate_paths
from funnel.qualification.models import LabSnapshot
from funnel.qualification.snapshots import lab_snapshot_result, lab_view_from_params
from streams.models import ValueStream

#: Runs simulated to find won times for a deal the flow never won in its own runs.
RESCUE_RUNS = 20_000
#: Deal rows redrawn at once (bounds the temporary arrays).
BLOCK_ENTRIES = 1 << 22

LAB, FLOW = "lab", "flow"


@dataclass(frozen=True)
class LabProbabilities:
    """The lab's probability of each open deal (``probability[i]`` for ``open_deals`` row
    ``i``; NaN where the lab has none for it) and why, in plain words."""

    probability: np.ndarray
    #: "ok": a calibrated lab model was read; "none": no lab view computed yet;
    #: "not_enough": the lab's model is below its floor.
    status: str
    #: Why the deals without a probability have none, counted: reason → number of deals.
    missing: dict[str, int] = field(default_factory=dict)
    computed_at: datetime | None = None
    #: The lab's per-step models it came from (step id → closed deals, AUC, Brier out of
    #: sample), as the lab stores them.
    step_models: dict[str, dict] = field(default_factory=dict)

    @property
    def scored(self) -> int:
        return int(np.isfinite(self.probability).sum())

    def by_deal(self, open_deals: OpenDeals) -> dict[int, float | None]:
        """Deal id → the lab's probability, or None."""
        return {
            int(d): (float(p) if np.isfinite(p) else None)
            for d, p in zip(open_deals.deal_ids, self.probability, strict=True)
        }


def _lab_snapshot(stream: ValueStream) -> LabSnapshot | None:
    """The stored lab view the forecast reads: the default view's (what the Quality
    dashboard opens on), else the latest computed one."""
    found = LabSnapshot.objects.filter(stream=stream, computed_at__isnull=False)
    try:
        _, key, _ = lab_view_from_params(stream, {})
    except ValidationError:  # pragma: no cover - the default view always parses
        key = None
    return (key and found.filter(view_key=key).first()) or found.order_by(
        "-computed_at", "-id"
    ).first()


def lab_probabilities(
    stream: ValueStream, open_deals: OpenDeals, model: FlowModel
) -> LabProbabilities:
    """The lab's win probability of each of ``open_deals`` (its step is ``model.step_ids``
    of its step index), read from the stored lab view; NaN for a deal without one."""
    n = len(open_deals)
    none = np.full(n, np.nan)
    snapshot = _lab_snapshot(stream)
    if snapshot is None:
        return LabProbabilities(none, "none", {"no lab view computed yet": n} if n else {})
    result = lab_snapshot_result(snapshot)
    stored = result.get("open_deals") or {}
    status = (result.get("model") or {}).get("status")
    if status != "ok" or not stored.get("model_ok"):
        return LabProbabilities(
            none,
            "not_enough",
            {"the lab's model is below its floor of closed deals": n} if n else {},
            snapshot.computed_at,
        )
    deals = stored.get("deals") or {}
    probability = none.copy()
    missing: dict[str, int] = {}
    step_ids = np.asarray(model.step_ids, dtype=np.int64)
    for i, (deal_id, step) in enumerate(zip(open_deals.deal_ids, open_deals.steps, strict=True)):
        row = deals.get(str(int(deal_id)))
        if row is None or row.get("probability") is None:
            reason = "no lab probability (its step has no lab model, or it opened since)"
        elif int(row.get("step", -1)) != int(step_ids[step]):
            reason = "moved to another step since the lab view was computed"
        else:
            probability[i] = float(row["probability"])
            continue
        missing[reason] = missing.get(reason, 0) + 1
    return LabProbabilities(
        probability,
        "ok",
        missing,
        snapshot.computed_at,
        dict(stored.get("steps") or {}),
    )


@dataclass(frozen=True)
class Outcomes:
    """What :func:`combine_outcomes` did: each open deal's ``source`` ("lab": the lab's
    probability for the outcome and the flow's times; "flow": both from the flow)."""

    source: np.ndarray
    #: Deals with a lab probability whose times could not be found in the flow (kept "flow").
    no_timing: list[int]
    #: Lab deals whose won times came from extra runs (the flow never won them in theirs).
    rescued: list[int]

    @property
    def lab_deals(self) -> int:
        return int((self.source == LAB).sum())

    @property
    def outcome_source(self) -> str:
        """ "lab" when every open deal uses the lab's probability, "flow" when none does,
        else "mixed" (the forecast payload's ``outcome_source``)."""
        lab = self.lab_deals
        if lab and lab == len(self.source):
            return LAB
        return "mixed" if lab else FLOW


def combine_outcomes(
    deal_runs: DealRuns,
    probability: np.ndarray,
    model: FlowModel,
    *,
    seed: int | None = None,
) -> Outcomes:
    """Redraw, **in place**, the runs of the deals with a lab ``probability`` (NaN: none):
    each run won with that probability, its close time drawn from the runs in which the flow
    won the deal (see the module). Every later figure of the forecast (``wins_by``,
    ``wins_needed``, the fan, the target) then reads the lab's outcomes."""
    p = np.asarray(probability, dtype=float)
    n, runs = deal_runs.end.shape
    source = np.full(n, FLOW, dtype=object)
    if n == 0 or runs == 0:
        return Outcomes(source, [], [])
    rng = np.random.default_rng(seed)
    lab = np.flatnonzero(np.isfinite(p))
    counts = deal_runs.won[lab].sum(axis=1) if len(lab) else np.zeros(0, dtype=np.int64)
    no_timing: list[int] = []
    rescued: list[int] = []
    # Deals the flow never won in their runs: won times from extra runs, one deal at a time.
    pools: dict[int, np.ndarray] = {}
    for i in lab[counts == 0]:
        for age in (float(deal_runs.deals.ages[i]), 0.0):
            end, won, _ = simulate_paths(
                model, np.array([deal_runs.deals.steps[i]]), np.array([age]), rng,
                repeat=RESCUE_RUNS,
            )  # fmt: skip
            if won.any():
                pools[int(i)] = end[won]
                rescued.append(int(deal_runs.deals.deal_ids[i]))
                break
        else:
            no_timing.append(int(deal_runs.deals.deal_ids[i]))
    for i, pool in pools.items():
        wins = rng.random(runs) < p[i]
        deal_runs.end[i, wins] = rng.choice(pool, size=int(wins.sum()))
        deal_runs.won[i] = wins
        source[i] = LAB
    # The rest, block by block: a run's new close time is the time of a run picked at random
    # among the deal's won runs (their positions first in a stable sort of "not won").
    direct = lab[counts > 0]
    rows = max(1, BLOCK_ENTRIES // runs)
    for lo in range(0, len(direct), rows):
        block = direct[lo : lo + rows]
        won = deal_runs.won[block]
        end = deal_runs.end[block]
        n_won = won.sum(axis=1)
        order = np.argsort(~won, axis=1, kind="stable")
        pick = (rng.random((len(block), runs)) * n_won[:, None]).astype(np.int64)
        chosen = np.take_along_axis(order, pick, axis=1)
        times = np.take_along_axis(end, chosen, axis=1)
        new_won = rng.random((len(block), runs)) < p[block, None]
        deal_runs.end[block] = np.where(new_won, times, end)
        deal_runs.won[block] = new_won
        source[block] = LAB
    return Outcomes(source, no_timing, rescued)


def lab_note(lab: LabProbabilities, outcomes: Outcomes) -> str:
    """Which deals use the lab's probability and why the others do not, in plain words (the
    forecast payload's ``lab_note``)."""
    total = len(outcomes.source)
    used = outcomes.lab_deals
    if lab.status == "none":
        return (
            "Win probabilities come from the measured flow: the qualification lab has not "
            "been computed for this stream yet."
        )
    if lab.status == "not_enough":
        return (
            "Win probabilities come from the measured flow: the qualification lab's model "
            "does not have enough closed deals yet (40 won and 40 lost)."
        )
    when = f" (lab view computed {lab.computed_at:%Y-%m-%d %H:%M} UTC)" if lab.computed_at else ""
    parts = [
        f"{used} of {total} open deals use the qualification lab's calibrated win probability"
        f"{when}, with the flow's times to close; the others use the measured flow."
    ]
    for reason, count in sorted(lab.missing.items()):
        parts.append(f"{count} deal{'s' if count != 1 else ''}: {reason}.")
    if outcomes.no_timing:
        k = len(outcomes.no_timing)
        parts.append(
            f"{k} deal{'s' if k != 1 else ''} with a lab probability keep the flow's, "
            "which never reaches a win from where they are (no time to close to give)."
        )
    return " ".join(parts)
