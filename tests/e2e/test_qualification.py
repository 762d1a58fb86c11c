"""A rep scores a deal's criterion with one tap on a phone (390×844), and the deals list
shows the deal's coverage. Real Chromium, live server, the demo's MEDDPICC set."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from funnel.eventlog.services import deal_create
from funnel.qualification.models import CriterionScore
from streams.models import ProcessStep, ValueStream
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_rep_scores_a_deal_with_one_tap_and_the_list_shows_the_coverage(phone_page, demo):
    from django.contrib.auth import get_user_model

    page = phone_page
    alice = get_user_model().objects.get(username="alice")
    stream = ValueStream.objects.get(slug=demo.stream_slug)
    proposal = ProcessStep.objects.get(stream=stream, name="Proposal & ROI model")
    # At Proposal: all eight criteria are known by Proposal or earlier, so all are due; none
    # is scored yet.
    deal = deal_create(
        stream=stream, name="Umbrella renewal", owner=alice, first_step=proposal, actor=alice
    )
    login(page, "alice", DEMO_PASSWORD)
    page.goto(f"/deals/?q={deal.name}")
    expect(page.locator(f"tr[data-deal-id='{deal.pk}'] .coverage")).to_contain_text("0/8 known")

    page.goto(f"/deals/{deal.pk}/")
    item = page.locator("li[data-criterion='economic-buyer']")
    expect(item.locator(".badge-overdue")).to_have_count(0)  # due at Proposal, not past it
    segment = item.locator("label.segment", has_text="Validated")
    box = segment.bounding_box()
    assert box and box["height"] >= 44  # a thumb-sized target
    with page.expect_navigation():
        segment.tap()  # one tap: the form is sent on change
    expect(page.locator("li[data-criterion='economic-buyer'] .level-now")).to_have_text("Validated")
    group = page.get_by_role("group", name="Economic buyer: level")
    expect(group.get_by_label("Validated")).to_be_checked()
    score = CriterionScore.objects.get(deal=deal)
    assert (score.criterion.name, score.level, score.scored_by, score.step) == (
        "Economic buyer",
        2,
        alice,
        proposal,
    )
    # Nothing sticks out of a 390 px screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    save_screenshot(page, "qualification-phone")

    page.goto(f"/deals/?q={deal.name}")
    expect(page.locator(f"tr[data-deal-id='{deal.pk}'] .coverage")).to_contain_text("1/8 known")


def test_a_manager_edits_a_criterion_from_the_map_on_a_phone(phone_page, demo):
    page = phone_page
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/streams/{demo.stream_slug}/")
    # Measured once the page has loaded with its stylesheets (a layout measured before the
    # CSS applies is wider: CI saw 560 px under load).
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="Qualification criteria").click()
    expect(page.get_by_role("heading", name="Qualification criteria")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("link", name="Edit Paper process").click()
    page.get_by_label("How much the team believes it matters (0–5)").select_option("2")
    page.get_by_role("button", name="Save criterion").click()
    row = page.locator("tr[data-criterion='paper-process']")
    expect(row.locator("td[data-label='Weight']")).to_have_text("2")
    save_screenshot(page, "qualification-criteria-phone")


def test_the_keyboard_moves_through_the_levels_and_saves_with_the_button(page, demo):
    from django.contrib.auth import get_user_model

    bob = get_user_model().objects.get(username="bob")
    stream = ValueStream.objects.get(slug=demo.stream_slug)
    step = ProcessStep.objects.get(stream=stream, name="Solution demo")
    deal = deal_create(stream=stream, name="Initech pilot", owner=bob, first_step=step, actor=bob)
    login(page, "bob", DEMO_PASSWORD)
    page.goto(f"/deals/{deal.pk}/")
    group = page.get_by_role("group", name="Champion: level")
    group.get_by_label("Unknown").focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # Validated, nothing sent yet
    expect(group.get_by_label("Validated")).to_be_checked()
    assert not CriterionScore.objects.filter(deal=deal).exists()
    form = page.locator("li[data-criterion='champion'] form")
    with page.expect_navigation():
        form.get_by_role("button", name="Save score").click()
    assert list(CriterionScore.objects.filter(deal=deal).values_list("level", flat=True)) == [2]
