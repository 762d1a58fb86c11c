"""The kaizen pages, server side: the board (columns, filters, overdue flags, history), the
new-cycle form, and a cycle's page per phase and role; refused actions name the field.
Time is frozen at NOW (tests/kaizen/conftest.py)."""

from __future__ import annotations

import re
from datetime import date

import pytest
import time_machine

from kaizen.models import CycleCheck, KaizenCycle, Outcome, Phase
from kaizen.services import cycle_adopt, cycle_comment_add

from .conftest import NOW, cycle_at, visits_halving

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def cycles(ns):
    """One cycle per phase on Sales A (the Act one past its target date); one on Sales B."""
    step = ns.steps_a[1]
    visits_halving(ns.stream_a, step)
    made = {
        "plan": cycle_at(
            Phase.PLAN, stream=ns.stream_a, user=ns.rep_a1, metric="win_rate", title="Rep idea"
        ),
        "do": cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, metric="win_rate"),
        "check": cycle_at(Phase.CHECK, stream=ns.stream_a, user=ns.manager_a, step=step),
        "act": cycle_at(
            Phase.ACT,
            stream=ns.stream_a,
            user=ns.manager_a,
            step=step,
            title="Late one",
            target_date=date(2025, 5, 1),
        ),
        "closed": cycle_at(
            Phase.ACT, stream=ns.stream_a, user=ns.manager_a, step=step, title="Adopted one"
        ),
        "b": cycle_at(Phase.PLAN, stream=ns.stream_b, user=ns.manager_b, metric="win_rate"),
    }
    made["closed"] = cycle_adopt(
        cycle=made["closed"], user=ns.manager_a, standard="Book on the call", now=NOW
    )
    return made


def page(client, user, url: str, status: int = 200) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == status, response.content[:500]
    return response.content.decode()


def column(html: str, phase: str) -> str:
    match = re.search(rf'data-phase="{phase}">(.*?)</section>', html, re.S)
    assert match, phase
    return match.group(1)


@pytest.mark.parametrize("who", ["manager_a", "rep_a1", "leader_a"])
def test_the_board_shows_the_teams_cycles_in_their_phase_columns(client, ns, cycles, who):
    html = page(client, getattr(ns, who), "/kaizen/")

    assert "Rep idea" in column(html, "plan")
    assert "Shorter waits" in column(html, "do") and "Shorter waits" in column(html, "check")
    assert "Late one" in column(html, "act") and "Overdue" in column(html, "act")
    assert "Adopted one" in column(html, "closed") and "Adopted" in column(html, "closed")
    assert "Improved" in column(html, "check")
    assert str(cycles["b"].title) not in html or "Sales B" not in html
    assert f'href="/kaizen/{cycles["b"].pk}/"' not in html
    # The history: one cycle closed, adopted, with its measured effect.
    assert re.search(r"Cycles closed</dt><dd>1<", html)
    assert re.search(r'id="share-adopted">100 %<', html)
    assert re.search(r'id="unevidenced-count">0<', html)
    adopted = html[html.index('id="adopted-effects"') :]
    assert "Adopted one" in adopted and "−50\u00a0%" in adopted


def test_the_board_filters_by_stream_and_owner(client, ns, cycles):
    html = page(client, ns.manager_a, f"/kaizen/?owner={ns.rep_a1.pk}")
    assert "Rep idea" in html and "Late one" not in html
    html = page(client, ns.manager_a, f"/kaizen/?stream={ns.stream_a.pk}&owner=")
    assert "Rep idea" in html and "Late one" in html


def test_the_board_reads_a_fixed_number_of_queries(client, ns, cycles, django_assert_num_queries):
    client.force_login(ns.leader_a)
    client.get("/kaizen/")  # warm the session
    # session, user, memberships (visible streams ×3), filter choices (2), cycles (columns and
    # history: 3), none per card.
    with django_assert_num_queries(12, exact=False) as context:
        client.get("/kaizen/")
    first = len(context.captured_queries)
    cycle_at(Phase.DO, stream=ns.stream_a, user=ns.manager_a, metric="win_rate", title="More")
    with django_assert_num_queries(first):
        client.get("/kaizen/")


def test_a_rep_proposes_a_cycle_through_the_form(client, ns):
    client.force_login(ns.rep_a1)
    form = client.get("/kaizen/new/").content.decode()
    assert 'name="owner"' not in form  # a rep's proposal is theirs
    step = ns.steps_a[0]
    response = client.post(
        "/kaizen/new/",
        {
            "where": f"{ns.stream_a.pk}:{step.pk}",
            "title": "Call leads within an hour",
            "metric": "pct_complete_accurate",
            "target_value": "90",
            "window_days": "28",
        },
    )
    cycle = KaizenCycle.objects.get()
    assert response.status_code == 302 and response.url == f"/kaizen/{cycle.pk}/"
    assert (cycle.step, cycle.owner, cycle.target_value) == (step, ns.rep_a1, 0.9)


def test_a_refused_plan_names_the_field_for_screen_readers(client, ns):
    client.force_login(ns.manager_a)
    response = client.post(
        "/kaizen/new/",
        {"where": f"{ns.stream_a.pk}", "title": "x", "metric": "time_in_step", "window_days": "28"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert 'id="plan_where_error"' in html and "Time in step is measured at a step" in html
    assert not KaizenCycle.objects.exists()


def test_leadership_and_other_teams_cannot_plan(client, ns):
    page(client, ns.leader_a, "/kaizen/new/", status=403)
    client.force_login(ns.manager_b)
    response = client.post(
        "/kaizen/new/",
        {"where": f"{ns.stream_a.pk}", "title": "x", "metric": "win_rate", "window_days": "28"},
    )
    assert response.status_code == 400  # Sales A is not a choice for team B
    assert not KaizenCycle.objects.exists()


def test_a_cycle_page_has_the_form_of_its_phase_for_a_manager_only(client, ns, cycles):
    manager = page(client, ns.manager_a, f"/kaizen/{cycles['plan'].pk}/")
    assert "Start Do: the change has started" in manager and "Edit the plan" in manager
    for who in ("rep_a2", "leader_a"):
        html = page(client, getattr(ns, who), f"/kaizen/{cycles['plan'].pk}/")
        assert "Start Do" not in html and "Edit the plan" not in html
    proposer = page(client, ns.rep_a1, f"/kaizen/{cycles['plan'].pk}/")
    assert "Edit the plan" in proposer and "Start Do" not in proposer

    assert "Move to Check" in page(client, ns.manager_a, f"/kaizen/{cycles['do'].pk}/")
    assert "Move to Check" not in page(client, ns.rep_a1, f"/kaizen/{cycles['do'].pk}/")
    act = page(client, ns.manager_a, f"/kaizen/{cycles['act'].pk}/")
    assert "Adopt as the new standard" in act and "Abandon" in act
    assert "Adopt as the new standard" not in page(
        client, ns.leader_a, f"/kaizen/{cycles['act'].pk}/"
    )
    # Leadership reads; managers and reps comment.
    assert 'name="body"' not in page(client, ns.leader_a, f"/kaizen/{cycles['do'].pk}/")
    assert 'name="body"' in page(client, ns.rep_a2, f"/kaizen/{cycles['do'].pk}/")
    page(client, ns.manager_b, f"/kaizen/{cycles['do'].pk}/", status=404)


def test_the_check_shows_effect_p_value_verdict_and_a_run_chart(client, ns, cycles):
    html = page(client, ns.leader_a, f"/kaizen/{cycles['check'].pk}/")

    assert "Improved." in html
    assert (
        "The median time in step went from 19.5 h to 9.8 h, 50\u00a0% shorter: better "
        "(lower is the aim)" in html
    )
    assert "p &lt; 0.001" in html
    assert "js/vendor/plotly.min.js" in html and 'id="run-chart"' in html
    assert "js/run_chart.js" in html and "cdn.plot.ly" not in html
    assert '<script type="application/json" id="run-chart-spec">' in html
    # The data-table alternative: eight weeks, four on each side.
    table = html[html.index("The chart's numbers as a table") :]
    assert table.count("<td>before</td>") == 4 and table.count("<td>after</td>") == 4


def test_a_cycle_page_reads_the_stored_check_and_never_computes_it(client, ns, cycles):
    CycleCheck.objects.filter(cycle=cycles["check"]).delete()
    html = page(client, ns.manager_a, f"/kaizen/{cycles['check'].pk}/")
    assert "being computed" in html and "js/kaizen.js" in html
    assert not CycleCheck.objects.filter(cycle=cycles["check"]).exists()
    status = page(client, ns.manager_a, f"/kaizen/{cycles['check'].pk}/check.json")
    assert '"ready": false' in status


def test_insufficient_data_says_how_many_more_visits_are_needed(client, ns):
    cycle = cycle_at(Phase.CHECK, stream=ns.stream_a, user=ns.manager_a, step=ns.steps_a[2])
    html = page(client, ns.manager_a, f"/kaizen/{cycle.pk}/")
    assert "Not enough data yet" in html
    assert "Needed: 10 more before the change and 10 more after it" in html
    assert "completed visits" in html


def test_the_phase_forms_move_the_cycle_and_refusals_name_the_field(client, ns, cycles):
    client.force_login(ns.manager_a)
    plan = cycles["plan"]
    response = client.post(f"/kaizen/{plan.pk}/do/", {"change_date": "2025-07-01"})
    assert response.status_code == 400
    assert "The change started on: The change has to have started" in response.content.decode()
    response = client.post(
        f"/kaizen/{plan.pk}/do/", {"change_date": "2025-06-01", "change_description": "Did it"}
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.phase, plan.change_description) == (Phase.DO, "Did it")

    act = cycles["act"]
    response = client.post(f"/kaizen/{act.pk}/abandon/", {"reason": ""})
    assert response.status_code == 400 and 'id="abandon_reason_error"' in response.content.decode()
    response = client.post(
        f"/kaizen/{act.pk}/adopt/", {"standard": "New way", "planned_value": "6"}
    )
    assert response.status_code == 302
    act.refresh_from_db()
    assert act.outcome == Outcome.ADOPTED
    assert ns.future_a.steps.get(name=ns.steps_a[1].name).planned_lead_hours == 6
    html = page(client, ns.manager_a, f"/kaizen/{act.pk}/")
    assert "On the future-state map" in html
    # The plan moved from 8 h to 6 h; the measured time halved: both say which way.
    # Worded against the current-state map, as the map and the compare page show it.
    assert (
        "8 h on the current-state map → 6 h on the future-state map (the new standard), "
        "a shorter plan than today&#x27;s" in html
    )
    assert "19.5 h → 9.8 h, 50\u00a0% shorter: better (lower is the aim)" in html


def test_others_cannot_post_phase_moves(client, ns, cycles):
    for who in ("rep_a1", "leader_a"):
        client.force_login(getattr(ns, who))
        assert client.post(f"/kaizen/{cycles['do'].pk}/check/").status_code == 403
        assert (
            client.post(f"/kaizen/{cycles['act'].pk}/adopt/", {"standard": "x"}).status_code == 403
        )
    client.force_login(ns.leader_a)
    assert client.post(f"/kaizen/{cycles['do'].pk}/comment/", {"body": "hi"}).status_code == 403
    assert KaizenCycle.objects.get(pk=cycles["do"].pk).phase == Phase.DO


def test_comments_show_on_the_page(client, ns, cycles):
    cycle_comment_add(cycle=cycles["do"], user=ns.rep_a2, body="Works for me")
    client.force_login(ns.rep_a1)
    response = client.post(f"/kaizen/{cycles['do'].pk}/comment/", {"body": "Me too"})
    assert response.status_code == 302 and response.url.endswith("#comments")
    html = page(client, ns.leader_a, f"/kaizen/{cycles['do'].pk}/")
    assert html.index("Works for me") < html.index("Me too")


def test_the_main_navigation_links_the_board(client, ns):
    html = page(client, ns.rep_a1, "/")
    assert 'href="/kaizen/"' in html


def test_the_checks_time_is_shown_in_the_viewers_zone_and_says_which(client, ns, cycles):
    from streams.people.services import profile_set_time_zone

    profile_set_time_zone(user=ns.leader_a, time_zone="Asia/Tokyo")
    html = page(client, ns.leader_a, f"/kaizen/{cycles['check'].pk}/")
    # Computed at NOW, 2025-06-02 12:00 UTC: 21:00 in Tokyo, labelled as every time is.
    assert 'As of <time datetime="2025-06-02T12:00:00+00:00">2025-06-02 21:00 JST</time>' in html
    assert "Times in Asia/Tokyo · change" in html
    assert "Week starting (UTC)" in html


def test_a_comments_time_is_in_the_viewers_zone_and_labelled(client, ns, cycles):
    from streams.people.services import profile_set_time_zone

    with time_machine.travel("2026-12-06T05:06:00+00:00", tick=False):
        cycle_comment_add(cycle=cycles["do"], user=ns.rep_a2, body="Works for me")
    profile_set_time_zone(user=ns.leader_a, time_zone="Europe/Berlin")
    html = page(client, ns.leader_a, f"/kaizen/{cycles['do'].pk}/")
    assert '<time datetime="2026-12-06T05:06:00+00:00">2026-12-06 06:06 CET</time>' in html


def test_a_refused_plan_names_every_problem_at_once(client, ns):
    """The form's own refusals and the plan's rules come back together, not one per round."""
    client.force_login(ns.manager_a)
    response = client.post(
        "/kaizen/new/",
        {"where": f"{ns.stream_a.pk}", "title": "", "metric": "time_in_step", "window_days": "3"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="plan_title_error"' in html  # required (the form)
    assert 'id="plan_window_days_error"' in html  # 3 < 7 (the form)
    assert 'id="plan_where_error"' in html and "Time in step is measured at a step" in html
    assert html.count("Time in step is measured at a step") == 2  # beside it and in the summary
    assert not KaizenCycle.objects.exists()
