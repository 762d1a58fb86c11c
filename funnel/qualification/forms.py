"""HTML forms of qualification: a score on the deal page, the criteria page's preset and
criterion forms. Forms check types; the rules live in ``funnel.qualification.services``."""

from __future__ import annotations

from django import forms

from funnel.qualification.models import SCALE_LEVELS, Criterion, LevelScale, Preset
from streams.models import ProcessStep, ValueStream


class ScoreForm(forms.Form):
    """One criterion's score from the deal page: its level, and the evidence in a line."""

    criterion = forms.ModelChoiceField(queryset=Criterion.objects.none())
    level = forms.IntegerField(
        min_value=0,
        max_value=9,
        error_messages={
            "required": "Tap a level.",
        },
    )
    note = forms.CharField(
        max_length=500,
        required=False,
        label="Evidence (optional)",
        help_text="What you saw or heard, in a line.",
    )

    def __init__(self, *args, deal=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if deal is not None:
            self.fields["criterion"].queryset = Criterion.objects.filter(
                criteria_set__stream_id=deal.stream_id
            ).select_related("criteria_set")


class WinCallForm(forms.Form):
    """A rep's own win probability for the deal, from the deal page."""

    probability = forms.IntegerField(
        min_value=0,
        max_value=100,
        label="Your own win probability (%)",
        help_text="How likely you think this deal is won, 0 to 100; kept to compare with "
        "how deals end.",
        error_messages={"required": "Give a whole number from 0 to 100."},
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "step": 1}),
    )


class PresetForm(forms.Form):
    preset = forms.ChoiceField(
        choices=Preset.choices,
        label="Start from",
        help_text="The preset's criteria replace the active ones; criteria with scores are "
        "retired and their scores kept.",
    )
    confirm_retire = forms.BooleanField(required=False, widget=forms.HiddenInput)


def _level_choices() -> list[tuple[int, str]]:
    longest = max(SCALE_LEVELS.values(), key=len)
    return [(i, label) for i, label in enumerate(longest) if i > 0]


class CriterionForm(forms.Form):
    name = forms.CharField(max_length=80)
    question = forms.CharField(
        max_length=300, required=False, help_text="What the rep answers, in plain words."
    )
    scale = forms.ChoiceField(choices=LevelScale.choices, label="Answer levels")
    met_level = forms.TypedChoiceField(
        coerce=int,
        choices=_level_choices(),
        label="Counts as met from",
        help_text="For No / Yes, level 1 is Yes.",
    )
    known_by = forms.ModelChoiceField(
        queryset=ProcessStep.objects.none(),
        required=False,
        label="Should be known by step",
        empty_label="No step (never due)",
    )
    weight = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        choices=[("", "No view")] + [(i, str(i)) for i in range(6)],
        label="How much the team believes it matters (0–5)",
    )

    def __init__(self, *args, stream: ValueStream, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["known_by"].queryset = stream.steps.order_by("position")
        self.fields["known_by"].label_from_instance = lambda s: f"{s.position}. {s.name}"
        self.fields["met_level"].initial = 2


class ReorderForm(forms.Form):
    criterion = forms.ModelChoiceField(queryset=Criterion.objects.none())
    direction = forms.ChoiceField(choices=[("up", "Up"), ("down", "Down")])

    def __init__(self, *args, criteria, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["criterion"].queryset = criteria
