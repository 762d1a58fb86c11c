"""Data made once for a whole test module and removed by a rollback.

A module-scoped fixture that seeds a large data set (the demo, a lab simulation) inside
``shared_data(django_db_blocker)`` makes it in one transaction that is rolled back after the
module's last test: removing it costs nothing, where deleting it row by row (a team's
cascade) took as long as making it. Each test still runs in its own savepoint inside that
transaction (``django_db``, not ``transaction=True``), so what a test writes is undone after
it and the next test sees the data as seeded.

``tests/conftest.py`` puts every test that uses such a fixture in one pytest-xdist group per
module, so the data is made once per run, not once on each worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction


@contextmanager
def shared_data(django_db_blocker: Any) -> Iterator[None]:
    """Open database access and a transaction for the module's data; roll it back at the
    end. Only for modules whose tests use ``django_db`` without ``transaction=True``."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
