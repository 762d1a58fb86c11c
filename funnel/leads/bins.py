"""The response-time bins of the Leads dashboard (docs/metrics.md §8 "response histogram"), in
one place: the response histogram per hand-off and the waste's first-touch histogram use them.

Bins are half-open ``[from, to)`` in hours: 0–1, 1–4, 4–8, 8–24, 24–72, 72–168, 168+ (the last
has no upper edge, ``to_hours`` None). A response of exactly 1 hour falls in 1–4.

:func:`histogram` bins an array of hours; :func:`bin_index` is the same rule as an ORM
expression, so a large set is counted with a ``GROUP BY`` in the database, and
:func:`histogram_of_counts` turns those counts into the result's list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from django.db.models import Case, IntegerField, Value, When
from django.db.models.lookups import IsNull, LessThan

#: The lower edges of the bins, in hours; the last bin is open above.
EDGES: tuple[float, ...] = (0, 1, 4, 8, 24, 72, 168)


def histogram(hours: Sequence[float] | np.ndarray) -> list[dict]:
    """``[{"from_hours", "to_hours", "n"}]``, one per bin in order (empty bins included), of
    the given durations in hours. Negative durations (none should exist) count in the first
    bin; NaN is left out."""
    values = np.asarray(hours, dtype=float)
    values = values[~np.isnan(values)]
    index = np.searchsorted(np.asarray(EDGES, dtype=float), values, side="right") - 1
    counts = np.bincount(np.clip(index, 0, len(EDGES) - 1), minlength=len(EDGES))
    return histogram_of_counts(enumerate(counts.tolist()))


def histogram_of_counts(counts: Iterable[tuple[int | None, int]]) -> list[dict]:
    """The same from ``(bin index, count)`` pairs, such as a ``GROUP BY`` over
    :func:`bin_index` gives (a None index, a NULL duration, is left out)."""
    n = [0] * len(EDGES)
    for index, count in counts:
        if index is not None:
            n[index] += int(count)
    uppers = (*EDGES[1:], None)
    return [
        {"from_hours": low, "to_hours": high, "n": k}
        for low, high, k in zip(EDGES, uppers, n, strict=True)
    ]


def bin_index(hours) -> Case:
    """An ORM expression for the index (0 … 6) of the bin a duration in hours (``hours``, an
    expression) falls in, to count the bins with one ``GROUP BY`` in the database; NULL for a
    NULL duration, 0 for a negative one."""
    return Case(
        When(IsNull(hours, True), then=Value(None)),
        *[When(LessThan(hours, upper), then=Value(i)) for i, upper in enumerate(EDGES[1:])],
        default=Value(len(EDGES) - 1),
        output_field=IntegerField(),
    )
