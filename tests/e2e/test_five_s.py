"""The 5S audit in Chromium: a manager runs the first audit of a stream from its page, sees
the scores (a chart per S drawn under the CSP), turns a finding into a prefilled kaizen plan,
and the stream page then shows the latest score."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from kaizen.fives.models import FiveSAudit
from streams.models import Role
from tests.factories import PASSWORD, MembershipFactory, TeamFactory, UserFactory, make_stream

from .conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_manager_runs_a_5s_audit(page: Page):
    team = TeamFactory(name="Acme")
    manager = UserFactory(username="mia")
    MembershipFactory(user=manager, team=team, role=Role.MANAGER)
    stream = make_stream(team, name="Sales")
    login(page, "mia", PASSWORD)

    page.goto(f"/streams/{stream.slug}/")
    expect(page.locator("#five-s-panel")).to_contain_text("No 5S audit yet")
    page.locator("#five-s-link").click()
    expect(page.locator("#no-audits")).to_be_visible()
    page.locator("#run-audit").click()

    questions = page.locator("fieldset.five-s-question")
    expect(questions).to_have_count(10)
    for i in range(10):
        questions.nth(i).get_by_label("4: fully").check()
    # Shine's first question: a finding.
    shine = page.locator('fieldset.five-s-group[data-s="shine"] fieldset.five-s-question').first
    shine.get_by_label("1: rarely").check()
    shine.get_by_label("Finding (optional)").fill("Last year's prices in the ROI model.")
    page.locator("#save-audit").click()

    # Shine (1+4)/8 = 62.5 %; overall (4 × 100 + 62.5)/5 = 92.5 %.
    expect(page.locator("#audit-score")).to_have_text("92.5 %")
    assert FiveSAudit.objects.get().score_shine == 62.5
    page.get_by_role("link", name="Turn into a kaizen cycle").click()
    expect(page.get_by_label("Title")).to_have_value(
        "5S Shine: Every asset was reviewed within its review interval."
    )
    expect(page.get_by_label("Problem statement")).to_contain_text("Last year's prices")

    page.goto(f"/kaizen/5s/{stream.slug}/")
    # plotly.js drew each S's chart from the JSON in the page (no inline script).
    expect(page.locator(".five-s-charts .main-svg").first).to_be_visible()
    expect(page.locator(".five-s-charts figure")).to_have_count(5)
    page.goto(f"/streams/{stream.slug}/")
    expect(page.locator("#five-s-score")).to_have_text("92.5 %")
