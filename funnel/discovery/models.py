"""The tables of process discovery (docs/discovery.md): the Discovery dashboard's snapshots
and the deviations a manager accepted."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from funnel.view_jobs import ViewSnapshot, view_unique
from streams.models import ProcessStep, ValueStream
from vsm_project.db import choices_check


class DiscoverySnapshot(ViewSnapshot):
    """One Discovery dashboard view's results (``result``: docs/discovery.md "Result"). Its
    ``view_key`` names the window, the as-of instant and the filters; its
    ``source_signature`` hashes the visits, the map and the accepted deviations."""

    label = "discovery"
    stream = models.ForeignKey(ValueStream, models.CASCADE, related_name="discovery_snapshots")

    class Meta:
        constraints = [view_unique("discovery_snapshot_view_unique")]


class DeviationKind(models.TextChoices):
    SKIP = "skip", "Skipped steps"
    OUT_OF_ORDER = "out_of_order", "Step out of order"
    REENTRY = "reentry", "Re-entry"
    EARLY_END = "early_end", "Won before the last step"


class AcceptedDeviation(models.Model):
    """A kind of deviation between two steps that a manager accepted as an allowed shortcut
    (``source`` empty: from the start; ``target`` empty: to the end). It is still reported,
    apart, and no longer lowers a deal's fitness nor the map's %-conforming."""

    stream = models.ForeignKey(
        ValueStream, on_delete=models.CASCADE, related_name="accepted_deviations"
    )
    kind = models.CharField(max_length=20, choices=DeviationKind.choices)
    source = models.ForeignKey(
        ProcessStep, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    target = models.ForeignKey(
        ProcessStep, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One row per kind and pair, the start's and the end's too (a NULL is never
            # equal to another in a plain unique constraint).
            models.UniqueConstraint(
                fields=["stream", "kind", "source", "target"], name="accepted_deviation_unique"
            ),
            models.UniqueConstraint(
                fields=["stream", "kind", "target"],
                condition=Q(source__isnull=True),
                name="accepted_deviation_start_unique",
            ),
            models.UniqueConstraint(
                fields=["stream", "kind", "source"],
                condition=Q(target__isnull=True),
                name="accepted_deviation_end_unique",
            ),
            models.CheckConstraint(
                condition=Q(source__isnull=False) | Q(target__isnull=False),
                name="accepted_deviation_names_a_step",
            ),
            choices_check("kind", DeviationKind, "accepted_deviation_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"accepted {self.kind} {self.source_id}→{self.target_id} in {self.stream}"
