"""The Forecast dashboard's page and CSV on a stored hand-built result (``forecast_payload``)
of the hand-worked Discovery stream: every card, the roles (a rep's per-deal rows are their
own), the filters' errors, the empty and computing states."""

from __future__ import annotations

import pytest
from django.urls import reverse

from funnel.forecasts.models import ForecastSnapshot
from tests.funnel.dashboards.forecast_payload import forecast_payload
from tests.funnel.dashboards.forecast_store import store_forecast
from tests.funnel.discovery.hand_log import hand_log

pytestmark = pytest.mark.django_db

QUERY = "as_of=2026-12-01"


@pytest.fixture
def ns():
    ns = hand_log()
    result = forecast_payload()
    # The lab's deal is the rep's, the flow's the manager's.
    result["deals"][0]["owner"] = ns.rep.pk
    result["deals"][1]["owner"] = ns.manager.pk
    ns.snapshot = store_forecast(ns.stream, result)
    return ns


def _page(client, ns, user, query=QUERY):
    client.force_login(user)
    return client.get(reverse("dashboards:forecast", args=[ns.stream.slug]) + "?" + query)


def test_the_manager_sees_every_card_beside_its_track_record(client, ns):
    response = _page(client, ns, ns.manager)
    assert response.status_code == 200
    html = response.content.decode()
    for key in ("fan", "track", "backtests", "by_date", "when", "target", "deals"):
        assert f'id="chart-{key}"' in html
    # The track record beside each forecast and the per-deal table.
    for key in ("by_date", "when", "target", "deals"):
        assert f'id="track-{key}-title"' in html
    assert html.count("too narrow") >= 4
    assert "Globex renewal" in html and "Initech pilot" in html
    assert "the lab" in html and "the flow" in html
    assert 'data-tile="target"' in html and "40%" in html
    assert 'aria-current="page">Forecast</a>' in html
    assert f'href="/dashboards/streams/{ns.stream.slug}/forecast/fan.csv?{QUERY}"' in html
    assert "<script>" not in html and 'style="' not in html


def test_roles(client, ns):
    html = _page(client, ns, ns.rep).content.decode()
    assert "Globex renewal" in html and "Initech pilot" not in html  # the rep's own deal only
    assert "the deals listed are yours" in html
    leader = _page(client, ns, ns.leader).content.decode()
    assert "Globex renewal" in leader and "Initech pilot" in leader
    assert _page(client, ns, ns.outsider).status_code == 404


def test_csv_of_the_deals_and_the_fan(client, ns):
    url = reverse("dashboards:forecast_csv", args=[ns.stream.slug, "deals"])
    client.force_login(ns.manager)
    lines = client.get(f"{url}?{QUERY}").content.decode().splitlines()
    assert lines[0] == (
        "deal,step,owner,amount,win_probability_pct,close_50,close_85,close_95,outcome_from"
    )
    rep = ns.rep.get_full_name()
    assert (
        lines[1]
        == f"Globex renewal,Proposal,{rep},12000.0,80.0,2026-12-10,2026-12-20,2027-01-05,the lab"
    )
    assert len(lines) == 3
    client.force_login(ns.rep)
    rep_lines = client.get(f"{url}?{QUERY}").content.decode().splitlines()
    assert len(rep_lines) == 2 and rep_lines[1].startswith("Globex renewal,")
    fan = reverse("dashboards:forecast_csv", args=[ns.stream.slug, "fan"])
    client.force_login(ns.manager)
    rows = client.get(f"{fan}?{QUERY}").content.decode().splitlines()
    assert rows[0] == "week_ending,median,low_50,high_50,low_85,high_85,low_95,high_95"
    assert rows[2] == "2026-12-13,3.0,2.0,4.0,1.0,5.0,1.0,6.0"
    missing = reverse("dashboards:forecast_csv", args=[ns.stream.slug, "nope"])
    assert client.get(f"{missing}?{QUERY}").status_code == 404
    assert client.get(f"{fan}?as_of=2026-13-01").status_code == 400
    client.force_login(ns.outsider)
    assert client.get(f"{fan}?{QUERY}").status_code == 404


def test_a_bad_filter_names_the_field(client, ns):
    response = _page(client, ns, ns.manager, "when_wins=0")
    assert response.status_code == 400
    assert "<strong>when_wins</strong>" in response.content.decode()
    response = _page(client, ns, ns.manager, f"{QUERY}&by=2020-01-01")
    assert response.status_code == 400
    assert "<strong>by</strong>" in response.content.decode()


def test_without_target_or_back_tests_the_page_says_so(client, ns):
    ForecastSnapshot.objects.all().delete()
    store_forecast(ns.stream, forecast_payload(target=False, track=False))
    html = _page(client, ns, ns.manager).content.decode()
    assert "This stream has no target for the period" in html
    assert "No back-test yet" in html
    assert "Read it as untested" in html


def test_a_view_never_computed_is_computed_by_the_real_job(client, ns):
    # Another as-of: no snapshot yet; without a broker the job runs inside the request, on
    # the hand log's flow (deals E and G are open on 1 November).
    response = _page(client, ns, ns.manager, "as_of=2026-11-01&when_wins=3")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-fan"' in html and 'id="chart-track"' in html
    assert "Deal E" in html and "Deal G" in html and "Deal A<" not in html
    assert "When will we reach 3 more wins?" in html
    assert ForecastSnapshot.objects.filter(view_key__contains="as_of=2026-11-01").exists()


def test_the_per_deal_table_sits_beside_the_close_dates_back_test(client, ns):
    html = _page(client, ns, ns.manager).content.decode()
    assert "Each deal's dates are not back-tested one by one yet" in html  # none in the payload
    ForecastSnapshot.objects.all().delete()
    result = forecast_payload()
    result["track_record"]["close_dates"] = {
        "name": "close dates",
        "count": 120,
        "coverage": {"50": 0.45, "85": 0.7, "95": 0.9},
        "typical_error": 6.25,
        "verdicts": [],
        "open_outside": 3,
        "censored": 2,
        "lost": 40,
        "no_dates": 1,
    }
    store_forecast(ns.stream, result)
    html = _page(client, ns, ns.manager).content.decode()
    assert "each open deal's close-date bands (given it is won) held against the day" in html
    assert "over 120 deals' close dates" in html
    assert "Close dates held" in html and "Typical error: 6.2 days." in html
    track = reverse("dashboards:forecast_csv", args=[ns.stream.slug, "track"])
    rows = client.get(f"{track}?{QUERY}").content.decode().splitlines()
    assert rows[0].endswith(",close_dates_held_pct,deal_close_dates_scored")
    assert rows[2].endswith(",70.0,120")
