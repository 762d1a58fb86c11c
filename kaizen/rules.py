"""Cross-table rules of kaizen cycles, enforced by database triggers (see ``vsm_project.db``)."""

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
