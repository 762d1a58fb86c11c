"""The cockpit's figures against the hand-worked stream of ``conftest.py``, and against the
dashboards they link to (docs/cockpit.md)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from kaizen.cockpit.changes import Change, change_of
from kaizen.cockpit.figures import stream_cockpit
from kaizen.cockpit.past import pipelines
from kaizen.services import cycle_plan
from tests.factories import PullHandoffFactory
from tests.kaizen.cockpit.conftest import NOW

pytestmark = pytest.mark.django_db


def computed(hand):
    return stream_cockpit(hand.stream, now=NOW, compute=True)


def test_it_works_out_the_pipeline_now_and_when_the_period_began(hand):
    cockpit = computed(hand)
    pipeline = cockpit.headline("pipeline")
    # Open now: D (8,000) and F (12,000). Open at T = 03-03 12:00: C (entered 02-01, won
    # 04-01) and D (8,000): 2 deals, 28,000. Same count, 8,000 less.
    assert pipeline.value == "2 open deals"
    assert pipeline.detail == "$20,000 in open deals"
    assert pipeline.change.trend == "down"
    assert pipeline.change.words == "down $8,000 on the previous 90 days"
    assert pipeline.url == f"/deals/?stream={hand.stream.pk}"


def test_it_works_out_win_rate_velocity_and_stalled(hand):
    cockpit = computed(hand)
    # Closed in the period: C won, E lost, G won: 2 of 3 = 67 %. Before: A won, B lost: 50 %.
    win = cockpit.headline("win_rate")
    assert (win.value, win.detail) == ("67%", "2 won of 3 closed")
    assert win.change.words == "up 16.7 pts on the previous 90 days (better)"
    # 2 open × 2/3 × mean won 25,000 ÷ median cycle of C (59 d) and G (2 d) = 30.5 d
    # = 1,092.90/day. Before: 2 open × 1/2 × 10,000 ÷ 10 d (A) = 1,000/day: +9.3 %.
    velocity = cockpit.headline("velocity")
    assert velocity.value == "$1,093/day"
    assert velocity.change.words == "up 9.3% on the previous 90 days (better)"
    # Qualify's p85 over E 24 h, F 48 h, G 24 h: 24 + 0.7 × 24 = 40.8 h; D has waited
    # 2,676 h: stalled. Propose's over G 24, E 192, C 1,368 h: 192 + 0.7 × 1,176 = 1,015.2 h;
    # F has waited 708 h: not. Against the previous period's p85 (Qualify 48 h, Propose
    # 192 h, A's only) both were: 2 → 1.
    stalled = cockpit.headline("stalled")
    assert stalled.value == "1"
    assert stalled.change.words == "down 1 deal on the previous 90 days (better)"
    assert stalled.change.good is True


def test_with_a_ready_for_sales_hand_off_the_win_rate_is_of_the_deals_past_it(hand):
    PullHandoffFactory(step=hand.qualify)
    win = computed(hand).headline("win_rate")
    # In the period C and G won, E lost at Propose (past Qualify, the queue): 2 of 3 deals.
    # Before: A won, B lost at Qualify, a lead: 1 of 1 deal, 100 %.
    assert (win.value, win.detail) == (
        "67%",
        "2 won of 3 deals closed past the ready-for-sales hand-off (95 %: 21–94%); no lead "
        "lost before it",
    )
    assert win.change.words == "down 33.3 pts on the previous 90 days (worse)"
    assert "leads lost before it are not lost deals" in win.explanation
    # Open now: D at Qualify (a lead), F at Propose (past the hand-off).
    pipeline = computed(hand).headline("pipeline")
    assert pipeline.detail == ("$20,000 in open deals; 1 of them past the ready-for-sales hand-off")


def test_it_names_the_worst_waiting_step_with_its_cycles(hand):
    # Propose's wait: (1,368 + 192 + 24) − 3 × 1 h of planned work = 1,581 h; Qualify's
    # (24 + 48 + 24) − 3 = 93 h. Before: A's 192 − 1 = 191 h at Propose. 1,581 h = 65.9 d,
    # shown "66 d"; the change 1,390 h = 57.9 d, "58 d".
    worst = computed(hand).worst
    assert (worst.name, worst.wait_hours, worst.visits) == ("Propose", 1581.0, 3)
    assert (worst.wait, worst.per_visit) == ("66 d", "22 d")  # 1,581 ÷ 3 = 527 h = 22.0 d
    assert worst.change.words == "up 58 d on the previous 90 days (worse)"
    assert worst.cycles == []
    assert worst.plan_url.endswith(f"?stream={hand.stream.pk}&step={hand.propose.pk}")
    cycle = cycle_plan(
        user=hand.manager,
        stream=hand.stream,
        title="Shorter proposals",
        metric="time_in_step",
        step=hand.propose,
        now=NOW,
    )
    cycle_plan(
        user=hand.manager,
        stream=hand.stream,
        title="Faster calls",
        metric="time_in_step",
        step=hand.qualify,
        now=NOW,
    )
    cycles = computed(hand).worst.cycles
    assert [(c.title, c.phase, c.url) for c in cycles] == [
        ("Shorter proposals", "Plan", reverse("kaizen:detail", args=[cycle.pk]))
    ]


def test_it_says_the_forecast_is_not_computed_yet(hand):
    forecast = computed(hand).forecast
    assert forecast.computed is False
    assert forecast.value == "not computed yet"
    assert forecast.url


def test_the_pipeline_at_an_instant_counts_deals_entered_before_and_not_closed_before(hand):
    from funnel.metrics.snapshots import metrics_read
    from kaizen.cockpit.figures import default_filters

    result = metrics_read(default_filters(hand.stream, now=NOW).query, now=NOW)
    # At 01-16 00:00: A (open until 01-20) and B (lost at 01-16, not before it): 2, 15,000.
    now, then = pipelines(result, at=datetime(2025, 1, 16, tzinfo=UTC))
    assert (now.deals, now.amount) == (2, 20000.0)
    assert now.deals == result.summary.open_deals  # the engine's count
    assert (then.deals, then.amount) == (2, 15000.0)


def test_a_change_says_its_direction_in_words():
    assert change_of(3, 1, str, more_is_better=False, before="x").words == "up 2 on x (worse)"
    assert change_of(1, 1, str, more_is_better=True, before="x").words == "no change on x"
    assert change_of(None, 1, str, more_is_better=True, before="x") is None
    assert Change("down", "2", "x").arrow == "▼"


def _tile(html: str, key: str) -> tuple[str, str]:
    block = html.split(f'data-tile="{key}"', 1)[1].split('<div class="kpi"', 1)[0]
    value = re.search(r'<p class="kpi-value">([^<]*)</p>', block).group(1)
    change = re.search(r'<p class="kpi-change[^"]*">.*?</span>\s*([^<]*?)\s*<span', block, re.S)
    return value, change.group(1) if change else ""


def test_the_cockpit_shows_what_the_dashboards_show(hand):
    client = Client()
    client.force_login(hand.leader)
    home = client.get("/").content.decode()
    slug = hand.stream.slug
    funnel = client.get(reverse("dashboards:board", args=[slug, "funnel"])).content.decode()
    flow = client.get(reverse("dashboards:board", args=[slug, "flow"])).content.decode()
    assert _tile(funnel, "win_rate") == ("67%", "+16.7 pts")
    assert _tile(funnel, "velocity") == ("$1,093/day", "+9.3%")
    assert _tile(flow, "stalled") == ("1", "−1")
    for key, value in (("win_rate", "67%"), ("velocity", "$1,093/day"), ("stalled", "1")):
        assert f'data-figure-link="{key}">{value}</a>' in home
    assert "up 16.7 pts on the previous 90 days (better)" in home
    assert "down 1 deal on the previous 90 days (better)" in home


def test_it_reads_forecast_against_target_from_the_default_forecast(hand):
    from funnel.forecasts.models import ForecastSnapshot
    from funnel.forecasts.view import DEFAULT_KEY

    target = {
        "period_start": "2025-04-01",
        "period_end": "2025-06-30",
        "target": 6,
        "won_so_far": 2,
        "expected": 4.25,
        "probability": 0.2,
        "bands": {},
    }
    ForecastSnapshot.objects.create(
        stream=hand.stream,
        view_key=DEFAULT_KEY,
        computed_at=NOW,
        requested_at=NOW,
        result={"target": target, "deals": []},
    )
    forecast = computed(hand).forecast
    assert forecast.value == "20% likely"
    assert forecast.detail == (
        "to reach 6 won deals by 30 Jun 2025: 2 won so far, 4.2 expected in all"
    )
    assert forecast.url == reverse("dashboards:forecast", args=[hand.stream.slug])
    ForecastSnapshot.objects.filter(stream=hand.stream).update(result={"target": None})
    assert computed(hand).forecast.value == "no target set"


def _last_week_record(stream, week: date, probability: float):
    """A stored forecast of the wins made at 00:37 UTC on Monday ``week``, with its chance of
    reaching the target (the other figures are not read by the cockpit)."""
    from funnel.forecasts.models import ForecastRecord, RecordKind

    made = datetime.combine(week, datetime.min.time(), UTC) + timedelta(minutes=37)
    bands = {f"{end}_{level}": 1.0 for end in ("low", "high") for level in (50, 85, 95)}
    return ForecastRecord.objects.create(
        stream=stream,
        week=week,
        kind=RecordKind.WINS,
        made_at=made,
        horizon_end=datetime(2025, 7, 1, tzinfo=UTC),
        runs=100,
        median=1.0,
        target_probability=probability,
        **bands,
    )


def test_the_forecast_changes_against_last_weeks_stored_forecast_of_the_same_quarter(hand):
    """The default forecast was made at NOW, Sunday 1 June 2025 (the week of 26 May): last
    week's is the week of 19 May. It says 20 %; last week's stored one said 35 %: down 15
    points."""
    from funnel.forecasts.models import ForecastRecord, ForecastSnapshot
    from funnel.forecasts.view import DEFAULT_KEY
    from kaizen.cockpit.forecast import forecast_figure

    target = {"period_end": "2025-06-30", "target": 6, "won_so_far": 2, "expected": 4.25}
    snapshot = ForecastSnapshot.objects.create(
        stream=hand.stream,
        view_key=DEFAULT_KEY,
        computed_at=NOW,
        requested_at=NOW,
        result={"target": {**target, "probability": 0.2}, "deals": []},
    )
    assert computed(hand).forecast.change is None  # nothing stored last week
    _last_week_record(hand.stream, date(2025, 5, 12), 0.9)  # two weeks ago: not read
    record = _last_week_record(hand.stream, date(2025, 5, 19), 0.35)

    change = computed(hand).forecast.change
    assert change.words == "down 15 pts on last week's forecast (worse)"
    client = Client()
    client.force_login(hand.leader)
    tile = client.get("/").content.decode().split('data-figure="forecast"', 1)[1]
    tile = tile.split('<div class="kpi"', 1)[0]
    assert "20% likely" in tile and "down 15 pts on last week&#x27;s forecast (worse)" in tile
    # In whole points, as the tile shows the chances: 20.3 % against 20 % is no change.
    ForecastRecord.objects.filter(pk=record.pk).update(target_probability=0.203)
    assert forecast_figure(hand.stream).change.words == "no change on last week's forecast"

    def made(at: datetime, period_end: str) -> None:
        snapshot.computed_at = at
        snapshot.result = {"target": {**target, "period_end": period_end, "probability": 0.2}}
        snapshot.save()

    # Made on Wednesday 2 July, for Q3: the forecast of the week of 23 June (Q2) is not
    # compared.
    _last_week_record(hand.stream, date(2025, 6, 23), 0.1)
    made(datetime(2025, 7, 2, 12, tzinfo=UTC), "2025-09-30")
    assert forecast_figure(hand.stream).change is None
    # Made on Friday 27 June: that record is this week's, not last week's.
    made(datetime(2025, 6, 27, tzinfo=UTC), "2025-06-30")
    assert forecast_figure(hand.stream).change is None
    # Made on Monday 30 June (still Q2): it is last week's, up 10 points.
    made(datetime(2025, 6, 30, 9, tzinfo=UTC), "2025-06-30")
    monday = forecast_figure(hand.stream)
    assert monday.change.words == "up 10 pts on last week's forecast (better)"
