"""HTML forms of the asset library. Forms check types; the rules (roles, file safety, team
membership) live in ``funnel.assets.services`` and come back next to their fields."""

from __future__ import annotations

from django import forms

from funnel.assets.models import AssetKind
from funnel.assets.selectors import team_members, team_steps
from streams.models import Team

_FILE_HELP = (
    "PDF, Word, Excel, PowerPoint, OpenDocument, CSV, PNG, JPEG, GIF or WebP; checked by "
    "content, at most {mb} MB. Or give a link instead."
)


class _SourceFields(forms.Form):
    """A version's file or link, and its change note."""

    file = forms.FileField(required=False, label="File")
    link = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Or a link",
        help_text="For an asset kept elsewhere (a shared drive, the wiki).",
    )
    change_note = forms.CharField(
        max_length=500, required=False, label="Change note", help_text="What changed, in a line."
    )

    def __init__(self, *args, max_mb: float = 25, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _FILE_HELP.format(mb=f"{max_mb:g}")


class AssetForm(_SourceFields):
    title = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=AssetKind.choices, initial=AssetKind.PLAYBOOK)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What it is for and when to use it.",
    )
    tags = forms.CharField(
        max_length=300, required=False, help_text="Separated by commas, e.g. pricing, enterprise."
    )
    owner = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, help_text="Default: you."
    )
    reviewer = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        help_text="Gets one email when a review falls due. Default: the owner.",
    )
    review_interval_days = forms.IntegerField(
        min_value=1, max_value=3650, initial=90, label="Review every (days)"
    )
    field_order = [
        "title",
        "kind",
        "description",
        "tags",
        "file",
        "link",
        "owner",
        "reviewer",
        "review_interval_days",
        "change_note",
    ]

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        members = team_members(team)
        self.fields["owner"].queryset = members
        self.fields["reviewer"].queryset = members
        self.order_fields(self.field_order)


class AssetEditForm(AssetForm):
    """An asset's details, without a file (versions are added on their own)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("file", "link", "change_note"):
            del self.fields[name]


class VersionForm(_SourceFields):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["change_note"].required = True


class ReviewForm(_SourceFields):
    """Mark reviewed; a file or a link adds a new version with it."""

    note = forms.CharField(max_length=500, required=False, label="Review note (optional)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].label = "New version (optional)"
        self.order_fields(["note", "file", "link", "change_note"])


class AttachForm(forms.Form):
    step = forms.ModelChoiceField(
        queryset=Team.objects.none(), label="Attach to step", empty_label="Choose a step"
    )

    def __init__(self, *args, team: Team, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["step"].queryset = team_steps(team)
        self.fields["step"].label_from_instance = _step_label


def _step_label(step) -> str:
    return f"{step.stream.name} · {step.position}. {step.name}"


class LibraryFilterForm(forms.Form):
    """The library's search and filters (GET)."""

    q = forms.CharField(required=False, label="Search", max_length=200)
    kind = forms.ChoiceField(
        required=False, choices=[("", "Any kind"), *AssetKind.choices], label="Kind"
    )
    state = forms.ChoiceField(
        required=False,
        label="Status",
        choices=[
            ("", "In use"),
            ("due", "Review due"),
            ("stale", "Stale"),
            ("retire", "Suggested for retirement"),
            ("proposed", "Proposed"),
            ("retired", "Retired"),
        ],
    )
    step = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, label="Step", empty_label="Any step"
    )

    def __init__(self, *args, team: Team | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if team is not None:
            self.fields["step"].queryset = team_steps(team)
        self.fields["step"].label_from_instance = _step_label
