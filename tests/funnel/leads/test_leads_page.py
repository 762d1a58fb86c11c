"""The Leads dashboard's page (funnel.dashboards.leads): who may read it, the view's filters
in the URL and the 400s naming a bad one, the empty states, the CSV of each chart, the
rep's own rows, and the view computed in the background with its progress. The stored
result is the hand-written one of ``leads_fixture`` unless a test computes it for real."""

from __future__ import annotations

import csv
import io
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from funnel.dashboards.leads import leads_board, leads_result_for
from funnel.leads.models import Handoff, LeadsSnapshot, Waterfall
from funnel.leads.snapshots import leads_signature, leads_view_from_params
from streams.models import Job, JobState
from tests.factories import PASSWORD
from tests.funnel.leads.conftest import lead
from tests.funnel.leads.leads_fixture import empty_result, leads_result


@pytest.fixture(autouse=True)
def _no_clock_tick(monkeypatch):
    """A view as of now is stale every five minutes; the tests read their stored result
    within one tick."""
    monkeypatch.setattr("funnel.leads.snapshots._tick", lambda live, now: "")


def store(stream, result: dict, params: dict | None = None) -> LeadsSnapshot:
    """``result`` stored as the job would store the view ``params`` (default: the default
    view): under its key, computed now, with the stream's current signature."""
    now = timezone.now()
    _, key, _ = leads_view_from_params(stream, params or {}, now=now)
    snapshot, _ = LeadsSnapshot.objects.update_or_create(
        stream=stream,
        view_key=key,
        defaults={
            "computed_at": now,
            "requested_at": now,
            "source_signature": leads_signature(stream),
            "result": result,
        },
    )
    return snapshot


@pytest.fixture
def board(leads):
    ns = leads
    ns.result = leads_result(reps=[(ns.seller1.pk, "Seller One"), (ns.seller2.pk, "Seller Two")])
    ns.snapshot = store(ns.stream, ns.result)
    return ns


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def page(ns, user, query: str = ""):
    return client_for(user).get(f"/dashboards/streams/{ns.stream.slug}/leads/{query}")


def csv_of(ns, user, chart: str, query: str = ""):
    return client_for(user).get(f"/dashboards/streams/{ns.stream.slug}/leads/{chart}.csv{query}")


# --- Who may read it -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["manager", "sdr", "seller1", "leader"])
def test_every_member_reads_the_dashboard(board, who):
    response = page(board, getattr(board, who))
    assert response.status_code == 200
    html = response.content.decode()
    for key in ("waterfall", "flow", "response", "sla", "capacity", "prospecting", "reasons"):
        assert f'id="chart-{key}"' in html, key
    assert 'aria-current="page">Leads<' in html
    assert "Marketing over-produces: 2.5 leads a week" in html
    assert html.count("Download CSV") == 16
    assert f'href="/streams/{board.stream.slug}/queue/"' in html


def test_the_waterfall_csv_has_each_shares_interval(board):
    """The fixture's September SAL: 6 of 10, Wilson 95 % [31.3, 83.2] %."""
    rows = list(csv.reader(io.StringIO(csv_of(board, board.manager, "waterfall").content.decode())))
    header = rows[0]
    assert header[4:8] == ["share_pct", "of_previous_pct", "share_low_pct", "share_high_pct"]
    sal = next(r for r in rows[1:] if r[:2] == ["2026-09", "SAL"])
    assert sal[4:8] == ["60.0", "75.0", "31.3", "83.2"]


def test_outsiders_get_a_404_and_strangers_the_login(board):
    assert page(board, board.outsider).status_code == 404
    assert csv_of(board, board.outsider, "sla").status_code == 404
    anonymous = Client().get(f"/dashboards/streams/{board.stream.slug}/leads/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_the_tab_is_on_every_dashboard_of_the_stream(board):
    url = f"/dashboards/streams/{board.stream.slug}/leads/"
    client = client_for(board.manager)
    for other in ("funnel", "quality"):
        html = client.get(f"/dashboards/streams/{board.stream.slug}/{other}/").content.decode()
        assert f'href="{url}"' in html, other
    assert f'href="{url}"' in client.get("/dashboards/").content.decode()


def test_a_rep_sees_only_their_own_rows(board):
    html = page(board, board.seller2).content.decode()
    assert "SLA attainment by rep (yours)" in html
    sla_rep = html.split('id="chart-sla_rep"')[1].split("</section>")[0]
    assert "Seller Two" in sla_rep and "Seller One" not in sla_rep
    rows = list(csv.reader(io.StringIO(csv_of(board, board.seller2, "sla_rep").content.decode())))
    assert [r[1] for r in rows[1:]] == ["Seller Two"]
    manager = list(
        csv.reader(io.StringIO(csv_of(board, board.manager, "sla_rep").content.decode()))
    )
    assert [r[1] for r in manager[1:]] == ["Seller One", "Seller Two", "Seller One"]


def test_a_rep_asking_for_another_reps_cases_gets_a_403(board):
    assert page(board, board.seller1, f"?owner={board.seller2.pk}").status_code == 403
    assert csv_of(board, board.seller1, "sla", f"?owner={board.seller2.pk}").status_code == 403
    mine = page(board, board.seller1, f"?owner={board.seller1.pk}")  # computed for real
    assert mine.status_code == 200


# --- Filters in the URL --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name", "words"),
    [
        ("?start=zzz", "start", "Enter a valid date"),
        ("?start=2026-01-01", "end", "Give both start and end"),
        ("?start=2026-02-01&end=2026-01-01", "end", "ends after it starts"),
        ("?as_of=2099-01-01", "as_of", "in the future"),
        ("?as_of=2999-01-01", "as_of", "out of range"),
        ("?time=working", "time", "calendar"),
        ("?time=weekly", "time", "Select a valid choice"),
        ("?owner=zzz", "owner", "No such rep in this team"),
        ("?owner=99999999999999999999", "owner", "No such rep in this team"),
        ("?source=" + "x" * 300, "source", "at most"),
        ("?end=9999-12-31&start=2026-01-01", "end", ""),
        ("?source=a%00b", "source", "NUL"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it_with_the_default_view(board, query, name, words):
    response = page(board, board.manager, query)
    assert response.status_code == 400, response.status_code
    errors = response.context["errors"]
    assert name in errors and words in errors[name], errors
    html = response.content.decode()
    assert f"<strong>{name}</strong>" in html
    assert 'id="chart-waterfall"' in html  # the default view, shown beside the reason
    assert csv_of(board, board.manager, "sla", query).status_code == 400


def test_a_view_in_the_url_is_computed_and_kept_in_the_csv_links(board):
    query = "?start=2026-09-01&end=2026-11-01&source=web"
    store(board.stream, board.result, {"start": "2026-09-01", "end": "2026-11-01", "source": "web"})
    response = page(board, board.manager, query)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/leads/sla.csv?start=2026-09-01&amp;end=2026-11-01&amp;source=web" in html
    assert 'value="2026-09-01"' in html and '<option value="web" selected>' in html
    assert "1 Sep 2026 – 31 Oct 2026 (UTC)" in html


# --- CSV -----------------------------------------------------------------------------------


def test_each_csv_holds_its_charts_rows(board):
    charts = leads_board(leads_result_for(board.result, rep_id=None)).charts
    for chart in charts:
        response = csv_of(board, board.manager, chart.key)
        assert response.status_code == 200, chart.key
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0] == chart.columns
        expected = [["" if v is None else str(v) for v in row] for row in chart.rows]
        assert rows[1:] == expected, chart.key
    assert csv_of(board, board.manager, "nope").status_code == 404


# --- Empty states --------------------------------------------------------------------------


def test_a_stream_without_a_waterfall_says_so(board):
    Waterfall.objects.filter(stream=board.stream).delete()
    response = page(board, board.manager)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No lead waterfall yet" in html and 'id="chart-' not in html
    setup = f'href="/streams/{board.stream.slug}/leads/setup/"'
    assert setup in html  # a manager is sent to set it up
    assert setup not in page(board, board.leader).content.decode()


def test_a_window_without_leads_says_so(board):
    store(board.stream, empty_result())
    html = page(board, board.manager).content.decode()
    assert "No leads in this window" in html and 'id="chart-' not in html


def test_the_real_job_on_a_stream_without_leads(leads):
    # Eager Celery: the job computes the default view inside the request.
    response = page(leads, leads.manager)
    assert response.status_code == 200
    assert "No leads in this window" in response.content.decode()


def test_the_real_job_on_a_few_leads_draws_the_waterfall(leads):
    now = timezone.now()
    day = (now - timezone.timedelta(days=3)).strftime("%Y-%m-%dT10:00:00+00:00")
    later = (now - timezone.timedelta(days=3)).strftime("%Y-%m-%dT12:00:00+00:00")
    lead(leads, ("Capture", day), ("MQL", later), name="Lead one")
    lead(leads, ("Capture", day), name="Lead two")
    response = page(leads, leads.manager)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-waterfall"' in html
    board = leads_board(response.context["board"].result)
    rows = {r[1]: r[3] for r in board.chart("waterfall").rows if r[0] == "all"}
    assert rows["Inquiry"] == 2 and rows["MQL"] == 1


# --- Computed in the background ------------------------------------------------------------


def test_a_view_not_computed_yet_shows_the_progress_bar(leads):
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        response = page(leads, leads.manager)
    assert response.status_code == 202
    html = response.content.decode()
    assert 'id="board-preparing"' in html and 'role="progressbar"' in html
    job = response.context["preparing"]
    assert f'data-job-url="/jobs/{job.pk}/?format=json"' in html


def test_a_stale_view_is_shown_while_fresh_figures_are_computed(board):
    # A change the result depends on (a hand-off's SLA) makes the stored view stale.
    Handoff.objects.filter(pk=board.mql.pk).update(sla_minutes=90)
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        html = page(board, board.manager).content.decode()
    assert "fresh figures are on their way" in html and 'id="chart-waterfall"' in html


def test_a_failed_job_says_why(leads):
    failed = Job(kind="leads view", state=JobState.FAILED, error="ValueError: broken")
    with mock.patch("funnel.dashboards.leads.leads_view_read", return_value=(None, failed)):
        response = page(leads, leads.manager)
    assert response.status_code == 200
    assert "Computing the Leads figures failed" in response.content.decode()
    assert "ValueError: broken" in response.content.decode()


def test_the_rendered_board_is_cached_per_snapshot_and_viewer(board):
    """A second read of the same view by the same kind of viewer renders the cached board
    without building it again; a rep (their own rows) and a new result get their own."""
    from django.core.cache import cache

    cache.clear()
    with mock.patch("funnel.dashboards.leads.leads_board", wraps=leads_board) as built:
        first = page(board, board.manager).content.decode()
        again = page(board, board.manager).content.decode()
        assert built.call_count == 1
        assert again.count('class="chart-card') == first.count('class="chart-card') == 16
        rep = page(board, board.seller1).content.decode()
        assert built.call_count == 2 and "Seller Two ·" not in rep
        LeadsSnapshot.objects.filter(pk=board.snapshot.pk).update(
            computed_at=board.snapshot.computed_at + timezone.timedelta(minutes=5)
        )
        page(board, board.manager)
        assert built.call_count == 3
