"""The demo, seeded once per test process and restored from a copy after that.

``demo_seed`` (``vsm_project/demo.py``) simulates a year of a sales team: 40 deals take a
few seconds, the default 500 many more, and the browser tests, the schema fuzz and the
layout checks each used to seed it again for every test. :func:`demo_restored` gives the
same database instead: the first call with given arguments (per process, per UTC day: the
demo is anchored at the start of the current UTC day) seeds it and copies every table with
PostgreSQL's ``COPY ... TO STDOUT (FORMAT binary)``; a later call, on a database that
pytest-django's flush emptied after the test before, copies the rows back in (parents first,
so the database's triggers check every row) in one transaction, then refreshes the planner
statistics and recomputes the stream's figures as of now, as the seed ends. The rows, their
ids and the demo's files (its asset PDFs, written again into the current ``MEDIA_ROOT``) are
those the seed made (the demo's rows depend on the day, not the hour: two seeds on one day
give the same rows; only the figures and the stamps of when a row was written are of their
moment, and the stamps stay those of the first seed); a test then writes to them as it would
to a fresh seed, and its changes are gone for the next test.

It restores only onto a database that holds nothing but what migrations make (content types,
permissions): if a test made data of its own first, or on SQLite, it seeds as before. The
process's caches that could hold rows of an earlier test are emptied (the cache, the content
types).
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from funnel.eventlog.services import event_log_analyze
from funnel.metrics.snapshots import metrics_recompute_stream
from streams.models import ValueStream
from vsm_project.demo import SeedResult, default_anchor, demo_seed

#: Tables migrations fill by themselves (``post_migrate``): present in an empty test database.
MIGRATION_TABLES = {"django_content_type", "auth_permission"}


@dataclass
class _Snapshot:
    result: SeedResult
    tables: dict[str, bytes]
    files: dict[str, bytes] = field(default_factory=dict)


_snapshots: dict[tuple, _Snapshot] = {}
#: How often this process seeded and restored (for ``--durations`` style checks and tests).
counts = {"seeded": 0, "restored": 0}


def demo_restored(**kwargs: Any) -> SeedResult:
    """``demo_seed(**kwargs)``'s database, from this process's copy when there is one."""
    if connection.vendor != "postgresql":
        counts["seeded"] += 1
        return demo_seed(**kwargs)
    key = (tuple(sorted(kwargs.items())), kwargs.get("anchor") or default_anchor())
    snapshot = _snapshots.get(key)
    if snapshot is not None and _empty():
        _restore(snapshot)
        counts["restored"] += 1
        return dataclasses.replace(snapshot.result)
    fresh = _empty()
    before = _media_files()
    result = demo_seed(**kwargs)
    counts["seeded"] += 1
    if fresh:  # a copy of the demo alone, never of a test's own data
        after = _media_files()
        root = Path(settings.MEDIA_ROOT)
        files = {
            name: (root / name).read_bytes()
            for name, mtime in after.items()
            if before.get(name) != mtime
        }
        _snapshots[key] = _Snapshot(result=result, tables=_dump(), files=files)
    return result


def _tables() -> list[str]:
    """The tables pytest-django's flush empties: every model's."""
    return sorted(connection.introspection.django_table_names(only_existing=True))


def _empty() -> bool:
    tables = [t for t in _tables() if t not in MIGRATION_TABLES]
    quote = connection.ops.quote_name
    sql = " UNION ALL ".join(f"(SELECT 1 FROM {quote(t)} LIMIT 1)" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS ({sql})")
        return not cursor.fetchone()[0]


def _parents_first(tables: list[str]) -> list[str]:
    """The tables ordered so that a table comes after those its foreign keys point to: the
    triggers that check a row against its parents' (a step's lane in the step's stream) see
    them already copied. Tables in a cycle keep their order (the keys are deferred)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid <> confrelid"
        )
        edges = cursor.fetchall()
    parents = {t: set() for t in tables}
    for child, parent in edges:
        child, parent = child.strip('"'), parent.strip('"')
        if child in parents and parent in parents:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, ps in parents.items() if not ps - set(ordered)) or [min(parents)]
        ordered += ready
        for t in ready:
            del parents[t]
    return ordered


def _dump() -> dict[str, bytes]:
    quote = connection.ops.quote_name
    tables = {}
    with connection.cursor() as cursor:
        for table in _parents_first(_tables()):
            buffer = io.BytesIO()
            with cursor.cursor.copy(f"COPY {quote(table)} TO STDOUT (FORMAT binary)") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            tables[table] = buffer.getvalue()
    return tables


def _restore(snapshot: _Snapshot) -> None:
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        # Only the migrations' rows are there (``_empty``); the copy has its own. Django's
        # foreign keys are deferred to the commit, by when every table is back.
        for table in MIGRATION_TABLES:
            cursor.execute(f"DELETE FROM {quote(table)}")
        for table, data in snapshot.tables.items():
            with cursor.cursor.copy(f"COPY {quote(table)} FROM STDIN (FORMAT binary)") as copy:
                copy.write(data)
        # The sequences only ever grow (TRUNCATE keeps them); one behind a restored id (a
        # test that reset them) is moved past it.
        for model in apps.get_models(include_auto_created=True):
            pk = model._meta.pk
            if model._meta.db_table not in snapshot.tables or pk.get_internal_type() not in (
                "AutoField",
                "BigAutoField",
                "SmallAutoField",
            ):
                continue
            cursor.execute(
                "SELECT setval(seq, m) FROM (SELECT pg_get_serial_sequence(%s, %s) AS seq,"
                f" (SELECT max({quote(pk.column)}) FROM {quote(model._meta.db_table)}) AS m) s"
                " WHERE m > coalesce(pg_sequence_last_value(seq::regclass), 0)",
                [quote(model._meta.db_table), pk.column],
            )
        event_log_analyze()
    ContentType.objects.clear_cache()
    cache.clear()
    # The seed's last step, as it does it: the stream's figures as of now, not as of the
    # first seed (a dashboard reads figures older than its refresh as stale).
    stream = ValueStream.objects.get(slug=snapshot.result.stream_slug)
    metrics_recompute_stream(stream_id=stream.pk, now=timezone.now())
    root = Path(settings.MEDIA_ROOT)
    for name, data in snapshot.files.items():
        path = root / name
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def _media_files() -> dict[str, int]:
    root = Path(settings.MEDIA_ROOT)
    if not root.is_dir():
        return {}
    return {
        str(path.relative_to(root)): path.stat().st_mtime_ns
        for path in root.rglob("*")
        if path.is_file()
    }
