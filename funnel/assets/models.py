"""The asset library: what it takes to do each step of the map, kept per team (docs/assets.md).

- An :class:`Asset` (a value map, a playbook, a battle card …) belongs to one team. It has an
  owner, a reviewer and a review interval; ``review_due_at`` is when its next review falls due
  (set by the services on creation and on each review), so "due" and "stale" are plain
  comparisons with now. Retiring sets ``retired_at``: the asset leaves the step lists and keeps
  its history; restoring clears it.
- An :class:`AssetVersion` is a file (through the ``assets`` storage) or a link, with a change
  note, its author and its date. Versions are never edited: a new one is added. A rep's
  proposed version has no ``number`` until a manager accepts it; the asset's current version
  is its accepted version with the highest number.
- An :class:`AssetStep` attaches an asset to a step of one of the team's maps (Set in order).
- An :class:`AssetUsage` is one tap "used this asset on this deal" by one user.
- An :class:`AssetReview` records a review (who, when, with which new version if any).
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from django.db.models import Q

from streams.models import Membership, ProcessStep, Team
from vsm_project.db import choices_check


class AssetKind(models.TextChoices):
    VALUE_MAP = "value_map", "Customer value map"
    VALUE_PROPOSITION = "value_prop", "Value proposition"
    ROI_MODEL = "roi_model", "ROI model"
    QUALIFICATION_GUIDE = "qual_guide", "Qualification guide"
    PLAYBOOK = "playbook", "Playbook"
    TEMPLATE = "template", "Email or proposal template"
    BATTLE_CARD = "battle_card", "Battle card"
    CASE_STUDY = "case_study", "Case study"
    OTHER = "other", "Other"


class ProposalState(models.TextChoices):
    """A manager's asset or version is accepted at once; a rep's waits for a manager."""

    PROPOSED = "proposed", "Proposed"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"


def asset_storage():
    """The storage of asset files: the ``assets`` alias of ``STORAGES`` (local disk under
    ``MEDIA_ROOT`` by default, an S3-compatible bucket when configured; docs/assets.md)."""
    return storages["assets"]


def asset_upload_to(version: AssetVersion, filename: str) -> str:
    """``assets/<team>/<asset>/<random>/<name>``: the name is sanitised by the services
    (``funnel.assets.files.safe_name``) before it gets here, and the random folder keeps two
    uploads of one name apart without the storage renaming either."""
    return f"assets/{version.asset.team_id}/{version.asset_id}/{version.storage_key}/{filename}"


class Asset(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(max_length=12, choices=AssetKind.choices, default=AssetKind.OTHER)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    #: Lower-case tags separated by commas ("pricing, enterprise"); searched with the title.
    tags = models.CharField(max_length=300, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_assets",
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reviewed_assets",
    )
    review_interval_days = models.PositiveSmallIntegerField(default=90)
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    review_due_at = models.DateTimeField(
        help_text="The last review (or creation) plus the interval."
    )
    due_notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the reviewer was told it fell due; cleared by a review.",
    )
    state = models.CharField(
        max_length=8, choices=ProposalState.choices, default=ProposalState.ACCEPTED
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["team", "state", "retired_at"], name="asset_team_state"),
            models.Index(fields=["review_due_at"], name="asset_review_due"),
        ]
        constraints = [
            choices_check("kind", AssetKind, "asset_kind_valid"),
            choices_check("state", ProposalState, "asset_state_valid"),
            models.CheckConstraint(
                condition=Q(review_interval_days__gte=1) & Q(review_interval_days__lte=3650),
                name="asset_review_interval_1_3650",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def reviewer_active(self) -> bool:
        """Whether the reviewer can still be told: an active account that is still a member of
        the team (someone who left the team, or whose account was deactivated, is not
        emailed; the library and the asset page say the asset has no active reviewer)."""
        reviewer = self.reviewer
        return (
            reviewer is not None
            and reviewer.is_active
            and Membership.objects.filter(user_id=reviewer.pk, team_id=self.team_id).exists()
        )

    @property
    def tag_list(self) -> list[str]:
        return [tag for tag in (t.strip() for t in self.tags.split(",")) if tag]


class AssetVersion(models.Model):
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="versions")
    #: 1, 2, 3 … once accepted; empty while proposed or when declined.
    number = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(
        max_length=8, choices=ProposalState.choices, default=ProposalState.ACCEPTED
    )
    file = models.FileField(
        storage=asset_storage, upload_to=asset_upload_to, max_length=300, blank=True
    )
    #: The random folder of the file (see :func:`asset_upload_to`).
    storage_key = models.CharField(max_length=32, blank=True, editable=False)
    link = models.URLField(max_length=500, blank=True)
    file_name = models.CharField(max_length=160, blank=True, help_text="The sanitised name.")
    content_type = models.CharField(max_length=120, blank=True, help_text="As found by content.")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    change_note = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["asset", "-created_at", "-id"]
        constraints = [
            choices_check("state", ProposalState, "asset_version_state_valid"),
            models.UniqueConstraint(fields=["asset", "number"], name="asset_version_number_unique"),
            models.CheckConstraint(
                condition=(Q(file="") & ~Q(link="")) | (~Q(file="") & Q(link="")),
                name="asset_version_file_xor_link",
            ),
            models.CheckConstraint(
                condition=(Q(state=ProposalState.ACCEPTED) & Q(number__isnull=False))
                | (~Q(state=ProposalState.ACCEPTED) & Q(number__isnull=True)),
                name="asset_version_number_iff_accepted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} v{self.number or '?'}"


class AssetStep(models.Model):
    """An asset attached to a step of the team's map: the step's panel and the deal page list
    it (retired assets are left out)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="attachments")
    step = models.ForeignKey(ProcessStep, on_delete=models.CASCADE, related_name="asset_links")
    attached_at = models.DateTimeField()
    attached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["step", "asset__title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "step"], name="asset_step_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.asset} @ {self.step}"


class AssetUsage(models.Model):
    """One user used one asset on one deal: one tap, counted once however often it is tapped.
    ``step`` is where the deal was then."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="usages")
    deal = models.ForeignKey("funnel.Deal", on_delete=models.CASCADE, related_name="asset_usages")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="asset_usages",
    )
    step = models.ForeignKey(
        ProcessStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_at = models.DateTimeField()

    class Meta:
        ordering = ["-used_at", "-id"]
        indexes = [
            models.Index(fields=["asset", "used_at"], name="asset_usage_asset_used"),
            models.Index(fields=["deal"], name="asset_usage_deal"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "deal", "user"], name="asset_usage_once_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} on {self.deal_id}"


class AssetReview(models.Model):
    """A review of an asset: the reviewer found it current (optionally with a new version)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="reviews")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField()
    version = models.ForeignKey(
        AssetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    #: When it was due, kept so the history shows how late the review came.
    was_due_at = models.DateTimeField()

    class Meta:
        ordering = ["-reviewed_at", "-id"]

    def __str__(self) -> str:
        return f"review of {self.asset} at {self.reviewed_at:%Y-%m-%d}"
