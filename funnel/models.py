"""Deals and visits: the event log of metrics.md §1.

A *visit* is one stay of one deal at one process step. A deal's path is its visits ordered by
``entered_at``; won and lost are outcomes on the deal, not steps.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from streams.models import ProcessStep, ValueStream


class DealStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Deal(models.Model):
    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="deals")
    external_id = models.CharField(
        max_length=64, help_text="The deal's id in the CRM; unique within a stream."
    )
    name = models.CharField(max_length=200)
    account = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_deals",
    )
    source = models.CharField(max_length=40, blank=True, help_text="Lead source, e.g. inbound.")
    created_at = models.DateTimeField(help_text="When the deal was created (in the CRM).")
    status = models.CharField(max_length=4, choices=DealStatus.choices, default=DealStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["stream", "status"], name="deal_stream_status"),
            models.Index(fields=["owner", "status"], name="deal_owner_status"),
            models.Index(fields=["stream", "closed_at"], name="deal_stream_closed"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "external_id"], name="deal_external_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DealStatus.values), name="deal_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0), name="deal_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=(Q(status=DealStatus.OPEN) & Q(closed_at__isnull=True))
                | (~Q(status=DealStatus.OPEN) & Q(closed_at__isnull=False)),
                name="deal_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(closed_at__gte=F("created_at")),
                name="deal_closes_after_created",
            ),
            models.CheckConstraint(
                condition=Q(status=DealStatus.LOST) | Q(lost_reason=""),
                name="deal_lost_reason_only_when_lost",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class Visit(models.Model):
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="visits")
    step = models.ForeignKey(ProcessStep, on_delete=models.RESTRICT, related_name="visits")
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)
    work_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Hands-on minutes logged; empty when not logged."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visits",
    )
    # Imported history often names people or roles that have no account here.
    actor_name = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["deal", "entered_at", "id"]
        indexes = [
            models.Index(fields=["step", "exited_at"], name="visit_step_exited"),
            models.Index(fields=["step", "entered_at"], name="visit_step_entered"),
            models.Index(fields=["deal", "entered_at"], name="visit_deal_entered"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(exited_at__isnull=True) | Q(exited_at__gte=F("entered_at")),
                name="visit_exits_after_entering",
            ),
            models.CheckConstraint(
                condition=Q(work_minutes__isnull=True) | Q(work_minutes__gte=0),
                name="visit_work_minutes_not_negative",
            ),
            models.UniqueConstraint(
                fields=["deal"],
                condition=Q(exited_at__isnull=True),
                name="visit_one_open_per_deal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deal.external_id} @ {self.step.name}"

    @property
    def is_open(self) -> bool:
        return self.exited_at is None


class StepSnapshot(models.Model):
    """Measured figures of one step over one window (metrics.md §2), written by the metrics
    engine and read by the map and the dashboards instead of raw visits."""

    step = models.ForeignKey(ProcessStep, on_delete=models.CASCADE, related_name="snapshots")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    computed_at = models.DateTimeField()
    n = models.PositiveIntegerField(help_text="Completed visits in the window.")
    low_sample = models.BooleanField(default=False)
    median_hours = models.FloatField(null=True, blank=True)
    p85_hours = models.FloatField(null=True, blank=True)
    p95_hours = models.FloatField(null=True, blank=True)
    mean_hours = models.FloatField(null=True, blank=True)
    median_work_hours = models.FloatField(null=True, blank=True)
    flow_efficiency = models.FloatField(null=True, blank=True)
    pct_complete_accurate = models.FloatField(null=True, blank=True, help_text="0–100.")
    wip_now = models.PositiveIntegerField(null=True, blank=True)
    avg_wip = models.FloatField(null=True, blank=True)
    arrivals = models.PositiveIntegerField(null=True, blank=True)
    throughput_per_week = models.FloatField(null=True, blank=True)
    reentries = models.PositiveIntegerField(null=True, blank=True)
    loss_rate = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["step", "window_start", "window_end"], name="step_snapshot_window_unique"
            ),
            models.CheckConstraint(
                condition=Q(window_end__gt=F("window_start")), name="step_snapshot_window_valid"
            ),
        ]
        indexes = [models.Index(fields=["step", "-computed_at"], name="step_snapshot_latest")]

    def __str__(self) -> str:
        return f"{self.step} {self.window_start:%Y-%m-%d}–{self.window_end:%Y-%m-%d}"


class StreamSnapshot(models.Model):
    """Measured summary of one stream over one window (metrics.md §3)."""

    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="snapshots")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    computed_at = models.DateTimeField()
    lead_time_hours = models.FloatField(null=True, blank=True)
    process_time_hours = models.FloatField(null=True, blank=True)
    activity_ratio = models.FloatField(null=True, blank=True)
    rolled_pct_complete_accurate = models.FloatField(null=True, blank=True, help_text="0–100.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "window_start", "window_end"],
                name="stream_snapshot_window_unique",
            ),
            models.CheckConstraint(
                condition=Q(window_end__gt=F("window_start")),
                name="stream_snapshot_window_valid",
            ),
        ]
        indexes = [models.Index(fields=["stream", "-computed_at"], name="stream_snapshot_latest")]

    def __str__(self) -> str:
        return f"{self.stream} {self.window_start:%Y-%m-%d}–{self.window_end:%Y-%m-%d}"


class ImportUpload(models.Model):
    """A file handed to the import (``funnel.importing``), kept in the database so a Celery
    worker in another container can read it, with the options the import runs with."""

    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="imports")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    filename = models.CharField(max_length=200, blank=True)
    data = models.BinaryField(help_text="The file as uploaded.")
    format = models.CharField(
        max_length=12,
        choices=[("visits", "Visits"), ("transitions", "Transitions"), ("wide", "Wide")],
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="funnel.importing.ImportOptions as a dict: format, time_zone, day_first, "
        "columns, steps.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    job = models.ForeignKey(
        "streams.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename or 'upload'} → {self.stream}"
