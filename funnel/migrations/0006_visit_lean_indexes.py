"""Drop funnel_visit's single-column foreign-key indexes, redundant with the composite ones.

``deal_id`` is the leading column of ``visit_deal_entered`` and ``step_id`` of
``visit_step_entered`` and ``visit_step_exited``, so those serve every lookup by deal or step
(the ORM's, and the foreign keys' checks when a deal or step is deleted). ``actor_id`` keeps a
partial index over the rows that name a user: deleting a user still finds that user's visits
without a scan, and the many imported visits without an account cost nothing.

Each index costs its share of every insert: 1,000,000 imported visits spent about 8 s in these
three (README, "Import benchmark").

Why not ``AlterField(db_index=False)``: on PostgreSQL Django's AlterField drops every
single-column index on the column that is not in ``Meta.indexes``, including the partial
unique index ``visit_one_open_per_deal`` of ``Meta.constraints``; on SQLite it rebuilds the
table, which fails on the ``funnel_deal_stream_fixed`` trigger and would drop the table's
triggers. So the state changes as AlterField says, and the database only loses the three
indexes, by name (the names are the same on both backends: they derive from the table and the
column).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = {
    "deal_id": "funnel_visit_deal_id_10fe98fe",
    "step_id": "funnel_visit_step_id_fb4ad050",
    "actor_id": "funnel_visit_actor_id_132fd2d6",
}


class Migration(migrations.Migration):
    dependencies = [
        ("funnel", "0005_metrics_snapshots"),
        ("streams", "0003_map_editing"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="visit",
                    name="deal",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="visits",
                        to="funnel.deal",
                    ),
                ),
                migrations.AlterField(
                    model_name="visit",
                    name="step",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.RESTRICT,
                        related_name="visits",
                        to="streams.processstep",
                    ),
                ),
                migrations.AlterField(
                    model_name="visit",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="visits",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX "{name}";',
                    reverse_sql=f'CREATE INDEX "{name}" ON "funnel_visit" ("{column}");',
                )
                for column, name in INDEXES.items()
            ],
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["actor"],
                name="visit_actor",
            ),
        ),
    ]
