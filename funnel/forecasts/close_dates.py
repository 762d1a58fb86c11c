"""Back-tests of each deal's close dates (issue 19, point 3; docs/forecasts.md "Back-tests
of each deal's close date").

A forecast gives each open deal close-date quantiles **given it is won** (``DealRuns.
close_quantiles``: among the runs in which the deal is won). At a back-test date ``T`` the
deals open then are simulated from the log as it stood at ``T`` (the same model as the
stream's figures, runs not stopped at a horizon: the quantiles are the live forecast's), and
each deal's central 50 / 85 / 95 % bands (the 25th to 75th percentile, and so on, as
:class:`funnel.forecasts.pipeline.Bands`) are held against what the log says happened by
``now``:

- **won** by ``now``: scored: inside each band or not, and its error, |close − median| in
  days;
- **lost** by ``now``: not scored (a forecast given it is won has no date to hit);
- **still open** at ``now``: counted **outside every band** when ``now`` is already past its
  95 % band's upper end (if it is won, it closes after that end); otherwise left out
  (censored: it may still close inside);
- no run won it: it had no dates; not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from funnel.forecasts.history import _WON, EventLog, _ms
from funnel.forecasts.model import FlowModel, OpenDeals, TimeAxis
from funnel.forecasts.pipeline import BANDS
from funnel.forecasts.simulation import simulate_deals

#: The quantiles read per deal: the median, then each band's low and high end.
QUANTILES = (0.5, *(q for level in BANDS for q in ((1 - level) / 2, (1 + level) / 2)))
#: Added to a date's seed for its close-date runs (independent of its other draws).
SEED_OFFSET = 500_000_000_039


@dataclass(frozen=True)
class CloseDatesPoint:
    """One back-test date's deals, scored as the module says."""

    #: Deals scored: won by ``now`` with dates, or still open past their 95 % band.
    scored: int
    #: level → scored deals whose close fell inside that band (ends included).
    inside: dict[float, int]
    #: |close − median forecast| in days, one per deal won by ``now`` with dates.
    errors_days: tuple[float, ...]
    #: Still open at ``now`` past the 95 % band's upper end: scored, outside every band.
    open_outside: int
    #: Still open at ``now`` within (or before) their 95 % band: left out.
    censored: int
    #: Lost by ``now``: left out.
    lost: int
    #: Won or still open, but never won in the runs (no dates): left out.
    no_dates: int


def _subset(deals: OpenDeals, mask: np.ndarray) -> OpenDeals:
    return OpenDeals(
        deal_ids=deals.deal_ids[mask],
        steps=deals.steps[mask],
        ages=deals.ages[mask],
        amounts=deals.amounts[mask],
        has_amount=deals.has_amount[mask],
    )


def score_close_dates(
    log: EventLog,
    moment: datetime,
    model: FlowModel,
    open_deals: OpenDeals,
    axis: TimeAxis,
    *,
    now: datetime,
    runs: int,
    seed: int | None,
) -> CloseDatesPoint:
    """The close dates forecast at ``moment`` for the deals open then, against the log as of
    ``now`` (a close after ``now`` is not known yet: such a deal is still open)."""
    index = np.searchsorted(log.deal_ids, open_deals.deal_ids)
    closed = log.deal_closed[index]
    known = closed <= _ms(now)
    won = known & (log.deal_status[index] == _WON)
    still = ~known
    lost = int((known & ~won).sum())
    pick = won | still
    chosen = _subset(open_deals, pick)
    quantiles = np.full((len(chosen), len(QUANTILES)), np.nan)
    if len(chosen):
        seed = None if seed is None else seed + SEED_OFFSET
        deal_runs = simulate_deals(model, chosen, runs=runs, seed=seed)
        with np.errstate(invalid="ignore"):  # a deal never won: NaN dates, left out
            quantiles = deal_runs.close_quantiles(QUANTILES)
    has = ~np.isnan(quantiles[:, 0])
    won, still, closed = won[pick], still[pick], closed[pick]
    # Hours of the basis from the moment: each close, and ``now``.
    actual = log.hours_from(moment, np.where(won, closed, 0))
    seen = float(log.hours_from(moment, np.array([_ms(now)]))[0])
    upper = quantiles[:, -1]  # the 95 % band's upper end
    inside = dict.fromkeys(BANDS, 0)
    scored_won = np.flatnonzero(won & has)
    for j, level in enumerate(BANDS):
        low, high = quantiles[scored_won, 1 + 2 * j], quantiles[scored_won, 2 + 2 * j]
        hit = (low <= actual[scored_won]) & (actual[scored_won] <= high)
        inside[level] = int(hit.sum())
    # The error in days, between instants (in working time the median's instant on the
    # team's calendar), whatever the basis.
    medians = axis.instants(quantiles[scored_won, 0])
    errors = tuple(
        abs(int(closed[i]) / 1000 - median.timestamp()) / 86_400
        for i, median in zip(scored_won, medians, strict=True)
    )
    open_outside = int((still & has & (seen > upper)).sum())
    return CloseDatesPoint(
        scored=len(scored_won) + open_outside,
        inside=inside,
        errors_days=errors,
        open_outside=open_outside,
        censored=int((still & has).sum()) - open_outside,
        lost=lost,
        no_dates=int((~has).sum()),
    )
