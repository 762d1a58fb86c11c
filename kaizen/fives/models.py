"""The 5S audit of a value stream (Sustain, docs/five-s.md): the team's questions, one set
per stream, each under one of the five S's, and the audits that score them.

An answer keeps the question's S and text as they were when it was given, so editing or
retiring a question never rewrites an audit already made. An audit stores its scores (per S
and overall, in percent) as computed by ``kaizen.fives.scoring`` when it was saved.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from streams.models import ValueStream
from vsm_project.db import choices_check

#: An answer's scale: 0 (not at all) to 4 (fully, everywhere).
MAX_SCORE = 4


class FiveS(models.TextChoices):
    SORT = "sort", "Sort"
    SET_IN_ORDER = "set_in_order", "Set in order"
    SHINE = "shine", "Shine"
    STANDARDIZE = "standardize", "Standardize"
    SUSTAIN = "sustain", "Sustain"


class FiveSQuestion(models.Model):
    stream = models.ForeignKey(
        ValueStream, on_delete=models.CASCADE, related_name="five_s_questions"
    )
    s = models.CharField("S", max_length=16, choices=FiveS.choices)
    text = models.CharField(max_length=300)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            choices_check("s", FiveS, "kaizen_5s_question_s_valid"),
            models.CheckConstraint(condition=~Q(text=""), name="kaizen_5s_question_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.get_s_display()}: {self.text}"


def _score_field(label: str) -> models.FloatField:
    return models.FloatField(label, help_text="Percent: the mean answer ÷ 4 × 100.")


class FiveSAudit(models.Model):
    stream = models.ForeignKey(ValueStream, on_delete=models.CASCADE, related_name="five_s_audits")
    audited_on = models.DateField()
    auditor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    score_sort = _score_field("Sort")
    score_set_in_order = _score_field("Set in order")
    score_shine = _score_field("Shine")
    score_standardize = _score_field("Standardize")
    score_sustain = _score_field("Sustain")
    score = models.FloatField(help_text="Percent: the mean of the five S scores.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-audited_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=100)
                & Q(score_sort__gte=0, score_sort__lte=100)
                & Q(score_set_in_order__gte=0, score_set_in_order__lte=100)
                & Q(score_shine__gte=0, score_shine__lte=100)
                & Q(score_standardize__gte=0, score_standardize__lte=100)
                & Q(score_sustain__gte=0, score_sustain__lte=100),
                name="kaizen_5s_audit_scores_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"5S audit of {self.stream} on {self.audited_on}"

    def s_score(self, s: str) -> float:
        return getattr(self, f"score_{s}")


class FiveSAnswer(models.Model):
    audit = models.ForeignKey(FiveSAudit, on_delete=models.CASCADE, related_name="answers")
    # SET_NULL: deleting the stream deletes its questions and audits in either order; the
    # answer keeps the question's S and words anyway.
    question = models.ForeignKey(
        FiveSQuestion, null=True, on_delete=models.SET_NULL, related_name="answers"
    )
    s = models.CharField("S", max_length=16, choices=FiveS.choices)
    question_text = models.CharField(max_length=300)
    score = models.PositiveSmallIntegerField(help_text="0 (not at all) to 4 (fully).")
    note = models.TextField(blank=True, help_text="What the auditor saw: a finding.")

    class Meta:
        ordering = ["id"]
        constraints = [
            choices_check("s", FiveS, "kaizen_5s_answer_s_valid"),
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=MAX_SCORE), name="kaizen_5s_answer_score_range"
            ),
            models.UniqueConstraint(fields=["audit", "question"], name="kaizen_5s_answer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.question_text}: {self.score}/{MAX_SCORE}"

    @property
    def is_finding(self) -> bool:
        """Scored 2 of 4 or lower, or given a note: something to improve."""
        return self.score <= FINDING_AT_MOST or bool(self.note.strip())


#: An answer at or below this score is a finding.
FINDING_AT_MOST = 2
