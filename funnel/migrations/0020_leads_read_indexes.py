# The hand-off board and the ready-for-sales queue read from indexes alone (docs/benchmarks.md,
# "Leads, hand-offs and pull"): the open visits at a step with their id (the waiting arrivals
# are counted without reading the visits), and a seller's open deals with the stream (their
# WIP against their limit). Each replaces the index it extends.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("funnel", "0019_handoff_undo"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="visit", name="visit_open_step_entered"),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(
                condition=models.Q(("exited_at__isnull", True)),
                fields=["step", "entered_at", "id"],
                name="visit_open_step_entered",
            ),
        ),
        migrations.RemoveIndex(model_name="deal", name="deal_owner_status"),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(fields=["owner", "status", "stream"], name="deal_owner_status"),
        ),
    ]
