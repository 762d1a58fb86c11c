"""Kaizen (PDCA) cycles. The full Plan/Do/Check/Act record is filled out by the kaizen issue;
this is the core the map (kaizen bursts) and the demo data already need."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from streams.models import ProcessStep, ValueStream


class Phase(models.TextChoices):
    PLAN = "plan", "Plan"
    DO = "do", "Do"
    CHECK = "check", "Check"
    ACT = "act", "Act"
    CLOSED = "closed", "Closed"


class KaizenCycle(models.Model):
    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="kaizen_cycles")
    step = models.ForeignKey(
        ProcessStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="kaizen_cycles"
    )
    title = models.CharField(max_length=200)
    problem = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="kaizen_cycles"
    )
    phase = models.CharField(max_length=6, choices=Phase.choices, default=Phase.PLAN)
    planned_on = models.DateField()
    target_date = models.DateField(null=True, blank=True)
    change_date = models.DateField(null=True, blank=True, help_text="When the change started (Do).")
    closed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-planned_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(phase__in=Phase.values), name="kaizen_phase_valid"),
            # No Check or Act before the change has a start date (PDCA order).
            models.CheckConstraint(
                condition=Q(phase__in=[Phase.PLAN, Phase.DO]) | Q(change_date__isnull=False),
                name="kaizen_check_needs_change_date",
            ),
            models.CheckConstraint(
                condition=~Q(phase=Phase.CLOSED) | Q(closed_on__isnull=False),
                name="kaizen_closed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.phase != Phase.CLOSED
