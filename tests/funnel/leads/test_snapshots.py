"""The Leads snapshots (``funnel.leads.snapshots``): the view's parameters and their errors,
the signature and what makes a snapshot stale, the job (joined, failed, eager) and the whole
result of ``compute_leads`` on the hand-worked elapsed log (``hand_logs``)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from funnel.leads.models import HandoffDecision, LeadsSnapshot, SellerLimit
from funnel.leads.snapshots import (
    LEADS_JOB,
    compute_leads,
    leads_signature,
    leads_view_from_params,
    leads_view_read,
)
from funnel.leads.view import LeadsView
from funnel.models import MetricsState
from streams.models import Job, JobState, TimeBasis
from tests.funnel.leads.hand_logs import at, base, decide, elapsed_log, working_log

pytestmark = pytest.mark.django_db

NOW = at("2026-09-20T00:00Z")
WINDOW = {"start": "2026-08-24", "end": "2026-09-14", "as_of": "2026-09-20T00:00Z"}


@pytest.fixture
def log(db):
    return elapsed_log()


def errors_of(stream, params: dict) -> dict:
    with pytest.raises(ValidationError) as caught:
        leads_view_from_params(stream, params, now=NOW)
    return caught.value.message_dict


# --- Parameters -------------------------------------------------------------------------------


def test_without_parameters_the_view_is_the_90_days_up_to_now_in_the_streams_basis(db):
    ns = base()
    view, key, live = leads_view_from_params(ns.stream, {}, now=NOW)
    assert view == LeadsView(
        stream_id=ns.stream.pk,
        start=NOW - timedelta(days=90),
        end=NOW,
        as_of=NOW,
        basis=TimeBasis.ELAPSED,
    )
    assert live is True
    assert key == "last-90d|now|elapsed|owner=|source="
    # The same key a minute later: a view as of now is one snapshot.
    assert leads_view_from_params(ns.stream, {}, now=NOW + timedelta(minutes=1))[1] == key


def test_the_parameters_make_the_view_and_its_key(db):
    ns = base()
    params = WINDOW | {"source": "web", "owner": str(ns.rep1.pk)}
    view, key, live = leads_view_from_params(ns.stream, params, now=NOW)
    assert (view.start, view.end, view.as_of) == (
        at("2026-08-24T00:00Z"),
        at("2026-09-14T00:00Z"),
        at("2026-09-20T00:00Z"),
    )
    assert (view.source, view.owner_id, live) == ("web", ns.rep1.pk, False)
    assert key.startswith("2026-08-24T00:00:00Z/2026-09-14T00:00:00Z|2026-09-20T00:00:00Z|")
    assert f"owner={ns.rep1.pk}" in key
    # Another source is another snapshot.
    other = leads_view_from_params(ns.stream, params | {"source": "event"}, now=NOW)[1]
    assert other != key


def test_an_as_of_alone_gives_the_90_days_up_to_it(db):
    ns = base()
    view, key, live = leads_view_from_params(ns.stream, {"as_of": "2026-09-01"}, now=NOW)
    assert (view.start, view.end, view.as_of, live) == (
        at("2026-06-03T00:00Z"),
        at("2026-09-01T00:00Z"),
        at("2026-09-01T00:00Z"),
        False,
    )
    assert key.startswith("last-90d|2026-09-01T00:00:00Z|")


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"start": "yesterday", "end": "2026-09-01"}, "start", "ISO 8601"),
        ({"start": "2026-09-01"}, "end", "both"),
        ({"end": "2026-09-01"}, "start", "both"),
        ({"start": "2026-09-01", "end": "2026-08-01"}, "end", "ends after it starts"),
        ({"as_of": "2026-09-21"}, "as_of", "future"),
        ({"as_of": "2026-13-01"}, "as_of", "ISO 8601"),
        ({"owner": "abc"}, "owner", "not a user id"),
        ({"owner": "99999999999999999999"}, "owner", "not a user id"),
        ({"owner": "987654"}, "owner", "no user 987654"),
        ({"source": "x" * 41}, "source", "at most 40"),
        ({"source": "a\x00b"}, "source", "NUL"),
        ({"time": "fortnights"}, "time", "not a time basis"),
        ({"time": "working"}, "time", "calendar"),
    ],
)
def test_a_bad_parameter_is_named_with_the_reason(db, params, field, words):
    ns = base()
    errors = errors_of(ns.stream, params)
    assert list(errors) == [field]
    assert words.lower() in errors[field][0].lower()


def test_working_time_is_the_default_of_a_working_stream_with_a_calendar(db):
    ns = working_log()
    ns.stream.time_basis = TimeBasis.WORKING
    ns.stream.save(update_fields=["time_basis"])
    view, key, _ = leads_view_from_params(ns.stream, {}, now=NOW)
    assert view.basis == TimeBasis.WORKING and "|working|" in key
    view, _, _ = leads_view_from_params(ns.stream, {"time": "elapsed"}, now=NOW)
    assert view.basis == TimeBasis.ELAPSED


# --- The whole result -------------------------------------------------------------------------


def test_compute_leads_puts_every_part_together(log):
    view, _, _ = leads_view_from_params(log.stream, WINDOW, now=NOW)
    result = compute_leads(view)
    assert list(result) == [
        "format",
        "view",
        "stages",
        "cohorts",
        "flow",
        "response",
        "sla",
        "queue",
        "separation",
        "waste",
    ]
    assert result["format"] == 2
    assert result["view"] == {
        "start": "2026-08-24T00:00:00+00:00",
        "end": "2026-09-14T00:00:00+00:00",
        "as_of": "2026-09-20T00:00:00+00:00",
        "source": "",
        "owner": None,
        "basis": "elapsed",
    }
    # The hand-worked figures of test_figures_waterfall and test_figures_sla, in one result.
    assert [c["created"] for c in result["cohorts"]] == [2, 3]
    assert [w["reached"]["created"] for w in result["flow"]] == [2, 1, 2]
    assert [(r["n"], r["median_hours"]) for r in result["response"]] == [(6, 4.75), (1, 1.5)]
    assert [(s["due"], s["met"]) for s in result["sla"]] == [(7, 2), (2, 1)]
    # The queue: B waits at SQL (since Wed 2 Sep 09:00, 423 hours before as_of).
    assert result["queue"]["waiting"] == 1
    assert result["queue"]["oldest_age_hours"] == 423.0
    assert {"prospecting_share", "skipped_share"} <= set(result["separation"])
    assert result["waste"]["ping_pong"]["rejected_cases"] == 1


# --- Signature, reads and the job -------------------------------------------------------------


def test_the_first_read_computes_with_eager_celery_then_reads_the_snapshot(log):
    snapshot, job = leads_view_read(log.stream, WINDOW, now=NOW)
    assert job is not None and job.state == JobState.DONE
    assert job.result == {"cases created": 5}
    assert snapshot.result["sla"][0]["due"] == 7
    again, job = leads_view_read(log.stream, WINDOW, now=NOW)
    assert (again.pk, job) == (snapshot.pk, None)
    assert Job.objects.filter(kind=LEADS_JOB).count() == 1


def test_a_new_decision_a_change_of_visits_or_of_limits_makes_the_snapshot_stale(log):
    leads_view_read(log.stream, WINDOW, now=NOW)
    before = leads_signature(log.stream)
    decide(log, log.d, "MQL", "accept", "2026-09-15T10:00Z", actor=log.sdr)
    after_decision = leads_signature(log.stream)
    assert after_decision != before
    snapshot, job = leads_view_read(log.stream, WINDOW, now=NOW)
    assert job is not None and job.state == JobState.DONE
    assert snapshot.result["response"][0]["waiting_now"] == 0
    MetricsState.objects.update_or_create(stream=log.stream, defaults={"changed_at": NOW})
    after_visits = leads_signature(log.stream)
    assert after_visits != after_decision
    SellerLimit.objects.create(stream=log.stream, user=log.seller, wip_limit=3)
    assert leads_signature(log.stream) != after_visits


def test_a_view_as_of_now_is_recomputed_every_five_minutes(log):
    moment = at("2026-09-20T00:01Z")
    with mock.patch("funnel.leads.snapshots.timezone.now", return_value=moment):
        first, job = leads_view_read(log.stream, {}, now=moment)
        assert job.state == JobState.DONE
        assert leads_view_read(log.stream, {}, now=moment + timedelta(minutes=3))[1] is None
    later = moment + timedelta(minutes=5)
    with mock.patch("funnel.leads.snapshots.timezone.now", return_value=later):
        snapshot, job = leads_view_read(log.stream, {}, now=later)
    assert job is not None and job.state == JobState.DONE
    assert snapshot.pk == first.pk
    assert snapshot.result["view"]["as_of"] == later.isoformat()
    assert snapshot.result["view"]["start"] == (later - timedelta(days=90)).isoformat()


def test_a_job_already_queued_for_the_view_is_joined(log):
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        snapshot, job = leads_view_read(log.stream, WINDOW, now=NOW)
        assert snapshot is None and job.state == JobState.QUEUED
        assert leads_view_read(log.stream, WINDOW, now=NOW)[1].pk == job.pk
    assert Job.objects.filter(kind=LEADS_JOB).count() == 1


def test_a_stale_snapshot_is_still_returned_while_the_new_one_is_queued(log):
    leads_view_read(log.stream, WINDOW, now=NOW)
    MetricsState.objects.update_or_create(stream=log.stream, defaults={"changed_at": NOW})
    with mock.patch("funnel.view_jobs.enqueue", return_value=True):
        snapshot, job = leads_view_read(log.stream, WINDOW, now=NOW)
    assert snapshot is not None and snapshot.computed_at is not None
    assert job.state == JobState.QUEUED


def test_a_failed_job_fails_with_the_error_and_is_not_retried_at_once(log):
    with (
        mock.patch(
            "funnel.leads.waterfall_figures.cohort_figures", side_effect=RuntimeError("boom")
        ),
        pytest.raises(RuntimeError),
    ):
        leads_view_read(log.stream, WINDOW, now=NOW)
    job = Job.objects.get(kind=LEADS_JOB)
    assert job.state == JobState.FAILED and job.error == "RuntimeError: boom"
    assert not LeadsSnapshot.objects.exists()
    # Read again within five minutes: the failed job, not a new one.
    snapshot, again = leads_view_read(log.stream, WINDOW, now=NOW)
    assert (snapshot, again.pk) == (None, job.pk)


def test_decisions_after_as_of_do_not_change_a_past_views_result(log):
    """The signature changes (a decision was added) but a view as of 20 Sep gives the same
    figures after a decision made later."""
    first, _ = leads_view_read(log.stream, WINDOW, now=NOW)
    late = HandoffDecision.objects.filter(deal=log.b).count()
    decide(log, log.b, "SQL", "accept", "2026-09-25T10:00Z", actor=log.seller)
    assert HandoffDecision.objects.filter(deal=log.b).count() == late + 1
    second, job = leads_view_read(log.stream, WINDOW, now=NOW + timedelta(days=6))
    assert job is not None
    assert second.result == first.result


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_parts_run_side_by_side_with_the_same_figures():
    """On PostgreSQL, committed rows and no transaction: each part on a connection of its
    own (``PARALLEL_PARTS``); the result is the one worked by hand, as one after the other."""
    ns = elapsed_log()
    view, _, _ = leads_view_from_params(ns.stream, WINDOW, now=NOW)
    together = compute_leads(view)
    with mock.patch("funnel.leads.snapshots.PARALLEL_PARTS", 1):
        assert compute_leads(view) == together
    assert [c["created"] for c in together["cohorts"]] == [2, 3]
    assert [(s["due"], s["met"]) for s in together["sla"]] == [(7, 2), (2, 1)]
    assert together["queue"]["waiting"] == 1
