"""The 5S audit (kaizen/fives, docs/five-s.md): its scores worked by hand, the pages and the
API per role (managers run and edit; reps and leadership read; other teams see nothing), bad
input refused naming the field with nothing stored, a finding turned into a kaizen plan, and
the stream page's latest score and trend."""

from __future__ import annotations

from datetime import date

import pytest
from drf_spectacular.generators import SchemaGenerator

from kaizen.fives.models import FiveSAudit, FiveSQuestion
from kaizen.fives.scoring import audit_scores
from kaizen.fives.services import audit_create, questions_ensure, questions_ensure_all

pytestmark = pytest.mark.django_db


def _answers(stream, scores: dict[str, list[int]], notes: dict[int, str] | None = None):
    """One answer per active question, the scores of each S in question order."""
    questions_ensure(stream=stream)
    left = {s: list(v) for s, v in scores.items()}
    out = []
    for q in FiveSQuestion.objects.filter(stream=stream, retired_at__isnull=True):
        out.append({"question": q.pk, "score": left[q.s].pop(0), "note": ""})
    for index, note in (notes or {}).items():
        out[index]["note"] = note
    return out


RISING = {"sort": [4, 2], "set_in_order": [3, 3], "shine": [1, 0], "standardize": [4, 4]}
RISING["sustain"] = [2, 3]


def test_it_scores_each_s_as_its_mean_answer_over_4_and_the_audit_as_the_mean_of_the_five():
    # Sort (4+2)/8 = 75 %, Set in order 6/8 = 75 %, Shine 1/8 = 12.5 %, Standardize 100 %,
    # Sustain 5/8 = 62.5 %; overall (75+75+12.5+100+62.5)/5 = 65 %.
    pairs = [(s, v) for s, values in RISING.items() for v in values]
    scores = audit_scores(pairs)
    assert scores.by_s == {
        "sort": 75.0,
        "set_in_order": 75.0,
        "shine": 12.5,
        "standardize": 100.0,
        "sustain": 62.5,
    }
    assert scores.overall == 65.0


def test_a_manager_runs_an_audit_on_the_page_and_a_finding_becomes_a_kaizen_plan(
    client, team_setup
):
    ns = team_setup
    client.force_login(ns.manager_a)
    url = f"/kaizen/5s/{ns.stream_a.slug}/audits/new/"
    assert client.get(url).status_code == 200
    questions = list(FiveSQuestion.objects.filter(stream=ns.stream_a))
    assert len(questions) == 10  # the defaults, two per S
    data = {"audited_on": "2025-01-10", "note": ""}
    for q in questions:
        data[f"score_{q.pk}"] = "4"
    # A missing score is refused naming the question; nothing is stored.
    missing = dict(data)
    del missing[f"score_{questions[0].pk}"]
    answer = client.post(url, missing)
    assert answer.status_code == 400
    assert answer.context["form"].errors[f"score_{questions[0].pk}"]
    assert not FiveSAudit.objects.exists()
    future = dict(data, audited_on="2999-01-01")
    answer = client.post(url, future)
    assert answer.status_code == 400 and "audited_on" in answer.context["form"].errors
    assert not FiveSAudit.objects.exists()

    shine = next(q for q in questions if q.s == "shine")
    data[f"score_{shine.pk}"] = "1"
    data[f"note_{shine.pk}"] = "Price list from last year in the proposal template."
    answer = client.post(url, data)
    audit = FiveSAudit.objects.get()
    assert answer.status_code == 302 and answer["Location"].endswith(f"/audits/{audit.pk}/")
    # Shine (1+4)/8 = 62.5 %; overall (100·4 + 62.5)/5 = 92.5 %.
    assert (audit.score_shine, audit.score) == (62.5, 92.5)
    finding = audit.answers.get(question=shine)
    page = client.get(f"/kaizen/5s/{ns.stream_a.slug}/audits/{audit.pk}/").content.decode()
    assert f"five_s_finding={finding.pk}" in page
    plan = client.get(f"/kaizen/new/?five_s_finding={finding.pk}")
    form = plan.context["form"]
    assert form.initial["title"] == f"5S Shine: {shine.text}"
    assert "Price list from last year" in form.initial["problem"]
    assert form.initial["where"] == f"{ns.stream_a.pk}"


def test_it_shows_who_may_do_what_on_the_pages(client, team_setup):
    ns = team_setup
    slug = ns.stream_a.slug
    audit_create(
        user=ns.manager_a,
        stream=ns.stream_a,
        audited_on=date(2025, 1, 1),
        answers=_answers(ns.stream_a, RISING),
    )
    for user in (ns.rep_a1, ns.leader_a):
        client.force_login(user)
        assert client.get(f"/kaizen/5s/{slug}/").status_code == 200
        assert client.get(f"/kaizen/5s/{slug}/audits/new/").status_code == 403
        assert client.get(f"/kaizen/5s/{slug}/questions/").status_code == 403
    client.force_login(ns.manager_b)
    assert client.get(f"/kaizen/5s/{slug}/").status_code == 404
    client.force_login(ns.manager_a)
    page = client.get(f"/kaizen/5s/{slug}/")
    assert page.status_code == 200 and "65.0 %" in page.content.decode()
    # A question without words is refused naming the field.
    answer = client.post(f"/kaizen/5s/{slug}/questions/", {"s": "sort", "text": " "})
    assert answer.status_code == 400 and "text" in answer.context["add_form"].errors


def test_the_stream_page_shows_the_latest_score_and_its_trend(client, team_setup):
    ns = team_setup
    client.force_login(ns.rep_a1)
    page = client.get(f"/streams/{ns.stream_a.slug}/").content.decode()
    assert "No 5S audit yet" in page
    for day, scores in ((1, RISING), (8, {**RISING, "shine": [3, 3]})):
        audit_create(
            user=ns.manager_a,
            stream=ns.stream_a,
            audited_on=date(2025, 1, day),
            answers=_answers(ns.stream_a, scores),
        )
    page = client.get(f"/streams/{ns.stream_a.slug}/").content.decode()
    # Shine 12.5 % → 75 %: the overall rises by 62.5/5 = 12.5 points to 77.5 %.
    assert 'id="five-s-score">77.5 %' in page
    assert "up 12.5 points" in page


def test_the_api_lets_managers_write_and_the_team_read(api_client, team_setup):
    ns = team_setup
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in (
        "/api/five-s-questions/",
        "/api/five-s-questions/{id}/",
        "/api/five-s-questions/{id}/retire/",
        "/api/five-s-audits/",
        "/api/five-s-audits/{id}/",
    ):
        assert path in schema["paths"], path

    api_client.force_authenticate(ns.manager_a)
    listed = api_client.get(f"/api/five-s-questions/?stream={ns.stream_a.pk}").json()
    assert listed["count"] == 10
    answers = _answers(ns.stream_a, RISING)
    body = {"stream": ns.stream_a.pk, "audited_on": "2025-01-01", "answers": answers}

    bad = dict(body, answers=[dict(answers[0], score=5), *answers[1:]])
    answer = api_client.post("/api/five-s-audits/", bad, format="json")
    assert answer.status_code == 400 and "answers" in answer.json()
    answer = api_client.post("/api/five-s-audits/", dict(body, answers=answers[1:]), format="json")
    assert answer.status_code == 400 and "answers" in answer.json()
    assert not FiveSAudit.objects.exists()

    api_client.force_authenticate(ns.rep_a1)
    assert api_client.post("/api/five-s-audits/", body, format="json").status_code == 403
    api_client.force_authenticate(ns.manager_a)
    made = api_client.post("/api/five-s-audits/", body, format="json")
    assert made.status_code == 201 and made.json()["score"] == 65.0
    audit_id = made.json()["id"]
    changed = api_client.patch(f"/api/five-s-audits/{audit_id}/", {"note": "ok"}, format="json")
    assert changed.status_code == 200 and changed.json()["note"] == "ok"

    api_client.force_authenticate(ns.leader_a)
    assert api_client.get(f"/api/five-s-audits/{audit_id}/").json()["score_shine"] == 12.5
    answer = api_client.patch(f"/api/five-s-audits/{audit_id}/", {"note": "x"}, format="json")
    assert answer.status_code == 403
    api_client.force_authenticate(ns.manager_b)
    assert api_client.get(f"/api/five-s-audits/{audit_id}/").status_code == 404
    assert api_client.get("/api/five-s-audits/").json()["count"] == 0

    # Retiring the last question of an S is refused naming the field.
    api_client.force_authenticate(ns.manager_a)
    sort = list(FiveSQuestion.objects.filter(stream=ns.stream_a, s="sort"))
    assert api_client.post(f"/api/five-s-questions/{sort[0].pk}/retire/").status_code == 200
    answer = api_client.post(f"/api/five-s-questions/{sort[1].pk}/retire/")
    assert answer.status_code == 400 and "s" in answer.json()


def test_the_defaults_are_written_when_a_stream_is_made_and_never_by_a_read(
    api_client, client, team_setup
):
    ns = team_setup
    # A new stream has its ten defaults at once.
    assert FiveSQuestion.objects.filter(stream=ns.stream_a).count() == 10
    # A stream without any (made before the 5S audit existed): a read writes nothing...
    FiveSQuestion.objects.filter(stream=ns.stream_a).delete()
    api_client.force_authenticate(ns.manager_a)
    listed = api_client.get(f"/api/five-s-questions/?stream={ns.stream_a.pk}")
    assert listed.status_code == 200 and listed.json()["count"] == 0
    client.force_login(ns.manager_a)
    url = f"/kaizen/5s/{ns.stream_a.slug}/audits/new/"
    page = client.get(url)
    assert page.status_code == 200 and b'name="score_new0"' in page.content
    questions = client.get(f"/kaizen/5s/{ns.stream_a.slug}/questions/")
    assert questions.status_code == 200 and b"a default: written with" in questions.content
    assert not FiveSQuestion.objects.filter(stream=ns.stream_a).exists()
    # ...and the first audit, posted from that form, writes them and its answers.
    data = {"audited_on": "2025-01-10", "note": ""}
    data |= {f"score_new{i}": "3" for i in range(10)}
    assert client.post(url, data).status_code == 302
    audit = FiveSAudit.objects.get()
    assert audit.answers.count() == 10 and audit.score == 75
    assert FiveSQuestion.objects.filter(stream=ns.stream_a).count() == 10
    # After each migrate, a stream that never had questions gets its defaults, once.
    FiveSQuestion.objects.filter(stream=ns.stream_b).delete()
    assert questions_ensure_all() == 1 and questions_ensure_all() == 0
    assert FiveSQuestion.objects.filter(stream=ns.stream_b).count() == 10
