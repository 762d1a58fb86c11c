"""The Leads dashboard's charts (funnel.dashboards.charts.leads, leads_pull, leads_waste)
against the hand-written result of ``leads_fixture``: each chart's rows worked out by hand,
the figure plots those rows, every spec a valid Plotly figure, and the empty states."""

from __future__ import annotations

import pytest

from funnel.dashboards.charts import as_figure
from funnel.dashboards.charts.leads import (
    bin_label,
    flow_chart,
    leads_tiles,
    response_chart,
    sla_breakdown_chart,
    sla_chart,
    sla_week_chart,
    waterfall_chart,
)
from funnel.dashboards.charts.leads_pull import (
    capacity_chart,
    prospecting_chart,
    sellers_chart,
    skipped_chart,
    skipped_rep_chart,
    trend_line,
    verdict_text,
)
from funnel.dashboards.charts.leads_waste import (
    first_touch_chart,
    reasons_chart,
    waste_summary_chart,
)
from funnel.dashboards.leads import has_leads, leads_board, leads_result_for
from tests.funnel.leads.leads_fixture import empty_result, leads_result, no_waterfall_result

KEYS = [
    "waterfall",
    "flow",
    "response",
    "sla",
    "sla_rep",
    "sla_source",
    "sla_week",
    "capacity",
    "sellers",
    "prospecting",
    "prospecting_rep",
    "skipped",
    "skipped_rep",
    "waste_summary",
    "first_touch",
    "reasons",
]


@pytest.fixture
def result() -> dict:
    return leads_result()


def test_every_chart_is_a_valid_figure_with_its_explanation(result):
    board = leads_board(result, deal_url=lambda pk: f"/deals/{pk}/")
    assert [c.key for c in board.charts] == KEYS
    for chart in board.charts:
        assert chart.figures, f"{chart.key} plots nothing: {chart.empty}"
        assert len(chart.how_to_read) > 80 and chart.units and chart.title
        assert chart.as_of.isoformat() == "2026-11-01T00:00:00+00:00"
        assert all(len(row) == len(chart.columns) for row in chart.rows), chart.key
        for figure in chart.figures:
            as_figure(figure.spec)
            assert figure.label


def test_the_waterfall_adds_the_cohorts_up(result):
    chart = waterfall_chart(result)
    totals = [r for r in chart.rows if r[0] == "all"]
    assert [(r[1], r[2], r[3], r[4]) for r in totals] == [
        ("Inquiry", 30, 30, 100.0),
        ("MQL", 30, 20, 66.7),
        ("SAL", 30, 15, 50.0),
        ("SQL", 30, 9, 30.0),
        ("Opportunity", 30, 5, 16.7),
        ("Won", 30, 1, 3.3),
    ]
    bars = chart.figures[0].spec["data"][0]
    assert bars["x"] == [30, 20, 15, 9, 5, 1]
    assert bars["text"][:3] == ["30 · 100%", "20 · 67%", "15 · 50%"]
    assert [r[5] for r in totals] == [None, 66.7, 75.0, 60.0, 55.6, 20.0]  # of the stage before
    # 15 of 30: Wilson 95 % [0.3315, 0.6685] (scipy binomtest(15, 30), method "wilson").
    assert bars["customdata"][2] == ["; 75% of the stage before", ", 95 % interval 33.2–66.8%"]
    # By cohort month: a line per stage after the first, its shares from the rows.
    lines = {t["name"]: t for t in chart.figures[1].spec["data"]}
    assert list(lines) == ["MQL", "SAL", "SQL", "Opportunity", "Won"]
    assert lines["MQL"]["x"] == ["2026-09", "2026-10"]
    assert lines["MQL"]["y"] == [80.0, 60.0]
    september_sal = next(r for r in chart.rows if r[:2] == ["2026-09", "SAL"])
    # 6 of 10: Wilson 95 % [0.3127, 0.8318] (scipy binomtest(6, 10), method "wilson").
    assert september_sal == ["2026-09", "SAL", 10, 6, 60.0, 75.0, 31.3, 83.2, 20.0, 40.0]


def test_the_waterfall_shows_each_share_with_its_wilson_interval(result):
    """All months: MQL 20 of 30, Wilson 95 % [0.4878, 0.8077] (scipy binomtest(20, 30),
    method "wilson"); by month, September's MQL 8 of 10 [0.4902, 0.9433] and October's 12
    of 20 [0.3866, 0.7812] drawn as whiskers around 80 % and 60 %."""
    chart = waterfall_chart(result)
    assert chart.columns[4:8] == ["share_pct", "of_previous_pct", "share_low_pct", "share_high_pct"]
    mql = next(r for r in chart.rows if r[:2] == ["all", "MQL"])
    assert mql[4:8] == [66.7, 66.7, 48.8, 80.8]
    bars = chart.figures[0].spec["data"][0]
    assert bars["customdata"][1][1] == ", 95 % interval 48.8–80.8%"
    line = next(t for t in chart.figures[1].spec["data"] if t["name"] == "MQL")
    assert line["error_y"]["array"] == [14.3, 18.1]
    assert line["error_y"]["arrayminus"] == [31.0, 21.3]
    assert line["customdata"][0] == [8, 10, ", 95 % interval 49.0–94.3%"]


def test_the_flow_plots_each_stage_and_the_leads_turned_down(result):
    chart = flow_chart(result)
    assert chart.columns[1] == "reached Inquiry" and chart.columns[-3:] == [
        "rejected",
        "recycled",
        "disqualified",
    ]
    assert chart.rows[0] == ["2026-10-05", 6, 4, 3, 2, 1, 0, 1, 2, 0]
    traces = {t["name"]: t for t in chart.figures[0].spec["data"]}
    assert traces["SQL"]["y"] == [2, 2]
    assert traces["Recycled"]["y"] == [2, 1] and traces["Recycled"]["type"] == "bar"


def test_response_time_histograms_one_per_handoff(result):
    chart = response_chart(result)
    first, second = chart.figures
    assert first.caption == "MQL → SAL"
    assert first.detail == ("10 decisions · median 1.5 h · p85 6.0 h · p95 20.0 h · 2 waiting now")
    bars = first.spec["data"][0]
    assert bars["x"] == ["0–1 h", "1–4 h", "4–8 h", "8–24 h", "24–72 h", "72–168 h", "168+ h"]
    assert bars["y"] == [3, 4, 2, 1, 0, 0, 0]
    assert second.spec["data"][0]["y"] == [0, 1, 0, 1, 1, 1, 1]
    assert bin_label({"from_hours": 168, "to_hours": None}) == "168+ h"


def test_sla_attainment_with_intervals_and_n(result):
    chart = sla_chart(result)
    assert chart.rows == [
        ["MQL → SAL", 4.0, 10, 7, 70.0, 39.7, 89.2],
        ["SQL → Opportunity", 8.0, 5, 1, 20.0, 3.6, 62.4],
    ]
    bars = chart.figures[0].spec["data"][0]
    # n beside each name, clear of the bar and its interval.
    assert bars["y"] == ["MQL → SAL (4.0 h) · 7 of 10", "SQL → Opportunity (8.0 h) · 1 of 5"]
    assert bars["x"] == [70.0, 20.0]
    assert bars["error_x"]["array"] == [19.2, 42.4]
    assert bars["error_x"]["arrayminus"] == [30.3, 16.4]


def test_sla_by_rep_is_a_small_multiple_per_handoff(result):
    chart = sla_breakdown_chart(result, by="by_rep")
    assert [f.caption for f in chart.figures] == ["MQL → SAL", "SQL → Opportunity"]
    assert chart.figures[0].spec["data"][0]["y"] == ["Rep One · 5 of 6", "Rep Two · 2 of 4"]
    assert chart.figures[0].spec["data"][0]["x"] == [83.3, 50.0]
    assert chart.rows[0] == ["MQL → SAL", "Rep One", 6, 5, 83.3, 43.6, 97.0]
    # By source: a hand-off without any source row draws no panel.
    by_source = sla_breakdown_chart(result, by="by_source")
    assert [f.caption for f in by_source.figures] == ["MQL → SAL"]
    week = sla_week_chart(result)
    lines = week.figures[0].spec["data"]
    assert [t["name"] for t in lines] == ["MQL → SAL", "SQL → Opportunity"]
    assert lines[0]["y"] == [83.3, 50.0] and lines[1]["x"] == ["2026-10-12"]


def test_capacity_band_and_verdict(result):
    chart = capacity_chart(result)
    assert chart.rows == [
        ["Arrivals ready for sales", 2.5],
        ["Pulled by sellers", 1.5],
        ["Pull capacity at the sellers' limits", 2.0],
    ]
    band = chart.figures[0].spec["layout"]["shapes"][0]
    assert (band["x0"], band["x1"]) == pytest.approx((1.8, 2.2))
    words = verdict_text(result["queue"])  # said above the chart (leads_board.verdict)
    assert words.startswith("Marketing over-produces: 2.5 leads a week")
    assert "the 2.0 a week the sellers can take" in words
    under = result["queue"] | {"arrivals_per_week": 1.0, "verdict": "under"}
    assert verdict_text(under).startswith("Marketing under-produces: the sellers could pull 2.0")
    level = result["queue"] | {"arrivals_per_week": 2.1, "verdict": "level"}
    assert verdict_text(level).startswith("Level: 2.1 leads a week")
    unknown = result["queue"] | {"capacity_per_week": None, "verdict": "unknown"}
    assert "not known yet" in verdict_text(unknown)
    sellers = sellers_chart(result)
    wip, limit = sellers.figures[0].spec["data"]
    assert (wip["x"], limit["x"]) == ([2, 3], [3, 3])


def test_prospecting_share_and_its_trend_line(result):
    chart = prospecting_chart(result)
    assert [r[1] for r in chart.rows] == [40.0, 30.0, 30.0, 20.0]
    assert [r[-1] for r in chart.rows] == [39.0, 33.0, 27.0, 21.0]  # 39 − 6 a week
    bars, trend = chart.figures[0].spec["data"]
    assert bars["y"] == [40.0, 30.0, 30.0, 20.0]
    assert trend["y"] == [39.0, 33.0, 27.0, 21.0]
    assert "falling 6.0 points a week, p = 0.038, unlikely to be chance" in chart.how_to_read
    assert trend_line([0, 1], [1, 2]) is None  # under three weeks: no trend


def test_prospecting_trend_skips_a_week_without_hours(result):
    weeks = result["separation"]["prospecting_share"]
    weeks[1] |= {"share": None, "hours": 0.0, "prospecting_hours": 0.0}
    chart = prospecting_chart(result)
    # Weeks 0, 2, 3 at 40, 30, 20: slope −20/2.333 ≈ −6.43 a week, through (5/3, 30).
    assert [r[-1] for r in chart.rows] == [40.7, None, 27.9, 21.4]
    assert len(chart.figures[0].spec["data"][0]["x"]) == 3


def test_skipped_handoffs_leave_out_empty_weeks(result):
    chart = skipped_chart(result)
    line = chart.figures[0].spec["data"][0]
    assert line["x"] == ["2026-10-05"] and line["y"] == [25.0]
    assert line["error_y"]["arrayminus"] == [20.4]
    assert len(chart.rows) == 2  # the table keeps the week with no case
    by_rep = skipped_rep_chart(result)
    assert by_rep.figures[0].spec["data"][0]["text"] == ["1 of 3", "0 of 1"]


def test_the_wastes(result):
    summary = waste_summary_chart(result, lambda pk: f"/deals/{pk}/")
    assert [r[:4] for r in summary.rows] == [
        ["Never touched", 2, 20, 10.0],
        ["Ping-pong", 1, 4, 25.0],
        ["Recycle yield", 1, 3, 33.3],
    ]
    assert summary.figures[0].spec["data"][0]["y"][1] == "Ping-pong · 1 of 4"
    assert summary.highlights == [("Deal #7", "/deals/7/")]
    bars = summary.figures[0].spec["data"][0]
    assert bars["error_x"]["array"][:2] == [None, None]  # only the yield has an interval
    first = first_touch_chart(result)
    assert first.figures[0].spec["data"][0]["y"] == [3, 5, 2, 2, 1, 1, 1]
    assert first.note.startswith("5 arrivals of the window still waiting")
    reasons = reasons_chart(result)
    traces = {t["name"]: t for t in reasons.figures[0].spec["data"]}
    assert traces["Rejected"]["x"] == ["Not our ICP (rejected)"]
    assert traces["Recycled"]["y"] == [3]
    assert traces["Cumulative share"]["y"] == [50.0, 80.0, 100.0]
    assert reasons.figures[0].spec["layout"]["xaxis"]["categoryarray"] == [
        "Not our ICP (rejected)",
        "Not now (recycled)",
        "Student (disqualified)",
    ]


def test_tiles(result):
    tiles = {t.key: (t.label, t.value, t.detail) for t in leads_tiles(result)}
    assert tiles["created"] == ("Leads created", "30", "in 2 cohort months")
    assert tiles["won"] == ("Reached Won", "3.3%", "1 of 30 leads created")
    assert tiles["waiting"][1:] == ("3", "median age 5.5 h, oldest 30.0 h (hours)")
    assert tiles["verdict"][1] == "Marketing over-produces"
    assert tiles["sla"][1:] == ("53%", "8 of 15 arrivals due")
    assert tiles["never_touched"][1:] == ("10%", "2 of 20 arrivals")


def test_working_time_names_its_unit(result):
    result["view"]["basis"] = "working"
    assert "working hours" in response_chart(result).units
    assert waterfall_chart(result).columns[-2:] == ["median_working_hours", "p85_working_hours"]


def test_a_rep_sees_only_their_own_rows(result):
    mine = leads_result_for(result, rep_id=12)
    assert [r["label"] for r in mine["sla"][0]["by_rep"]] == ["Rep Two"]
    assert mine["sla"][1]["by_rep"] == []
    assert [s["label"] for s in mine["queue"]["sellers"]] == ["Rep Two"]
    assert [r["label"] for r in mine["separation"]["by_rep"]] == ["Rep Two"]
    assert [r["label"] for r in mine["separation"]["skipped_by_rep"]] == ["Rep Two"]
    assert result["sla"][0]["by_rep"][0]["label"] == "Rep One"  # the stored one untouched
    board = leads_board(mine, own_only=True)
    assert board.chart("sla_rep").title.endswith("(yours)")
    assert [f.caption for f in board.chart("sla_rep").figures] == ["MQL → SAL"]


def test_empty_states_say_why():
    board = leads_board(empty_result())
    assert not has_leads(empty_result())
    empty = {c.key: c.empty for c in board.charts if not c.figures}
    assert set(empty) == set(KEYS)
    assert empty["waterfall"] == "No lead was created in this window."
    assert empty["sla"] == "No arrival at a hand-off was due in this window."
    assert empty["sellers"].startswith("No seller has a WIP limit yet")
    assert empty["reasons"] == "No lead was turned down with a reason in this window."
    none = leads_board(no_waterfall_result())
    # The sellers' WIP against their limits needs no waterfall: it says it has no seller.
    assert {c.empty for c in none.charts if c.key != "sellers"} == {
        "This stream has no waterfall yet: a manager sets up its hand-off steps and stages."
    }
    assert has_leads(leads_result())
