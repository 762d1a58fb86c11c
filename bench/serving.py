"""The product served by gunicorn for a benchmark, as ``make run`` serves it, started and
waited for. Shared by the benchmarks that load pages (``dashboard_bench.py``, ``phone_bench.py``).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


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
