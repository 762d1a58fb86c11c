"""Reads of standard work and who may do what (docs/five-s.md).

Every member of the team reads a stream's checklists and the assets its steps rely on; the
team's managers change them. Ticks are read and written with the deal: who may see the deal
sees its ticks; who may edit it (its rep, the team's managers) ticks.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Min, Q, QuerySet
from django.urls import NoReverseMatch, reverse

from funnel.assets.outcomes import Window
from funnel.eventlog.selectors import deal_can_edit, deals_visible_to
from funnel.models import Deal, DealStatus, Visit
from funnel.standards.metrics import Adherence, adherence
from funnel.standards.models import ChecklistItem, ChecklistTick, StepAsset
from streams.models import ProcessStep, ValueStream
from streams.selectors import User, streams_visible_to


def items_visible_to(user: User) -> QuerySet[ChecklistItem]:
    return ChecklistItem.objects.filter(step__stream__in=streams_visible_to(user)).select_related(
        "step"
    )


def ticks_visible_to(user: User) -> QuerySet[ChecklistTick]:
    return ChecklistTick.objects.filter(deal__in=deals_visible_to(user)).select_related(
        "item", "ticked_by"
    )


def step_assets_visible_to(user: User) -> QuerySet[StepAsset]:
    return StepAsset.objects.filter(step__stream__in=streams_visible_to(user)).select_related(
        "asset", "step"
    )


def asset_url(link: StepAsset) -> str | None:
    """The library page of the asset a step relies on (None when the library's pages are not
    routed)."""
    try:
        return reverse("assets:detail", args=[link.asset_id])
    except NoReverseMatch:
        return None


def active_items(step: ProcessStep) -> list[ChecklistItem]:
    return list(step.checklist_items.filter(retired_at__isnull=True))


@dataclass(frozen=True)
class StepStandard:
    step: ProcessStep
    items: list[ChecklistItem]
    assets: list[StepAsset]
    figures: Adherence | None


def stream_standards(stream: ValueStream, window: Window | None = None) -> list[StepStandard]:
    """Each step of ``stream`` with its active checklist, the assets it relies on and, when it
    has a checklist, its adherence figures over ``window`` (closing dates; all time when
    None)."""
    steps = list(stream.steps.order_by("position"))
    items: dict[int, list[ChecklistItem]] = {}
    for item in ChecklistItem.objects.filter(step__stream=stream, retired_at__isnull=True):
        items.setdefault(item.step_id, []).append(item)
    assets: dict[int, list[StepAsset]] = {}
    for link in StepAsset.objects.filter(step__stream=stream).select_related("asset"):
        assets.setdefault(link.step_id, []).append(link)
    return [
        StepStandard(
            step=step,
            items=items.get(step.pk, []),
            assets=assets.get(step.pk, []),
            figures=step_adherence(step, window) if items.get(step.pk) else None,
        )
        for step in steps
    ]


def step_adherence(step: ProcessStep, window: Window | None = None) -> Adherence:
    """The adherence of ``step``'s active checklist:

    - *reached*: deals with a visit to the step still open, or ended, when or after its first
      active item was written (a deal that left the step before there was a checklist could
      not follow it); with a ``window`` (closing dates ``[start, end)``, as the asset library's
      Usage and outcome report), only the deals still open or closed in it;
    - *complete*: of those, deals with a tick on every active item;
    - the closed deals among *reached*, won or lost, with and without the complete checklist.
    """
    active = ChecklistItem.objects.filter(step=step, retired_at__isnull=True)
    first = active.aggregate(first=Min("created_at"))["first"]
    count = active.count()
    if first is None:
        return adherence(reached=set(), complete=set(), outcomes={})
    visits = Visit.objects.filter(step=step)
    if window is not None:
        visits = visits.filter(
            Q(deal__status=DealStatus.OPEN)
            | Q(deal__closed_at__gte=window.start, deal__closed_at__lt=window.end)
        )
    reached = set(
        visits.filter(Q(exited_at__isnull=True) | Q(exited_at__gte=first))
        .values_list("deal_id", flat=True)
        .distinct()
    )
    complete = set(
        ChecklistTick.objects.filter(item__in=active)
        .values("deal_id")
        .annotate(n=Count("item_id", distinct=True))
        .filter(n=count)
        .values_list("deal_id", flat=True)
    )
    outcomes = {
        pk: status == DealStatus.WON
        for pk, status in Deal.objects.filter(
            pk__in=reached, status__in=[DealStatus.WON, DealStatus.LOST]
        ).values_list("pk", "status")
    }
    return adherence(reached=reached, complete=complete, outcomes=outcomes)


@dataclass(frozen=True)
class DealChecklist:
    step: ProcessStep
    #: (item, its tick or None), the step's active items in order.
    rows: list[tuple[ChecklistItem, ChecklistTick | None]]
    assets: list[StepAsset]
    can_tick: bool

    @property
    def ticked(self) -> int:
        return sum(1 for _, tick in self.rows if tick is not None)


def deal_checklist(*, deal: Deal, step: ProcessStep | None, user: User) -> DealChecklist | None:
    """The definition of done of the deal's current ``step`` with the deal's ticks; None when
    the step has no checklist and relies on no asset."""
    if step is None:
        return None
    items = active_items(step)
    assets = list(step.standard_assets.select_related("asset"))
    if not items and not assets:
        return None
    ticks = {
        t.item_id: t
        for t in ChecklistTick.objects.filter(deal=deal, item__in=items).select_related("ticked_by")
    }
    return DealChecklist(
        step=step,
        rows=[(item, ticks.get(item.pk)) for item in items],
        assets=assets,
        can_tick=deal.status == DealStatus.OPEN and deal_can_edit(user=user, deal=deal),
    )
