"""Kaizen in Chromium: a manager takes a cycle from Plan to Act through the pages and adopts
it; the future-state map then shows the new planned value, and the kaizen burst is on the
current map while the cycle is open and gone once it is closed. Live server, demo data."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from kaizen.models import KaizenCycle, Outcome, Phase
from streams.models import ValueStream
from vsm_project.demo import DEMO_PASSWORD

from .conftest import fits_width, login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def burst_on(page: Page, stream_slug: str, step_id: int):
    page.goto(f"/streams/{stream_slug}/")
    return page.locator(f'#map-frame g.process-box[data-step-id="{step_id}"] g.kaizen-burst')


def test_a_manager_takes_a_cycle_from_plan_to_adopted_and_the_map_follows(page, demo):
    current = ValueStream.objects.get(slug=demo.stream_slug)
    future = ValueStream.objects.get(slug=demo.future_slug)
    step = current.steps.get(name="Lead capture")
    future_step = future.steps.get(name="Lead capture")
    assert future_step.planned_lead_hours == 24
    login(page, "manager", DEMO_PASSWORD)
    expect(burst_on(page, demo.stream_slug, step.pk)).to_have_count(0)

    # Plan, from the board.
    page.goto("/kaizen/")
    page.get_by_role("link", name="New cycle").click()
    page.get_by_label("Where").select_option(label="1. Lead capture")
    page.get_by_label("Title").fill("Call new leads within the hour")
    page.get_by_label("Problem statement").fill("Leads wait a day before anyone looks at them.")
    page.get_by_label("Metric").select_option(label="Time in step")
    page.get_by_label("Target value").fill("12")
    page.get_by_label("Countermeasure").fill("A lead alert to the SDR on duty.")
    page.get_by_label("Check window (days)").fill("28")
    page.get_by_role("button", name="Save the plan").click()
    expect(page.locator("h1")).to_contain_text("Call new leads within the hour")
    expect(page.locator("h1 .badge")).to_have_text("Plan")
    cycle = KaizenCycle.objects.get(title="Call new leads within the hour")
    assert (cycle.step_id, cycle.owner.username) == (step.pk, "manager")
    expect(page.locator("#plan")).to_contain_text("Baseline, when planned")
    url = f"/kaizen/{cycle.pk}/"

    # The burst is on the map while the cycle is open.
    expect(burst_on(page, demo.stream_slug, step.pk)).to_have_count(1)

    # Do: the change started today (the field's default).
    page.goto(url)
    page.get_by_label("What was done").fill("Alert set up in the CRM.")
    page.get_by_role("button", name="Start Do: the change has started").click()
    expect(page.locator("h1 .badge")).to_have_text("Do")
    expect(page.locator("#do")).to_contain_text("Alert set up in the CRM.")

    # Check: computed by the (eager) task once the move commits.
    page.get_by_role("button", name="Move to Check").click()
    expect(page.locator("h1 .badge")).to_have_text("Check")
    banner = page.locator("#check .verdict-banner")
    expect(banner).to_contain_text("Not enough data yet")
    expect(banner).to_contain_text("10 more after it")
    save_screenshot(page, "kaizen-cycle-check-1440x900")

    # Act without evidence: the move is refused until the manager writes why, next to the
    # field, and the page says what acting on too little data means.
    expect(page.locator("#act-move")).to_contain_text("Not enough data to say")
    page.get_by_role("button", name="Move to Act without evidence").click()
    expect(page.locator("h1 .badge")).to_have_text("Check")
    expect(page.locator("#act_override_reason_error")).to_contain_text("needs a written reason")
    page.get_by_label("Why act without evidence").fill("The leads team asked for it now.")
    page.get_by_role("button", name="Move to Act without evidence").click()
    expect(page.locator("h1 .badge")).to_have_text("Act")
    expect(page.locator("#override-note")).to_contain_text("The leads team asked for it now.")
    page.get_by_label("The new standard").fill(
        "The SDR on duty calls every new lead within an hour."
    )
    page.get_by_label("Planned lead time of “Lead capture” on the future-state map (hours)").fill(
        "12"
    )
    page.get_by_role("button", name="Adopt as the new standard").click()
    expect(page.locator("h1 .badge").first).to_have_text("Closed")
    expect(page.locator("h1")).to_contain_text("Adopted without evidence")
    expect(page.locator("#decision")).to_contain_text("Adopted without evidence")
    expect(page.locator("#override-reason")).to_have_text("The leads team asked for it now.")
    expect(page.locator("#map-standard")).to_contain_text(
        "1 d on the current-state map → 12 h on the future-state map (the new standard), "
        "a shorter plan than today's"
    )
    save_screenshot(page, "kaizen-cycle-adopted-1440x900")
    cycle.refresh_from_db()
    assert (cycle.phase, cycle.outcome) == (Phase.CLOSED, Outcome.ADOPTED)
    assert cycle.adopted_without_evidence

    # The board labels it and counts it apart from the adoptions on evidence.
    page.goto("/kaizen/")
    card = page.locator(f'.kcard[data-cycle-id="{cycle.pk}"]')
    expect(card).to_contain_text("Adopted without evidence")
    unevidenced = KaizenCycle.objects.filter(
        outcome=Outcome.ADOPTED, evidence_override__isnull=False
    ).count()
    expect(page.locator("#unevidenced-count")).to_have_text(str(unevidenced))
    expect(page.locator("#unevidenced-cycles")).to_contain_text("Call new leads within the hour")
    expect(page.locator("#adopted-effects")).not_to_contain_text("Call new leads within the hour")

    # The future-state map shows the new planned value.
    page.goto(url)
    page.locator("#decision").get_by_role("link", name=future.name).click()
    expect(page).to_have_url(f"{page.url.split('/streams/')[0]}/streams/{demo.future_slug}/")
    row = page.locator(f'tr[data-step-id="{future_step.pk}"]')
    expect(row.locator("td").nth(6)).to_have_text("12 h")  # LT planned
    future_step.refresh_from_db()
    assert future_step.planned_lead_hours == 12

    # Closed: the burst is gone from the current map.
    expect(burst_on(page, demo.stream_slug, step.pk)).to_have_count(0)
    save_screenshot(page, "kaizen-map-after-adopting-1440x900")


def test_the_board_and_a_cycle_page_fit_a_phone(phone_page, demo):
    login(phone_page, "vp", DEMO_PASSWORD)
    phone_page.goto("/kaizen/")
    expect(phone_page.locator(".kanban-col")).to_have_count(5)
    expect(phone_page.locator(".kcard")).to_have_count(KaizenCycle.objects.count())
    assert fits_width(phone_page)
    save_screenshot(phone_page, "kaizen-board-390x844")

    adopted = KaizenCycle.objects.get(outcome=Outcome.ADOPTED)
    phone_page.locator(".kanban").get_by_role("link", name=adopted.title).click()
    expect(phone_page.locator("#check .verdict-banner")).to_be_visible()
    expect(phone_page.locator("#run-chart .main-svg").first).to_be_visible()
    assert fits_width(phone_page)
    # Leadership reads: no forms of any phase, no comment box.
    expect(phone_page.locator("main form")).to_have_count(0)
    save_screenshot(phone_page, "kaizen-cycle-390x844")


def test_a_manager_acts_without_evidence_on_a_phone(phone_page, demo):
    cycle = KaizenCycle.objects.filter(phase=Phase.CHECK).first()
    KaizenCycle.objects.filter(pk=cycle.pk).update(evidence_override=None)
    check = cycle.check_result
    check.verdict = "insufficient_data"
    check.save(update_fields=["verdict"])
    login(phone_page, "manager", DEMO_PASSWORD)
    phone_page.goto(f"/kaizen/{cycle.pk}/")
    expect(phone_page.locator("#act-move")).to_contain_text("Not enough data to say")
    phone_page.get_by_label("Why act without evidence").fill("Season ends; decide now.")
    assert fits_width(phone_page)
    save_screenshot(phone_page, "kaizen-act-without-evidence-390x844")
    phone_page.get_by_role("button", name="Move to Act without evidence").click()
    expect(phone_page.locator("#override-note")).to_contain_text("Season ends; decide now.")
    assert fits_width(phone_page)
