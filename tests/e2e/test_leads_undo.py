"""Undo of a hand-off decision in real Chromium: an SDR rejects a lead on the hand-off board,
then undoes it from the success message with the keyboard; the lead waits at the hand-off
again and the deal's timeline keeps both (docs/leads.md "Undo")."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from funnel.leads.models import HandoffDecision, HandoffUndo
from tests.factories import PASSWORD
from tests.funnel.leads.conftest import build, lead

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_sdr_rejects_a_lead_and_undoes_it(page: Page, live_server):
    ns = build()
    start = timezone.now() - timedelta(minutes=20)
    visit = lead(
        ns,
        ("Qualify", start.isoformat()),
        ("MQL", (start + timedelta(minutes=5)).isoformat()),
        name="Contoso trial",
        owner=ns.sdr,
    )
    reason = ns.reject_reason.label
    login(page, "sdr", PASSWORD)
    page.clock.install()  # the browser's clock, moved on below to watch the undo's countdown
    page.goto(f"/streams/{ns.stream.slug}/handoffs/")
    row = page.locator(f"#arrival-{visit.pk}")
    row.locator("summary", has_text="Reject").click()
    with page.expect_navigation():
        row.get_by_role("group", name="Reject “Contoso trial” because…").get_by_role(
            "button", name=reason
        ).click()
    expect(page.locator(".messages")).to_contain_text(f"Rejected “Contoso trial” ({reason})")
    offer = page.locator(".handoff-undo")
    expect(offer).to_contain_text("You rejected “Contoso trial”")
    expect(offer).to_contain_text("min left")
    save_screenshot(page, "leads-undo-offer")
    # Five minutes on in the browser, the offer counts down (static/js/undo_countdown.js); the
    # server's own clock has not moved, so the undo below is still inside its window.
    page.clock.fast_forward("05:00")
    expect(offer.locator(".minutes-left")).to_have_text(re.compile(r"^[1-5] min left$"))

    undo = offer.get_by_role("button", name="Undo")
    undo.focus()  # a real button: reached with Tab, pressed with Enter
    expect(undo).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".messages")).to_contain_text(
        "Undone: “Contoso trial” waits at MQL again, undecided."
    )
    expect(page.locator(f"#arrival-{visit.pk}")).to_be_visible()
    expect(page.locator(".handoff-undo")).to_have_count(0)
    assert not HandoffDecision.objects.filter(visit=visit).exists()
    assert HandoffUndo.objects.get().undone_by == ns.sdr
    visit.refresh_from_db()
    assert visit.exited_at is None and visit.is_last

    page.goto(f"/deals/{visit.deal_id}/")
    timeline = page.locator(".timeline")
    expect(timeline.locator('[data-handoff="rejected"]')).to_contain_text(reason)
    expect(timeline.locator('[data-handoff="undo"]')).to_contain_text("Undid the MQL decision")
