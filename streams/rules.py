"""Cross-table rules of the map, enforced by database triggers (see ``vsm_project.db``)."""

from vsm_project.db import RowRule, parent_stream_differs

STEP_LANE_SAME_STREAM = RowRule(
    name="streams_step_lane_same_stream",
    table="streams_processstep",
    violation=parent_stream_differs("lane_id", "streams_lane", "{row}.stream_id"),
    message="a step's lane must belong to the step's stream",
)
STEP_STAGE_SAME_STREAM = RowRule(
    name="streams_step_stage_same_stream",
    table="streams_processstep",
    violation=parent_stream_differs("stage_id", "streams_funnelstage", "{row}.stream_id"),
    message="a step's funnel stage must belong to the step's stream",
)
