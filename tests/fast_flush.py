"""A cheaper way to empty the test database after a transactional test, on PostgreSQL.

After each transactional test (the browser tests, whose live server needs committed rows)
Django's ``TransactionTestCase`` runs ``manage.py flush``: a ``TRUNCATE`` of every model's
table, then the ``post_migrate`` signal, which writes the content types and permissions back
(and this project's own handlers). On PostgreSQL a ``TRUNCATE`` gives each table and each of
its indexes a new file, whatever the rows: 0.2–0.3 s for this project's tables on a quiet
machine and 1.5 s or more at CI's load, plus 0.08 s for ``post_migrate``.

Here instead (2026-12-07): a ``DELETE`` of every table but the two that ``post_migrate`` fills,
in one transaction (Django's foreign keys are checked at the commit, by when every table is
empty), then a ``VACUUM`` of those tables: 0.06–0.1 s and 0.03–0.04 s for the demo's rows
with CI running beside. The ``VACUUM`` matters: this machine's PostgreSQL runs with
``autovacuum = off``, and a ``DELETE`` alone (tried on 2026-12-06) left every deleted row
behind as a dead row, so each browser test's queries scanned more of them and the suite
slowed as it ran. ``VACUUM`` removes them and gives the emptied tables' pages back, as the
``TRUNCATE`` did. The database is left as the flush leaves it: migrations' rows only.

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
    """``TransactionTestCase._fixture_teardown``: on PostgreSQL, a ``DELETE`` of every table
    and a ``VACUUM`` of them."""
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
        tables = _tables_deleted(connection)
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute("; ".join(f"DELETE FROM {quote(t)}" for t in tables))
        with connection.cursor() as cursor:  # outside a transaction, as VACUUM must be
            cursor.execute("VACUUM " + ", ".join(quote(t) for t in tables))


def install() -> None:
    TransactionTestCase._fixture_teardown = fixture_teardown
