"""Benchmark of the working-time offsets' rewrite on PostgreSQL (``make bench``).

It builds a stream of its own (team "Working bench", replaced on each run: use a database of
its own) with ``--visits`` visits (default 1,000,000; five a deal, spread over three years)
written in SQL, the team's default calendar (Mon–Fri 09:00–17:30, US holidays) and a Legal
lane on a calendar of its own (Europe/Berlin, German holidays), then, each in a fresh process
so that its peak memory (``ru_maxrss``) is its own:

* **all** — ``working_offsets_rewrite`` of a stream none of whose offsets are written yet:
  every visit and deal changes (the first calendar of a team, the worst case);
* **closure** — a one-day closure added to the default calendar, then the rewrite: every
  row is read and computed, the few that change are written.

Target on the 2-core machine: 1,000,000 visits in under 60 s, memory under 1 GiB.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench_working \\
    python bench/working_bench.py [--visits 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from common import child, peak_mib, run_as_child

ROOT = Path(__file__).resolve().parents[1]
TEAM_SLUG = "working-bench"
VISITS_PER_DEAL = 5


def _stream():
    from streams.models import ValueStream

    return ValueStream.objects.get(team__slug=TEAM_SLUG)


def _quiet_hook() -> None:
    """The bench times the rewrite itself: the calendar hook would run it on commit."""
    from funnel.eventlog.working import working_offsets_calendar_changed
    from streams.calendars.hooks import unregister_calendar_changed

    unregister_calendar_changed(working_offsets_calendar_changed)


def child_build(visits: int) -> dict:
    from datetime import time as clock_time

    from django.db import connection, transaction

    from streams.calendars.services import CalendarSpec, _create, seed_calendar
    from streams.calendars.working_time import SpanSpec
    from streams.models import Lane, Team
    from streams.services import LaneSpec, StepSpec, stream_create

    _quiet_hook()
    began = time.perf_counter()
    # The previous run's rows, in SQL (the ORM's cascade would load a million visits); lanes
    # let go of their calendars first (Lane.calendar protects them).
    with connection.cursor() as cursor:
        mine = (
            "SELECT d.id FROM funnel_deal d JOIN streams_valuestream s ON s.id = d.stream_id "
            "JOIN streams_team t ON t.id = s.team_id WHERE t.slug = %s"
        )
        cursor.execute(f"DELETE FROM funnel_visit WHERE deal_id IN ({mine})", [TEAM_SLUG])
        cursor.execute(f"DELETE FROM funnel_deal WHERE id IN ({mine})", [TEAM_SLUG])
    Lane.objects.filter(stream__team__slug=TEAM_SLUG).update(calendar=None)
    Team.objects.filter(slug=TEAM_SLUG).delete()
    with transaction.atomic():
        team = Team.objects.create(name="Working bench", slug=TEAM_SLUG)
        lanes = ["Marketing", "SDR", "Account Executive", "Sales Engineer", "Legal"]
        stream = stream_create(
            team=team,
            name="Bench",
            lanes=[LaneSpec(name) for name in lanes],
            steps=[
                StepSpec(
                    f"Step {i + 1}",
                    lanes[min(i // 2, 4)],
                    planned_process_hours=1,
                    planned_lead_hours=8,
                )
                for i in range(8)
            ],
        )
        seed_calendar(team, time_zone="America/New_York", country="US")
        berlin = _create(
            team,
            CalendarSpec(
                name="Berlin legal",
                time_zone="Europe/Berlin",
                country="DE",
                spans=[SpanSpec(d, clock_time(9), clock_time(17, 30)) for d in range(5)],
            ),
        )
        Lane.objects.filter(stream=stream, name="Legal").update(calendar=berlin)
    deals = visits // VISITS_PER_DEAL
    steps = list(stream.steps.order_by("position").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO funnel_deal (external_id, name, account, source, created_at, status,
                closed_at, lost_reason, updated_at, stream_id)
            SELECT 'W-' || g, 'Deal ' || g, '', '', t, 'won',
                   t + interval '1 hour' * (5 * 48), '', now(), %s
            FROM (SELECT g, timestamptz '2023-01-02 08:00Z'
                          + interval '1 day' * (1000.0 * g / %s)
                          + interval '1 minute' * ((g * 7919) %% 600) AS t
                  FROM generate_series(1, %s) g) s
            """,
            [stream.pk, deals, deals],
        )
        cursor.execute(
            """
            INSERT INTO funnel_visit (entered_at, exited_at, actor_name, created_at, updated_at,
                deal_id, step_id, reentry, is_last)
            SELECT d.created_at + interval '1 hour' * (k * 48 + (d.id * 31 + k * 17) %% 7),
                   d.created_at + interval '1 hour' * ((k + 1) * 48
                       + CASE WHEN k = 4 THEN 0 ELSE (d.id * 31 + (k + 1) * 17) %% 7 END),
                   '', now(), now(), d.id, (%s::bigint[])[1 + (d.id + k) %% 8], false, k = 4
            FROM funnel_deal d CROSS JOIN generate_series(0, 4) k
            WHERE d.stream_id = %s
            """,
            [steps, stream.pk],
        )
        cursor.execute(
            "UPDATE funnel_deal d SET first_entered_at = v.entered_at FROM funnel_visit v "
            "WHERE v.deal_id = d.id AND NOT v.is_last AND v.entered_at = (SELECT min(entered_at) "
            "FROM funnel_visit w WHERE w.deal_id = d.id) AND d.stream_id = %s",
            [stream.pk],
        )
        cursor.execute("VACUUM ANALYZE funnel_visit, funnel_deal")
        cursor.execute(
            "SELECT count(*) FROM funnel_visit v JOIN funnel_deal d ON d.id = v.deal_id "
            "WHERE d.stream_id = %s",
            [stream.pk],
        )
        written = cursor.fetchone()[0]
    return {"visits": written, "deals": deals, "seconds": time.perf_counter() - began}


def _rewrite() -> dict:
    from funnel.eventlog.working import offsets_owed, working_offsets_rewrite

    stream = _stream()
    assert offsets_owed(stream.pk), "the bench's stream should owe a rewrite"
    began = time.perf_counter()
    changed = working_offsets_rewrite(stream)
    seconds = time.perf_counter() - began
    assert not offsets_owed(stream.pk)
    return {"seconds": seconds, "rows changed": changed, "peak_mib": peak_mib()}


def child_all(visits: int) -> dict:
    from funnel.models import Deal, MetricsState, Visit

    stream = _stream()
    Visit.objects.filter(deal__stream=stream).update(entered_w=None, exited_w=None)
    Deal.objects.filter(stream=stream).update(first_entered_w=None, closed_w=None)
    MetricsState.objects.update_or_create(stream=stream, defaults={"offsets_signature": ""})
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE funnel_visit, funnel_deal")
    return _rewrite()


def child_closure(visits: int) -> dict:
    from datetime import date

    from streams.calendars.models import WorkingCalendar
    from streams.calendars.services import closure_add
    from streams.calendars.working_time import ClosureSpec
    from streams.models import Team

    _quiet_hook()
    team = Team.objects.get(slug=TEAM_SLUG)
    calendar = WorkingCalendar.objects.get(team=team, is_default=True)
    from django.contrib.auth import get_user_model

    admin, _ = get_user_model().objects.get_or_create(
        username="working-bench-admin", defaults={"is_staff": True}
    )
    closure_add(
        calendar=calendar,
        by=admin,
        spec=ClosureSpec(date(2024, 6, 14), date(2024, 6, 14), label="Offsite"),
    )
    return _rewrite()


CHILDREN = {"build": child_build, "all": child_all, "closure": child_closure}


def run_child(name: str, visits: int) -> dict:
    return child(__file__, name, "--visits", str(visits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--child", choices=sorted(CHILDREN))
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database of the bench's own.")
    if run_as_child(CHILDREN, args.child, args.visits):
        return
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    built = run_child("build", args.visits)
    print(f"built {built['visits']:,} visits, {built['deals']:,} deals in {built['seconds']:.1f} s")
    for name in ("all", "closure"):
        result = run_child(name, args.visits)
        print(
            f"rewrite ({name}): {result['seconds']:.1f} s, {result['rows changed']:,} rows "
            f"changed, peak {result['peak_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
