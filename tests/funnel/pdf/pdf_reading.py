"""Reading back a dashboard's PDF download in the tests: a real PDF (pypdf parses it), its
pages and their text."""

from __future__ import annotations

import io

from pypdf import PdfReader


def pdf_text(response) -> tuple[int, str]:
    """The number of pages and the text of a PDF response, after checking it is one: status
    200, ``application/pdf``, a download, ``%PDF-`` first."""
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # Text extraction breaks lines where the PDF does; the tests look for words and figures.
    return len(reader.pages), " ".join(text.split())


def page_size_mm(response) -> tuple[float, float]:
    reader = PdfReader(io.BytesIO(response.content))
    box = reader.pages[0].mediabox
    return float(box.width) * 25.4 / 72, float(box.height) * 25.4 / 72
