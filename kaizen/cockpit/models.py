"""The weekly digest's tables (docs/cockpit.md "Weekly digest"): who asked for it, and which
weeks each person was sent, so that a second run in the same week sends nothing."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DigestSubscription(models.Model):
    """A person's choice of the weekly digest email, set on their account page (off until
    they turn it on; the unsubscribe link in each email turns it off)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_subscription"
    )
    weekly = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user}: weekly digest {'on' if self.weekly else 'off'}"


class DigestSent(models.Model):
    """One week's digest for one person: written before the email is sent, in the same
    transaction as the claim, so two runs of the task cannot both send it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digests_sent"
    )
    #: The Monday (UTC) of the ISO week the digest belongs to.
    week = models.DateField()
    sent_at = models.DateTimeField()
    streams = models.PositiveIntegerField(default=0, help_text="Streams the digest covered.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "week"], name="digest_sent_once_a_week"),
        ]

    def __str__(self) -> str:
        return f"digest of {self.week} to {self.user}"
