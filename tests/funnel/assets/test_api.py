"""The asset API: roles, and another team's assets, versions, attachments, usage, reviews and
files invisible on every endpoint (404, or 400 naming the field in a body)."""

from __future__ import annotations

import pytest

from funnel.assets import services
from tests.funnel.assets.conftest import upload


@pytest.fixture
def lib(team_setup):
    ns = team_setup
    ns.asset = services.asset_create(
        user=ns.manager_a, team=ns.team_a, title="ROI model", kind="roi_model", upload=upload()
    )
    ns.version = ns.asset.versions.get()
    ns.link = services.asset_attach(user=ns.manager_a, asset=ns.asset, step=ns.steps_a[0])
    ns.usage, _ = services.usage_record(user=ns.rep_a1, asset=ns.asset, deal=ns.deal_a1)
    ns.review = services.asset_review(user=ns.manager_a, asset=ns.asset)
    return ns


def test_team_members_read_everything_of_their_library(api_client, lib) -> None:
    ns = lib
    api_client.force_authenticate(ns.leader_a)
    asset = api_client.get(f"/api/assets/{ns.asset.pk}/").json()
    assert (asset["kind"], asset["steps"], asset["review_state"]) == (
        "roi_model",
        [ns.steps_a[0].pk],
        "current",
    )
    for url in ("assets", "asset-versions", "asset-attachments", "asset-usages", "asset-reviews"):
        assert api_client.get(f"/api/{url}/").json()["count"] == 1, url
    response = api_client.get(f"/api/asset-versions/{ns.version.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert api_client.get("/api/assets/", {"q": "roi"}).json()["count"] == 1
    assert api_client.get("/api/assets/", {"status": "stale"}).json()["count"] == 0


def test_another_team_sees_nothing(api_client, lib) -> None:
    ns = lib
    api_client.force_authenticate(ns.manager_b)
    for url in ("assets", "asset-versions", "asset-attachments", "asset-usages", "asset-reviews"):
        assert api_client.get(f"/api/{url}/").json()["count"] == 0, url
    for url in (
        f"/api/assets/{ns.asset.pk}/",
        f"/api/asset-versions/{ns.version.pk}/",
        f"/api/asset-versions/{ns.version.pk}/download/",
        f"/api/asset-attachments/{ns.link.pk}/",
        f"/api/asset-usages/{ns.usage.pk}/",
        f"/api/asset-reviews/{ns.review.pk}/",
    ):
        assert api_client.get(url).status_code == 404, url
    for url in (f"/api/assets/{ns.asset.pk}/retire/", f"/api/assets/{ns.asset.pk}/restore/"):
        assert api_client.post(url).status_code == 404
    assert api_client.patch(f"/api/assets/{ns.asset.pk}/", {"title": "x"}).status_code == 404
    assert api_client.delete(f"/api/asset-attachments/{ns.link.pk}/").status_code == 404
    decide = f"/api/asset-versions/{ns.version.pk}/decide/"
    assert api_client.post(decide, {"accept": True}, format="json").status_code == 404
    for url, body, field in (
        ("/api/asset-versions/", {"asset": ns.asset.pk, "link": "https://x.example"}, "asset"),
        ("/api/asset-attachments/", {"asset": ns.asset.pk, "step": ns.steps_b[0].pk}, "asset"),
        ("/api/asset-usages/", {"asset": ns.asset.pk, "deal": ns.deal_b.pk}, "asset"),
        ("/api/asset-reviews/", {"asset": ns.asset.pk}, "asset"),
        ("/api/assets/", {"team": ns.team_a.pk, "title": "x", "link": "https://x.e"}, "team"),
    ):
        response = api_client.post(url, body, format="json")
        assert response.status_code == 400 and field in response.json(), url


def test_roles_on_writes(api_client, lib) -> None:
    ns = lib
    api_client.force_authenticate(ns.leader_a)
    body = {"team": ns.team_a.pk, "title": "Card", "link": "https://wiki.example/card"}
    assert api_client.post("/api/assets/", body, format="json").status_code == 403
    assert api_client.post(f"/api/assets/{ns.asset.pk}/retire/").status_code == 403
    usage = {"asset": ns.asset.pk, "deal": ns.deal_a2.pk}
    assert api_client.post("/api/asset-usages/", usage, format="json").status_code == 403
    # A rep proposes an asset and a version (multipart); the manager accepts the version.
    api_client.force_authenticate(ns.rep_a2)
    made = api_client.post("/api/assets/", body, format="json")
    assert made.status_code == 201 and made.json()["state"] == "proposed"
    posted = api_client.post(
        "/api/asset-versions/",
        {"asset": ns.asset.pk, "file": upload("v2.pdf"), "change_note": "new figures"},
        format="multipart",
    )
    assert posted.status_code == 201 and posted.json()["state"] == "proposed"
    evil = api_client.post(
        "/api/asset-versions/",
        {"asset": ns.asset.pk, "file": upload("x.pdf", b"<html>"), "change_note": "x"},
        format="multipart",
    )
    assert evil.status_code == 400 and "not a PDF" in evil.json()["file"][0]
    assert api_client.post("/api/asset-usages/", usage, format="json").status_code == 201
    assert api_client.post("/api/asset-usages/", usage, format="json").status_code == 200
    attach = {"asset": ns.asset.pk, "step": ns.steps_a[1].pk}
    assert api_client.post("/api/asset-attachments/", attach, format="json").status_code == 403
    decide = f"/api/asset-versions/{posted.json()['id']}/decide/"
    assert api_client.post(decide, {"accept": True}, format="json").status_code == 403
    api_client.force_authenticate(ns.manager_a)
    decided = api_client.post(decide, {"accept": True}, format="json")
    assert decided.status_code == 200 and decided.json()["number"] == 2
    assert api_client.post("/api/asset-attachments/", attach, format="json").status_code == 201
    assert api_client.delete(f"/api/asset-attachments/{ns.link.pk}/").status_code == 204
    review = api_client.post("/api/asset-reviews/", {"asset": ns.asset.pk, "note": "ok"})
    assert review.status_code == 201
    patched = api_client.patch(f"/api/assets/{ns.asset.pk}/", {"tags": ["Pricing"]}, format="json")
    assert patched.status_code == 200 and patched.json()["tags"] == ["pricing"]
    assert api_client.post(f"/api/assets/{ns.asset.pk}/retire/").json()["retired_at"]
    assert api_client.post(f"/api/assets/{ns.asset.pk}/restore/").json()["retired_at"] is None


def test_a_version_is_never_edited(api_client, lib) -> None:
    ns = lib
    api_client.force_authenticate(ns.manager_a)
    url = f"/api/asset-versions/{ns.version.pk}/"
    assert api_client.patch(url, {"change_note": "x"}, format="json").status_code == 405
    assert api_client.put(url, {"change_note": "x"}, format="json").status_code == 405
    assert api_client.delete(url).status_code == 405
    ns.version.refresh_from_db()
    assert ns.version.change_note == "First version."
