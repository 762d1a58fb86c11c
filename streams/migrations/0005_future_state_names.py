"""Future states drawn before they got a name of their own carried their current state's name
("New business" twice on the compare page): rename each to "<name> — future state" where that
name is free in its team. Slugs, and so every link, stay as they were."""

from django.db import migrations

SUFFIX = " — future state"


def rename(apps, schema_editor):
    ValueStream = apps.get_model("streams", "ValueStream")
    max_length = ValueStream._meta.get_field("name").max_length
    futures = ValueStream.objects.filter(state="future", drawn_from__isnull=False)
    for future in futures.select_related("drawn_from"):
        if future.name != future.drawn_from.name:
            continue
        name = future.name[: max_length - len(SUFFIX)].rstrip() + SUFFIX
        taken = ValueStream.objects.filter(team_id=future.team_id, state="future", name=name)
        if not taken.exists():
            ValueStream.objects.filter(pk=future.pk).update(name=name)


class Migration(migrations.Migration):
    dependencies = [("streams", "0004_people_and_time_zones")]

    operations = [migrations.RunPython(rename, migrations.RunPython.noop)]
