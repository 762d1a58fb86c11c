"""The asset library's writes: roles, proposals, attachments, usage, and the review cycle
with frozen time and the email outbox (due, stale, reviewed, retired, restored)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from funnel.assets import selectors, services
from funnel.assets.models import Asset, AssetVersion, ProposalState
from funnel.tasks import asset_reviews_due
from streams.models import Membership
from tests.funnel.assets.conftest import upload


def _asset(ns, **kwargs):
    kwargs.setdefault("upload", upload())
    return services.asset_create(
        user=ns.manager_a, team=ns.team_a, title="Discovery playbook", kind="playbook", **kwargs
    )


def test_manager_adds_an_asset_with_a_file(team_setup, settings) -> None:
    ns = team_setup
    ns.manager_a.email = "m@example.com"
    asset = _asset(ns, tags="Discovery, ROI ,discovery", reviewer=ns.rep_a1)
    version = asset.versions.get()
    assert (asset.state, asset.tags, asset.owner, version.number) == (
        "accepted",
        "discovery, roi",
        ns.manager_a,
        1,
    )
    stored = Path(settings.MEDIA_ROOT) / version.file.name
    assert stored.read_bytes().startswith(b"%PDF")
    assert version.file.name.startswith(f"assets/{ns.team_a.pk}/{asset.pk}/")
    assert version.file_name == "playbook.pdf"


def test_a_rejected_upload_stores_nothing(team_setup, settings) -> None:
    ns = team_setup
    with pytest.raises(ValidationError) as caught:
        _asset(ns, upload=upload("evil.pdf", b"<html><script>x</script></html>"))
    assert "not a PDF" in caught.value.message_dict["file"][0]
    assert not Asset.objects.exists()
    assert not (Path(settings.MEDIA_ROOT)).exists() or not any(
        Path(settings.MEDIA_ROOT).rglob("*.*")
    )


def test_roles(team_setup) -> None:
    ns = team_setup
    with pytest.raises(PermissionDenied):
        services.asset_create(user=ns.leader_a, team=ns.team_a, title="x", link="https://e.com")
    with pytest.raises(PermissionDenied):
        services.asset_create(user=ns.rep_b, team=ns.team_a, title="x", link="https://e.com")
    with pytest.raises(ValidationError) as caught:
        _asset(ns, owner=ns.rep_b)
    assert caught.value.message_dict["owner"] == ["Choose a member of the team."]
    # A rep proposes; the manager accepts; the asset and its first version are accepted.
    proposed = services.asset_create(
        user=ns.rep_a1, team=ns.team_a, title="Battle card", link="https://wiki.example/bc"
    )
    assert proposed.state == ProposalState.PROPOSED
    assert proposed not in selectors.assets_visible_to(ns.rep_a2)
    assert proposed in selectors.assets_visible_to(ns.manager_a)
    version = proposed.versions.get()
    with pytest.raises(PermissionDenied):
        services.proposal_decide(user=ns.rep_a1, version=version, accept=True)
    services.proposal_decide(user=ns.manager_a, version=version, accept=True)
    proposed.refresh_from_db()
    version.refresh_from_db()
    assert (proposed.state, version.number) == ("accepted", 1)
    # A rep's new version is a proposal; older versions stay.
    asset = _asset(ns)
    newer = services.version_add(
        user=ns.rep_a1, asset=asset, upload=upload("v2.pdf"), change_note="New prices"
    )
    assert (newer.state, newer.number) == ("proposed", None)
    services.proposal_decide(user=ns.manager_a, version=newer, accept=True)
    assert list(asset.versions.order_by("number").values_list("number", flat=True)) == [1, 2]
    with pytest.raises(ValidationError):
        services.proposal_decide(user=ns.manager_a, version=newer, accept=False)


def test_attach_and_use(team_setup) -> None:
    ns = team_setup
    asset = _asset(ns)
    with pytest.raises(ValidationError) as caught:
        services.asset_attach(user=ns.manager_a, asset=asset, step=ns.steps_b[0])
    assert "step" in caught.value.message_dict
    with pytest.raises(PermissionDenied):
        services.asset_attach(user=ns.rep_a1, asset=asset, step=ns.steps_a[0])
    services.asset_attach(user=ns.manager_a, asset=asset, step=ns.steps_a[0])
    services.asset_attach(user=ns.manager_a, asset=asset, step=ns.steps_a[0])
    assert selectors.step_asset_counts(ns.stream_a) == {ns.steps_a[0].pk: 1}
    rows = selectors.deal_assets(ns.deal_a1, ns.rep_a1)
    assert [(r["asset"], r["here"], r["used"]) for r in rows] == [(asset, True, False)]
    usage, new = services.usage_record(user=ns.rep_a1, asset=asset, deal=ns.deal_a1)
    again, new_again = services.usage_record(user=ns.rep_a1, asset=asset, deal=ns.deal_a1)
    assert (new, new_again, again.pk, usage.step) == (True, False, usage.pk, ns.steps_a[0])
    for user, deal in [(ns.rep_a2, ns.deal_a1), (ns.leader_a, ns.deal_a1)]:
        with pytest.raises(PermissionDenied):
            services.usage_record(user=user, asset=asset, deal=deal)
    with pytest.raises(ValidationError):
        services.usage_record(user=ns.manager_b, asset=asset, deal=ns.deal_b)
    # Retired: off the step lists, history kept, restorable.
    services.asset_retire(user=ns.manager_a, asset=asset)
    assert selectors.step_asset_counts(ns.stream_a) == {}
    assert selectors.deal_assets(ns.deal_a1, ns.rep_a1) == []
    services.asset_restore(user=ns.manager_a, asset=asset)
    assert selectors.step_asset_counts(ns.stream_a) == {ns.steps_a[0].pk: 1}


def test_review_cycle(team_setup, settings) -> None:
    ns = team_setup
    settings.ASSETS_STALE_AFTER_DAYS = 30
    settings.ASSETS_UNUSED_DAYS = 60
    ns.rep_a1.email = "rep@example.com"
    ns.rep_a1.save()
    start = ns.t
    with time_machine.travel(start, tick=False):
        asset = _asset(ns, reviewer=ns.rep_a1, review_interval_days=10)
    assert asset.review_due_at == start + timedelta(days=10)
    with time_machine.travel(start + timedelta(days=9), tick=False):
        assert asset_reviews_due.delay().get() == 0
        assert selectors.review_state(asset) == "current"
    with time_machine.travel(start + timedelta(days=10), tick=False):
        assert asset_reviews_due.delay().get() == 1
        assert asset_reviews_due.delay().get() == 0  # once
        assert selectors.review_state(asset) == "due"
        assert list(selectors.filter_state(Asset.objects.all(), "due")) == [asset]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["rep@example.com"]
    assert "Discovery playbook" in mail.outbox[0].subject
    with time_machine.travel(start + timedelta(days=40), tick=False):
        asset.refresh_from_db()
        assert selectors.review_state(asset) == "stale"
        assert list(selectors.filter_state(Asset.objects.all(), "stale")) == [asset]
        assert list(selectors.retire_suggestions(Asset.objects.all())) == [asset]
        services.usage_record(user=ns.rep_a1, asset=asset, deal=ns.deal_a1)
        assert list(selectors.retire_suggestions(Asset.objects.all())) == []
        # The reviewer marks it reviewed with a new version: current again, told again later.
        review = services.asset_review(
            user=ns.rep_a1, asset=asset, upload=upload("v2.pdf"), change_note="Checked"
        )
        asset.refresh_from_db()
        assert review.version.number == 2
        assert review.was_due_at == start + timedelta(days=10)
        assert asset.review_due_at == start + timedelta(days=50)
        assert asset.due_notified_at is None
        assert selectors.review_state(asset) == "current"
    with pytest.raises(PermissionDenied):
        services.asset_review(user=ns.rep_a2, asset=asset)
    with time_machine.travel(start + timedelta(days=50), tick=False):
        assert asset_reviews_due.delay().get() == 1
    assert len(mail.outbox) == 2
    services.asset_retire(user=ns.manager_a, asset=asset)
    with time_machine.travel(start + timedelta(days=200), tick=False):
        asset.refresh_from_db()
        asset.due_notified_at = None
        asset.save()
        assert asset_reviews_due.delay().get() == 0  # retired assets are not reviewed
        assert list(selectors.filter_state(Asset.objects.all(), "retired")) == [asset]
        services.asset_restore(user=ns.manager_a, asset=asset)
        assert list(selectors.filter_state(Asset.objects.all(), "stale")) == [asset]
    assert AssetVersion.objects.filter(asset=asset).count() == 2


def test_beat_runs_the_review_emails_hourly(settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["asset-reviews-due"]
    assert entry["task"] == "funnel.tasks.asset_reviews_due"
    from vsm_project.celery import app

    app.loader.import_default_modules()
    assert "funnel.tasks.asset_reviews_due" in app.tasks


def test_a_reviewer_who_left_the_team_or_was_deactivated_is_not_emailed(team_setup) -> None:
    ns = team_setup
    for person in (ns.rep_a1, ns.rep_a2):
        person.email = f"{person.username}@example.com"
        person.save()
    with time_machine.travel(ns.t, tick=False):
        left = _asset(ns, reviewer=ns.rep_a1, review_interval_days=10)
        gone = _asset(ns, reviewer=ns.rep_a2, review_interval_days=10)
    Membership.objects.filter(user=ns.rep_a1, team=ns.team_a).delete()
    ns.rep_a2.is_active = False
    ns.rep_a2.save()
    assert not left.reviewer_active and not gone.reviewer_active
    with time_machine.travel(ns.t + timedelta(days=11), tick=False):
        assert asset_reviews_due.delay().get() == 0
        assert mail.outbox == []
        # Still unclaimed: once the manager names a member, that reviewer is told.
        services.asset_update(user=ns.manager_a, asset=left, reviewer=ns.manager_a)
        ns.manager_a.email = "manager@example.com"
        ns.manager_a.save()
        assert asset_reviews_due.delay().get() == 1
    assert [m.to for m in mail.outbox] == [["manager@example.com"]]


def test_the_deal_page_lists_the_current_steps_assets_first(team_setup) -> None:
    ns = team_setup  # deal_a1 is at steps_a[0]
    later = _asset(ns, link="https://wiki.example/a", upload=None)
    later.title = "A later step's card"
    later.save()
    here = _asset(ns, link="https://wiki.example/z", upload=None)
    here.title = "Z this step's guide"
    here.save()
    services.asset_attach(user=ns.manager_a, asset=later, step=ns.steps_a[1])
    services.asset_attach(user=ns.manager_a, asset=here, step=ns.steps_a[0])
    rows = selectors.deal_assets(ns.deal_a1, ns.rep_a1)
    assert [(r["asset"].title, r["here"]) for r in rows] == [
        ("Z this step's guide", True),
        ("A later step's card", False),
    ]
