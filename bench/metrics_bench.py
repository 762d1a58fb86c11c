"""Benchmark of the metrics engine on PostgreSQL (``make bench``).

For each size (default about 100,000 and 1,000,000 visits) it seeds the demo stream with
``seed_demo`` (replacing the demo team: use a database of its own), then, each in a fresh
process so that its peak memory (``ru_maxrss``) is its own:

* **floor** — one hand-written SQL query: the per-step median time in step over every
  completed visit (``percentile_cont`` … ``GROUP BY step_id``); best of three;
* **elapsed only** — ``metrics_recompute_stream(series=False)`` with the working time left
  out (as if the team had no calendar): every figure of metrics.md §2–5 in elapsed time for
  the rolling 90 days and the 90 days before, stored as snapshots — the recompute as it was
  before working time;
* **recompute** — the same in both bases (elapsed and working time, one pass), as the
  recompute task does for a team with a calendar; reported beside the elapsed-only one
  (target: at most 1.5×);
* **charts** — the dashboards' chart series of the same two sets in both bases
  (``compute_series``, stored): the rest of what the recompute task does after the figures,
  reported on its own;
* **fresh** (when ``REDIS_URL`` is set) — with a real Celery worker running, a deal is moved
  through the service, and the time from the commit until the stream's snapshot is
  recomputed is measured (median of three moves).

Targets on the 2-core machine: recompute of 1,000,000 visits under 30 s and within 5× of the
floor, both bases within 1.5× of elapsed only, fresh within 2 s, peak memory under 1 GiB.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench_metrics \\
    REDIS_URL=redis://127.0.0.1:6379/13 python bench/metrics_bench.py [--sizes 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
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

ROOT = Path(__file__).resolve().parents[1]
EPOCH = "1970-01-01T00:00:00+00:00"


FLOOR_SQL = """
    SELECT v.step_id,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY date_part('epoch', v.exited_at - v.entered_at) / 3600.0)
    FROM funnel_visit v JOIN streams_processstep s ON s.id = v.step_id
    WHERE s.stream_id = %s AND v.exited_at IS NOT NULL
    GROUP BY v.step_id
"""


def child_floor(size: int) -> dict:
    from django.db import connection

    stream = demo_stream()
    times = []
    for _ in range(3):
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SQL, [stream.pk])
            rows = cursor.fetchall()
        times.append(time.perf_counter() - began)
    return {"seconds": min(times), "steps": len(rows), "peak_mib": peak_mib()}


def child_recompute(size: int) -> dict:
    """The full recompute in both bases (the stream's team has the demo calendar)."""
    from django.utils import timezone

    from funnel.metrics.snapshots import metrics_recompute_stream
    from funnel.models import MetricsSnapshot

    stream = demo_stream()
    began = time.perf_counter()
    sets = metrics_recompute_stream(stream_id=stream.pk, now=timezone.now(), series=False)
    seconds = time.perf_counter() - began
    bases = sorted(
        set(MetricsSnapshot.objects.filter(stream=stream).values_list("basis", flat=True))
    )
    return {"seconds": seconds, "sets": sets, "bases": bases, "peak_mib": peak_mib()}


def child_elapsed(size: int) -> dict:
    """The full recompute with working time left out, as before it existed: the engine sees
    no calendar (``Context.calendars`` None), so it reads no offsets and stores elapsed only."""
    from unittest import mock

    from funnel.metrics.engine import Context

    with mock.patch.object(Context, "calendars", new=property(lambda self: None)):
        return child_recompute(size)


def child_charts(size: int) -> dict:
    from django.utils import timezone

    from funnel.metrics.query import WORKING, MetricsQuery
    from funnel.metrics.series import compute_series
    from funnel.metrics.snapshots import STANDARD_QUERIES, metrics_stored, series_store

    stream = demo_stream()
    now = timezone.now()
    began = time.perf_counter()
    for kwargs in STANDARD_QUERIES:
        query = MetricsQuery(stream_id=stream.pk, **kwargs)
        charts = compute_series(query, now=now, result=metrics_stored(query))
        series_store(query, charts)
        working = MetricsQuery(stream_id=stream.pk, basis=WORKING, **kwargs)
        result = metrics_stored(working)
        if result is not None:
            series_store(working, compute_series(working, now=now, result=result, like=charts))
    return {"seconds": time.perf_counter() - began, "peak_mib": peak_mib()}


def child_fresh(size: int) -> dict:
    from django.utils import timezone

    from funnel.eventlog.services import deal_move
    from funnel.models import Deal, DealStatus, MetricsSnapshot, MetricsState

    stream = demo_stream()
    steps = list(stream.steps.order_by("position"))
    waits = []
    # The polls read one column: the whole row holds the chart series (about 80 KB of JSON
    # at 1M visits), and reading it 50 times a second would load the machine being measured.
    # The working-time rows are written after the elapsed ones of the same set: the figures
    # are fresh in both bases when they are.
    basis = (
        "working"
        if MetricsSnapshot.objects.filter(stream=stream, basis="working").exists()
        else "elapsed"
    )
    sets = MetricsSnapshot.objects.filter(stream=stream, filter_key="", basis=basis)
    rolling = sets.filter(window_key="last-90d")
    last = sets.filter(window_key="prev-90d")
    for deal in Deal.objects.filter(stream=stream, status=DealStatus.OPEN).order_by("pk")[:3]:
        before = rolling.values_list("computed_at", flat=True).get()
        visit = deal.visits.filter(exited_at__isnull=True).first()
        target = next(s for s in steps if visit is None or s.pk != visit.step_id)
        moved = timezone.now()
        deal_move(deal=deal, step=target, at=moved)  # commits: the recompute is queued
        committed = time.perf_counter()
        while rolling.values_list("computed_at", flat=True).get() <= before:
            if time.perf_counter() - committed > 120:
                raise SystemExit("no recompute within 120 s: is the worker running?")
            time.sleep(0.02)
        waits.append(time.perf_counter() - committed)
        # The next move waits until this recompute has written every set and, after the
        # figures, the last set's chart series, so each move is measured from an idle worker.
        while (
            MetricsState.objects.filter(stream=stream, scheduled_at__isnull=False).exists()
            or MetricsState.objects.get(stream=stream).computed_at <= moved
            or datetime.fromisoformat(
                last.values_list("series__computed_at", flat=True).get() or EPOCH
            )
            <= moved
        ):
            time.sleep(0.1)
    return {"seconds": statistics.median(waits), "all": waits}


CHILDREN = {
    "seed": child_seed_demo,
    "floor": child_floor,
    "recompute": child_recompute,
    "elapsed": child_elapsed,
    "charts": child_charts,
    "fresh": child_fresh,
}


def run_child(name: str, size: int) -> dict:
    return child(__file__, name, "--size", str(size))


def start_worker() -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "vsm_project",
            "worker",
            "--pool=solo",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
            "-n",
            f"bench-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    django_setup()
    from vsm_project.celery import app

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=1.0):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit("the Celery worker did not start")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="visits, comma-separated")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if run_as_child(CHILDREN, args.child, args.size):
        return
    postgres_migrated("bench/metrics_bench.py")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"seeding about {size:,} visits …", file=sys.stderr, flush=True)
        seeded = run_child("seed", size)
        floor = run_child("floor", size)
        elapsed = run_child("elapsed", size)
        recompute = run_child("recompute", size)
        charts = run_child("charts", size)
        fresh = None
        if os.environ.get("REDIS_URL"):
            worker = start_worker()
            try:
                fresh = run_child("fresh", size)
            finally:
                worker.terminate()
                worker.wait(timeout=30)
        rows.append((seeded, floor, elapsed, recompute, charts, fresh))

    print()
    print(
        "| visits | floor: per-step median, s | elapsed only, s | both bases, s | × elapsed "
        "| × floor | recompute peak memory | chart series (both bases), s "
        "| fresh after a new visit, s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for seeded, floor, elapsed, recompute, charts, fresh in rows:
        print(
            f"| {seeded['visits']:,} | {floor['seconds']:.2f} | {elapsed['seconds']:.2f} "
            f"| {recompute['seconds']:.2f} ({recompute['sets']} sets, "
            f"{' + '.join(recompute['bases'])}) "
            f"| {recompute['seconds'] / elapsed['seconds']:.2f} "
            f"| {recompute['seconds'] / floor['seconds']:.1f} "
            f"| {recompute['peak_mib']:.0f} MiB | {charts['seconds']:.2f} | "
            + (f"{fresh['seconds']:.2f}" if fresh else "— (set REDIS_URL)")
            + " |"
        )
    print(
        "\nTargets: recompute of 1,000,000 visits < 30 s and ≤ 5× the floor; both bases ≤ 1.5× "
        "elapsed only; fresh < 2 s; peak memory < 1 GiB."
    )


if __name__ == "__main__":
    main()
