"""Qualification criteria, the scores reps give deals against them, and the lab's snapshots
(docs/qualification.md; figures in docs/metrics.md "Qualification lab").

- A stream has at most one :class:`CriteriaSet` (a preset such as MEDDPICC, edited, or the
  team's own). Its :class:`Criterion` rows are *versions*: changing a criterion that has scores
  retires the row (``retired_at``) and adds a new one with the same ``key`` and the next
  ``version``, so every score keeps the exact question and levels it was given under.
- A :class:`CriterionScore` is never updated or deleted by the product: re-scoring adds a row.
  ``scored_at`` is when the knowledge was true (back-dated by the API or the import);
  ``step`` is where the deal was at ``scored_at``. The lab reads, for each deal, the latest
  score given at or before the deal first reached step S: no hindsight.
- A :class:`WinCall` is a rep's own gut-feel win probability, kept to compare with outcomes.
- A :class:`LabSnapshot` holds one computed lab view (window, as-of step, filters), written by
  a Celery job and read by the pages and the API, like ``MetricsSnapshot``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from funnel.view_jobs import ViewSnapshot
from streams.models import ProcessStep, ValueStream
from vsm_project.db import choices_check


class Preset(models.TextChoices):
    BANT = "bant", "BANT"
    MEDDIC = "meddic", "MEDDIC"
    MEDDPICC = "meddpicc", "MEDDPICC"
    CHAMP = "champ", "CHAMP"
    SPICED = "spiced", "SPICED"
    CUSTOM = "custom", "The team's own"


class LevelScale(models.TextChoices):
    EVIDENCE = "evidence", "Unknown / Identified / Validated / Confirmed"
    YES_NO = "yes_no", "No / Yes"


#: The answer levels of each scale, lowest first. A score stores the level's index.
SCALE_LEVELS = {
    LevelScale.EVIDENCE: ["Unknown", "Identified", "Validated", "Confirmed"],
    LevelScale.YES_NO: ["No", "Yes"],
}
#: The default "met" level of each scale: Validated or above; Yes.
SCALE_MET_LEVEL = {LevelScale.EVIDENCE: 2, LevelScale.YES_NO: 1}


class CriteriaSet(models.Model):
    stream = models.OneToOneField(
        ValueStream, on_delete=models.CASCADE, related_name="criteria_set"
    )
    preset = models.CharField(max_length=10, choices=Preset.choices, default=Preset.CUSTOM)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [choices_check("preset", Preset, name="criteria_set_preset_valid")]

    def __str__(self) -> str:
        return f"{self.get_preset_display()} criteria of {self.stream}"


class Criterion(models.Model):
    criteria_set = models.ForeignKey(CriteriaSet, on_delete=models.CASCADE, related_name="criteria")
    #: Stable across versions (a slug of the first name): what the lab groups by.
    key = models.SlugField(max_length=60)
    version = models.PositiveSmallIntegerField(default=1)
    name = models.CharField(max_length=80)
    question = models.CharField(max_length=300, blank=True)
    scale = models.CharField(max_length=8, choices=LevelScale.choices, default=LevelScale.EVIDENCE)
    #: Index into the scale's levels from which the criterion counts as met.
    met_level = models.PositiveSmallIntegerField(default=2)
    known_by = models.ForeignKey(
        ProcessStep,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The step by which the criterion should be known.",
    )
    #: How much the team believes the criterion matters, 0 (not at all) to 5; blank = no view.
    weight = models.PositiveSmallIntegerField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            choices_check("scale", LevelScale, name="criterion_scale_valid"),
            models.UniqueConstraint(
                fields=["criteria_set", "key", "version"], name="criterion_key_version_unique"
            ),
            # Active names are unique whatever their case, as the services check (the
            # database refuses what two simultaneous writes might both have passed).
            models.UniqueConstraint(
                F("criteria_set"),
                Lower("name"),
                condition=Q(retired_at__isnull=True),
                name="criterion_active_name_ci_unique",
            ),
            models.UniqueConstraint(
                fields=["criteria_set", "key"],
                condition=Q(retired_at__isnull=True),
                name="criterion_active_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(weight__isnull=True) | Q(weight__lte=5), name="criterion_weight_0_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    @property
    def levels(self) -> list[str]:
        return SCALE_LEVELS[LevelScale(self.scale)]


class ScoreSource(models.TextChoices):
    PAGE = "page", "Deal page"
    API = "api", "API"
    IMPORT = "import", "Import"


class CriterionScore(models.Model):
    deal = models.ForeignKey("funnel.Deal", on_delete=models.CASCADE, related_name="scores")
    criterion = models.ForeignKey(Criterion, on_delete=models.RESTRICT, related_name="scores")
    level = models.PositiveSmallIntegerField()
    note = models.CharField(max_length=500, blank=True, help_text="The evidence, in a line.")
    scored_at = models.DateTimeField(help_text="When this was known (may be back-dated).")
    recorded_at = models.DateTimeField(auto_now_add=True)
    step = models.ForeignKey(
        ProcessStep,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The step the deal was at when scored.",
    )
    scored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scored_by_name = models.CharField(max_length=120, blank=True)
    source = models.CharField(max_length=6, choices=ScoreSource.choices, default=ScoreSource.PAGE)

    class Meta:
        indexes = [
            models.Index(fields=["deal", "criterion", "scored_at"], name="score_deal_crit_at"),
            models.Index(fields=["criterion", "scored_at"], name="score_crit_at"),
        ]
        constraints = [choices_check("source", ScoreSource, name="score_source_valid")]

    def __str__(self) -> str:
        return f"{self.deal_id} {self.criterion_id}={self.level} at {self.scored_at:%Y-%m-%d}"


class WinCall(models.Model):
    """A rep's own win probability for a deal, at a moment; compared with outcomes."""

    deal = models.ForeignKey("funnel.Deal", on_delete=models.CASCADE, related_name="win_calls")
    probability = models.PositiveSmallIntegerField(help_text="0 to 100 %.")
    called_at = models.DateTimeField()
    called_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["deal", "called_at"], name="wincall_deal_at")]
        constraints = [
            models.CheckConstraint(condition=Q(probability__lte=100), name="wincall_0_100")
        ]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.probability} % at {self.called_at:%Y-%m-%d}"


class LabSnapshot(ViewSnapshot):
    """One lab view's results (``result``: the JSON of docs/qualification.md "Lab result").
    Its ``view_key`` names the window, the as-of step and the filters; its
    ``source_signature`` hashes the scores, visits and criteria."""

    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="lab_snapshots")
    #: The open deals' probabilities by deal id (the result's ``open_deals.deals``), kept apart:
    #: most of the result's bytes, read only by the deal page and the API, so the Quality page
    #: (which shows only their totals) does not decode them. :func:`lab_snapshot_result`
    #: puts them back.
    open_deals = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "view_key"], name="lab_snapshot_view_unique")
        ]

    def __str__(self) -> str:
        return f"lab {self.view_key} of {self.stream}"
