from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from funnel.metrics.snapshots import metrics_recompute_stream
from funnel.models import MetricsState
from vsm_project.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_it_reports_healthy_in_eager_mode_without_login(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert body["database"]["ok"] is True
    assert body["broker"]["mode"] == "eager"


def test_it_answers_503_naming_the_broker_when_the_broker_is_down(client, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker", "workers"]
    assert body["broker"]["ok"] is False and body["broker"]["error"]
    assert body["database"]["ok"] is True


def test_it_says_degraded_naming_the_streams_whose_figures_miss_their_changes(
    client, settings, team_setup
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.METRICS_OWED_GRACE_SECONDS = 60
    now = timezone.now()
    a, b = team_setup.stream_a, team_setup.stream_b
    # A: changed 2 minutes ago, computed before that. B: changed 10 s ago (within the grace).
    MetricsState.objects.create(
        stream=a, changed_at=now - timedelta(minutes=2), computed_at=now - timedelta(minutes=3)
    )
    MetricsState.objects.create(
        stream=b, changed_at=now - timedelta(seconds=10), computed_at=now - timedelta(minutes=3)
    )
    response = client.get("/healthz")
    assert response.status_code == 200  # the product works; its figures lag
    body = response.json()
    assert (body["status"], body["failing"], body["degraded"]) == ("degraded", [], ["metrics"])
    assert [s["slug"] for s in body["metrics"]["stale_streams"]] == [a.slug]
    assert body["metrics"]["stale_streams"][0]["name"] == a.name
    assert a.slug in body["metrics"]["error"] and b.slug not in body["metrics"]["error"]

    metrics_recompute_stream(stream_id=a.pk, now=timezone.now())
    body = client.get("/healthz").json()
    assert (body["status"], body["degraded"], body["metrics"]["ok"]) == ("ok", [], True)
