"""The demo restored from a copy (``tests/demo_snapshot.py``) is the demo as seeded: every
table holds the same rows, with the same ids, and what a test changed is gone."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from funnel.models import Deal
from streams.models import Team
from tests import demo_snapshot
from tests.demo_snapshot import demo_restored
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)

ARGS = {"deals": 5, "seed": 3}


#: The stream's figures, recomputed as of now by the restore as the seed does as it ends:
#: their content depends on the moment, so they are compared by their number of rows.
RECOMPUTED = {
    "funnel_metricssnapshot",
    "funnel_metricsstate",
    "funnel_stagesnapshot",
    "funnel_stepsnapshot",
}


def _fingerprint() -> dict[str, str]:
    """Each table's rows, as one hash of their text in order."""
    if connection.vendor != "postgresql":
        pytest.skip("the copy is PostgreSQL's COPY; SQLite seeds every time")
    quote = connection.ops.quote_name
    out = {}
    with connection.cursor() as cursor:
        for table in demo_snapshot._tables():
            row = "''" if table in RECOMPUTED else "t"
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg({row}::text, '|' ORDER BY "
                f"{row}::text), '')) FROM {quote(table)} t"
            )
            out[table] = cursor.fetchone()
    return out


def _flush() -> None:
    """What pytest-django does after a transactional test: empty every table, then let
    migrations' signals make the content types and permissions again."""
    call_command("flush", interactive=False, verbosity=0)


def test_a_restored_demo_has_the_rows_of_the_seeded_one_and_drops_a_tests_changes(
    settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path / "first")
    seeded = demo_restored(**ARGS)
    rows = _fingerprint()
    assert rows["funnel_deal"][0] >= 5
    files = sorted(p.relative_to(tmp_path / "first") for p in (tmp_path / "first").rglob("*"))
    assert files, "the demo stores its asset files"
    Deal.objects.filter(pk=Deal.objects.order_by("pk").first().pk).delete()  # a test's change
    _flush()

    settings.MEDIA_ROOT = str(tmp_path / "second")
    before = dict(demo_snapshot.counts)
    restored = demo_restored(**ARGS)
    assert demo_snapshot.counts == {**before, "restored": before["restored"] + 1}
    assert restored == seeded
    assert _fingerprint() == rows
    copied = sorted(p.relative_to(tmp_path / "second") for p in (tmp_path / "second").rglob("*"))
    assert copied == files
    # A row made now gets an id past every restored one.
    new = TeamFactory()
    assert new.pk > max(Team.objects.exclude(pk=new.pk).values_list("pk", flat=True))


def test_a_database_with_a_tests_own_data_gets_a_real_seed_not_the_copy():
    demo_restored(**ARGS)  # a copy exists in this process
    _flush()
    TeamFactory(name="Made by the test")
    before = dict(demo_snapshot.counts)
    demo_restored(**ARGS)
    assert demo_snapshot.counts == {**before, "seeded": before["seeded"] + 1}
    assert Team.objects.filter(name="Made by the test").exists()
