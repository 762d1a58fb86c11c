"""Cross-table rules of the event log, enforced by database triggers (see ``vsm_project.db``)."""

from vsm_project.db import RowRule, parent_stream_differs

VISIT_STEP_SAME_STREAM = RowRule(
    name="funnel_visit_step_same_stream",
    table="funnel_visit",
    violation=parent_stream_differs(
        "step_id",
        "streams_processstep",
        "SELECT stream_id FROM funnel_deal WHERE id = {row}.deal_id",
    ),
    message="a visit's step must belong to the stream of its deal",
)
# Moving a deal to another stream would strand its visits at steps of the old stream.
DEAL_STREAM_FIXED_ONCE_VISITED = RowRule(
    name="funnel_deal_stream_fixed",
    table="funnel_deal",
    violation=(
        "(EXISTS (SELECT 1 FROM funnel_visit v JOIN streams_processstep s ON s.id = v.step_id "
        "WHERE v.deal_id = {row}.id AND s.stream_id IS DISTINCT FROM {row}.stream_id))"
    ),
    message="a deal with visits cannot move to another stream",
    events=("update",),  # a new deal has no visits yet
)
