"""Ids typed into a URL that Python's ``isdigit`` takes for digits ("²") or that no database
integer holds: a 400 naming the parameter, or the plain page, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from streams.ids import ID_MAX, parse_id
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

SQUARED = "%C2%B2"  # "²": str.isdigit() says yes, int() says no
HUGE = "1000000000000000000000000000000"


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_parse_id():
    assert [parse_id(t) for t in ("12", " 7 ", "", None, "²", "٣", "-1", "1.0")] == [
        12,
        7,
        None,
        None,
        None,
        None,
        None,
        None,
    ]
    assert parse_id(str(ID_MAX)) == ID_MAX and parse_id(str(ID_MAX + 1)) is None


@pytest.mark.parametrize("value", [SQUARED, HUGE])
def test_the_lab_api_names_a_bad_as_of(qual, value):
    response = client_for(qual.manager_a).get(f"/api/streams/{qual.stream_a.pk}/lab/?as_of={value}")
    assert response.status_code == 400
    assert "as_of" in response.json()


@pytest.mark.parametrize(
    "query",
    [
        "where={stream}:" + SQUARED + "&lab_rule=x",
        "where={stream}:" + HUGE + "&lab_rule=x",
        "where={stream}:{step}&lab_rule=x&as_of=" + SQUARED,
    ],
)
def test_a_kaizen_link_with_a_bad_step_opens_a_plain_plan(qual, query):
    query = query.format(stream=qual.stream_a.pk, step=qual.steps_a[1].pk)
    response = client_for(qual.manager_a).get(f"/kaizen/new/?{query}")
    assert response.status_code == 200
    assert "title" not in response.context["form"].initial


@pytest.mark.parametrize(
    "path, name",
    [
        ("/api/scores/?deal=", "deal"),
        ("/api/scores/?criterion=", "criterion"),
        ("/api/criteria/?stream=", "stream"),
        ("/api/win-calls/?deal=", "deal"),
        ("/api/deals/?owner=", "owner"),
        ("/api/visits/?step=", "step"),
        ("/api/lanes/?stream=", "stream"),
        ("/api/kaizen-cycles/?stream=", "stream"),
    ],
)
@pytest.mark.parametrize("value", [HUGE, "-" + HUGE])
def test_an_id_filter_too_large_for_the_database_is_a_400_naming_it(
    api_client, qual, path, name, value
):
    api_client.force_authenticate(qual.manager_a)
    response = api_client.get(path + value)
    assert response.status_code == 400, response.content
    assert name in response.json()


def test_an_id_filter_at_the_largest_id_finds_nothing(api_client, qual):
    api_client.force_authenticate(qual.manager_a)
    response = api_client.get(f"/api/scores/?deal={ID_MAX}")
    assert response.status_code == 200 and response.json()["count"] == 0


@pytest.mark.parametrize("value", [SQUARED, HUGE])
def test_the_metrics_api_names_a_bad_owner_and_lane(qual, value):
    client = client_for(qual.manager_a)
    for name in ("owner", "lane"):
        response = client.get(f"/api/streams/{qual.stream_a.pk}/metrics/?{name}={value}")
        assert response.status_code == 400, (name, response.content)
        assert name in response.json()


@pytest.mark.parametrize("value", [SQUARED, HUGE])
def test_dashboards_refuse_a_bad_owner_by_name(qual, value):
    for user in (qual.manager_a, qual.rep_a1):
        response = client_for(user).get(
            f"/dashboards/streams/{qual.stream_a.slug}/funnel/?owner={value}&lane={value}"
        )
        assert response.status_code == 400, response.status_code
        html = response.content.decode()
        assert "<strong>owner</strong>" in html and "<strong>lane</strong>" in html


@pytest.mark.parametrize("value", [SQUARED, HUGE])
def test_the_import_page_ignores_a_bad_step(qual, value):
    response = client_for(qual.manager_a).get(f"/deals/import/?step={value}")
    assert response.status_code == 200


@pytest.mark.parametrize("value", [SQUARED, HUGE])
def test_the_members_api_names_a_bad_team(api_client, qual, value):
    api_client.force_authenticate(qual.manager_a)
    response = api_client.get(f"/api/members/?team={value}")
    assert response.status_code == 400, response.content
    assert "team" in response.json()


def test_an_import_level_of_superscript_two_is_named_not_a_crash(qual):
    from funnel.importing.scores import _Bad, parse_level

    assert parse_level("2", qual.crit) == 2
    with pytest.raises(_Bad, match="'²' is not a level of Metrics"):
        parse_level("²", qual.crit)
