"""Kaizen (PDCA) cycles: an experiment on one metric of a step or a stream, checked against
the measured numbers (metrics.md §6), and what the team decided.

The phase order is kept by the database as well as by ``kaizen.services``:

- ``kaizen_do_needs_change_date``: past Plan, a cycle has the date its change started;
- ``kaizen_act_needs_check``: a cycle reaches Act, or records an Act decision, only once its
  Check has been computed (``checked_at``, set by the first Check);
- an Act decision (adopt, adapt, abandon) exists only on a closed cycle, and abandoning needs
  a reason;
- a cycle whose Check says *insufficient data* reaches Act, or is adopted, only with the
  manager's written override (``evidence_override``, kept by ``kaizen.services``: the column
  was added nullable so SQLite adds it without rebuilding the table and its triggers); an
  adoption with an override is "adopted without evidence" and is left out of the figures of
  adopted cycles (``kaizen.selectors.improvement_history``);
- dates follow each other: the target and the change not before the plan, the close not before
  the change.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from streams.models import ProcessStep, TimeBasis, ValueStream
from vsm_project.db import choices_check


class Phase(models.TextChoices):
    PLAN = "plan", "Plan"
    DO = "do", "Do"
    CHECK = "check", "Check"
    ACT = "act", "Act"
    CLOSED = "closed", "Closed"


#: The phases in PDCA order (the board's columns).
PHASE_ORDER = [Phase.PLAN, Phase.DO, Phase.CHECK, Phase.ACT, Phase.CLOSED]


class Metric(models.TextChoices):
    """The figures a cycle can target (metrics.md §2, §3). Each one's unit, sample and the
    direction that counts as better are in ``kaizen.metrics.METRICS``."""

    TIME_IN_STEP = "time_in_step", "Time in step"
    PCT_COMPLETE_ACCURATE = "pct_complete_accurate", "%C&A (complete and accurate)"
    CONVERSION = "conversion", "Step conversion (not lost at the step)"
    SALES_CYCLE = "sales_cycle", "Sales cycle"
    WIN_RATE = "win_rate", "Win rate"


class Direction(models.TextChoices):
    DECREASE = "decrease", "Lower is the aim"
    INCREASE = "increase", "Higher is the aim"


class Outcome(models.TextChoices):
    ADOPTED = "adopted", "Adopted as the new standard"
    ADAPTED = "adapted", "Adapted: a follow-up cycle"
    ABANDONED = "abandoned", "Abandoned"


class Verdict(models.TextChoices):
    IMPROVED = "improved", "Improved"
    WORSE = "worse", "Worse"
    INCONCLUSIVE = "inconclusive", "Inconclusive"
    INSUFFICIENT_DATA = "insufficient_data", "Insufficient data"


class KaizenCycle(models.Model):
    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="kaizen_cycles")
    step = models.ForeignKey(
        ProcessStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="kaizen_cycles"
    )
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="kaizen_cycles"
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who wrote the plan (a rep may propose a cycle).",
    )
    phase = models.CharField(max_length=6, choices=Phase.choices, default=Phase.PLAN)

    # Plan.
    problem = models.TextField(blank=True)
    current_condition = models.TextField(blank=True)
    metric = models.CharField(max_length=24, choices=Metric.choices, default=Metric.TIME_IN_STEP)
    direction = models.CharField(
        max_length=8, choices=Direction.choices, default=Direction.DECREASE
    )
    #: The metric as measured when the plan was made, in the metric's unit (hours, days, or a
    #: fraction 0–1), over ``baseline_n`` items in ``[baseline_start, baseline_end)``.
    baseline_value = models.FloatField(null=True, blank=True)
    baseline_n = models.PositiveIntegerField(null=True, blank=True)
    baseline_start = models.DateTimeField(null=True, blank=True)
    baseline_end = models.DateTimeField(null=True, blank=True)
    target_value = models.FloatField(null=True, blank=True)
    planned_on = models.DateField()
    target_date = models.DateField(null=True, blank=True)
    root_cause = models.TextField(blank=True, help_text="Five whys.")
    countermeasure = models.TextField(blank=True)
    prediction = models.TextField(blank=True)
    window_days = models.PositiveSmallIntegerField(
        default=56, help_text="L: the Check compares the L days before the change with after."
    )

    # Do.
    change_date = models.DateField(null=True, blank=True, help_text="When the change started (Do).")
    change_description = models.TextField(blank=True)
    do_notes = models.TextField(blank=True)

    # Act.
    outcome = models.CharField(
        max_length=9, choices=Outcome.choices, blank=True, help_text="Empty until decided."
    )
    decision_notes = models.TextField(
        blank=True, help_text="The new standard, what changes in the follow-up, or why abandoned."
    )
    #: What adopting wrote on the future-state map: stream, step, field, before, after.
    adopted_standard = models.JSONField(null=True, blank=True)
    follow_up_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups"
    )
    closed_on = models.DateField(null=True, blank=True)
    #: Why the manager moved to Act, or adopted, although the Check had too little data to
    #: say anything: NULL while the cycle acts on evidence. An adopted cycle with a reason
    #: here is "adopted without evidence".
    # NULL, not "": the column is added without a default, so SQLite does not rebuild the table.
    evidence_override = models.TextField(  # noqa: DJ001
        null=True,
        blank=True,
        help_text="Why the team acted although the Check had insufficient data.",
    )
    checked_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the Check was first computed."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-planned_on", "id"]
        indexes = [models.Index(fields=["stream", "phase"], name="kaizen_stream_phase")]
        constraints = [
            choices_check("phase", Phase, "kaizen_phase_valid"),
            choices_check("metric", Metric, "kaizen_metric_valid"),
            choices_check("direction", Direction, "kaizen_direction_valid"),
            # No Do, Check or Act before the change has a start date (PDCA order).
            models.CheckConstraint(
                condition=Q(phase=Phase.PLAN) | Q(change_date__isnull=False),
                name="kaizen_do_needs_change_date",
            ),
            models.CheckConstraint(
                condition=~Q(phase=Phase.CLOSED) | Q(closed_on__isnull=False),
                name="kaizen_closed_has_date",
            ),
            models.CheckConstraint(
                condition=Q(outcome="") | (Q(outcome__in=Outcome.values) & Q(phase=Phase.CLOSED)),
                name="kaizen_outcome_only_when_closed",
            ),
            models.CheckConstraint(
                condition=(~Q(phase=Phase.ACT) & Q(outcome="")) | Q(checked_at__isnull=False),
                name="kaizen_act_needs_check",
            ),
            models.CheckConstraint(
                condition=~Q(outcome=Outcome.ABANDONED) | ~Q(decision_notes=""),
                name="kaizen_abandon_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(window_days__gte=7) & Q(window_days__lte=366),
                name="kaizen_window_7_366_days",
            ),
            models.CheckConstraint(
                condition=Q(target_date__isnull=True) | Q(target_date__gte=F("planned_on")),
                name="kaizen_target_not_before_plan",
            ),
            models.CheckConstraint(
                condition=Q(change_date__isnull=True) | Q(change_date__gte=F("planned_on")),
                name="kaizen_change_not_before_plan",
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True)
                | Q(change_date__isnull=True)
                | Q(closed_on__gte=F("change_date")),
                name="kaizen_closed_not_before_change",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.phase != Phase.CLOSED

    @property
    def adopted_without_evidence(self) -> bool:
        """Adopted on the manager's override, not on a Check that could say anything."""
        return self.outcome == Outcome.ADOPTED and bool(self.evidence_override)

    @property
    def after_window_ends_on(self) -> date | None:
        """The day the Check's after window ends (change + L); None before Do."""
        if self.change_date is None:
            return None
        return self.change_date + timedelta(days=self.window_days)


class CycleCheck(models.Model):
    """The stored Check of a cycle (metrics.md §6), written by ``kaizen.services.cycle_check``
    (a Celery task) and read by the pages and the API, which never compute it.

    Values are in the metric's unit (hours, days, or a fraction 0–1): medians for durations,
    proportions for the rest. ``series`` holds the weekly run chart with its XmR limits
    (``kaizen.checks.RunChart.as_json``).
    """

    cycle = models.OneToOneField(
        KaizenCycle, on_delete=models.CASCADE, related_name="check_result", primary_key=True
    )
    computed_at = models.DateTimeField()
    metric = models.CharField(max_length=24, choices=Metric.choices)
    baseline_start = models.DateTimeField()
    change_at = models.DateTimeField()
    after_end = models.DateTimeField(help_text="change + L, or the time of the Check if sooner.")
    n_before = models.PositiveIntegerField()
    n_after = models.PositiveIntegerField()
    value_before = models.FloatField(null=True, blank=True)
    value_after = models.FloatField(null=True, blank=True)
    effect = models.FloatField(
        null=True,
        blank=True,
        help_text="Durations: relative change of the medians; proportions: the difference.",
    )
    p_value = models.FloatField(null=True, blank=True)
    statistic = models.FloatField(null=True, blank=True, help_text="U, or Fisher's odds ratio.")
    verdict = models.CharField(max_length=17, choices=Verdict.choices)
    needed_before = models.PositiveIntegerField(default=0)
    needed_after = models.PositiveIntegerField(default=0)
    basis = models.CharField(
        max_length=8,
        choices=TimeBasis.choices,
        default="elapsed",
        help_text="The time the durations were counted in: the stream's default basis "
        "(metrics.md, Working time) when the Check was computed.",
    )
    series = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            choices_check("verdict", Verdict, "kaizen_check_verdict_valid"),
            models.CheckConstraint(
                condition=Q(p_value__isnull=True) | (Q(p_value__gte=0) & Q(p_value__lte=1)),
                name="kaizen_check_p_value_0_1",
            ),
            models.CheckConstraint(
                condition=Q(after_end__gte=F("change_at")) & Q(change_at__gt=F("baseline_start")),
                name="kaizen_check_windows_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"Check of {self.cycle}: {self.verdict}"


class CycleComment(models.Model):
    cycle = models.ForeignKey(KaizenCycle, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(body=""), name="kaizen_comment_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.author} on {self.cycle}"


from kaizen.cockpit.models import DigestSent, DigestSubscription  # noqa: E402,F401
from kaizen.fives.models import (  # noqa: E402,F401
    FiveS,
    FiveSAnswer,
    FiveSAudit,
    FiveSQuestion,
)
