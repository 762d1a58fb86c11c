"""Benchmark of the event-log CSV export against PostgreSQL's own ``COPY … TO`` of the same
rows, measured in the same run (``make bench``).

Seeds a stream with ``--visits`` visits (default 1,000,000, about 165,000 deals: the visits
file of ``bench/import_bench.py``, imported with ``import_events``; not timed), then times:

* **floor** — ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` of the same rows (the same joins,
  filter and order, raw columns: no formatting, no formula check), read to the end through
  psycopg: the least any export of these rows can cost;
* **export** — ``funnel.exporting.export_csv``, as the download and ``manage.py
  export_events`` run it (on PostgreSQL: the server's COPY with times formatted and formulas
  neutralised in SQL);
* **portable path** — the csv-module path SQLite uses (the export before it used COPY), for
  comparison; ``--skip-portable`` leaves it out.

Target: the export within 3× of the floor. Needs ``DATABASE_URL=postgres://…`` (migrated
first; the benchmark's team is removed afterwards).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench python bench/export_bench.py
    python bench/export_bench.py --visits 100000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import django_setup

ROOT = Path(__file__).resolve().parents[1]
TEAM_SLUG = f"export-bench-{os.getpid()}"
TARGET = 3.0


def seed(visits: int, seed_value: int):
    """A fresh team and stream holding ``visits`` visits; returns the stream."""
    import import_bench  # the generator of the import benchmark's visits file
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from funnel import importing
    from funnel.importing import ImportOptions, import_events
    from streams.models import Membership, Team
    from streams.services import stream_create
    from vsm_project.demo import LANES, STEPS, USERS

    import_bench._ensure_database()
    call_command("migrate", verbosity=0)
    team = Team.objects.create(name=f"Export benchmark {TEAM_SLUG}", slug=TEAM_SLUG)
    for demo in USERS:
        if demo.role in ("manager", "rep"):
            user, _ = get_user_model().objects.get_or_create(
                username=demo.username, defaults={"email": f"{demo.username}@example.com"}
            )
            Membership.objects.create(user=user, team=team, role=demo.role)
    stream = stream_create(team=team, name="Benchmark", lanes=LANES, steps=[s.spec for s in STEPS])
    importing.metrics_changed = lambda *, stream_id: None  # no recompute: not measured here
    with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
        path = Path(tmp) / "visits.csv"
        import_bench.generate(path, visits, seed_value)
        settings.VSM_IMPORT_MAX_BYTES = max(settings.VSM_IMPORT_MAX_BYTES, path.stat().st_size)
        import_events(stream=stream, data=path.read_bytes(), options=ImportOptions(format="visits"))
    return stream


def floor_sql() -> str:
    """The export's rows, joins, filter and order, with raw columns."""
    from django.contrib.auth import get_user_model

    from funnel.models import Deal, Visit
    from streams.models import ProcessStep

    user = get_user_model()._meta.db_table
    return (
        "SELECT d.external_id, s.name, v.entered_at, v.exited_at, v.work_minutes, "
        "coalesce(a.username, v.actor_name), d.name, d.account, d.amount, o.username, "
        "d.source, d.status, d.closed_at, d.lost_reason, d.created_at "
        f"FROM {Deal._meta.db_table} d "
        f"LEFT JOIN {Visit._meta.db_table} v ON v.deal_id = d.id "
        f"LEFT JOIN {ProcessStep._meta.db_table} s ON s.id = v.step_id "
        f"LEFT JOIN {user} a ON a.id = v.actor_id "
        f"LEFT JOIN {user} o ON o.id = d.owner_id "
        "WHERE d.stream_id = {} "
        "ORDER BY d.external_id, v.entered_at, v.exited_at, v.id"
    )


def measure_floor(stream) -> tuple[float, int]:
    from django.db import connection
    from psycopg import sql

    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(
        sql.SQL(floor_sql()).format(sql.Literal(stream.pk))
    )
    started = time.perf_counter()
    size = 0
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for data in copy:
            size += len(data)
    return time.perf_counter() - started, size


def measure(chunks) -> tuple[float, int, int]:
    """Seconds, characters and lines of an export read to the end."""
    started = time.perf_counter()
    size = lines = 0
    for chunk in chunks:
        size += len(chunk)
        lines += chunk.count("\n")
    return time.perf_counter() - started, size, lines


def cleanup() -> None:
    from funnel.models import Deal
    from streams.models import Team

    Deal.objects.filter(stream__team__slug=TEAM_SLUG).delete()
    Team.objects.filter(slug=TEAM_SLUG).delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-portable", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("bench/export_bench.py needs DATABASE_URL=postgres://…", file=sys.stderr)
        return 2
    django_setup()
    from funnel.exporting.csv_export import _export_csv_rows, export_csv
    from funnel.models import Visit

    print(f"Seeding {args.visits:,} visits (import_events, not timed) …", flush=True)
    started = time.perf_counter()
    try:
        stream = seed(args.visits, args.seed)
        visits = Visit.objects.filter(deal__stream=stream).count()
        print(f"  {visits:,} visits in {time.perf_counter() - started:.1f} s", flush=True)
        floor_s, floor_bytes = measure_floor(stream)
        export_s, export_chars, rows = measure(export_csv(stream))
        portable = None if args.skip_portable else measure(_export_csv_rows(stream))
    finally:
        cleanup()

    print()
    print(f"{'':<44}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'MiB':>8}  ratio")
    lines = [
        ("COPY (SELECT …) TO STDOUT (the floor)", floor_s, floor_bytes),
        ("export_csv (COPY, formatted, neutralised)", export_s, export_chars),
    ]
    if portable:
        lines.append(("csv-module path (SQLite's; before)", portable[0], portable[1]))
    for name, seconds, size in lines:
        print(
            f"{name:<44}{rows - 1:>11,}{seconds:>9.2f}{(rows - 1) / seconds:>11,.0f}"
            f"{size / 2**20:>8,.0f}  {seconds / floor_s:4.1f}×"
        )
    ratio = export_s / floor_s
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"\nTarget: the export within {TARGET:.0f}× of the floor: {ratio:.2f}× ({verdict}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
