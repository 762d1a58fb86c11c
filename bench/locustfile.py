"""Locust user for ``bench/dashboard_bench.py``: a signed-in person loading one page again and
again. The page, the session cookie and the host come from the environment the benchmark
sets (``BENCH_PATH``, ``BENCH_SESSION``)."""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task


class PageViewer(FastHttpUser):
    # No think time: each of the N users asks again as soon as a page arrives, so the server
    # always has N requests in hand.
    wait_time = constant(0)

    def on_start(self) -> None:
        self.path = os.environ["BENCH_PATH"]
        self.headers = {
            "Cookie": f"sessionid={os.environ['BENCH_SESSION']}",
            # Production settings redirect plain HTTP; the benchmark stands behind no proxy.
            "X-Forwarded-Proto": "https",
        }

    @task
    def view(self) -> None:
        with self.client.get(
            self.path, headers=self.headers, catch_response=True, allow_redirects=False
        ) as response:
            if response.status_code != 200:  # a redirect to the sign-in page is a failure
                response.failure(f"HTTP {response.status_code}")
