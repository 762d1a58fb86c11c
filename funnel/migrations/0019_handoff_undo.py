# Hand-off decisions can be undone (funnel.leads.undo): when a decision was recorded, the
# case's owner before it, and the undone decisions kept as HandoffUndo rows.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("funnel", "0017_importupload_lead_formats"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="handoffdecision",
            name="owner_before",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # Decisions made before undo existed keep an empty recorded_at (no default for them),
        # then new ones get the moment they are made.
        migrations.AddField(
            model_name="handoffdecision",
            name="recorded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="handoffdecision",
            name="recorded_at",
            field=models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True),
        ),
        migrations.CreateModel(
            name="HandoffUndo",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "stage",
                    models.CharField(help_text="The hand-off's offered stage then.", max_length=40),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("accept", "Accept"),
                            ("reject", "Reject"),
                            ("recycle", "Recycle to nurture"),
                            ("disqualify", "Disqualify"),
                        ],
                        max_length=10,
                    ),
                ),
                ("pull", models.BooleanField(default=False, help_text="The decision was a pull.")),
                ("reason_label", models.CharField(blank=True, max_length=120)),
                ("note", models.CharField(blank=True, max_length=500)),
                ("decided_at", models.DateTimeField()),
                ("undone_at", models.DateTimeField()),
                (
                    "reason",
                    models.CharField(
                        blank=True,
                        help_text="Why a manager undid it (after the undo window).",
                        max_length=500,
                    ),
                ),
                (
                    "deal",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="handoff_undos",
                        to="funnel.deal",
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "handoff",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="funnel.handoff",
                    ),
                ),
                (
                    "undone_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "visit",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="funnel.visit",
                    ),
                ),
            ],
            options={
                "ordering": ["undone_at", "id"],
                "indexes": [models.Index(fields=["deal", "undone_at"], name="handoff_undo_deal")],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("kind__in", ["accept", "reject", "recycle", "disqualify"])
                        ),
                        name="handoff_undo_kind_valid",
                    )
                ],
            },
        ),
    ]
