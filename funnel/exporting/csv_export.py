"""The stream's event log as CSV, streamed (generators over a server-side cursor), never built
in memory.

:func:`export_csv` writes the columns of the ``visits`` import (:data:`CSV_COLUMNS`), one row per
visit (a deal without visits: one row with empty visit columns), times in ISO 8601 UTC with
microseconds. Cells that a spreadsheet would run as a formula are neutralised with a leading
``'`` (:mod:`funnel.exporting.csv_safety`), which the import removes again, so export → import
reproduces the visits. On PostgreSQL the rows come from the server's own
``COPY (SELECT …) TO STDOUT (FORMAT csv)``, formatted and neutralised in SQL (rows end in LF
there, CRLF on SQLite; both are CSV): a million visits in seconds, not 37 s.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import connection
from psycopg import sql

from funnel.exporting.csv_safety import BLANKS, FORMULA_LEADS, neutralise
from funnel.importing.types import FIELDS
from funnel.models import Deal, Visit
from streams.models import ProcessStep, ValueStream

#: The ``visits`` import's fields, in order: the header of the CSV export.
CSV_COLUMNS = [f.name for f in FIELDS["visits"]]
ROWS_PER_CHUNK = 2_000

_FIELDS = (
    "external_id",
    "visits__step__name",
    "visits__entered_at",
    "visits__exited_at",
    "visits__work_minutes",
    "visits__actor__username",
    "visits__actor_name",
    "name",
    "account",
    "amount",
    "owner__username",
    "source",
    "status",
    "closed_at",
    "lost_reason",
    "created_at",
)


def visit_rows(stream: ValueStream) -> Iterator[tuple]:
    """One row per visit (a LEFT JOIN: deals without visits give one row of NULL visit
    columns), ordered by deal and entry; read with a server-side cursor on PostgreSQL."""
    return (
        Deal.objects.filter(stream=stream)
        .order_by("external_id", "visits__entered_at", "visits__exited_at", "visits__id")
        .values_list(*_FIELDS)
        .iterator(chunk_size=ROWS_PER_CHUNK)
    )


def _csv_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def export_csv(stream: ValueStream) -> Iterator[str]:
    """The stream's event log as CSV text, a chunk of rows per item."""
    if connection.vendor == "postgresql":
        return _export_csv_copy(stream)
    return _export_csv_rows(stream)


def _export_csv_rows(stream: ValueStream) -> Iterator[str]:
    """The portable path: rows through the ORM, written by the csv module."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for n, (
        external_id,
        step,
        entered,
        exited,
        work,
        actor_username,
        actor_name,
        name,
        account,
        amount,
        owner,
        source,
        status,
        closed_at,
        lost_reason,
        created_at,
    ) in enumerate(visit_rows(stream), start=1):
        writer.writerow(
            [
                neutralise(external_id),
                neutralise(step or ""),
                _csv_time(entered),
                _csv_time(exited),
                "" if work is None else work,
                neutralise(actor_username or actor_name or ""),
                neutralise(name),
                neutralise(account),
                "" if amount is None else str(amount),
                neutralise(owner or ""),
                neutralise(source),
                status,
                _csv_time(closed_at),
                neutralise(lost_reason),
                _csv_time(created_at),
            ]
        )
        if n % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# --- CSV on PostgreSQL: the server's COPY -----------------------------------------------------

_SQL_BLANKS = " || ".join(f"chr({ord(c)})" for c in BLANKS)
#: Every first character of a formula, of its blanks, or of quotes before one, as SQL text.
_SQL_FIRSTS = " || ".join(f"chr({ord(c)})" for c in BLANKS + FORMULA_LEADS + "'")
_PLAIN_RE = r"^[0-9[:space:].,:/+\-TZtz]*[0-9][0-9[:space:].,:/+\-TZtz]*$"


def _sql_neutralised(column: str) -> str:
    """SQL for :func:`funnel.exporting.csv_safety.neutralise` of a text column (NULL and ''
    as NULL): a formula, or quotes before one, gets one more leading quote."""
    body = f"ltrim(ltrim(coalesce({column}, ''), ''''), {_SQL_BLANKS})"
    lead = f"translate(left({body}, 1), '＝＠＋－', '=@+-')"
    rest = f"btrim(substr({body}, 2), {_SQL_BLANKS})"
    formula = (
        f"({lead} IN ('=', '@') OR ({lead} IN ('+', '-') "
        f"AND NOT ({rest} = '' OR {rest} ~ '{_PLAIN_RE}')))"
    )
    # Most cells begin with a letter or digit: one strpos() passes them by, at a fraction of
    # the full check's cost (strpos(…, '') is 1: an empty cell takes the full check).
    return (
        f"nullif(CASE WHEN strpos({_SQL_FIRSTS}, left({column}, 1)) > 0 AND {formula} "
        f"THEN '''' || {column} ELSE {column} END, '')"
    )


def _sql_time(column: str) -> str:
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def copy_select() -> str:
    """The export's rows as one SELECT (``%s``: the stream's id), in :data:`CSV_COLUMNS`
    order and in the ORM path's order. Empty text is NULL, so COPY writes it unquoted, as
    the csv module does."""
    visit, deal = Visit._meta.db_table, Deal._meta.db_table
    step, user = ProcessStep._meta.db_table, get_user_model()._meta.db_table
    columns = [
        _sql_neutralised("d.external_id"),
        _sql_neutralised("s.name"),
        _sql_time("v.entered_at"),
        _sql_time("v.exited_at"),
        "v.work_minutes",
        _sql_neutralised("coalesce(a.username, nullif(v.actor_name, ''))"),
        _sql_neutralised("d.name"),
        _sql_neutralised("d.account"),
        "d.amount::text",
        _sql_neutralised("o.username"),
        _sql_neutralised("d.source"),
        "d.status",
        _sql_time("d.closed_at"),
        _sql_neutralised("d.lost_reason"),
        _sql_time("d.created_at"),
    ]
    return (
        f"SELECT {', '.join(columns)} FROM {deal} d "
        f"LEFT JOIN {visit} v ON v.deal_id = d.id "
        f"LEFT JOIN {step} s ON s.id = v.step_id "
        f"LEFT JOIN {user} a ON a.id = v.actor_id "
        f"LEFT JOIN {user} o ON o.id = d.owner_id "
        "WHERE d.stream_id = %s "
        "ORDER BY d.external_id, v.entered_at, v.exited_at, v.id"
    )


def _export_csv_copy(stream: ValueStream, chunk: int = 256 * 1024) -> Iterator[str]:
    """The PostgreSQL path: ``COPY (SELECT …) TO STDOUT``, passed on in chunks of about
    ``chunk`` bytes, decoded incrementally (a chunk may end inside a character)."""
    yield ",".join(CSV_COLUMNS) + "\n"
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts: list[bytes] = []
    size = 0
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(
        sql.SQL(copy_select().replace("%s", "{}")).format(sql.Literal(stream.pk))
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        # cursor.cursor: psycopg's own cursor (Django's wrapper has no copy()).
        for data in copy:
            parts.append(bytes(data))
            size += len(data)
            if size >= chunk:
                yield decoder.decode(b"".join(parts))
                parts, size = [], 0
    yield decoder.decode(b"".join(parts), final=True)
