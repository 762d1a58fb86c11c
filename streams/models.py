"""Teams, roles and the value stream map: streams, lanes, funnel stages and process steps.

Invariants that no code path may break are database constraints (see ``Meta.constraints``
and the triggers in ``migrations/0002_same_stream_triggers.py``); services validate the same
rules first so users get a message that names the field.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    REP = "rep", "Rep"
    LEADERSHIP = "leadership", "Leadership (read-only)"


class TimeBasis(models.TextChoices):
    """The time durations are counted in (docs/metrics.md, "Working time")."""

    ELAPSED = "elapsed", "Elapsed time"
    WORKING = "working", "Working time"


class Team(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one team. A user may belong to several teams with different roles."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_one_role_per_team"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} in {self.team}"


class UserProfile(models.Model):
    """What the product keeps about a person beyond Django's user: the time zone every time
    is shown in (``vsm_project.middleware.UserTimeZoneMiddleware``). Empty until the browser
    proposes one at the first page view, or the person chooses it on the account page."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="An IANA time zone name, e.g. Europe/Berlin."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.time_zone or 'no time zone'}"


class Invitation(models.Model):
    """A manager invited ``user`` into ``team`` with ``role``: an email with a set-password
    link (Django's password-reset token). ``accepted_at`` is set when the password is set."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="invitation_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} invited to {self.team} as {self.get_role_display()}"


class InactiveMembership(models.Model):
    """A member a manager deactivated: the membership itself is removed (so no page, API call
    or figure gives them access to the team), and kept here with its role for reactivation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inactive_memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="inactive_memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    deactivated_at = models.DateTimeField()
    deactivated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="inactive_membership_once"),
            models.CheckConstraint(
                condition=Q(role__in=Role.values), name="inactive_membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — deactivated in {self.team}"


class StreamState(models.TextChoices):
    CURRENT = "current", "Current state"
    FUTURE = "future", "Future state"


class ValueStream(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="streams")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    state = models.CharField(
        max_length=10, choices=StreamState.choices, default=StreamState.CURRENT
    )
    drawn_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="future_states",
        help_text="The current-state map this future state was drawn from.",
    )
    period_days = models.PositiveSmallIntegerField(
        default=30, help_text="Length of the planning period the targets below refer to."
    )
    target_won_deals_per_period = models.PositiveIntegerField(null=True, blank=True)
    available_selling_hours_per_period = models.FloatField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    time_basis = models.CharField(
        max_length=8,
        choices=TimeBasis.choices,
        default="elapsed",
        help_text="How durations are shown by default: calendar (elapsed) time, or the working "
        "time of the team's calendars.",
    )
    # Bumped by every map edit; a save based on an older version is refused (optimistic lock).
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who made the last map edit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name", "state"], name="stream_name_unique"),
            models.CheckConstraint(
                condition=Q(state__in=StreamState.values), name="stream_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state=StreamState.FUTURE) | Q(drawn_from__isnull=True),
                name="stream_only_future_is_drawn_from",
            ),
            models.CheckConstraint(
                condition=Q(available_selling_hours_per_period__isnull=True)
                | Q(available_selling_hours_per_period__gt=0),
                name="stream_available_hours_positive",
            ),
            models.CheckConstraint(
                condition=Q(target_won_deals_per_period__isnull=True)
                | Q(target_won_deals_per_period__gt=0),
                name="stream_target_positive",
            ),
            models.CheckConstraint(condition=Q(period_days__gt=0), name="stream_period_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_state_display().lower()})"

    @property
    def planned_takt_hours(self) -> float | None:
        """metrics.md §3 ``takt_hours``: available hours / target won deals, per period."""
        if not self.available_selling_hours_per_period or not self.target_won_deals_per_period:
            return None
        return self.available_selling_hours_per_period / self.target_won_deals_per_period


class Lane(models.Model):
    """A swimlane: the role or team that owns steps (Marketing, SDR, Account Executive …)."""

    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="lanes")
    name = models.CharField(max_length=80)
    position = models.PositiveSmallIntegerField()
    hourly_cost = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Cost of one hour of this lane's work, in the stream's currency.",
    )
    calendar = models.ForeignKey(
        "streams.WorkingCalendar",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="lanes",
        help_text="The lane's working calendar; empty: the team's default calendar.",
    )

    class Meta:
        ordering = ["stream", "position"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "name"], name="lane_name_unique"),
            models.UniqueConstraint(fields=["stream", "position"], name="lane_position_unique"),
            models.CheckConstraint(
                condition=Q(hourly_cost__isnull=True) | Q(hourly_cost__gte=0),
                name="lane_hourly_cost_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FunnelStage(models.Model):
    """An ordered group of consecutive steps, for funnel reporting (Lead, Qualified …).

    It lives with the map (not in ``funnel``) because the map draws stages as bands, and
    ``streams`` may not import ``funnel``. A step points at its stage; the service keeps each
    stage's steps consecutive and the stages in map order.
    """

    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=80)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["stream", "position"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "name"], name="stage_name_unique"),
            models.UniqueConstraint(fields=["stream", "position"], name="stage_position_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class ValueClass(models.TextChoices):
    VALUE_ADD = "value_add", "Value-add"
    NECESSARY = "necessary_nva", "Necessary non-value-add"
    WASTE = "waste", "Waste"


class ProcessStep(models.Model):
    """One process box on the map, with the manager's planned figures."""

    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=120)
    lane = models.ForeignKey(Lane, on_delete=models.RESTRICT, related_name="steps")
    stage = models.ForeignKey(
        FunnelStage, null=True, blank=True, on_delete=models.SET_NULL, related_name="steps"
    )
    value_class = models.CharField(
        max_length=16, choices=ValueClass.choices, default=ValueClass.VALUE_ADD
    )
    planned_process_hours = models.FloatField(
        default=0, help_text="Hands-on work time per deal at this step (PT)."
    )
    planned_lead_hours = models.FloatField(
        default=0, help_text="Elapsed time per deal at this step, waiting included (LT)."
    )
    planned_pct_complete_accurate = models.FloatField(
        default=100, help_text="Share of deals the next step can use without rework (%C&A)."
    )
    planned_wip = models.PositiveIntegerField(default=0, help_text="Deals waiting or in work.")
    notes = models.TextField(blank=True)
    # Motion and unused talent are not in the event log (metrics.md §4): recorded by hand.
    motion_waste = models.BooleanField(default=False)
    unused_talent = models.BooleanField(default=False)

    class Meta:
        ordering = ["stream", "position"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "position"], name="step_position_unique"),
            models.UniqueConstraint(fields=["stream", "name"], name="step_name_unique"),
            models.CheckConstraint(
                condition=Q(value_class__in=ValueClass.values), name="step_value_class_valid"
            ),
            models.CheckConstraint(
                condition=Q(planned_process_hours__gte=0), name="step_process_time_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(planned_lead_hours__gte=F("planned_process_hours")),
                name="step_lead_time_covers_process_time",
            ),
            models.CheckConstraint(
                condition=Q(planned_pct_complete_accurate__gte=0)
                & Q(planned_pct_complete_accurate__lte=100),
                name="step_pct_complete_accurate_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


#: The reading order of the counts background jobs report (an import's, first); any other
#: count follows in alphabetical order.
RESULT_ORDER = (
    "deals_created",
    "deals_updated",
    "deals_unchanged",
    "visits_written",
    "rows",
    "deals_without_visit",
    "owner_names_kept",
)


class Job(models.Model):
    """Progress of one piece of background work (seeding, imports, recomputes).

    A Celery task receives the job's id, updates ``done``/``total`` as it goes, and the browser
    polls ``/jobs/<id>/`` to draw a progress bar.
    """

    kind = models.CharField(max_length=40)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=255, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(done__lte=F("total")) | Q(total=0), name="job_done_within_total"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"

    @property
    def result_counts(self) -> list[tuple[str, object]]:
        """The counts of ``result`` to list on the job's page, in reading order: PostgreSQL's
        jsonb keeps keys in its own order (shortest first), not the order they were written.
        Errors and notes are shown apart; empty values are left out."""
        shown = {
            key: value
            for key, value in (self.result or {}).items()
            if key not in ("errors", "notes") and (value or value == 0)
        }
        known = [key for key in RESULT_ORDER if key in shown]
        return [(key, shown[key]) for key in known + sorted(shown.keys() - set(known))]

    @property
    def percent(self) -> int:
        if self.state == JobState.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


from streams.calendars.models import Closure, WorkingCalendar, WorkingSpan  # noqa: E402,F401
