"""The forecast payload (funnel/forecasts/view.py) against a hand-worked stream, and the
view's parameters.

On ``test_metrics``'s map (Qualify → Discovery → Legal review → Proposal), now
N = 2025-06-30 00:00 UTC (a Monday, the last day of Q2), the model's window
[N − 180 d, N) = [2025-01-01, 2025-06-30). Every deal's first visit is before the window, so
no deal arrives in it: there are **no new deals**. Discovery, Legal review and Proposal took
720 h (30 days) at every completed visit, so the time draws are exact; at Proposal one deal
was won (H, 30,000) and one lost (L): **a win chance of ½**.

=====  ==================================================  ==============================
deal   path                                                forecast
=====  ==================================================  ==============================
H won  Qualify N−200d → Discovery N−100d → Legal N−70d →   (won N−10d, in Q2: the
       Proposal N−40d → won N−10d                          quarter's one win so far)
L lost Qualify N−195d → Discovery N−99d → Legal N−69d →    —
       Proposal N−39d → lost N−9d
O1     Qualify N−190d → Discovery N−35d (720 h) → Legal    rest of Legal 720 − 132 = 588 h,
       since N−5.5d (age 132 h), amount 20,000             Proposal 720 h: closes N + 1308 h
                                                           = 2025-08-23 12:00 if won (½)
O2     Qualify N−185d → Discovery since N−2.5d (age 60 h), 660 + 720 + 720 = 2100 h: closes
       amount 10,000                                       2025-09-25 12:00 if won (½)
=====  ==================================================  ==============================

So by 2025-09-30 the wins are Binomial(2, ½) (mean 1, revenue mean 15,000), by 2025-09-01
Bernoulli(½) (O1 only); the first win comes on 2025-08-23 in ½ of the scenarios, on
2025-09-25 in ¼, never in ¼ (three quarters reach one more win); two more wins in ¼.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from funnel.forecasts.view import (
    DEFAULT_KEY,
    ForecastView,
    compute_forecast,
    fan_dates,
    forecast_view_from_params,
    quarter_end,
)
from tests.funnel.test_metrics import at, deal, lost, vsm, won  # noqa: F401

pytestmark = pytest.mark.django_db

N = at("2025-06-30T00:00Z")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def days(d: float) -> str:
    return _iso(N - timedelta(days=d))


@pytest.fixture
def stream(vsm):  # noqa: F811 (vsm: the fixture)
    q, d, legal, p = vsm.qualify, vsm.discovery, vsm.legal, vsm.proposal
    won(
        vsm,
        (q, days(200), days(100)),
        (d, days(100), days(70)),
        (legal, days(70), days(40)),
        (p, days(40), days(10)),
        amount="30000",
    )
    lost(
        vsm,
        (q, days(195), days(99)),
        (d, days(99), days(69)),
        (legal, days(69), days(39)),
        (p, days(39), days(9)),
    )
    vsm.o1 = deal(
        vsm,
        (q, days(190), days(35)),
        (d, days(35), days(5)),
        (legal, days(5.5), None),
        amount="20000",
    )
    vsm.o2 = deal(vsm, (q, days(185), days(2.5)), (d, days(2.5), None), amount="10000")
    return vsm


def _payload(ns, **view):
    return compute_forecast(ns.stream, ForecastView(**view), now=N)


def test_each_open_deal_gets_its_win_chance_and_close_dates(stream):
    result = _payload(stream, by=date(2025, 9, 30))
    rows = {row["deal"]: row for row in result["deals"]}
    o1, o2 = rows[stream.o1.pk], rows[stream.o2.pk]
    assert o1["win_probability"] == pytest.approx(0.5, abs=0.02)
    assert o2["win_probability"] == pytest.approx(0.5, abs=0.02)
    # Exact times: every quantile of the won runs is the same day.
    assert o1["close"] == {"50": "2025-08-23", "85": "2025-08-23", "95": "2025-08-23"}
    assert o2["close"] == {"50": "2025-09-25", "85": "2025-09-25", "95": "2025-09-25"}
    assert o1["step_name"] == "Legal review" and o2["step_name"] == "Discovery"
    assert (o1["amount"], o2["amount"], o1["source"]) == (20000.0, 10000.0, "flow")
    probabilities = [row["win_probability"] for row in result["deals"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert result["open_deals"] == 2 and result["unresolved_runs"] == 0
    assert result["outcome_source"] == "flow"
    assert result["window"]["start"] == at("2025-01-01T00:00Z").isoformat()
    assert result["basis"] == "elapsed" and result["runs"] == 10_000


def test_wins_and_revenue_by_a_date(stream):
    result = _payload(stream, by=date(2025, 9, 30))
    wins, revenue = result["wins_by"]["wins"], result["wins_by"]["revenue"]
    assert result["wins_by"]["by"] == "2025-09-30"
    assert wins["mean"] == pytest.approx(1.0, abs=0.03)  # Binomial(2, ½)
    assert wins["median"] == 1.0
    assert wins["bands"]["95"] == [0.0, 2.0]
    assert revenue["mean"] == pytest.approx(15_000, abs=400)
    assert revenue["bands"]["95"] == [0.0, 30_000.0]
    assert result["wins_by"]["expected_new_wins"] == 0.0
    # By 1 September only O1 can be won.
    early = _payload(stream, by=date(2025, 9, 1))["wins_by"]["wins"]
    assert early["mean"] == pytest.approx(0.5, abs=0.02)
    assert early["bands"]["95"] == [0.0, 1.0]


def test_the_fan_counts_the_wins_week_by_week(stream):
    result = _payload(stream, by=date(2025, 9, 30))
    fan = {point["date"]: point for point in result["fan"]}
    dates = [point["date"] for point in result["fan"]]
    assert (dates[0], dates[-1]) == ("2025-07-07", "2025-09-30")
    assert len(dates) == 14  # 13 Mondays from 7 July to 29 September, and 30 September
    assert fan["2025-08-18"]["bands"]["95"] == [0.0, 0.0]  # nothing can close before 23 Aug
    assert fan["2025-08-25"]["bands"]["95"] == [0.0, 1.0]  # O1 may have
    assert fan["2025-09-29"]["bands"]["95"] == [0.0, 2.0]  # and O2 too
    assert fan["2025-09-29"]["median"] == 1.0


def test_when_n_more_wins(stream):
    one = _payload(stream, by=date(2025, 9, 30), when_wins=1)["wins_needed"]
    assert one["n"] == 1
    assert one["share_reached"] == pytest.approx(0.75, abs=0.02)
    # Reached in 85 % or 95 % of the scenarios: never (a quarter never win at all).
    assert one["reached_by"]["85"] is None and one["reached_by"]["95"] is None
    two = _payload(stream, by=date(2025, 9, 30), when_wins=2)["wins_needed"]
    assert two["share_reached"] == pytest.approx(0.25, abs=0.02)


def test_the_default_view_runs_to_the_quarters_end_and_counts_its_wins_so_far(stream):
    """The stream's target is 8 wins per 30 days: over Q2's 91 days ⌈24.3⌉ = 25, of which H's
    win is in; nothing more can close by 30 June, so 24 are left: "when 24 more wins"."""
    result = _payload(stream)
    assert result["wins_by"]["by"] == "2025-06-30"  # N is the last day of Q2
    assert result["wins_by"]["wins"]["bands"]["95"] == [0.0, 0.0]
    assert result["won_so_far"] == {"since": "2025-04-01", "wins": 1, "revenue": 30000.0}
    assert result["view"]["key"] == DEFAULT_KEY
    target = result["target"]
    assert (target["period_start"], target["period_end"]) == ("2025-04-01", "2025-06-30")
    assert (target["target"], target["won_so_far"]) == (25, 1)
    assert (target["expected"], target["probability"]) == (1.0, 0.0)
    assert target["bands"]["95"] == [1.0, 1.0]
    assert result["wins_needed"]["n"] == 24


def test_the_target_of_the_quarter_asked_for(stream):
    """By 30 September: Q3's 92 days, ⌈8 × 92 ÷ 30⌉ = 25, nothing won in it yet, O1 and O2
    each won with chance ½ in it: expected 1, never 25."""
    target = _payload(stream, by=date(2025, 9, 30))["target"]
    assert (target["period_start"], target["period_end"]) == ("2025-07-01", "2025-09-30")
    assert (target["target"], target["won_so_far"]) == (25, 0)
    assert target["expected"] == pytest.approx(1.0, abs=0.03)
    assert target["probability"] == 0.0


def test_without_a_target_there_is_no_attainment_and_n_is_ten(stream):
    stream.stream.target_won_deals_per_period = None
    stream.stream.save()
    result = _payload(stream)
    assert result["target"] is None and result["wins_needed"]["n"] == 10


def test_the_outcome_is_the_flows_without_a_lab_view(stream):
    result = _payload(stream, by=date(2025, 9, 30))
    assert result["outcome_source"] == "flow"
    assert "has not been computed" in result["lab_note"]
    assert {row["source"] for row in result["deals"]} == {"flow"}


def test_a_forecast_as_of_a_past_instant_reads_the_log_as_it_stood(stream):
    """As of N − 20 d, H and L were still at Proposal: four open deals, and no exit from
    Proposal measured yet (so the map's planned 72 h and a win follow there)."""
    result = compute_forecast(
        stream.stream, ForecastView(as_of=N - timedelta(days=20), by=date(2025, 6, 30)), now=N
    )
    assert result["open_deals"] == 4
    assert result["as_of"] == (N - timedelta(days=20)).isoformat()
    assert result["won_so_far"]["wins"] == 0
    assert result["outcome_source"] == "flow" and "past instant" in result["lab_note"]


def test_a_fixed_seed_repeats_the_payload(stream):
    a = _payload(stream, by=date(2025, 9, 30), runs=500)
    b = _payload(stream, by=date(2025, 9, 30), runs=500)
    assert a == b and a["runs"] == 500


@pytest.mark.parametrize(
    ("day", "end"),
    [
        (date(2025, 2, 15), date(2025, 3, 31)),
        (date(2025, 6, 30), date(2025, 6, 30)),
        (date(2025, 7, 1), date(2025, 9, 30)),
        (date(2025, 11, 1), date(2025, 12, 31)),
    ],
)
def test_quarter_end(day, end):
    assert quarter_end(day) == end


def test_fan_dates_are_weekly_and_end_on_by():
    assert fan_dates(date(2025, 6, 30), date(2025, 7, 10)) == [date(2025, 7, 7), date(2025, 7, 10)]
    assert fan_dates(date(2025, 6, 30), date(2025, 6, 30)) == [date(2025, 6, 30)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "30/09/2025"}, "by"),
        ({"by": "2025-02-30"}, "by"),
        ({"by": "2025-06-01"}, "by"),  # before the forecast's day
        ({"by": "2031-01-01"}, "by"),  # more than two years ahead
        ({"when_wins": "0"}, "when_wins"),
        ({"when_wins": "ten"}, "when_wins"),
        ({"runs": "50"}, "runs"),
        ({"runs": "20000"}, "runs"),
        ({"as_of": "2025-07-01"}, "as_of"),  # in the future
        ({"as_of": "yesterday"}, "as_of"),
        ({"by": "2025-07-01\x00"}, "by"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(stream, params, field):
    with pytest.raises(ValidationError) as caught:
        forecast_view_from_params(stream.stream, params, now=N)
    assert list(caught.value.message_dict) == [field]


def test_parameters_make_the_view_and_its_key(stream):
    view, key, live = forecast_view_from_params(
        stream.stream, {"by": "2025-09-30", "when_wins": "3", "runs": "2000"}, now=N
    )
    assert view == ForecastView(by=date(2025, 9, 30), when_wins=3, runs=2000)
    assert key == "by=2025-09-30|wins=3|as_of=now|runs=2000" and live
    view, key, live = forecast_view_from_params(stream.stream, {}, now=N)
    assert key == DEFAULT_KEY == "by=quarter|wins=auto|as_of=now|runs=10000" and live
    view, key, live = forecast_view_from_params(
        stream.stream, {"as_of": "2025-06-01T12:00Z"}, now=N
    )
    assert not live and key.endswith("as_of=2025-06-01T12:00:00Z|runs=10000")


def test_the_labs_probability_sets_the_outcome_and_the_flow_the_timing(stream):
    """A stored lab view gives O1 a win chance of 0.9 at Legal review, the step it is in; O2
    has none (its step has no lab model). O1's close date stays the flow's."""
    from funnel.qualification.models import LabSnapshot

    LabSnapshot.objects.create(
        stream=stream.stream,
        view_key="lab-test",
        computed_at=N,
        requested_at=N,
        result={"model": {"status": "ok"}, "open_deals": {"model_ok": True, "steps": {}}},
        open_deals={str(stream.o1.pk): {"probability": 0.9, "step": stream.legal.pk}},
    )
    result = _payload(stream, by=date(2025, 9, 30))
    rows = {row["deal"]: row for row in result["deals"]}
    o1, o2 = rows[stream.o1.pk], rows[stream.o2.pk]
    assert (o1["source"], o2["source"]) == ("lab", "flow")
    assert o1["win_probability"] == pytest.approx(0.9, abs=0.01)
    assert o2["win_probability"] == pytest.approx(0.5, abs=0.02)
    assert o1["close"]["50"] == "2025-08-23"
    assert result["outcome_source"] == "mixed"
    assert result["lab_note"].startswith("1 of 2 open deals use the qualification lab")
    assert result["wins_by"]["wins"]["mean"] == pytest.approx(1.4, abs=0.03)  # 0.9 + 0.5
