"""The asset library's pages: roles, cross-team isolation, the download's headers, forms that
say why, the deal page's one tap, and the map's badge and panel."""

from __future__ import annotations

import pytest
from django.urls import reverse

from funnel.assets import services
from funnel.assets.models import Asset, AssetUsage
from tests.funnel.assets.conftest import upload


@pytest.fixture
def library(team_setup):
    ns = team_setup
    ns.asset = services.asset_create(
        user=ns.manager_a,
        team=ns.team_a,
        title="Discovery playbook",
        kind="playbook",
        tags="discovery",
        description="Questions for the first call",
        upload=upload(),
    )
    services.asset_attach(user=ns.manager_a, asset=ns.asset, step=ns.steps_a[0])
    ns.version = ns.asset.versions.get()
    return ns


def test_library_and_asset_page_by_role(client, library) -> None:
    ns = library
    for user in (ns.manager_a, ns.rep_a1, ns.leader_a):
        client.force_login(user)
        page = client.get(reverse("assets:library"))
        assert page.status_code == 200 and b"Discovery playbook" in page.content
        assert client.get(reverse("assets:detail", args=[ns.asset.pk])).status_code == 200
    assert b"Propose an asset" not in page.content  # leadership reads only
    assert client.get(reverse("assets:new")).status_code == 403
    client.force_login(ns.rep_b)
    page = client.get(reverse("assets:library"))
    assert b"Discovery playbook" not in page.content and b"No assets yet" in page.content
    assert client.get(reverse("assets:detail", args=[ns.asset.pk])).status_code == 404
    download = reverse("assets:download", args=[ns.asset.pk, ns.version.pk])
    assert client.get(download).status_code == 404
    assert client.post(reverse("assets:retire", args=[ns.asset.pk])).status_code == 404


def test_search_and_filters(client, library) -> None:
    ns = library
    client.force_login(ns.rep_a1)
    url = reverse("assets:library")
    assert b"Discovery playbook" in client.get(url, {"q": "first call"}).content
    missing = client.get(url, {"q": "pricing"})
    assert b"Discovery playbook" not in missing.content and b"Nothing matches" in missing.content
    assert b"Discovery playbook" not in client.get(url, {"state": "retired"}).content
    assert client.get(url, {"state": "bogus", "kind": "x"}).status_code == 200
    on_step = client.get(url, {"step": ns.steps_a[0].pk}).content
    assert b"Discovery playbook" in on_step and b"on 1 step " in on_step
    assert b"Discovery playbook" not in client.get(url, {"step": ns.steps_a[1].pk}).content
    assert client.get(url, {"step": ns.steps_b[0].pk}).status_code == 200  # not offered


def test_download_is_always_an_attachment(client, library) -> None:
    ns = library
    client.force_login(ns.rep_a1)
    response = client.get(reverse("assets:download", args=[ns.asset.pk, ns.version.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="playbook.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_new_asset_form_says_why_and_stores_nothing(client, library) -> None:
    ns = library
    client.force_login(ns.manager_a)
    response = client.post(
        reverse("assets:new"),
        {
            "team": ns.team_a.pk,
            "title": "Logo",
            "kind": "other",
            "review_interval_days": 90,
            "file": upload("logo.svg", b"<svg><script>alert(1)</script></svg>"),
        },
    )
    assert response.status_code == 400
    assert b".svg are not accepted" in response.content
    assert not Asset.objects.filter(title="Logo").exists()
    response = client.post(
        reverse("assets:new"),
        {
            "team": ns.team_a.pk,
            "title": "Value map",
            "kind": "value_map",
            "review_interval_days": 30,
            "link": "https://wiki.example/value-map",
        },
    )
    asset = Asset.objects.get(title="Value map")
    assert response.status_code == 302 and asset.review_interval_days == 30
    # A rep proposes a version; the manager accepts it from the asset page.
    client.force_login(ns.rep_a1)
    response = client.post(
        reverse("assets:version_new", args=[asset.pk]),
        {"file": upload("v2.pdf"), "change_note": "New pricing"},
    )
    assert response.status_code == 302
    proposed = asset.versions.get(state="proposed")
    client.force_login(ns.manager_a)
    page = client.get(reverse("assets:detail", args=[asset.pk]))
    assert b"Accept" in page.content
    client.post(reverse("assets:decide", args=[asset.pk, proposed.pk]), {"decision": "accept"})
    proposed.refresh_from_db()
    assert proposed.number == 2


def test_review_retire_restore(client, library) -> None:
    ns = library
    client.force_login(ns.manager_a)
    assert client.post(reverse("assets:review", args=[ns.asset.pk])).status_code == 302
    assert ns.asset.reviews.count() == 1
    retire = reverse("assets:retire", args=[ns.asset.pk])
    confirm = client.post(retire)  # asks first
    assert confirm.status_code == 200 and b"Yes, retire it" in confirm.content
    client.post(retire, {"confirmed": "1"})
    ns.asset.refresh_from_db()
    assert ns.asset.retired_at is not None
    client.post(reverse("assets:restore", args=[ns.asset.pk]), {"confirmed": "1"})
    ns.asset.refresh_from_db()
    assert ns.asset.retired_at is None
    client.force_login(ns.rep_a1)
    assert client.post(retire, {"confirmed": "1"}).status_code == 403


def test_deal_page_lists_the_steps_assets_and_one_tap_use(client, library) -> None:
    ns = library
    client.force_login(ns.rep_a1)
    deal_url = reverse("funnel:deal_detail", args=[ns.deal_a1.pk])
    page = client.get(deal_url)
    assert b"Assets for this deal" in page.content and b"Used on this deal" in page.content
    use = reverse("assets:use", args=[ns.asset.pk])
    response = client.post(use, {"deal": ns.deal_a1.pk})
    assert response.status_code == 302 and response["Location"].endswith("#assets")
    assert b"Used \xe2\x9c\x93" in client.get(deal_url).content
    assert AssetUsage.objects.filter(deal=ns.deal_a1, user=ns.rep_a1).count() == 1
    assert client.post(use, {"deal": ns.deal_a2.pk}).status_code == 404  # not their deal
    assert client.post(use, {"deal": "x"}).status_code == 404
    client.force_login(ns.rep_b)
    assert client.post(use, {"deal": ns.deal_b.pk}).status_code == 404


def test_map_shows_a_badge_and_the_steps_assets(client, library) -> None:
    ns = library
    client.force_login(ns.rep_a1)
    page = client.get(reverse("streams:detail", args=[ns.stream_a.slug])).content.decode()
    assert "1 asset attached to this step" in page
    assert "Assets by step" in page and "Discovery playbook" in page


def test_an_asset_without_owner_or_reviewer_renders_and_says_nobody_reviews_it(
    client, library
) -> None:
    ns = library
    Asset.objects.filter(pk=ns.asset.pk).update(owner=None, reviewer=None)
    ns.version.author = None
    ns.version.save()
    services.asset_review(user=ns.manager_a, asset=ns.asset)
    ns.asset.reviews.update(reviewed_by=None)
    client.force_login(ns.rep_a1)
    page = client.get(reverse("assets:detail", args=[ns.asset.pk]))
    assert page.status_code == 200
    assert b"No active reviewer" in page.content
    library_page = client.get(reverse("assets:library"))
    assert library_page.status_code == 200 and b"no active reviewer" in library_page.content
    # A reviewer who left the team is named, and flagged the same way.
    Asset.objects.filter(pk=ns.asset.pk).update(reviewer=ns.rep_b)
    page = client.get(reverse("assets:detail", args=[ns.asset.pk]))
    assert b"No active reviewer" in page.content
    Asset.objects.filter(pk=ns.asset.pk).update(reviewer=ns.rep_a2)
    assert b"No active reviewer" not in client.get(page.request["PATH_INFO"]).content


def test_a_rep_sees_only_their_own_usage_row_as_in_the_outcome_report(client, library) -> None:
    ns = library
    services.usage_record(user=ns.rep_a1, asset=ns.asset, deal=ns.deal_a1)
    services.usage_record(user=ns.rep_a2, asset=ns.asset, deal=ns.deal_a2)
    url = reverse("assets:detail", args=[ns.asset.pk])
    client.force_login(ns.rep_a1)
    page = client.get(url).content.decode()
    usage = page[page.index('id="usage"') : page.index("</section>", page.index('id="usage"'))]
    one, two = ns.rep_a1.get_full_name(), ns.rep_a2.get_full_name()
    assert one in usage and two not in usage
    assert "Used on 2 deals by the team; below, your own use" in usage
    for viewer in (ns.manager_a, ns.leader_a):
        client.force_login(viewer)
        page = client.get(url).content.decode()
        usage = page[page.index('id="usage"') : page.index("</section>", page.index('id="usage"'))]
        assert one in usage and two in usage and "your own use" not in usage


def test_search_stems_and_ranks_on_postgresql(client, library) -> None:
    """PostgreSQL's full-text search (English): 'calls' finds 'the first call' by its stem, and
    a title match ranks above a description match; SQLite's plain match does not stem."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("full-text search is PostgreSQL's")
    ns = library
    services.asset_create(
        user=ns.manager_a, team=ns.team_a, title="Call notes", link="https://wiki.example/n"
    )
    client.force_login(ns.rep_a1)
    found = client.get(reverse("assets:library"), {"q": "calls"}).context["rows"]
    assert [r["asset"].title for r in found] == ["Call notes", "Discovery playbook"]
