"""Layout defects found by a reviewer using every page as each role (issue 12), checked in
Chromium at 390x844 and 1440x900: no user-entered text and no title widens a page, the map
editor's stage rows wrap (also after a refused form moves the focus), the header's "Log out"
stays on one line on a phone, the kaizen board's monthly table fits its box on a laptop, and
no page asks for a favicon that is not there. Each test saves a screenshot of what it checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from funnel.models import Deal
from kaizen.models import CycleComment, KaizenCycle
from streams.models import ProcessStep, UserProfile
from vsm_project.demo import DEMO_PASSWORD, SeedResult

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
VIEWPORTS = ["phone_page", "page"]  # 390x844 touch, 1440x900
LONG_WORD = "x" * 1200


def _fits(page: Page) -> None:
    """The page is no wider than the viewport (a phone's layout viewport grows with the
    content, so the width is compared with the viewport's, not ``window.innerWidth``)."""
    width = page.viewport_size["width"]
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll} px wide in a {width} px viewport"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_long_word_in_a_comment_or_a_deal_name_never_widens_the_page(
    request, viewport, demo: SeedResult
) -> None:
    page: Page = request.getfixturevalue(viewport)
    cycle = KaizenCycle.objects.order_by("pk").first()
    CycleComment.objects.create(cycle=cycle, author=None, body=f"See {LONG_WORD} please")
    deal = Deal.objects.filter(status="open").order_by("pk").first()
    Deal.objects.filter(pk=deal.pk).update(name=f"Deal {LONG_WORD[:190]}", account=LONG_WORD[:200])
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/kaizen/{cycle.pk}/")
    expect(page.get_by_text(LONG_WORD[:50], exact=False).first).to_be_visible()
    _fits(page)
    save_screenshot(page, f"review-kaizen-long-comment-{viewport}")
    for url in (f"/deals/{deal.pk}/", f"/deals/{deal.pk}/edit/", "/deals/?sort=name&q=xxxx"):
        page.goto(url)
        _fits(page)
    page.goto(f"/deals/{deal.pk}/")
    save_screenshot(page, f"review-deal-long-name-{viewport}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_log_out_stays_on_one_line_in_the_header(request, viewport, demo: SeedResult) -> None:
    page: Page = request.getfixturevalue(viewport)
    alice = get_user_model().objects.get(username="alice")
    UserProfile.objects.update_or_create(user=alice, defaults={"time_zone": "Europe/Berlin"})
    login(page, "alice", DEMO_PASSWORD)
    expect(page.locator("#tz-label")).to_contain_text("Europe/Berlin")
    for url in ("/", "/deals/", "/kaizen/", f"/dashboards/streams/{demo.stream_slug}/funnel/"):
        page.goto(url)
        lines = page.evaluate(
            """() => [...document.querySelectorAll('.usermenu a, .usermenu button')].map((e) => {
              const range = document.createRange();
              range.selectNodeContents(e);
              const boxes = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
              return [e.textContent.trim(), boxes.size];
            }).filter(([, n]) => n > 1)"""
        )
        assert lines == [], (url, lines)
        _fits(page)
    page.goto("/")
    save_screenshot(page, f"review-header-{viewport}")


def test_the_import_title_wraps_on_a_phone(phone_page: Page, demo: SeedResult) -> None:
    page = phone_page
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/deals/import/")
    page.get_by_label("Into value stream").select_option(label="New business (current state)")
    page.get_by_label("transitions", exact=False).check()
    page.get_by_label("File", exact=True).set_input_files(
        EXAMPLES / "salesforce_opportunity_history.csv"
    )
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="The first rows")).to_be_visible()
    expect(page.locator("h1")).to_contain_text("salesforce_opportunity_history.csv")
    _fits(page)
    save_screenshot(page, "review-import-map-390x844")


def test_the_map_editors_stage_rows_wrap_with_a_long_step_name(
    phone_page: Page, demo: SeedResult
) -> None:
    page = phone_page
    long_name = "Technical_validation_and_security_review"[:38]  # one word, as typed
    step = ProcessStep.objects.filter(stream__slug=demo.stream_slug).order_by("position").last()
    ProcessStep.objects.filter(pk=step.pk).update(name=long_name)
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/streams/{demo.stream_slug}/edit/")
    expect(page.locator("#add-stage-form")).to_be_attached()
    _fits(page)
    # A stage whose last step comes before its first: refused, and the focus goes to the field.
    form = page.locator("#add-stage-form")
    form.scroll_into_view_if_needed()
    page.locator("#add-stage-name").fill("Backwards")
    page.locator("#add-stage-first_step").select_option(index=5)
    page.locator("#add-stage-last_step").select_option(index=1)
    form.get_by_role("button", name="Add stage").click()
    expect(form.locator(".field-error, .form-errors").first).not_to_be_empty()
    _fits(page)
    assert page.evaluate("() => window.scrollX") == 0
    save_screenshot(page, "review-map-editor-stage-error-390x844")


def test_the_kaizen_boards_monthly_table_fits_its_box_on_a_laptop(
    page: Page, demo: SeedResult
) -> None:
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/kaizen/")
    table = page.locator("#cycles-per-month")
    expect(table).to_be_visible()
    fit = table.evaluate(
        """(t) => {
          const wrap = t.closest('.table-wrap');
          const months = [...t.querySelectorAll('tbody th')].map((th) => {
            const range = document.createRange();
            range.selectNodeContents(th);
            return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
          });
          const wrapped = months.filter((n) => n > 1).length;
          return {over: wrap.scrollWidth - wrap.clientWidth, wrapped: wrapped};
        }"""
    )
    assert fit == {"over": 0, "wrapped": 0}
    _fits(page)
    table.scroll_into_view_if_needed()
    save_screenshot(page, "review-kaizen-board-1440x900")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_no_page_asks_for_a_missing_favicon(request, viewport, demo: SeedResult) -> None:
    page: Page = request.getfixturevalue(viewport)
    missing: list[str] = []
    page.on("response", lambda r: r.status >= 400 and missing.append(f"{r.status} {r.url}"))
    login(page, "admin", DEMO_PASSWORD)
    for url in ("/admin/", "/admin/streams/team/", "/"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
    favicon = page.request.get("/favicon.ico")
    assert favicon.ok and "svg" in favicon.headers["content-type"]
    assert missing == []
