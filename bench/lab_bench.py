"""Benchmark of the qualification lab on PostgreSQL (``make bench``).

Seeds a team of its own ("Lab bench", replaced on each run: use a database of its own) with a
six-step stream, 10 criteria and ``--deals`` closed deals (default 100,000) plus 2,000 open
ones, their visits and scores (``funnel.qualification.simulate``, three criteria with a real
effect); then, each in a fresh process so that its peak memory (``ru_maxrss``) is its own:

* **compute** — the background job's body (``lab_job_run``): every figure of the lab as of
  the latest known-by step, the cross-validated model with its bootstrap, the walk-away
  rules, the per-step models of the open deals, the coverage, stored as a snapshot;
* **read** — ``GET /api/streams/{id}/lab/`` of that view afterwards, through Django's test
  client as a manager (median of five);
* **pages** — the Quality page (the lab's default view) beside the stream's Funnel, Flow and
  Waste dashboards, each view computed first, read warm as the manager (median of five).

Targets: compute under 15 s and 1 GiB; the read as fast as any other dashboard's.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_h1_bench python bench/lab_bench.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from common import child, peak_mib, postgres_migrated, run_as_child

TEAM = "Lab bench"
START = datetime(2025, 1, 1, tzinfo=UTC)
EFFECTS = [1.5, 0, 0, 1.0, 0, 0, 0, 0.8, 0, 0]


def _stream():
    from streams.models import ValueStream

    return ValueStream.objects.get(team__name=TEAM)


def _params(as_of: str = "close") -> dict:
    return {
        "as_of": as_of,
        "start": START.date().isoformat(),
        "end": (START + timedelta(days=800)).date().isoformat(),
    }


def child_seed(deals: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from funnel.qualification.simulate import simulate_lab
    from streams.models import Membership, Role, Team
    from streams.services import LaneSpec, StepSpec, stream_create

    users = get_user_model().objects
    Team.objects.filter(name=TEAM).delete()
    users.filter(username__startswith="lab-bench-").delete()
    team = Team.objects.create(name=TEAM, slug="lab-bench")
    steps = ["Qualify", "Discovery", "Demo", "Proposal", "Negotiation", "Contract"]
    stream = stream_create(
        team=team,
        name="Lab bench",
        lanes=[LaneSpec("AE")],
        steps=[
            StepSpec(name=s, lane="AE", planned_process_hours=2, planned_lead_hours=24)
            for s in steps
        ],
    )
    reps = []
    for i in range(10):
        user = users.create(username=f"lab-bench-rep-{i}", first_name="Rep", last_name=str(i))
        Membership.objects.create(user=user, team=team, role=Role.REP)
        reps.append(user.pk)
    manager = users.create(username="lab-bench-manager")
    Membership.objects.create(user=manager, team=team, role=Role.MANAGER)
    began = time.perf_counter()
    sim = simulate_lab(
        stream,
        closed=deals,
        open_deals=2000,
        effects=EFFECTS,
        start=START,
        days=700,
        known_by=3,
        owners=reps,
        win_calls=True,
        seed=1,
    )
    seconds = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE funnel_visit, funnel_deal, funnel_criterionscore, funnel_wincall"
        )
    return {"deals": deals, "visits": sim.visits, "scores": sim.scores, "seconds": seconds}


def child_compute(deals: int, as_of: str = "close") -> dict:
    from funnel.qualification.snapshots import lab_job_params, lab_job_run, lab_view_from_params
    from streams.models import Job
    from streams.services import job_create

    stream = _stream()
    view, key, rolling = lab_view_from_params(stream, _params(as_of))
    job = job_create(
        kind="lab view",
        params=lab_job_params(stream=stream, view=view, key=key, rolling=rolling),
    )
    began, cpu = time.perf_counter(), time.process_time()
    closed = lab_job_run(job_id=job.pk)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    Job.objects.filter(pk=job.pk).delete()
    return {"seconds": seconds, "cpu": cpu, "closed": closed, "peak_mib": peak_mib()}


def child_compute_at_step(deals: int) -> dict:
    """The same as of the latest known-by step (Proposal): only the deals that reached it."""
    return child_compute(deals, as_of="")


def child_read(deals: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    stream = _stream()
    client = Client()
    client.force_login(get_user_model().objects.get(username="lab-bench-manager"))
    url = f"/api/streams/{stream.pk}/lab/"
    times = []
    for _ in range(5):
        began = time.perf_counter()
        response = client.get(url, _params(), HTTP_HOST="localhost")
        times.append(time.perf_counter() - began)
        if response.status_code != 200 or response.json().get("stale"):
            raise SystemExit(f"read: {response.status_code} {response.content[:300]!r}")
    return {"seconds": statistics.median(times), "bytes": len(response.content)}


def child_pages(deals: int) -> dict:
    """The Quality page beside the stream's other dashboards (Funnel, Flow, Waste): each view
    computed first (the metrics recompute, the lab's default view, as their jobs would), then
    read warm through Django's test client as the manager, median of five each."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from funnel.metrics.snapshots import metrics_recompute_stream
    from funnel.qualification.snapshots import lab_job_params, lab_job_run, lab_view_from_params
    from streams.models import Job
    from streams.services import job_create

    stream = _stream()
    metrics_recompute_stream(stream_id=stream.pk, now=timezone.now())
    view, key, rolling = lab_view_from_params(stream, {})
    job = job_create(
        kind="lab view",
        params=lab_job_params(stream=stream, view=view, key=key, rolling=rolling),
    )
    lab_job_run(job_id=job.pk)
    Job.objects.filter(pk=job.pk).delete()
    client = Client()
    client.force_login(get_user_model().objects.get(username="lab-bench-manager"))
    medians = {}
    for board in ("quality", "funnel", "flow", "waste"):
        url = f"/dashboards/streams/{stream.slug}/{board}/"
        times = []
        for _ in range(6):  # the first read renders what later reads find cached
            began = time.perf_counter()
            response = client.get(url, HTTP_HOST="localhost")
            times.append(time.perf_counter() - began)
            page = response.content.decode()
            if response.status_code != 200 or "fresh figures are on their way" in page:
                raise SystemExit(f"{board}: {response.status_code}, not a fresh page")
        medians[board] = statistics.median(times[1:])
    return medians


CHILDREN = {
    "seed": child_seed,
    "compute": child_compute,
    "compute_at_step": child_compute_at_step,
    "read": child_read,
    "pages": child_pages,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=100_000, help="closed deals")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded team")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if run_as_child(CHILDREN, args.child, args.deals):
        return
    postgres_migrated("bench/lab_bench.py")
    run = lambda name: child(__file__, name, "--deals", str(args.deals))  # noqa: E731
    seeded = {"visits": "—", "scores": "—"}
    if not args.reuse:
        print(f"seeding {args.deals:,} closed deals …", file=sys.stderr, flush=True)
        seeded = run("seed")
        seeded = {k: f"{seeded[k]:,}" for k in ("visits", "scores")}
    rows = [("at close", run("compute")), ("as of Proposal", run("compute_at_step"))]
    read = run("read")
    pages = run("pages")
    print()
    print(
        f"Seeded {args.deals:,} closed and 2,000 open deals, {seeded['visits']} visits, "
        f"{seeded['scores']} scores, 10 criteria."
    )
    # The job's own CPU time (not the database's) beside the wall time: on a shared machine
    # the wall time grows with the other work, the CPU time much less.
    print("\n| view | deals in the view | lab job (incl. CV), s | its CPU, s | peak memory |")
    print("|---|---|---|---|---|")
    for name, compute in rows:
        print(
            f"| {name} | {compute['closed']:,} | {compute['seconds']:.2f} "
            f"| {compute['cpu']:.2f} | {compute['peak_mib']:.0f} MiB |"
        )
    print(
        f"\nAPI read of the lab afterwards (at close, median of 5): {read['seconds']:.3f} s, "
        f"{read['bytes'] / 1024:.0f} KiB."
    )
    print(
        "\nDashboard pages of the stream afterwards (warm, median of 5): "
        + ", ".join(f"{board.capitalize()} {ms * 1000:.1f} ms" for board, ms in pages.items())
        + f"; Quality × the slowest other: "
        f"{pages['quality'] / max(v for k, v in pages.items() if k != 'quality'):.2f}."
    )
    print(
        "\nTargets: the lab job under 15 s and 1 GiB with 100,000 closed deals × 10 criteria; "
        "the Quality page read as fast as the other dashboards."
    )


if __name__ == "__main__":
    main()
