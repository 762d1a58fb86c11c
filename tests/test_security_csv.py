"""No CSV the product writes carries a live spreadsheet formula (OWASP "CSV injection"): every
dashboard download, found from the CSV links the pages show, with steps and funnel stages
named like formulas; and the shared rule itself (funnel.exporting.csv_safety)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.cache import cache
from django.db import connection

from funnel.exporting.csv_safety import is_formula, neutralise, unneutralise
from funnel.metrics.query import MetricsFilters, MetricsQuery
from funnel.models import Visit
from tests.factories import DealFactory, VisitFactory

# The dashboards' stored-snapshot fixtures: the pages are drawn from figures built by hand.
from tests.funnel.test_dashboards import (  # noqa: F401 (fixtures)
    BOARDS,
    board,
    client_for,
    empty_cache,
    frozen,
    store,
    url,
)

pytestmark = pytest.mark.django_db

NAMES = [
    '=HYPERLINK("http://x.example","Click")',
    "+1",
    "-1",
    "@SUM(A1)",
    " =1",
    "\t=1",
    "\r=1",
    "＝1",
    "=cmd|' /C calc'!A0",
]

# --- The rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://x.example","Click")',
        "@SUM(A1)",
        "=1",
        " =1",
        "\t=1",
        "\r=1",
        "\n=1",
        "＝1",
        "＠SUM(A1)",
        "＋cmd",
        "-2+3*cmd|' /C calc'!A0",
        "+A1",
    ],
)
def test_it_neutralises_a_formula_and_takes_the_quote_back(cell):
    assert is_formula(cell)
    assert neutralise(cell) == "'" + cell
    assert not is_formula(neutralise(cell))
    assert unneutralise(neutralise(cell)) == cell
    # Quotes before a formula get one more, so the round trip is exact.
    assert unneutralise(neutralise("''" + cell)) == "''" + cell


@pytest.mark.parametrize(
    "cell", ["", "-1", "+1", "-5", "+49 30 1234", "2025-03-03", "-", "Demo", "'s-Hertogenbosch"]
)
def test_it_leaves_numbers_dates_and_text_as_they_are(cell):
    assert not is_formula(cell)
    assert neutralise(cell) == cell
    assert unneutralise(cell) == cell


# --- Every dashboard download ---------------------------------------------------------------

CSV_LINK = re.compile(r'href="([^"]+\.csv(?:\?[^"]*)?)"')


def downloads(client, page: str) -> list[str]:
    response = client.get(page)
    assert response.status_code == 200, page
    return [link.replace("&amp;", "&") for link in CSV_LINK.findall(response.content.decode())]


@pytest.mark.parametrize("name", NAMES)
def test_no_dashboard_download_carries_a_live_formula_from_a_step_or_stage_name(board, name):  # noqa: F811
    for i, step in enumerate(board.steps_a):
        step.name = name if i == 0 else f"{name} step {i}"
        step.save(update_fields=["name"])
    for i, stage in enumerate(board.stages):
        stage.name = name if i == 0 else f"{name} stage {i}"
        stage.save(update_fields=["name"])
    mine = MetricsQuery(
        stream_id=board.stream_a.pk, filters=MetricsFilters(owner_id=board.rep_a1.pk)
    )
    store(board, mine, win_rate=0.5, size=3)
    store(
        board,
        MetricsQuery(
            stream_id=board.stream_a.pk,
            filters=MetricsFilters(owner_id=board.rep_a1.pk),
            previous=True,
        ),
        win_rate=0.5,
        size=3,
    )
    cache.clear()
    leader, rep = client_for(board.leader_a), client_for(board.rep_a1)
    team = f"/dashboards/teams/{board.team_a.slug}/"
    links = [(leader, link) for page in BOARDS for link in downloads(leader, url(board, page))]
    links += [(leader, link) for link in downloads(leader, team)]
    links += [(rep, link) for link in downloads(rep, url(board, "me"))]
    assert len({link for _, link in links}) == len(links) >= 23
    carrying = 0
    for client, link in links:
        response = client.get(link)
        assert response.status_code == 200, link
        cells = [c for row in csv.reader(io.StringIO(response.content.decode())) for c in row]
        live = [c for c in cells if is_formula(c)]
        assert not live, f"{link} carries live formulas {live}"
        carrying += any(unneutralise(c).startswith(name) for c in cells)
    # The names reach the downloads that label rows or columns with steps or stages.
    assert carrying >= 13


# --- The event-log export: the PostgreSQL COPY path -----------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the COPY path of the export is PostgreSQL's"
)
def test_the_copy_export_writes_the_same_cells_as_the_portable_one(team_setup):
    """Every tricky cell: formulas (leading blanks, full-width, quotes before one), plain
    numbers and phone numbers, quotes, commas, a line break, non-ASCII, empty and NULL."""
    from funnel.exporting.csv_export import _export_csv_copy, _export_csv_rows

    ns = team_setup
    names = [*NAMES, "''=1", "'s-Hertogenbosch", "+49 30 1234", 'A "quoted", name', "two\nlines"]
    names += ["Ærøskøbing ＝ fine", "-", "", "@", "＋cmd", " 12.5 "]
    for i, name in enumerate(names):
        deal = DealFactory(
            stream=ns.stream_a,
            external_id=f"X-{i:02d}",
            name=name or "unnamed",
            account=name,
            source=name[:40],
            lost_reason="",
        )
        VisitFactory(
            deal=deal,
            step=ns.steps_a[i % 3],
            entered_at=ns.t,
            actor=None if i % 2 else ns.rep_a1,
            actor_name=name[:80] if i % 2 else "",
        )
    ns.steps_a[0].name = '=HYPERLINK("x")'
    ns.steps_a[0].save(update_fields=["name"])

    def cells(chunks) -> list[list[str]]:
        return list(csv.reader(io.StringIO("".join(chunks))))

    copied = cells(_export_csv_copy(ns.stream_a, chunk=64))
    assert copied == cells(_export_csv_rows(ns.stream_a))
    assert len(copied) == 1 + Visit.objects.filter(deal__stream=ns.stream_a).count()
    assert len("".join(_export_csv_copy(ns.stream_a, chunk=64))) > 64  # many chunks, joined
    assert not [c for row in copied for c in row if is_formula(c)]
