""""No Act before the Check" as a CHECK constraint on the cycle row instead of a trigger.

The trigger of the first 0004 looked at ``kaizen_cyclecheck`` on every update of a cycle, so
deleting a team (which deletes the checks first, then clears the cycles' links) tripped it.
The cycle now carries ``checked_at`` (set when its Check is first stored) and the rule is a
plain ``CHECK``. Cycles with a stored Check get its time; any in Act without one go back to
Check. AddConstraint rebuilds the table on SQLite, so the same-stream rule is installed again
last (and again when unapplying, which rebuilds it too).
"""

from django.db import migrations, models

from kaizen.rules import CYCLE_STEP_SAME_STREAM, reinstall

OLD_TRIGGER = "kaizen_cycle_act_needs_check"


def drop_old_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for event in ("insert", "update"):
        if vendor == "postgresql":
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {OLD_TRIGGER}_{event} ON kaizen_kaizencycle;"
            )
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {OLD_TRIGGER}_{event};")
    if vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {OLD_TRIGGER}();")


def fill_checked_at(apps, schema_editor):
    KaizenCycle = apps.get_model("kaizen", "KaizenCycle")
    CycleCheck = apps.get_model("kaizen", "CycleCheck")
    for cycle_id, computed_at in CycleCheck.objects.values_list("cycle_id", "computed_at"):
        KaizenCycle.objects.filter(pk=cycle_id).update(checked_at=computed_at)
    # In Act without a Check (possible before 0004): back to Check, where it is computed.
    KaizenCycle.objects.filter(phase="act", checked_at__isnull=True).update(phase="check")


class Migration(migrations.Migration):

    dependencies = [("kaizen", "0004_pdca_record")]

    operations = [
        reinstall(CYCLE_STEP_SAME_STREAM),  # for unapplying, which ends here
        migrations.RunPython(drop_old_trigger, migrations.RunPython.noop),
        migrations.AddField(
            model_name="kaizencycle",
            name="checked_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="When the Check was first computed.",
                null=True,
            ),
        ),
        migrations.RunPython(fill_checked_at, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="kaizencycle",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(models.Q(("phase", "act"), _negated=True), ("outcome", "")),
                    ("checked_at__isnull", False),
                    _connector="OR",
                ),
                name="kaizen_act_needs_check",
            ),
        ),
        reinstall(CYCLE_STEP_SAME_STREAM),
    ]
