"""The dashboard pages (funnel.dashboards.views): who sees what, filters in the URL, the CSV
of each chart, and the number of queries each page makes. Figures are stored snapshots built
by hand (as the metrics engine would store them), so no page computes anything here unless
a test says so."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client

from funnel.dashboards import charts
from funnel.dashboards.content import stream_info
from funnel.dashboards.params import dashboard_filters
from funnel.metrics.query import MetricsFilters, MetricsQuery
from funnel.metrics.results import MetricsResult, StageMetrics, StepMetrics, StreamSummary, Waste
from funnel.metrics.series import (
    Aging,
    ChartSeries,
    CohortPeriod,
    CumulativeFlow,
    CycleTimes,
    Throughput,
    TimeInStep,
)
from funnel.metrics.snapshots import (
    PREPARE_JOB,
    metrics_store,
    query_from_keys,
    query_keys,
    series_store,
)
from funnel.metrics.stats import xmr
from funnel.models import MetricsSnapshot, MetricsState
from funnel.tasks import prepare_metric_sets
from streams.models import FunnelStage, Job, JobState, Lane, UserProfile
from streams.services import job_progress
from tests.factories import BASE_TIME, PASSWORD, make_stream

NOW = BASE_TIME + timedelta(days=3)
BOARDS = ("funnel", "flow", "waste")
CHART_KEYS = {
    "funnel": ["funnel", "velocity_levers", "closed_per_week", "stage_time", "cohorts"],
    "flow": [
        "cumulative_flow",
        "aging",
        "cycle_times",
        "throughput",
        "time_in_step",
        "littles_law",
    ],
    "waste": ["pareto_hours", "pareto_money", "waste_by_step", "timeline_ladder", "waste_counts"],
    "me": ["my_time_per_step", "my_win_rate", "my_conversion", "my_aging"],
}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def empty_cache():
    """Rendered pages are cached by the state of their snapshots; tests reuse primary keys
    and the frozen time, so each starts with an empty cache."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def board(team_setup):
    """Team A's stream with two funnel stages and stored figures and series for the rolling
    90 days and the 90 days before (``size`` aging deals per step)."""
    stream = team_setup.stream_a
    stages = [
        FunnelStage.objects.create(stream=stream, name="Lead", position=1),
        FunnelStage.objects.create(stream=stream, name="Won over", position=2),
    ]
    steps = team_setup.steps_a
    for step, stage in zip(steps, [stages[0], stages[1], stages[1]], strict=True):
        step.stage = stage
        step.save(update_fields=["stage"])
    team_setup.stages = stages
    store(team_setup, MetricsQuery(stream_id=stream.pk), win_rate=0.4, size=3)
    store(team_setup, MetricsQuery(stream_id=stream.pk, previous=True), win_rate=0.3, size=3)
    return team_setup


def store(
    ns, query: MetricsQuery, *, win_rate: float, size: int, at: datetime = NOW
) -> MetricsResult:
    """Store figures and series for ``query`` as the engine would have computed them ``at``."""
    steps = ns.steps_a
    result = MetricsResult(
        query=query,
        window_start=at - timedelta(days=90),
        window_end=at,
        computed_at=at,
        now_at=at,
        steps=[
            StepMetrics(
                step_id=step.pk,
                n_completed=30,
                median_hours=24.0 * (i + 1),
                mean_hours=30.0 * (i + 1),
                median_work_hours=1.5,
                wait_hours=500.0 / (i + 1),
                defects_hours=40.0,
                extra_processing_hours=10.0 * i,
                overproduction_hours=5.0,
                throughput_per_week=3.0,
                avg_wip=2.0,
                littles_law_ratio=1.1,
                stalled=1,
                handoffs=i,
                reentries=2,
            )
            for i, step in enumerate(steps)
        ],
        summary=StreamSummary(
            won=12,
            lost=18,
            closed=30,
            win_rate=win_rate,
            sales_cycle_days=21.0,
            open_deals=20,
            mean_won_amount=12_000.0,
            won_with_amount=12,
            pipeline_velocity_per_day=20 * win_rate * 12_000 / 21,
            lead_time_hours=144.0,
            process_time_hours=4.5,
            activity_ratio=4.5 / 144,
            n_ladder=30,
        ),
        waste=Waste(
            waiting_hours=900.0,
            waiting_visits=90,
            defects_hours=120.0,
            defects_count=6,
            extra_processing_hours=30.0,
            overproduction_hours=15.0,
            defects_cost=500.0,
            overproduction_cost=800.0,
        ),
        stages=[
            StageMetrics(
                ns.stages[0].pk,
                reached=50,
                conversion=0.5,
                cumulative_conversion=1.0,
                drop_off=0.5,
                median_days_in_stage=4.0,
                n_left=40,
            ),
            StageMetrics(
                ns.stages[1].pk,
                reached=25,
                conversion=0.48,
                cumulative_conversion=0.5,
                drop_off=0.52,
                median_days_in_stage=9.0,
                n_left=20,
            ),
        ],
        cohort_deals=50,
        cohort_won=12,
    )
    metrics_store(result, now=at)
    ids = [str(step.pk) for step in steps]
    series_store(
        query,
        ChartSeries(
            computed_at=at.isoformat(),
            now_at=at.isoformat(),
            cumulative_flow=CumulativeFlow(
                days=["2025-01-07", "2025-01-08"],
                reached={ids[0]: [3, 5], ids[1]: [1, 3], ids[2]: [0, 1]},
                won=[0, 1],
            ),
            cycle_times=CycleTimes(
                n=size,
                points=[
                    {
                        "deal_id": 1000 + k,
                        "closed_at": "2025-01-08T10:00:00+00:00",
                        "days": 10.0 + k,
                    }
                    for k in range(size)
                ],
                p50=11.0,
                p85=12.0,
                p95=12.5,
            ),
            time_in_step=TimeInStep(
                counts={pk: [0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0] for pk in ids}
            ),
            throughput=Throughput(
                weeks=["2024-10-11", "2024-10-18", "2024-10-25"],
                won=[2, 5, 3],
                lost=[4, 4, 4],
                limits=xmr([2, 5, 3]),
            ),
            aging=Aging(
                items=[
                    {
                        "deal_id": ns.deal_a1.pk if k == 0 else 5000 + k,
                        "step_id": step.pk,
                        "age_hours": 10.0 * (k + 1),
                        "amount": 1000.0,
                        "stalled": k % 2 == 0,
                    }
                    for step in steps
                    for k in range(size)
                ],
                counts={pk: size for pk in ids},
                thresholds={pk: 20.0 for pk in ids},
            ),
            cohorts=[
                CohortPeriod(
                    period="2024-11",
                    deals=50,
                    reached={str(ns.stages[0].pk): 50, str(ns.stages[1].pk): 25},
                    won=12,
                )
            ],
        ),
    )
    return result


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def url(ns, board: str = "funnel", query: str = "") -> str:
    return f"/dashboards/streams/{ns.stream_a.slug}/{board}/{query}"


def no_compute():
    """Fail the test if a page computes figures instead of reading the stored ones."""
    return mock.patch(
        "funnel.metrics.snapshots.compute_bases", side_effect=AssertionError("computed")
    )


# --- What leadership and managers see -------------------------------------------------------


@pytest.mark.parametrize("name", BOARDS)
def test_leadership_sees_every_chart_of_the_dashboard_from_the_stored_snapshots(board, name):
    with no_compute():
        response = client_for(board.leader_a).get(url(board, name))
    assert response.status_code == 200
    html = response.content.decode()
    for key in CHART_KEYS[name]:
        assert f'id="chart-{key}"' in html, key
        assert f'id="figure-{key}-0"' in html, f"{key} has no figure"
        assert f"/{name}/{key}.csv" in html, f"{key} has no CSV link"
    assert 'class="chart-empty"' not in html
    assert "As of <time" in html
    assert "js/vendor/plotly.min.js" in html and "cdn" not in html.lower()


def test_the_funnel_dashboard_shows_the_change_against_the_previous_period(board):
    html = client_for(board.manager_a).get(url(board)).content.decode()
    assert "12 won of 30 closed" in html  # the win rate's denominator
    assert "+10.0 pts" in html  # 30 % → 40 %


#: Session and user (2), the stream (2), the role, the reps for the filter, the imported owner
#: names (cached afterwards), the map (2), the state of the two snapshot sets (2), and reading
#: them (4 each).
COLD = 19
#: Once rendered for that state of the snapshots: no map, owner names or snapshot reads.
WARM = 8


@pytest.mark.parametrize("name", BOARDS)
def test_each_dashboard_makes_the_same_few_queries_whatever_the_data_size(
    board, name, django_assert_num_queries
):
    client = client_for(board.leader_a)
    with django_assert_num_queries(COLD):
        assert client.get(url(board, name)).status_code == 200
    with django_assert_num_queries(WARM):
        assert client.get(url(board, name)).status_code == 200
    # A hundred times the dots: the same queries.
    store(board, MetricsQuery(stream_id=board.stream_a.pk), win_rate=0.4, size=300)
    cache.clear()
    with django_assert_num_queries(COLD):
        assert client.get(url(board, name)).status_code == 200
    with django_assert_num_queries(WARM):
        assert client.get(url(board, name)).status_code == 200


def test_a_page_is_rendered_again_as_soon_as_its_snapshots_change(board):
    client = client_for(board.leader_a)
    assert "40%" in client.get(url(board)).content.decode()
    # The recompute rewrites the set a minute later: the next view shows it, not the cache.
    later = NOW + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        store(board, MetricsQuery(stream_id=board.stream_a.pk), win_rate=0.55, size=3, at=later)
        html = client.get(url(board)).content.decode()
    assert "55%" in html and "+25.0 pts" in html
    # Visits changed after the figures: the page says so, cached or not.
    MetricsState.objects.update_or_create(
        stream=board.stream_a, defaults={"changed_at": NOW + timedelta(minutes=2)}
    )
    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        assert "fresh figures are on their way" in client.get(url(board)).content.decode()


def test_my_view_and_the_team_page_make_a_fixed_number_of_queries(board, django_assert_num_queries):
    mine = MetricsQuery(
        stream_id=board.stream_a.pk, filters=MetricsFilters(owner_id=board.rep_a1.pk)
    )
    store(board, mine, win_rate=0.5, size=3)
    client = client_for(board.rep_a1)
    with no_compute(), django_assert_num_queries(COLD - 2):  # no list of reps or owner names
        assert client.get(url(board, "me")).status_code == 200
    with no_compute(), django_assert_num_queries(WARM - 1):
        assert client.get(url(board, "me")).status_code == 200
    cache.clear()
    client = client_for(board.leader_a)
    team = f"/dashboards/teams/{board.team_a.slug}/"
    # The cockpit asks for the stream's missing default forecast (computed in this request,
    # Celery being eager in tests; tests/kaizen/cockpit/test_pages.py): stored before counting.
    client.get(team)
    cache.clear()
    # Session and user, the team (2), the role, the reps, the streams, the snapshots' state
    # (2), and per stream its map (2) and two snapshot reads (4 each); the leadership cockpit
    # (kaizen.cockpit, docs/cockpit.md) adds 20: the user's teams and streams (2), and per
    # stream the snapshots' stamp (2), its kaizen cycles' and forecast's state (2), two
    # snapshot reads (4 each), the pipeline (the engine's context, 3, and one query), the
    # cycles and the forecast (2).
    with no_compute(), django_assert_num_queries(39):
        assert client.get(team).status_code == 200
    # Kept in the cache, the cockpit reads the user's teams and streams (2) and per stream the
    # snapshots' stamp and its cycles' and forecast's state (4).
    with no_compute(), django_assert_num_queries(15):
        assert client.get(team).status_code == 200
    make_stream(board.team_a, name="Renewals")
    client.get(team)  # the new stream's first figures are computed and stored
    cache.clear()
    with no_compute(), django_assert_num_queries(66):  # 29, and the cockpit's 37 for two streams
        assert client.get(team).status_code == 200
    with no_compute(), django_assert_num_queries(19):
        assert client.get(team).status_code == 200


def test_the_team_page_sets_the_streams_of_the_team_side_by_side(board):
    response = client_for(board.leader_a).get(f"/dashboards/teams/{board.team_a.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    for key in ("team_funnels", "team_win_rate", "team_velocity"):
        assert f'id="figure-{key}-0"' in html
    assert board.stream_a.name in html and board.stream_b.name not in html


# --- Filters --------------------------------------------------------------------------------


def test_filters_are_kept_in_the_url_of_every_link_and_narrow_the_figures(board):
    lane = board.steps_a[0].lane
    response = client_for(board.manager_a).get(
        url(board, "flow", f"?period=30d&lane={lane.pk}&amount_band=small&owner={board.rep_a2.pk}")
    )
    assert response.status_code == 200
    html = response.content.decode()
    kept = f"period=30d&amp;owner={board.rep_a2.pk}&amp;lane={lane.pk}&amp;amount_band=small"
    assert f"/flow/aging.csv?{kept}" in html
    assert f"/funnel/?{kept}" in html  # the tabs keep the filters
    # the 30 days before today 00:00 UTC (NOW is 2025-01-09 09:00), and the 30 before those
    snapshot = MetricsSnapshot.objects.get(
        window_key="2024-12-10T00:00:00+00:00/2025-01-09T00:00:00+00:00"
    )
    assert MetricsSnapshot.objects.filter(
        window_key="2024-11-10T00:00:00+00:00/2024-12-10T00:00:00+00:00"
    ).exists()
    assert snapshot.filter_key == f"owner={board.rep_a2.pk}&lane={lane.pk}&amount_band=small"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("?amount_band=huge", "amount_band"),
        ("?period=fortnight", "period"),
        ("?period=custom&start=2025-01-01", "end"),
        ("?start=yesterday&end=2025-01-02", "start"),
        ("?tz=Mars/Olympus", "tz"),
        ("?owner=abc", "owner"),
    ],
)
def test_a_bad_filter_is_a_400_that_names_it(board, query, parameter):
    client = client_for(board.leader_a)
    response = client.get(url(board, "funnel", query))
    assert response.status_code == 400
    assert f"<strong>{parameter}</strong>" in response.content.decode()
    csv_response = client.get(url(board, "funnel", f"funnel.csv{query}"))
    assert csv_response.status_code == 400
    assert csv_response.content.decode().startswith(f"{parameter}:")


def test_a_lane_or_rep_of_another_stream_is_a_400(board):
    client = client_for(board.leader_a)
    other_lane = Lane.objects.filter(stream=board.stream_b).first()
    response = client.get(url(board, "flow", f"?lane={other_lane.pk}"))
    assert response.status_code == 400
    assert "is not a lane of this stream" in response.content.decode()
    response = client.get(url(board, "flow", f"?owner={board.rep_b.pk}"))
    assert response.status_code == 400
    assert "No such rep in this team" in response.content.decode()


def test_period_presets_end_at_midnight_in_the_chosen_zone_and_compare_with_the_days_before():
    now = datetime(2025, 3, 12, 15, 30, tzinfo=UTC)
    filters = dashboard_filters(
        stream_id=1, params={"period": "30d", "tz": "Europe/Berlin"}, now=now
    )
    # 12 March 00:00 in Berlin is 11 March 23:00 UTC
    assert filters.query.end == datetime(2025, 3, 11, 23, 0, tzinfo=UTC)
    assert filters.query.start == datetime(2025, 2, 9, 23, 0, tzinfo=UTC)
    assert (filters.previous.start, filters.previous.end) == (
        datetime(2025, 1, 10, 23, 0, tzinfo=UTC),
        filters.query.start,
    )
    assert filters.querystring() == "period=30d&tz=Europe%2FBerlin"

    rolling = dashboard_filters(stream_id=1, params={"start": "", "tz": "UTC"}, now=now)
    assert rolling.query.is_rolling and rolling.previous.previous
    assert rolling.querystring() == ""

    custom = dashboard_filters(
        stream_id=1, params={"start": "2025-01-01", "end": "2025-02-01"}, now=now
    )
    assert custom.values["period"] == "custom"
    assert custom.previous.start == datetime(2024, 12, 1, tzinfo=UTC)
    with pytest.raises(ValidationError) as error:
        dashboard_filters(stream_id=1, params={"period": "custom"}, now=now)
    assert "start" in error.value.message_dict


# --- Reps -----------------------------------------------------------------------------------


def test_a_rep_sees_their_own_figures_beside_the_teams_and_nothing_of_other_reps(board):
    rep, other = board.rep_a1, board.rep_a2
    # Names that no random name of the rep can contain (Faker once gave both an "Allen").
    other.username, other.first_name, other.last_name = "zebedee", "Zebedee", "Quaxworth"
    other.save(update_fields=["username", "first_name", "last_name"])
    response = client_for(rep).get(url(board, "me"))
    assert response.status_code == 200
    html = response.content.decode()
    for key in CHART_KEYS["me"]:
        assert f'id="chart-{key}"' in html
    assert "Your win rate" in html and "Team (everyone, you included)" in html
    assert 'name="owner"' not in html  # no list of reps to pick from
    for text in (other.username, other.first_name, other.last_name):
        assert text not in html
    # The figures are the rep's own set, and the team's beside it.
    keys = set(MetricsSnapshot.objects.values_list("filter_key", flat=True))
    assert f"owner={rep.pk}" in keys and "" in keys
    # Every deal the rep's aging chart links to is theirs.
    linked = {int(pk) for pk in re.findall(r'href="/deals/(\d+)/"', html)}
    assert linked <= {board.deal_a1.pk}


@pytest.mark.parametrize("name", [*BOARDS, "me"])
def test_a_rep_asking_for_another_reps_figures_gets_a_403(board, name):
    client = client_for(board.rep_a1)
    other = board.rep_a2.pk
    assert client.get(url(board, name, f"?owner={other}")).status_code == 403
    key = CHART_KEYS[name][0]
    assert client.get(url(board, name, f"{key}.csv?owner={other}")).status_code == 403
    team = f"/dashboards/teams/{board.team_a.slug}/?owner={other}"
    assert client.get(team).status_code == 403


#: Custom periods past the years a client may write: before the range check, the window
#: reached past year 9999 or before year 1 (its previous period, a time zone's offset) and
#: the page answered 500 (OverflowError).
OUT_OF_RANGE = [
    ("?period=custom&start=2026-11-01&end=9999-12-31", "end"),
    ("?period=custom&start=1000-11-01&end=2026-12-31", "start"),
    ("?period=custom&start=0001-01-01&end=2026-12-31&tz=America/New_York", "start"),
    ("?period=custom&start=2026-11-01&end=9999-12-31T23:00:00-05:00", "end"),
    ("?period=custom&start=1969-12-31&end=2026-12-31", "start"),
    ("?period=custom&start=2026-11-01&end=2101-01-01", "end"),
]


@pytest.mark.parametrize("who", ["leader_a", "manager_a", "rep_a1"])
@pytest.mark.parametrize(("query", "parameter"), OUT_OF_RANGE)
def test_a_custom_period_out_of_the_years_is_a_400_naming_it(board, who, query, parameter):
    client = client_for(getattr(board, who))
    team = f"/dashboards/teams/{board.team_a.slug}/"
    for page in (url(board, "funnel", query), url(board, "me", query), f"{team}{query}"):
        response = client.get(page)
        assert response.status_code == 400, page
        html = response.content.decode()
        assert f"<strong>{parameter}</strong>" in html and "dates run from 1970-01-01" in html
    # The chart downloads check the filters before looking the chart up.
    for csv_url in (url(board, "funnel", f"funnel.csv{query}"), f"{team}funnel.csv{query}"):
        response = client.get(csv_url)
        assert response.status_code == 400, csv_url
        assert response.content.decode().startswith(f"{parameter}:")


def test_the_widest_custom_period_in_range_shows(board):
    query = "?period=custom&start=1970-01-01&end=2100-12-31"
    assert client_for(board.manager_a).get(url(board, "funnel", query)).status_code in (200, 202)


@pytest.mark.parametrize("who", ["leader_a", "manager_a", "rep_a1"])
@pytest.mark.parametrize("owner", ["zzz", "999999", "-1"])
def test_an_owner_who_is_no_rep_of_the_team_is_a_400_naming_the_filter(board, who, owner):
    client = client_for(getattr(board, who))
    team = f"/dashboards/teams/{board.team_a.slug}/?owner={owner}"
    pages = [url(board, name, f"?owner={owner}") for name in (*BOARDS, "me")] + [team]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 400, page
        html = response.content.decode()
        assert "<strong>owner</strong>" in html and "No such rep in this team" in html
    response = client.get(url(board, "funnel", f"funnel.csv?owner={owner}"))
    assert response.status_code == 400
    assert response.content.decode().startswith("owner: No such rep in this team")


@pytest.mark.parametrize("name", BOARDS)
def test_a_reps_dashboards_are_over_their_own_deals(board, name):
    response = client_for(board.rep_a1).get(url(board, name))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your deals" in html and 'name="owner"' not in html
    assert MetricsSnapshot.objects.filter(filter_key=f"owner={board.rep_a1.pk}").exists()
    assert f"owner={board.rep_a1.pk}" not in html  # implied, so a shared link stays the rep's


def test_a_stream_of_another_team_is_not_found_and_nor_is_an_unknown_dashboard(board):
    client = client_for(board.leader_a)
    assert client.get(f"/dashboards/streams/{board.stream_b.slug}/funnel/").status_code == 404
    assert client.get(url(board, "sales")).status_code == 404
    assert client.get(url(board, "funnel", "nothing.csv")).status_code == 404
    assert client.get(f"/dashboards/teams/{board.team_b.slug}/").status_code == 404


def test_the_stream_link_opens_a_reps_own_view_and_leaderships_funnel(board):
    stream = f"/dashboards/streams/{board.stream_a.slug}/"
    assert client_for(board.rep_a1).get(stream).url == url(board, "me")
    assert client_for(board.leader_a).get(stream).url == url(board, "funnel")


def test_the_index_lists_each_teams_streams_with_their_dashboards(board):
    html = client_for(board.rep_a1).get("/dashboards/").content.decode()
    assert url(board, "me") in html and url(board, "flow") in html
    assert f"/dashboards/teams/{board.team_a.slug}/" in html
    assert board.stream_b.name not in html
    html = client_for(board.leader_a).get("/dashboards/").content.decode()
    assert url(board, "me") not in html and url(board, "waste") in html


# --- CSV ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "key"), [(n, k) for n in BOARDS for k in CHART_KEYS[n]])
def test_the_csv_holds_the_rows_the_chart_plots(board, name, key):
    response = client_for(board.leader_a).get(url(board, name, f"{key}.csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert (
        f'filename="{board.stream_a.slug}-{name}-{key}-90d.csv"' in response["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    expected = chart_of(board, name, key)
    assert rows[0] == expected.columns
    assert rows[1:] == [[plain(v) for v in row] for row in expected.rows]


def plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def chart_of(ns, name: str, key: str) -> charts.Chart:
    """The chart as the page builds it, from the same stored snapshot."""
    from funnel.dashboards.content import BOARDS as BUILDERS
    from funnel.dashboards.params import dashboard_filters

    filters = dashboard_filters(stream_id=ns.stream_a.pk, params={}, now=NOW)
    page = BUILDERS[name](ns.stream_a, stream_info(ns.stream_a), filters, now=NOW)
    return page.chart(key)


# --- Empty states ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*BOARDS, "me"])
def test_a_stream_without_deals_shows_an_empty_state_on_every_chart(team_setup, name):
    team_setup.stream_a.deals.all().delete()
    response = client_for(team_setup.manager_a).get(url(team_setup, name))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="chart-empty"') == len(CHART_KEYS[name])
    assert "figure-" not in html


# --- A view nobody asked for before ---------------------------------------------------------


def test_a_new_filter_set_is_prepared_in_the_background_with_progress_then_shown(board):
    client = client_for(board.leader_a)
    page = url(board, "flow", "?amount_band=small")
    with mock.patch("funnel.tasks.prepare_metric_sets.apply_async") as enqueue:  # no worker yet
        first = client.get(page)
        again = client.get(page)
    assert first.status_code == again.status_code == 202
    html = first.content.decode()
    assert "Preparing this view" in html and 'role="progressbar"' in html
    assert 'id="chart-' not in html  # no chart is drawn from figures that are not there
    job = Job.objects.get(kind=PREPARE_JOB)  # the second view joined the first one's job
    assert enqueue.call_args_list == [mock.call((job.pk,), None)]
    assert f"/jobs/{job.pk}/?format=json" in html
    assert sorted((s["window_key"], s["filter_key"]) for s in job.params["sets"]) == [
        ("last-90d", "amount_band=small"),
        ("prev-90d", "amount_band=small"),
    ]
    # The worker takes it: both sets' figures, then their charts, with progress on the job.
    with mock.patch("funnel.tasks.job_progress", wraps=job_progress) as progress:
        assert prepare_metric_sets(job.pk) == 2
    assert [(c.kwargs["done"], c.kwargs["total"]) for c in progress.call_args_list] == [
        (0, 4),
        (1, 4),
        (2, 4),
        (3, 4),
        (4, 4),
    ]
    assert progress.call_args_list[1].kwargs["message"] == "Drawing the charts of the last 90 days"
    job.refresh_from_db()
    assert (job.state, job.percent, job.message) == (JobState.DONE, 100, "Ready")
    with no_compute():
        shown = client.get(page)
    assert shown.status_code == 200 and 'id="chart-aging"' in shown.content.decode()


def test_the_team_page_of_a_new_filter_set_is_prepared_in_the_background_too(board):
    with mock.patch("funnel.tasks.prepare_metric_sets.apply_async"):
        response = client_for(board.manager_a).get(
            f"/dashboards/teams/{board.stream_a.team.slug}/?amount_band=large"
        )
    assert response.status_code == 202
    assert "Preparing this view" in response.content.decode()
    job = Job.objects.get(kind=PREPARE_JOB)
    assert {s["stream_id"] for s in job.params["sets"]} == {board.stream_a.pk}


def test_with_eager_celery_a_new_filter_set_is_computed_before_the_page_is_shown(board):
    response = client_for(board.manager_a).get(url(board, "waste", "?amount_band=large"))
    assert response.status_code == 200
    assert 'id="chart-pareto_hours"' in response.content.decode()
    assert Job.objects.get(kind=PREPARE_JOB).state == JobState.DONE
    stored = MetricsSnapshot.objects.filter(filter_key="amount_band=large").exclude(series={})
    assert stored.count() == 2


def test_a_failed_preparation_fails_its_job_with_the_reason(board):
    with mock.patch("funnel.tasks.prepare_metric_sets.apply_async"):
        client_for(board.leader_a).get(url(board, "funnel", "?amount_band=small"))
    job = Job.objects.get(kind=PREPARE_JOB)
    with (
        mock.patch("funnel.metrics.snapshots.compute_bases", side_effect=RuntimeError("db")),
        pytest.raises(RuntimeError),
    ):
        prepare_metric_sets(job.pk)
    job.refresh_from_db()
    assert (job.state, job.error) == (JobState.FAILED, "RuntimeError: db")


def test_a_query_survives_the_round_trip_through_its_snapshot_keys():
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    for query in (
        MetricsQuery(stream_id=3),
        MetricsQuery(stream_id=3, previous=True, filters=MetricsFilters(owner_id=7)),
        MetricsQuery(
            stream_id=3,
            start=start,
            end=end,
            filters=MetricsFilters(lane_id=2, source="web", amount_band="large"),
        ),
    ):
        assert query_from_keys(**query_keys(query)) == query


def test_the_rolling_period_is_shown_in_the_viewers_own_zone(board):
    # NOW is 2025-01-09 09:00 UTC: 10:00 in Berlin (CET), 90 days back is 11 Oct 2024.
    UserProfile.objects.update_or_create(
        user=board.manager_a, defaults={"time_zone": "Europe/Berlin"}
    )
    html = client_for(board.manager_a).get(url(board)).content.decode()
    assert "11 Oct 2024 – 09 Jan 2025, 10:00 CET" in html
    assert "09:00 UTC" not in html
