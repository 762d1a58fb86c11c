"""The deal pages through Django's test client: closing asks first, undo and reopen follow
post/redirect/get with the roles of every write, editing reports every field at once, and
the deals list searches, filters, sorts and pages in a fixed number of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from funnel.eventlog.services import deal_close
from funnel.models import Deal, DealEventKind, DealStatus
from tests.factories import BASE_TIME, DealFactory, VisitFactory

pytestmark = pytest.mark.django_db

NOW = BASE_TIME + timedelta(days=3)  # the team_setup deals entered step 1 at BASE_TIME


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def _words(response) -> str:
    """The page's text as a reader sees it, without tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


# --- Closing asks first -------------------------------------------------------------------


def test_won_answers_with_a_confirmation_naming_the_deal_and_closes_only_when_confirmed(
    client, team_setup
):
    ns = team_setup
    client.force_login(ns.rep_a1)
    url = f"/deals/{ns.deal_a1.pk}/close/"
    asked = client.post(url, {"outcome": "won", "form": "won"})
    assert asked.status_code == 200
    page = _text(asked)
    assert f"Mark “{ns.deal_a1.name}” as Won?" in page
    assert 'name="confirmed" value="1"' in page and "Cancel, keep it open" in page
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.OPEN

    done = client.post(url, {"outcome": "won", "confirmed": "1"})
    assert done.status_code == 302 and done.url == f"/deals/{ns.deal_a1.pk}/"
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.WON
    assert ns.deal_a1.events.get().actor == ns.rep_a1


def test_the_confirmation_carries_the_lost_reason_and_the_time(client, team_setup):
    ns = team_setup
    client.force_login(ns.rep_a1)
    body = {"outcome": "lost", "lost_reason": "No budget", "at": "2025-01-08T10:00", "tz": "UTC"}
    page = _text(client.post(f"/deals/{ns.deal_a1.pk}/close/", body))
    assert "as Lost?" in page and "Lost: No budget" in page and "2025-01-08 10:00 UTC" in page
    assert 'name="at" value="2025-01-08T10:00"' in page
    client.post(f"/deals/{ns.deal_a1.pk}/close/", body | {"confirmed": "1"})
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.closed_at == BASE_TIME + timedelta(days=2, hours=1)


def test_a_close_that_would_be_refused_is_refused_before_asking(client, team_setup):
    client.force_login(team_setup.rep_a1)
    response = client.post(
        f"/deals/{team_setup.deal_a1.pk}/close/",
        {"outcome": "won", "at": "2024-12-01T08:00", "tz": "UTC", "form": "won"},
    )
    assert response.status_code == 400
    assert "cannot close before that" in response.content.decode()


def test_a_refused_time_is_shown_once_in_the_form_that_was_sent(client, team_setup):
    ns = team_setup
    client.force_login(ns.rep_a1)
    response = client.post(
        f"/deals/{ns.deal_a1.pk}/move/",
        {"step": ns.steps_a[1].pk, "at": "2030-01-01T08:00", "tz": "UTC", "form": "next"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert page.count("2030-01-01 08:00 UTC is in the future.") == 1
    assert 'id="next-at-error"' in page and 'id="move-at-error"' not in page
    response = client.post(
        f"/deals/{ns.deal_a1.pk}/close/",
        {"outcome": "lost", "lost_reason": "x", "at": "2030-01-01T08:00", "form": "lost"},
    )
    page = response.content.decode()
    assert page.count("is in the future.") == 1 and 'id="lost-at-error"' in page


def test_the_close_buttons_are_in_their_own_section_after_the_work_chips(client, team_setup):
    client.force_login(team_setup.rep_a1)
    page = client.get(f"/deals/{team_setup.deal_a1.pk}/").content.decode()
    chips, close = page.index('class="chips"'), page.index('id="close-title"')
    assert chips < page.index("Move to another step") < close < page.index('id="won-form"')
    assert '<dialog id="close-dialog"' in page


# --- Undo ---------------------------------------------------------------------------------


def test_the_closer_sees_undo_with_the_time_left_and_undoes(client, team_setup, frozen):
    ns = team_setup
    client.force_login(ns.rep_a1)
    client.post(f"/deals/{ns.deal_a1.pk}/close/", {"outcome": "won", "confirmed": "1"})
    frozen.shift(timedelta(minutes=4))
    page = _text(client.get(f"/deals/{ns.deal_a1.pk}/"))
    assert "Undo" in page and "until" in page and "09:10 UTC" in page and "6 min left" in page
    response = client.post(f"/deals/{ns.deal_a1.pk}/undo/")
    assert response.status_code == 302
    page = _text(client.get(response.url))
    assert "Close undone: the deal is open again at Step 1." in page
    assert "Close undone" in page and "Closed as Won" in page  # both in the timeline
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.OPEN


def test_an_undo_after_ten_minutes_says_why_and_changes_nothing(client, team_setup, frozen):
    ns = team_setup
    client.force_login(ns.rep_a1)
    client.post(f"/deals/{ns.deal_a1.pk}/close/", {"outcome": "won", "confirmed": "1"})
    frozen.shift(timedelta(minutes=11))
    assert 'id="undo-form"' not in client.get(f"/deals/{ns.deal_a1.pk}/").content.decode()
    response = client.post(f"/deals/{ns.deal_a1.pk}/undo/", follow=True)
    assert "that ended at 2025-01-09 09:10 UTC" in _text(response)
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.WON


@pytest.mark.parametrize(("who", "status"), [("leader_a", 403), ("rep_a2", 404), ("rep_b", 404)])
def test_nobody_else_undoes_a_close(client, team_setup, who, status):
    ns = team_setup
    deal_close(deal=ns.deal_a1, outcome="won", actor=ns.rep_a1)
    client.force_login(getattr(ns, who))
    assert client.post(f"/deals/{ns.deal_a1.pk}/undo/").status_code == status
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.WON


# --- Reopen -------------------------------------------------------------------------------


def test_a_manager_reopens_a_lost_deal_and_the_timeline_says_why(client, team_setup, frozen):
    ns = team_setup
    deal_close(deal=ns.deal_a1, outcome="lost", lost_reason="No budget", actor=ns.rep_a1)
    frozen.shift(timedelta(days=2))
    client.force_login(ns.manager_a)
    page = client.get(f"/deals/{ns.deal_a1.pk}/").content.decode()
    assert "Reopen this deal" in page and 'id="undo-form"' not in page

    refused = client.post(f"/deals/{ns.deal_a1.pk}/reopen/", {"reason": "  "})
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.content.decode()
    assert "This field is required." in refused.content.decode()

    response = client.post(f"/deals/{ns.deal_a1.pk}/reopen/", {"reason": "Budget approved"})
    assert response.status_code == 302
    page = _words(client.get(response.url))
    assert "Reopened (was lost: No budget)" in page and "“Budget approved”" in page
    assert "2025-01-11 09:00 UTC" in page
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.OPEN
    assert ns.deal_a1.events.last().kind == DealEventKind.REOPENED


@pytest.mark.parametrize(
    ("who", "status"), [("rep_a1", 403), ("leader_a", 403), ("rep_a2", 404), ("manager_b", 404)]
)
def test_only_the_teams_managers_reopen(client, team_setup, who, status):
    ns = team_setup
    deal_close(deal=ns.deal_a1, outcome="won", actor=ns.rep_a1)
    client.force_login(getattr(ns, who))
    response = client.post(f"/deals/{ns.deal_a1.pk}/reopen/", {"reason": "Mine"})
    assert response.status_code == status
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.status == DealStatus.WON


# --- Edit ---------------------------------------------------------------------------------


def test_the_owner_edits_a_deal_and_is_redirected(client, team_setup):
    ns = team_setup
    client.force_login(ns.rep_a1)
    form = client.get(f"/deals/{ns.deal_a1.pk}/edit/").context["form"]
    assert "owner" not in form.fields  # reps do not reassign
    response = client.post(
        f"/deals/{ns.deal_a1.pk}/edit/",
        {
            "name": "Acme expansion",
            "account": "Acme",
            "amount": "1500",
            "source": "event",
            "expected_close_date": "2025-02-14",
            "next_step": "Call the CFO",
        },
    )
    assert response.status_code == 302 and response.url == f"/deals/{ns.deal_a1.pk}/"
    page = _text(client.get(response.url))
    assert "Acme expansion" in page and "2025-02-14" in page and "Call the CFO" in page


def test_an_edit_reports_every_field_at_once_next_to_it(client, team_setup):
    ns = team_setup
    client.force_login(ns.manager_a)
    response = client.post(
        f"/deals/{ns.deal_a1.pk}/edit/",
        {
            "name": "",
            "amount": "-5",
            "expected_close_date": "2024-12-24",
            "owner": ns.leader_a.pk,
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"name", "amount", "expected_close_date", "owner"}
    page = response.content.decode()
    assert page.count('class="field-error"') == 4
    assert 'aria-describedby="id_name_error"' in page
    assert "created on 2025-01-06" in page
    response = client.post(
        f"/deals/{ns.deal_a1.pk}/edit/", {"name": "Kept", "amount": "lots", "owner": ns.rep_a1.pk}
    )
    assert set(response.context["form"].errors) == {"amount"}
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.name != "Kept"


def test_an_edit_refuses_a_close_date_past_ten_years_and_huge_amounts_in_words(client, team_setup):
    ns = team_setup
    client.force_login(ns.manager_a)
    url = f"/deals/{ns.deal_a1.pk}/edit/"
    response = client.post(
        url, {"name": "Kept", "amount": "1e999", "expected_close_date": "9999-12-31"}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["amount"] == ["Enter an amount under 1,000,000,000,000."]
    assert "more than 10 years away" in errors["expected_close_date"][0]
    page = _words(response)
    assert "digits in total" not in page
    # What was typed comes back as typed (a text input: a number input would empty it).
    html = response.content.decode()
    assert re.search(
        r'<input type="text" name="amount" value="1e999"[^>]*inputmode="decimal"', html
    )
    refused = client.post(url, {"name": "Kept", "amount": "12,5 k"})
    assert 'value="12,5 k"' in refused.content.decode()
    assert "Enter the amount as a number" in _words(refused)
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.name != "Kept"
    in_range = (NOW + timedelta(days=365 * 9)).date().isoformat()
    ok = client.post(
        url, {"name": "Kept", "amount": "999999999999.99", "expected_close_date": in_range}
    )
    assert ok.status_code == 302


def test_new_and_edit_say_the_same_about_a_missing_name_and_crumbs_match_the_list(
    client, team_setup
):
    ns = team_setup
    for user, title in ((ns.manager_a, "Team deals"), (ns.rep_a1, "My deals")):
        client.force_login(user)
        assert f"<h1>{title}</h1>" in _text(client.get("/deals/"))
        created = client.post("/deals/new/", {"first_step": ns.steps_a[0].pk, "name": ""})
        assert created.context["form"].errors["name"] == ["A deal needs a name."]
        crumb = f'<a href="/deals/">{title}</a> › New deal'
        assert crumb in _text(created)
        for page in (f"/deals/{ns.deal_a1.pk}/", f"/deals/{ns.deal_a1.pk}/edit/"):
            assert f'aria-label="Breadcrumb"><a href="/deals/">{title}</a>' in _text(
                client.get(page)
            )
    edited = client.post(f"/deals/{ns.deal_a1.pk}/edit/", {"name": " "})
    assert edited.context["form"].errors["name"] == ["A deal needs a name."]


@pytest.mark.parametrize("at", ["0001-01-01T00:00", "9999-12-31T23:59", "1969-12-31T23:00"])
def test_a_time_outside_1970_to_2100_is_refused_naming_the_field(client, team_setup, at):
    """Year 1 or 9999 read in a zone overflowed on conversion (a 500 before)."""
    ns = team_setup
    client.force_login(ns.rep_a1)
    moved = client.post(
        f"/deals/{ns.deal_a1.pk}/move/",
        {"step": ns.steps_a[1].pk, "at": at, "tz": "Asia/Tokyo", "form": "move"},
    )
    assert moved.status_code == 400
    assert "dates run from 1970-01-01 to 2100-12-31" in _words(moved)
    created = client.post(
        "/deals/new/",
        {"first_step": ns.steps_a[0].pk, "name": "Old", "created_at": at, "tz": "America/New_York"},
    )
    assert "dates run from 1970-01-01" in created.context["form"].errors["created_at"][0]
    assert not Deal.objects.filter(name="Old").exists()


def test_the_history_names_people_by_full_name_falling_back_to_the_username(client, team_setup):
    ns = team_setup
    client.force_login(ns.rep_a1)
    moved = client.post(f"/deals/{ns.deal_a1.pk}/move/", {"step": ns.steps_a[1].pk})
    assert moved.status_code == 302
    page = _words(client.get(f"/deals/{ns.deal_a1.pk}/"))
    assert f"· {ns.rep_a1.get_full_name()}" in page and "· rep-a1" not in page
    ns.rep_a1.first_name = ns.rep_a1.last_name = ""
    ns.rep_a1.save()
    assert "· rep-a1" in _words(client.get(f"/deals/{ns.deal_a1.pk}/"))


def test_a_manager_reassigns_a_deal_to_another_rep(client, team_setup):
    ns = team_setup
    client.force_login(ns.manager_a)
    form = client.get(f"/deals/{ns.deal_a1.pk}/edit/").context["form"]
    assert set(form.fields["owner"].queryset) == {ns.manager_a, ns.rep_a1, ns.rep_a2}
    client.post(f"/deals/{ns.deal_a1.pk}/edit/", {"name": ns.deal_a1.name, "owner": ns.rep_a2.pk})
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.owner == ns.rep_a2


@pytest.mark.parametrize(
    ("who", "status"), [("leader_a", 403), ("rep_a2", 404), ("manager_b", 404)]
)
def test_nobody_else_edits_a_deal(client, team_setup, who, status):
    ns = team_setup
    client.force_login(getattr(ns, who))
    assert client.get(f"/deals/{ns.deal_a1.pk}/edit/").status_code == status
    assert client.post(f"/deals/{ns.deal_a1.pk}/edit/", {"name": "X"}).status_code == status
    ns.deal_a1.refresh_from_db()
    assert ns.deal_a1.name != "X"


# --- The deals list -----------------------------------------------------------------------


def _names(response) -> list[str]:
    assert response.status_code == 200
    return [row.deal.name for row in response.context["rows"]]


@pytest.fixture
def listing(team_setup):
    """Team A's two open deals plus: a won and a lost one, and an open one a day at step 2."""
    ns = team_setup
    Deal.objects.filter(pk=ns.deal_a1.pk).update(name="Acme renewal", source="inbound")
    Deal.objects.filter(pk=ns.deal_a2.pk).update(
        name="Globex pilot", account="Globex Corp", source="referral"
    )
    ns.won = DealFactory(
        stream=ns.stream_a, owner=ns.rep_a1, name="Initech won", created_at=BASE_TIME, won=True
    )
    ns.lost = DealFactory(
        stream=ns.stream_a, owner=ns.rep_a2, name="Umbrella lost", created_at=BASE_TIME, lost=True
    )
    ns.fresh = DealFactory(
        stream=ns.stream_a, owner=ns.rep_a2, name="Hooli fresh", created_at=NOW - timedelta(days=1)
    )
    VisitFactory(deal=ns.fresh, step=ns.steps_a[1], entered_at=NOW - timedelta(hours=1))
    return ns


def test_the_list_searches_and_filters_by_step_rep_status_stalled_and_source(client, listing):
    ns = listing
    client.force_login(ns.manager_a)
    assert set(_names(client.get("/deals/"))) == {"Acme renewal", "Globex pilot", "Hooli fresh"}
    assert _names(client.get("/deals/", {"q": "globex corp"})) == ["Globex pilot"]  # account
    assert _names(client.get("/deals/", {"q": "ACME"})) == ["Acme renewal"]  # name
    assert _names(client.get("/deals/", {"step": ns.steps_a[1].pk})) == ["Hooli fresh"]
    assert set(_names(client.get("/deals/", {"owner": ns.rep_a2.pk}))) == {
        "Globex pilot",
        "Hooli fresh",
    }
    assert _names(client.get("/deals/", {"status": "won"})) == ["Initech won"]
    assert _names(client.get("/deals/", {"status": "lost", "owner": ns.rep_a2.pk})) == [
        "Umbrella lost"
    ]
    assert len(_names(client.get("/deals/", {"status": "all"}))) == 5
    # 3 days at step 1 (planned 8 h) is stalled; an hour at step 2 is not
    assert set(_names(client.get("/deals/", {"stalled": "on"}))) == {
        "Acme renewal",
        "Globex pilot",
    }
    assert _names(client.get("/deals/", {"source": "referral"})) == ["Globex pilot"]


def test_the_list_sorts(client, listing):
    client.force_login(listing.manager_a)
    assert _names(client.get("/deals/"))[-1] == "Hooli fresh"  # stalled first
    assert _names(client.get("/deals/", {"sort": "newest"}))[0] == "Hooli fresh"
    assert _names(client.get("/deals/", {"sort": "name"})) == [
        "Acme renewal",
        "Globex pilot",
        "Hooli fresh",
    ]


def test_a_rep_lists_only_their_deals_without_a_rep_filter(client, listing):
    client.force_login(listing.rep_a1)
    response = client.get("/deals/", {"status": "all"})
    assert set(_names(response)) == {"Acme renewal", "Initech won"}
    assert "owner" not in response.context["form"].fields
    assert "My deals" in response.content.decode()


def test_no_match_says_so_and_offers_to_clear_the_filters(client, listing):
    client.force_login(listing.manager_a)
    page = _text(client.get("/deals/", {"q": "zzz", "status": "won"}))
    assert "No won deals match “zzz” and these filters" in page
    assert '<a class="button" href="?status=won">Clear filters</a>' in page


def test_an_unknown_filter_value_is_shown_as_an_error_not_a_500(client, listing):
    client.force_login(listing.manager_a)
    response = client.get("/deals/", {"step": "abc", "sort": "bogus", "page": "x"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"step"}  # an unknown sort: the default


def test_an_unknown_sort_is_the_default_sort_without_an_odd_caption(client, listing):
    client.force_login(listing.manager_a)
    default = client.get("/deals/")
    response = client.get("/deals/", {"sort": "zzz"})
    assert _names(response) == _names(default)  # stalled first, as without a sort
    page = _text(response)
    assert "zzz" not in page and not response.context["form"].errors
    assert "Deals, sorted: Stalled first, then longest at their step" in page
    assert "Deals, sorted: Name A–Z" in _text(client.get("/deals/", {"sort": "name"}))


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"status": "any"}, "status", "'any' is not a status (open, won, lost or all), so open"),
        ({"source": "zzz"}, "source", "'zzz' is not one of the choices, so this filter is not"),
        ({"owner": "999999"}, "owner", "'999999' is not one of the choices, so this filter is"),
        ({"step": "999999"}, "step", "'999999' is not one of the choices, so this filter is"),
    ],
)
def test_a_refused_filter_is_named_and_not_applied(client, listing, query, field, message):
    """Consistently: the message next to the filter says it is left out, and the list is the
    one without it (for the status: open deals, the default), never every deal."""
    client.force_login(listing.manager_a)
    response = client.get("/deals/", query)
    assert set(response.context["form"].errors) == {field}
    assert message in _text(response).replace("&#x27;", "'")
    assert set(_names(response)) == {"Acme renewal", "Globex pilot", "Hooli fresh"}


def test_pages_keep_the_filters_in_their_links(client, team_setup):
    ns = team_setup
    for i in range(30):
        DealFactory(stream=ns.stream_a, owner=ns.rep_a1, name=f"Bulk {i:02}", created_at=BASE_TIME)
    client.force_login(ns.manager_a)
    first = client.get("/deals/", {"q": "bulk", "sort": "name"})
    assert _names(first)[:2] == ["Bulk 00", "Bulk 01"] and len(_names(first)) == 25
    page = first.content.decode()
    assert 'href="?q=bulk&amp;sort=name&amp;page=2"' in page
    second = client.get("/deals/", {"q": "bulk", "sort": "name", "page": 2})
    assert _names(second) == [f"Bulk {i:02}" for i in range(25, 30)]


def test_the_managers_list_costs_the_same_queries_for_5_or_300_deals(
    client, team_setup, django_assert_num_queries
):
    ns = team_setup
    client.force_login(ns.manager_a)
    client.get("/deals/")  # warm the session and content types

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get("/deals/", {"status": "all", "stalled": "", "sort": "amount"})
        return len(queries)

    few = count()
    deals = DealFactory.create_batch(300, stream=ns.stream_a, owner=ns.rep_a2, created_at=BASE_TIME)
    for deal in deals[:150]:
        VisitFactory(deal=deal, step=ns.steps_a[1], entered_at=NOW - timedelta(hours=2))
    with django_assert_num_queries(few):
        response = client.get("/deals/", {"status": "all", "stalled": "", "sort": "amount"})
    assert len(response.context["rows"]) == 25
    # Session, user, roles (asked by several helpers), steps, thresholds, owners, sources, the
    # count and the page's rows, the header's links: none per row.
    assert few <= 24, few


def test_times_on_the_deal_page_follow_the_active_time_zone(client, team_setup, settings):
    settings.TIME_ZONE = "Europe/Berlin"  # the zone a user without one of their own sees
    client.force_login(team_setup.rep_a1)
    page = client.get(f"/deals/{team_setup.deal_a1.pk}/").content.decode()
    assert "2025-01-06 10:00 CET" in page


def test_a_manager_who_just_closed_a_deal_is_offered_undo_then_reopen(client, team_setup, frozen):
    ns = team_setup
    client.force_login(ns.manager_a)
    client.post(f"/deals/{ns.deal_a1.pk}/close/", {"outcome": "won", "confirmed": "1"})
    page = client.get(f"/deals/{ns.deal_a1.pk}/").content.decode()
    assert 'id="undo-form"' in page and 'id="reopen-form"' not in page
    frozen.shift(timedelta(minutes=11))
    page = client.get(f"/deals/{ns.deal_a1.pk}/").content.decode()
    assert 'id="undo-form"' not in page and 'id="reopen-form"' in page


def test_the_admin_shows_a_deals_history_read_only(admin_client, team_setup):
    ns = team_setup
    deal_close(deal=ns.deal_a1, outcome="lost", lost_reason="No budget", actor=ns.rep_a1)
    page = admin_client.get(f"/admin/funnel/deal/{ns.deal_a1.pk}/change/").content.decode()
    assert "Deal events" in page and "No budget" in page
    assert 'name="events-0-reason"' not in page  # shown, not editable
