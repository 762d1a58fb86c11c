"""Every write of the asset library (docs/assets.md). Each service checks the role, validates
(``ValidationError({field: reason})``) and then writes in one transaction; an upload is
checked whole (:func:`funnel.assets.files.check_upload`) before anything is stored, and its
file is removed again if the rows cannot be written.

Managers (and admins) curate: their assets and versions are accepted at once. A rep's new
asset or version is a *proposal* that a manager accepts or declines. Leadership only reads.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from funnel.assets.files import check_upload
from funnel.assets.models import (
    Asset,
    AssetKind,
    AssetReview,
    AssetStep,
    AssetUsage,
    AssetVersion,
    ProposalState,
)
from funnel.assets.selectors import can_curate, can_propose, is_member, reviewers_due
from funnel.eventlog.selectors import deal_can_edit, deal_open_visit
from funnel.models import Deal
from streams.models import ProcessStep, Team

_CURATE = "Only the team's managers curate its asset library."
_PROPOSE = "Leadership reads the asset library; managers and reps add to it."


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)


def normalise_tags(tags: str | list[str] | None) -> str:
    """Lower-case, trimmed, unique tags joined by ", " (``"Pricing,  ROI,pricing"`` →
    ``"pricing, roi"``)."""
    items = tags if isinstance(tags, list) else (tags or "").split(",")
    seen: list[str] = []
    for tag in (str(t).strip().lower()[:40] for t in items):
        if tag and tag not in seen:
            seen.append(tag)
    return ", ".join(seen)[:300]


def _check_people(team: Team, **people) -> None:
    _raise(
        {
            field: "Choose a member of the team."
            for field, person in people.items()
            if person is not None and not is_member(person, team.pk)
        }
    )


def _check_source(upload: UploadedFile | None, link: str):
    if upload is not None and link:
        _raise({"link": "Give a file or a link, not both."})
    if upload is None and not link:
        _raise({"file": "Choose a file or give a link."})
    if link and not link.lower().startswith(("https://", "http://")):
        _raise({"link": "A link starts with https:// or http://."})
    return check_upload(upload) if upload is not None else None


def _store_version(
    *,
    asset: Asset,
    user: AbstractBaseUser,
    upload: UploadedFile | None,
    link: str,
    checked,
    change_note: str,
    accepted: bool,
    now: datetime,
) -> AssetVersion:
    """Write the version (and its file); its number is the next one when accepted."""
    version = AssetVersion(
        asset=asset,
        link=link,
        change_note=change_note[:500],
        author=user,
        created_at=now,
        state=ProposalState.ACCEPTED if accepted else ProposalState.PROPOSED,
    )
    if accepted:
        version.number = _next_number(asset)
        version.decided_by, version.decided_at = user, now
    if checked is not None:
        version.storage_key = uuid.uuid4().hex
        version.file_name = checked.name
        version.content_type = checked.content_type
        version.size = checked.size
        version.sha256 = checked.sha256
        version.file.save(checked.name, upload, save=False)
    try:
        version.save()
    except Exception:
        if version.file:
            version.file.delete(save=False)
        raise
    return version


def _next_number(asset: Asset) -> int:
    top = asset.versions.filter(number__isnull=False).aggregate(top=Max("number"))["top"]
    return (top or 0) + 1


def asset_create(
    *,
    user: AbstractBaseUser,
    team: Team,
    title: str,
    kind: str = AssetKind.OTHER,
    description: str = "",
    tags: str | list[str] = "",
    owner=None,
    reviewer=None,
    review_interval_days: int = 90,
    upload: UploadedFile | None = None,
    link: str = "",
    change_note: str = "",
    now: datetime | None = None,
) -> Asset:
    """A new asset with its first version. A manager's is in the library at once; a rep's
    waits for a manager (a proposal). The reviewer defaults to the owner, the owner to the
    user."""
    if not can_propose(user, team.pk):
        raise PermissionDenied(_PROPOSE)
    now = now or timezone.now()
    title = (title or "").strip()
    _raise({"title": "Give the asset a title."} if not title else {})
    _raise({"kind": "Choose a kind."} if kind not in AssetKind.values else {})
    if not 1 <= int(review_interval_days) <= 3650:
        _raise({"review_interval_days": "Between 1 and 3650 days."})
    if owner is None and is_member(user, team.pk):
        owner = user
    reviewer = reviewer or owner
    _check_people(team, owner=owner, reviewer=reviewer)
    checked = _check_source(upload, link)
    accepted = can_curate(user, team.pk)
    with transaction.atomic():
        asset = Asset.objects.create(
            team=team,
            kind=kind,
            title=title[:200],
            description=description or "",
            tags=normalise_tags(tags),
            owner=owner,
            reviewer=reviewer,
            review_interval_days=review_interval_days,
            review_due_at=now + timedelta(days=review_interval_days),
            state=ProposalState.ACCEPTED if accepted else ProposalState.PROPOSED,
            created_at=now,
            created_by=user,
        )
        _store_version(
            asset=asset,
            user=user,
            upload=upload,
            link=link,
            checked=checked,
            change_note=change_note or "First version.",
            accepted=accepted,
            now=now,
        )
    return asset


_UPDATABLE = ("title", "kind", "description", "tags", "owner", "reviewer", "review_interval_days")


@transaction.atomic
def asset_update(*, user: AbstractBaseUser, asset: Asset, **changes) -> Asset:
    """Change an asset's details. A new review interval counts from the last review (or the
    asset's creation)."""
    asset = Asset.objects.select_for_update().get(pk=asset.pk)
    if not can_curate(user, asset.team_id):
        raise PermissionDenied(_CURATE)
    unknown = set(changes) - set(_UPDATABLE)
    _raise({name: "This cannot be changed here." for name in unknown})
    if "title" in changes:
        changes["title"] = (changes["title"] or "").strip()[:200]
        _raise({"title": "Give the asset a title."} if not changes["title"] else {})
    if "kind" in changes and changes["kind"] not in AssetKind.values:
        _raise({"kind": "Choose a kind."})
    if "tags" in changes:
        changes["tags"] = normalise_tags(changes["tags"])
    if "review_interval_days" in changes and not 1 <= int(changes["review_interval_days"]) <= 3650:
        _raise({"review_interval_days": "Between 1 and 3650 days."})
    _check_people(
        asset.team, **{k: changes[k] for k in ("owner", "reviewer") if changes.get(k) is not None}
    )
    for name, value in changes.items():
        setattr(asset, name, value)
    if "review_interval_days" in changes:
        since = asset.last_reviewed_at or asset.created_at
        due = since + timedelta(days=asset.review_interval_days)
        if due != asset.review_due_at:
            asset.review_due_at = due
            asset.due_notified_at = None
    asset.save()
    return asset


def version_add(
    *,
    user: AbstractBaseUser,
    asset: Asset,
    upload: UploadedFile | None = None,
    link: str = "",
    change_note: str = "",
    now: datetime | None = None,
) -> AssetVersion:
    """A new version: accepted at once from a manager, proposed from a rep. Older versions
    stay as they were."""
    if not can_propose(user, asset.team_id):
        raise PermissionDenied(_PROPOSE)
    _raise({"asset": "This asset is retired: restore it first."} if asset.retired_at else {})
    _raise({"change_note": "Say what changed."} if not (change_note or "").strip() else {})
    checked = _check_source(upload, link)
    now = now or timezone.now()
    with transaction.atomic():
        Asset.objects.select_for_update().filter(pk=asset.pk).first()
        return _store_version(
            asset=asset,
            user=user,
            upload=upload,
            link=link,
            checked=checked,
            change_note=change_note.strip(),
            accepted=can_curate(user, asset.team_id) and asset.state == ProposalState.ACCEPTED,
            now=now,
        )


@transaction.atomic
def proposal_decide(
    *,
    user: AbstractBaseUser,
    version: AssetVersion,
    accept: bool,
    now: datetime | None = None,
) -> AssetVersion:
    """A manager accepts or declines a proposed version. Accepting the first version of a
    proposed asset accepts the asset too (its review clock starts then); declining it
    declines the asset."""
    version = AssetVersion.objects.select_for_update().select_related("asset").get(pk=version.pk)
    asset = Asset.objects.select_for_update().get(pk=version.asset_id)
    if not can_curate(user, asset.team_id):
        raise PermissionDenied(_CURATE)
    _raise(
        {"version": "This version was already decided."}
        if version.state != ProposalState.PROPOSED
        else {}
    )
    now = now or timezone.now()
    version.decided_by, version.decided_at = user, now
    if accept:
        version.state = ProposalState.ACCEPTED
        version.number = _next_number(asset)
        if asset.state != ProposalState.ACCEPTED:
            asset.state = ProposalState.ACCEPTED
            asset.review_due_at = now + timedelta(days=asset.review_interval_days)
            asset.save(update_fields=["state", "review_due_at", "updated_at"])
    else:
        version.state = ProposalState.DECLINED
        if asset.state == ProposalState.PROPOSED and not asset.versions.filter(
            state=ProposalState.ACCEPTED
        ).exclude(pk=version.pk):
            asset.state = ProposalState.DECLINED
            asset.save(update_fields=["state", "updated_at"])
    version.save(update_fields=["state", "number", "decided_by", "decided_at"])
    return version


def asset_review(
    *,
    user: AbstractBaseUser,
    asset: Asset,
    note: str = "",
    upload: UploadedFile | None = None,
    link: str = "",
    change_note: str = "",
    now: datetime | None = None,
) -> AssetReview:
    """Mark the asset reviewed (one click), optionally with a new version: the next review
    falls due one interval from now and the reviewer may be told again then. The team's
    managers and the asset's reviewer review."""
    reviewer = asset.reviewer_id == user.pk and is_member(user, asset.team_id)
    if not (can_curate(user, asset.team_id) or reviewer):
        raise PermissionDenied("The asset's reviewer and the team's managers review it.")
    _raise({"asset": "Restore the asset before reviewing it."} if asset.retired_at else {})
    _raise({"asset": "Accept the proposal first."} if asset.state != ProposalState.ACCEPTED else {})
    checked = _check_source(upload, link) if (upload is not None or link) else None
    now = now or timezone.now()
    with transaction.atomic():
        locked = Asset.objects.select_for_update().get(pk=asset.pk)
        version = None
        if upload is not None or link:
            version = _store_version(
                asset=locked,
                user=user,
                upload=upload,
                link=link,
                checked=checked,
                change_note=(change_note or "").strip() or "Updated at review.",
                accepted=True,
                now=now,
            )
        review = AssetReview.objects.create(
            asset=locked,
            reviewed_by=user,
            reviewed_at=now,
            version=version,
            note=(note or "")[:500],
            was_due_at=locked.review_due_at,
        )
        locked.last_reviewed_at = now
        locked.review_due_at = now + timedelta(days=locked.review_interval_days)
        locked.due_notified_at = None
        locked.save(
            update_fields=["last_reviewed_at", "review_due_at", "due_notified_at", "updated_at"]
        )
    return review


@transaction.atomic
def asset_retire(*, user: AbstractBaseUser, asset: Asset, now: datetime | None = None) -> Asset:
    """Archive the asset: it leaves the step lists and the deal page, keeps its versions,
    attachments, usage and reviews, and can be restored."""
    asset = Asset.objects.select_for_update().get(pk=asset.pk)
    if not can_curate(user, asset.team_id):
        raise PermissionDenied(_CURATE)
    _raise({"asset": "This asset is already retired."} if asset.retired_at else {})
    asset.retired_at = now or timezone.now()
    asset.retired_by = user
    asset.save(update_fields=["retired_at", "retired_by", "updated_at"])
    return asset


@transaction.atomic
def asset_restore(*, user: AbstractBaseUser, asset: Asset) -> Asset:
    asset = Asset.objects.select_for_update().get(pk=asset.pk)
    if not can_curate(user, asset.team_id):
        raise PermissionDenied(_CURATE)
    _raise({"asset": "This asset is not retired."} if not asset.retired_at else {})
    asset.retired_at = None
    asset.retired_by = None
    asset.save(update_fields=["retired_at", "retired_by", "updated_at"])
    return asset


def asset_attach(
    *, user: AbstractBaseUser, asset: Asset, step: ProcessStep, now: datetime | None = None
) -> AssetStep:
    """Attach the asset to a step of one of the team's maps (again: no change)."""
    if not can_curate(user, asset.team_id):
        raise PermissionDenied(_CURATE)
    if step.stream.team_id != asset.team_id:
        _raise({"step": "Choose a step of one of the team's maps."})
    _raise({"asset": "Restore the asset before attaching it."} if asset.retired_at else {})
    _raise({"asset": "Accept the proposal first."} if asset.state != ProposalState.ACCEPTED else {})
    try:
        with transaction.atomic():
            link, _ = AssetStep.objects.get_or_create(
                asset=asset,
                step=step,
                defaults={"attached_at": now or timezone.now(), "attached_by": user},
            )
    except IntegrityError:
        link = AssetStep.objects.get(asset=asset, step=step)
    return link


def asset_detach(*, user: AbstractBaseUser, asset: Asset, step: ProcessStep) -> None:
    if not can_curate(user, asset.team_id):
        raise PermissionDenied(_CURATE)
    AssetStep.objects.filter(asset=asset, step=step).delete()


def usage_record(
    *, user: AbstractBaseUser, asset: Asset, deal: Deal, now: datetime | None = None
) -> tuple[AssetUsage, bool]:
    """One tap: ``user`` used ``asset`` on ``deal``. Counted once per person and deal;
    returns (the usage, whether it is new). The user must be able to edit the deal (its
    owner or a manager), and the asset must be an active one of the deal's team."""
    if not deal_can_edit(user=user, deal=deal):
        raise PermissionDenied("Only the deal's owner and the team's managers record usage.")
    errors = {}
    if asset.team_id != deal.stream.team_id:
        errors["asset"] = "This asset is not in the deal's team library."
    elif asset.retired_at or asset.state != ProposalState.ACCEPTED:
        errors["asset"] = "This asset is not in use (retired or not accepted)."
    _raise(errors)
    visit = deal_open_visit(deal=deal)
    try:
        with transaction.atomic():
            return AssetUsage.objects.get_or_create(
                asset=asset,
                deal=deal,
                user=user,
                defaults={"used_at": now or timezone.now(), "step": visit.step if visit else None},
            )
    except IntegrityError:
        return AssetUsage.objects.get(asset=asset, deal=deal, user=user), False


def reviews_notify_due(now: datetime | None = None) -> int:
    """Email each reviewer once when an asset falls due (the hourly beat task). The asset is
    claimed first (``due_notified_at``), so two runs never send the same email; a failed send
    is released and tried again next run. Returns the number of emails sent."""
    now = now or timezone.now()
    sent = 0
    for asset in reviewers_due(now):
        if not Asset.objects.filter(pk=asset.pk, due_notified_at__isnull=True).update(
            due_notified_at=now
        ):
            continue
        reviewer = asset.reviewer
        if not reviewer.email:
            continue
        try:
            send_mail(
                f"Review due: {asset.title}",
                f"The asset “{asset.title}” of {asset.team.name} is due for review "
                f"(every {asset.review_interval_days} days; due {asset.review_due_at:%Y-%m-%d}).\n"
                f"Open it in the asset library and mark it reviewed, with a new version if it "
                f"changed (asset {asset.pk}: /assets/{asset.pk}/).\n",
                None,
                [reviewer.email],
                fail_silently=False,
            )
        except Exception:
            Asset.objects.filter(pk=asset.pk).update(due_notified_at=None)
            raise
        sent += 1
    return sent
