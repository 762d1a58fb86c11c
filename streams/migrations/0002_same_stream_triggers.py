from django.db import migrations

from streams.rules import STEP_LANE_SAME_STREAM, STEP_STAGE_SAME_STREAM


class Migration(migrations.Migration):
    dependencies = [("streams", "0001_initial")]
    operations = [STEP_LANE_SAME_STREAM.operation(), STEP_STAGE_SAME_STREAM.operation()]
