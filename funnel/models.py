"""Deals and visits: the event log of metrics.md §1.

A *visit* is one stay of one deal at one process step. A deal's path is its visits ordered by
``entered_at``; won and lost are outcomes on the deal, not steps.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from streams.models import FunnelStage, ProcessStep, TimeBasis, ValueStream
from vsm_project.db import choices_check


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
    # Nullable without a default so that SQLite adds the column (ALTER TABLE ADD) instead of
    # rebuilding funnel_deal, which would drop its triggers.
    owner_name = models.CharField(  # noqa: DJ001 - nullable on purpose (see above)
        max_length=120,
        null=True,
        blank=True,
        help_text="The owner as an imported CRM file names them, when they are not a user of "
        "the team (an agent's display name). The figures group and filter by it.",
    )
    source = models.CharField(max_length=40, blank=True, help_text="Lead source, e.g. inbound.")
    created_at = models.DateTimeField(help_text="When the deal was created (in the CRM).")
    status = models.CharField(max_length=4, choices=DealStatus.choices, default=DealStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.CharField(max_length=200, blank=True)
    # Nullable without a default so that SQLite adds the columns (ALTER TABLE ADD) instead of
    # rebuilding funnel_deal, which would drop its triggers.
    expected_close_date = models.DateField(
        null=True, blank=True, help_text="When the owner expects the deal to close."
    )
    next_step = models.CharField(  # noqa: DJ001 (nullable: see above)
        max_length=200,
        null=True,
        blank=True,
        help_text="The next thing to do on the deal, in the owner's words.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    # A path fact (funnel.eventlog.paths), kept with the visits by whatever writes them.
    first_entered_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the deal's first visit began."
    )
    # Working-time offsets (funnel.eventlog.working): W(t) of the team's default calendar, in
    # seconds from its origin, at the first entry and at the close; empty without a calendar.
    # A deal's working sales cycle is closed_w − first_entered_w. Nullable without a default
    # so that adding them did not rebuild the table on SQLite (its triggers).
    first_entered_w = models.BigIntegerField(null=True, blank=True, editable=False)
    closed_w = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["stream", "status"], name="deal_stream_status"),
            # A seller's open deals in a stream (their WIP), from the index alone.
            models.Index(fields=["owner", "status", "stream"], name="deal_owner_status"),
            models.Index(fields=["stream", "closed_at"], name="deal_stream_closed"),
            models.Index(fields=["stream", "first_entered_at"], name="deal_stream_first_entered"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "external_id"], name="deal_external_id_unique"
            ),
            choices_check("status", DealStatus, "deal_status_valid"),
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

    @property
    def owner_label(self) -> str:
        """Who owns the deal, for display: the user's name, else the imported owner name.
        (Reads ``owner``: select it with the deal where many are shown.)"""
        if self.owner_id is not None:
            return self.owner.get_full_name() or self.owner.get_username()
        return self.owner_name or ""


class DealEventKind(models.TextChoices):
    CLOSED = "closed", "Closed"
    UNDONE = "undone", "Close undone"
    REOPENED = "reopened", "Reopened"


class DealEvent(models.Model):
    """A change of a deal's outcome made through the services (``funnel.eventlog.services``):
    closing it, undoing that close within minutes, a manager reopening it later. The visits stay the
    event log of the deal's path; these rows keep who changed its outcome, when and why, so
    an undo or a reopen never erases history.

    ``status``, ``closed_at`` and ``lost_reason`` are the outcome the event set (``closed``)
    or took away (``undone``, ``reopened``).
    """

    # deal_event_deal_recorded leads with the deal.
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=8, choices=DealEventKind.choices)
    recorded_at = models.DateTimeField(help_text="When the change was made (not back-dated).")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=4, choices=DealStatus.choices)
    closed_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was reopened.")

    class Meta:
        ordering = ["recorded_at", "id"]
        indexes = [models.Index(fields=["deal", "recorded_at"], name="deal_event_deal_recorded")]
        constraints = [
            choices_check("kind", DealEventKind, "deal_event_kind_valid"),
            models.CheckConstraint(
                condition=Q(status__in=(DealStatus.WON, DealStatus.LOST)),
                name="deal_event_status_closed",
            ),
            models.CheckConstraint(
                condition=~Q(kind=DealEventKind.REOPENED) | ~Q(reason=""),
                name="deal_event_reopen_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id} {self.kind} at {self.recorded_at:%Y-%m-%d %H:%M}"


class Visit(models.Model):
    # No single-column indexes on deal and step: visit_deal_entered and visit_step_* lead with
    # them, and each index is paid on every imported visit (migration 0006).
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="visits", db_index=False)
    step = models.ForeignKey(
        ProcessStep, on_delete=models.RESTRICT, related_name="visits", db_index=False
    )
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
        db_index=False,  # visit_actor: only the visits that name a user
    )
    # Imported history often names people or roles that have no account here.
    actor_name = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Path facts (funnel.eventlog.paths): where the visit stands in its deal's path, kept by
    # whatever writes visits so the metrics read them from the row. Nullable only so that adding
    # them did not rebuild the table on SQLite (which would drop its triggers); always set.
    reentry = models.BooleanField(
        null=True, editable=False, help_text="The deal visited this step before: rework."
    )
    previous_step = models.ForeignKey(
        ProcessStep,
        null=True,
        blank=True,
        editable=False,
        # The deal's previous visit holds this step (RESTRICT), so it cannot dangle; no
        # constraint to check on every imported visit.
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        help_text="The step of the deal's previous visit; empty for its first.",
    )
    is_last = models.BooleanField(null=True, editable=False, help_text="The deal's latest visit.")
    # Working-time offsets (funnel.eventlog.working): W(t) of the visit's calendar (its step's
    # lane's, else the team's default) at entry and exit, in seconds; a visit's working time
    # is exited_w − entered_w. Empty without a calendar, and exited_w while the visit is open.
    entered_w = models.BigIntegerField(null=True, blank=True, editable=False)
    exited_w = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["deal", "entered_at", "id"]
        indexes = [
            models.Index(fields=["step", "exited_at"], name="visit_step_exited"),
            models.Index(fields=["step", "entered_at"], name="visit_step_entered"),
            models.Index(fields=["deal", "entered_at"], name="visit_deal_entered"),
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="visit_actor"),
            # The hand-off board and the ready-for-sales queue: open visits at a step, oldest
            # first (funnel.leads); one row per open case, so cheap to keep. With the id and
            # the case, the waiting ones are counted and read from the index alone (0020, 0021).
            models.Index(
                fields=["step", "entered_at", "id", "deal"],
                condition=Q(exited_at__isnull=True),
                name="visit_open_step_entered",
            ),
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


class MetricsSnapshot(models.Model):
    """The figures of metrics.md §2–5 for one stream, window and filter set, written by the
    metrics engine (``funnel.metrics.snapshots``) and read by the map, the dashboards and the
    API instead of raw visits. ``summary`` and ``waste`` hold the fields of
    ``funnel.metrics.results.StreamSummary`` and ``Waste`` under their metrics.md names.

    ``window_key`` is ``last-90d`` / ``prev-90d`` for the rolling windows, else
    ``<start>/<end>`` in UTC ISO 8601; ``filter_key`` is "" when unfiltered; ``basis`` is
    ``elapsed`` or ``working`` (metrics.md "Working time"): a set has one row per basis.
    """

    stream = models.ForeignKey(
        ValueStream, on_delete=models.CASCADE, related_name="metrics_snapshots"
    )
    window_key = models.CharField(max_length=120)
    filter_key = models.CharField(max_length=300, blank=True)
    basis = models.CharField(
        max_length=8,
        choices=TimeBasis.choices,
        default="elapsed",
        help_text="The time the durations are counted in; one recompute writes both.",
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    computed_at = models.DateTimeField(help_text="When the window's figures were computed.")
    now_at = models.DateTimeField(help_text="When WIP now, stalled deals and inventory were.")
    requested_at = models.DateTimeField(help_text="Last asked for; unused sets expire.")
    summary = models.JSONField(default=dict)
    waste = models.JSONField(default=dict)
    cohort_deals = models.PositiveIntegerField(default=0)
    cohort_won = models.PositiveIntegerField(default=0)
    series = models.JSONField(
        default=dict,
        blank=True,
        help_text="The dashboards' chart series (funnel.metrics.series.ChartSeries); "
        "empty until computed.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "window_key", "filter_key", "basis"],
                name="metrics_snapshot_unique",
            ),
            models.CheckConstraint(
                condition=Q(window_end__gt=F("window_start")), name="metrics_snapshot_window_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stream} {self.window_key} {self.filter_key or 'all'}"


class StepSnapshot(models.Model):
    """One step's figures (``funnel.metrics.results.StepMetrics``) in a snapshot."""

    snapshot = models.ForeignKey(MetricsSnapshot, on_delete=models.CASCADE, related_name="steps")
    step = models.ForeignKey(ProcessStep, on_delete=models.CASCADE, related_name="snapshots")
    figures = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "step"], name="step_snapshot_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot} — {self.step}"


class StageSnapshot(models.Model):
    """One funnel stage's figures (``funnel.metrics.results.StageMetrics``) in a snapshot."""

    snapshot = models.ForeignKey(MetricsSnapshot, on_delete=models.CASCADE, related_name="stages")
    stage = models.ForeignKey(FunnelStage, on_delete=models.CASCADE, related_name="snapshots")
    figures = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "stage"], name="stage_snapshot_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot} — {self.stage}"


class MetricsState(models.Model):
    """Bookkeeping of a stream's recomputes, so a burst of logged events causes a handful of
    them (``funnel.metrics.snapshots.metrics_schedule``): a recompute is scheduled when a
    change arrives and none is pending (at once after a quiet spell, else after the debounce);
    changes while it waits ride along."""

    stream = models.OneToOneField(
        ValueStream, on_delete=models.CASCADE, primary_key=True, related_name="metrics_state"
    )
    changed_at = models.DateTimeField(null=True, blank=True, help_text="Last change to visits.")
    scheduled_at = models.DateTimeField(
        null=True, blank=True, help_text="A recompute is queued since; empty when none is."
    )
    computed_at = models.DateTimeField(null=True, blank=True)
    # The calendars the stream's working-time offsets were written under (ids and versions,
    # funnel.eventlog.working.calendar_signature); while it differs from the calendars' now,
    # a rewrite is owed and the working-time figures are stale.
    offsets_signature = models.CharField(max_length=500, blank=True, default="")

    def __str__(self) -> str:
        return f"metrics of {self.stream}"


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
        choices=[
            ("visits", "Visits"),
            ("transitions", "Transitions"),
            ("wide", "Wide"),
            ("hs_contacts", "HubSpot contacts (leads)"),
            ("sf_leads", "Salesforce lead history (leads)"),
            ("xes", "XES event log"),
        ],
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


class ImportMapping(models.Model):
    """How the import wizard last read a file of one source into one stream: its column,
    stage and owner mappings, reused when a file from the same source is uploaded again.

    A source is recognised by its header: ``source_key`` is a digest of the format and the
    file's column names (:func:`funnel.importing.source_key`), so a weekly export of the same
    CRM report finds its mapping however it is named."""

    stream = models.ForeignKey(
        ValueStream, on_delete=models.CASCADE, related_name="import_mappings"
    )
    source_key = models.CharField(max_length=64)
    format = models.CharField(max_length=12)
    #: The file name the mapping was saved from, to tell the user where it came from.
    filename = models.CharField(max_length=200, blank=True)
    columns = models.JSONField(default=dict, blank=True)
    steps = models.JSONField(default=dict, blank=True)
    owners = models.JSONField(default=dict, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    day_first = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "source_key"], name="import_mapping_stream_source_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.format} mapping of {self.filename or self.source_key[:8]} → {self.stream}"


from funnel.assets.models import (  # noqa: E402,F401
    Asset,
    AssetReview,
    AssetStep,
    AssetUsage,
    AssetVersion,
)
from funnel.discovery.models import (  # noqa: E402,F401
    AcceptedDeviation,
    DiscoverySnapshot,
)
from funnel.forecasts.models import (  # noqa: E402,F401
    ForecastRecord,
    ForecastSnapshot,
)
from funnel.leads.models import (  # noqa: E402,F401
    Handoff,
    HandoffAlert,
    HandoffDecision,
    HandoffReason,
    LeadsSnapshot,
    SellerLimit,
    StepWipLimit,
    Waterfall,
)
from funnel.qualification.models import (  # noqa: E402,F401
    CriteriaSet,
    Criterion,
    CriterionScore,
    LabSnapshot,
    WinCall,
)
from funnel.standards.models import (  # noqa: E402,F401
    ChecklistItem,
    ChecklistTick,
    StepAsset,
)
