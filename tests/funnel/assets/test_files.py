"""Uploads are untrusted: checked by content, named safely, within the size limit."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from funnel.assets.files import check_upload, safe_name
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
