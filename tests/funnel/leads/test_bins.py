"""The response-time bins (funnel.leads.bins): half-open [from, to) hours, the last open above;
the array histogram and the database's GROUP BY give the same counts."""

from __future__ import annotations

import pytest
from django.db.models import Count, F, FloatField
from django.db.models.functions import Cast

from funnel.leads.bins import EDGES, bin_index, histogram, histogram_of_counts
from funnel.models import Visit
from tests.factories import DealFactory, VisitFactory

#: One value at, and one just below, each edge; a NaN left out.
HOURS = [0, 0.999, 1, 3.99, 4, 7.5, 8, 23.9, 24, 71, 72, 167.9, 168, 1000]
COUNTS = [2, 2, 2, 2, 2, 2, 2]


def expected(counts):
    uppers = (1, 4, 8, 24, 72, 168, None)
    return [
        {"from_hours": low, "to_hours": high, "n": n}
        for low, high, n in zip(EDGES, uppers, counts, strict=True)
    ]


def test_edges():
    assert EDGES == (0, 1, 4, 8, 24, 72, 168)


def test_histogram_of_an_array():
    assert histogram([*HOURS, float("nan")]) == expected(COUNTS)
    assert histogram([]) == expected([0] * 7)


def test_histogram_of_counts_leaves_null_out():
    assert histogram_of_counts([(0, 3), (6, 1), (None, 5), (0, 1)]) == expected(
        [4, 0, 0, 0, 0, 0, 1]
    )


@pytest.mark.django_db
def test_bin_index_in_the_database_matches():
    """Each value stored as a visit's work minutes (hours × 60, NULL for one), binned by
    ``bin_index`` in a GROUP BY."""
    deal = DealFactory()
    step = VisitFactory(deal=deal, exited=True, work_minutes=None).step
    for hours in HOURS:
        VisitFactory(deal=deal, step=step, exited=True, work_minutes=round(hours * 60))
    hours = Cast(F("work_minutes"), FloatField()) / 60.0
    rows = (
        Visit.objects.filter(deal=deal)
        .annotate(bin=bin_index(hours))
        .values("bin")
        .annotate(n=Count("id"))
        .values_list("bin", "n")
    )
    # 0.999 h is 60 minutes once stored in minutes: 1 h, bin 1–4; 3.99 h is 239 minutes.
    assert histogram_of_counts(rows) == expected([1, 3, 2, 2, 2, 2, 2])
