"""The asset library in Chromium: a manager adds a playbook, attaches it to a step and sees it
on the map; a rep on a phone opens it from a deal and marks it used with one tap."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from funnel.assets import services
from funnel.assets.models import Asset, AssetUsage
from streams.models import Role
from tests.factories import (
    PASSWORD,
    DealFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
    VisitFactory,
    make_stream,
)
from tests.funnel.assets.conftest import PDF, upload

from .conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _team():
    team = TeamFactory(name="Acme")
    manager = UserFactory(username="mia")
    MembershipFactory(user=manager, team=team, role=Role.MANAGER)
    return team, manager, make_stream(team, name="Sales")


def test_a_manager_attaches_a_playbook_to_a_step_and_sees_it_on_the_map(page: Page):
    _, _, stream = _team()
    login(page, "mia", PASSWORD)
    page.get_by_role("link", name="Assets", exact=True).click()
    expect(page.locator(".empty-state")).to_contain_text("No assets yet")
    page.locator("#new-asset").click()
    page.get_by_label("Title").fill("Discovery playbook")
    page.get_by_label("Kind").select_option("playbook")
    page.get_by_label("File").set_input_files(
        {"name": "discovery.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_role("button", name="Add asset").click()
    expect(page.locator("h1")).to_have_text("Discovery playbook")
    page.get_by_label("Attach to step").select_option(label="Sales · 2. Step 2")
    page.locator("#attach-step").click()
    expect(page.locator("#steps")).to_contain_text("2. Step 2")

    page.goto(f"/streams/{stream.slug}/")
    expect(page.locator("#map-frame")).to_contain_text("A1")
    expect(page.locator("#map-assets")).to_contain_text("Discovery playbook")
    assert Asset.objects.get().attachments.get().step.name == "Step 2"


def test_a_rep_opens_a_playbook_from_a_deal_on_a_phone_and_marks_it_used(phone_page: Page):
    team, manager, stream = _team()
    rep = UserFactory(username="ray")
    MembershipFactory(user=rep, team=team, role=Role.REP)
    step = stream.steps.order_by("position").first()
    deal = DealFactory(stream=stream, owner=rep, name="Globex")
    VisitFactory(deal=deal, step=step, entered_at=deal.created_at)
    asset = services.asset_create(
        user=manager, team=team, title="Discovery playbook", kind="playbook", upload=upload()
    )
    services.asset_attach(user=manager, asset=asset, step=step)
    page = phone_page
    login(page, "ray", PASSWORD)
    page.goto(f"/deals/{deal.pk}/")
    section = page.locator("#assets")
    expect(section).to_contain_text("this step")
    with page.expect_download() as download:
        section.get_by_role("link", name="Discovery playbook", exact=True).tap()
    assert download.value.suggested_filename == "playbook.pdf"
    section.get_by_role("button", name="Used on this deal").tap()
    expect(page.locator("#assets")).to_contain_text("Used ✓")
    assert AssetUsage.objects.get().user == rep
    # Nothing runs off a phone's screen, here or in the library and on the asset's page.
    for path in ("", "/assets/", f"/assets/{asset.pk}/"):
        if path:
            page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
