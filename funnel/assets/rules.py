"""Cross-table rules of the asset library, enforced by database triggers (``vsm_project.db``):
no code path can attach an asset to another team's step, nor record it on another team's
deal (docs/assets.md, "Roles")."""

from vsm_project.db import RowRule

_ASSET_TEAM = "(SELECT team_id FROM funnel_asset WHERE id = {row}.asset_id)"

ASSET_STEP_SAME_TEAM = RowRule(
    name="funnel_asset_step_same_team",
    table="funnel_assetstep",
    violation=(
        f"({_ASSET_TEAM} IS DISTINCT FROM (SELECT v.team_id FROM streams_processstep s "
        "JOIN streams_valuestream v ON v.id = s.stream_id WHERE s.id = {row}.step_id))"
    ),
    message="an asset is attached only to steps of its team's maps",
)
ASSET_USAGE_SAME_TEAM = RowRule(
    name="funnel_asset_usage_same_team",
    table="funnel_assetusage",
    violation=(
        f"({_ASSET_TEAM} IS DISTINCT FROM (SELECT v.team_id FROM funnel_deal d "
        "JOIN streams_valuestream v ON v.id = d.stream_id WHERE d.id = {row}.deal_id))"
    ),
    message="an asset is used only on deals of its team",
)
