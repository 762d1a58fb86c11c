"""Writes of standard work (docs/five-s.md). The team's managers keep each step's checklist
and the assets it relies on; a deal's rep (or a manager) ticks the checklist of a step the
deal is at or went through. Ticking is optional: no move ever asks for it. Each service
raises ``PermissionDenied`` for a role that may not, and ``ValidationError({field: reason})``
before writing anything."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from funnel.assets.models import Asset, ProposalState
from funnel.common.text import required_text
from funnel.eventlog.selectors import deal_can_edit
from funnel.models import Deal, DealStatus
from funnel.standards.models import ChecklistItem, ChecklistTick, StepAsset
from streams.models import ProcessStep
from streams.selectors import require_stream_edit

_MANAGERS = "Only the team's managers change a step's standard work."
MAX_ITEM = 200


def _text(text: str) -> str:
    return required_text(
        text, field="text", missing="Write what done means for this item.", limit=MAX_ITEM
    )


def item_add(*, user: AbstractBaseUser, step: ProcessStep, text: str) -> ChecklistItem:
    require_stream_edit(user, step.stream, _MANAGERS)
    text = _text(text)
    last = step.checklist_items.aggregate(last=Max("position"))["last"]
    return ChecklistItem.objects.create(step=step, text=text, position=(last or 0) + 1)


def item_update(
    *, user: AbstractBaseUser, item: ChecklistItem, text: str | None = None
) -> ChecklistItem:
    """Reword an item. Its ticks stay: reword only to say the same thing better; retire it and
    add another for a new rule."""
    require_stream_edit(user, item.step.stream, _MANAGERS)
    if item.retired_at is not None:
        raise ValidationError({"text": "This item is retired."})
    if text is not None:
        item.text = _text(text)
        item.save(update_fields=["text"])
    return item


def item_retire(*, user: AbstractBaseUser, item: ChecklistItem) -> ChecklistItem:
    require_stream_edit(user, item.step.stream, _MANAGERS)
    if item.retired_at is None:
        item.retired_at = timezone.now()
        item.save(update_fields=["retired_at"])
    return item


def _require_tick(user: AbstractBaseUser, deal: Deal) -> None:
    if not deal_can_edit(user=user, deal=deal):
        raise PermissionDenied("Only the deal's owner and the team's managers tick its checklist.")
    if deal.status != DealStatus.OPEN:
        # A tick after the outcome is known would make the checklist look like it goes with it.
        raise ValidationError({"deal": "The deal is closed: its checklist can no longer change."})


def _require_visited(deal: Deal, step: ProcessStep) -> None:
    if step.stream_id != deal.stream_id or not deal.visits.filter(step=step).exists():
        raise ValidationError({"step": "The deal has not been at this step."})


def ticks_set(
    *, user: AbstractBaseUser, deal: Deal, step: ProcessStep, item_ids: Iterable[int]
) -> list[ChecklistTick]:
    """Make the deal's ticks on ``step``'s active items exactly ``item_ids``: new ones are
    written (by ``user``, now), missing ones deleted, kept ones keep who ticked them and when.
    Returns the ticks now on the step."""
    _require_tick(user, deal)
    _require_visited(deal, step)
    active = {item.pk: item for item in step.checklist_items.filter(retired_at__isnull=True)}
    wanted = set(item_ids)
    unknown = sorted(wanted - set(active))
    if unknown:
        raise ValidationError(
            {"items": f"Not an item of this step's checklist: {', '.join(map(str, unknown))}."}
        )
    with transaction.atomic():
        ChecklistTick.objects.filter(deal=deal, item_id__in=set(active) - wanted).delete()
        have = set(
            ChecklistTick.objects.filter(deal=deal, item_id__in=wanted).values_list(
                "item_id", flat=True
            )
        )
        ChecklistTick.objects.bulk_create(
            ChecklistTick(deal=deal, item=active[pk], step=step, ticked_by=user)
            for pk in sorted(wanted - have)
        )
    return list(ChecklistTick.objects.filter(deal=deal, item_id__in=active))


def tick_add(*, user: AbstractBaseUser, deal: Deal, item: ChecklistItem) -> ChecklistTick:
    """Tick one item (idempotent: an item already ticked keeps its first tick)."""
    _require_tick(user, deal)
    if item.retired_at is not None:
        raise ValidationError({"item": "This item is retired."})
    _require_visited(deal, item.step)
    tick, _ = ChecklistTick.objects.get_or_create(
        deal=deal, item=item, defaults={"step": item.step, "ticked_by": user}
    )
    return tick


def tick_remove(*, user: AbstractBaseUser, tick: ChecklistTick) -> None:
    _require_tick(user, tick.deal)
    tick.delete()


def step_asset_add(*, user: AbstractBaseUser, step: ProcessStep, asset: Asset) -> StepAsset:
    require_stream_edit(user, step.stream, _MANAGERS)
    if asset.team_id != step.stream.team_id:
        raise ValidationError({"asset": "Not an asset of this team's library."})
    if asset.retired_at is not None:
        raise ValidationError({"asset": "This asset is retired; restore it first."})
    if asset.state != ProposalState.ACCEPTED:
        raise ValidationError({"asset": "This asset is a proposal a manager has not accepted."})
    if StepAsset.objects.filter(step=step, asset=asset).exists():
        raise ValidationError({"asset": "The step relies on this asset already."})
    return StepAsset.objects.create(step=step, asset=asset, added_by=user)


def step_asset_remove(*, user: AbstractBaseUser, link: StepAsset) -> None:
    require_stream_edit(user, link.step.stream, _MANAGERS)
    link.delete()
