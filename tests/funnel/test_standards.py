"""Standard work (funnel/standards, docs/five-s.md): adherence and the win rate with and
without the whole checklist on a hand-worked log, the roles of the pages and the API, bad
input refused naming the field with nothing stored, and the deal page's ticks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from funnel.assets.models import Asset
from funnel.assets.outcomes import Window, default_window
from funnel.models import Visit
from funnel.standards.models import ChecklistItem, ChecklistTick, StepAsset
from funnel.standards.selectors import step_adherence
from tests.factories import BASE_TIME, DealFactory

pytestmark = pytest.mark.django_db


def _items(step, *texts):
    """Active checklist items of ``step``, written a day before BASE_TIME."""
    items = [
        ChecklistItem.objects.create(step=step, text=t, position=i) for i, t in enumerate(texts)
    ]
    ChecklistItem.objects.filter(pk__in=[i.pk for i in items]).update(
        created_at=BASE_TIME - timedelta(days=1)
    )
    return items


def _deal(stream, step, *, outcome=None, exited=True, ticked=(), owner=None):
    traits = {outcome: True} if outcome else {}
    deal = DealFactory(stream=stream, owner=owner, **traits)
    Visit.objects.create(
        deal=deal,
        step=step,
        entered_at=BASE_TIME,
        exited_at=BASE_TIME + timedelta(days=2) if exited else None,
    )
    for item in ticked:
        ChecklistTick.objects.create(deal=deal, item=item, step=step)
    return deal


def test_it_reports_adherence_and_the_win_rate_with_and_without_the_checklist(team_setup):
    ns = team_setup
    step = ns.steps_a[1]
    a, b = _items(step, "Budget confirmed", "Decision maker named")
    both = (a, b)
    # With the whole checklist: 5 closed (4 won, 1 lost) and 1 open.
    for outcome in ("won", "won", "won", "won", "lost"):
        _deal(ns.stream_a, step, outcome=outcome, ticked=both)
    _deal(ns.stream_a, step, exited=False, ticked=both)
    # Without it: 5 closed (1 won, 4 lost; two of the lost ticked one item only), 1 open.
    _deal(ns.stream_a, step, outcome="won")
    _deal(ns.stream_a, step, outcome="lost", ticked=(a,))
    _deal(ns.stream_a, step, outcome="lost", ticked=(b,))
    _deal(ns.stream_a, step, outcome="lost")
    _deal(ns.stream_a, step, outcome="lost")
    _deal(ns.stream_a, step, exited=False)
    # Left the step before there was a checklist: not counted.
    early = DealFactory(stream=ns.stream_a, won=True)
    Visit.objects.create(
        deal=early,
        step=step,
        entered_at=BASE_TIME - timedelta(days=5),
        exited_at=BASE_TIME - timedelta(days=3),
    )
    # A retired item does not count towards "complete".
    ChecklistItem.objects.create(step=step, text="Old rule", retired_at=timezone.now())

    f = step_adherence(step)
    # Reached 12 (the 2 open deals included), complete 6: adherence 6/12 = 50 %, Wilson
    # 0.5 ± 1.96/1.3201 · √(0.25/12 + 3.8415/576) = 0.5 ± 0.2462 → [25.4 %, 74.6 %].
    assert (f.reached, f.complete) == (12, 6)
    assert f.adherence["value"] == 0.5
    assert round(f.adherence["low"], 3) == 0.254 and round(f.adherence["high"], 3) == 0.746
    # Closed: with 4 of 5 won (80 %), without 1 of 5 (20 %).
    assert (f.won_with, f.n_with, f.won_without, f.n_without) == (4, 5, 1, 5)
    # Fisher, 10 deals, 5 won, 5 with: P(k) = C(5,k)·C(5,5−k)/252; observed k = 4 (25/252);
    # as or less likely: k = 0, 1, 4, 5 → (1 + 25 + 25 + 1)/252 = 0.2063.
    assert round(f.p_value, 4) == round(52 / 252, 4)


def test_the_api_lets_managers_keep_the_checklist_and_reps_tick_their_deals(api_client, team_setup):
    ns = team_setup
    step = ns.steps_a[0]
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in (
        "/api/checklist-items/",
        "/api/checklist-items/{id}/retire/",
        "/api/checklist-ticks/",
        "/api/checklist-ticks/{id}/",
        "/api/step-assets/",
        "/api/streams/{id}/standards/",
    ):
        assert path in schema["paths"], path

    api_client.force_authenticate(ns.rep_a1)
    body = {"step": step.pk, "text": "Pain named"}
    assert api_client.post("/api/checklist-items/", body, format="json").status_code == 403
    api_client.force_authenticate(ns.manager_a)
    answer = api_client.post("/api/checklist-items/", {**body, "text": "  "}, format="json")
    assert answer.status_code == 400 and "text" in answer.json()
    assert not ChecklistItem.objects.exists()
    item_id = api_client.post("/api/checklist-items/", body, format="json").json()["id"]

    api_client.force_authenticate(ns.rep_a1)
    tick = {"deal": ns.deal_a1.pk, "item": item_id}
    made = api_client.post("/api/checklist-ticks/", tick, format="json")
    assert made.status_code == 201
    assert (made.json()["step"], made.json()["ticked_by"]) == (step.pk, ns.rep_a1.pk)
    # Another rep's deal is not theirs to see: 400 naming the field.
    other = api_client.post("/api/checklist-ticks/", {**tick, "deal": ns.deal_a2.pk}, format="json")
    assert other.status_code == 400 and "deal" in other.json()
    api_client.force_authenticate(ns.leader_a)
    assert api_client.get(f"/api/checklist-ticks/?deal={ns.deal_a1.pk}").json()["count"] == 1
    assert api_client.post("/api/checklist-ticks/", tick, format="json").status_code == 403
    standards = api_client.get(f"/api/streams/{ns.stream_a.pk}/standards/").json()
    assert (standards[0]["reached"], standards[0]["complete"]) == (2, 1)
    assert standards[0]["p_value"] is None  # under 5 closed deals a side

    api_client.force_authenticate(ns.manager_b)
    assert api_client.get("/api/checklist-items/").json()["count"] == 0
    assert api_client.get(f"/api/streams/{ns.stream_a.pk}/standards/").status_code == 404
    foreign = Asset.objects.create(
        team=ns.team_b,
        title="B's playbook",
        review_due_at=timezone.now(),
        created_at=timezone.now(),
    )
    api_client.force_authenticate(ns.manager_a)
    answer = api_client.post(
        "/api/step-assets/", {"step": step.pk, "asset": foreign.pk}, format="json"
    )
    assert answer.status_code == 400 and "asset" in answer.json()
    own = Asset.objects.create(
        team=ns.team_a,
        title="Discovery guide",
        review_due_at=timezone.now(),
        created_at=timezone.now(),
    )
    answer = api_client.post("/api/step-assets/", {"step": step.pk, "asset": own.pk}, format="json")
    assert answer.status_code == 201 and StepAsset.objects.count() == 1

    # A closed deal's checklist no longer changes.
    ns.deal_a1.status, ns.deal_a1.closed_at = "lost", BASE_TIME + timedelta(days=3)
    ns.deal_a1.lost_reason = "No budget"
    ns.deal_a1.save()
    tick_id = made.json()["id"]
    answer = api_client.delete(f"/api/checklist-ticks/{tick_id}/")
    assert answer.status_code == 400 and "deal" in answer.json()


def test_a_rep_ticks_the_checklist_on_the_deal_page_and_managers_edit_it(client, team_setup):
    ns = team_setup
    step = ns.steps_a[0]
    a, b = _items(step, "Budget confirmed", "Decision maker named")
    client.force_login(ns.rep_a1)
    page = client.get(f"/deals/{ns.deal_a1.pk}/").content.decode()
    assert "Standard work at Step 1" in page and "Budget confirmed" in page
    url = f"/deals/{ns.deal_a1.pk}/checklist/"
    bad = client.post(url, {"step": step.pk, "items": [a.pk, 999_999]})
    assert bad.status_code == 400 and "items:" in bad.context["checklist_error"]
    assert not ChecklistTick.objects.exists()
    answer = client.post(url, {"step": step.pk, "items": [a.pk]})
    assert answer.status_code == 302
    tick = ChecklistTick.objects.get()
    assert (tick.item, tick.step, tick.ticked_by) == (a, step, ns.rep_a1)
    client.post(url, {"step": step.pk, "items": [b.pk]})
    assert list(ChecklistTick.objects.values_list("item", flat=True)) == [b.pk]
    assert client.post(f"/deals/{ns.deal_a2.pk}/checklist/", {"step": step.pk}).status_code == 404

    slug = ns.stream_a.slug
    assert client.get(f"/streams/{slug}/standards/").status_code == 200
    assert client.post(f"/streams/{slug}/standards/steps/{step.pk}/items/").status_code == 403
    client.force_login(ns.manager_a)
    answer = client.post(f"/streams/{slug}/standards/steps/{step.pk}/items/", {"text": ""})
    assert answer.status_code == 400
    assert ChecklistItem.objects.count() == 2
    answer = client.post(f"/streams/{slug}/standards/steps/{step.pk}/items/", {"text": "Pain"})
    assert answer.status_code == 302 and ChecklistItem.objects.count() == 3
    answer = client.post(f"/streams/{slug}/standards/steps/{step.pk}/assets/", {"asset": "9"})
    assert answer.status_code == 400 and not StepAsset.objects.exists()
    client.force_login(ns.manager_b)
    assert client.get(f"/streams/{slug}/standards/").status_code == 404


def test_adherence_counts_the_deals_open_or_closed_in_the_window(api_client, client, team_setup):
    ns = team_setup
    step = ns.steps_a[1]
    (a,) = _items(step, "Budget confirmed")
    for outcome in ("won", "won", "lost"):
        _deal(ns.stream_a, step, outcome=outcome, ticked=(a,))  # closed 14 days after creation
    _deal(ns.stream_a, step, outcome="lost")
    _deal(ns.stream_a, step, exited=False, ticked=(a,))
    closed_in = Window(BASE_TIME - timedelta(days=30), BASE_TIME + timedelta(days=60))
    f = step_adherence(step, closed_in)
    assert (f.reached, f.complete, f.n_with, f.won_with, f.n_without) == (5, 4, 3, 2, 1)
    later = Window(BASE_TIME + timedelta(days=400), BASE_TIME + timedelta(days=765))
    f = step_adherence(step, later)  # only the open deal is left
    assert (f.reached, f.complete, f.n_with, f.n_without) == (1, 1, 0, 0)

    slug, url = ns.stream_a.slug, f"/api/streams/{ns.stream_a.pk}/standards/"
    client.force_login(ns.rep_a1)
    page = client.get(f"/streams/{slug}/standards/")
    assert page.status_code == 200 and page.context["window"] == default_window()
    page = client.get(f"/streams/{slug}/standards/", {"start": "2025-01-01", "end": "2025-03-01"})
    row = next(r for r in page.context["rows"] if r["standard"].step == step)
    assert row["standard"].figures.reached == 5
    wrong = client.get(f"/streams/{slug}/standards/", {"start": "soon"})
    assert wrong.status_code == 400 and b"Enter a date as YYYY-MM-DD." in wrong.content
    api_client.force_authenticate(ns.rep_a1)
    found = api_client.get(url, {"start": "2025-01-01", "end": "2025-03-01"}).json()
    assert next(r for r in found if r["step"] == step.pk)["reached"] == 5
    assert next(r for r in api_client.get(url).json() if r["step"] == step.pk)["reached"] == 1
    bad = api_client.get(url, {"end": "x"})
    assert bad.status_code == 400 and "end" in bad.json()


def test_a_manager_rewords_an_item_on_the_page(client, team_setup):
    ns = team_setup
    step = ns.steps_a[0]
    (a,) = _items(step, "Budget confirmd")
    slug = ns.stream_a.slug
    edit = f"/streams/{slug}/standards/items/{a.pk}/edit/"
    client.force_login(ns.manager_a)
    assert f'action="{edit}"'.encode() in client.get(f"/streams/{slug}/standards/").content
    refused = client.post(edit, {"text": "  "})
    assert refused.status_code == 400 and b"This field is required." in refused.content
    a.refresh_from_db()
    assert a.text == "Budget confirmd"
    answer = client.post(edit, {"text": "Budget confirmed"})
    assert answer.status_code == 302 and answer["Location"].endswith(f"#step-{step.pk}")
    a.refresh_from_db()
    assert a.text == "Budget confirmed"
    client.force_login(ns.rep_a1)
    assert client.post(edit, {"text": "Mine"}).status_code == 403
    client.force_login(ns.manager_b)
    assert client.post(edit, {"text": "Theirs"}).status_code == 404
