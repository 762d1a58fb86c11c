"""Benchmark of process discovery on PostgreSQL (issue 18, "Speed").

For each size (default about 100,000 and 1,000,000 visits) it seeds the demo stream with
``seed_demo`` (replacing the demo team: use a database of its own), then, in a fresh process
so that its peak memory is its own, computes the Discovery view of the default window (the
last 90 days as of now) through its background job's body (``DISCOVERY.run``: read, compute,
store), and, separately, the same over the whole history (every deal), which reads every
visit. Target on the 2-core machine: the default window's job under 10 s at 1,000,000 visits.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench_discovery \\
    python bench/discovery_bench.py [--sizes 100000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import child, child_seed_demo, demo_stream, peak_mib, postgres_migrated, run_as_child

SCRIPT = str(Path(__file__).resolve())


def _job(params: dict) -> dict:
    from funnel.discovery.models import DiscoverySnapshot
    from funnel.discovery.snapshots import DISCOVERY
    from streams.models import Job
    from streams.services import job_create

    stream = demo_stream()
    view, key, live = DISCOVERY.view_from_params(stream, params)
    job = job_create(kind=DISCOVERY.job, params=DISCOVERY.job_params(stream, view, key, live))
    began = time.perf_counter()
    DISCOVERY.run(job_id=job.pk)
    seconds = time.perf_counter() - began
    result = DiscoverySnapshot.objects.get(stream=stream, view_key=key).result
    assert Job.objects.get(pk=job.pk).state == "done"
    return {
        "seconds": seconds,
        "deals": result["variants"]["deals"],
        "visits": sum(s["arrivals"] for s in result["conformance"]["by_step"]),
        "variants": result["variants"]["count"],
        "edges": len(result["graph"]["edges"]),
        "peak_mib": peak_mib(),
    }


def child_default(size: int) -> dict:
    return _job({})


def child_history(size: int) -> dict:
    return _job({"start": "1970-01-01", "end": "2100-01-01"})


CHILDREN = {"seed": child_seed_demo, "default": child_default, "history": child_history}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--sizes", default="100000,1000000", help="visits asked of seed_demo")
    parser.add_argument("--reuse", action="store_true", help="time the demo as it is seeded")
    args = parser.parse_args()
    if run_as_child(CHILDREN, args.child, args.size):
        return
    postgres_migrated(SCRIPT)
    if args.reuse:
        _time(0)
    for size in [] if args.reuse else [int(s) for s in args.sizes.split(",")]:
        seeded = child(SCRIPT, "seed", "--size", str(size))
        print(
            f"seeded {seeded['visits']:,} visits, {seeded['deals']:,} deals in "
            f"{seeded['seconds']:.1f} s"
        )
        _time(size)


def _time(size: int) -> None:
    for name in ("default", "history"):
        found = child(SCRIPT, name, "--size", str(size))
        print(
            f"  {name:8} {found['seconds']:6.2f} s  {found['deals']:,} deals, "
            f"{found['visits']:,} visits, {found['variants']:,} variants, "
            f"{found['edges']} edges, peak {found['peak_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
