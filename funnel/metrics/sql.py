"""The little SQL the two databases spell differently, and grouped aggregation with
percentiles: ``percentile_cont`` in PostgreSQL, numpy on SQLite (which has no percentile
function). Both use linear interpolation between closest ranks, so they give the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from django.db import connection

from funnel.metrics.stats import quantiles

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def epoch_hours(column: str) -> str:
    """SQL for ``column`` (a timestamp) as float hours since 1970; differences are durations."""
    if is_postgres():
        return f"(date_part('epoch', {column}) / 3600.0)"
    return f"((julianday({column}) - 2440587.5) * 24.0)"


def floor_int(expression: str) -> str:
    """SQL for the whole number at or below ``expression`` (a non-negative float)."""
    if is_postgres():
        return f"CAST(FLOOR({expression}) AS INTEGER)"
    return f"CAST({expression} AS INTEGER)"  # truncates, the floor of a non-negative number


def utc_month(column: str) -> str:
    """SQL for the calendar month (UTC) of a timestamp ``column`` as 'YYYY-MM'."""
    if is_postgres():
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM')"
    return f"strftime('%%Y-%%m', {column})"


def hours_since_epoch(moment: datetime) -> float:
    return (moment - _EPOCH).total_seconds() / 3600.0


def greatest(*expressions: str) -> str:
    return f"{'GREATEST' if is_postgres() else 'MAX'}({', '.join(expressions)})"


def least(*expressions: str) -> str:
    return f"{'LEAST' if is_postgres() else 'MIN'}({', '.join(expressions)})"


def lookup(column: str, values: dict[int, float | int | None]) -> str:
    """SQL for the value ``values`` maps the id in ``column`` to (NULL for any other id): a
    map of a few dozen steps read inline instead of joining their table on every row.

    Keys and values are numbers from the database, written as literals."""
    branches = " ".join(
        f"WHEN {int(key)} THEN {_number(value)}"
        for key, value in values.items()
        if value is not None
    )
    return f"(CASE {column} {branches} END)" if branches else "NULL"


def _number(value: float | int) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    # A float as a double, so the sums and percentiles over it stay in floating point.
    return f"CAST({float(value)!r} AS DOUBLE PRECISION)"


def timestamp_param(moment: datetime) -> object:
    """A datetime as the backend stores it, to compare with a timestamp column."""
    return connection.ops.adapt_datetimefield_value(moment)


A = TypeVar("A")
B = TypeVar("B")


def both(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """``(first(), second())``, the two side by side on PostgreSQL: ``first`` runs in a thread
    on a connection of its own while this thread runs ``second`` (the database has a core for
    each; together they take about the time of the longer).

    Inside a transaction (an atomic block, a test) another connection would not see its
    uncommitted rows, so there, and on SQLite, they run one after the other.
    """
    if not is_postgres() or connection.in_atomic_block:
        return first(), second()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_on_own_connection, first)
        second_result = second()
        return pending.result(), second_result


def _on_own_connection(function: Callable[[], A]) -> A:
    try:
        return function()
    finally:
        connection.close()  # this thread's connection: Django's connections are per thread


def fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def grouped(
    inner_sql: str,
    params: dict,
    *,
    by: str,
    aggregates: dict[str, str],
    percentiles: dict[str, tuple[str, Sequence[float]]],
) -> dict[object, dict[str, object]]:
    """Aggregate the rows of ``inner_sql`` by the column ``by``.

    ``aggregates`` maps an alias to an SQL aggregate over the inner columns (``SUM(h)``);
    ``percentiles`` maps an alias to ``(column, fractions)`` and yields one value per fraction
    under ``"<alias>_<fraction>"`` (``"h_0.5"``). NULL values are left out of percentiles.
    Returns ``{group value: {alias: value}}``.
    """
    selects = [f"{sql} AS {alias}" for alias, sql in aggregates.items()]
    if is_postgres():
        for alias, (column, fractions) in percentiles.items():
            selects.append(
                f"percentile_cont(ARRAY[{', '.join(map(str, fractions))}]::float8[]) "
                f"WITHIN GROUP (ORDER BY {column}) AS {alias}"
            )
    # OFFSET 0 keeps PostgreSQL from inlining the inner query into the aggregates, which
    # would evaluate a correlated subquery once per aggregate that uses its column.
    fence = " OFFSET 0" if is_postgres() else ""
    rows = fetch(
        f"SELECT {by}, {', '.join(selects)} FROM ({inner_sql}{fence}) AS inner_rows GROUP BY {by}",
        params,
    )
    result: dict[object, dict[str, object]] = {}
    aliases = list(aggregates)
    for row in rows:
        values = dict(zip(aliases, row[1 : 1 + len(aliases)], strict=True))
        if is_postgres():
            for i, (alias, (_, fractions)) in enumerate(percentiles.items()):
                found = row[1 + len(aliases) + i] or [None] * len(fractions)
                for fraction, value in zip(fractions, found, strict=True):
                    values[f"{alias}_{fraction}"] = value
        result[row[0]] = values
    if not is_postgres() and percentiles and result:
        columns = [column for column, _ in percentiles.values()]
        samples: dict[object, list[list[float]]] = defaultdict(lambda: [[] for _ in columns])
        for row in fetch(f"SELECT {by}, {', '.join(columns)} FROM ({inner_sql}) AS r", params):
            for i, value in enumerate(row[1:]):
                samples[row[0]][i].append(value)
        for group, values in result.items():
            for i, (alias, (_, fractions)) in enumerate(percentiles.items()):
                found = quantiles(samples[group][i], fractions)
                for fraction, value in zip(fractions, found, strict=True):
                    values[f"{alias}_{fraction}"] = value
    return result
