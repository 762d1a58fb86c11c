"""Path facts on visits and deals (``funnel.eventlog.paths``), filled in for the stored event log.

Every new column is nullable so that SQLite adds it with ALTER TABLE: a table rebuild would
drop funnel_visit's and funnel_deal's triggers (see 0006).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def fill_path_facts(apps, schema_editor):
    from funnel.eventlog.paths import deal_paths_refresh

    deal_paths_refresh()


class Migration(migrations.Migration):

    dependencies = [
        ('funnel', '0006_visit_lean_indexes'),
        ('streams', '0003_map_editing'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='deal',
            name='first_entered_at',
            field=models.DateTimeField(blank=True, editable=False, help_text="When the deal's first visit began.", null=True),
        ),
        migrations.AddField(
            model_name='visit',
            name='is_last',
            field=models.BooleanField(editable=False, help_text="The deal's latest visit.", null=True),
        ),
        migrations.AddField(
            model_name='visit',
            name='previous_step',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, editable=False, help_text="The step of the deal's previous visit; empty for its first.", null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='streams.processstep'),
        ),
        migrations.AddField(
            model_name='visit',
            name='reentry',
            field=models.BooleanField(editable=False, help_text='The deal visited this step before: rework.', null=True),
        ),
        migrations.AddIndex(
            model_name='deal',
            index=models.Index(fields=['stream', 'first_entered_at'], name='deal_stream_first_entered'),
        ),
        migrations.RunPython(fill_path_facts, migrations.RunPython.noop),
    ]
