"""Layout at 390 px and 1440 px in Chromium (issue 12): the map editor's Delete buttons stay
inside their cards, a compare cell takes at most two lines, and the velocity-lever values
never run into the lever names. Each test saves a screenshot of what it checked."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.demo_snapshot import demo_restored
from vsm_project.demo import DEMO_PASSWORD, SeedResult

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWPORTS = ["phone_page", "page"]  # 390x844 touch, 1440x900

#: [id, overflow in px] of every button that deletes something and sticks out of the content
#: box (inside the padding) of its card.
DELETE_BUTTONS_OUTSIDE_THEIR_CARD = """() => {
  const buttons = [...document.querySelectorAll('button[data-delete-url]')];
  return [buttons.length, buttons.map((b) => {
    const card = b.closest('.card');
    const style = getComputedStyle(card);
    const box = card.getBoundingClientRect();
    const left = box.left + parseFloat(style.paddingLeft);
    const right = box.right - parseFloat(style.paddingRight);
    const r = b.getBoundingClientRect();
    return [b.id, Math.max(r.right - right, left - r.left)];
  }).filter(([, over]) => over > 0.5)];
}"""

#: [text, lines] of every compare cell whose text takes more than two lines.
COMPARE_CELLS_OVER_TWO_LINES = """() => {
  const cells = [...document.querySelectorAll(
    'table.compare th[scope=row], table.compare td, .compare-summary dd')];
  return [cells.length, cells.map((c) => {
    const range = document.createRange();
    range.selectNodeContents(c);
    const lines = range.getBoundingClientRect().height / parseFloat(getComputedStyle(c).lineHeight);
    return [c.textContent.trim(), Math.round(lines * 10) / 10];
  }).filter(([, lines]) => lines > 2.2)];
}"""

#: The velocity-lever chart's value labels, lever names and bars, as boxes.
LEVER_BOXES = """(id) => {
  const plot = document.getElementById(id);
  const boxes = (selector) => [...plot.querySelectorAll(selector)].map((e) => {
    const r = e.getBoundingClientRect();
    return {text: e.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  });
  return {
    values: boxes('g.annotation-text-g text'),
    names: boxes('g.ytick text'),
    bars: boxes('g.trace.bars path'),
  };
}"""


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and (b["top"] < a["bottom"])
    )


@pytest.fixture
def demo_500(transactional_db: None) -> SeedResult:
    """The default demo (500 deals): enough won deals in both periods for the velocity levers."""
    return demo_restored()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_editors_delete_buttons_stay_inside_their_cards(request, viewport, demo) -> None:
    page: Page = request.getfixturevalue(viewport)
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/streams/{demo.stream_slug}/edit/")
    expect(page.locator("section[aria-labelledby=stages-title]")).to_be_visible()

    count, outside = page.evaluate(DELETE_BUTTONS_OUTSIDE_THEIR_CARD)

    save_screenshot(page, f"layout-editor-{viewport}")
    assert count >= 8 + 5 + 4  # every step, lane and stage has one
    assert outside == [], f"Delete buttons sticking out of their card (px): {outside}"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_compare_cell_takes_at_most_two_lines(request, viewport, demo) -> None:
    page: Page = request.getfixturevalue(viewport)
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/streams/{demo.stream_slug}/compare/")
    expect(page.locator("table.compare")).to_be_visible()

    count, tall = page.evaluate(COMPARE_CELLS_OVER_TWO_LINES)

    save_screenshot(page, f"layout-compare-{viewport}")
    assert count > 8 * 6  # eight steps of six figures, and the summaries
    assert tall == [], f"compare cells over two lines: {tall}"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_velocity_lever_values_never_touch_the_lever_names_or_the_bars(
    request, viewport, demo_500
) -> None:
    page: Page = request.getfixturevalue(viewport)
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/dashboards/streams/{demo_500.stream_slug}/funnel/")
    plot = page.locator("#plot-velocity_levers-0")
    expect(plot).to_have_attribute("data-rendered", "true")
    plot.scroll_into_view_if_needed()

    boxes = page.evaluate(LEVER_BOXES, "plot-velocity_levers-0")

    save_screenshot(page, f"layout-levers-{viewport}")
    assert len(boxes["values"]) == len(boxes["names"]) == 5
    for value in boxes["values"]:
        for other in boxes["names"] + boxes["bars"]:
            assert not _overlap(value, other), (value, other)
        assert value["left"] >= max(bar["right"] for bar in boxes["bars"])
