"""Benchmark of the first dashboard on a phone (``make bench``).

Starts the app as ``make run`` serves it (gunicorn, debug off, collectstatic, demo data, eager
Celery) on a SQLite database of its own, unless ``--url`` names a server already running;
then, ``--runs`` times, opens a fresh Chromium context (empty cache) with a 390x844 phone
viewport whose network Chrome DevTools throttles to a slow mobile link (1.6 Mbit/s down,
750 kbit/s up, 150 ms latency: ``Network.emulateNetworkConditions``), signs in as the demo
manager and opens the stream's first dashboard (Funnel). It prints how long from the start of
that navigation until every chart of the page is drawn (``data-rendered`` set by
``static/js/dashboards.js`` when Plotly has drawn it), the first chart alone, and the bytes
the page transferred.

Target: every chart drawn in under 5 s.

    python bench/phone_bench.py [--runs 3] [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import gunicorn
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DEMO_PASSWORD = "lean-sales-demo"
#: Every chart of the page drawn: dashboards.js marks each plot when Plotly has drawn it.
ALL_DRAWN = """() => {
  const plots = [...document.querySelectorAll('.plot[data-figure]')];
  return plots.length > 0 && plots.every((p) => p.dataset.rendered === 'true');
}"""
FIRST_DRAWN = "() => document.querySelector('.plot[data-rendered=\"true\"]') !== null"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int, workdir: Path) -> subprocess.Popen:
    """``make run``'s steps on a database of the bench's own: migrate, seed the demo,
    collectstatic, gunicorn with debug off and Celery eager (no REDIS_URL)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_") and key != "REDIS_URL"
    }
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'phone_bench.sqlite3'}",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="phone-bench-only-not-a-real-secret",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_SECURE_HSTS_SECONDS="0",
    )
    manage = [sys.executable, "manage.py"]
    for args in (["migrate", "--noinput", "-v0"], ["seed_demo", "--if-missing"]):
        subprocess.run([*manage, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    return gunicorn(port, env, "--workers=2", "--threads=4", "--no-control-socket")


def _one_run(browser: Browser, base: str, args: argparse.Namespace) -> dict:
    context = browser.new_context(
        base_url=base,
        viewport=PHONE,
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(120_000)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": args.latency_ms,
            "downloadThroughput": args.down_kbps * 1000 / 8,  # bytes per second
            "uploadThroughput": args.up_kbps * 1000 / 8,
        },
    )
    try:
        page.goto("/accounts/login/")
        page.fill("input[name=username]", args.user)
        page.fill("input[name=password]", DEMO_PASSWORD)
        with page.expect_navigation():
            page.click("form [type=submit]")
        # The first dashboard, as the Dashboards menu leads to it.
        page.goto("/dashboards/")
        link = page.locator("main a[href^='/dashboards/']").first
        href = link.get_attribute("href")
        started = time.monotonic()
        page.goto(href, wait_until="commit")
        page.wait_for_function(FIRST_DRAWN, polling=50)
        first = time.monotonic() - started
        page.wait_for_function(ALL_DRAWN, polling=50)
        drawn = time.monotonic() - started
        transferred = page.evaluate(
            """() => performance.getEntriesByType('navigation')
                 .concat(performance.getEntriesByType('resource'))
                 .reduce((sum, e) => sum + (e.transferSize || 0), 0)"""
        )
        charts = page.locator(".plot[data-figure]").count()
        return {
            "url": page.url,
            "first": first,
            "all": drawn,
            "charts": charts,
            "kib": transferred / 1024,
        }
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="measure this running server instead of starting one")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--user", default="manager", help="a demo login (default manager)")
    parser.add_argument("--down-kbps", type=float, default=1600)
    parser.add_argument("--up-kbps", type=float, default=750)
    parser.add_argument("--latency-ms", type=float, default=150)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="phone-bench-") as tmp:
        server = None
        base = args.url
        if not base:
            port = _free_port()
            server = _serve(port, Path(tmp))
            base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-quic"],
                )
                results = [_one_run(browser, base, args) for _ in range(args.runs)]
                browser.close()
        finally:
            if server:
                server.terminate()
                server.wait(timeout=30)

    print(
        f"\nPhone: first dashboard, {args.down_kbps:g} kbit/s down, {args.up_kbps:g} kbit/s up, "
        f"{args.latency_ms:g} ms latency, 390x844, empty cache ({results[0]['url']}, "
        f"{results[0]['charts']} charts)"
    )
    print(f"{'run':>4} {'first chart s':>14} {'all charts s':>13} {'transferred KiB':>16}")
    for i, r in enumerate(results, 1):
        print(f"{i:>4} {r['first']:>14.2f} {r['all']:>13.2f} {r['kib']:>16,.0f}")
    median = statistics.median(r["all"] for r in results)
    verdict = "within" if median < 5 else "NOT within"
    print(f"median, all charts drawn: {median:.2f} s ({verdict} the 5 s target)")


if __name__ == "__main__":
    main()
