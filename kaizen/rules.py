"""Cross-table rules of kaizen cycles, enforced by database triggers (see ``vsm_project.db``)."""

from django.db import migrations

from vsm_project.db import RowRule, parent_stream_differs

CYCLE_STEP_SAME_STREAM = RowRule(
    name="kaizen_cycle_step_same_stream",
    table="kaizen_kaizencycle",
    violation=parent_stream_differs("step_id", "streams_processstep", "{row}.stream_id"),
    message="a kaizen cycle's step must belong to the cycle's stream",
)

#: Every rule on ``kaizen_kaizencycle``: a migration that rebuilds the table on SQLite runs
#: each one's ``operation()`` again.
RULES = (CYCLE_STEP_SAME_STREAM,)


def reinstall(rule: RowRule) -> migrations.RunPython:
    """Install ``rule`` again after a migration rebuilt its table on SQLite, in both
    directions: unapplying that migration rebuilds the table too, and the rule belongs to an
    earlier migration, which stays applied."""
    install = rule.operation().code
    return migrations.RunPython(install, install)
