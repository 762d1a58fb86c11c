"""A manager maps a value stream in the browser from nothing, draws its future state and
compares the two; reps and leadership can look but not touch. Real Chromium, live server."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect

from streams.models import ProcessStep, Role, ValueStream
from tests.factories import PASSWORD, MembershipFactory, TeamFactory

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# (name, lane, PT h, LT h, %C&A, WIP). Hand-worked summary (metrics.md §3):
#   lead time    24 + 48 + 72 + 96 + 48 + 120 = 408 h = 17 d
#   process time 0.5 + 1 + 2 + 3 + 4 + 2.5    = 13 h
#   activity ratio 13 / 408 = 3.19 %
#   rolled %C&A  0.9 × 0.8 × 1 × 0.9 × 0.75 × 1 = 0.486 → 48.6 %
#   takt         400 available hours / 10 target wins = 40 h
STEPS = [
    ("Lead capture", "SDR", "0.5", "24", "90", "30"),
    ("Qualification call", "SDR", "1", "48", "80", "12"),
    ("Discovery meeting", "Account Executive", "2", "72", "100", "8"),
    ("Solution demo", "Account Executive", "3", "96", "90", "6"),
    ("Proposal", "Account Executive", "4", "48", "75", "5"),
    ("Negotiation", "Account Executive", "2.5", "120", "100", "4"),
]


@pytest.fixture
def team(transactional_db: None) -> SimpleNamespace:
    team = TeamFactory(name="Beta Sales")
    people = {
        role: MembershipFactory(team=team, role=role, user__username=f"beta-{role}").user
        for role in (Role.MANAGER, Role.REP, Role.LEADERSHIP)
    }
    return SimpleNamespace(team=team, **people)


def saved(page: Page) -> None:
    expect(page.locator("#save-status")).to_have_text("Saved.")


def add_step(page: Page, name: str, lane: str, pt: str, lt: str, ca: str, wip: str) -> None:
    form = page.locator("#add-step-form")
    form.get_by_label("Step name").fill(name)
    form.get_by_label("Lane").select_option(label=lane)
    form.get_by_label("Process time (hours)").fill(pt)
    form.get_by_label("Lead time (hours)").fill(lt)
    form.get_by_label("%C&A").fill(ca)
    form.get_by_label("WIP (deals)").fill(wip)
    form.get_by_role("button", name="Add step").click()
    saved(page)
    expect(page.locator(".step-item", has_text=name)).to_have_count(1)


def step_names(page: Page) -> list[str]:
    return page.locator(".step-item .step-title strong").all_inner_texts()


def test_a_manager_maps_a_stream_from_nothing_then_designs_and_compares_its_future(page, team):
    login(page, "beta-manager", PASSWORD)
    page.get_by_role("link", name="Map a value stream").first.click()
    page.get_by_label("Name").fill("Inbound")
    page.get_by_label("Target won deals per period").fill("10")
    page.get_by_label("Available selling hours per period").fill("400")
    page.get_by_role("button", name="Create the map").click()
    expect(page.get_by_role("heading", name=re.compile("Edit map: Inbound"))).to_be_visible()
    expect(page.locator(".step-item")).to_have_count(0)

    for lane in ("SDR", "Account Executive"):
        page.get_by_label("New lane").fill(lane)
        page.get_by_role("button", name="Add lane").click()
        saved(page)
    expect(page.locator("#lanes-title ~ form input[name=name]")).to_have_count(3)  # 2 + new

    # Added out of order on purpose: the last two are reordered below.
    for step in [STEPS[0], STEPS[1], STEPS[3], STEPS[4], STEPS[5], STEPS[2]]:
        add_step(page, *step)
    assert step_names(page)[-1] == "Discovery meeting"

    # Keyboard alternative: focus the ↑ button and press Enter, three times.
    for _ in range(3):
        page.get_by_role("button", name="Move Discovery meeting up").focus()
        page.keyboard.press("Enter")
        saved(page)
    assert step_names(page) == [s[0] for s in STEPS]

    # Drag and drop: Proposal onto Solution demo, then back with the arrow.
    page.locator(".step-item", has_text="Proposal").drag_to(
        page.locator(".step-item", has_text="Solution demo")
    )
    saved(page)
    assert step_names(page)[3:5] == ["Proposal", "Solution demo"]
    page.get_by_role("button", name="Move Proposal down").click()
    saved(page)
    assert step_names(page) == [s[0] for s in STEPS]

    # A validation message appears next to the field and nothing is saved.
    page.locator("details", has_text="Edit Proposal").locator("summary").click()
    edit = page.locator("details[open] form")
    edit.get_by_label("%C&A").fill("120")
    edit.get_by_role("button", name="Save step").click()
    proposal = ProcessStep.objects.get(name="Proposal")
    error = page.locator(f"#step-{proposal.pk}-planned_pct_complete_accurate-error")
    expect(error).to_contain_text("0 to 100")
    assert ProcessStep.objects.get(name="Proposal").planned_pct_complete_accurate == 75

    # A funnel stage over the first two steps, and a lane renamed.
    page.get_by_label("New stage").fill("Lead")
    page.locator("#add-stage-first_step").select_option(label="1. Lead capture")
    page.locator("#add-stage-last_step").select_option(label="2. Qualification call")
    page.get_by_role("button", name="Add stage").click()
    saved(page)
    stream = ValueStream.objects.get(name="Inbound")
    sdr = stream.lanes.get(name="SDR")
    page.locator(f"#lane-{sdr.pk}-name").fill("Sales development")
    page.locator(f"#lane-{sdr.pk}-name").press("Enter")
    saved(page)
    expect(page.locator(".preview .map-scroll svg .stage-band")).to_have_count(1)
    assert list(stream.steps.filter(stage__name="Lead").values_list("name", flat=True)) == [
        "Lead capture",
        "Qualification call",
    ]
    assert stream.lanes.filter(name="Sales development").exists()

    page.get_by_role("link", name="Done: view the map").click()
    expect(page.locator(".map-scroll svg g.process-box")).to_have_count(6)
    ids = page.locator(".map-scroll svg g.process-box").evaluate_all(
        "boxes => boxes.map(b => Number(b.dataset.stepId))"
    )
    assert ids == list(stream.steps.order_by("position").values_list("pk", flat=True))
    cards = page.locator(".summary-cards")
    expect(cards.locator("[data-figure=lead_time_hours] .planned strong")).to_have_text("17 d")
    expect(cards.locator("[data-figure=process_time_hours] .planned strong")).to_have_text("13 h")
    expect(cards.locator("[data-figure=activity_ratio] .planned strong")).to_have_text("3.2 %")
    expect(
        cards.locator("[data-figure=rolled_pct_complete_accurate] .planned strong")
    ).to_have_text("48.6 %")
    expect(cards.locator("[data-figure=takt_hours] .planned strong")).to_have_text("40 h")
    expect(cards.locator("[data-figure=lead_time_hours] .measured")).to_contain_text(
        "not measured yet"
    )
    save_screenshot(page, "map-built-in-browser-1440x900")

    # The future state: a linked copy, two steps shortened, then the comparison.
    page.get_by_role("button", name="Draw the future state").click()
    expect(page.get_by_role("heading", name=re.compile("Edit map: Inbound"))).to_contain_text(
        "Future state"
    )
    for name, lead in (("Solution demo", "48"), ("Negotiation", "72")):
        page.locator("details", has_text=f"Edit {name}").locator("summary").click()
        form = page.locator(f"details[open]:has-text('Edit {name}') form")
        form.get_by_label("Lead time (hours)").fill(lead)
        form.get_by_role("button", name="Save step").click()
        saved(page)
    page.get_by_role("link", name="Compare with current").click()
    rows = page.locator("table.compare tbody tr.changed")
    expect(rows).to_have_count(2)
    expect(page.locator("tr[data-step='Solution demo']")).to_contain_text("4 d → 2 d")
    expect(page.locator("tr[data-step='Negotiation']")).to_contain_text("5 d → 3 d")
    # future lead time 408 − 48 − 48 = 312 h = 13 d, 4 days shorter
    future = page.locator(".compare-grid section").nth(1)
    expect(future.locator("[data-figure=lead_time_hours] dd")).to_contain_text("13 d")
    expect(future.locator("[data-figure=lead_time_hours] .delta")).to_have_text("−4 d")
    save_screenshot(page, "compare-current-future-1440x900")


@pytest.mark.parametrize("who", ["rep", "leadership"])
def test_reps_and_leadership_view_the_map_but_cannot_edit_it(page, team, who):
    from streams.services import LaneSpec, StepSpec, stream_create

    stream = stream_create(
        team=team.team,
        name="Inbound",
        lanes=[LaneSpec("SDR")],
        steps=[StepSpec("Lead capture", "SDR", planned_lead_hours=24)],
    )
    login(page, f"beta-{who}", PASSWORD)
    page.goto(f"/streams/{stream.slug}/")
    expect(page.locator(".map-scroll svg g.process-box")).to_have_count(1)
    expect(page.get_by_role("link", name="Edit map")).to_have_count(0)
    expect(page.get_by_role("button", name="Draw the future state")).to_have_count(0)

    assert page.goto(f"/streams/{stream.slug}/edit/").status == 403
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(
        "/api/steps/",
        data={
            "stream": stream.pk,
            "version": stream.version,
            "name": "Sneaky",
            "lane": stream.lanes.get().pk,
        },
        headers={"X-CSRFToken": csrf, "Referer": page.url},
    )
    assert forged.status == 403
    forged_future = page.request.post(
        f"/streams/{stream.slug}/future/", headers={"X-CSRFToken": csrf, "Referer": page.url}
    )
    assert forged_future.status == 403
    assert list(stream.steps.values_list("name", flat=True)) == ["Lead capture"]
    assert ValueStream.objects.count() == 1


def test_a_save_based_on_a_stale_map_is_refused_with_a_message(browser, live_server, team):
    from streams.services import LaneSpec, StepSpec, stream_create

    stream = stream_create(
        team=team.team,
        name="Inbound",
        lanes=[LaneSpec("SDR")],
        steps=[StepSpec("Lead capture", "SDR", planned_lead_hours=24)],
    )
    pages = []
    for _ in range(2):
        context = browser.new_context(base_url=live_server.url)
        pages.append(context.new_page())
        login(pages[-1], "beta-manager", PASSWORD)
        pages[-1].goto(f"/streams/{stream.slug}/edit/")
    first, second = pages
    first.get_by_label("New lane").fill("Legal")
    first.get_by_role("button", name="Add lane").click()
    saved(first)

    second.get_by_label("New lane").fill("Finance")
    second.get_by_role("button", name="Add lane").click()
    banner = second.locator("#conflict")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("changed by beta-manager")
    assert sorted(stream.lanes.values_list("name", flat=True)) == ["Legal", "SDR"]
    second.get_by_role("button", name="Reload the map").click()
    legal = stream.lanes.get(name="Legal")
    expect(second.locator(f"#lane-{legal.pk}-name")).to_have_value("Legal")
    for p in pages:
        p.context.close()
