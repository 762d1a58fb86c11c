"""Cross-table rules of kaizen cycles, enforced by database triggers (see ``vsm_project.db``)."""

from vsm_project.db import RowRule, parent_stream_differs

CYCLE_STEP_SAME_STREAM = RowRule(
    name="kaizen_cycle_step_same_stream",
    table="kaizen_kaizencycle",
    violation=parent_stream_differs("step_id", "streams_processstep", "{row}.stream_id"),
    message="a kaizen cycle's step must belong to the cycle's stream",
)

#: PDCA order: no Act (nor an Act decision) before the Check has been computed.
CYCLE_ACT_NEEDS_CHECK = RowRule(
    name="kaizen_cycle_act_needs_check",
    table="kaizen_kaizencycle",
    violation=(
        "(({row}.phase = 'act' OR {row}.outcome <> '') AND NOT EXISTS "
        "(SELECT 1 FROM kaizen_cyclecheck c WHERE c.cycle_id = {row}.id))"
    ),
    message="a kaizen cycle reaches Act only after its Check has been computed",
)

RULES = (CYCLE_STEP_SAME_STREAM, CYCLE_ACT_NEEDS_CHECK)
