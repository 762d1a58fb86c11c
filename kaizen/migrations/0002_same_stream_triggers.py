from django.db import migrations

from kaizen.rules import CYCLE_STEP_SAME_STREAM


class Migration(migrations.Migration):
    dependencies = [("kaizen", "0001_initial")]
    operations = [CYCLE_STEP_SAME_STREAM.operation()]
