"""Fixtures for the end-to-end tests: real Chromium, driven through Playwright's sync API,
against pytest-django's ``live_server``.

Playwright's own browser download is not used: the tests launch the system Chromium
(``/usr/bin/chromium``). Without it the e2e tests are skipped, unless
``VSM_REQUIRE_SERVICES=1`` (CI), where a missing browser fails the run instead, so CI can
never pass by skipping every page test.

The live server answers from another thread, so every e2e test needs transactional database
access (``live_server`` requests ``transactional_db`` by itself; ``demo`` asks for it too).
Helpers (``login``, ``submit_login_form``, ``save_screenshot``) are plain functions, imported
by the test modules with ``from .conftest import ...``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.demo_snapshot import demo_restored
from tests.services import missing_service
from vsm_project.demo import SeedResult

# Playwright's sync API runs an event loop in the main thread, and Django refuses ORM calls
# from a thread with a running loop. The test code (seeding, lookups) touches the database
# from that thread, so this has to be set before any test runs.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
#: Default time Playwright waits for an element or a navigation; a page of this app renders
#: in well under a second, so 15 s only ever ends a test that is really stuck.
TIMEOUT_MS = 15_000


def _chromium_unavailable(reason: str) -> NoReturn:
    """Skip locally, fail in CI (``VSM_REQUIRE_SERVICES=1``)."""
    missing_service(f"Chromium not available: {reason}")
    raise AssertionError("unreachable: missing_service skips or fails")


@pytest.fixture(scope="session", autouse=True)
def _warm_imports() -> None:
    """Import every view and task module (pandas, scipy, plotly) before the first page is
    asked for. The browser tests run first in a worker (tests/conftest.py orders the longest
    first); otherwise the live server's first request would import them inside Playwright's
    timeout, which a loaded machine can exceed."""
    from django.urls import get_resolver

    from vsm_project.celery import app

    get_resolver().url_patterns  # noqa: B018 (the property imports the views)
    app.loader.import_default_modules()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless system Chromium for the whole session."""
    if not CHROMIUM.exists():
        _chromium_unavailable(f"{CHROMIUM} does not exist")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
    except Exception as exc:
        playwright.stop()
        _chromium_unavailable(f"launching {CHROMIUM} failed: {exc}")
    yield chromium
    chromium.close()
    playwright.stop()


def _new_page(browser: Browser, base_url: str, **context_args: object) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, **context_args)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    """A desktop page (1440x900) in a fresh context: no cookies shared between tests."""
    yield from _new_page(browser, live_server.url, viewport=DESKTOP)


@pytest.fixture
def phone_page(browser: Browser, live_server) -> Iterator[Page]:
    """A phone-sized touch page (390x844) in a fresh context."""
    yield from _new_page(browser, live_server.url, viewport=PHONE, is_mobile=True, has_touch=True)


@pytest.fixture
def demo(transactional_db: None) -> SeedResult:
    """The demo team "Acme Sales" with its users (password ``DEMO_PASSWORD``) and 40 deals
    (seeded once per process, then restored: ``tests/demo_snapshot.py``)."""
    return demo_restored(deals=40, seed=7)


def submit_login_form(page: Page, username: str, password: str) -> None:
    """Fill and submit the login form already shown on ``page``; wait for the next page."""
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def login(page: Page, username: str, password: str) -> None:
    """Log in through the real login page, as a person would."""
    page.goto("/accounts/login/")
    submit_login_form(page, username, password)


def save_screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG to ``artifacts/screenshots/<name>.png`` for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fits_width(page: Page) -> bool:
    """Whether the page needs no sideways scrolling at its viewport's width. Compared with the
    viewport set for the test, not ``window.innerWidth``: on a mobile page Chromium widens the
    visual viewport to a page that overflows (zooming out), so that comparison always holds."""
    return page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
