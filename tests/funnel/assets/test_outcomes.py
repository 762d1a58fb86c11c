"""Usage against outcome (funnel/assets/outcomes.py, docs/assets.md "Usage and outcome") on a
hand-worked log: usage per asset, step and rep, the win rate and the time in the following
steps with and without the asset (Wilson, Newcombe, Fisher), the too-small and empty states,
the pages, and the API's roles and another team seeing nothing."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from drf_spectacular.generators import SchemaGenerator
from scipy.stats import fisher_exact

from funnel.assets.models import Asset, AssetStep, AssetUsage
from funnel.assets.outcomes import Window, asset_outcome, team_report, window_from
from funnel.models import DealStatus, Visit
from tests.factories import BASE_TIME, DealFactory

pytestmark = pytest.mark.django_db

T = BASE_TIME
DAY = timedelta(days=1)
WINDOW = {"start": "2025-01-01", "end": "2025-03-01"}
Z = 1.959963984540054


def _wilson(k: int, n: int) -> tuple[float, float]:
    """The textbook Wilson score interval, written out independently of the code under test."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def _asset(ns, title: str, step) -> Asset:
    asset = Asset.objects.create(
        team=ns.team_a,
        title=title,
        owner=ns.manager_a,
        reviewer=ns.manager_a,
        created_at=T,
        review_due_at=T,
    )
    if step is not None:
        AssetStep.objects.create(asset=asset, step=step, attached_at=T)
    return asset


def _closed(ns, *, won: bool, after_days: float | None, closed_at=None):
    """A deal of stream A: step 1 for a day, step 2 for two, then (``after_days``) step 3
    for that many days before it closed; without, it closed at step 2."""
    s1, s2, s3 = ns.steps_a
    end2 = T + 3 * DAY
    end = end2 + after_days * DAY if after_days is not None else end2
    deal = DealFactory(
        stream=ns.stream_a,
        owner=ns.rep_a1,
        created_at=T,
        status=DealStatus.WON if won else DealStatus.LOST,
        closed_at=closed_at or end,
    )
    Visit.objects.create(deal=deal, step=s1, entered_at=T, exited_at=T + DAY)
    Visit.objects.create(deal=deal, step=s2, entered_at=T + DAY, exited_at=end2)
    if after_days is not None:
        Visit.objects.create(deal=deal, step=s3, entered_at=end2, exited_at=end)
    return deal


@pytest.fixture
def log(team_setup):
    """The asset "Value map" on step 2. Closed in the window and through step 2: used on 5
    (4 won: 1, 2, 3 and 4 days in step 3; 1 lost at step 2), not used on 6 (1 won after 5
    days in step 3; lost: two after 6 and 8 days in step 3, three at step 2). Left out: a
    deal that closed in April, the fixture's two open deals. "Battle card" on step 1 is used
    by nobody; step 3 has no asset."""
    ns = team_setup
    ns.asset = _asset(ns, "Value map", ns.steps_a[1])
    ns.unused = _asset(ns, "Battle card", ns.steps_a[0])
    used = [_closed(ns, won=True, after_days=d) for d in (1, 2, 3, 4)]
    used.append(_closed(ns, won=False, after_days=None))
    _closed(ns, won=True, after_days=5)
    _closed(ns, won=False, after_days=6)
    _closed(ns, won=False, after_days=8)
    for _ in range(3):
        _closed(ns, won=False, after_days=None)
    late = _closed(ns, won=True, after_days=1, closed_at=T + 90 * DAY)
    step2 = ns.steps_a[1]
    taps = [(used[0], ns.rep_a1), (used[0], ns.manager_a), (used[1], ns.rep_a1)]
    taps += [(used[2], ns.rep_a1), (used[3], ns.rep_a2), (used[4], ns.rep_a2)]
    for deal, user in taps:
        AssetUsage.objects.create(asset=ns.asset, deal=deal, user=user, step=step2, used_at=T)
    # Used on the late deal too, but after the window: not counted as usage, and the deal
    # closed outside the window is not among the outcomes.
    AssetUsage.objects.create(
        asset=ns.asset, deal=late, user=ns.rep_a1, step=step2, used_at=T + 80 * DAY
    )
    ns.window = window_from(WINDOW)
    return ns


def test_the_figures_of_the_hand_worked_log(log) -> None:
    f = asset_outcome(log.asset, log.window)
    assert (f.used.n, f.used.won, f.other.n, f.other.won, f.reached) == (5, 4, 6, 1, 11)
    # Win rates: 4/5 = 80 % [37.6 %, 96.4 %]; 1/6 = 16.7 % [3.0 %, 56.4 %] (Wilson, 95 %).
    for side, (k, n), hand in ((f.used, (4, 5), (0.376, 0.964)), (f.other, (1, 6), (0.030, 0.564))):
        assert side.win_rate["value"] == pytest.approx(k / n)
        low, high = side.win_rate["low"], side.win_rate["high"]
        assert (round(low, 3), round(high, 3)) == hand
        assert (low, high) == pytest.approx(_wilson(k, n))
    # Difference 0.633, Newcombe: 0.633 − √((0.8 − 0.376)² + (0.564 − 0.167)²) = 0.052 and
    # 0.633 + √((0.964 − 0.8)² + (0.167 − 0.030)²) = 0.847.
    d = f.difference
    assert (round(d["value"], 3), round(d["low"], 3), round(d["high"], 3)) == (0.633, 0.052, 0.847)
    # Fisher's exact p of [[4, 1], [1, 5]]: 0.080, no clear difference at 0.05.
    assert f.p_value == pytest.approx(fisher_exact([[4, 1], [1, 5]]).pvalue)
    assert round(f.p_value, 3) == 0.080
    assert (f.too_few, f.verdict) == (False, "no_clear_difference")
    # Time in step 3 (after the asset's step 2) of the won deals, elapsed: used 1, 2, 3, 4
    # days (median 2.5, n 4); not used 5 (n 1: the lost deals' 6 and 8 days are left out).
    assert f.basis == "elapsed"
    assert (f.used.time_n, f.median_days(f.used)) == (4, 2.5)
    assert (f.other.time_n, f.median_days(f.other)) == (1, 5.0)


def test_usage_per_asset_step_and_rep_and_what_nobody_uses(log) -> None:
    report = team_report(log.team_a, log.window, log.manager_a)
    rows = {r["asset"].title: r for r in report.assets}
    assert rows["Value map"]["usage"] == {"deals": 5, "users": 3, "uses": 6}
    assert rows["Battle card"]["usage"] == {"deals": 0, "users": 0, "uses": 0}
    assert [(s["step"], s["deals"], s["assets"], s["uses"]) for s in report.by_step] == [
        ("Step 2", 5, 1, 6)
    ]
    reps = {r["user_id"]: (r["deals"], r["assets"], r["uses"]) for r in report.by_rep}
    assert reps == {log.rep_a1.pk: (3, 1, 3), log.rep_a2.pk: (2, 1, 2), log.manager_a.pk: (1, 1, 1)}
    assert [a.title for a in report.unused] == ["Battle card"]
    assert [s.name for s in report.steps_without] == ["Step 3"]
    # A rep sees only their own row.
    own = team_report(log.team_a, log.window, log.rep_a1)
    assert own.own_only and [r["user_id"] for r in own.by_rep] == [log.rep_a1.pk]


def test_too_few_deals_and_the_empty_states(log) -> None:
    AssetUsage.objects.filter(asset=log.asset, deal__status=DealStatus.LOST).delete()
    f = asset_outcome(log.asset, log.window)
    assert (f.used.n, f.other.n) == (4, 7)
    assert (f.too_few, f.p_value, f.verdict) == (True, None, "too_few")
    # The rates are still given, with wide intervals: 4/4 = 100 % [51.0 %, 100 %].
    assert (round(f.used.win_rate["low"], 3), round(f.used.win_rate["high"], 3)) == (0.510, 1.0)
    # No deal closed in the window; an asset on no step.
    empty = asset_outcome(log.asset, Window(T + 200 * DAY, T + 300 * DAY))
    assert (empty.reached, empty.used.win_rate, empty.difference, empty.p_value) == (
        0,
        None,
        None,
        None,
    )
    assert asset_outcome(_asset(log, "Loose", None), log.window) is None


def test_the_pages(client, log) -> None:
    client.force_login(log.rep_a1)
    page = client.get(f"/assets/{log.asset.pk}/", WINDOW).content.decode()
    assert "Does it go with winning?" in page and "association, not proof" in page
    assert 'data-run-chart="asset-outcome-spec"' in page and "No clear difference" in page
    report = client.get("/assets/outcomes/", {"team": log.team_a.pk, **WINDOW})
    text = report.content.decode()
    assert report.status_code == 200
    assert "80 % [38–96 %] (5)" in text and "17 % [3–56 %] (6)" in text
    assert "No clear difference" in text and "Battle card" in text and "Step 3" in text
    assert "Your own usage" in text
    assert log.rep_a2.get_full_name() not in text
    AssetUsage.objects.filter(deal__status=DealStatus.LOST).delete()
    text = client.get("/assets/outcomes/", {"team": log.team_a.pk, **WINDOW}).content.decode()
    assert "Not enough deals yet" in text
    bad = client.get("/assets/outcomes/", {"team": log.team_a.pk, "start": "soon"})
    assert bad.status_code == 400 and "Enter a date" in bad.content.decode()
    assert "Usage and outcome" in client.get("/assets/", {"team": log.team_a.pk}).content.decode()


def test_the_api_roles_and_another_team(api_client, log) -> None:
    one = f"/api/assets/{log.asset.pk}/outcome/"
    team = f"/api/teams/{log.team_a.pk}/asset-outcomes/"
    api_client.force_authenticate(log.leader_a)
    body = api_client.get(one, WINDOW).json()
    assert body["usage"] == {"deals": 5, "users": 3, "uses": 6}
    o = body["outcome"]
    assert (o["used"]["n"], o["used"]["won"], o["not_used"]["n"], o["not_used"]["won"]) == (
        5,
        4,
        6,
        1,
    )
    assert round(o["used"]["win_rate"]["low"], 3) == 0.376
    assert round(o["p_value"], 3) == 0.080 and o["verdict"] == "no_clear_difference"
    assert o["used"]["median_hours"] == 60.0 and o["not_used"]["time_n"] == 1
    report = api_client.get(team, WINDOW).json()
    assert len(report["by_rep"]) == 3 and not report["by_rep_own_only"]
    assert [a["name"] for a in report["unused_assets"]] == ["Battle card"]
    assert [s["name"] for s in report["steps_without_assets"]] == ["Sales A · Step 3"]
    bad = api_client.get(team, {"start": "2025-02-30"})
    assert bad.status_code == 400 and "start" in bad.json()
    for wrong in ({"start": "2025-03-01", "end": "2025-01-01"}, {"end": "0001-01-01"}):
        assert api_client.get(team, wrong).status_code == 400
    api_client.force_authenticate(log.rep_a2)
    mine = api_client.get(team, WINDOW).json()
    assert [r["user"] for r in mine["by_rep"]] == [log.rep_a2.pk] and mine["by_rep_own_only"]
    api_client.force_authenticate(log.manager_b)
    assert api_client.get(one).status_code == 404
    assert api_client.get(team).status_code == 404
    api_client.force_authenticate(None)
    assert api_client.get(one).status_code in (401, 403)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert {"/api/assets/{id}/outcome/", "/api/teams/{id}/asset-outcomes/"} <= set(schema["paths"])


def test_working_time_is_read_from_the_offsets_and_a_missing_one_leaves_the_deal_out() -> None:
    from funnel.assets.outcomes import _Log, _reached, outcome

    log = _Log()
    log.won = {1: True, 2: True, 3: False}
    # (step, position, elapsed hours, working hours): the asset's step 7 is at position 2.
    log.visits[1] = [(7, 2, 48.0, 17.0), (8, 3, 72.0, 25.5), (9, 4, 24.0, 8.5)]
    log.visits[2] = [(7, 2, 48.0, 17.0), (8, 3, 72.0, None)]
    log.visits[3] = [(6, 1, 10.0, 5.0)]
    assert _reached(log, {7}, "working") == {1: (True, 34.0), 2: (True, None)}
    assert _reached(log, {7}, "elapsed") == {1: (True, 96.0), 2: (True, 72.0)}
    f = outcome(reached=_reached(log, {7}, "working"), used={1}, basis="working", day_hours=8.5)
    assert (f.used.time_n, f.median_days(f.used), f.other.time_n) == (1, 4.0, 0)
