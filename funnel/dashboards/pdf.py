"""A dashboard as one PDF, for the people who print (docs/pdf.md).

Every dashboard hands :func:`pdf_response` a :class:`PdfDocument`: its title, the stream (or
team), the filters and the window it shows, when its figures were computed, its headline
tiles and one :class:`PdfTable` per chart or table of the page, each with the explanation the
page gives beside it. ``templates/pdf/dashboard.html`` lays that out with the print
stylesheet ``static/css/pdf.css`` (A4 landscape, the title and page numbers on every page)
and WeasyPrint turns it into PDF.

Charts are printed as the numbers they plot (the chart's data table, the same rows as its
CSV), not as pictures: Plotly's static export needs a headless Chromium per PDF, which took
5 to 22 s for a dashboard's figures on this machine and is not there on a server without a
browser (docs/pdf.md "Why tables"). Drawings the server makes itself as SVG (the Discovery
graph) are printed as drawings.

WeasyPrint fetches nothing from the network: :class:`StaticOnlyFetcher` answers only URLs of
our own static files, read from disk, and refuses every other URL (a link or an image a user
typed into a step name can never make the server call out).

WeasyPrint needs the Pango library of the system; it is imported only when a PDF is made,
so a machine without Pango runs everything else and answers the PDF download with a 503
that says what is missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString

from funnel.dashboards.charts import Chart, Tile

logger = logging.getLogger(__name__)
# WeasyPrint logs each step of every PDF at INFO; only its warnings are worth a log line.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

#: At most this many rows of a chart's data table are printed; the CSV holds them all. WeasyPrint
#: took about 40 ms a table row on the shared test machine under load (600 rows: 26 s), so the
#: PDF prints a summary of each long table, not all of it (docs/pdf.md "Time").
PDF_ROWS = 40
#: The origin the PDF's HTML is given as its base URL: no real host, so a relative URL can
#: only resolve under it, and :class:`StaticOnlyFetcher` serves only its static paths.
BASE_URL = "https://pdf.invalid/"
STYLESHEET = "css/pdf.css"


@dataclass
class PdfTable:
    """One chart or table of a dashboard as printed: its title and explanation, the numbers
    (formatted cells under ``columns``) or why there are none (``empty``), and a drawing
    when the server made one (``svg``, our own markup)."""

    title: str
    how_to_read: str = ""
    units: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int = 0
    captions: list[str] = field(default_factory=list)
    note: str = ""
    empty: str = ""
    svg: SafeString | None = None

    @property
    def truncated(self) -> bool:
        return self.total_rows > len(self.rows)


@dataclass
class PdfDocument:
    """A dashboard as printed. ``filters``: (label, value) pairs of the view shown;
    ``period``: the window in words; ``computed_at``: when its figures were computed."""

    title: str
    subject: str  # the stream's (or team's) name
    team: str
    filename: str
    lede: str = ""
    period: str = ""
    filters: list[tuple[str, str]] = field(default_factory=list)
    computed_at: datetime | None = None
    stale: bool = False
    tiles: list[Tile] = field(default_factory=list)
    tables: list[PdfTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def chart_table(chart: Chart, limit: int = PDF_ROWS) -> PdfTable:
    """A chart card as printed: its explanation and the numbers it plots (the first
    ``limit`` rows of its data table); the figures' captions name its small multiples."""
    return PdfTable(
        title=chart.title,
        units=chart.units,
        how_to_read=chart.how_to_read,
        columns=[str(c) for c in chart.columns],
        rows=[cells for _, cells in chart.table(limit)] if chart.has_data else [],
        total_rows=len(chart.rows) if chart.has_data else 0,
        captions=[f.caption for f in chart.figures if f.caption],
        note=chart.note,
        empty="" if chart.has_data else (chart.empty or "Nothing to chart in this view."),
    )


def filter_pairs(labels: dict[str, str], values: dict[str, str], names: dict[str, dict]):
    """The view's filters as (label, value) pairs in ``labels``' order, empty ones left out;
    ``names`` turns a stored value into its name (``{"owner": {"7": "Alice"}}``)."""
    pairs = []
    for key, label in labels.items():
        value = values.get(key)
        if value:
            pairs.append((label, names.get(key, {}).get(str(value), str(value))))
    return pairs


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or the Pango library it needs) is not installed on this machine."""


def _static_path(url: str) -> Path | None:
    """The file of one of our static files named by ``url`` (under :data:`BASE_URL` and
    ``STATIC_URL``), or None."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}/" != BASE_URL:
        return None
    static = "/" + settings.STATIC_URL.strip("/") + "/"
    if not parts.path.startswith(static):
        return None
    relative = unquote(parts.path[len(static) :])
    if not relative or ".." in relative.split("/"):
        return None
    found = finders.find(relative)
    if found:
        return Path(found)
    root = getattr(settings, "STATIC_ROOT", None)
    candidate = Path(root, relative) if root else None
    return candidate if candidate and candidate.is_file() else None


def _fetcher_class():
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):
        """Answers our own static files from disk and refuses every other URL, so making a
        PDF never reaches the network or another file of the server."""

        def fetch(self, url, headers=None):
            path = _static_path(url)
            if path is None:
                logger.info("PDF: refused to fetch %s", url[:200])
                raise ValueError(f"Not one of our static files: {url[:200]}")
            media = "text/css" if path.suffix == ".css" else "application/octet-stream"
            return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": media})

    return StaticOnlyFetcher


def fetcher():
    """The URL fetcher every PDF is made with (:class:`StaticOnlyFetcher`)."""
    try:
        return _fetcher_class()()
    except (ImportError, OSError) as exc:  # no WeasyPrint, or no Pango under it
        raise PdfUnavailable(str(exc)) from exc


def render_pdf(document: PdfDocument, *, now: datetime | None = None) -> bytes:
    """The PDF of ``document``; "generated at" is ``now`` in the current time zone."""
    generated = timezone.localtime(now or timezone.now())
    html = render_to_string(
        "pdf/dashboard.html",
        {
            "doc": document,
            "generated_at": generated,
            "zone": timezone.get_current_timezone_name(),
            "row_limit": PDF_ROWS,
            "stylesheet": f"{settings.STATIC_URL.rstrip('/')}/{STYLESHEET}",
        },
    )
    url_fetcher = fetcher()
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise PdfUnavailable(str(exc)) from exc
    return HTML(string=html, base_url=BASE_URL, url_fetcher=url_fetcher).write_pdf()


def pdf_response(request: HttpRequest, document: PdfDocument) -> HttpResponse:
    """The PDF as a download named ``document.filename``; a 503 saying so when this machine
    cannot make PDFs."""
    try:
        content = render_pdf(document)
    except PdfUnavailable as exc:
        logger.warning("PDF export unavailable: %s", exc)
        return not_ready(
            request,
            title=document.title,
            subject=document.subject,
            message="This server cannot make PDFs: the WeasyPrint library or the Pango "
            "library it needs is not installed (see docs/pdf.md). The CSV downloads of "
            "each chart work.",
            status=503,
        )
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    return response


def not_ready(
    request: HttpRequest,
    *,
    title: str,
    subject: str,
    message: str,
    status: int = 202,
    back: str = "",
) -> HttpResponse:
    """The page a PDF link answers when there is nothing to print yet (the figures are
    being computed, or the dashboard has nothing to show): what is missing and the way back."""
    return render(
        request,
        "pdf/not_ready.html",
        {"title": title, "subject": subject, "message": message, "back": back},
        status=status,
    )
