# The ready-for-sales queue by win probability reads every waiting arrival's case: with the
# case in the index of open visits at a step, from the index alone (docs/benchmarks.md,
# "Leads, hand-offs and pull").

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("funnel", "0020_leads_read_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="visit", name="visit_open_step_entered"),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(
                condition=models.Q(("exited_at__isnull", True)),
                fields=["step", "entered_at", "id", "deal"],
                name="visit_open_step_entered",
            ),
        ),
    ]
