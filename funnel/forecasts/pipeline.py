"""Pipeline forecasts (issue 19, point 2; docs/forecasts.md "Pipeline forecasts").

From the deal runs of :mod:`funnel.forecasts.simulation` plus new deals arriving at the
measured rate:

- :func:`wins_by`: wins and revenue by a chosen date (a horizon in hours of the basis);
- :func:`wins_needed`: when the stream reaches N more wins.

New deals arrive as a Poisson process at the measured rate, each entering at a step drawn from
where the window's new deals entered, and run like a fresh open deal (age 0). Their wins are
then a Poisson process too (:class:`NewDeals` says why), drawn per scenario without
simulating each arrival. A new deal's revenue is the amount of a deal won in the window,
drawn at random.

Run ``r`` of every open deal and draw ``r`` of the new deals make scenario ``r``; the figures
are read across the scenarios: the mean, the median and the central 50 / 85 / 95 % bands (the
2.5th to 97.5th percentile for 95 %, and so on). "When" also gives one-sided dates: reached
by then in 50 / 85 / 95 % of the scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np

from funnel.forecasts.model import FlowModel
from funnel.forecasts.simulation import LEVELS, DealRuns, _Tables, simulate_paths

BANDS = (0.5, 0.85, 0.95)


def quantiles(values: np.ndarray, levels: list[float]) -> np.ndarray:
    """Percentiles with linear interpolation between closest ranks (metrics.md conventions)
    that keep infinity ("not reached") instead of turning it into NaN."""
    ordered = np.sort(np.asarray(values, dtype=float))
    if not len(ordered):
        return np.full(len(levels), np.nan)
    position = np.asarray(levels) * (len(ordered) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(ordered) - 1)
    a, b = ordered[below], ordered[above]
    with np.errstate(invalid="ignore"):
        between = a + (b - a) * (position - below)
    return np.where(a == b, a, np.where(np.isinf(b), b, between))


@dataclass(frozen=True)
class Bands:
    """A figure across the scenarios."""

    mean: float
    median: float
    #: level → (low, high): the central band holding that share of the scenarios.
    bands: dict[float, tuple[float, float]]
    scenarios: int

    @classmethod
    def of(cls, values: np.ndarray) -> Bands:
        values = np.asarray(values, dtype=float)
        finite = values[np.isfinite(values)]
        mean = float(finite.mean()) if len(finite) == len(values) and len(values) else np.inf
        qs = [0.5] + [q for level in BANDS for q in ((1 - level) / 2, (1 + level) / 2)]
        found = quantiles(values, qs)
        return cls(
            mean=mean,
            median=float(found[0]),
            bands={
                level: (float(found[1 + 2 * i]), float(found[2 + 2 * i]))
                for i, level in enumerate(BANDS)
            },
            scenarios=len(values),
        )


class NewDeals:
    """Deals not yet here, arriving as a Poisson process at the measured rate λ (per hour of
    the basis), each entering at a step drawn from the window's entries and simulated like a
    fresh open deal (``sample`` of them, once).

    By Poisson thinning and displacement, the wins they bring form a Poisson process with
    intensity λ·F(t) at t hours from now, F(t) the chance a fresh deal is won within t
    (docs/forecasts.md): so the wins by a horizon H are Poisson with mean Λ(H) = λ∫₀ᴴF(u)du,
    and the successive win times are Λ⁻¹ of a unit-rate Poisson process. No scenario has to
    simulate its arrivals one by one."""

    def __init__(
        self,
        model: FlowModel,
        rng: np.random.Generator,
        sample: int = 100_000,
        cutoff: float = np.inf,
    ):
        entries = np.asarray(model.entries, dtype=float)
        self.rate = float(model.arrivals_per_hour)
        self.amounts = np.asarray(model.won_amounts, dtype=float)
        if self.rate <= 0 or not len(entries) or entries.sum() <= 0:
            self.rate, self.wins, self.sample = 0.0, np.zeros(0), 1
            return
        steps = rng.choice(len(entries), size=sample, p=entries / entries.sum())
        # ``cutoff``: F(t) is known only up to it (back-tests ask nothing later).
        end, won, _ = simulate_paths(
            model, steps, np.zeros(sample), rng, tables=_Tables(model), cutoff=cutoff
        )
        #: The sampled fresh deals' win times, sorted; F(t) = (wins ≤ t) ÷ sample.
        self.wins = np.sort(end[won].astype(float))
        self.sample = sample
        # Λ at each win time: λ/M · Σ_{i<j} (w_j − w_i), cumulated piecewise linearly.
        gaps = np.diff(self.wins, prepend=0.0)
        slopes = np.arange(len(self.wins)) / sample  # F just before each win time
        self._lambda_at = self.rate * np.cumsum(gaps * slopes)

    def expected_wins(self, horizon: float) -> float:
        """Λ(horizon): the mean number of new deals won within ``horizon`` hours."""
        if not self.rate or not len(self.wins):
            return 0.0
        k = int(np.searchsorted(self.wins, horizon, side="right"))
        base = self._lambda_at[k - 1] if k else 0.0
        last = self.wins[k - 1] if k else 0.0
        return float(base + self.rate * k / self.sample * max(horizon - last, 0.0))

    def win_times(self, count: int, runs: int, rng: np.random.Generator) -> np.ndarray:
        """The first ``count`` new-deal win times of each scenario, ``(count, runs)`` hours
        (inf where they never come)."""
        if not self.rate or not len(self.wins):
            return np.full((count, runs), np.inf)
        unit = np.cumsum(rng.exponential(size=(count, runs)), axis=0)
        final = self.rate * len(self.wins) / self.sample  # slope of Λ after the last win
        inside = unit <= self._lambda_at[-1]
        out = np.empty_like(unit)
        out[inside] = np.interp(unit[inside], self._lambda_at, self.wins)
        out[~inside] = self.wins[-1] + (unit[~inside] - self._lambda_at[-1]) / final
        return out

    def revenue(self, wins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per scenario, the revenue of its ``wins`` new wins: amounts drawn from the deals
        won in the window."""
        if not len(self.amounts):
            return np.zeros(len(wins))
        wins = wins.astype(np.int64)
        drawn = rng.choice(self.amounts, size=int(wins.sum()))
        return np.bincount(np.repeat(np.arange(len(wins)), wins), drawn, minlength=len(wins))


#: Deal runs handled at once when summing over deals (bounds the temporary arrays).
BLOCK = 1 << 22


def _row_blocks(deal_runs: DealRuns):
    rows = max(1, BLOCK // max(deal_runs.runs, 1))
    for lo in range(0, len(deal_runs.end), rows):
        yield slice(lo, lo + rows)


@dataclass(frozen=True)
class WinsBy:
    horizon_hours: float
    wins: Bands
    revenue: Bands
    #: Of the wins, those expected from today's open deals and from new deals.
    expected_open_wins: float
    expected_new_wins: float


@dataclass(frozen=True)
class Scenarios:
    """Per scenario (one entry per run): the wins and revenue within a horizon, and of the
    wins those of today's open deals and of new deals. The arrays :func:`wins_by` reads its
    bands from, kept for figures built on top (target attainment, funnel.forecasts.target)."""

    horizon_hours: float
    wins: np.ndarray
    revenue: np.ndarray
    open_wins: np.ndarray
    new_wins: np.ndarray


def new_deals_for(
    model: FlowModel, seed: int | None = None, *, sample: int = 100_000, cutoff: float = np.inf
) -> NewDeals:
    """The new deals of ``model`` (``sample`` simulated fresh deals behind them), to hand to
    several figures of one forecast instead of simulating them again for each. ``cutoff``:
    only horizons up to it will be asked (back-tests)."""
    return NewDeals(model, np.random.default_rng(seed), sample=sample, cutoff=cutoff)


def scenario_wins(
    deal_runs: DealRuns,
    model: FlowModel,
    horizon_hours: float,
    *,
    new_deals: bool = True,
    seed: int | None = None,
    new: NewDeals | None = None,
) -> Scenarios:
    """Per scenario, the wins and revenue within ``horizon_hours`` of now: scenario ``r`` is
    run ``r`` of every open deal plus draw ``r`` of the new deals (``new``: reuse the new
    deals of an earlier call, :func:`new_deals_for`; else they are simulated with ``seed``)."""
    runs = deal_runs.runs
    open_wins = np.zeros(runs)
    open_revenue = np.zeros(runs)
    for rows in _row_blocks(deal_runs):
        hit = deal_runs.won[rows] & (deal_runs.end[rows] <= horizon_hours)
        open_wins += hit.sum(axis=0)
        open_revenue += deal_runs.deals.amounts[rows] @ hit.astype(np.float32)
    new_wins = np.zeros(runs)
    new_revenue = np.zeros(runs)
    if new_deals:
        rng = np.random.default_rng(seed)
        new = new or NewDeals(model, rng)
        new_wins = rng.poisson(new.expected_wins(horizon_hours), size=runs).astype(float)
        new_revenue = new.revenue(new_wins, rng)
    return Scenarios(
        horizon_hours=horizon_hours,
        wins=open_wins + new_wins,
        revenue=open_revenue + new_revenue,
        open_wins=open_wins,
        new_wins=new_wins,
    )


class ScenarioOptions(TypedDict, total=False):
    """How :func:`scenario_wins` and :func:`cumulative_wins` draw the new deals, for a caller
    that passes them on."""

    new_deals: bool
    seed: int | None
    new: NewDeals | None


def wins_by(
    deal_runs: DealRuns, model: FlowModel, horizon_hours: float, **options: Unpack[ScenarioOptions]
) -> WinsBy:
    """Wins and revenue within ``horizon_hours`` of now, across the scenarios
    (:func:`scenario_wins`, with the same options)."""
    found = scenario_wins(deal_runs, model, horizon_hours, **options)
    return WinsBy(
        horizon_hours=horizon_hours,
        wins=Bands.of(found.wins),
        revenue=Bands.of(found.revenue),
        expected_open_wins=float(found.open_wins.mean()),
        expected_new_wins=float(found.new_wins.mean()),
    )


def cumulative_wins(
    deal_runs: DealRuns,
    model: FlowModel,
    horizons: np.ndarray | list[float],
    *,
    new_deals: bool = True,
    seed: int | None = None,
    new: NewDeals | None = None,
) -> np.ndarray:
    """Per horizon (hours from now, ascending) and scenario, the wins from now to that
    horizon: a ``(len(horizons), runs)`` array, each scenario's counts never falling from one
    horizon to the next. One pass over the deal runs whatever the number of horizons: each
    won run's close is put in the first horizon at or after it and the counts are summed
    along the horizons. The new deals' wins are a Poisson process (:class:`NewDeals`), so a
    scenario's new wins between two horizons are Poisson with mean Λ(h₂) − Λ(h₁), drawn
    independently and summed. At a single horizon the open deals' counts are exactly
    :func:`scenario_wins`'; the new deals' have the same distribution (other draws)."""
    h = np.asarray(horizons, dtype=float)
    if len(h) and np.any(np.diff(h) < 0):
        raise ValueError("horizons must be ascending")
    runs, k = deal_runs.runs, len(h)
    counts = np.zeros((k + 1) * runs, dtype=np.int64)
    column = np.arange(runs, dtype=np.int64)
    edges = h.astype(np.float32)
    for rows in _row_blocks(deal_runs):
        won = deal_runs.won[rows]
        # The first horizon at or after the close (k: after the last one), per won run.
        slot = np.searchsorted(edges, deal_runs.end[rows][won], side="left")
        where = slot * runs + np.broadcast_to(column, won.shape)[won]
        counts += np.bincount(where, minlength=(k + 1) * runs)
    total = np.cumsum(counts.reshape(k + 1, runs)[:k], axis=0).astype(float)
    if new_deals and k:
        rng = np.random.default_rng(seed)
        new = new or NewDeals(model, rng)
        means = np.array([new.expected_wins(float(x)) for x in h])
        steps = np.diff(means, prepend=0.0)
        total += np.cumsum(rng.poisson(np.maximum(steps, 0)[:, None], size=(k, runs)), axis=0)
    return total


def fan(
    deal_runs: DealRuns,
    model: FlowModel,
    horizons: np.ndarray | list[float],
    **options: Unpack[ScenarioOptions],
) -> list[Bands]:
    """The fan chart: for each horizon (hours from now, ascending), the cumulative wins from
    now to it across the scenarios (median, mean, 50 / 85 / 95 % bands), from
    :func:`cumulative_wins` (one pass over the runs, not a simulation per date; the same
    options)."""
    total = cumulative_wins(deal_runs, model, horizons, **options)
    return [Bands.of(row) for row in total]


@dataclass(frozen=True)
class WinsNeeded:
    wins: int
    #: Hours from now to the N-th win across the scenarios (inf: not within the horizon).
    hours: Bands
    #: level → hours by which the N-th win came in that share of the scenarios (or inf).
    likely_by: dict[float, float]
    #: Share of the scenarios that reached N wins within the horizon.
    reached: float


def wins_needed(
    deal_runs: DealRuns,
    model: FlowModel,
    wins: int,
    *,
    horizon_hours: float = np.inf,
    new_deals: bool = True,
    seed: int | None = None,
    new: NewDeals | None = None,
) -> WinsNeeded:
    """When the open deals and the new ones reach ``wins`` more wins: per scenario, the time
    of its ``wins``-th win; later than ``horizon_hours`` counts as not reached."""
    if wins < 1:
        raise ValueError("wins must be at least 1")
    runs = deal_runs.runs
    # The ``wins`` earliest wins of the open deals in each scenario, block by block.
    best = np.full((wins, runs), np.inf)
    for rows in _row_blocks(deal_runs):
        times = np.where(deal_runs.won[rows], deal_runs.end[rows], np.float32(np.inf))
        merged = np.concatenate([best, times.astype(float)], axis=0)
        best = np.partition(merged, wins - 1, axis=0)[:wins]
    if new_deals:
        rng = np.random.default_rng(seed)
        new = new or NewDeals(model, rng)
        merged = np.concatenate([best, new.win_times(wins, runs, rng)])
        best = np.partition(merged, wins - 1, axis=0)[:wins]
    nth = best.max(axis=0)
    nth = np.where(nth <= horizon_hours, nth, np.inf)
    ordered = np.sort(nth)
    likely = {level: float(ordered[max(int(np.ceil(level * runs)) - 1, 0)]) for level in LEVELS}
    return WinsNeeded(
        wins=wins,
        hours=Bands.of(nth),
        likely_by=likely,
        reached=float(np.isfinite(nth).mean()),
    )
