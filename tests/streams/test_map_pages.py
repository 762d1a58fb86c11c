"""The map pages through Django's test client: permissions, bad input, escaping, sizes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from streams.future_states import stream_draw_future_state
from streams.models import Role, ValueStream
from streams.services import LaneSpec, StepSpec, stream_create
from tests.factories import MembershipFactory, metrics_snapshot

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
NASTY = '<script>alert("x")</script> & "Co"'


def boxes(svg_text: str) -> list[str]:
    root = ET.fromstring(svg_text)
    return [g.get("data-step-id") for g in root.iter(f"{SVG}g") if g.get("data-step-id")]


def test_the_svg_download_is_a_standalone_file_with_every_box(client, team_setup):
    client.force_login(team_setup.rep_a1)
    response = client.get(f"/streams/{team_setup.stream_a.slug}/map.svg?download=1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert "attachment" in response["Content-Disposition"]
    assert boxes(response.content.decode()) == [str(s.pk) for s in team_setup.steps_a]


def test_the_svg_of_another_team_is_not_found(client, team_setup):
    client.force_login(team_setup.rep_a1)
    assert client.get(f"/streams/{team_setup.stream_b.slug}/map.svg").status_code == 404


def test_the_streams_path_alone_leads_to_the_home_page_that_lists_them(client, team_setup):
    client.force_login(team_setup.rep_a1)
    response = client.get("/streams/")
    assert (response.status_code, response["Location"]) == (302, "/")
    assert team_setup.stream_a.name in client.get("/").content.decode()


def test_names_with_html_are_escaped_on_every_map_page(client, team_setup):
    stream = stream_create(
        team=team_setup.team_a,
        name=NASTY,
        lanes=[LaneSpec(NASTY)],
        steps=[StepSpec(NASTY, NASTY, planned_lead_hours=5)],
    )
    future = stream_draw_future_state(stream=stream)
    client.force_login(team_setup.manager_a)
    for url in (
        f"/streams/{stream.slug}/",
        f"/streams/{stream.slug}/edit/",
        f"/streams/{stream.slug}/map.svg",
        f"/streams/{future.slug}/compare/",
        "/",
    ):
        body = client.get(url).content.decode()
        assert '<script>alert("x")' not in body, url
        assert "&lt;script&gt;" in body, url
    ET.fromstring(client.get(f"/streams/{stream.slug}/map.svg").content)  # still valid XML


def test_a_200_step_map_renders_every_box(client, team_setup):
    stream = stream_create(
        team=team_setup.team_a,
        name="Enormous",
        lanes=[LaneSpec("AE"), LaneSpec("SE")],
        steps=[
            StepSpec(
                f"Step number {i} with a long name",
                "AE" if i % 3 else "SE",
                planned_process_hours=1,
                planned_lead_hours=10,
            )
            for i in range(200)
        ],
    )
    client.force_login(team_setup.leader_a)
    response = client.get(f"/streams/{stream.slug}/")
    assert response.status_code == 200
    svg = client.get(f"/streams/{stream.slug}/map.svg").content.decode()
    assert len(boxes(svg)) == 200


def test_an_empty_map_says_so_and_the_editor_opens(client, team_setup):
    stream = stream_create(team=team_setup.team_a, name="Blank", lanes=[], steps=[])
    client.force_login(team_setup.manager_a)
    page = client.get(f"/streams/{stream.slug}/").content.decode()
    assert "This map has no steps yet" in page
    editor = client.get(f"/streams/{stream.slug}/edit/").content.decode()
    assert "Add a lane first" in editor


def test_a_manager_creates_a_map_and_lands_in_the_editor(client, team_setup):
    client.force_login(team_setup.manager_a)
    assert client.get("/streams/new/").status_code == 200
    response = client.post(
        "/streams/new/",
        {"team": team_setup.team_a.pk, "name": "Renewals", "period_days": 30, "currency": "EUR"},
    )
    stream = ValueStream.objects.get(name="Renewals")
    assert response.status_code == 302 and response.url == f"/streams/{stream.slug}/edit/"
    assert stream.currency == "EUR" and stream.team == team_setup.team_a


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": "", "period_days": 30, "currency": "USD"}, "name", "required"),
        ({"name": "Sales A", "period_days": 30, "currency": "USD"}, "name", "already has"),
        ({"name": "X", "period_days": 0, "currency": "USD"}, "period_days", "greater than"),
        ({"name": "X", "period_days": 30, "currency": "US1"}, "currency", "three-letter"),
    ],
)
def test_the_new_map_form_names_the_bad_field(client, team_setup, data, field, words):
    client.force_login(team_setup.manager_a)
    response = client.post("/streams/new/", {"team": team_setup.team_a.pk, **data})
    assert response.status_code == 400
    assert words in " ".join(response.context["form"].errors[field])
    assert ValueStream.objects.count() == 2  # the two of team_setup


def test_a_manager_cannot_create_a_map_in_another_team(client, team_setup):
    client.force_login(team_setup.manager_a)
    response = client.post(
        "/streams/new/",
        {"team": team_setup.team_b.pk, "name": "Intrusion", "period_days": 30, "currency": "USD"},
    )
    assert response.status_code == 400 and "team" in response.context["form"].errors
    assert not ValueStream.objects.filter(name="Intrusion").exists()


@pytest.mark.parametrize("who", ["rep_a1", "leader_a"])
def test_only_managers_open_the_new_map_form(client, team_setup, who):
    client.force_login(getattr(team_setup, who))
    assert client.get("/streams/new/").status_code == 403


def test_the_future_state_button_draws_it_once_then_opens_it(client, team_setup):
    client.force_login(team_setup.manager_a)
    slug = team_setup.stream_a.slug
    html = client.get(f"/streams/{slug}/").content.decode()
    assert "Draw the future state" in html and "Open the future state" not in html
    first = client.post(f"/streams/{slug}/future/")
    second = client.post(f"/streams/{slug}/future/")
    futures = ValueStream.objects.filter(drawn_from=team_setup.stream_a)
    # One copy, never a second by accident, under a name of its own: the current and the
    # future state never read the same on a page.
    assert [f.name for f in futures] == ["Sales A — future state"]
    assert first.url == f"/streams/{futures[0].slug}/edit/"
    assert second.url == f"/streams/{futures[0].slug}/"
    html = client.get(f"/streams/{slug}/").content.decode()
    assert "Draw the future state" not in html
    assert f'href="/streams/{futures[0].slug}/" id="open-future"' in html
    assert f'href="/streams/{slug}/future/another/"' in html


def test_future_states_drawn_under_their_current_states_name_are_renamed_once(team_setup):
    """Migration streams/0005: a future state still called like its current state gets the
    default name, unless a future state of the team has it already."""
    from importlib import import_module

    from django.apps import apps

    from streams.future_states import stream_draw_future_state

    rename = import_module("streams.migrations.0005_future_state_names").rename
    same = stream_draw_future_state(stream=team_setup.stream_a, name="Sales A")
    other = stream_draw_future_state(stream=team_setup.stream_b, name="Sales B")
    stream_draw_future_state(stream=team_setup.stream_b, name="Sales B — future state")
    rename(apps, None)
    same.refresh_from_db()
    other.refresh_from_db()
    assert same.name == "Sales A — future state"
    assert other.name == "Sales B"  # the default name is taken: left as it was


def test_a_second_future_state_is_asked_for_with_its_own_name(client, team_setup):
    client.force_login(team_setup.manager_a)
    slug = team_setup.stream_a.slug
    client.post(f"/streams/{slug}/future/")
    page = client.get(f"/streams/{slug}/future/another/").content.decode()
    assert "The current state “Sales A” already has a future state" in page
    assert "“Sales A — future state”</a> (future state)" in page and 'name="name"' in page
    # Empty or taken names are refused next to the field, nothing drawn.
    taken = "Sales A — future state"
    for name, reason in (("", "This field is required"), (taken, "already has a future")):
        response = client.post(f"/streams/{slug}/future/another/", {"name": name})
        assert response.status_code == 400
        assert reason in response.content.decode()
        assert 'id="id_name_error"' in response.content.decode()
    assert ValueStream.objects.filter(drawn_from=team_setup.stream_a).count() == 1
    response = client.post(f"/streams/{slug}/future/another/", {"name": "Self-serve trials"})
    second = ValueStream.objects.get(name="Self-serve trials")
    assert response.status_code == 302 and response.url == f"/streams/{second.slug}/edit/"
    assert second.drawn_from == team_setup.stream_a
    # The button keeps opening the latest one.
    assert client.post(f"/streams/{slug}/future/").url == f"/streams/{second.slug}/"


@pytest.mark.parametrize("who", ["rep_a1", "leader_a", "manager_b"])
def test_only_the_teams_managers_draw_another_future_state(client, team_setup, who):
    client.force_login(getattr(team_setup, who))
    slug = team_setup.stream_a.slug
    expected = 404 if who == "manager_b" else 403
    assert client.get(f"/streams/{slug}/future/another/").status_code == expected
    response = client.post(f"/streams/{slug}/future/another/", {"name": "Mine"})
    assert response.status_code == expected
    assert not ValueStream.objects.filter(name="Mine").exists()


def test_compare_without_a_future_state_explains_and_returns(client, team_setup):
    client.force_login(team_setup.leader_a)
    response = client.get(f"/streams/{team_setup.stream_a.slug}/compare/", follow=True)
    assert "no future state to compare with yet" in response.content.decode()


def test_compare_lists_changed_added_and_removed_steps(client, team_setup):
    future = stream_draw_future_state(stream=team_setup.stream_a)
    future.steps.filter(name="Step 2").update(planned_lead_hours=4)
    future.steps.filter(name="Step 3").update(name="Step 3 automated")
    client.force_login(team_setup.rep_a1)
    response = client.get(f"/streams/{future.slug}/compare/")
    rows = {row.name: row for row in response.context["rows"]}
    assert rows["Step 2"].changed_fields == ["planned_lead_hours"]
    assert rows["Step 3 automated"].current is None
    assert rows["Step 3"].future is None
    assert rows["Step 1"].changed_fields == []


def test_measured_figures_appear_beside_the_planned_ones(client, team_setup):
    stream, step = team_setup.stream_a, team_setup.steps_a[0]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    window = {"window_start": start, "window_end": start + timedelta(days=90)}
    metrics_snapshot(
        stream,
        start=window["window_start"],
        end=window["window_end"],
        steps={
            step: {
                "n_completed": 12,
                "median_hours": 30,
                "median_work_hours": 0.75,
                "n_entered": 10,
                "pct_complete_accurate": 0.8,
                "wip_now": 4,
            }
        },
        lead_time_hours=30,
        process_time_hours=0.75,
        activity_ratio=0.025,
        rolled_pct_complete_accurate=0.8,
    )
    client.force_login(team_setup.leader_a)
    page = client.get(f"/streams/{stream.slug}/").content.decode()
    assert "Measured over 2025-01-01" in page
    row = page[page.index(f'<tr data-step-id="{step.pk}">') :]
    row = row[: row.index("</tr>")]
    assert "1.2 d" in row and "45 min" in row and "80 %" in row  # 30 h, 0.75 h
    svg = client.get(f"/streams/{stream.slug}/map.svg").content.decode()
    measured = ET.fromstring(svg).findall(
        f".//{SVG}*[@data-figure='lead_time_hours'][@data-kind='measured']"
    )
    assert measured and "1.2 d" in "".join(measured[0].itertext())


def test_a_stream_with_no_completed_visits_shows_no_data_yet_never_a_measured_0_h(
    client, team_setup
):
    """The metrics ran, but no deal completed a step: the engine's sums are 0 h, which nobody
    measured. The map, its drawing and the compare page say "no data yet"."""
    stream, step = team_setup.stream_a, team_setup.steps_a[0]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    metrics_snapshot(
        stream,
        start=start,
        end=start + timedelta(days=90),
        steps={step: {"n_completed": 0, "n_entered": 3, "n_open": 3, "wip_now": 3}},
        lead_time_hours=0.0,
        process_time_hours=0.0,
    )
    stream_draw_future_state(stream=stream)
    client.force_login(team_setup.leader_a)

    page = client.get(f"/streams/{stream.slug}/").content.decode()
    cards = page[page.index('class="summary-cards"') : page.index('id="no-data-yet"')]
    assert cards.count("no data yet") == 4 and "0 h" not in cards
    assert "No data yet: no deal has completed a step between 2025-01-01" in page
    svg = client.get(f"/streams/{stream.slug}/map.svg").content.decode()
    tree = ET.fromstring(svg)
    assert not tree.findall(f".//{SVG}*[@data-figure='lead_time_hours'][@data-kind='measured']")
    assert "no data yet" in svg and "No completed visits 2025-01-01" in svg
    compare = client.get(f"/streams/{stream.slug}/compare/").content.decode()
    today = compare[compare.index('id="measured-today"') :]
    assert today[: today.index("</p>")].count("no data yet") == 1
    assert "0 h" not in today[: today.index("</p>")]


def test_a_member_of_two_teams_edits_only_where_they_manage(client, team_setup):
    MembershipFactory(user=team_setup.rep_b, team=team_setup.team_a, role=Role.MANAGER)
    client.force_login(team_setup.rep_b)
    assert client.get(f"/streams/{team_setup.stream_a.slug}/edit/").status_code == 200
    assert client.get(f"/streams/{team_setup.stream_b.slug}/edit/").status_code == 403


def test_the_editor_preselects_each_stages_first_and_last_step(client):
    from vsm_project.demo import demo_seed

    result = demo_seed(deals=0)
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="manager"))
    response = client.get(f"/streams/{result.stream_slug}/edit/")
    spans = {span.stage.name: span for span in response.context["stages"]}
    steps = {s.pk: s.name for s in response.context["steps"]}
    assert (steps[spans["Solution"].first_step_id], steps[spans["Solution"].last_step_id]) == (
        "Solution demo",
        "Proposal & ROI model",
    )
    html = response.content.decode()
    solution = spans["Solution"].stage.pk
    select = html[html.index(f'id="stage-{solution}-last_step"') :]
    select = select[: select.index("</select>")]
    assert f'value="{spans["Solution"].last_step_id}" selected' in select


def test_the_drawings_measured_dates_are_the_viewers_days(client, team_setup):
    from streams.people.services import profile_set_time_zone

    stream, step = team_setup.stream_a, team_setup.steps_a[0]
    end = datetime(2025, 4, 1, 23, 0, tzinfo=UTC)  # already 2 April in Tokyo
    metrics_snapshot(
        stream,
        start=end - timedelta(days=90),
        end=end,
        steps={step: {"n_completed": 12, "median_hours": 30, "n_entered": 10}},
        lead_time_hours=30,
    )
    profile_set_time_zone(user=team_setup.leader_a, time_zone="Asia/Tokyo")
    client.force_login(team_setup.leader_a)
    svg = client.get(f"/streams/{stream.slug}/map.svg").content.decode()
    assert "– 2025-04-02, as of 2025-04-02" in svg
