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
under 1 GiB. That part touches no database.

Then, when ``DATABASE_URL`` names a PostgreSQL database (of its own: the demo team is
replaced), the **back-test**: the demo seeded with ``--backtest-visits`` visits (default
110,000, about 5,000 deals open at a time, as the simulation's; ``--reuse``: as seeded), and,
each in a fresh process (its peak memory its own), the back-test of a year of weekly dates
(``--dates`` 52, ``--weeks`` 13 ahead: a quarter) as its background job runs it
(``backtest``: the log read once and cut in memory, 500 runs per date, runs stopped at the
horizon), the same with "when 10 more wins", and the same-run baseline: the first engine
(the log read by SQL at each date, 2,000 runs, 100,000 fresh deals, no stop) on
``--baseline-dates`` dates (default 4), extrapolated to all of them. Target (issue 19): the
year of weekly dates under 60 s. Run it under ``flock /tmp/bench.lock``.

    python bench/forecast_bench.py [--deals 5000] [--runs 10000] [--seed 1] [--chunk N]
        [--skip-backtest] [--backtest-visits 110000 | --reuse] [--weeks 13] [--dates 52]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common import (
    child,
    child_seed_demo,
    demo_stream,
    django_setup,
    peak_mib,
    postgres_migrated,
    run_as_child,
)

SCRIPT = str(Path(__file__).resolve())
#: The back-test's options, set by ``main`` in the parent and in each child.
OPTIONS: dict = {}

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


def _dates() -> list:
    from datetime import timedelta

    from django.utils import timezone

    # Weekly dates whose horizon has passed: the latest one horizon before now.
    last = timezone.now() - timedelta(weeks=OPTIONS["weeks"])
    return [last - timedelta(weeks=k) for k in range(OPTIONS["dates"])][::-1]


def _backtest(needed: int | None) -> dict:
    from datetime import timedelta

    from funnel.forecasts.backtest import backtest
    from funnel.forecasts.history import EventLog

    stream = demo_stream()
    began = time.perf_counter()
    log = EventLog(stream)
    read = time.perf_counter() - began
    found = backtest(
        stream, _dates(), timedelta(weeks=OPTIONS["weeks"]), seed=1, needed=needed, log=log
    )
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "read_s": read,
        "visits": len(log.step),
        "dates": found.count,
        "open_deals_mean": sum(p.open_deals for p in found.points) / max(found.count, 1),
        "coverage": {
            name: {str(level): round(v, 2) for level, v in record.coverage.items()}
            for name, record in found.records.items()
        },
        "counts": {name: record.count for name, record in found.records.items()},
        "peak_mib": peak_mib(),
    }


def child_backtest(size: int) -> dict:
    return _backtest(None)


def child_backtest_needed(size: int) -> dict:
    return _backtest(10)


def child_baseline(size: int) -> dict:
    """The first engine on a few of the dates: per date, the SQL reading as of it, 2,000 runs
    without a stop, 100,000 fresh deals for the new ones."""
    from datetime import timedelta

    from funnel.forecasts.backtest import actual
    from funnel.forecasts.model import measure
    from funnel.forecasts.pipeline import wins_by
    from funnel.forecasts.simulation import simulate_deals

    stream = demo_stream()
    dates = _dates()
    some = dates[:: max(1, len(dates) // OPTIONS["baseline_dates"])][: OPTIONS["baseline_dates"]]
    horizon = timedelta(weeks=OPTIONS["weeks"])
    began = time.perf_counter()
    for i, moment in enumerate(some):
        model, open_deals, axis = measure(stream, now=moment, as_of=moment)
        runs = simulate_deals(model, open_deals, runs=2000, seed=i)
        wins_by(runs, model, axis.hours_until(moment + horizon), seed=i)
        actual(stream, moment, moment + horizon)
    seconds = time.perf_counter() - began
    return {
        "dates": len(some),
        "seconds": seconds,
        "extrapolated_s": seconds / max(len(some), 1) * len(dates),
        "peak_mib": peak_mib(),
    }


CHILDREN = {
    "seed": child_seed_demo,
    "backtest": child_backtest,
    "backtest_needed": child_backtest_needed,
    "baseline": child_baseline,
}


def _options(args) -> list[str]:
    OPTIONS.update(weeks=args.weeks, dates=args.dates, baseline_dates=args.baseline_dates)
    return [
        "--weeks", str(args.weeks), "--dates", str(args.dates),
        "--baseline-dates", str(args.baseline_dates),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=0, help="entries per chunk (0: default)")
    parser.add_argument("--skip-simulation", action="store_true")
    parser.add_argument("--skip-backtest", action="store_true")
    parser.add_argument("--backtest-visits", type=int, default=110_000)
    parser.add_argument("--reuse", action="store_true", help="back-test the demo as seeded")
    parser.add_argument("--weeks", type=int, default=13, help="back-test horizon")
    parser.add_argument("--dates", type=int, default=52, help="weekly back-test dates")
    parser.add_argument("--baseline-dates", type=int, default=4)
    parser.add_argument("--child")
    parser.add_argument("--size", type=int, default=0)
    args = parser.parse_args()
    forwarded = _options(args)
    if run_as_child(CHILDREN, args.child, args.size):
        return
    if not args.skip_simulation:
        _simulation(args)
    if not args.skip_backtest:
        _backtests(args, forwarded)


def _backtests(args, forwarded: list[str]) -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("back-test skipped: it needs DATABASE_URL=postgres://… (a database of its own)")
        return
    postgres_migrated(SCRIPT)
    if not args.reuse:
        seeded = child(SCRIPT, "seed", "--size", str(args.backtest_visits))
        print(json.dumps({"seeded": seeded}))
    for name in ("backtest", "backtest_needed", "baseline"):
        found = child(SCRIPT, name, *forwarded)
        found["load_average"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps({name: found}))


def _simulation(args) -> None:
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
