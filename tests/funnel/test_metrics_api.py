"""``GET /api/streams/{id}/metrics/``, the snapshots behind it and how they are kept fresh.

The figures themselves are checked against hand-worked logs in ``test_metrics.py``; here the
wiring: permissions, parameters, the schema, storing and reading snapshots, the debounced
recompute, the periodic refresh of the "now" figures and the command.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator

from funnel.eventlog.services import deal_close, deal_move
from funnel.metrics import snapshots
from funnel.metrics.query import MetricsQuery
from funnel.metrics.snapshots import (
    metrics_changed,
    metrics_prune,
    metrics_read,
    metrics_recompute_stream,
    metrics_refresh_open,
    metrics_schedule,
    metrics_stored,
)
from funnel.models import MetricsSnapshot, MetricsState
from streams.models import FunnelStage
from tests.factories import BASE_TIME

NOW = BASE_TIME + timedelta(days=3)  # team_setup's deals entered step 1 at BASE_TIME


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def url(stream, query: str = "") -> str:
    return f"/api/streams/{stream.pk}/metrics/{query}"


# --- the endpoint ---------------------------------------------------------------------------


def test_leadership_reads_every_family_of_figures_with_n_and_low_sample(api_client, team_setup):
    api_client.force_authenticate(team_setup.leader_a)
    response = api_client.get(url(team_setup.stream_a))
    assert response.status_code == 200
    body = response.json()
    assert body["window"]["key"] == "last-90d"
    assert body["window"]["end"].startswith("2025-01-09T09:00:00")  # NOW
    assert [s["step"] for s in body["steps"]] == [s.pk for s in team_setup.steps_a]
    first = body["steps"][0]
    # two open deals at step 1 since BASE_TIME: WIP 2, nothing completed yet
    assert first["wip_now"] == {"value": 2, "n": 2, "low_sample": True}
    assert first["median_hours"] == {"value": None, "n": 0, "low_sample": True}
    assert first["arrivals"]["value"] == 2
    assert body["summary"]["win_rate"] == {"value": None, "n": 0, "low_sample": True}
    assert body["summary"]["open_deals"]["value"] == 2
    assert body["funnel"]["cohort_deals"] == 2
    assert body["computed_at"].startswith("2025-01-09T09:00:00")
    assert body["stale"] is False


def test_the_response_has_exactly_the_fields_of_the_schema(api_client, team_setup):
    stage = FunnelStage.objects.create(stream=team_setup.stream_a, name="Lead", position=1)
    team_setup.stream_a.steps.update(stage=stage)
    api_client.force_authenticate(team_setup.leader_a)
    body = api_client.get(url(team_setup.stream_a)).json()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    operation = schema["paths"]["/api/streams/{id}/metrics/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "start",
        "end",
        "tz",
        "owner",
        "lane",
        "source",
        "amount_band",
    }
    assert set(body) == set(components["StreamMetrics"]["properties"])
    assert set(body["summary"]) == set(components["StreamSummary"]["properties"])
    assert set(body["waste"]) == set(components["Waste"]["properties"])
    assert set(body["steps"][0]) == set(components["StepMetrics"]["properties"])
    assert set(body["funnel"]["stages"][0]) == set(components["StageMetrics"]["properties"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?start=2025-13-01&end=2025-02-01", "start"),
        ("?start=2025-01-01&end=soon", "end"),
        ("?start=2025-01-01", "end"),
        ("?start=2025-02-01&end=2025-01-01", "end"),
        ("?owner=alice", "owner"),
        ("?lane=x", "lane"),
        ("?amount_band=huge", "amount_band"),
        ("?tz=Mars/Olympus", "tz"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(api_client, team_setup, query, field):
    api_client.force_authenticate(team_setup.manager_a)
    response = api_client.get(url(team_setup.stream_a, query))
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not MetricsSnapshot.objects.exists()


def test_a_lane_of_another_stream_is_refused(api_client, team_setup):
    api_client.force_authenticate(team_setup.manager_a)
    other_lane = team_setup.steps_b[0].lane_id
    response = api_client.get(url(team_setup.stream_a, f"?lane={other_lane}"))
    assert response.status_code == 400
    assert "not a lane of this stream" in response.json()["lane"][0]


def test_a_rep_sees_the_team_and_their_own_figures_but_not_another_reps(api_client, team_setup):
    api_client.force_authenticate(team_setup.rep_a1)
    assert api_client.get(url(team_setup.stream_a)).status_code == 200
    own = api_client.get(url(team_setup.stream_a, f"?owner={team_setup.rep_a1.pk}"))
    assert own.status_code == 200
    assert own.json()["steps"][0]["wip_now"]["value"] == 1  # only deal_a1
    other = api_client.get(url(team_setup.stream_a, f"?owner={team_setup.rep_a2.pk}"))
    assert other.status_code == 403
    # a manager may look at any rep of the team
    api_client.force_authenticate(team_setup.manager_a)
    assert (
        api_client.get(url(team_setup.stream_a, f"?owner={team_setup.rep_a2.pk}")).status_code
        == 200
    )


def test_another_teams_stream_is_not_found_and_anonymous_is_refused(api_client, team_setup):
    api_client.force_authenticate(team_setup.manager_b)
    assert api_client.get(url(team_setup.stream_a)).status_code == 404
    api_client.force_authenticate(None)
    assert api_client.get(url(team_setup.stream_a)).status_code in (401, 403)


def test_an_explicit_window_in_a_time_zone_is_read_in_that_zone(api_client, team_setup):
    api_client.force_authenticate(team_setup.manager_a)
    response = api_client.get(
        url(team_setup.stream_a, "?start=2025-01-01&end=2025-01-08&tz=Europe/Berlin")
    )
    assert response.status_code == 200
    window = response.json()["window"]
    # midnight in Berlin (UTC+1 in winter) is 23:00 UTC the day before
    assert window["start"].startswith("2024-12-31T23:00:00")
    assert window["key"] == "2024-12-31T23:00:00+00:00/2025-01-07T23:00:00+00:00"
    assert response.json()["steps"][0]["arrivals"]["value"] == 2


# --- snapshots ------------------------------------------------------------------------------


def test_the_first_read_computes_and_stores_later_reads_only_read(team_setup):
    query = MetricsQuery(stream_id=team_setup.stream_a.pk)
    assert metrics_stored(query) is None
    first = metrics_read(query, now=NOW)
    assert MetricsSnapshot.objects.count() == 1
    with mock.patch.object(snapshots, "compute_bases", side_effect=AssertionError("computed")):
        again = metrics_read(query, now=NOW + timedelta(minutes=5))
    assert again.computed_at == first.computed_at
    assert again.step(team_setup.steps_a[0].pk).wip_now == 2


def test_a_change_marks_the_snapshot_stale_until_the_recompute(team_setup):
    query = MetricsQuery(stream_id=team_setup.stream_a.pk)
    metrics_read(query, now=NOW)
    with mock.patch("funnel.tasks.recompute_stream_metrics.apply_async") as enqueue:
        assert metrics_schedule(stream_id=team_setup.stream_a.pk, now=NOW + timedelta(hours=1))
    enqueue.assert_called_once()
    assert metrics_stored(query).stale is True
    metrics_recompute_stream(stream_id=team_setup.stream_a.pk, now=NOW + timedelta(hours=2))
    assert metrics_stored(query).stale is False


def test_a_burst_of_changes_queues_one_recompute(team_setup):
    stream_id = team_setup.stream_a.pk
    with mock.patch("funnel.tasks.recompute_stream_metrics.apply_async") as enqueue:
        queued = [
            metrics_schedule(stream_id=stream_id, now=NOW + timedelta(seconds=i))
            for i in range(1000)
        ]
    assert queued.count(True) == 1 and enqueue.call_count == 1
    state = MetricsState.objects.get(stream_id=stream_id)
    assert state.changed_at == NOW + timedelta(seconds=999)
    # the recompute clears the flag, so the next change queues again
    metrics_recompute_stream(stream_id=stream_id, now=NOW + timedelta(seconds=1000))
    with mock.patch("funnel.tasks.recompute_stream_metrics.apply_async") as enqueue:
        assert metrics_schedule(stream_id=stream_id, now=NOW + timedelta(seconds=1001))
    assert enqueue.call_count == 1


def test_a_change_after_a_quiet_spell_is_recomputed_at_once_and_a_close_one_waits(
    team_setup, settings
):
    settings.METRICS_DEBOUNCE_SECONDS = 0.25
    stream_id = team_setup.stream_a.pk
    with mock.patch("funnel.tasks.recompute_stream_metrics.apply_async") as enqueue:
        assert metrics_schedule(stream_id=stream_id, now=NOW)  # the first change ever
        # The recompute starts (and clears the flag); a change 0.1 s after the first waits.
        metrics_recompute_stream(stream_id=stream_id, now=NOW + timedelta(seconds=0.05))
        assert metrics_schedule(stream_id=stream_id, now=NOW + timedelta(seconds=0.1))
        metrics_recompute_stream(stream_id=stream_id, now=NOW + timedelta(seconds=0.4))
        # A minute later all is quiet again: at once.
        assert metrics_schedule(stream_id=stream_id, now=NOW + timedelta(minutes=1))
    # The wait travels as the task's own argument, never as a Celery countdown (an ETA
    # message a worker holds when Redis drops makes a celery 5.7 worker exit).
    assert [c.args[1]["not_before"] for c in enqueue.call_args_list] == [
        None,
        (NOW + timedelta(seconds=0.1 + 0.25)).isoformat(),
        None,
    ]
    assert all("countdown" not in c.kwargs and "eta" not in c.kwargs for c in enqueue.mock_calls)


@pytest.mark.django_db(transaction=True)
def test_one_transaction_of_many_events_schedules_once_on_commit(team_setup):
    stream_id = team_setup.stream_a.pk
    with mock.patch.object(snapshots, "metrics_schedule") as schedule:
        with transaction.atomic():
            for _ in range(50):
                metrics_changed(stream_id=stream_id)
            metrics_changed(stream_id=team_setup.stream_b.pk)
            assert schedule.call_count == 0  # nothing before the commit
        assert sorted(c.kwargs["stream_id"] for c in schedule.call_args_list) == sorted(
            [stream_id, team_setup.stream_b.pk]
        )
        schedule.reset_mock()
        with pytest.raises(RuntimeError), transaction.atomic():
            metrics_changed(stream_id=stream_id)
            raise RuntimeError("rolled back")
        assert schedule.call_count == 0


@pytest.mark.django_db(transaction=True)
def test_logging_events_recomputes_the_snapshot_on_commit(team_setup):
    query = MetricsQuery(stream_id=team_setup.stream_a.pk)
    metrics_read(query, now=NOW)
    deal_move(
        deal=team_setup.deal_a1, step=team_setup.steps_a[1], at=NOW - timedelta(hours=1)
    )  # 71 h at step 1
    result = metrics_stored(query)
    assert result.stale is False
    step1 = result.step(team_setup.steps_a[0].pk)
    assert step1.n_completed == 1 and step1.median_hours == pytest.approx(71)
    assert result.step(team_setup.steps_a[1].pk).wip_now == 1
    deal_close(deal=team_setup.deal_a2, outcome="lost", at=NOW - timedelta(minutes=30))
    assert metrics_stored(query).summary.lost == 1


def test_the_periodic_refresh_redoes_only_the_now_figures(team_setup):
    stream = team_setup.stream_a
    query = MetricsQuery(stream_id=stream.pk)
    metrics_read(query, now=NOW)
    # behind the snapshot's back: deal_a2 leaves step 1 (planned lead time 8 h: stalled)
    team_setup.deal_a2.visits.update(exited_at=NOW)
    later = NOW + timedelta(minutes=5)
    assert metrics_refresh_open(stream_id=stream.pk, now=later) == 1
    result = metrics_stored(query)
    step1 = result.step(team_setup.steps_a[0].pk)
    assert step1.wip_now == 1 and step1.stalled == 1  # 3 days against a planned 8 h
    assert step1.n_completed == 0  # the window's figures wait for the recompute
    assert result.computed_at == NOW
    assert MetricsSnapshot.objects.get().now_at == later


def test_unused_sets_expire_but_the_standard_ones_stay(team_setup):
    stream_id = team_setup.stream_a.pk
    metrics_recompute_stream(stream_id=stream_id, now=NOW)
    adhoc = MetricsQuery(
        stream_id=stream_id,
        start=datetime(2024, 12, 1, tzinfo=UTC),
        end=datetime(2025, 1, 1, tzinfo=UTC),
    )
    metrics_read(adhoc, now=NOW)
    assert MetricsSnapshot.objects.count() == 3  # last 90 days, the 90 before, the ad-hoc
    # the recompute keeps the ad-hoc set fresh too
    assert metrics_recompute_stream(stream_id=stream_id, now=NOW + timedelta(days=1)) == 3
    assert metrics_prune(now=NOW + timedelta(days=6)) == 0
    assert metrics_prune(now=NOW + timedelta(days=8)) == 1
    assert set(MetricsSnapshot.objects.values_list("window_key", flat=True)) == {
        "last-90d",
        "prev-90d",
    }


def test_recompute_metrics_command_reports_each_stream(team_setup):
    err, out = StringIO(), StringIO()
    call_command("recompute_metrics", stderr=err, stdout=out)
    assert "Recomputed 2 stream(s)." in out.getvalue()
    assert f"{team_setup.stream_a.slug}: 2 window and filter sets" in err.getvalue()
    # The figures of both sets first, then their chart series.
    for line in ("1/4: last-90d in", "2/4: prev-90d in", "4/4: charts of prev-90d in"):
        assert line in err.getvalue()
    call_command("recompute_metrics", "--stream", team_setup.stream_b.slug, stdout=out, stderr=err)
    assert MetricsSnapshot.objects.filter(stream=team_setup.stream_b).count() == 2


def test_recompute_metrics_command_names_an_unknown_stream(team_setup):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No value stream with slug 'nope'"):
        call_command("recompute_metrics", "--stream", "nope")


def test_the_beat_tasks_recompute_every_stream_and_refresh_every_set(team_setup):
    from funnel.tasks import recompute_all_metrics, refresh_open_metrics

    assert recompute_all_metrics() == 2  # both teams' streams have deals
    assert MetricsSnapshot.objects.count() == 4  # the last 90 days and the 90 before, each
    # deal_a2 leaves step 1 behind the snapshots' back; the refresh sees WIP drop to 1
    team_setup.deal_a2.visits.update(exited_at=NOW)
    assert refresh_open_metrics() == 4
    result = metrics_stored(MetricsQuery(stream_id=team_setup.stream_a.pk))
    assert result.step(team_setup.steps_a[0].pk).wip_now == 1
