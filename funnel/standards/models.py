"""Standard work of a step (Standardize, docs/five-s.md): its definition of done, a short
checklist the team's managers keep, and the assets of the library it relies on; and the ticks
reps put on a deal's checklist. Ticking is optional and never blocks a move.

A tick is a row: the deal, the item, the step it belongs to, who ticked and when. Unticking
deletes the row. Retiring an item keeps its ticks.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from funnel.assets.models import Asset
from streams.models import ProcessStep


class ChecklistItem(models.Model):
    step = models.ForeignKey(ProcessStep, on_delete=models.CASCADE, related_name="checklist_items")
    text = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="checklist_item_not_empty"),
        ]

    def __str__(self) -> str:
        return self.text


class ChecklistTick(models.Model):
    deal = models.ForeignKey(
        "funnel.Deal", on_delete=models.CASCADE, related_name="checklist_ticks"
    )
    item = models.ForeignKey(ChecklistItem, on_delete=models.CASCADE, related_name="ticks")
    step = models.ForeignKey(ProcessStep, on_delete=models.CASCADE, related_name="+")
    ticked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    ticked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["ticked_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["deal", "item"], name="checklist_tick_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.item} on deal {self.deal_id}"


class StepAsset(models.Model):
    """An asset of the team's library that a step's standard work relies on."""

    step = models.ForeignKey(ProcessStep, on_delete=models.CASCADE, related_name="standard_assets")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="standard_steps")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["step", "asset"], name="step_asset_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.step}: {self.asset}"
