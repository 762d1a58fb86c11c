"""Demo data of the 5S practice's Standardize and Sustain (docs/five-s.md): three 5S audits
of the demo stream with a rising score, a definition of done on three steps with ticks on
some of the deals that reached them, and, where the asset library's demo attached assets to
those steps, the assets they rely on.

:func:`demo_five_s_add` adds them only when they are missing (no audit and no checklist on
the demo stream), so ``seed_demo`` may call it on a demo seeded before they existed without
touching what the team changed since.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from funnel.assets.models import AssetStep
from funnel.models import DealStatus, Visit
from funnel.standards.models import ChecklistItem, ChecklistTick, StepAsset
from kaizen.fives.models import FiveSAudit, FiveSQuestion
from kaizen.fives.services import audit_create, questions_ensure
from streams.models import Membership, Role, StreamState, ValueStream

#: The definition of done of three demo steps.
CHECKLISTS = {
    "Qualification call": ("Budget range confirmed", "Decision maker named", "Next meeting booked"),
    "Discovery meeting": (
        "Pains written in the customer's words",
        "Customer value map filled in",
        "Success criteria agreed",
    ),
    "Proposal & ROI model": (
        "ROI model reviewed with the champion",
        "This quarter's proposal template used",
    ),
}
#: The checklists were written this many days before the anchor.
CHECKLIST_AGE_DAYS = 180
#: The answers (0–4) of the ten default questions, in order, at each audit: a rising score.
AUDITS = (
    (120, (2, 1, 1, 2, 1, 0, 1, 1, 2, 1), "First audit: assets scattered across drives."),
    (60, (3, 2, 2, 2, 2, 1, 2, 2, 2, 2), "Library in place; reviews starting."),
    (10, (3, 3, 3, 3, 3, 2, 3, 3, 3, 2), "Most steps have a definition of done."),
)
#: Findings written on some low answers (question index → note), at the first audit.
NOTES = {
    5: "Two versions of the ROI model in use, one with last year's prices.",
    2: "Nobody could find the security questionnaire answers during the demo step.",
}
#: Chance that a deal that reached a step has its whole checklist ticked: won deals more
#: often, so the standard work page shows an association to read (and test with kaizen).
COMPLETE_IF_WON, COMPLETE_OTHERWISE, PARTIAL = 0.6, 0.3, 0.15


def demo_five_s_add(*, team_slug: str, anchor: datetime, seed: int = 42) -> bool:
    """Add the 5S demo data to the current-state stream of the team ``team_slug`` (the demo
    team) when it has none; True when added."""
    stream = ValueStream.objects.filter(team__slug=team_slug, state=StreamState.CURRENT).first()
    if stream is None:
        return False
    has_any = (
        FiveSAudit.objects.filter(stream=stream).exists()
        or ChecklistItem.objects.filter(step__stream=stream).exists()
    )
    if has_any:
        return False
    manager = (
        Membership.objects.filter(team_id=stream.team_id, role=Role.MANAGER)
        .select_related("user")
        .order_by("id")
        .first()
    )
    if manager is None:
        return False
    with transaction.atomic():
        _audits(stream, manager.user, anchor)
        _checklists(stream, anchor, np.random.default_rng(seed + 49979687))
    return True


def _audits(stream: ValueStream, manager, anchor: datetime) -> None:
    questions_ensure(stream=stream)
    questions = list(FiveSQuestion.objects.filter(stream=stream).order_by("position", "id"))
    today = min(anchor.date(), timezone.localdate())
    for index, (days_ago, scores, note) in enumerate(AUDITS):
        answers = [
            {
                "question": q.pk,
                "score": score,
                "note": NOTES.get(i, "") if index == 0 else "",
            }
            for i, (q, score) in enumerate(zip(questions, scores, strict=True))
        ]
        audit_create(
            user=manager,
            stream=stream,
            audited_on=today - timedelta(days=days_ago),
            answers=answers,
            note=note,
        )


def _checklists(stream: ValueStream, anchor: datetime, rng: np.random.Generator) -> None:
    written = anchor - timedelta(days=CHECKLIST_AGE_DAYS)
    for step in stream.steps.filter(name__in=CHECKLISTS):
        items = ChecklistItem.objects.bulk_create(
            ChecklistItem(step=step, text=text, position=i + 1, created_at=written)
            for i, text in enumerate(CHECKLISTS[step.name])
        )
        visits = (
            Visit.objects.filter(step=step)
            .filter(Q(exited_at__isnull=True) | Q(exited_at__gte=written))
            .values_list("deal_id", "entered_at", "deal__status", "deal__owner_id")
            .order_by("deal_id", "entered_at")
        )
        ticks, seen = [], set()
        for deal_id, entered_at, status, owner_id in visits:
            if deal_id in seen:
                continue
            seen.add(deal_id)
            chance = COMPLETE_IF_WON if status == DealStatus.WON else COMPLETE_OTHERWISE
            draw = rng.random()
            done = items if draw < chance else items[:1] if draw < chance + PARTIAL else []
            at = max(entered_at, written)
            ticks += [
                ChecklistTick(
                    deal_id=deal_id, item=item, step=step, ticked_by_id=owner_id, ticked_at=at
                )
                for item in done
            ]
        ChecklistTick.objects.bulk_create(ticks, batch_size=2_000)
        # The assets the library's demo attached to the step, as what its standard relies on.
        attached = AssetStep.objects.filter(step=step, asset__retired_at__isnull=True)
        StepAsset.objects.bulk_create(
            (StepAsset(step=step, asset_id=link.asset_id) for link in attached[:2]),
            ignore_conflicts=True,  # named already, by the team since
        )
