"""The flush after a transactional test (tests/fast_flush.py) leaves what Django's does."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TransactionTestCase

from streams.models import ValueStream
from tests import fast_flush
from tests.factories import DealFactory, TeamFactory, make_stream


class _Probe(TransactionTestCase):
    __test__ = False  # a test case only to be torn down, never collected
    databases = {"default"}

    def runTest(self) -> None:  # pragma: no cover - never run, only torn down
        pass


def _rows() -> dict[str, int]:
    quote = connection.ops.quote_name
    counts = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.django_table_names(only_existing=True):
            cursor.execute(f"SELECT count(*) FROM {quote(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.mark.django_db(transaction=True)
def test_every_table_is_emptied_but_the_content_types_and_permissions() -> None:
    kept = {"types": ContentType.objects.count(), "permissions": Permission.objects.count()}
    assert kept["types"] > 0 and kept["permissions"] > 0
    team = TeamFactory()
    DealFactory(stream=make_stream(team))
    assert ValueStream.objects.count() == 1

    fast_flush.fixture_teardown(_Probe())

    rows = _rows()
    assert {t for t, n in rows.items() if n} == set(fast_flush.KEPT)
    if connection.vendor == "postgresql":
        # VACUUM took the deleted rows away: no table keeps pages of dead rows (with
        # autovacuum off they would slow every later test's queries).
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname FROM pg_stat_user_tables"
                " WHERE relname = ANY(%s) AND pg_relation_size(relid) > 0",
                [[t for t in rows if t not in fast_flush.KEPT]],
            )
            assert cursor.fetchall() == []
    assert ContentType.objects.count() == kept["types"]
    assert Permission.objects.count() == kept["permissions"]


def test_the_suite_uses_it() -> None:
    assert TransactionTestCase._fixture_teardown is fast_flush.fixture_teardown


@pytest.mark.django_db(transaction=True)
def test_a_test_asking_for_more_gets_djangos_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(fast_flush, "_django_flush", lambda case: calls.append(case))
    probe = _Probe()
    probe.reset_sequences = True
    fast_flush.fixture_teardown(probe)
    assert calls == [probe]
