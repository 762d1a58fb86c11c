"""Uploads are untrusted: checked by content, named safely, within the size limit."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from funnel.assets.files import check_upload, safe_name
from funnel.assets.uploads import AssetUploadLimit, OversizedUpload
from tests.funnel.assets.conftest import PDF, PNG, docx_bytes, upload


def _reason(name: str, data: bytes, **kwargs) -> str:
    with pytest.raises(ValidationError) as caught:
        check_upload(upload(name, data), **kwargs)
    return caught.value.message_dict["file"][0]


def test_accepted_types_are_told_by_content() -> None:
    assert check_upload(upload("a.pdf", PDF)).content_type == "application/pdf"
    assert check_upload(upload("a.png", PNG)).content_type == "image/png"
    assert check_upload(upload("a.docx", docx_bytes())).content_type.endswith("document")
    checked = check_upload(upload("prices.csv", b"name,price\nA,1\n"))
    assert (checked.content_type, checked.size, len(checked.sha256)) == ("text/csv", 15, 64)


def test_html_disguised_as_pdf_is_refused() -> None:
    html = b"<html><script>alert(1)</script></html>"
    assert "not a PDF" in _reason("report.pdf", html)
    assert "not accepted" in _reason("report.html", html)
    assert "not plain UTF-8 text" in _reason("report.csv", html)


def test_svg_with_script_is_refused() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert ".svg are not accepted" in _reason("logo.svg", svg)
    assert "not that image type" in _reason("logo.png", svg)


def test_a_zip_that_is_not_office_is_refused() -> None:
    assert "not a Word document" in _reason("deck.docx", b"PK\x03\x04garbage")
    assert "not a Excel workbook" in _reason("m.xlsx", docx_bytes())


def test_oversized_file_is_refused(settings) -> None:
    assert "larger than the limit of 0.0001 MB" in _reason("a.pdf", PDF + b"x" * 200, max_bytes=105)
    settings.ASSETS_MAX_BYTES = 25 * 1024 * 1024
    big = upload("a.pdf", PDF)
    big.size = 26 * 1024 * 1024  # refused from the declared size, before reading
    with pytest.raises(ValidationError, match="limit of 25 MB"):
        check_upload(big)


def test_names_cannot_escape() -> None:
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\win.ini") == "win.ini"
    assert safe_name("/abs/Prix ÉTÉ 2026.pdf") == "Prix_ETE_2026.pdf"
    assert safe_name("..") == "file"
    assert safe_name(".htaccess") == "htaccess"
    assert len(safe_name("x" * 500 + ".pdf")) == 120


def test_an_upload_stops_being_kept_as_soon_as_it_passes_the_limit(settings) -> None:
    settings.ASSETS_MAX_BYTES = 100
    request = RequestFactory().post("/assets/1/versions/new/")
    handler = AssetUploadLimit(request)
    handler.new_file("file", "big.pdf", "application/pdf", 500)
    assert handler.receive_data_chunk(b"x" * 60, 0) == b"x" * 60
    assert handler.receive_data_chunk(b"x" * 60, 60) is None  # the next handlers get no more
    assert handler.receive_data_chunk(b"x" * 60, 120) is None
    refused = handler.file_complete(180)
    assert isinstance(refused, OversizedUpload) and refused.size == 180
    assert refused.read() == b""
    with pytest.raises(ValidationError, match="larger than the limit"):
        check_upload(refused)
    # Elsewhere (the import's uploads) it passes everything on.
    other = AssetUploadLimit(RequestFactory().post("/import/"))
    other.new_file("file", "big.csv", "text/csv", 500)
    assert other.receive_data_chunk(b"x" * 600, 0) == b"x" * 600
    assert other.file_complete(600) is None


def test_an_oversized_upload_on_the_pages_and_the_api_says_why_and_stores_nothing(
    settings, client, api_client, team_setup
) -> None:
    from django.urls import reverse

    from funnel.assets import services
    from funnel.assets.models import AssetVersion

    settings.ASSETS_MAX_BYTES = 1000
    assert settings.FILE_UPLOAD_HANDLERS[0] == "funnel.assets.uploads.AssetUploadLimit"
    ns = team_setup
    asset = services.asset_create(
        user=ns.manager_a, team=ns.team_a, title="Deck", link="https://wiki.example/deck"
    )
    big = PDF + b"x" * 5000
    client.force_login(ns.manager_a)
    page = client.post(
        reverse("assets:version_new", args=[asset.pk]),
        {"file": upload("deck.pdf", big), "change_note": "bigger"},
    )
    assert page.status_code == 400 and b"larger than the limit" in page.content
    api_client.force_authenticate(ns.manager_a)
    answer = api_client.post(
        "/api/asset-versions/",
        {"asset": asset.pk, "file": upload("deck.pdf", big), "change_note": "bigger"},
        format="multipart",
    )
    assert answer.status_code == 400 and "larger than the limit" in answer.json()["file"][0]
    assert AssetVersion.objects.filter(asset=asset).count() == 1
