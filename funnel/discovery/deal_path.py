"""One deal's path against the map, for the deal page (docs/discovery.md "Conformance"): its
fitness and its deviations, worked out from its own visits with the same rules as the
Discovery view (``funnel.discovery.conformance``), so every deal has them, not only the least
fit the view lists. Accepted deviations are listed, marked, and count as conforming."""

from __future__ import annotations

from funnel.discovery.conformance import KINDS, deviations, fitness, moves
from funnel.discovery.log import Trace, map_steps
from funnel.discovery.snapshots import accepted_keys
from funnel.models import Deal, DealStatus


def deal_path_check(deal: Deal) -> dict | None:
    """``fitness``, ``moves``, ``conforming`` (moves) and ``deviations`` (each with its
    ``label``, ``accepted`` and the ``skipped`` step names) of ``deal`` as it stands; None
    before its first visit."""
    visits = list(deal.visits.order_by("entered_at", "id").values_list("step_id", "entered_at"))
    if not visits:
        return None
    steps = map_steps(deal.stream_id)
    names = {s.id: s.name for s in steps}
    trace = Trace(deal.pk, deal.name, deal.status, deal.closed_at)
    if deal.status != DealStatus.OPEN and deal.closed_at is None:
        trace.status = DealStatus.OPEN  # a close without its time has not ended the path
    for step, entered in visits:
        trace.steps.append(step)
        trace.entered.append(entered.timestamp())
    accepted = accepted_keys(deal.stream_id)
    found = deviations(trace, steps)
    fit = fitness(trace, found, accepted)
    total = moves(trace)
    return {
        "fitness": fit,
        "moves": total,
        "conforming": round(fit * total),
        "deviations": [
            {
                "kind": d.kind,
                "label": f"{KINDS[d.kind]}: {names.get(d.source, 'start')} → "
                f"{names.get(d.target, 'end')}",
                "accepted": d.key in accepted,
                "skipped": [names[s] for s in d.skipped],
            }
            for d in found
        ],
    }
