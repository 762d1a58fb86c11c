"""Fixtures shared by every test. Factories live in ``tests/factories.py``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from fnmatch import fnmatch
from types import SimpleNamespace
from typing import Any

import pytest
from celery._state import _set_task_join_will_block
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from streams.models import Role
from tests import fast_flush
from tests.factories import (
    BASE_TIME,
    DealFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
    VisitFactory,
    make_stream,
)

#: The tests whose outcome can differ between PostgreSQL and SQLite (marked ``dialect``; CI's
#: SQLite phase runs only these, docs/testing.md says why): the metrics engine and the figures
#: it stores, the event log's writers and the facts they store, import and export, the
#: database's own constraints, row locks and collations, keyset paging, integer limits, and the
#: demo that ``make run`` seeds. Page, API, permission and chart tests read the same queries
#: through the test client (or hand-built snapshots), and pure functions touch no database:
#: they run once, on PostgreSQL.
DIALECT_TESTS = (
    "tests/test_constraints.py",
    "tests/test_seed_demo.py",
    "tests/funnel/test_metrics.py",
    "tests/funnel/test_metrics_working.py",
    "tests/funnel/test_metrics_property.py",
    "tests/funnel/test_metrics_api.py",
    "tests/funnel/test_series.py",
    "tests/funnel/test_paths.py",
    "tests/funnel/test_working_offsets.py",
    "tests/funnel/test_services.py",
    "tests/funnel/test_bulk_api.py",
    "tests/funnel/test_deal_recovery.py",
    "tests/funnel/test_import.py",
    "tests/funnel/test_import_leads.py",
    "tests/funnel/test_import_owners.py",
    "tests/funnel/test_import_reading.py",
    "tests/funnel/test_import_prune.py",
    "tests/funnel/test_export.py",
    "tests/funnel/forecasts/test_model.py",
    "tests/funnel/forecasts/test_backtest.py",
    "tests/funnel/forecasts/test_view.py",
    "tests/funnel/forecasts/test_records.py",
    "tests/funnel/leads/test_alerts.py",
    "tests/funnel/leads/test_bins.py",
    "tests/funnel/leads/test_concurrency.py",
    "tests/funnel/leads/test_figures_*.py",
    "tests/funnel/leads/test_leads_paging.py",
    "tests/funnel/leads/test_pull_*.py",
    "tests/funnel/leads/test_selectors.py",
    "tests/funnel/leads/test_services.py",
    "tests/funnel/leads/test_snapshots.py",
    "tests/funnel/leads/test_undo.py",
    "tests/funnel/assets/test_constraints.py",
    "tests/funnel/qualification/test_bad_ids.py",
    "tests/funnel/qualification/test_criteria_names.py",
    "tests/funnel/qualification/test_import_scores.py",
    "tests/funnel/qualification/test_kaizen_hypothesis.py",
    "tests/funnel/qualification/test_lab.py",
    "tests/funnel/qualification/test_scoring.py",
    "tests/kaizen/test_checks.py",
    "tests/kaizen/test_demo.py",
    "tests/kaizen/test_services.py",
    "tests/streams/test_calendars.py",
    "tests/streams/test_people.py",
    "tests/streams/test_services.py",
)


# After each transactional test, a DELETE of every table instead of Django's TRUNCATE and
# post_migrate (tests/fast_flush.py says why and what it costs).
fast_flush.install()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the tests of ``DIALECT_TESTS`` ``dialect``, and orders the longest first. Under
    pytest-xdist (``--dist loadgroup``), every test that talks to the real Redis and a Celery
    worker runs in one process, one after another: they share Redis databases and worker
    processes, and two at once would take each other's tasks."""
    from django.db import connection

    for item in items:
        path = item.nodeid.split("::")[0]
        if item.get_closest_marker("postgresql"):
            # Row locks and the like: PostgreSQL's own behaviour, nothing SQLite can run. Not
            # ``dialect``, so CI's SQLite phase leaves them out rather than skipping them.
            if connection.vendor != "postgresql":
                item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (row locks)"))
        elif any(fnmatch(path, pattern) for pattern in DIALECT_TESTS):
            item.add_marker(pytest.mark.dialect)
        if item.get_closest_marker("services"):
            item.add_marker(pytest.mark.xdist_group("services"))
        elif not item.get_closest_marker("xdist_group") and _uses_shared_data(item):
            # Data made once per module (tests/shared_data.py) is made once per run only if
            # the module's tests run in one process; split over two, each would make it.
            item.add_marker(pytest.mark.xdist_group(f"shared:{item.nodeid.split('::')[0]}"))
    # The longest tests first (stable: modules stay whole and in order): pytest-xdist hands
    # out the first quarter of the tests in turn and the rest to whichever worker is free,
    # so the services group (real workers and Redis, one unit), the long fuzz runs (a minute
    # or more each) and the browser tests are spread early, and the run ends on short tests
    # instead of one worker finishing a long one alone.
    items.sort(key=_long_first)


def _long_first(item: pytest.Item) -> int:
    if item.get_closest_marker("services"):
        return 0
    if item.get_closest_marker("fuzz"):
        return 1
    if item.get_closest_marker("e2e"):
        return 2
    return 3


def _uses_shared_data(item: pytest.Item) -> bool:
    """Whether the test uses a module- or session-scoped fixture of this suite (not
    pytest-django's own ``django_db_setup``) that opens the database."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for defs in info.name2fixturedefs.values():
        fixturedef = defs[-1]
        if (
            fixturedef.scope != "function"
            and "django_db_blocker" in fixturedef.argnames
            and getattr(fixturedef.func, "__module__", "").startswith("tests.")
        ):
            return True
    return False


@receiver(connection_created, dispatch_uid="tests_no_commit_wait")
def _no_commit_wait(sender: Any, connection: Any, **kwargs: Any) -> None:
    """The test databases' commits do not wait for the disk (PostgreSQL's
    ``synchronous_commit = off``): a crash could lose the last commits of a database that is
    thrown away anyway, and what each transaction sees is unchanged. Browser and other
    transactional tests commit every write and empty every table after each test; on a
    loaded machine each of those commits waited for the WAL's fsync (about 8 ms)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")


@pytest.fixture(scope="session", autouse=True)
def _media_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Files the tests store (the asset library's uploads and demo PDFs) go to a temporary
    MEDIA_ROOT, never to the project's media/ folder."""
    from django.conf import settings

    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    """PBKDF2 with its production work factor makes every UserFactory call slow; tests do
    not need a strong hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_login_lockout(settings: Any) -> None:
    """Tests log in hundreds of times (and some fail on purpose): django-axes' lockout is off,
    except in tests/test_security.py, which turns it on to test it."""
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True)
def _no_api_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's request limits count in the process's cache, by user id, across tests (ids
    repeat on SQLite): a whole suite as "user 1" would reach them. Tests run without them,
    except tests/test_security.py, which sets low rates to test them."""
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"user": None, "anon": None}, raising=True
    )


@pytest.fixture(autouse=True)
def _services_one_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked ``services`` (a real Celery worker on the real Redis) holds a lock file for
    its whole length, so two pytest-xdist processes never run such tests at once: their
    workers would take each other's tasks from the shared Redis database and write them into
    the other process's test database. The ``services`` xdist group keeps them in one process
    too, but only with pytest below 9.2 (pyproject pins it: pytest-xdist issue #1386); the lock
    holds whatever the scheduler does."""
    if not request.node.get_closest_marker("services"):
        yield
        return
    import fcntl
    import hashlib
    import os
    import tempfile

    key = hashlib.sha1(os.environ.get("REDIS_URL", "").encode()).hexdigest()[:12]
    path = os.path.join(tempfile.gettempdir(), f"vsm-services-tests-{key}.lock")
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest, settings: Any) -> Iterator[None]:
    """Tasks run in-process in every test, even where REDIS_URL is set (CI), except the
    tests marked ``services``, which check the wiring with a real worker. Without this a test
    that starts a task would wait for a worker nobody started."""
    if request.node.get_closest_marker("services"):
        yield
        return
    from vsm_project.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Celery keeps "a task is running here, joins would block" in one process-wide flag that
    # each eager run sets and then restores. Eager runs on two threads at once (the pull
    # race test, a live server) can restore it in the wrong order and leave it set, and a
    # later test's ``.delay(...).get()`` then fails with "Never call result.get() within a
    # task". Each test starts with it cleared, as Celery's own test worker does.
    _set_task_join_will_block(False)
    before = {key: app.conf.get(key) for key in ("task_always_eager", "task_eager_propagates")}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(before)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def team_setup(db: None) -> SimpleNamespace:
    """Two teams, each with a three-step stream and open deals at its first step.

    Team A: ``manager_a``, reps ``rep_a1`` and ``rep_a2``, ``leader_a`` (leadership); deals
    ``deal_a1`` (owned by rep_a1) and ``deal_a2`` (rep_a2). Team B: ``manager_b`` and
    ``rep_b``; deal ``deal_b`` (rep_b). Deals were created and entered step 1 at
    ``BASE_TIME`` (2025-01-06 09:00 UTC); ``t`` is that time, ``later`` two days after it,
    ``steps_a``/``steps_b`` the streams' steps in order.
    """
    ns = SimpleNamespace(t=BASE_TIME)
    ns.team_a = TeamFactory(name="Team A")
    ns.team_b = TeamFactory(name="Team B")
    for attr, team, role in [
        ("manager_a", ns.team_a, Role.MANAGER),
        ("rep_a1", ns.team_a, Role.REP),
        ("rep_a2", ns.team_a, Role.REP),
        ("leader_a", ns.team_a, Role.LEADERSHIP),
        ("manager_b", ns.team_b, Role.MANAGER),
        ("rep_b", ns.team_b, Role.REP),
    ]:
        user = UserFactory(username=attr.replace("_", "-"))
        MembershipFactory(user=user, team=team, role=role)
        setattr(ns, attr, user)
    ns.stream_a = make_stream(ns.team_a, name="Sales A")
    ns.stream_b = make_stream(ns.team_b, name="Sales B")
    ns.steps_a = list(ns.stream_a.steps.order_by("position"))
    ns.steps_b = list(ns.stream_b.steps.order_by("position"))
    for attr, stream, owner, step in [
        ("deal_a1", ns.stream_a, ns.rep_a1, ns.steps_a[0]),
        ("deal_a2", ns.stream_a, ns.rep_a2, ns.steps_a[0]),
        ("deal_b", ns.stream_b, ns.rep_b, ns.steps_b[0]),
    ]:
        deal = DealFactory(stream=stream, owner=owner, created_at=BASE_TIME)
        VisitFactory(deal=deal, step=step, entered_at=BASE_TIME)
        setattr(ns, attr, deal)
    ns.later = BASE_TIME + timedelta(days=2)
    return ns
