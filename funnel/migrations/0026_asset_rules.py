# The asset library's cross-table rules as triggers (funnel/assets/rules.py): an asset is
# attached only to its team's steps and used only on its team's deals.

from django.db import migrations

from funnel.assets.rules import ASSET_STEP_SAME_TEAM, ASSET_USAGE_SAME_TEAM


class Migration(migrations.Migration):
    dependencies = [
        ("funnel", "0025_discovery"),
    ]

    operations = [ASSET_STEP_SAME_TEAM.operation(), ASSET_USAGE_SAME_TEAM.operation()]
