"""Benchmark of the dashboards under load (``make bench``).

Seeds the demo stream with about ``--visits`` visits (default 1,000,000) through
``bench/metrics_bench.py --child seed`` (which also computes every snapshot and chart series),
unless ``--reuse`` finds it seeded already; then serves the app with gunicorn in production
mode and, for each page in turn, lets ``--users`` (default 20) concurrent users of the load
tool Locust load it again and again for ``--seconds`` as the leadership demo user, and prints
each page's p50 and p95 latency beside those of a trivial page of the same app (the password
change form: the same session, middleware and layout, no figures), the framework floor.

Target: every dashboard's p95 within 3× the floor's.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vsm_bench_dash \\
    python bench/dashboard_bench.py [--visits 100000] [--reuse]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from common import django_setup, gunicorn, postgres_migrated

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
VISITS_PER_DEAL = 6.1  # the demo simulation's average path length
FLOOR = ("floor: password form", "password_change", None, {})
#: (label, URL name, what the URL takes: "stream" for the demo stream's slug, "team" for the
#: demo team's slug, None for nothing; then any other URL arguments).
DASHBOARDS: list[tuple[str, str, str | None, dict]] = [
    ("Funnel", "dashboards:board", "stream", {"board": "funnel"}),
    ("Flow", "dashboards:board", "stream", {"board": "flow"}),
    ("Waste", "dashboards:board", "stream", {"board": "waste"}),
    ("Funnel across the team's streams", "dashboards:team", "team", {}),
]


def _seeded_visits() -> int:
    from funnel.models import Visit
    from vsm_project.demo import DEMO_TEAM_SLUG

    return Visit.objects.filter(deal__stream__team__slug=DEMO_TEAM_SLUG).count()


def _session_of(username: str) -> str:
    """A session key of ``username``, as if they had signed in."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def _pages() -> list[tuple[str, str]]:
    from django.urls import reverse

    from streams.models import StreamState, ValueStream
    from vsm_project.demo import DEMO_TEAM_SLUG

    stream = ValueStream.objects.get(team__slug=DEMO_TEAM_SLUG, state=StreamState.CURRENT)
    args = {"stream": {"slug": stream.slug}, "team": {"slug": DEMO_TEAM_SLUG}, None: {}}
    return [
        (label, reverse(name, kwargs={**args[takes], **extra}))
        for label, name, takes, extra in [FLOOR, *DASHBOARDS]
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: Production mode for the server, and for this process too: the session made here must be
#: signed with the server's secret key.
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "dashboard-bench-only",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
}


def _serve(port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, **PRODUCTION}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return gunicorn(port, env, f"--workers={workers}", headers={"X-Forwarded-Proto": "https"})


def _load(port: int, path: str, session: str, users: int, seconds: int) -> dict:
    """Locust, headless, on one page: requests, failures, p50 and p95 in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "run")
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                f"--users={users}",
                f"--spawn-rate={users}",
                f"--run-time={seconds}s",
                f"--host=http://127.0.0.1:{port}",
                f"--csv={prefix}",
                "--only-summary",
                "--loglevel=ERROR",
            ],
            cwd=ROOT,
            env={**os.environ, "BENCH_PATH": path, "BENCH_SESSION": session},
            check=False,  # locust exits 1 when any request failed; the table shows failures
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with open(f"{prefix}_stats.csv", newline="") as f:
            total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    return {
        "requests": int(total["Request Count"]),
        "failures": int(total["Failure Count"]),
        "p50": float(total["50%"]),
        "p95": float(total["95%"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--reuse", action="store_true", help="keep a demo seeded before")
    args = parser.parse_args()
    os.environ.update(PRODUCTION)
    postgres_migrated("bench/dashboard_bench.py")
    django_setup()
    if not (args.reuse and _seeded_visits() >= 0.9 * args.visits):
        print(f"seeding about {args.visits:,} visits …", file=sys.stderr, flush=True)
        subprocess.run(
            [sys.executable, "bench/metrics_bench.py", "--child", "seed", f"--size={args.visits}"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    visits = _seeded_visits()
    session = _session_of("vp")
    pages = _pages()
    port = _free_port()
    server = _serve(port, args.workers)
    rows = []
    try:
        for label, path in pages:
            # One request first, so a page's first-time work is not in its figures.
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}",
                headers={"Cookie": f"sessionid={session}", "X-Forwarded-Proto": "https"},
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                # Not redirected (to the sign-in page): the page itself answered.
                if response.status != 200 or urllib.parse.urlsplit(response.url).path != path:
                    sys.exit(f"{path} answered {response.status} at {response.url}")
            print(f"loading {path} …", file=sys.stderr, flush=True)
            rows.append((label, path, _load(port, path, session, args.users, args.seconds)))
    finally:
        server.terminate()
        server.wait(timeout=30)

    floor = rows[0][2]["p95"]
    print(
        f"\n{visits:,} visits; {args.users} concurrent users for {args.seconds} s per page; "
        f"gunicorn with {args.workers} workers\n"
    )
    print("| page | requests | failures | p50, ms | p95, ms | p95 × floor |")
    print("|---|---|---|---|---|---|")
    for label, path, r in rows:
        print(
            f"| {label} (`{path}`) | {r['requests']:,} | {r['failures']} | {r['p50']:.0f} "
            f"| {r['p95']:.0f} | {r['p95'] / floor:.1f} |"
        )
    print("\nTarget: every dashboard's p95 within 3× the floor's.")
    print(json.dumps({"visits": visits, "rows": rows}), file=sys.stderr)


if __name__ == "__main__":
    main()
