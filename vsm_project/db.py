"""Database rules that a CHECK constraint cannot express because they look at another table.

``RowRule`` becomes a ``BEFORE INSERT OR UPDATE`` trigger on PostgreSQL and on SQLite. A
violation raises an integrity error (SQLSTATE 23514 on PostgreSQL, ``RAISE(ABORT)`` on SQLite),
which Django surfaces as ``IntegrityError``, just like a CHECK constraint.

SQLite drops triggers when Django rebuilds a table (an ``AlterField`` on it, for instance): a
later migration that touches one of these tables must run ``rule.operation()`` again. The
constraint tests in ``tests/test_constraints.py`` fail if a trigger goes missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import migrations


@dataclass(frozen=True)
class RowRule:
    name: str
    table: str
    #: SQL expression over ``NEW`` that is true when the new row breaks the rule.
    violation: str
    message: str

    def create_sql(self, vendor: str) -> list[str]:
        message = self.message.replace("'", "''")
        if vendor == "postgresql":
            return [
                f"""
                CREATE OR REPLACE FUNCTION {self.name}() RETURNS trigger AS $$
                BEGIN
                  IF {self.violation} THEN
                    RAISE EXCEPTION '{message}' USING ERRCODE = '23514';
                  END IF;
                  RETURN NEW;
                END $$ LANGUAGE plpgsql;
                """,
                f"DROP TRIGGER IF EXISTS {self.name} ON {self.table};",
                f"CREATE TRIGGER {self.name} BEFORE INSERT OR UPDATE ON {self.table} "
                f"FOR EACH ROW EXECUTE FUNCTION {self.name}();",
            ]
        if vendor == "sqlite":
            return [
                f"DROP TRIGGER IF EXISTS {self.name}_{event};"
                for event in ("insert", "update")
            ] + [
                f"CREATE TRIGGER {self.name}_{event} BEFORE {event.upper()} ON {self.table} "
                f"FOR EACH ROW WHEN {self.violation} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
                for event in ("insert", "update")
            ]
        raise NotImplementedError(f"No trigger support for database vendor {vendor!r}")

    def drop_sql(self, vendor: str) -> list[str]:
        if vendor == "postgresql":
            return [
                f"DROP TRIGGER IF EXISTS {self.name} ON {self.table};",
                f"DROP FUNCTION IF EXISTS {self.name}();",
            ]
        return [f"DROP TRIGGER IF EXISTS {self.name}_{event};" for event in ("insert", "update")]

    def operation(self) -> migrations.RunPython:
        def forward(apps, schema_editor):  # noqa: ANN001 - migration signature
            for sql in self.create_sql(schema_editor.connection.vendor):
                schema_editor.execute(sql)

        def backward(apps, schema_editor):  # noqa: ANN001
            for sql in self.drop_sql(schema_editor.connection.vendor):
                schema_editor.execute(sql)

        return migrations.RunPython(forward, backward)


def parent_stream_differs(fk_column: str, parent_table: str, own_stream: str) -> str:
    """SQL: the row's ``fk_column`` points at a ``parent_table`` row of another stream.

    ``own_stream`` is an SQL expression for the row's own stream id. A NULL foreign key passes.
    """
    return (
        f"(NEW.{fk_column} IS NOT NULL AND "
        f"(SELECT stream_id FROM {parent_table} WHERE id = NEW.{fk_column}) "
        f"IS DISTINCT FROM ({own_stream}))"
    )
