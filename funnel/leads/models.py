"""Leads, hand-offs and pull (docs/leads.md; figures in docs/metrics.md "Leads").

One event log. A lead is a case of ``funnel.Deal`` in the stream's lead-generation and
nurturing steps (the Marketing and SDR lanes): the same row goes on to be a deal when sales
accepts it, so its whole history is one path of visits, and flow metrics, waste and discovery
cover leads and deals alike. These tables add what the visits do not hold:

- a stream's :class:`Waterfall` (a preset such as Sirius 2006, or the team's own) and its
  :class:`Handoff` points. A hand-off is a step of the map where a lead waits for the receiving
  side's decision: entering that step *offers* the lead (it reaches the hand-off's
  ``offered_stage``, e.g. MQL); accepting it makes it reach ``accepted_stage`` (e.g. SAL). The
  hand-off marked ``pull`` is the *ready for sales* queue: sellers accept (pull) from it.
- a :class:`HandoffDecision` per arrival (one visit at a hand-off step): accept, reject (back to
  the giver's step), recycle (back to the waterfall's nurture step) or disqualify (the case is
  lost), with a reason from the team's :class:`HandoffReason` lists. The SLA clock runs from the
  visit's ``entered_at`` to ``decided_at``, in the working time of the step's lane calendar.
- :class:`HandoffAlert` rows record the breach emails sent, so each goes once.
- :class:`SellerLimit` and :class:`StepWipLimit`: the WIP limits a pull is checked against.
- :class:`LeadsSnapshot`: one computed view of the Leads dashboard (``result``: the JSON of
  docs/leads.md "Leads result"), written by a Celery job like ``MetricsSnapshot``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from funnel.view_jobs import ViewSnapshot
from streams.models import ProcessStep, ValueStream
from vsm_project.db import choices_check

#: The longest SLA or escalation threshold a hand-off may have: 60 working days of 8 hours.
#: Anything longer is not a service level but a typo (docs/leads.md "Bad input").
MAX_SLA_MINUTES = 60 * 8 * 60


class WaterfallPreset(models.TextChoices):
    SIRIUS_2006 = "sirius_2006", "Sirius 2006: Inquiry → MQL → SAL → SQL → Won"
    SIRIUS_2012 = "sirius_2012", "Sirius 2012: Inquiry → AQL → TQL → SAL → SQL → Won"
    CUSTOM = "custom", "The team's own stages"


class Side(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    SDR = "sdr", "SDR"
    SALES = "sales", "Sales"


class DecisionKind(models.TextChoices):
    ACCEPT = "accept", "Accept"
    REJECT = "reject", "Reject"
    RECYCLE = "recycle", "Recycle to nurture"
    DISQUALIFY = "disqualify", "Disqualify"


class ReasonKind(models.TextChoices):
    """The three reason lists: one per way of turning a lead down."""

    REJECT = "reject", "Reject"
    RECYCLE = "recycle", "Recycle"
    DISQUALIFY = "disqualify", "Disqualify"


class AlertLevel(models.TextChoices):
    OWNER = "owner", "Owner (SLA breached)"
    MANAGER = "manager", "Manager (escalated)"


class Waterfall(models.Model):
    """A stream's demand waterfall: the names of its first and last stage, where recycled
    leads go, and (through :class:`Handoff`) the stages in between."""

    stream = models.OneToOneField(
        ValueStream, on_delete=models.CASCADE, primary_key=True, related_name="waterfall"
    )
    preset = models.CharField(
        max_length=12, choices=WaterfallPreset.choices, default=WaterfallPreset.SIRIUS_2006
    )
    inquiry_stage = models.CharField(
        max_length=40, default="Inquiry", help_text="The stage a case reaches when it is created."
    )
    won_stage = models.CharField(max_length=40, default="Won")
    recycle_step = models.ForeignKey(
        ProcessStep,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Where a recycled lead goes to be nurtured again; empty: recycling is off.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [choices_check("preset", WaterfallPreset, "waterfall_preset_valid")]

    def __str__(self) -> str:
        return f"waterfall of {self.stream}"


#: A waterfall's settings beside its hand-offs: what the setup page and the API save.
WATERFALL_TERMS = ("preset", "inquiry_stage", "won_stage", "recycle_step")

#: A hand-off's terms beside its step and position: the stages it offers and accepts, who
#: gives and receives, its SLA and escalation, and whether sellers pull (the API's fields, what
#: the Leads figures depend on).
HANDOFF_TERMS = (
    "offered_stage",
    "accepted_stage",
    "giver",
    "receiver",
    "sla_minutes",
    "escalate_minutes",
    "pull",
)


class Handoff(models.Model):
    """A hand-off point: the step where a lead waits for the receiving side to decide."""

    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="handoffs")
    position = models.PositiveSmallIntegerField()
    step = models.OneToOneField(
        ProcessStep,
        on_delete=models.CASCADE,
        related_name="handoff",
        help_text="Entering this step offers the lead to the receiving side.",
    )
    offered_stage = models.CharField(
        max_length=40, help_text="The stage a lead reaches when it arrives here (e.g. MQL)."
    )
    accepted_stage = models.CharField(
        max_length=40,
        blank=True,
        help_text="The stage it reaches when the receiver accepts (e.g. SAL); empty: none.",
    )
    giver = models.CharField(max_length=10, choices=Side.choices)
    receiver = models.CharField(max_length=10, choices=Side.choices)
    sla_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Accept or turn down within this many working minutes; empty: no SLA.",
    )
    escalate_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Past this many working minutes undecided, the manager is told too.",
    )
    pull = models.BooleanField(
        default=False,
        help_text="The ready-for-sales queue: sellers pull leads from here within their limits.",
    )

    class Meta:
        ordering = ["stream", "position"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "position"], name="handoff_position_unique"),
            models.UniqueConstraint(
                fields=["stream"], condition=Q(pull=True), name="handoff_one_pull_per_stream"
            ),
            choices_check("giver", Side, "handoff_giver_valid"),
            choices_check("receiver", Side, "handoff_receiver_valid"),
            models.CheckConstraint(
                condition=Q(sla_minutes__isnull=True)
                | (Q(sla_minutes__gt=0) & Q(sla_minutes__lte=MAX_SLA_MINUTES)),
                name="handoff_sla_sensible",
            ),
            models.CheckConstraint(
                condition=Q(escalate_minutes__isnull=True)
                | (
                    Q(sla_minutes__isnull=False)
                    & Q(escalate_minutes__gt=F("sla_minutes"))
                    & Q(escalate_minutes__lte=MAX_SLA_MINUTES)
                ),
                name="handoff_escalation_after_sla",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.offered_stage} at {self.step}"


class HandoffReason(models.Model):
    """One entry of a stream's reject, recycle or disqualify list. Retired, not deleted, once
    used, so past decisions keep their reason."""

    stream = models.ForeignKey(
        ValueStream, on_delete=models.CASCADE, related_name="handoff_reasons"
    )
    kind = models.CharField(max_length=10, choices=ReasonKind.choices)
    label = models.CharField(max_length=120)
    position = models.PositiveSmallIntegerField(default=0)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["stream", "kind", "position", "id"]
        constraints = [
            choices_check("kind", ReasonKind, "handoff_reason_kind_valid"),
            models.UniqueConstraint(
                F("stream"),
                F("kind"),
                Lower("label"),
                condition=Q(retired_at__isnull=True),
                name="handoff_reason_active_label_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"


class HandoffDecision(models.Model):
    """The receiving side's decision on one arrival (``visit``: the lead's visit at the
    hand-off step). Never updated: a lead sent back and offered again is a new visit and gets
    a new decision."""

    visit = models.OneToOneField(
        "funnel.Visit", on_delete=models.CASCADE, related_name="handoff_decision"
    )
    handoff = models.ForeignKey(Handoff, on_delete=models.RESTRICT, related_name="decisions")
    deal = models.ForeignKey(
        "funnel.Deal", on_delete=models.CASCADE, related_name="handoff_decisions", db_index=False
    )
    kind = models.CharField(max_length=10, choices=DecisionKind.choices)
    reason = models.ForeignKey(
        HandoffReason, null=True, blank=True, on_delete=models.RESTRICT, related_name="decisions"
    )
    note = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField()
    #: Elapsed seconds from the arrival (the visit's ``entered_at``) to ``decided_at``.
    response_seconds = models.BigIntegerField()
    #: The same in working seconds of the step's lane calendar; empty without a calendar.
    response_w = models.BigIntegerField(null=True, blank=True)
    #: When the decision was made (not back-dated): the undo window runs from here
    #: (``funnel.leads.undo``). Empty for decisions recorded before undo existed.
    recorded_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    #: The case's owner just before the decision (a pull makes the seller the owner; its undo
    #: gives the case back to this owner).
    owner_before = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["decided_at", "id"]
        indexes = [
            models.Index(fields=["handoff", "decided_at"], name="handoff_decision_decided"),
            models.Index(fields=["deal", "decided_at"], name="handoff_decision_deal"),
        ]
        constraints = [
            choices_check("kind", DecisionKind, "handoff_decision_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind=DecisionKind.ACCEPT) | Q(reason__isnull=False),
                name="handoff_decision_reason_unless_accept",
            ),
            models.CheckConstraint(
                condition=Q(response_seconds__gte=0), name="handoff_decision_response_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.deal_id} at {self.decided_at:%Y-%m-%d %H:%M}"


class HandoffUndo(models.Model):
    """An undone decision (``funnel.leads.undo``): the decision is deleted with its effects,
    and this row keeps what it was (who decided what, when, with which reason) and who undid
    it, when and why (a manager's reason, required after the decider's undo window)."""

    deal = models.ForeignKey(
        "funnel.Deal", on_delete=models.CASCADE, related_name="handoff_undos", db_index=False
    )
    #: The arrival the decision was on; it waits for a decision again.
    visit = models.ForeignKey("funnel.Visit", on_delete=models.CASCADE, related_name="+")
    handoff = models.ForeignKey(
        Handoff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage = models.CharField(max_length=40, help_text="The hand-off's offered stage then.")
    kind = models.CharField(max_length=10, choices=DecisionKind.choices)
    pull = models.BooleanField(default=False, help_text="The decision was a pull.")
    reason_label = models.CharField(max_length=120, blank=True)
    note = models.CharField(max_length=500, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField()
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undone_at = models.DateTimeField()
    reason = models.CharField(
        max_length=500, blank=True, help_text="Why a manager undid it (after the undo window)."
    )

    class Meta:
        ordering = ["undone_at", "id"]
        indexes = [models.Index(fields=["deal", "undone_at"], name="handoff_undo_deal")]
        constraints = [choices_check("kind", DecisionKind, "handoff_undo_kind_valid")]

    def __str__(self) -> str:
        return f"undo of {self.kind} of {self.deal_id} at {self.undone_at:%Y-%m-%d %H:%M}"


class HandoffAlert(models.Model):
    """A breach email sent for one arrival, once per level."""

    visit = models.ForeignKey("funnel.Visit", on_delete=models.CASCADE, related_name="+")
    level = models.CharField(max_length=8, choices=AlertLevel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visit", "level"], name="handoff_alert_once"),
            choices_check("level", AlertLevel, "handoff_alert_level_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.level} alert for visit {self.visit_id}"


class SellerLimit(models.Model):
    """A seller's WIP limit in one stream: how many open deals they may own before a pull is
    refused. A rep with a limit is a *seller* of the stream (docs/leads.md "Who does what")."""

    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="seller_limits")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="seller_limits"
    )
    wip_limit = models.PositiveSmallIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["stream", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "user"], name="seller_limit_unique"),
            models.CheckConstraint(
                condition=Q(wip_limit__gte=1) & Q(wip_limit__lte=500),
                name="seller_limit_sensible",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ≤ {self.wip_limit} in {self.stream}"


class StepWipLimit(models.Model):
    """An optional WIP limit on one step: a pull into it is refused while it holds this many
    open visits."""

    step = models.OneToOneField(
        ProcessStep, on_delete=models.CASCADE, primary_key=True, related_name="wip_limit"
    )
    wip_limit = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(wip_limit__gte=1) & Q(wip_limit__lte=100000),
                name="step_wip_limit_sensible",
            )
        ]

    def __str__(self) -> str:
        return f"{self.step} ≤ {self.wip_limit}"


class LeadsSnapshot(ViewSnapshot):
    """One Leads dashboard view's results (``result``: docs/leads.md "Leads result"). Its
    ``view_key`` names the window, the as-of instant and the filters; its
    ``source_signature`` hashes the visits, decisions and hand-offs."""

    stream = models.ForeignKey(
        ValueStream, on_delete=models.CASCADE, related_name="leads_snapshots"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "view_key"], name="leads_snapshot_view_unique"
            )
        ]

    def __str__(self) -> str:
        return f"leads {self.view_key} of {self.stream}"
