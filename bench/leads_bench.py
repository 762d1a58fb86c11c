"""Benchmark of leads, hand-offs and pull on PostgreSQL (``make bench``).

Seeds the demo stream (replacing the demo team: use a database of its own) with ``--deals``
deals (default 100,000: ``vsm_project.demo_seed``, with their hand-off decisions), then builds
``--leads`` leads beside them (default 1,000,000: ``bench/leads_data.py``, drawn at once with
numpy from the demo's lead paths, cases, visits and decisions written by COPY), unless
``--reuse`` finds them there; then, each in a fresh process so that its peak memory
(``ru_maxrss``) is its own:

* **floor** — an existing dashboard page on the same data (Flow), through Django's test
  client as the manager, median of ``--reads`` warm reads;
* **board**, **queue** — the hand-off board and the ready-for-sales queue: their selectors
  (``handoff_board``, ``ready_queue``) and their pages, the same way (target: within 2× the
  floor);
* **pull** — one seller pulling alone (the baseline), then ``--sellers`` (default 20) pulling
  at once, ``--pulls`` pulls each, released together: each seller a process of its own
  (forked, with its own database connection, as gunicorn's worker processes serve sellers:
  the target's measure) and, for comparison, each a thread of one process (``--mode``); each
  seller warm before the start (the calendar's clock built, one pull made and rolled back,
  as a worker that has served requests). The time
  of each pull from the call to its commit (``lead_pull``, its own transaction; the
  recompute it schedules to run after the commit is left out: without a broker it would run
  in the seller's process), p50 and p95 (target: p95 under 100 ms), with the load average.
  The pulled leads are put back afterwards (decisions deleted, owners restored), so the data
  can be reused;
* **compute** — the Leads dashboard job (``compute_leads``) for the default view (the last 90
  days), with its peak memory (target: under 20 s).

Django runs in production mode (``DEBUG`` off: no query logged, static files from the
manifest, collected first), as gunicorn serves the product; ``--debug`` for the former way.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_h6_bench python bench/leads_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

from common import ROOT, child, django_setup, peak_mib, postgres_migrated

SELLER_PREFIX = "leads-bench-seller-"
#: Django's production mode (DEBUG off), as the dashboard benchmark serves it; plain http.
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "leads-bench-only",
    "DJANGO_ALLOWED_HOSTS": "localhost,testserver",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_SECURE_COOKIES": "false",
}
#: (label, URL name) of the pages: the floor's first, then the leads pages when they exist.
FLOOR_PAGES = [("Flow dashboard", "dashboards:board", {"board": "flow"})]
LEADS_PAGES = [
    ("hand-off board", ["leads:board", "funnel:leads_board", "leads:handoff_board"]),
    ("ready-for-sales queue", ["leads:queue", "funnel:leads_queue", "leads:ready_queue"]),
]


def _stream():
    from streams.models import StreamState, ValueStream
    from vsm_project.demo import DEMO_TEAM_SLUG

    return ValueStream.objects.get(team__slug=DEMO_TEAM_SLUG, state=StreamState.CURRENT)


def _counts() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE external_id LIKE 'LEAD-%%'), "
            "count(*) FILTER (WHERE external_id NOT LIKE 'LEAD-%%') FROM funnel_deal"
        )
        leads, deals = cursor.fetchone()
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'funnel_visit'")
        visits = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM funnel_handoffdecision")
        decisions = cursor.fetchone()[0]
    return {"leads": leads, "deals": deals, "visits": visits, "decisions": decisions}


def child_seed(args: argparse.Namespace) -> dict:
    """The demo with ``--deals`` deals and no leads (its own simulation of them is one lead at
    a time: too slow for a million)."""
    from vsm_project.demo import demo_seed

    began = time.perf_counter()
    result = demo_seed(deals=args.deals, leads=0)
    return {**result.as_dict(), "seconds": time.perf_counter() - began, "peak_mib": peak_mib()}


def child_leads(args: argparse.Namespace) -> dict:
    """``--leads`` leads beside the deals, in bulk (``leads_data.leads_build``), then the
    stream's metrics recomputed (the floor page reads them) and the tables analysed."""
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone
    from leads_data import leads_build

    from funnel.leads.models import SellerLimit
    from funnel.metrics.snapshots import metrics_recompute_stream
    from funnel.models import Deal
    from vsm_project.demo import default_anchor
    from vsm_project.demo_leads import SELLER_HEADROOM

    began = time.perf_counter()
    totals = leads_build(args.leads, anchor=default_anchor(), progress=lambda m: None)
    stream = _stream()
    open_deals = dict(
        Deal.objects.filter(stream=stream, status="open", owner__username__in=SELLER_HEADROOM)
        .values_list("owner__username")
        .annotate(n=Count("id"))
    )
    for name, headroom in SELLER_HEADROOM.items():  # as the demo's: at or under the limit
        user = stream.team.memberships.get(user__username=name).user
        limit = max(1, min(500, open_deals.get(name, 0) + headroom))
        SellerLimit.objects.update_or_create(
            stream=stream, user=user, defaults={"wip_limit": limit}
        )
    built = time.perf_counter() - began
    with connection.cursor() as cursor:  # autovacuum is off on some machines
        cursor.execute("VACUUM ANALYZE funnel_visit, funnel_deal, funnel_handoffdecision")
    metrics_recompute_stream(stream_id=_stream().pk, now=timezone.now())
    return {
        **totals,
        "seconds": built,
        "total_seconds": time.perf_counter() - began,
        "peak_mib": peak_mib(),
    }


def _reader():
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="manager"))
    return client


def _median_read(client, url: str, reads: int, before=None) -> dict:
    client.get(url, HTTP_HOST="localhost")  # the first read's one-time work is not measured
    times = []
    for _ in range(reads):
        if before is not None:
            before()
        began = time.perf_counter()
        response = client.get(url, HTTP_HOST="localhost")
        times.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.content[:300]!r}")
    return {"ms": 1000 * statistics.median(times), "bytes": len(response.content), "url": url}


def _median_call(func, reads: int, before=None) -> float:
    func()
    times = []
    for _ in range(reads):
        if before is not None:
            before()
        began = time.perf_counter()
        func()
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


def child_reads(args: argparse.Namespace) -> dict:
    """The floor page, then the leads selectors and pages, in one process one after the other
    (so they share the machine's state)."""
    from django.urls import NoReverseMatch, reverse

    stream = _stream()
    client = _reader()
    out: dict = {"pages": {}, "selectors": {}}
    for label, name, extra in FLOOR_PAGES:
        url = reverse(name, kwargs={"slug": stream.slug, **extra})
        out["pages"][label] = _median_read(client, url, args.reads)
    try:
        from django.core.cache import cache

        from funnel.leads.selectors import handoff_board, ready_queue
        from funnel.leads.views import BOARD_ROWS, QUEUE_ROWS
    except ImportError:
        pass
    else:
        board = handoff_board(stream)
        queue = ready_queue(stream)
        out["waiting"] = {"board": board.total, "queue": queue.total}
        calls = {
            # As the pages call them (a page of rows), then as the API does (200 rows).
            "handoff_board": lambda: handoff_board(stream, limit=BOARD_ROWS),
            "ready_queue": lambda: ready_queue(stream, limit=QUEUE_ROWS),
            "handoff_board, 200 rows (the API)": lambda: handoff_board(stream),
            "ready_queue, 200 rows (the API)": lambda: ready_queue(stream),
        }
        for label, func in calls.items():
            out["selectors"][label] = _median_call(func, args.reads)
        # The first read after a change at a large step counts its waiting arrivals again.
        out["selectors"]["handoff_board, counts not kept"] = _median_call(
            calls["handoff_board"], args.reads, before=cache.clear
        )
    for label, names in LEADS_PAGES:
        for name in names:
            try:
                url = reverse(name, kwargs={"slug": stream.slug})
            except NoReverseMatch:
                continue
            out["pages"][label] = _median_read(client, url, args.reads)
            break
    board_url = out["pages"].get("hand-off board", {}).get("url")
    if board_url:
        from django.core.cache import cache

        out["pages"]["hand-off board, counts not kept"] = _median_read(
            client, board_url, args.reads, before=cache.clear
        )
    queue_url = out["pages"].get("ready-for-sales queue", {}).get("url")
    if queue_url:
        out["pages"]["ready-for-sales queue, by probability"] = _median_read(
            client, queue_url + "?order=probability", args.reads
        )
    out["load"] = os.getloadavg()
    return out


def child_pull(args: argparse.Namespace) -> dict:
    """``--sellers`` sellers pull ``--pulls`` leads each, all released at once; the pulls are
    undone after. ``--mode processes``: each seller a process of its own (forked, its own
    database connection), as a gunicorn worker serves a seller's request; ``threads``: each a
    thread of this one process (they share its interpreter's lock). Either way every seller
    is warm before the start, as a worker is after its first requests: Django loaded, the
    stream's calendar clock built, one pull made and rolled back (its connection open, its
    code and queries run once). Each pull is timed from the call to its commit."""
    import multiprocessing
    import os
    from unittest import mock

    from django.contrib.auth import get_user_model
    from django.db import connection, connections, transaction
    from django.utils import timezone

    from funnel.eventlog.working import clock_of, stream_calendars
    from funnel.leads import services
    from funnel.leads.models import HandoffDecision, SellerLimit
    from funnel.models import Deal, Visit
    from streams.models import Membership, Role

    stream = _stream()
    users = get_user_model().objects
    sellers = []
    for k in range(args.sellers):
        user, _ = users.get_or_create(username=f"{SELLER_PREFIX}{k:02d}")
        Membership.objects.get_or_create(user=user, team=stream.team, defaults={"role": Role.REP})
        SellerLimit.objects.update_or_create(stream=stream, user=user, defaults={"wip_limit": 500})
        sellers.append(user)
    pull = stream.handoffs.get(pull=True)
    # The owners of the leads the pulls will take (the oldest waiting), to put them back.
    waiting = (
        Visit.objects.filter(step_id=pull.step_id, exited_at__isnull=True)
        .exclude(pk__in=HandoffDecision.objects.filter(handoff=pull).values("visit"))
        .order_by("entered_at", "id")
        .values_list("deal_id", "deal__owner_id")[: 2 * args.sellers * args.pulls]
    )
    owners = dict(waiting)
    if len(owners) < args.sellers * args.pulls:
        raise SystemExit(f"only {len(owners)} leads wait in the queue")
    # Warm: the clocks of the stream's calendars (built once per process and calendar
    # version), here before the sellers start, so that threads and forked processes have them.
    calendars = stream_calendars(stream.pk)
    for key in {calendars.default, *calendars.lanes.values()} - {None}:
        clock_of(key).w(timezone.now())

    class Undone(Exception):
        pass

    def pulls(user, barrier) -> tuple[list[float], list[str], float]:
        times: list[float] = []
        errors: list[str] = []
        cpu = 0.0
        try:
            # Warm, as a worker that has served requests: one pull, rolled back.
            try:
                with transaction.atomic():
                    services.lead_pull(stream=stream, user=user)
                    raise Undone
            except Undone:
                pass
            barrier.wait()
            cpu = time.thread_time()
            for _ in range(args.pulls):
                began = time.perf_counter()
                services.lead_pull(stream=stream, user=user)  # its own transaction, committed
                times.append(time.perf_counter() - began)
            cpu = time.thread_time() - cpu
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()
        return times, errors, cpu

    times: list[float] = []
    errors: list[str] = []
    cpu: list[float] = []  # each seller's own CPU time over its pulls (Python's side)
    load_before = os.getloadavg()
    # The recompute a pull schedules runs after its commit (eagerly, in the seller's thread or
    # process, without a broker): not part of the pull, and left out here.
    with mock.patch.object(services, "metrics_changed", lambda **kw: None):
        if args.mode == "threads":
            barrier = threading.Barrier(args.sellers + 1)
            lock = threading.Lock()

            def seller(user) -> None:
                took, failed, used = pulls(user, barrier)
                with lock:
                    times.extend(took)
                    errors.extend(failed)
                    cpu.append(used)

            workers = [threading.Thread(target=seller, args=(u,)) for u in sellers]
        else:
            fork = multiprocessing.get_context("fork")
            barrier = fork.Barrier(args.sellers + 1)
            results = fork.Queue()
            connections.close_all()  # each process opens its own

            def seller(user) -> None:
                results.put(pulls(user, barrier))

            workers = [fork.Process(target=seller, args=(u,)) for u in sellers]
        for worker in workers:
            worker.start()
        barrier.wait()
        began = time.perf_counter()
        if args.mode != "threads":
            for _ in workers:
                took, failed, used = results.get()
                times.extend(took)
                errors.extend(failed)
                cpu.append(used)
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - began
    load_after = os.getloadavg()
    pulled = HandoffDecision.objects.filter(actor__in=sellers)
    deal_ids = list(pulled.values_list("deal_id", flat=True))
    twice = len(deal_ids) - len(set(deal_ids))
    with transaction.atomic():
        pulled.delete()
        for deal_id in deal_ids:
            Deal.objects.filter(pk=deal_id).update(owner_id=owners.get(deal_id))
    times.sort()
    return {
        "mode": args.mode,
        "pulls": len(times),
        "errors": errors[:5],
        "error_count": len(errors),
        "twice": twice,
        "p50_ms": 1000 * statistics.median(times) if times else None,
        "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))] if times else None,
        "max_ms": 1000 * times[-1] if times else None,
        "per_second": len(times) / wall,
        "cpu_ms": 1000 * sum(cpu) / len(times) if times else None,
        "load": [round(load_before[0], 1), round(load_after[0], 1)],
    }


def child_compute(args: argparse.Namespace) -> dict:
    """The Leads job's body for the default view (the last 90 days as of now) in the basis
    ``--basis``: ``compute_leads``, then storing its snapshot as the job does."""
    from django.utils import timezone

    from funnel.leads.models import LeadsSnapshot
    from funnel.leads.snapshots import compute_leads, leads_view_from_params

    stream = _stream()
    view, key, _live = leads_view_from_params(stream, {"time": args.basis})
    began = time.perf_counter()
    result = compute_leads(view)
    seconds = time.perf_counter() - began
    LeadsSnapshot.objects.update_or_create(
        stream=stream,
        view_key=key,
        defaults={"result": result, "computed_at": timezone.now(), "requested_at": timezone.now()},
    )
    return {
        "seconds": seconds,
        "stored_seconds": time.perf_counter() - began,
        "peak_mib": peak_mib(),
        "bytes": len(json.dumps(result, default=str)),
        "created": sum(c["created"] for c in result.get("cohorts", [])),
    }


CHILDREN = {
    "seed": child_seed,
    "leads": child_leads,
    "reads": child_reads,
    "pull": child_pull,
    "compute": child_compute,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=7, help="warm reads per page (median)")
    parser.add_argument("--sellers", type=int, default=20)
    parser.add_argument("--pulls", type=int, default=10, help="pulls per seller")
    parser.add_argument(
        "--mode",
        default="processes,threads",
        help="the sellers as processes (each its own interpreter, as gunicorn's workers: the "
        "target's measure) and/or threads of one process, comma-separated",
    )
    parser.add_argument("--reuse", action="store_true", help="keep a demo seeded before")
    parser.add_argument("--basis", default="elapsed", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only", default="reads,pull,compute", help="which measures, comma-separated"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="run Django with DEBUG on, every query logged (the figures before 2026-12-06 "
        "20:10 UTC); by default in production mode, as gunicorn serves the product",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.debug and not args.child:
        # Production mode for this process and its children (they inherit the environment):
        # DEBUG off, so no query is logged. Plain http for the test client, as `make run`.
        for key, value in PRODUCTION.items():
            os.environ.setdefault(key, value)
        # The pages name their static files from the manifest (DEBUG off), as gunicorn does.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            check=True,
        )
    if args.child:
        django_setup()
        print(json.dumps(CHILDREN[args.child](args), default=str))
        return
    postgres_migrated("bench/leads_bench.py")
    passed = [
        f"--{k}={v}"
        for k, v in vars(args).items()
        if k in ("deals", "leads", "reads", "sellers", "pulls")
    ]
    run = lambda name: child(__file__, name, *passed)  # noqa: E731
    django_setup()
    seeded = built = None
    counts = _counts()
    if not (args.reuse and counts["deals"] >= 0.9 * args.deals):
        print(f"seeding {args.deals:,} deals …", file=sys.stderr, flush=True)
        seeded = run("seed")
    if not (args.reuse and counts["leads"] >= 0.9 * args.leads):
        print(f"building {args.leads:,} leads …", file=sys.stderr, flush=True)
        built = run("leads")
    counts = _counts()
    print(
        f"\n{counts['deals']:,} deals, {counts['leads']:,} leads, about {counts['visits']:,} "
        f"visits, {counts['decisions']:,} hand-off decisions"
        + (f"; the deals seeded in {seeded['seconds']:.0f} s" if seeded else "")
        + (
            f"; the leads built in {built['seconds']:.0f} s ({built['peak_mib']:.0f} MiB), "
            f"with the metrics recompute {built['total_seconds']:.0f} s"
            if built
            else ""
        )
    )
    only = set(args.only.split(","))
    report: dict = {"counts": counts, "seeded": seeded}
    if "reads" in only:
        reads = report["reads"] = run("reads")
        floor = reads["pages"]["Flow dashboard"]["ms"]
        print(f"\nWaiting: {reads.get('waiting', '—')}; load average {reads.get('load')}")
        print("\n| read | median, ms | × floor |")
        print("|---|---|---|")
        for label, r in reads["pages"].items():
            print(f"| page: {label} (`{r['url']}`) | {r['ms']:.1f} | {r['ms'] / floor:.2f} |")
        for label, ms in reads["selectors"].items():
            print(f"| selector: `{label}` | {ms:.1f} | {ms / floor:.2f} |")
        print("\nTarget: the board and the queue within 2× the floor (the Flow dashboard).")
    if "pull" in only:
        # One seller alone first: what a pull costs when nobody else pulls (the baseline).
        alone = report["pull_alone"] = child(
            __file__, "pull", *passed, "--sellers=1", "--mode=processes"
        )
        rows = [("1 seller alone", alone)]
        for mode in args.mode.split(","):
            r = report[f"pull_{mode}"] = child(__file__, "pull", *passed, f"--mode={mode}")
            rows.append((f"{args.sellers} sellers at once, {mode}", r))
        print(
            "\n| pulls | pulls | p50, ms | p95, ms | max, ms | pulls/s | Python CPU a pull, ms "
            "| errors | pulled twice | load average before/after |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for label, r in rows:
            print(
                f"| {label}, {args.pulls} each | {r['pulls']} | {r['p50_ms']:.1f} "
                f"| {r['p95_ms']:.1f} | {r['max_ms']:.1f} | {r['per_second']:.0f} "
                f"| {r['cpu_ms']:.1f} | {r['error_count']} {r['errors'][:1]} | {r['twice']} "
                f"| {r['load'][0]} / {r['load'][1]} |"
            )
        print(
            "\nTarget: p95 < 100 ms with the sellers pulling at once (measured with the "
            "sellers as processes, as gunicorn's workers serve them)."
        )
    if "compute" in only:
        for basis in ("elapsed", "working"):
            compute = report[f"compute_{basis}"] = child(
                __file__, "compute", *passed, f"--basis={basis}"
            )
            print(
                f"\ncompute_leads, the default view (last 90 days), {basis} time: "
                f"{compute['seconds']:.2f} s ({compute['stored_seconds']:.2f} s stored), "
                f"peak memory {compute['peak_mib']:.0f} MiB, {compute['created']:,} cases "
                f"created in the window, result {compute['bytes'] / 1024:.0f} KiB. "
                "Target: under 20 s."
            )
    print(json.dumps(report, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
