"""Benchmark of the event-log import against PostgreSQL's own COPY (``make bench``).

Generates a ``visits`` CSV of ``--visits`` rows (default 1,000,000, about 165,000 deals: the
demo's eight steps, rework, won, lost and open deals, deal columns on every row), then, each
in a fresh process so that its peak memory (``ru_maxrss``) is its own:

* **floor** — a plain ``COPY … FROM STDIN (FORMAT csv)`` of the same file into a bare table
  (typed columns, no index, no constraint): the least any import of these rows can cost;
* **import** — ``funnel.importing.import_events`` of the same file into an empty stream:
  reading, checking every row, deals with ``bulk_create``, visits with ``COPY`` into
  ``funnel_visit`` with its indexes, foreign keys, constraints and trigger.

It prints both with the ratio. Needs ``DATABASE_URL=postgres://…`` (the database is migrated
first; the benchmark's team and table are removed afterwards). Targets (issue 12): within
1.2× of the same rows written into the app's tables in SQL alone (per-row foreign-key checks
make that about 9× a bare ``COPY``), reading and checking under 10 s, under 600 MiB.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench python bench/import_bench.py
    python bench/import_bench.py --visits 100000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import django_setup, peak_mib

ROOT = Path(__file__).resolve().parents[1]
# Per run, so that two runs on one database do not delete each other's rows.
TEAM_SLUG = f"import-bench-{os.getpid()}"
FLOOR_TABLE = "bench_import_floor"  # + the run's team slug
USAGE = """\
bench/import_bench.py measures the import on PostgreSQL, so DATABASE_URL must name one:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench make bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench .venv/bin/python \\
        bench/import_bench.py --visits 100000

(The database is created if the server allows it, and migrated.)"""


# --- Generating the file -------------------------------------------------------------------


def generate(path: Path, visits: int, seed: int) -> dict:
    """Write a visits CSV of exactly ``visits`` rows; returns counts."""
    import numpy as np
    from django.utils import timezone

    from funnel.exporting.csv_export import CSV_COLUMNS
    from vsm_project.demo import LOST_REASONS, SOURCES, STEPS, USERS

    rng = np.random.default_rng(seed)
    steps = [s.spec for s in STEPS]
    reps = [u.username for u in USERS if u.role == "rep"]
    n_deals = max(1, round(visits / 6.06))
    per_deal = rng.integers(1, 12, n_deals)  # 1…11 visits, 6 on average
    total = int(per_deal.sum())
    while total < visits:  # top up, then trim, to exactly `visits`
        extra = rng.integers(1, 12, max(1, (visits - total) // 6 + 1))
        per_deal = np.concatenate([per_deal, extra])
        total = int(per_deal.sum())
    cut = int(np.searchsorted(np.cumsum(per_deal), visits))
    per_deal = per_deal[: cut + 1]
    per_deal[-1] -= int(per_deal.sum()) - visits
    n_deals = len(per_deal)

    deal_of = np.repeat(np.arange(n_deals), per_deal)
    first = np.concatenate([[0], np.cumsum(per_deal)[:-1]])
    position = np.arange(visits) - np.repeat(first, per_deal)
    step = position % len(steps)  # past the last step a deal starts over: rework
    lead = np.array([s.planned_lead_hours for s in steps])[step]
    hours = rng.lognormal(np.log(lead), 0.6)
    micros = (hours * 3_600_000_000).astype(np.int64)
    ends = np.cumsum(micros)
    starts_in_deal = ends - micros - np.repeat((ends - micros)[first], per_deal)
    span = np.add.reduceat(micros, first)
    latest = np.datetime64(timezone.now().replace(tzinfo=None), "us") - np.timedelta64(1, "D")
    slack = (rng.random(n_deals) * 400 * 86_400e6).astype(np.int64)
    created = latest - (span + slack).astype("timedelta64[us]")
    entered = np.repeat(created, per_deal) + starts_in_deal.astype("timedelta64[us]")
    exited = entered + micros.astype("timedelta64[us]")
    outcome_draw = rng.random(n_deals)
    outcome = np.where(outcome_draw < 0.35, "open", np.where(outcome_draw < 0.65, "won", "lost"))
    last = first + per_deal - 1
    is_last = np.zeros(visits, bool)
    is_last[last] = True
    open_visit = is_last & (np.repeat(outcome, per_deal) == "open")
    work = rng.integers(5, 600, visits)
    no_work = rng.random(visits) < 0.25
    owner = np.array(reps)[rng.integers(0, len(reps), n_deals)]
    amount = (rng.lognormal(np.log(24_000), 0.7, n_deals) // 100 * 100).astype(np.int64)
    ae_lane = np.array([s.lane == "Account Executive" for s in steps])[step]
    lanes = np.array([s.lane for s in steps])[step]

    def iso(values) -> np.ndarray:
        return np.char.add(np.datetime_as_string(values, unit="us"), "Z")

    entered_s, exited_s = iso(entered), iso(exited)
    created_s = iso(created)
    closed_s = np.where(outcome == "open", "", iso(exited[last]))
    step_names = [s.name for s in steps]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        rows = []
        for i in range(visits):
            d = int(deal_of[i])
            rows.append(
                (
                    f"BENCH-{d + 1:07d}",
                    step_names[step[i]],
                    entered_s[i],
                    "" if open_visit[i] else exited_s[i],
                    "" if no_work[i] else int(work[i]),
                    owner[d] if ae_lane[i] else lanes[i],
                    f"Opportunity {d + 1}",
                    f"Account {d % 4000:04d}",
                    f"{amount[d]}.00",
                    owner[d],
                    SOURCES[d % len(SOURCES)],
                    outcome[d],
                    closed_s[d],
                    LOST_REASONS[d % len(LOST_REASONS)] if outcome[d] == "lost" else "",
                    created_s[d],
                )
            )
            if len(rows) == 50_000:
                writer.writerows(rows)
                rows = []
        writer.writerows(rows)
    return {"visits": visits, "deals": n_deals, "bytes": path.stat().st_size}


# --- The measurements (each in its own process) ---------------------------------------------

FLOOR_DDL = """
CREATE TABLE {table} (
    deal_id text, step text, entered_at timestamptz, exited_at timestamptz,
    work_minutes integer, actor text, deal_name text, account text, amount numeric(14, 2),
    owner text, source text, outcome text, closed_at timestamptz, lost_reason text,
    created_at timestamptz
)"""


# The same rows into the app's own tables, set-based inside PostgreSQL: what the schema (its
# indexes, foreign keys checked at commit, the same-stream trigger) costs with no Python at all.
IN_DATABASE = """
INSERT INTO funnel_deal (stream_id, external_id, name, account, amount, owner_id, source,
                         created_at, status, closed_at, lost_reason, updated_at)
SELECT DISTINCT ON (b.deal_id) %(stream)s, b.deal_id, b.deal_name, coalesce(b.account, ''),
       b.amount, u.id, coalesce(b.source, ''), b.created_at, b.outcome, b.closed_at,
       coalesce(b.lost_reason, ''), now()
FROM {table} b LEFT JOIN auth_user u ON u.username = b.owner
ORDER BY b.deal_id;
INSERT INTO funnel_visit (deal_id, step_id, entered_at, exited_at, work_minutes, actor_id,
                          actor_name, created_at, updated_at)
SELECT d.id, s.id, b.entered_at, b.exited_at, b.work_minutes, u.id,
       CASE WHEN u.id IS NULL THEN coalesce(b.actor, '') ELSE '' END, now(), now()
FROM {table} b
JOIN funnel_deal d ON d.stream_id = %(stream)s AND d.external_id = b.deal_id
JOIN streams_processstep s ON s.stream_id = %(stream)s AND s.name = b.step
LEFT JOIN auth_user u ON u.username = b.actor;
"""


def _floor_table(team_slug: str) -> str:
    return f"{FLOOR_TABLE}_{team_slug.replace('-', '_')}"


def measure_floor(path: Path, stream_slug: str, team_slug: str) -> dict:
    from django.db import connection, transaction

    from streams.models import ValueStream

    table = _floor_table(team_slug)

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(FLOOR_DDL.format(table=table))
    started = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as copy,
        path.open("rb") as f,
    ):
        while chunk := f.read(1 << 20):
            copy.write(chunk)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        (rows,) = cursor.fetchone()
    stream_id = ValueStream.objects.get(slug=stream_slug).pk
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(IN_DATABASE.format(table=table), {"stream": stream_id})
        cursor.execute(
            "SELECT count(*) FROM funnel_visit v JOIN funnel_deal d ON d.id = v.deal_id "
            "WHERE d.stream_id = %s",
            [stream_id],
        )
        (in_database_rows,) = cursor.fetchone()
        # Run the foreign-key checks deferred to the commit now, then undo it all.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        in_database = time.perf_counter() - started
        transaction.set_rollback(True)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    return {
        "rows": rows,
        "seconds": seconds,
        "in_database_rows": in_database_rows,
        "in_database_seconds": in_database,
        "peak_mib": peak_mib(),
    }


def measure_import(path: Path, stream_slug: str) -> dict:
    from django.conf import settings

    from funnel import importing
    from funnel.importing import ImportOptions, import_events
    from funnel.models import Visit
    from streams.models import ValueStream

    stream = ValueStream.objects.get(slug=stream_slug)
    settings.VSM_IMPORT_MAX_BYTES = max(settings.VSM_IMPORT_MAX_BYTES, path.stat().st_size)
    marks: dict[str, float] = {}
    started = time.perf_counter()

    def progress(done: int, total: int, message: str) -> None:
        if message.startswith(("Wrote", "Compared")) and "checked" not in marks:
            marks["checked"] = time.perf_counter() - started

    # The metrics recompute that the import queues is a Celery task of its own (timed by
    # bench/metrics_bench.py); without a broker it would run here, inside the measurement.
    recomputes: list[int] = []
    importing.uploads.metrics_changed = lambda *, stream_id: recomputes.append(stream_id)
    data = path.read_bytes()
    result = import_events(
        stream=stream, data=data, options=ImportOptions(format="visits"), progress=progress
    )
    seconds = time.perf_counter() - started
    return {
        "rows": result.rows,
        "seconds": seconds,
        "read_and_check_seconds": marks.get("checked"),
        "peak_mib": peak_mib(),
        "result": result.as_dict(),
        "stored_visits": Visit.objects.filter(deal__stream=stream).count(),
        "recompute_queued": recomputes == [stream.pk],
    }


def _child(args: argparse.Namespace) -> None:
    django_setup()
    path = Path(args.file)
    if args.child == "setup":
        from django.core.management import call_command

        _ensure_database()
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        counts = generate(path, args.visits, args.seed)
        stream = _bench_stream(args.team)
        out = {**counts, "seconds": time.perf_counter() - started, "stream": stream}
    elif args.child == "floor":
        out = measure_floor(path, args.stream, args.team)
    elif args.child == "import":
        out = measure_import(path, args.stream)
    else:
        _cleanup(args.team)
        out = {}
    print(json.dumps(out))


def _run_child(kind: str, path: Path, stream_slug: str = "", **extra) -> dict:
    """Run one phase in a fresh process: its ru_maxrss is then that phase's peak (Linux keeps
    the peak across fork and exec, so the parent stays small: it imports neither Django nor
    numpy)."""
    cmd = [sys.executable, __file__, "--child", kind, "--file", str(path), "--stream", stream_slug]
    cmd += ["--team", TEAM_SLUG]  # the parent's: one per run
    for key, value in extra.items():
        cmd += [f"--{key}", str(value)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"The {kind} step failed.")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- Setup and report ---------------------------------------------------------------------


def _bench_stream(team_slug: str) -> str:
    """A fresh team with the demo's users and an empty stream with the demo's steps."""
    from django.contrib.auth import get_user_model

    from streams.models import Membership, Team
    from streams.services import stream_create
    from vsm_project.demo import LANES, STEPS, USERS

    team = Team.objects.create(name=f"Import benchmark {team_slug}", slug=team_slug)
    user_model = get_user_model()
    for demo in USERS:
        if demo.role in ("manager", "rep"):
            user, _ = user_model.objects.get_or_create(
                username=demo.username, defaults={"email": f"{demo.username}@example.com"}
            )
            Membership.objects.create(user=user, team=team, role=demo.role)
    stream = stream_create(team=team, name="Benchmark", lanes=LANES, steps=[s.spec for s in STEPS])
    return stream.slug


def _cleanup(team_slug: str) -> None:
    from django.db import connection

    from funnel.models import Deal
    from streams.models import Team

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_floor_table(team_slug)}")
    Deal.objects.filter(stream__team__slug=team_slug).delete()
    Team.objects.filter(slug=team_slug).delete()


def _ensure_database() -> None:
    """Create the database named by DATABASE_URL if the server allows it."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            dbname=db["NAME"],
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            host=db["HOST"] or None,
            port=db["PORT"] or None,
        ).close()
    except psycopg.OperationalError:
        with psycopg.connect(
            dbname="postgres",
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--child", choices=("setup", "floor", "import", "cleanup"), help=argparse.SUPPRESS
    )
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--stream", default="", help=argparse.SUPPRESS)
    parser.add_argument("--team", default=TEAM_SLUG, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return 0
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        print(USAGE, file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        path = Path(tmp) / "visits.csv"
        print(f"Generating {args.visits:,} visits …", flush=True)
        try:
            setup = _run_child("setup", path, visits=args.visits, seed=args.seed)
            print(
                f"  {setup['visits']:,} visits of {setup['deals']:,} deals, "
                f"{setup['bytes'] / 2**20:,.0f} MiB, in {setup['seconds']:.1f} s",
                flush=True,
            )
            print("COPY into a bare table, then the same rows into the app's tables in SQL …")
            floor = _run_child("floor", path, setup["stream"])
            print("import_events into an empty stream …", flush=True)
            imported = _run_child("import", path, setup["stream"])
        finally:
            _run_child("cleanup", path)

    rows = setup["visits"]
    assert imported["stored_visits"] == rows == floor["in_database_rows"], (imported, floor)
    print()
    print(f"{'':<44}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'peak RSS':>13}  ratio")
    lines = (
        ("COPY into a bare table (the floor)", floor["seconds"], floor["peak_mib"]),
        ("same rows into the app's tables, SQL only", floor["in_database_seconds"], None),
        ("import_events", imported["seconds"], imported["peak_mib"]),
    )
    for name, seconds, peak in lines:
        memory = f"{peak:>9,.0f} MiB" if peak is not None else f"{'':>13}"
        print(
            f"{name:<44}{rows:>11,}{seconds:>9.1f}{rows / seconds:>11,.0f}{memory}"
            f"  {seconds / floor['seconds']:4.1f}×"
        )
    checked = imported["read_and_check_seconds"]
    if checked:
        print(
            f"  import_events: {checked:.1f} s reading and checking the file, "
            f"{imported['seconds'] - checked:.1f} s writing {imported['result']['deals_created']:,}"
            " deals and their visits (commit included)"
        )
    ratio = imported["seconds"] / floor["in_database_seconds"]
    checking = f"{'met' if checked and checked < 10 else 'missed'} ({checked or 0:.1f} s)"
    print(
        f"Targets: within 1.2× of SQL alone: {'met' if ratio <= 1.2 else 'missed'} "
        f"({ratio:.2f}×); reading and checking under 10 s: {checking}; "
        f"under 600 MiB: {'met' if imported['peak_mib'] < 600 else 'missed'} "
        f"({imported['peak_mib']:,.0f} MiB)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
