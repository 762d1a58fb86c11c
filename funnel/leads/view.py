"""A view of the Leads dashboard (docs/metrics.md §8): what every figure function takes.

The figure modules (``waterfall_figures``, ``sla_figures``, ``capacity``, ``separation``,
``waste``) each take a :class:`LeadsView` and return their part of the result
(docs/leads.md "Leads result"); ``snapshots.compute_leads`` puts the parts together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from streams.models import TimeBasis


@dataclass(frozen=True)
class LeadsView:
    stream_id: int
    #: The window [start, end), aware UTC instants.
    start: datetime
    end: datetime
    #: Nothing after this instant is read (decisions, visits, closes); default: now.
    as_of: datetime
    #: The case's ``source`` and owner (a user id) filters; empty: all.
    source: str = ""
    owner_id: int | None = None
    #: ``working`` or ``elapsed`` (streams.models.TimeBasis).
    basis: str = TimeBasis.ELAPSED

    @property
    def weeks(self) -> float:
        """The window's length in weeks (the denominator of the per-week rates)."""
        return (self.end - self.start).total_seconds() / (7 * 86400)

    @property
    def working(self) -> bool:
        return self.basis == TimeBasis.WORKING
