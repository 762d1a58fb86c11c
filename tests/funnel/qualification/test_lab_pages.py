"""The Quality dashboard (the lab's pages, funnel.dashboards.quality): who sees what, the
view's filters, the empty states, the charts against the hand-written result of
``lab_fixture``, the CSV, and the deal page's win probability."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client

from funnel.dashboards.charts import as_figure
from funnel.dashboards.charts.quality import calibration_chart, forest_chart, p_text
from funnel.dashboards.quality import quality_board
from funnel.qualification.models import LabSnapshot
from funnel.qualification.services import score_create
from streams.models import Job, JobState
from tests.factories import PASSWORD
from tests.funnel.qualification.lab_fixture import lab_result, not_enough, store_lab


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def lab(qual):
    ns = qual
    ns.step = ns.steps_a[1]
    ns.result = lab_result(
        step_id=ns.step.pk,
        step_name=ns.step.name,
        reps=[(ns.rep_a1.pk, "Rep One"), (ns.rep_a2.pk, "Rep Two")],
        deal_id=ns.deal_a1.pk,
    )
    ns.snapshot = store_lab(ns.stream_a, ns.result)
    return ns


def page(ns, user, query: str = ""):
    return client_for(user).get(f"/dashboards/streams/{ns.stream_a.slug}/quality/{query}")


def csv_of(ns, user, chart: str, query: str = ""):
    return client_for(user).get(
        f"/dashboards/streams/{ns.stream_a.slug}/quality/{chart}.csv{query}"
    )


# --- Charts against the fixture ------------------------------------------------------------


def test_forest_plot_points_and_intervals_are_the_lifts(lab):
    chart = forest_chart(lab.result)
    spec = chart.figures[0].spec
    as_figure(spec)  # a valid Plotly figure
    points = {}
    for trace in spec["data"]:
        for x, y, plus, minus in zip(
            trace["x"],
            trace["y"],
            trace["error_x"]["array"],
            trace["error_x"]["arrayminus"],
            strict=True,
        ):
            points[y] = (x, round(x - minus, 2), round(x + plus, 2), trace["name"])
    assert points == {
        "Economic buyer": (2.65, 2.12, 3.32, "Goes with winning"),
        "Champion": (1.58, 1.28, 1.96, "Goes with winning"),
        "Decision criteria": (1.48, 0.76, 2.9, "Cannot tell yet"),
        "Paper process": (0.97, 0.77, 1.22, "No effect found"),
        "Competition": (0.34, 0.13, 0.87, "Goes with losing"),
    }
    # sorted, highest lift on top; a criterion without a lift is left out
    assert spec["layout"]["yaxis"]["categoryarray"] == [
        "Economic buyer",
        "Champion",
        "Decision criteria",
        "Paper process",
        "Competition",
    ]
    assert spec["layout"]["xaxis"]["type"] == "log"
    assert spec["layout"]["shapes"][0]["x0"] == spec["layout"]["shapes"][0]["x1"] == 1
    assert [r[0] for r in chart.rows][:2] == ["Economic buyer", "Champion"]


def test_calibration_chart_explains_auc_and_brier(lab):
    chart = calibration_chart(lab.result)
    spec = chart.figures[0].spec
    as_figure(spec)
    diagonal, model = spec["data"]
    assert diagonal["x"] == diagonal["y"] == [0, 100]
    assert model["x"] == [8.0, 15.0, 30.0, 55.0]
    assert model["y"] == [7.0, 12.0, 33.0, 50.0]
    assert "AUC 0.74 [0.70–0.78]" in chart.how_to_read
    assert "Brier score 0.170" in chart.how_to_read


def test_calibration_below_the_floor_says_so_and_plots_nothing(lab):
    chart = calibration_chart(not_enough(lab.result, won=12, lost=30))
    assert not chart.figures
    assert chart.empty.startswith("Not enough closed deals yet: 12 won and 30 lost")


def test_every_chart_is_a_valid_figure_and_plots_the_fixture(lab):
    board = quality_board(lab.stream_a, lab.result, owner_id=None)
    assert [c.key for c in board.charts] == [
        "forest",
        "win_rates",
        "calibration",
        "rules",
        "coverage_step",
        "coverage_rep",
    ]
    for chart in board.charts:
        for figure in chart.figures:
            as_figure(figure.spec)
    rules = board.chart("rules").figures[0].spec["data"][0]
    assert rules["x"] == [412.5, 150.0]
    assert rules["text"] == ["$38,000 won", "$60,000 won"]
    met, not_met = board.chart("win_rates").figures[0].spec["data"]
    assert met["x"][:2] == [46.7, 38.0] and not_met["x"][:2] == [17.6, 24.0]
    assert met["error_x"]["arrayminus"][0] == 5.6  # 46.7 - 41.1
    assert met["x"][-1] is None  # Implicate the pain: no deal met it
    step = board.chart("coverage_step").figures[0].spec["data"][0]
    assert (step["x"], step["text"]) == ([75.0], ["9 overdue"])
    tiles = {t.key: (t.value, t.detail) for t in board.tiles}
    assert tiles["pipeline_quality"] == (
        "$412,000",
        "of $1,650,000 unweighted, over the 140 open deals scored; 3 open deals had no probability",
    )
    assert tiles["criteria_found"] == ("3 of 6", "Economic buyer, Champion, Competition")
    assert tiles["auc"] == ("0.74", "[0.70–0.78], Brier 0.17")


def test_p_values_in_words():
    assert [p_text(v) for v in (None, 1.2e-18, 0.004, 0.81)] == ["—", "< 0.0001", "0.004", "0.81"]


# --- The page --------------------------------------------------------------------------------


def test_manager_sees_the_lab_with_kaizen_buttons(lab):
    response = page(lab, lab.manager_a)
    assert response.status_code == 200
    html = response.content.decode()
    for key in ("forest", "calibration", "win_rates", "rules", "coverage_step", "coverage_rep"):
        assert f'id="chart-{key}"' in html
    assert "The team weights Paper process 5 of 5" in html
    assert 'data-tile="pipeline_quality"' in html and "$412,000" in html and "$1,650,000" in html
    assert html.count("Turn into a kaizen cycle") == 2
    link = re.search(r'href="(/kaizen/new/\?[^"]+)"', html).group(1).replace("&amp;", "&")
    assert link == (
        f"/kaizen/new/?where={lab.stream_a.pk}:{lab.step.pk}"
        "&lab_rule=economic-buyer&lab_condition=unknown"
    )
    # every rep's coverage row
    coverage = html[html.index('id="chart-coverage_rep"') :]
    assert "Rep One" in coverage and "Rep Two" in coverage
    # "as of" in the viewer's zone, and the window with its last day included
    assert "figures as of" in html
    assert "Deals closed 6 Dec 2025 – 5 Dec 2026" in html
    # the Quality tab is in the dashboards' navigation, on the other boards too
    other = client_for(lab.manager_a).get(f"/dashboards/streams/{lab.stream_a.slug}/funnel/")
    assert f'href="/dashboards/streams/{lab.stream_a.slug}/quality/' in other.content.decode()


def test_the_criteria_table_and_csv_have_a_row_per_other_threshold(lab):
    html = page(lab, lab.manager_a).content.decode()
    row = html[html.index('data-threshold="economic-buyer-1"') :]
    row = row[: row.index("</tr>")]
    assert "Identified or better" in row and "34 % [31–38 %]" in row and "612" in row
    assert "10 % [7–15 %]" in row and "&lt; 0.0001" in row  # q 8.4e-12
    assert 'data-threshold="economic-buyer-2"' not in html  # the met level: its own row
    response = csv_of(lab, lab.manager_a, "win_rates")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["criterion", "at_or_above", "win_rate_met_pct"]
    assert rows[1][:4] == ["Economic buyer", "Validated or better", "46.7", "300"]
    assert rows[2][:4] == ["Economic buyer", "Identified or better", "34.3", "612"]
    assert rows[2][-2:] == ["", ""]  # no verdict nor deals needed for a threshold
    assert rows[3][:2] == ["Champion", rows[3][1]]


def test_rep_sees_only_their_own_coverage_row_and_no_button(lab):
    html = page(lab, lab.rep_a1).content.decode()
    assert "Turn into a kaizen cycle" not in html
    coverage = html[html.index('id="chart-coverage_rep"') :]
    assert "Rep One" in coverage and "Rep Two" not in coverage
    response = csv_of(lab, lab.rep_a1, "coverage_rep")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert [r[0] for r in rows] == ["rep", "Rep One"]


def test_leadership_reads_without_buttons(lab):
    response = page(lab, lab.leader_a)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-forest"' in html and "Turn into a kaizen cycle" not in html


def test_another_teams_stream_is_404(lab):
    assert page(lab, lab.manager_b).status_code == 404
    response = csv_of(lab, lab.manager_b, "forest")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "query, field",
    [
        ("?start=2026-13-01", "start"),
        ("?as_of=999999", "as_of"),
        ("?start=2026-06-01&end=2026-01-01", "end"),
    ],
)
def test_bad_filters_are_a_form_error_not_a_500(lab, query, field):
    response = page(lab, lab.manager_a, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert f"<strong>{field}</strong>" in html
    assert 'id="chart-forest"' in html  # the default view, shown beside the error
    csv_response = csv_of(lab, lab.manager_a, "forest", query)
    assert csv_response.status_code == 400
    assert csv_response.content.decode().startswith(f"{field}:")


def test_the_filters_live_in_the_url_and_every_link_keeps_them(lab):
    """A view named in the URL is read from its own snapshot; the form shows its filters and
    every CSV link and kaizen button carries them, so a copied link opens the same view."""
    query = {"start": "2026-01-01", "end": "2026-06-01", "as_of": "close"}
    view = {
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-06-01T00:00:00Z",
        "as_of": None,
        "as_of_name": "",
    }
    store_lab(lab.stream_a, lab.result | {"view": view}, query)
    response = page(lab, lab.manager_a, "?start=2026-01-01&end=2026-06-01&as_of=close")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="start" value="2026-01-01"' in html and 'name="end" value="2026-06-01"' in html
    assert re.search(r'<option value="close" selected>', html)
    assert "Deals closed 1 Jan 2026 – 31 May 2026" in html and "at closing (hindsight)" in html
    kept = "start=2026-01-01&amp;end=2026-06-01&amp;as_of=close"
    links = re.findall(r'href="(/(?:dashboards/[^"]*\.csv|kaizen/new/)[^"]*)"', html)
    assert sum("/kaizen/new/" in link for link in links) == 2  # the two rules
    assert len(links) >= 9 and all(link.endswith(kept) for link in links), links
    assert "data-copy-link" in html


def test_empty_state_without_criteria(team_setup):
    response = page(team_setup, team_setup.manager_a)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No qualification criteria yet" in html and 'id="chart-forest"' not in html


def test_empty_state_without_closed_deals(lab):
    result = lab.result | {"deals": {"closed": 0, "won": 0, "lost": 0}}
    LabSnapshot.objects.filter(pk=lab.snapshot.pk).update(result=result)
    html = page(lab, lab.manager_a).content.decode()
    assert "No closed deals in this window" in html and 'id="chart-forest"' not in html


def test_below_the_floor_the_page_shows_no_scores(lab):
    LabSnapshot.objects.filter(pk=lab.snapshot.pk).update(result=not_enough(lab.result))
    html = page(lab, lab.manager_a).content.decode()
    assert "Not enough closed deals yet: 12 won and 30 lost" in html
    assert 'data-tile="pipeline_quality"' not in html and 'data-tile="auc"' not in html


def test_csv_of_the_forest_plot(lab):
    response = csv_of(lab, lab.manager_a, "forest")
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('-quality-forest.csv"')
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["criterion", "lift", "lift_low", "lift_high", "q", "verdict", "verdict_key"]
    assert rows[1][:4] == ["Economic buyer", "2.65", "2.12", "3.32"]
    assert csv_of(lab, lab.manager_a, "nope").status_code == 404


def test_win_calls_chart_only_when_reps_made_calls(lab):
    assert 'id="chart-win_calls"' not in page(lab, lab.manager_a).content.decode()
    result = lab.result | {
        "win_calls": {
            "n": 60,
            "brier": 0.21,
            "reliability": [
                {"predicted": 0.3, "observed": 0.2, "n": 30},
                {"predicted": 0.8, "observed": 0.5, "n": 30},
            ],
        }
    }
    # As the job stores a result: with the time it was computed (which the page's cached
    # board is keyed by).
    LabSnapshot.objects.filter(pk=lab.snapshot.pk).update(
        result=result, computed_at=lab.snapshot.computed_at + timedelta(minutes=5)
    )
    html = page(lab, lab.manager_a).content.decode()
    assert 'id="chart-win_calls"' in html and "60 calls" in html


# --- Turning a rule into a kaizen cycle ---------------------------------------------------------


def kaizen_link(ns, **changes) -> str:
    params = {
        "where": f"{ns.stream_a.pk}:{ns.step.pk}",
        "lab_rule": "economic-buyer",
        "lab_condition": "unknown",
        **changes,
    }
    return "/kaizen/new/?" + "&".join(f"{k}={v}" for k, v in params.items())


def test_kaizen_plan_prefilled_from_a_rule_and_nothing_written(lab):
    from kaizen.models import KaizenCycle

    response = client_for(lab.manager_a).get(kaizen_link(lab))
    assert response.status_code == 200
    form = response.context["form"]
    initial = form.initial
    assert initial["where"] == f"{lab.stream_a.pk}:{lab.step.pk}"
    assert initial["metric"] == "win_rate"
    assert initial["title"] == f"Walk away when Economic buyer is still Unknown at {lab.step.name}"
    assert initial["problem"] == (
        f"Walk away from deals where Economic buyer is still Unknown at {lab.step.name}: "
        "win rate 4 % [1–11 %] over 73 deals, 412 rep hours after that step, "
        "38,000 USD won among them."
    )
    assert "3 of the 73 deals" in initial["current_condition"]
    assert "against 31 % [27–35 %] for the others" in initial["current_condition"]
    assert KaizenCycle.objects.count() == 0
    html = response.content.decode()
    assert "Walk away when Economic buyer is still Unknown" in html


@pytest.mark.parametrize(
    "changes",
    [
        {"lab_rule": "no-such-criterion"},
        {"lab_condition": "not_met"},
        {"where": "999999:1"},
        {"where": "abc"},
        {"as_of": "nonsense"},
    ],
)
def test_kaizen_link_naming_no_rule_opens_a_plain_plan(lab, changes):
    response = client_for(lab.manager_a).get(kaizen_link(lab, **changes))
    assert response.status_code == 200
    assert "title" not in response.context["form"].initial


def test_kaizen_link_to_another_teams_stream_prefills_nothing(lab):
    response = client_for(lab.manager_b).get(kaizen_link(lab))
    assert response.status_code == 200
    assert "title" not in response.context["form"].initial


# --- The deal page ------------------------------------------------------------------------------


def test_open_deal_shows_its_win_probability_and_drivers(lab):
    html = client_for(lab.rep_a1).get(f"/deals/{lab.deal_a1.pk}/").content.decode()
    assert 'id="deal-lab"' in html
    assert "Win probability: <strong data-probability>62 %</strong>" in html
    assert "Champion: +18 points" in html and "Economic buyer: -9 points" in html
    # It names the step model and its out-of-sample figures; no unchecked claim.
    assert "fitted on the 420 closed deals that reached it (120 won)" in html
    assert "<span data-step-auc>AUC 0.71</span>, <span data-step-brier>Brier 0.18</span>" in html
    assert "checked for calibration" not in html


def test_no_probability_below_the_floor_or_for_an_unscored_deal(lab):
    html = client_for(lab.rep_a2).get(f"/deals/{lab.deal_a2.pk}/").content.decode()
    assert 'id="deal-lab"' not in html  # not among the lab's open deals
    LabSnapshot.objects.filter(pk=lab.snapshot.pk).update(result=not_enough(lab.result))
    html = client_for(lab.rep_a1).get(f"/deals/{lab.deal_a1.pk}/").content.decode()
    assert 'id="deal-lab"' not in html


def test_links_to_the_lab(lab):
    lab_url = f"/dashboards/streams/{lab.stream_a.slug}/quality/"
    client = client_for(lab.manager_a)
    for page_url in (f"/streams/{lab.stream_a.slug}/", "/dashboards/"):
        assert f'href="{lab_url}"' in client.get(page_url).content.decode(), page_url


# --- Computed in the background ------------------------------------------------------------------


def test_a_view_not_computed_yet_shows_the_progress_bar(qual):
    # The page only queues the job (here: a worker that never runs it); it never computes.
    with (
        mock.patch("funnel.view_jobs.enqueue", return_value=True),
        mock.patch("funnel.qualification.snapshots.compute_lab") as compute,
    ):
        response = page(qual, qual.manager_a, "?as_of=close")
    compute.assert_not_called()
    assert response.status_code == 202
    html = response.content.decode()
    assert 'id="board-preparing"' in html and 'role="progressbar"' in html
    job = response.context["preparing"]
    assert f'data-job-url="/jobs/{job.pk}/?format=json"' in html


def test_a_stale_view_is_shown_while_fresh_figures_are_computed(lab):
    score_create(deal=lab.deal_a1, criterion=lab.crit, level=2, note="", user=lab.rep_a1)
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        html = page(lab, lab.manager_a).content.decode()
    assert "fresh figures are on their way" in html and 'id="chart-forest"' in html


def test_the_lab_computed_for_real_on_a_stream_without_closed_deals(qual):
    # Eager Celery: the job computes the view inside the request (tests, development).
    response = page(qual, qual.manager_a)
    assert response.status_code == 200
    assert "No closed deals in this window" in response.content.decode()


def test_a_view_its_eager_job_has_just_computed_is_fresh(lab):
    done = Job(kind="lab view", state=JobState.DONE)
    with mock.patch("funnel.dashboards.quality.lab_view_read", return_value=(lab.snapshot, done)):
        html = page(lab, lab.manager_a).content.decode()
    assert 'id="chart-forest"' in html and "fresh figures are on their way" not in html


def test_the_rendered_board_is_cached_per_snapshot_and_viewer(lab):
    """A second read of the same view by the same kind of viewer renders the cached board
    without building it again; a rep (their own rows) and a new result get their own."""
    from django.core.cache import cache

    cache.clear()
    with mock.patch("funnel.dashboards.quality.quality_board", wraps=quality_board) as built:
        first = page(lab, lab.manager_a).content.decode()
        again = page(lab, lab.manager_a).content.decode()
        assert built.call_count == 1
        assert 'id="chart-forest"' in again and again.count("chart-") == first.count("chart-")
        rep = page(lab, lab.rep_a1).content.decode()
        assert built.call_count == 2
        assert "Rep Two" not in rep
        LabSnapshot.objects.filter(pk=lab.snapshot.pk).update(
            computed_at=lab.snapshot.computed_at + timedelta(minutes=5)
        )
        page(lab, lab.manager_a)
        assert built.call_count == 3
