"""The demo's current-state map in Chromium: downloads that open elsewhere, fit to width,
and a phone layout where only the map frame scrolls sideways."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import pytest
from playwright.sync_api import expect

from vsm_project.demo import DEMO_PASSWORD

from .conftest import fits_width, login, save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_map_downloads_as_svg_and_png(page, demo, tmp_path):
    login(page, "manager", DEMO_PASSWORD)
    page.goto(f"/streams/{demo.stream_slug}/")
    expect(page.locator("#map-frame svg g.process-box")).to_have_count(8)
    save_screenshot(page, "demo-map-1440x900")

    with page.expect_download() as svg_download:
        page.get_by_role("link", name="Download SVG").click()
    svg_path = tmp_path / svg_download.value.suggested_filename
    svg_download.value.save_as(svg_path)
    assert svg_path.suffix == ".svg"
    root = ET.parse(svg_path).getroot()
    width, height = float(root.get("width")), float(root.get("height"))
    assert len([g for g in root.iter() if g.get("data-step-id")]) == 8

    with page.expect_download() as png_download:
        page.get_by_role("button", name="Download PNG").click()
    png_path = tmp_path / png_download.value.suggested_filename
    png_download.value.save_as(png_path)
    assert png_path.suffix == ".png"
    assert png_size(png_path.read_bytes()) == (round(2 * width), round(2 * height))

    # The downloaded SVG opens on its own in a browser, with every box drawn.
    page.goto(svg_path.as_uri())
    expect(page.locator("g.process-box")).to_have_count(8)


def test_fit_to_width_shows_the_whole_map(page, demo):
    login(page, "vp", DEMO_PASSWORD)
    page.goto(f"/streams/{demo.stream_slug}/")
    frame = page.locator("#map-frame")
    svg = frame.locator("svg")
    assert svg.bounding_box()["width"] > frame.bounding_box()["width"]
    page.get_by_role("button", name="Fit to width").click()
    expect(page.get_by_role("button", name="Actual size")).to_have_attribute("aria-pressed", "true")
    assert svg.bounding_box()["width"] <= frame.bounding_box()["width"]


def test_on_a_phone_only_the_map_frame_scrolls_sideways(phone_page, demo):
    login(phone_page, "alice", DEMO_PASSWORD)
    phone_page.goto(f"/streams/{demo.stream_slug}/")
    expect(phone_page.locator("#map-frame svg g.process-box")).to_have_count(8)
    assert fits_width(phone_page), "the page itself scrolls sideways"
    save_screenshot(phone_page, "demo-map-390x844")
