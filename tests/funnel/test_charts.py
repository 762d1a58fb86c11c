"""Dashboard charts (funnel.dashboards.charts) from hand-built figures and series: the rows each
chart plots (its CSV), that the figure plots exactly those rows, that every figure is a valid Plotly
figure, and the empty states. No database."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import plotly
import pytest

from funnel.dashboards import charts
from funnel.dashboards.charts import StageInfo, StepInfo, StreamMap, as_figure
from funnel.metrics.query import MetricsQuery
from funnel.metrics.results import MetricsResult, StageMetrics, StepMetrics, StreamSummary, Waste
from funnel.metrics.series import (
    CYCLE_POINTS,
    TIME_BIN_LABELS,
    Aging,
    ChartSeries,
    CohortPeriod,
    CumulativeFlow,
    CycleTimes,
    Throughput,
    TimeInStep,
)
from funnel.metrics.stats import xmr

COMPUTED = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)
SMAP = StreamMap(
    steps=(
        StepInfo(11, "Qualify", "SDR", "value_add"),
        StepInfo(12, "Demo", "Account Executive", "value_add"),
        StepInfo(13, "Contract", "Legal", "waste"),
    ),
    stages=(StageInfo(1, "Lead"), StageInfo(2, "Qualified"), StageInfo(3, "Commit")),
    currency="EUR",
)


def url(pk: int) -> str:
    return f"/deals/{pk}/"


def result(**summary) -> MetricsResult:
    """Three steps, three stages: 100 deals → 60 → 30 → 12 won."""
    return MetricsResult(
        query=MetricsQuery(stream_id=1),
        window_start=datetime(2024, 12, 12, 6, tzinfo=UTC),
        window_end=COMPUTED,
        computed_at=COMPUTED,
        now_at=COMPUTED,
        steps=[
            StepMetrics(
                step_id=11,
                n_completed=40,
                median_hours=48.0,
                mean_hours=60.0,
                median_work_hours=1.0,
                wait_hours=2000.0,
                defects_hours=100.0,
                throughput_per_week=7.0,
                avg_wip=2.6,
                littles_law_ratio=1.04,
                stalled=2,
                handoffs=3,
                reentries=4,
            ),
            StepMetrics(step_id=12, n_completed=20, median_hours=120.0, median_work_hours=3.0),
            StepMetrics(step_id=13, n_completed=0),
        ],
        summary=StreamSummary(
            **{
                "won": 12,
                "lost": 18,
                "closed": 30,
                "win_rate": 0.4,
                "sales_cycle_days": 30.0,
                "open_deals": 20,
                "mean_won_amount": 10_000.0,
                "won_with_amount": 12,
                "pipeline_velocity_per_day": 20 * 0.4 * 10_000 / 30,
                "lead_time_hours": 168.0,
                "process_time_hours": 4.0,
                "activity_ratio": 4 / 168,
                "n_ladder": 20,
            }
            | summary
        ),
        waste=Waste(
            waiting_hours=2000.0,
            waiting_visits=60,
            defects_hours=100.0,
            defects_count=4,
            extra_processing_hours=300.0,
            overproduction_hours=50.0,
            defects_cost=900.0,
            extra_processing_cost=None,
            overproduction_cost=4500.0,
        ),
        stages=[
            StageMetrics(
                1,
                reached=100,
                conversion=0.6,
                cumulative_conversion=1.0,
                drop_off=0.4,
                median_days_in_stage=3.0,
                n_left=90,
            ),
            StageMetrics(
                2,
                reached=60,
                conversion=0.5,
                cumulative_conversion=0.6,
                drop_off=0.5,
                median_days_in_stage=7.5,
                n_left=50,
            ),
            StageMetrics(
                3,
                reached=30,
                conversion=0.4,
                cumulative_conversion=0.3,
                drop_off=0.6,
                median_days_in_stage=None,
                n_left=0,
            ),
        ],
        cohort_deals=100,
        cohort_won=12,
    )


def empty_result() -> MetricsResult:
    return MetricsResult(
        query=MetricsQuery(stream_id=1),
        window_start=datetime(2024, 12, 12, 6, tzinfo=UTC),
        window_end=COMPUTED,
        computed_at=COMPUTED,
        steps=[StepMetrics(step_id=pk) for pk in (11, 12, 13)],
        summary=StreamSummary(),
        waste=Waste(),
        stages=[StageMetrics(pk) for pk in (1, 2, 3)],
    )


def series() -> ChartSeries:
    return ChartSeries(
        computed_at=COMPUTED.isoformat(),
        now_at=COMPUTED.isoformat(),
        cumulative_flow=CumulativeFlow(
            days=["2025-03-01", "2025-03-02", "2025-03-03"],
            reached={"11": [2, 5, 7], "12": [0, 2, 4], "13": [0, 0, 1]},
            won=[0, 0, 1],
        ),
        cycle_times=CycleTimes(
            n=3,
            points=[
                {"deal_id": 7, "closed_at": "2025-03-01T10:00:00+00:00", "days": 10.0},
                {"deal_id": 8, "closed_at": "2025-03-02T10:00:00+00:00", "days": 20.0},
                {"deal_id": 9, "closed_at": "2025-03-03T10:00:00+00:00", "days": 40.0},
            ],
            p50=20.0,
            p85=34.0,
            p95=38.0,
        ),
        time_in_step=TimeInStep(
            counts={"11": [0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0], "12": [0] * 12, "13": [0] * 12}
        ),
        # won 5, 7, 6, 20: mean 9.5, moving ranges 2, 1, 14 → 5.67; limits 9.5 ± 15.08
        throughput=Throughput(
            weeks=["2025-02-10", "2025-02-17", "2025-02-24", "2025-03-03"],
            won=[5, 7, 6, 20],
            lost=[5, 3, 0, 10],
            limits=xmr([5, 7, 6, 20]),
        ),
        aging=Aging(
            items=[
                {
                    "deal_id": 21,
                    "step_id": 11,
                    "age_hours": 240.0,
                    "amount": 5000.0,
                    "stalled": True,
                },
                {"deal_id": 22, "step_id": 11, "age_hours": 24.0, "amount": None, "stalled": False},
                {
                    "deal_id": 23,
                    "step_id": 12,
                    "age_hours": 480.0,
                    "amount": 1000.0,
                    "stalled": True,
                },
            ],
            counts={"11": 2, "12": 1, "13": 0},
            thresholds={"11": 96.0, "12": 200.0, "13": None},
        ),
        cohorts=[
            CohortPeriod(period="2025-01", deals=40, reached={"1": 40, "2": 30, "3": 10}, won=4),
            CohortPeriod(period="2025-02", deals=60, reached={"1": 60, "2": 30}, won=0),
        ],
    )


def every_chart(r: MetricsResult, s: ChartSeries, previous: MetricsResult | None = None):
    return [
        charts.funnel_chart(r, SMAP),
        charts.cohort_chart(s, r, SMAP),
        charts.closed_per_week_chart(s, r),
        charts.velocity_levers_chart(r, previous or r, SMAP, "the previous 90 days"),
        charts.stage_time_chart(r, previous, SMAP, "the previous 90 days"),
        charts.cumulative_flow_chart(s, r, SMAP),
        charts.cycle_time_chart(s, r, url),
        charts.time_in_step_chart(s, r, SMAP),
        charts.throughput_chart(s, r),
        charts.aging_chart(s, r, SMAP, url),
        charts.littles_law_chart(r, SMAP),
        charts.waste_pareto_chart(r),
        charts.waste_money_chart(r, SMAP),
        charts.waste_by_step_chart(r, SMAP),
        charts.waste_counts_chart(r, SMAP),
        charts.timeline_ladder_chart(r, SMAP),
        charts.my_time_per_step_chart(r, r, SMAP),
        charts.my_win_rate_chart(r, r),
        charts.my_conversion_chart(r, r, SMAP),
    ]


def team_charts(r: MetricsResult):
    entry = charts.StreamFigures("New business", "new-business", SMAP, r, r)
    return [
        charts.team_funnels_chart([entry]),
        charts.team_win_rate_chart([entry]),
        charts.team_velocity_chart([entry]),
    ]


# --- Every chart ----------------------------------------------------------------------------


def test_every_chart_has_a_title_units_an_explanation_an_as_of_and_a_valid_figure():
    r, s = result(), series()
    built = every_chart(r, s, previous=result(win_rate=0.5)) + team_charts(r)
    keys = [c.key for c in built]
    assert len(keys) == len(set(keys)), "chart keys name CSV downloads: they must be unique"
    for chart in built:
        assert chart.title and chart.units and chart.how_to_read, chart.key
        assert chart.as_of is not None, chart.key
        assert chart.columns and chart.rows, chart.key
        assert all(len(row) == len(chart.columns) for row in chart.rows), chart.key
        assert chart.figures and not chart.empty, chart.key
        for figure in chart.figures:
            as_figure(figure.spec)  # raises on a property Plotly does not know
            json.loads(figure.json)


def test_every_chart_says_why_it_is_empty_when_there_is_nothing_to_plot():
    empty = empty_result()
    nothing = ChartSeries(computed_at=COMPUTED.isoformat(), now_at=COMPUTED.isoformat())
    built = every_chart(empty, nothing, previous=empty) + team_charts(empty)
    for chart in built:
        assert chart.figures == [], chart.key
        assert chart.empty, chart.key


def test_the_figure_json_cannot_close_the_script_tag_it_is_embedded_in():
    figure = charts.Figure({"data": [{"type": "bar", "name": "</script><b>"}], "layout": {}})
    assert "</script>" not in figure.json
    assert json.loads(figure.json)["data"][0]["name"] == "</script><b>"


def test_colours_come_from_the_colour_blind_safe_palette():
    palette = {
        charts.BLACK,
        charts.ORANGE,
        charts.SKY,
        charts.GREEN,
        charts.YELLOW,
        charts.BLUE,
        charts.VERMILLION,
        charts.PURPLE,
    }
    assert palette == {
        "#000000",
        "#E69F00",
        "#56B4E9",
        "#009E73",
        "#F0E442",
        "#0072B2",
        "#D55E00",
        "#CC79A7",
    }  # Okabe–Ito
    assert set(charts.WASTE_COLOURS.values()) <= palette


# --- Funnel ---------------------------------------------------------------------------------


def test_the_funnel_splits_each_stage_into_deals_that_went_on_and_deals_that_dropped_off():
    chart = charts.funnel_chart(result(), SMAP)
    # Lead 100 → Qualified 60: 60 went on (60 %), 40 dropped (40 %); Commit 30 → 12 won.
    assert chart.rows == [
        ["Lead", 100, 60, 40, 60.0, 40.0, 100.0, 3.0],
        ["Qualified", 60, 30, 30, 50.0, 50.0, 60.0, 7.5],
        ["Commit", 30, 12, 18, 40.0, 60.0, 30.0, None],
    ]
    went_on, dropped = chart.figures[0].spec["data"]
    assert went_on["x"] == [60, 30, 12] and dropped["x"] == [40, 30, 18]
    assert went_on["text"] == ["60%", "50%", "40%"] and dropped["text"] == ["40%", "50%", "60%"]
    assert went_on["y"] == ["Lead · 100", "Qualified · 60", "Commit · 30"]
    assert went_on["customdata"] == ["Qualified", "Commit", "won"]


def test_the_cohort_chart_plots_each_months_share_reaching_each_stage_and_won():
    chart = charts.cohort_chart(series(), result(), SMAP)
    assert ["Jan 2025", 40, "Qualified", 30, 75.0] in chart.rows
    assert ["Feb 2025", 60, "Commit", 0, 0.0] in chart.rows  # not reached yet
    assert ["Feb 2025", 60, "Won", 0, 0.0] in chart.rows
    lines = {trace["name"]: trace["y"] for trace in chart.figures[0].spec["data"]}
    assert lines == {
        "Lead": [100.0, 100.0],
        "Qualified": [75.0, 50.0],
        "Commit": [25.0, 0.0],
        "Won": [10.0, 0.0],
    }


def test_the_win_rate_chart_shows_the_closed_deals_as_its_denominator():
    chart = charts.closed_per_week_chart(series(), result())
    assert chart.rows[0] == ["2025-02-10", 5, 5, 10, 50.0]
    assert chart.rows[2] == ["2025-02-24", 6, 0, 6, 100.0]
    won, lost, rate = chart.figures[0].spec["data"]
    assert won["y"] == [5, 7, 6, 20] and lost["y"] == [5, 3, 0, 10]
    assert rate["y"] == [50.0, 70.0, 100.0, 66.7]
    assert chart.note == "Whole period: 12 won of 30 closed (40%)."


def test_with_a_ready_for_sales_hand_off_the_win_rate_chart_shows_the_leads_lost_apart():
    s = series()
    s.throughput.leads_lost = [40, 30, 20, 10]
    r = result(handoff=True, selling_closed=30, leads_lost=100, selling_win_rate=0.4)
    chart = charts.closed_per_week_chart(s, r)
    # The win rate is of the deals: 5 of 10 in the first week, whatever the 40 leads lost.
    assert chart.rows[0] == ["2025-02-10", 5, 5, 10, 50.0, 40]
    assert chart.columns[-1] == "leads_lost_before_handoff"
    # The plot keeps to the deals (the leads would dwarf them): won, lost and the rate.
    won, lost, rate = chart.figures[0].spec["data"]
    assert won["y"] == [5, 7, 6, 20] and lost["y"] == [5, 3, 0, 10]
    assert rate["y"] == [50.0, 70.0, 100.0, 66.7]
    assert chart.note == (
        "Whole period: 12 won of 30 deals closed past the hand-off (40%); 100 leads lost before it."
    )
    assert "are not lost deals" in chart.how_to_read


def test_with_a_ready_for_sales_hand_off_the_velocity_lever_says_its_win_rate_has_the_leads():
    now = result(handoff=True, selling_closed=18, leads_lost=12, selling_win_rate=12 / 18)
    chart = charts.velocity_levers_chart(now, result(), SMAP, "the previous 90 days")
    assert [row[0] for row in chart.rows][2] == "Win rate (leads included)"
    assert chart.rows[2][2] == 40.0  # 12 won of 30 closed, leads included
    assert "the win rate here is lead-to-win" in chart.note
    plain = charts.velocity_levers_chart(result(), result(), SMAP, "the previous 90 days")
    assert plain.rows[2][0] == "Win rate" and "lead-to-win" not in plain.note


def test_velocity_levers_multiply_to_the_change_of_velocity():
    before = result(
        win_rate=0.5, sales_cycle_days=25.0, pipeline_velocity_per_day=20 * 0.5 * 10_000 / 25
    )
    now = result(
        win_rate=0.6, sales_cycle_days=30.0, pipeline_velocity_per_day=20 * 0.6 * 10_000 / 30
    )
    chart = charts.velocity_levers_chart(now, before, SMAP, "the previous 90 days")
    # win rate 50 → 60 %: +20 %; cycle 25 → 30 d: velocity × 25/30, −16.7 %;
    # velocity 4,000 → 4,000 /day: 1.2 × 0.8333 = 1, no change.
    effects = {row[0]: row[4] for row in chart.rows}
    assert effects == {
        "Pipeline velocity": 0.0,
        "Open deals": 0.0,
        "Win rate": 20.0,
        "Mean won deal size": 0.0,
        "Sales cycle": -16.7,
    }
    bars = chart.figures[0].spec["data"][0]
    assert bars["x"] == [row[4] for row in chart.rows]
    # The values stand in a column right of the plot, one level with each bar, never
    # beside a bar where a negative one would run into the lever names.
    layout = chart.figures[0].spec["layout"]
    values = {a["y"]: a for a in layout["annotations"]}
    assert values["Win rate"]["text"] == "+20.0%" and values["Sales cycle"]["text"] == "-16.7%"
    assert all(
        a["xref"] == "paper" and a["x"] == 1 and a["xanchor"] == "left" for a in values.values()
    )
    assert "text" not in bars and layout["margin"]["r"] >= 60


def test_velocity_levers_have_nothing_to_compare_without_a_previous_velocity():
    chart = charts.velocity_levers_chart(
        result(), result(pipeline_velocity_per_day=None), SMAP, "the previous 90 days"
    )
    assert not chart.figures and "previous period" in chart.empty
    assert chart.rows[0][2] == pytest.approx(2666.67)  # the current figures are still listed


def test_funnel_tiles_give_the_win_rate_with_its_denominator_and_its_change():
    tiles = {t.key: t for t in charts.funnel_tiles(result(), result(win_rate=0.35), SMAP)}
    assert tiles["win_rate"].value == "40%"
    assert tiles["win_rate"].detail == "12 won of 30 closed"
    assert (tiles["win_rate"].change, tiles["win_rate"].good) == ("+5.0 pts", True)
    slower = charts.funnel_tiles(result(sales_cycle_days=33.0), result(), SMAP)[1]
    assert (slower.change, slower.good, slower.trend) == ("+3.0 d", False, "up")
    assert tiles["velocity"].value == "€2,667/day"


def test_with_a_ready_for_sales_hand_off_the_win_rate_tile_leaves_out_the_leads_lost_before_it():
    # 12 won, 18 lost: 40 % over every closed case; 6 of the lost got past the hand-off, so
    # 12 / (12 + 6) = 66.7 % of the deals, and 12 leads were lost before it.
    now = result(handoff=True, selling_closed=18, leads_lost=12, selling_win_rate=12 / 18)
    before = result(handoff=True, selling_closed=20, leads_lost=10, selling_win_rate=0.6)
    tile = {t.key: t for t in charts.funnel_tiles(now, before, SMAP)}["win_rate"]
    assert tile.value == "67%"
    assert tile.detail == (
        # Wilson 95 % for 12 of 18: 0.4375 … 0.8372.
        "12 won of 18 deals closed past the ready-for-sales hand-off (95 %: 44–84%); 40% with "
        "the 12 leads lost before it"
    )
    # The change is of the deals' win rate: 66.7 − 60 = +6.7 points.
    assert (tile.change, tile.good, tile.low_sample) == ("+6.7 pts", True, False)
    assert "leads lost before it are not lost deals" in tile.help
    opened = {t.key: t for t in charts.funnel_tiles(now, before, SMAP)}["open_deals"]
    assert opened.detail == "in the pipeline now; 0 past the ready-for-sales hand-off"
    plain = {t.key: t for t in charts.funnel_tiles(result(), None, SMAP)}["open_deals"]
    assert plain.detail == "in the pipeline now"
    one = charts.win_rate_tile(
        StreamSummary(won=1, lost=2, closed=3, win_rate=1 / 3, handoff=True,
                      selling_closed=2, leads_lost=1, selling_win_rate=0.5),
        None,
    )  # fmt: skip
    assert (one.value, one.low_sample, one.change) == ("50%", True, "")
    assert one.detail.endswith("33% with the 1 lead lost before it")


def test_the_team_win_rate_chart_reads_each_streams_win_rate_as_its_funnel_tile_does():
    plain = charts.StreamFigures("Renewals", "renewals", SMAP, result(), result(win_rate=0.35))
    handoff = result(handoff=True, selling_closed=18, leads_lost=12, selling_win_rate=12 / 18)
    leads = charts.StreamFigures("New business", "new-business", SMAP, handoff, result())
    rows = charts.team_win_rate_chart([plain, leads]).rows
    # Renewals: 12 of 30 closed, 40 % (35 % before). New business: 12 of the 18 deals past
    # the hand-off, 66.7 %; its previous figure predates the hand-off's rate, so none.
    assert rows == [["Renewals", 12, 30, 40.0, 35.0], ["New business", 12, 18, 66.7, None]]


# --- Flow -----------------------------------------------------------------------------------


def test_the_cumulative_flow_has_a_column_per_step_and_bands_from_won_up():
    chart = charts.cumulative_flow_chart(series(), result(), SMAP)
    assert chart.columns == ["day", "Qualify", "Demo", "Contract", "Won"]
    assert chart.rows == [
        ["2025-03-01", 2, 0, 0, 0],
        ["2025-03-02", 5, 2, 0, 0],
        ["2025-03-03", 7, 4, 1, 1],
    ]
    data = chart.figures[0].spec["data"]
    assert [t["name"] for t in data] == ["Won", "Contract", "Demo", "Qualify"]
    assert data[0]["fill"] == "tozeroy" and data[1]["fill"] == "tonexty"
    assert data[3]["y"] == [2, 5, 7]


def test_cycle_times_plot_each_won_deal_with_its_percentile_lines_and_link():
    chart = charts.cycle_time_chart(series(), result(), url)
    assert chart.rows == [
        ["deal", 7, "2025-03-01", 10.0],
        ["deal", 8, "2025-03-02", 20.0],
        ["deal", 9, "2025-03-03", 40.0],
        ["p50", None, None, 20.0],
        ["p85", None, None, 34.0],
        ["p95", None, None, 38.0],
    ]
    dots, *lines = chart.figures[0].spec["data"]
    assert dots["y"] == [10.0, 20.0, 40.0]
    assert dots["customdata"][0] == ["/deals/7/", 7]
    assert [line["y"] for line in lines] == [[20.0, 20.0], [34.0, 34.0], [38.0, 38.0]]
    assert chart.row_links[:3] == ["/deals/7/", "/deals/8/", "/deals/9/"]


def test_time_in_step_draws_one_histogram_per_step_with_visits():
    chart = charts.time_in_step_chart(series(), result(), SMAP)
    assert len(chart.rows) == 3 * len(TIME_BIN_LABELS)
    assert ["Qualify", "2–4 h", 2] in chart.rows
    assert [f.caption for f in chart.figures] == ["Qualify"]  # the others have no visits
    assert chart.figures[0].spec["data"][0]["y"] == [0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0]
    assert chart.figures[0].detail == "median 2 d · n = 40"


def test_the_throughput_run_chart_flags_a_week_beyond_the_natural_process_limits():
    chart = charts.throughput_chart(series(), result())
    # mean 9.5, mean moving range (2 + 1 + 14) / 3 = 5.667: upper 24.57, lower −5.57 (none)
    assert chart.rows[0] == ["2025-02-10", 5, 9.5, 24.57, None, False]
    assert [row[5] for row in chart.rows] == [False, False, False, False]
    names = [t["name"] for t in chart.figures[0].spec["data"]]
    assert names == ["Won per week", "Mean 9.5", "Upper limit 24.6"]

    spiky = series()
    spiky.throughput = Throughput(
        weeks=["w1", "w2", "w3", "w4", "w5"],
        won=[5, 5, 5, 5, 12],
        lost=[0] * 5,
        limits=xmr([5, 5, 5, 5, 12]),
    )
    # mean 6.4, moving ranges 0, 0, 0, 7 → 1.75: upper 11.06; 12 is a signal
    chart = charts.throughput_chart(spiky, result())
    assert [row[5] for row in chart.rows] == [False, False, False, False, True]
    assert chart.figures[0].spec["data"][-1]["name"] == "Signal"


def test_aging_highlights_stalled_deals_and_links_every_dot_to_its_deal():
    chart = charts.aging_chart(series(), result(), SMAP, url)
    assert chart.rows == [
        [21, "Qualify", 10.0, 5000.0, True, 4.0],
        [22, "Qualify", 1.0, None, False, 4.0],
        [23, "Demo", 20.0, 1000.0, True, 8.33],
    ]
    open_dots, stalled, thresholds = chart.figures[0].spec["data"]
    assert open_dots["name"] == "Open" and open_dots["x"] == [1.0]
    assert stalled["name"] == "Stalled" and stalled["x"] == [10.0, 20.0]
    assert stalled["marker"]["symbol"] == "diamond"  # not told apart by colour alone
    assert [c[0] for c in stalled["customdata"]] == ["/deals/21/", "/deals/23/"]
    assert thresholds["x"] == [4.0, 8.33]
    # the oldest stalled first, each a link
    assert chart.highlights == [
        ("Deal 23 · Demo · 20 d · €1,000", "/deals/23/"),
        ("Deal 21 · Qualify · 10 d · €5,000", "/deals/21/"),
    ]


def test_aging_says_when_it_shows_only_the_oldest_deals_of_a_step():
    s = series()
    s.aging.counts["11"] = 400
    assert "Qualify (2 of 400)" in charts.aging_chart(s, result(), SMAP, url).note


def test_littles_law_compares_average_wip_with_throughput_times_time_in_step():
    chart = charts.littles_law_chart(result(), SMAP)
    # 7 a week = 1/24 an hour, × 60 h mean = 2.5 deals; measured 2.6, ratio 1.04
    assert chart.rows[0] == ["Qualify", 2.6, 7.0, 2.5, 2.5, 1.04]
    measured, predicted = chart.figures[0].spec["data"]
    assert measured["x"][0] == 2.6 and predicted["x"][0] == 2.5
    assert measured["text"][0] == "ratio 1.04"


# --- Waste ----------------------------------------------------------------------------------


def test_the_pareto_sorts_the_wastes_in_hours_with_their_running_share():
    chart = charts.waste_pareto_chart(result())
    # 2000 + 300 + 100 + 50 = 2450 h
    assert chart.rows == [
        ["Waiting", 2000.0, 81.6, 81.6],
        ["Extra processing", 300.0, 12.2, 93.9],
        ["Defects (rework)", 100.0, 4.1, 98.0],
        ["Overproduction (lost deals)", 50.0, 2.0, 100.0],
    ]
    bars, line = chart.figures[0].spec["data"]
    assert bars["y"] == [2000.0, 300.0, 100.0, 50.0]
    assert line["y"] == [81.6, 93.9, 98.0, 100.0]


def test_waste_in_money_leaves_out_unpriced_wastes_and_says_when_nothing_is_priced():
    chart = charts.waste_money_chart(result(), SMAP)
    assert [row[:2] for row in chart.rows] == [
        ["Overproduction (lost deals)", 4500.0],
        ["Defects (rework)", 900.0],
    ]
    assert chart.units == "EUR"
    unpriced = result()
    unpriced.waste.defects_cost = unpriced.waste.overproduction_cost = None
    chart = charts.waste_money_chart(unpriced, SMAP)
    assert not chart.figures and "hourly cost" in chart.empty


def test_waste_per_step_and_the_counted_wastes_follow_the_map_order():
    chart = charts.waste_by_step_chart(result(), SMAP)
    assert chart.rows[0] == ["Qualify", 2000.0, 100.0, 0.0, 0.0, 2100.0]
    assert [row[0] for row in chart.rows] == ["Qualify", "Demo", "Contract"]
    counts = charts.waste_counts_chart(result(), SMAP)
    assert counts.rows[0] == ["Qualify", 2, 0.0, 3, 4]
    assert [t["x"] for t in counts.figures[0].spec["data"]] == [[2, 0, 0], [3, 0, 0], [4, 0, 0]]


def test_the_timeline_ladder_sets_work_against_waiting_per_step():
    chart = charts.timeline_ladder_chart(result(), SMAP)
    # Qualify: 48 h median, 1 h work → 2 d lead, 1.96 d waiting
    assert chart.rows[0] == ["Qualify", "value-add", 2.0, 1.0, 0.042, 1.96]
    assert chart.rows[2] == ["Contract", "waste", None, None, None, None]
    work, waiting = chart.figures[0].spec["data"]
    assert work["x"][0] == 0.042 and waiting["x"][0] == 1.96
    assert chart.note == "Lead time 7 d, of which 4 h work: activity ratio 2.4%."


# --- A rep beside the team ------------------------------------------------------------------


def test_the_rep_charts_name_only_you_and_the_team():
    mine = result(won=3, closed=4, win_rate=0.75)
    built = [
        charts.my_time_per_step_chart(mine, result(), SMAP),
        charts.my_win_rate_chart(mine, result()),
        charts.my_conversion_chart(mine, result(), SMAP),
    ]
    for chart in built:
        names = {trace.get("name") for f in chart.figures for trace in f.spec["data"]}
        names |= {
            y
            for f in chart.figures
            for t in f.spec["data"]
            for y in t.get("y", [])
            if isinstance(y, str)
        }
        assert names <= {"You", charts.TEAM, "Win rate", *(s.name for s in SMAP.steps)}, names
    assert built[1].rows == [["You", 3, 4, 75.0], [charts.TEAM, 12, 30, 40.0]]


# --- plotly.js ------------------------------------------------------------------------------


VENDOR = Path(__file__).resolve().parents[2] / "static" / "js" / "vendor"


def _plotly_js_version(source: str) -> tuple[int, ...]:
    version = re.search(r"plotly\.js (?:\([a-z -]+\) )?v(\d+)\.(\d+)\.(\d+)", source[:300])
    assert version, source[:300]
    return tuple(int(part) for part in version.groups())


def _bundle_trace_types() -> set[str]:
    """The trace modules the served partial bundle registers."""
    source = (VENDOR / "plotly.min.js").read_text()
    return set(re.findall(r'moduleType:"trace",name:"([a-z0-9]+)"', source))


def test_the_served_plotly_js_is_a_partial_bundle_of_the_python_packages_major_version():
    served = (VENDOR / "plotly.min.js").read_text()
    bundled = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()
    assert _plotly_js_version(served)[0] == _plotly_js_version(bundled)[0]
    assert len(served) < len(bundled) / 3  # the point of a partial bundle: phones
    assert "MIT" in (VENDOR / "plotly.LICENSE").read_text()
    assert {"bar", "funnel", "scatter"} <= _bundle_trace_types() and "scattergl" not in (
        _bundle_trace_types()
    )


def test_every_chart_uses_only_trace_types_the_served_bundle_has():
    from kaizen.charts import run_chart_figure
    from kaizen.checks import RunChart, WeekPoint
    from kaizen.metrics import METRICS

    r, s = result(), series()
    # The cycle-time chart at its largest (it once switched to WebGL above 1,000 dots).
    many = CycleTimes(
        n=CYCLE_POINTS,
        p50=20.0,
        p85=40.0,
        p95=60.0,
        points=[
            {"deal_id": i, "closed_at": f"2025-02-{1 + i % 28:02d}T10:00:00+00:00", "days": i % 90}
            for i in range(CYCLE_POINTS)
        ],
    )
    built = every_chart(r, s, previous=result(win_rate=0.5)) + team_charts(r)
    built.append(charts.cycle_time_chart(replace(s, cycle_times=many), r, url))
    used: dict[str, set[str]] = {}
    for chart in built:
        for figure in chart.figures:
            for trace in figure.spec["data"]:
                used.setdefault(trace.get("type", "scatter"), set()).add(chart.key)
    change = datetime(2025, 2, 3, tzinfo=UTC)
    weeks = [
        WeekPoint(
            start=change + timedelta(weeks=k), value=10.0 + k % 3, n=5, after=k >= 0, partial=False
        )
        for k in range(-6, 6)
    ]
    run = RunChart(
        change_at=change, weeks=weeks, mean=11.0, mean_moving_range=1.0, upper=13.7, lower=8.3
    )
    for key, metric in METRICS.items():
        for trace in run_chart_figure(run, metric).to_plotly_json()["data"]:
            used.setdefault(trace.get("type", "scatter"), set()).add(f"kaizen run chart {key}")

    assert {"bar", "funnel", "scatter"} <= used.keys()  # the list is really of every chart
    missing = {kind: keys for kind, keys in used.items() if kind not in _bundle_trace_types()}
    assert not missing, f"trace types the served plotly.js cannot draw: {missing}"


def test_the_data_table_escapes_names_and_links_each_row_to_its_deal():
    smap = StreamMap(
        steps=(StepInfo(11, "<b>Qualify</b>", "SDR", "value_add"),), stages=(), currency="EUR"
    )
    s = series()
    s.aging.items = s.aging.items[:1]
    html = str(charts.aging_chart(s, result(), smap, url).table_html)
    assert '<th scope="col">deal_id</th>' in html
    assert '<tr><th scope="row"><a href="/deals/21/">21</a></th><td>&lt;b&gt;Qualify' in html
    assert "<b>" not in html
