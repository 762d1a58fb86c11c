"""Forms of standard work: types only; the rules are in ``funnel.standards.services``."""

from __future__ import annotations

from django import forms

from funnel.assets.models import Asset, ProposalState


class ItemForm(forms.Form):
    text = forms.CharField(
        label="New item",
        max_length=200,
        help_text="One thing that is true when the step is done, e.g. “Decision maker named”.",
    )


class ItemEditForm(forms.Form):
    text = forms.CharField(
        label="Reword",
        max_length=200,
        help_text="Say the same thing better; to change the rule, retire it and add another.",
    )


class StepAssetForm(forms.Form):
    asset = forms.ModelChoiceField(
        label="Asset it relies on", queryset=Asset.objects.none(), empty_label="Choose an asset"
    )

    def __init__(self, *args, team_id: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["asset"].queryset = Asset.objects.filter(
            team_id=team_id, retired_at__isnull=True, state=ProposalState.ACCEPTED
        ).order_by("title")
