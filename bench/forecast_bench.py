"""Benchmark of the deal-level forecast engine (issue 19; ``make bench``).

A hand-built eight-step stream (moving on, going back one step now and then, losses at every
step, wins at the last; each step's completed times 2,000 log-normal draws) and ``--deals``
open deals (default 5,000) spread over its steps, with ages from fresh to older than every
completed visit. Timed, in this process (its peak memory, ``ru_maxrss``, is the engine's):

* **simulate** — ``simulate_deals`` with ``--runs`` runs (default 10,000) per deal;
* **per deal** — win probability and the 50 / 85 / 95 % close-date quantiles;
* **pipeline** — wins and revenue within 90 days with new deals arriving, and when 50 more
  wins come in.

Targets (issue 19): the simulation of 10,000 runs over 5,000 open deals under 5 s, memory
under 1 GiB. It touches no database. Run it under ``flock /tmp/bench.lock``.

    python bench/forecast_bench.py [--deals 5000] [--runs 10000] [--seed 1] [--chunk N]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from common import django_setup, peak_mib

STEPS = 8


def _model(rng):
    import numpy as np

    from funnel.forecasts.model import flow_model

    counts = np.zeros((STEPS, STEPS + 2), dtype=np.int64)
    for s in range(STEPS):
        lost = 150 + 20 * s
        back = 60 if s > 0 else 0
        if s > 0:
            counts[s, s - 1] = back
        counts[s, s + 1 if s + 1 < STEPS else STEPS] = 1000 - lost - back
        counts[s, STEPS + 1] = lost
    durations = [rng.lognormal(np.log(24 + 12 * s), 1.0, size=2000) for s in range(STEPS)]
    return flow_model(
        list(range(1, STEPS + 1)),
        counts,
        durations,
        entries=np.array([1] + [0] * (STEPS - 1)),
        arrivals_per_hour=0.5,
        won_amounts=rng.lognormal(np.log(20_000), 0.8, size=500),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=0, help="entries per chunk (0: default)")
    args = parser.parse_args()
    django_setup()
    import numpy as np

    from funnel.forecasts import simulation

    if args.chunk:
        simulation.CHUNK = args.chunk

    from funnel.forecasts.model import OpenDeals
    from funnel.forecasts.pipeline import wins_by, wins_needed
    from funnel.forecasts.simulation import simulate_deals

    rng = np.random.default_rng(args.seed)
    model = _model(rng)
    n = args.deals
    deals = OpenDeals(
        deal_ids=np.arange(n),
        steps=rng.integers(0, STEPS, size=n),
        ages=rng.exponential(60.0, size=n) * rng.choice([1.0, 1.0, 1.0, 40.0], size=n),
        amounts=rng.lognormal(np.log(20_000), 0.8, size=n),
        has_amount=np.ones(n, dtype=bool),
    )
    before = peak_mib()
    t0 = time.perf_counter()
    runs = simulate_deals(model, deals, runs=args.runs, seed=args.seed)
    t1 = time.perf_counter()
    probability = runs.win_probability()
    runs.close_quantiles()
    t2 = time.perf_counter()
    by = wins_by(runs, model, 90 * 24.0, seed=args.seed)
    needed = wins_needed(runs, model, 50, horizon_hours=365 * 24.0, seed=args.seed)
    t3 = time.perf_counter()
    print(
        json.dumps(
            {
                "deals": n,
                "runs": args.runs,
                "chunk": simulation.CHUNK,
                "simulate_s": round(t1 - t0, 2),
                "per_deal_s": round(t2 - t1, 2),
                "pipeline_s": round(t3 - t2, 2),
                "total_s": round(t3 - t0, 2),
                "peak_mib": round(peak_mib(), 0),
                "peak_before_mib": round(before, 0),
                "unresolved": runs.unresolved,
                "mean_win_probability": round(float(probability.mean()), 3),
                "wins_90d_median": by.wins.median,
                "wins_50_median_days": round(needed.hours.median / 24, 1),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
