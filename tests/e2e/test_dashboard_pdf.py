"""A dashboard's "Download PDF" in Chromium on the demo data: the link keeps the page's
filters, the browser receives a PDF download that holds the stream and the view."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from vsm_project.demo import DEMO_PASSWORD

from .conftest import fits_width, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def download_pdf(page: Page, tmp_path) -> tuple[str, str]:
    """Click the page's "Download PDF"; the file's name and its text (pypdf)."""
    link = page.get_by_role("link", name="Download PDF")
    expect(link).to_be_visible()
    started = time.monotonic()
    # Generous: the machine that runs the suite is shared; docs/pdf.md gives the usual times.
    with page.expect_download(timeout=90_000) as download:
        link.click()
    print(f"PDF {download.value.suggested_filename}: {time.monotonic() - started:.1f} s")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF-")
    text = "\n".join(p.extract_text() for p in PdfReader(path).pages)
    return download.value.suggested_filename, " ".join(text.split())


def test_download_pdf_of_a_dashboard_keeps_its_filters(page, demo, tmp_path):
    page.set_default_navigation_timeout(60_000)  # the figures are computed on first view
    login(page, "vp", DEMO_PASSWORD)
    page.goto(f"/dashboards/streams/{demo.stream_slug}/flow/?period=30d")
    href = page.get_by_role("link", name="Download PDF").get_attribute("href")
    assert href == f"/dashboards/streams/{demo.stream_slug}/flow/pdf/?period=30d"
    name, text = download_pdf(page, tmp_path)
    assert name == f"{demo.stream_slug}-flow.pdf"
    assert "Flow ·" in text and "Last 30 days" in text and "Page 1 of" in text
    assert "Throughput" in text  # a chart's title, printed with its table


def test_download_pdf_of_the_discovery_dashboard_on_a_phone(phone_page, demo, tmp_path):
    phone_page.set_default_navigation_timeout(60_000)
    login(phone_page, "manager", DEMO_PASSWORD)
    phone_page.goto(f"/dashboards/streams/{demo.stream_slug}/discovery/")
    expect(phone_page.locator("svg.dfg")).to_be_visible()
    assert fits_width(phone_page)
    name, text = download_pdf(phone_page, tmp_path)
    assert name == f"{demo.stream_slug}-discovery.pdf"
    assert ("Discovery ·" in text and "Variants" in text) or "variant" in text
