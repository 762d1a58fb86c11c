"""The response-time bins of the Leads dashboard (docs/metrics.md §8 "response histogram"), in
one place: the response histogram per hand-off and the waste's first-touch histogram use them.

Bins are half-open ``[from, to)`` in hours: 0–1, 1–4, 4–8, 8–24, 24–72, 72–168, 168+ (the last
has no upper edge, ``to_hours`` None). A response of exactly 1 hour falls in 1–4.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
    uppers = (*EDGES[1:], None)
    return [
        {"from_hours": low, "to_hours": high, "n": int(n)}
        for low, high, n in zip(EDGES, uppers, counts.tolist(), strict=True)
    ]
