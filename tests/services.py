"""Skipping tests whose service is missing, except in CI.

Locally, ``make test`` on SQLite with no broker skips the few tests that need PostgreSQL,
Redis or Chromium and says why. ``.ci/run`` sets ``VSM_REQUIRE_SERVICES=1``: there a missing
service is a failure, never a skip.
"""

from __future__ import annotations

import os

import pytest


def services_required() -> bool:
    return os.environ.get("VSM_REQUIRE_SERVICES") == "1"


def missing_service(reason: str) -> None:
    """Skip (locally) or fail (CI) the calling test because ``reason``."""
    if services_required():
        pytest.fail(f"{reason} (VSM_REQUIRE_SERVICES=1, so this is a failure, not a skip)")
    pytest.skip(reason)
