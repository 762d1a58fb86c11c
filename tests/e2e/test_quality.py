"""The Quality dashboard (the qualification lab) in Chromium: a manager opens the lab of the
demo stream from its map page, reads it, and turns a walk-away rule into a kaizen cycle,
which is saved and shows on the board. The lab's result is the hand-written one of
``tests/funnel/qualification/lab_fixture.py``, stored as the job would store it. Screenshots
of the page on a desktop and a phone go to ``/tmp/h3/`` and ``artifacts/screenshots/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from funnel.qualification.models import CriteriaSet
from funnel.qualification.services import criteria_set_start
from kaizen.models import KaizenCycle, Metric
from streams.models import ValueStream
from tests.funnel.qualification.lab_fixture import lab_result, store_lab
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/h3")


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    save_screenshot(page, name)


@pytest.fixture
def lab_stream(demo) -> ValueStream:
    stream = ValueStream.objects.get(slug=demo.stream_slug)
    if not CriteriaSet.objects.filter(stream=stream).exists():
        manager = get_user_model().objects.get(username="manager")
        criteria_set_start(stream=stream, preset="meddpicc", user=manager)
    step = stream.steps.order_by("position")[3]
    store_lab(stream, lab_result(step_id=step.pk, step_name=step.name, reps=[(1, "Dana Rep")]))
    stream.lab_step = step
    return stream


def test_a_manager_turns_a_walk_away_rule_into_a_kaizen_cycle(page, lab_stream):
    cycles = KaizenCycle.objects.count()  # the demo's own
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/streams/{lab_stream.slug}/")
    page.get_by_role("link", name="Qualification lab").click()
    expect(page.locator("h1")).to_contain_text("Quality")
    expect(page.locator("#chart-forest .plot .main-svg").first).to_be_visible()
    expect(page.locator("#chart-calibration .plot .main-svg").first).to_be_visible()
    expect(page.locator(".lab-myths")).to_contain_text("The team weights Paper process 5 of 5")
    expect(page.locator('[data-tile="pipeline_quality"]')).to_contain_text("412,000")
    _shot(page, "quality-1440x900")
    page.locator("#chart-forest").screenshot(path=str(SHOTS / "quality-forest.png"))

    rule = page.locator('#walk-away-rules li[data-rule^="economic-buyer"]')
    rule.get_by_role("link", name="Turn into a kaizen cycle").click()
    title = f"Walk away when Economic buyer is still Unknown at {lab_stream.lab_step.name}"
    expect(page.get_by_label("Title")).to_have_value(title)
    expect(page.get_by_label("Problem statement")).to_contain_text("win rate 4 % [1–11 %]")
    assert KaizenCycle.objects.count() == cycles  # the link writes nothing
    page.get_by_role("button", name="Save the plan").click()
    expect(page.locator("h1")).to_contain_text(title)
    cycle = KaizenCycle.objects.get(title=title)
    assert (cycle.metric, cycle.step_id) == (Metric.WIN_RATE, lab_stream.lab_step.pk)

    page.goto("/kaizen/")
    expect(page.get_by_role("link", name=title)).to_be_visible()


def test_the_lab_on_a_phone(phone_page, lab_stream):
    login(phone_page, "manager", DEMO_PASSWORD)
    phone_page.goto(f"/dashboards/streams/{lab_stream.slug}/quality/")
    expect(phone_page.locator("#chart-forest .plot .main-svg").first).to_be_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    _shot(phone_page, "quality-390x844")
    for part in ("#chart-forest", ".lab-criteria", "#walk-away-rules"):
        name = part.strip("#.")
        phone_page.locator(part).screenshot(path=str(SHOTS / f"quality-390-{name}.png"))
