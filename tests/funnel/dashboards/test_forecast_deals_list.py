"""The deals list's forecast columns: each open deal's win chance and forecast close date
(50 %) from its stream's latest default forecast, sorted by either, and the explanation while
no forecast is computed. On the hand-worked Discovery stream (deals E and G are open)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from funnel.forecasts.models import ForecastSnapshot
from funnel.forecasts.view import DEFAULT_KEY
from tests.funnel.dashboards.forecast_payload import forecast_payload
from tests.funnel.discovery.hand_log import hand_log

pytestmark = pytest.mark.django_db


def _row(deal, win: float, close: str | None, source: str = "flow") -> dict:
    return {
        "deal": deal.pk,
        "name": deal.name,
        "owner": None,
        "step": 1,
        "step_name": "Qualify",
        "amount": None,
        "win_probability": win,
        "source": source,
        "close": {"50": close, "85": None, "95": None},
    }


@pytest.fixture
def ns():
    return hand_log()


def _forecast(ns, rows: list[dict]) -> None:
    now = timezone.now()
    ForecastSnapshot.objects.create(
        stream=ns.stream,
        view_key=DEFAULT_KEY,
        result=forecast_payload(deals=rows),
        computed_at=now,
        requested_at=now,
    )


def _ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-deal-id="(\d+)"', html)]


def test_sorted_by_win_chance_and_by_forecast_close(client, ns):
    e, g = ns.deals["E"], ns.deals["G"]
    _forecast(ns, [_row(g, 0.7, "2027-02-01", "lab"), _row(e, 0.3, "2027-01-10")])
    client.force_login(ns.manager)
    html = client.get("/deals/", {"sort": "win"}).content.decode()
    assert _ids(html) == [g.pk, e.pk]
    assert 'data-win="70"' in html and 'data-win="30"' in html and "(lab)" in html
    assert 'aria-sort="descending"' in html and "Deals, sorted: Most likely to win first" in html
    assert "by 2027-02-01" in html
    assert "come from each stream's latest forecast" in html
    html = client.get("/deals/", {"sort": "forecast"}).content.decode()
    assert _ids(html) == [e.pk, g.pk]
    assert "2027-01-10" in html and "2027-02-01" in html
    # The column heads sort by them, keeping the other filters.
    assert (
        'href="?status=open&amp;sort=win"'
        in client.get("/deals/", {"status": "open"}).content.decode()
    )


def test_a_deal_without_a_forecast_comes_last(client, ns):
    e, g = ns.deals["E"], ns.deals["G"]
    _forecast(ns, [_row(g, 0.2, None)])  # E opened after the forecast; G never closes in time
    client.force_login(ns.manager)
    assert _ids(client.get("/deals/", {"sort": "win"}).content.decode()) == [g.pk, e.pk]
    # Neither has a close date (G's forecast has none, E no forecast): newest first, E.
    assert _ids(client.get("/deals/", {"sort": "forecast"}).content.decode()) == [e.pk, g.pk]


def test_not_computed_yet_the_columns_are_empty_and_say_why(client, ns):
    client.force_login(ns.manager)
    html = client.get("/deals/", {"sort": "win"}).content.decode()
    assert "not computed yet for" in html
    assert f'href="/dashboards/streams/{ns.stream.slug}/forecast/"' in html
    assert "listed newest first" in html
    assert len(_ids(html)) == 2 and "data-win=" not in html


def test_closed_lists_have_no_forecast_columns(client, ns):
    _forecast(ns, [_row(ns.deals["E"], 0.5, "2027-01-10")])
    client.force_login(ns.manager)
    html = client.get("/deals/", {"status": "won"}).content.decode()
    assert "win chance" not in html and "forecast-source" not in html
    assert len(_ids(html)) == 5  # A, A2, B, D and F were won
