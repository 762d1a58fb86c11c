"""The manager's written override for acting without evidence (the Check said *insufficient
data*). The column is nullable with no default, so SQLite adds it with ``ALTER TABLE ADD``
and does not rebuild ``kaizen_kaizencycle`` (a rebuild drops the same-stream triggers).

Cycles already in Act, or adopted, on a Check with insufficient data are marked as acted on
without evidence, with a reason saying so: the board no longer counts them as measured."""

from django.db import migrations, models

LEGACY_REASON = (
    "Recorded before the evidence rule: the Check had insufficient data and no reason was given."
)


def mark_unevidenced(apps, schema_editor):
    KaizenCycle = apps.get_model("kaizen", "KaizenCycle")
    KaizenCycle.objects.filter(
        check_result__verdict="insufficient_data", evidence_override__isnull=True
    ).filter(models.Q(phase="act") | models.Q(outcome="adopted")).update(
        evidence_override=LEGACY_REASON
    )


class Migration(migrations.Migration):
    dependencies = [("kaizen", "0005_act_needs_check")]

    operations = [
        migrations.AddField(
            model_name="kaizencycle",
            name="evidence_override",
            field=models.TextField(
                blank=True,
                help_text="Why the team acted although the Check had insufficient data.",
                null=True,
            ),
        ),
        migrations.RunPython(mark_unevidenced, migrations.RunPython.noop),
    ]
