"""A manager brings a Salesforce stage history in through the browser wizard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from funnel.models import Deal
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_a_manager_imports_a_crm_stage_history_with_the_wizard(page, demo):
    stages = json.loads((EXAMPLES / "mapping.json").read_text())["steps"]
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/deals/?scope=team")
    page.get_by_role("link", name="Import history").click()

    page.get_by_label("Into value stream").select_option(label="New business (current state)")
    page.get_by_label("transitions", exact=False).check()
    page.get_by_label("File", exact=True).set_input_files(
        EXAMPLES / "salesforce_opportunity_history.csv"
    )
    page.get_by_role("button", name="Upload and preview").click()

    expect(page.get_by_role("heading", name="The first rows")).to_be_visible()
    expect(page.locator(".preview-table tbody tr")).to_have_count(5)
    needs = page.locator(".field.has-error select")
    assert needs.count() > 0  # stages the stream lacks are asked for
    for label, step in stages.items():
        select = page.get_by_label(label, exact=True)
        if select.count():
            select.select_option(label=step)
    page.get_by_role("button", name="Check the whole file").click()
    expect(page.get_by_role("heading", name="The file checks out")).to_be_visible()
    save_screenshot(page, "import-checked-1440x900")

    page.get_by_role("button", name="Import now").click()
    expect(page.locator("#job-status .state")).to_have_text("Done")
    expect(page.locator("#job-done")).to_contain_text("Deals created: 4")
    page.get_by_role("link", name="Continue").click()
    assert Deal.objects.filter(external_id="0061x00000XyZ01").exists()


def test_a_file_with_problems_shows_every_bad_row(page, demo, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "deal_id,step,entered_at,exited_at\n"
        "B1,Lead capture,2025-03-01T09:00:00Z,2025-02-01T09:00:00Z\n"
        "B2,Nowhere,2025-03-01T09:00:00Z,\n"
        'B3,Lead capture,=HYPERLINK("x"),\n'
    )
    login(page, "manager", DEMO_PASSWORD)
    page.goto("/deals/import/")
    page.get_by_label("visits", exact=False).check()
    page.get_by_label("File", exact=True).set_input_files(bad)
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_label("Nowhere", exact=True).select_option(label="Lead nurturing")
    page.get_by_role("button", name="Check the whole file").click()
    alert = page.locator(".check-failed")
    expect(alert).to_contain_text("Nothing was imported")
    rows = alert.locator("table.errors tbody tr td:first-child").all_inner_texts()
    assert set(rows) >= {"2", "4"}
    with page.expect_download() as download:
        alert.get_by_role("link", name="Download every problem as CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("row,column,reason")
    assert not Deal.objects.filter(external_id__startswith="B").exists()


CRM = Path(__file__).resolve().parents[1] / "funnel" / "data" / "crm_sales_pipeline.csv"


def test_a_manager_imports_a_one_row_per_deal_crm_export_mapping_an_agent_name(page, demo):
    """The public "CRM sales opportunities" shape: agents by display name, Prospecting deals
    without an engage date. Started from the map page, so the wizard is on its stream."""
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/streams/{demo.stream_slug}/")
    page.get_by_role("link", name="Import history").click()
    expect(page.get_by_label("Into value stream")).to_have_value(
        str(Deal.objects.filter(stream__slug=demo.stream_slug).first().stream_id)
    )
    page.get_by_label("wide", exact=False).check()
    page.get_by_label("File", exact=True).set_input_files(CRM)
    page.get_by_role("button", name="Upload and preview").click()

    # Every agent is listed, kept as a name unless the manager gives them to a member.
    owners = page.get_by_role("region", name="Owners in the file")
    expect(owners.get_by_role("combobox")).to_have_count(6)
    darcel = page.get_by_label("Darcel Schlecht", exact=False)
    expect(darcel).to_have_value("")
    darcel.select_option(value="alice")
    # Outcome stages are proposed as outcomes.
    expect(page.get_by_label("Won", exact=True)).to_have_value("won")
    save_screenshot(page, "import-crm-owners-1440x900")
    page.get_by_role("button", name="Check the whole file").click()

    verdict = page.locator("#verdict")
    expect(verdict.get_by_role("heading", name="The file checks out")).to_be_visible()
    expect(verdict).to_contain_text("8 deals without an engage date (Prospecting (8))")
    expect(verdict).to_contain_text("5 owner names are not a team member")
    page.get_by_role("button", name="Import now").click()
    expect(page.locator("#job-status .state")).to_have_text("Done")
    alice = Deal.objects.filter(owner__username="alice", external_id__regex=r"^[A-Z0-9]{8}$")
    assert alice.count() == CRM.read_text().count(",Darcel Schlecht,")
    assert Deal.objects.filter(owner_name="Zane Levy").exists()

    # The dashboards filter by an agent kept as a name.
    page.goto(f"/dashboards/streams/{demo.stream_slug}/funnel/")
    page.get_by_label("Imported owner").select_option("Zane Levy")
    expect(page).to_have_url(re.compile(r"owner_name=Zane\+Levy"))

    # The next upload of the same report starts from the mapping chosen now.
    page.goto(f"/deals/import/?stream={demo.stream_slug}")
    page.get_by_label("wide", exact=False).check()
    page.get_by_label("File", exact=True).set_input_files(CRM)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#mapping-source")).to_contain_text("last time")
    expect(page.get_by_label("Darcel Schlecht", exact=False)).to_have_value("alice")


def test_the_wizard_works_on_a_phone(phone_page, demo):
    login(phone_page, "manager", DEMO_PASSWORD)
    phone_page.goto(f"/deals/import/?stream={demo.stream_slug}")
    phone_page.get_by_label("wide", exact=False).check()
    phone_page.get_by_label("File", exact=True).set_input_files(CRM)
    phone_page.get_by_role("button", name="Upload and preview").click()
    owners = phone_page.get_by_role("region", name="Owners in the file")
    expect(owners).to_be_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    save_screenshot(phone_page, "import-crm-owners-390x844")


def test_a_manager_imports_salesforce_leads_with_their_lead_export(page, demo):
    """The lead formats (docs/importing.md, "Leads from HubSpot and Salesforce"): the lead
    history and the Lead export go up together; lost statuses come recognised."""
    steps = json.loads((EXAMPLES / "leads_mapping.json").read_text())["steps"]
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/deals/import/?stream={demo.stream_slug}")
    page.get_by_role("radio", name="sf_leads", exact=False).check()
    page.get_by_label("File", exact=True).set_input_files(EXAMPLES / "salesforce_lead_history.csv")
    page.get_by_label("Salesforce Lead export", exact=False).set_input_files(
        EXAMPLES / "salesforce_leads.csv"
    )
    page.get_by_role("button", name="Upload and preview").click()

    expect(page.get_by_label("Unqualified", exact=True)).to_have_value("lost")
    for status in ("Open - Not Contacted", "Working - Contacted", "Closed - Converted"):
        page.get_by_label(status, exact=True).select_option(label=steps[status])
    page.get_by_role("button", name="Check the whole file").click()
    expect(page.get_by_role("heading", name="The file checks out")).to_be_visible()
    page.get_by_role("button", name="Import now").click()
    expect(page.locator("#job-done")).to_contain_text("Deals created: 5")
    assert Deal.objects.get(external_id="00Q5g00000AbCdE2EAJ").status == "lost"
