"""A cheaper way to empty the test database after a transactional test, on PostgreSQL.

After each transactional test (the browser tests, whose live server needs committed rows)
Django's ``TransactionTestCase`` runs ``manage.py flush``: a ``TRUNCATE`` of every model's
table, then the ``post_migrate`` signal, which writes the content types and permissions back
(and this project's own handlers). On PostgreSQL a ``TRUNCATE`` gives each table and each of
its indexes a new file, whatever the rows: 0.2–0.3 s for this project's tables on a quiet
machine and about 0.8 s at CI's load, plus 0.08 s for ``post_migrate``. A ``DELETE`` of
every table but the two that ``post_migrate`` fills takes 0.05–0.1 s for the demo's rows
(2026-12-07) and leaves the database as the flush does: migrations' rows only. Django's
foreign keys are checked at the commit, by when every table is empty.

The sequences are left as they are, as the flush leaves them (``reset_sequences=False``).
A test that asks for more (``available_apps``, ``serialized_rollback``, ``reset_sequences``)
or another database gets Django's own flush.
"""

from __future__ import annotations

from django.db import connections, transaction
from django.test import TransactionTestCase

#: The tables ``post_migrate`` fills (content types, permissions): kept, so that it need not
#: run. No test writes to them.
KEPT = frozenset({"django_content_type", "auth_permission"})

_django_flush = TransactionTestCase._fixture_teardown


def _tables_deleted(connection) -> list[str]:
    names = connection.introspection.django_table_names(only_existing=True, include_views=False)
    return sorted(name for name in names if name not in KEPT)


def fixture_teardown(self: TransactionTestCase) -> None:
    """``TransactionTestCase._fixture_teardown``: a ``DELETE`` of every table on PostgreSQL."""
    aliases = list(self._databases_names(include_mirrors=False))
    plain = (
        self.available_apps is None
        and not self.serialized_rollback
        and not self.reset_sequences
        and all(connections[alias].vendor == "postgresql" for alias in aliases)
    )
    if not plain:
        _django_flush(self)
        return
    for alias in aliases:
        connection = connections[alias]
        quote = connection.ops.quote_name
        sql = "; ".join(f"DELETE FROM {quote(t)}" for t in _tables_deleted(connection))
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(sql)


def install() -> None:
    TransactionTestCase._fixture_teardown = fixture_teardown
