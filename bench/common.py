"""What the benchmarks share: Django set up in the benchmark's process (:func:`django_setup`),
a phase run in a fresh process (:func:`child`, and :func:`run_as_child` in that process), the
process's peak memory (:func:`peak_mib`), and the product served by gunicorn as ``make run``
serves it, started and waited for (:func:`gunicorn`, for the benchmarks that load pages).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def django_setup() -> None:
    """Set up Django for this process, on the settings ``make run`` uses (``DATABASE_URL``
    and the rest from the environment)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsm_project.settings")
    import django

    django.setup()


def child(script: str, name: str, *args: str) -> dict:
    """Run one phase of a benchmark (``script --child name args``) in a fresh process, so
    that its peak memory is its own; what it printed last, as JSON. Exits on a failure."""
    proc = subprocess.run(
        [sys.executable, script, "--child", name, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_as_child(
    children: Mapping[str, Callable[[int], dict]], name: str | None, size: int
) -> bool:
    """The child's side of :func:`child`: with ``--child name``, set Django up, run the phase
    ``children[name]`` on ``size`` and print its result as JSON, then answer True (the script
    ends there); without, answer False (the parent goes on)."""
    if not name:
        return False
    django_setup()
    print(json.dumps(children[name](size)))
    return True


def postgres_migrated(script: str) -> None:
    """Exit unless ``DATABASE_URL`` names a PostgreSQL database (the benchmarks need one of
    their own); bring its schema up to date."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit(f"{script} needs DATABASE_URL=postgres://… (a database of its own)")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)


def peak_mib() -> float:
    """This process's peak resident memory so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gunicorn(port: int, env: dict[str, str], *options: str, headers=None) -> subprocess.Popen:
    """Start gunicorn on 127.0.0.1:``port`` with ``options`` and return it once the sign-in
    page answers (the health page answers 503 while, say, no Celery worker runs); exit the
    benchmark if it does not start within a minute."""
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "vsm_project.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            "--log-level=warning",
            *options,
        ],
        cwd=ROOT,
        env=env,
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/accounts/login/", headers=headers or {}
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(request, timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                sys.exit("gunicorn did not start")
            time.sleep(0.3)


#: The demo simulation's average path length: visits per seeded deal.
VISITS_PER_DEAL = 6.1


def demo_stream():
    """The demo team's current-state stream (seeded by :func:`child_seed_demo`)."""
    from streams.models import StreamState, ValueStream
    from vsm_project.demo import DEMO_TEAM_SLUG

    return ValueStream.objects.get(team__slug=DEMO_TEAM_SLUG, state=StreamState.CURRENT)


def child_seed_demo(size: int) -> dict:
    """Seed the demo with about ``size`` visits (it replaces the previous run's), then
    VACUUM ANALYZE: without autovacuum (off on some machines) the replaced rows' dead tuples
    would be scanned by every query that follows."""
    import time

    from django.db import connection

    from vsm_project.demo import demo_seed

    began = time.perf_counter()
    result = demo_seed(deals=max(1, round(size / VISITS_PER_DEAL)))
    seconds = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE funnel_visit, funnel_deal")
    return {"visits": result.visits, "deals": result.deals, "seconds": seconds}
