"""Fit kaizen cycles stored under the looser rules of 0001 to the constraints 0004 and 0005 add:
in Do without a change date → back to Plan; in Act (no Check was ever computed) → back to
Check; a change before the plan → planned that day; a target date before the plan → none;
closed before the change → closed the day of the change."""

from django.db import migrations
from django.db.models import F


def fit_stored_cycles(apps, schema_editor):
    """Make rows stored under the looser rules of 0001 meet the new constraints."""
    KaizenCycle = apps.get_model("kaizen", "KaizenCycle")
    KaizenCycle.objects.filter(phase="do", change_date__isnull=True).update(phase="plan")
    # No Check was ever computed before 0004: a cycle in Act goes back to Check.
    KaizenCycle.objects.filter(phase="act").update(phase="check")
    KaizenCycle.objects.filter(change_date__lt=F("planned_on")).update(planned_on=F("change_date"))
    KaizenCycle.objects.filter(target_date__lt=F("planned_on")).update(target_date=None)
    KaizenCycle.objects.filter(closed_on__lt=F("change_date")).update(closed_on=F("change_date"))


class Migration(migrations.Migration):
    dependencies = [("kaizen", "0002_same_stream_triggers")]
    operations = [migrations.RunPython(fit_stored_cycles, migrations.RunPython.noop)]
