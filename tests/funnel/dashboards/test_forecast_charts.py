"""The Forecast dashboard's charts on the hand-built result of ``forecast_payload``: every
figure checked against the numbers worked out by hand, each figure a valid Plotly figure, and
the empty states."""

from __future__ import annotations

import pytest

from funnel.dashboards.charts.common import as_figure
from funnel.dashboards.charts.forecast import (
    by_date_chart,
    coverage_chart,
    deals_chart,
    fan_chart,
    forecast_charts,
    forecast_tiles,
    target_chart,
    track_summary,
    wins_needed_chart,
)
from tests.funnel.dashboards.forecast_payload import forecast_payload


def test_every_figure_is_a_valid_plotly_figure():
    charts = forecast_charts(forecast_payload(), currency="EUR", owner_names={2: "alice"})
    assert [c.key for c in charts] == [
        "fan",
        "track",
        "backtests",
        "by_date",
        "when",
        "target",
        "deals",
    ]
    for chart in charts:
        assert chart.figures, chart.key
        for figure in chart.figures:
            as_figure(figure.spec)  # raises on a property Plotly does not know
            assert figure.json.count("<") == 0


def test_fan_chart_rows_and_bands():
    chart = fan_chart(forecast_payload())
    assert chart.title == "Wins from now to 31 Dec 2026"
    assert chart.columns[:2] == ["week_ending", "median"]
    assert chart.rows[1] == ["2026-12-13", 3, 2, 4, 1, 5, 1, 6]
    traces = chart.figures[0].spec["data"]
    # Widest band first (its low edge, then its high edge filled down to it), median last.
    assert [t["name"] for t in traces] == [
        "95 % band (low)",
        "95 % band",
        "85 % band (low)",
        "85 % band",
        "50 % band (low)",
        "50 % band",
        "Median",
    ]
    # The figure starts from nothing won on the forecast's day (1 Dec), then the weeks.
    assert traces[6]["x"] == ["2026-12-01", "2026-12-06", "2026-12-13", "2026-12-20", "2026-12-31"]
    assert traces[3]["y"] == [0, 3, 5, 7, 8] and traces[3]["fill"] == "tonexty"
    assert traces[2]["y"] == [0, 0, 1, 2, 3]
    assert traces[6]["y"] == [0, 1, 3, 4, 5]


def test_coverage_chart_and_the_too_narrow_verdict():
    chart = coverage_chart(forecast_payload())
    # 36 of 52 back-tests held the actual wins in their 85 % band: 69.2 %; the revenue's
    # 85 % band held in 87.5 %, the date of 10 more wins' in 80 % (of 40).
    assert chart.rows == [
        ["50 %", 50, 50.0, 50.0, 45.0, 52, None, 0, None, 0],
        ["85 %", 85, 69.2, 87.5, 80.0, 52, None, 0, None, 0],
        ["95 %", 95, 90.0, 95.0, 90.0, 52, None, 0, None, 0],
    ]
    bars = chart.figures[0].spec["data"]
    assert [b["name"] for b in bars] == [
        "Promised (nominal)",
        "Wins",
        "Revenue",
        "When N more wins",
    ]
    assert bars[1]["text"] == ["50%", "69%", "90%"]
    assert chart.note.startswith("Wins: the 85 % band held") and chart.note.endswith("narrow.")
    summary = track_summary(forecast_payload())
    assert summary["count"] == 52 and summary["narrow"] and summary["names"] == ["Wins"]
    assert [
        (r["band"], r["cells"][0]["held"], r["cells"][0]["short"]) for r in summary["rows"]
    ] == [("50", 50, False), ("85", 69, True), ("95", 90, False)]
    assert summary["typical_error"] == "1.8 wins"
    assert summary["verdicts"] == [
        "The 85 % band held the actual result in only 69 % of 52 back-tests: the bands were "
        "too narrow."
    ]
    both = track_summary(forecast_payload(), ("wins", "revenue"), "EUR")
    assert both["names"] == ["Wins", "Revenue"]
    assert [c["held"] for c in both["rows"][1]["cells"]] == [69, 88]
    assert both["typical_error"] == "wins 1.8 wins; revenue €12,000"
    assert both["verdicts"][0].startswith("Wins: the 85 % band held")
    when = track_summary(forecast_payload(), ("needed",))
    # 36 elapsed hours of typical error: 1.5 days; the 85 % band held in 80 % of 40.
    assert when["count"] == 40 and when["typical_error"] == "1.5 days"
    assert not when["narrow"]


def test_stored_forecasts_are_a_bar_of_their_own_once_scored():
    result = forecast_payload()
    result["track_record"]["stored"] = {"count": 8, "coverage": {"50": 0.5, "85": 0.875, "95": 1}}
    chart = coverage_chart(result)
    assert chart.rows[1][6:8] == [87.5, 8]
    stored = chart.figures[0].spec["data"][-1]
    assert stored["name"] == "Stored in production" and stored["text"] == ["50%", "88%", "100%"]


def _with_close_dates():
    """The payload with each deal's close dates back-tested: 120 deals' close dates, the
    85 % band holding 84 of them (70 %: too narrow), a typical error of 6.25 days."""
    result = forecast_payload()
    result["track_record"]["close_dates"] = {
        "name": "close dates",
        "count": 120,
        "coverage": {"50": 0.45, "85": 0.7, "95": 0.9},
        "typical_error": 6.25,
        "verdicts": [
            "the 85% band held the actual result only 70% of the time (over 120 deals' close "
            "dates): the bands are too narrow"
        ],
        "open_outside": 3,
        "censored": 2,
        "lost": 40,
        "no_dates": 1,
    }
    return result


def test_each_deals_close_dates_are_a_bar_and_a_column_of_their_own():
    chart = coverage_chart(_with_close_dates())
    assert chart.columns[-2:] == ["close_dates_held_pct", "deal_close_dates_scored"]
    assert [r[-2:] for r in chart.rows] == [[45.0, 120], [70.0, 120], [90.0, 120]]
    bars = chart.figures[0].spec["data"]
    assert bars[-1]["name"] == "Close dates (per deal)"
    assert bars[-1]["text"] == ["45%", "70%", "90%"]
    summary = track_summary(_with_close_dates(), ("close_dates",))
    assert summary["figures"] == ["close_dates"] and summary["names"] == ["Close dates"]
    assert summary["count"] == 120 and summary["typical_error"] == "6.2 days"
    assert [r["cells"][0]["short"] for r in summary["rows"]] == [False, True, False]
    assert summary["verdicts"] == [
        "The 85% band held the actual result only 70% of the time (over 120 deals' close "
        "dates): the bands are too narrow."
    ]


def test_wins_and_revenue_by_the_date():
    chart = by_date_chart(forecast_payload(), "EUR")
    assert chart.rows == [
        ["Wins", 5.2, 5.0, 4.0, 6.0, 3.0, 8.0, 2.0, 9.0],
        ["Revenue (EUR)", 61000.0, 60000.0, 48000.0, 72000.0, 36000.0, 90000.0, 24000.0, 99000.0],
    ]
    wins = chart.figures[0].spec["data"]
    # The 85 % band is a bar from 3 to 8: based at 3, 5 long.
    assert wins[1]["base"] == [3.0] and wins[1]["x"] == [5.0]


def test_when_will_we_reach_n_more_wins():
    chart = wins_needed_chart(forecast_payload())
    assert chart.title == "When will we reach 10 more wins?"
    assert chart.rows == [["50 %", "2027-01-20"], ["85 %", "2027-02-10"], ["95 %", None]]
    assert "93% of the simulated futures reach 10 more wins" in chart.note
    dots = chart.figures[0].spec["data"][0]
    assert dots["x"] == ["2027-01-20", "2027-02-10"] and dots["text"][1] == "10 Feb 2027"
    result = forecast_payload()
    result["wins_needed"]["reached_by"] = {"50": None, "85": None, "95": None}
    assert "Too few simulated futures" in wins_needed_chart(result).empty


def test_target_attainment():
    chart = target_chart(forecast_payload())
    assert chart.rows == [
        ["2026-10-01", "2026-12-31", 20, 14, 19.2, 40.0, 18.0, 21.0, 17.0, 23.0, 16.0, 24.0]
    ]
    won, still = chart.figures[0].spec["data"]
    assert won["x"] == [14]
    # 19.2 expected: 5.2 on top of the 14 won; its 85 % band 17–23 is 2.2 below, 3.8 above.
    assert still["x"] == [5.2] and still["base"] == [14]
    assert still["error_x"]["arrayminus"] == [pytest.approx(2.2)]
    assert still["error_x"]["array"] == [pytest.approx(3.8)]
    assert "a 40% chance of reaching it" in chart.figures[0].label
    assert chart.figures[0].spec["layout"]["shapes"][0]["x0"] == 20
    assert "no target" in target_chart(forecast_payload(target=False)).empty


def test_deals_table_says_which_model_gave_the_outcome():
    chart = deals_chart(
        forecast_payload(), deal_url=lambda pk: f"/deals/{pk}/", owner_names={2: "alice"}
    )
    assert chart.rows == [
        [
            "Globex renewal",
            "Proposal",
            "alice",
            12000.0,
            80.0,
            "2026-12-10",
            "2026-12-20",
            "2027-01-05",
            "the lab",
        ],
        ["Initech pilot", "Demo", "—", None, 25.0, "2027-01-15", None, None, "the flow"],
    ]
    assert chart.row_links == ["/deals/11/", "/deals/12/"]
    assert "lab's calibrated probability" in chart.note
    names = [t["name"] for t in chart.figures[0].spec["data"]]
    assert names == ["Chance from the flow", "Chance from the lab"]
    assert deals_chart(forecast_payload(deals=[])).empty == "No open deal to forecast."


def test_tiles():
    tiles = {t.key: t for t in forecast_tiles(forecast_payload(), "EUR")}
    assert tiles["wins"].label == "Wins by 31 Dec 2026"
    assert (tiles["wins"].value, tiles["wins"].detail) == ("5", "median; 85 %: 3–8")
    assert tiles["revenue"].value == "€60,000"
    assert tiles["revenue"].detail == "median; 85 %: €36,000–€90,000"
    assert tiles["target"].value == "40%"
    assert tiles["target"].detail == "target 20 by 31 Dec 2026; 14 won, 19.2 expected"
    assert (tiles["when"].label, tiles["when"].value) == ("10 more wins by", "10 Feb 2027")
    assert (tiles["track"].value, tiles["track"].detail) == ("69%", "of 52 back-tests")
    assert tiles["open"].detail == "1 with the lab's chance"


def test_without_a_track_record_or_target():
    result = forecast_payload(target=False, track=False)
    assert track_summary(result) is None
    assert "No back-test yet" in coverage_chart(result).empty
    assert {t.key for t in forecast_tiles(result, "USD")} == {"wins", "revenue", "when", "open"}
