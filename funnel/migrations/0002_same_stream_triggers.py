from django.db import migrations

from funnel.eventlog.rules import DEAL_STREAM_FIXED_ONCE_VISITED, VISIT_STEP_SAME_STREAM


class Migration(migrations.Migration):
    dependencies = [("funnel", "0001_initial")]
    operations = [VISIT_STEP_SAME_STREAM.operation(), DEAL_STREAM_FIXED_ONCE_VISITED.operation()]
