"""Deal-level Monte Carlo (issue 19, point 1; docs/forecasts.md "The simulation").

Each open deal's rest of path is drawn ``runs`` times from a :class:`FlowModel`:

1. the rest of its time in its **current** step, conditioned on its age there: drawn from the
   step's completed times longer than the age, minus the age (the empirical residual life).
   When no completed time is longer, the deal is taken to be in a slower regime than anything
   measured: its remaining time is a completed time drawn at random, stretched by age ÷ the
   longest completed time (so it is at least as long, in distribution, as a fresh visit's,
   and grows with the age);
2. then, round after round, the next step from the step's transition chances (move on, go
   back, the same step again, won, lost), and the time there from its completed times;
3. until every run is won or lost; a run still going after ``MAX_ROUNDS`` steps is
   *unresolved* (counted as not won, with no close time).

Vectorised with numpy: one array entry per (deal, run), a loop per round, none per run. The
transition draw is one ``searchsorted`` on the chance rows laid end to end, the time draw one
gather from the steps' time tables (``_Tables``). Deals are done in
chunks so the working arrays stay small; the results are two ``(deals, runs)`` arrays.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from funnel.forecasts.model import FlowModel, OpenDeals

RUNS = 10_000
#: Steps a run may take before it is called unresolved.
MAX_ROUNDS = 200
#: The close-date quantiles shown per deal (issue 19).
LEVELS = (0.5, 0.85, 0.95)
#: (deal, run) entries simulated at once.
CHUNK = 1 << 18
#: Threads simulating chunks side by side.
WORKERS = max(1, min(4, os.cpu_count() or 1))


#: Bits of a random draw for the transition: chances are resolved to 2⁻²⁴.
_CHANCE_BITS = 24
#: Each step's completed times as a table of 2¹² equal-chance slots (see ``_Tables``).
_SLOT_BITS = 12


class _Tables:
    """The model laid out for vectorised draws.

    Transitions: each step's cumulative chances as integers of 2²⁴, row ``s`` shifted by
    ``s · 2²⁴``, so one ``searchsorted`` of ``(step << 24) | the word's top 24 bits`` draws
    every entry's next column exactly (a row's last value is ``(s + 1) · 2²⁴``, above every key of
    the row). Times: each step's sorted completed times in 4,096 slots, slot ``i`` holding the
    time at rank ⌊(i + ½) · n ÷ 4096⌋; a draw is one gather (the drawn distribution's CDF is
    within 1/4096 of the completed times'), indexed by the word's low 12 bits. Every array
    of a round is unsigned 64-bit or float32, worked on in place where numpy allows: the
    rounds are bound by memory traffic, not arithmetic."""

    def __init__(self, model: FlowModel) -> None:
        s = model.n_steps
        self.n = s
        chances = model.probabilities()
        cumulative = np.rint(np.cumsum(chances, axis=1) * (1 << _CHANCE_BITS)).astype(np.uint64)
        cumulative[:, -1] = 1 << _CHANCE_BITS
        rows = np.arange(s, dtype=np.uint64) << np.uint64(_CHANCE_BITS)
        self.flat_chances = (cumulative + rows[:, None]).ravel()
        # What a position found in ``flat_chances`` means: the column drawn, and that column's
        # row start (for the next draw) and time-table start, when it is a step.
        column = np.tile(np.arange(s + 2), s)
        step = np.where(column < s, column, 0).astype(np.uint64)
        self.column = column.astype(np.int16)
        self.chance_base = step << np.uint64(_CHANCE_BITS)
        self.slot_base = step << np.uint64(_SLOT_BITS)
        self.samples = [model.samples(i) for i in range(s)]
        #: Every step's sorted completed times end to end, exact (for the current step).
        self.exact = np.concatenate(self.samples) if s else np.zeros(0)
        lengths = np.array([len(x) for x in self.samples], dtype=np.int64)
        self.exact_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        slots = 1 << _SLOT_BITS
        self.slots = (
            np.stack(
                [
                    x[((np.arange(slots) + 0.5) * len(x) / slots).astype(np.int64)]
                    for x in self.samples
                ]
            )
            .ravel()
            .astype(np.float32)
            if s
            else np.zeros(0, dtype=np.float32)
        )


def simulate_paths(
    model: FlowModel,
    steps: np.ndarray,
    ages: np.ndarray,
    rng: np.random.Generator,
    *,
    repeat: int = 1,
    tables: _Tables | None = None,
    cutoff: float = np.inf,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``repeat`` runs for each deal (a step and the age there), deal after deal: each run's
    time to close from now (hours of the basis; inf when unresolved) and whether it was won,
    and the number unresolved. ``cutoff``: a run still going after that many hours is
    stopped there, as not won with no close time (inf), and is not counted unresolved: the
    runs then answer only what happens within the cutoff (back-tests)."""
    tables = tables or _Tables(model)
    steps = np.asarray(steps, dtype=np.int64)
    m = len(steps) * repeat
    end = np.full(m, np.inf, dtype=np.float32)
    won = np.zeros(m, dtype=bool)
    if m == 0:
        return end, won, 0
    t = _residual(tables, steps, np.asarray(ages, dtype=float), repeat, rng)
    steps = np.repeat(steps.astype(np.uint64), repeat)
    alive = np.arange(m)
    limited = bool(np.isfinite(cutoff))
    if limited:
        keep = np.flatnonzero(t <= cutoff)
        alive, t, steps = alive[keep], t[keep], steps[keep]
    bits = rng.bit_generator
    base = steps << np.uint64(_CHANCE_BITS)
    top, low = np.uint64(64 - _CHANCE_BITS), np.uint64((1 << _SLOT_BITS) - 1)
    for _ in range(MAX_ROUNDS):
        raw = bits.random_raw(len(alive))
        key = raw >> top
        key |= base
        position = np.searchsorted(tables.flat_chances, key, side="right")
        column = tables.column[position]
        done = column >= tables.n
        finished = np.flatnonzero(done)
        if len(finished):
            where = alive[finished]
            end[where] = t[finished]
            won[where] = column[finished] == tables.n
            keep = np.flatnonzero(~done)
            alive, t, position, raw = alive[keep], t[keep], position[keep], raw[keep]
        if not len(alive):
            return end, won, 0
        raw &= low
        raw |= tables.slot_base[position]
        t += tables.slots[raw]
        base = tables.chance_base[position]
        if limited:
            keep = np.flatnonzero(t <= cutoff)
            if len(keep) < len(alive):
                alive, t, base = alive[keep], t[keep], base[keep]
                if not len(alive):
                    return end, won, 0
    return end, won, len(alive)


def _residual(
    tables: _Tables, steps: np.ndarray, ages: np.ndarray, repeat: int, rng: np.random.Generator
) -> np.ndarray:
    """``repeat`` draws of the rest of the time in its current step for each deal, given
    its age there (float32). What a deal draws from is worked out once per deal: a range of
    its step's sorted completed times (those longer than the age), what to subtract (the
    age) and the stretch (1, or age ÷ longest when none is longer)."""
    first = np.empty(len(steps), dtype=np.int64)
    count = np.empty(len(steps), dtype=np.int64)
    subtract = np.zeros(len(steps))
    stretch = np.ones(len(steps))
    for s in np.unique(steps):
        mask = steps == s
        times, age = tables.samples[s], ages[mask]
        longer = np.searchsorted(times, age, side="right")  # first completed time > age
        has = longer < len(times)
        start = tables.exact_start[s]
        first[mask] = start + np.where(has, longer, 0)
        count[mask] = np.where(has, len(times) - longer, len(times))
        subtract[mask] = np.where(has, age, 0.0)
        # Older than every completed visit: a completed time stretched by age ÷ the longest.
        stretch[mask] = np.where(has, 1.0, age / max(float(times[-1]), 1e-9))
    u = rng.random(len(steps) * repeat)
    u *= np.repeat(count, repeat)
    index = u.astype(np.int64)
    index += np.repeat(first, repeat)
    rest = tables.exact[index]
    rest -= np.repeat(subtract, repeat)
    rest *= np.repeat(stretch, repeat)
    return rest.astype(np.float32)


@dataclass
class DealRuns:
    """The runs of every open deal: ``end[i, r]`` the hours from now to deal ``i``'s close in
    run ``r`` (inf when unresolved), ``won[i, r]`` whether that close was a win."""

    deals: OpenDeals
    end: np.ndarray
    won: np.ndarray
    unresolved: int

    @property
    def runs(self) -> int:
        return self.end.shape[1]

    def win_probability(self) -> np.ndarray:
        return self.won.mean(axis=1)

    def close_quantiles(self, levels: tuple[float, ...] = LEVELS) -> np.ndarray:
        """Per deal, the hours from now by which it is won in 50 / 85 / 95 % of the runs it
        is won in (its close date if won); NaN for a deal never won in the runs."""
        out = np.full((len(self.end), len(levels)), np.nan)
        rows = max(1, CHUNK // max(self.runs, 1))
        for lo in range(0, len(self.end), rows):
            block = np.where(self.won[lo : lo + rows], self.end[lo : lo + rows], np.inf)
            block.sort(axis=1)
            counts = self.won[lo : lo + rows].sum(axis=1)
            for j, level in enumerate(levels):
                # Linear interpolation between closest ranks (metrics.md conventions).
                position = level * np.maximum(counts - 1, 0)
                below = np.floor(position).astype(np.int64)
                above = np.minimum(below + 1, np.maximum(counts - 1, 0))
                a = np.take_along_axis(block, below[:, None], axis=1)[:, 0]
                b = np.take_along_axis(block, above[:, None], axis=1)[:, 0]
                value = a + (b - a) * (position - below)
                out[lo : lo + rows, j] = np.where(counts > 0, value, np.nan)
        return out


def simulate_deals(
    model: FlowModel,
    deals: OpenDeals,
    *,
    runs: int = RUNS,
    seed: int | None = None,
    cutoff: float = np.inf,
) -> DealRuns:
    """``runs`` runs of the rest of each open deal's path. A fixed ``seed`` gives the same
    runs every time (tests). ``cutoff`` (hours): runs are stopped there (see
    :func:`simulate_paths`); then ``won`` means "won within the cutoff"."""
    tables = _Tables(model)
    n = len(deals)
    end = np.empty((n, runs), dtype=np.float32)
    won = np.empty((n, runs), dtype=bool)
    rows = max(1, CHUNK // max(runs, 1))
    starts = list(range(0, n, rows))
    # One generator per chunk, spawned from the seed: the runs do not depend on which thread
    # takes which chunk, so a fixed seed repeats them exactly.
    seeds = np.random.SeedSequence(seed).spawn(len(starts))

    def chunk(i: int) -> int:
        lo, hi = starts[i], min(n, starts[i] + rows)
        e, w, u = simulate_paths(
            model,
            deals.steps[lo:hi],
            deals.ages[lo:hi],
            np.random.default_rng(seeds[i]),
            repeat=runs,
            tables=tables,
            cutoff=cutoff,
        )
        end[lo:hi] = e.reshape(hi - lo, runs)
        won[lo:hi] = w.reshape(hi - lo, runs)
        return u

    # numpy releases the GIL inside its array operations, so chunks run side by side.
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        unresolved = sum(pool.map(chunk, range(len(starts))))
    return DealRuns(deals=deals, end=end, won=won, unresolved=unresolved)
