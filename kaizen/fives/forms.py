"""Forms of the 5S pages: types only; the rules are in ``kaizen.fives.services``."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from kaizen.fives.models import MAX_SCORE, FiveS, FiveSAudit, FiveSQuestion

SCORE_CHOICES = [
    (0, "0: not at all"),
    (1, "1: rarely"),
    (2, "2: in part"),
    (3, "3: mostly"),
    (4, "4: fully"),
]


class AuditForm(forms.Form):
    """The audit's date and note, then per question a score (``score_<id>``) and a note
    (``note_<id>``)."""

    audited_on = forms.DateField(
        label="Audit date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="The day the team walked through its assets.",
    )
    note = forms.CharField(
        label="Overall note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Anything the scores do not say.",
    )

    def __init__(
        self,
        *args,
        questions: list[FiveSQuestion],
        audit: FiveSAudit | None = None,
        by_order: bool = False,
        **kwargs,
    ) -> None:
        # ``by_order``: fields named by the question's place (``score_new0`` …) rather than its
        # id, for a stream whose default questions are shown before they are written.
        self.keys = {id(q): f"new{i}" if by_order else str(q.pk) for i, q in enumerate(questions)}
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("audited_on", audit.audited_on if audit else timezone.localdate())
        if audit is not None:
            initial.setdefault("note", audit.note)
            for answer in audit.answers.all():
                initial[f"score_{answer.question_id}"] = answer.score
                initial[f"note_{answer.question_id}"] = answer.note
        super().__init__(*args, **kwargs)
        self.questions = questions
        for q in questions:
            key = self.keys[id(q)]
            self.fields[f"score_{key}"] = forms.TypedChoiceField(
                label=q.text,
                choices=SCORE_CHOICES,
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={"required": f"Score this question from 0 to {MAX_SCORE}."},
            )
            self.fields[f"note_{key}"] = forms.CharField(
                label=f"Finding for “{q.text}”",
                required=False,
                widget=forms.Textarea(attrs={"rows": 1}),
            )

    def groups(self) -> list[dict]:
        """The questions grouped by S, each with its bound score and note fields."""
        by_s: dict[str, list] = {}
        for q in self.questions:
            key = self.keys[id(q)]
            by_s.setdefault(q.s, []).append(
                {"question": q, "score": self[f"score_{key}"], "note": self[f"note_{key}"]}
            )
        return [{"s": s, "label": FiveS(s).label, "items": by_s.get(s, [])} for s in FiveS.values]

    def answers(self) -> list[dict]:
        data = self.cleaned_data
        return [
            {
                "question": q.pk,
                "score": data[f"score_{self.keys[id(q)]}"],
                "note": data[f"note_{self.keys[id(q)]}"],
            }
            for q in self.questions
        ]


class QuestionAddForm(forms.Form):
    s = forms.ChoiceField(label="S", choices=FiveS.choices)
    text = forms.CharField(
        label="Question",
        max_length=300,
        help_text="A statement the auditor scores from 0 (not at all) to 4 (fully).",
    )


class QuestionEditForm(forms.Form):
    text = forms.CharField(label="Question", max_length=300)
