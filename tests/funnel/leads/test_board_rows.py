"""The board's rows are written in Python (funnel/leads/board_rows.py, board_row_html) and the
row of a refused decision by board.html: the two give the same markup for the same row, for
each viewer (an SDR deciding, a manager who also decides at the pull hand-off, a seller who
pulls, leadership reading), with an odd lead name escaped alike."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from .conftest import lead

pytestmark = pytest.mark.django_db


def _tbody(page: str) -> str:
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "csrf", body)  # one per request
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", body)).strip()


def _board(client, ns, query: str = "") -> str:
    url = reverse("leads:board", kwargs={"slug": ns.stream.slug}) + query
    return client.get(url).content.decode()


@pytest.mark.parametrize("viewer", ["sdr", "manager", "seller1", "leader"])
@pytest.mark.parametrize("query", ["", "?handoff=first"])
def test_python_rows_match_the_templates_rows(client, leads, monkeypatch, viewer, query):
    now = timezone.now()
    for k, name in enumerate(['<b>"Tom" & Co</b>', "Plain lead", "Old lead"]):
        arrived = now - timedelta(hours=1 + 3 * k)  # within, past the SLA, escalated
        lead(
            leads,
            ("Capture", (arrived - timedelta(hours=1)).isoformat()),
            ("MQL", arrived.isoformat()),
            name=name,
        )
        lead(
            leads,
            ("Qualify", (arrived - timedelta(hours=1)).isoformat()),
            ("SQL", arrived.isoformat()),
            name=f"{name} ready",
        )
    if query:
        query = f"?handoff={leads.stream.handoffs.order_by('position').first().pk}"
    client.force_login(getattr(leads, viewer))
    written = _board(client, leads, query)
    monkeypatch.setattr("funnel.leads.views.board_row_html", lambda item, **kw: "")
    templated = _board(client, leads, query)
    assert "<b>" not in written and "&lt;b&gt;&quot;Tom&quot; &amp; Co&lt;/b&gt;" in written
    assert 'class="arrival' in written
    assert _tbody(written) == _tbody(templated)
