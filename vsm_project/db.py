"""Database rules shared by the apps: a CHECK that a column holds one of its choices
(:func:`choices_check`), and the rules that a CHECK constraint cannot express because they look
at another table.

A ``RowRule`` is an SQL condition over one changed row, written with ``{row}`` for that row
(``{row}.step_id``). It becomes:

- on PostgreSQL, one ``AFTER … FOR EACH STATEMENT`` trigger per event over the statement's
  transition table, so a million-row ``COPY`` is checked by one set-based query instead of a
  million function calls;
- on SQLite, a ``BEFORE … FOR EACH ROW`` trigger.

A violation raises an integrity error (SQLSTATE 23514 on PostgreSQL, ``RAISE(ABORT)`` on
SQLite), which Django surfaces as ``IntegrityError``, just like a CHECK constraint.

SQLite drops triggers when Django rebuilds a table (an ``AlterField`` on it, for instance): a
later migration that touches one of these tables must run ``rule.operation()`` again. The
constraint tests in ``tests/test_constraints.py`` fail if a trigger goes missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import migrations, models


def choices_check(field: str, choices: type[models.Choices], name: str) -> models.CheckConstraint:
    """CHECK: ``field`` holds one of ``choices`` (Django checks choices in forms only; this keeps
    a shell, an import or raw SQL from storing another value)."""
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": choices.values}), name=name)


@dataclass(frozen=True)
class RowRule:
    name: str
    table: str
    #: SQL condition, true when the changed row ``{row}`` breaks the rule.
    violation: str
    message: str
    events: tuple[str, ...] = ("insert", "update")

    def create_sql(self, vendor: str) -> list[str]:
        message = self.message.replace("'", "''")
        if vendor == "postgresql":
            sql = [
                f"""
                CREATE OR REPLACE FUNCTION {self.name}() RETURNS trigger AS $$
                BEGIN
                  IF EXISTS (SELECT 1 FROM changed_rows r
                             WHERE {self.violation.format(row="r")}) THEN
                    RAISE EXCEPTION '{message}' USING ERRCODE = '23514';
                  END IF;
                  RETURN NULL;
                END $$ LANGUAGE plpgsql;
                """
            ]
            for event in self.events:
                sql += [
                    f"DROP TRIGGER IF EXISTS {self.name}_{event} ON {self.table};",
                    f"CREATE TRIGGER {self.name}_{event} AFTER {event.upper()} ON {self.table} "
                    f"REFERENCING NEW TABLE AS changed_rows "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {self.name}();",
                ]
            return sql
        if vendor == "sqlite":
            return [f"DROP TRIGGER IF EXISTS {self.name}_{event};" for event in self.events] + [
                f"CREATE TRIGGER {self.name}_{event} BEFORE {event.upper()} ON {self.table} "
                f"FOR EACH ROW WHEN {self.violation.format(row='NEW')} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
                for event in self.events
            ]
        raise NotImplementedError(f"No trigger support for database vendor {vendor!r}")

    def drop_sql(self, vendor: str) -> list[str]:
        if vendor == "postgresql":
            return [
                f"DROP TRIGGER IF EXISTS {self.name}_{event} ON {self.table};"
                for event in self.events
            ] + [f"DROP FUNCTION IF EXISTS {self.name}();"]
        return [f"DROP TRIGGER IF EXISTS {self.name}_{event};" for event in self.events]

    def operation(self) -> migrations.RunPython:
        def forward(apps, schema_editor):
            for sql in self.create_sql(schema_editor.connection.vendor):
                schema_editor.execute(sql)

        def backward(apps, schema_editor):
            for sql in self.drop_sql(schema_editor.connection.vendor):
                schema_editor.execute(sql)

        return migrations.RunPython(forward, backward)


def parent_stream_differs(fk_column: str, parent_table: str, own_stream: str) -> str:
    """SQL: the row's ``fk_column`` points at a ``parent_table`` row of another stream.

    ``own_stream`` is an SQL expression for the row's own stream id (using ``{row}``). A NULL
    foreign key passes.
    """
    return (
        f"({{row}}.{fk_column} IS NOT NULL AND "
        f"(SELECT stream_id FROM {parent_table} WHERE id = {{row}}.{fk_column}) "
        f"IS DISTINCT FROM ({own_stream}))"
    )
