"""The metrics in working time, against a hand-worked log (metrics.md "Working time").

The map is ``test_metrics``'s (Qualify in the SDR lane, Discovery in the AE lane). The team's
default calendar is "Office": Monday to Friday 09:00–17:30 in Europe/Berlin with Germany's
public holidays. The AE lane works on "New York": Monday to Friday 09:00–17:00 in
America/New_York, closed the week of 20–24 April 2026. Berlin's clocks go forward on Sunday
29 March 2026 (CET, UTC+1, before; CEST, UTC+2, after); Friday 1 May is Labour Day.

Window ``[2026-03-23 00:00 CET, 2026-05-11 00:00 CEST)``; now is Tuesday 12 May 2026 09:00
CEST (07:00Z). Times below are Berlin's unless they end in Z. Each visit, elapsed / working:

=====  ====  ==================================================  ========  ===========
deal   step  stay                                                elapsed   working
=====  ====  ==================================================  ========  ===========
A won  Q     Fri 27 Mar 17:00 CET → Mon 30 Mar 10:00 CEST         64 h      1.5 h  weekend, DST
B won  Q     Thu 30 Apr 17:00 → Mon 4 May 10:00                   89 h      1.5 h  Labour Day
C won  Q     Wed 8 Apr 09:00 → 17:30, 120 min of work logged     8.5 h     8.5 h
C      D     Mon 13 Apr 14:00Z → Tue 14 Apr 14:00Z (NY 10:00)     24 h      8 h    NY: 7 + 1
D lost Q     Fri 27 Mar 18:00 CET → Sat 28 Mar 10:00 CET          16 h      0 h    outside hours
D      D     Mon 20 Apr 13:00Z → Fri 24 Apr 20:00Z                103 h     0 h    NY closed
E      Q     Mon 13 Apr 09:00 → Wed 15 Apr 09:00                  48 h      17 h
E      D     open since Wed 6 May 14:00Z (NY 10:00)               137 h     31 h   (age now)
F      Q     open since Fri 8 May 17:00                           88 h      9 h    (age now)
G      Q     Mon 20 Apr 09:00 → 10:00                             1 h       1 h
G      Q     Tue 21 Apr 17:00 → Wed 22 Apr 10:00 (a re-entry)     17 h      1.5 h
=====  ====  ==================================================  ========  ===========

Had Discovery counted Berlin's hours, C's visit would be 8.5 working hours, not 8: the lane's
own calendar is used.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time
from unittest import mock

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from funnel.metrics.engine import compute_bases, compute_metrics, stream_basis
from funnel.metrics.query import MetricsQuery
from funnel.metrics.series import compute_series
from funnel.metrics.snapshots import metrics_read, metrics_recompute_stream, metrics_stored
from funnel.models import Deal, DealStatus, MetricsSnapshot
from kaizen.checks import check_compute
from kaizen.models import Metric
from streams.calendars.services import CalendarSpec, calendar_create
from streams.calendars.working_time import ClosureSpec, SpanSpec
from streams.models import Lane, Role, ValueStream
from tests.factories import MembershipFactory, TeamFactory
from tests.funnel.test_metrics import at, deal, vsm, won  # noqa: F401 (vsm: a fixture)
from tests.working_offsets import fill_offsets

pytestmark = pytest.mark.django_db

START = at("2026-03-23T00:00+01:00")
END = at("2026-05-11T00:00+02:00")
NOW = at("2026-05-12T09:00+02:00")
DAY = 8.5  # the working hours of a working day of the default calendar
approx = pytest.approx


def create(team, spec: CalendarSpec):
    manager = MembershipFactory(team=team, role=Role.MANAGER).user
    return calendar_create(team=team, by=manager, spec=spec)


def office(team, **kwargs):
    return create(
        team,
        CalendarSpec(
            name="Office",
            time_zone="Europe/Berlin",
            country="DE",
            is_default=True,
            spans=[SpanSpec(day, time(9), time(17, 30)) for day in range(5)],
            **kwargs,
        ),
    )


@pytest.fixture
def log(vsm):  # noqa: F811
    office(vsm.team)
    new_york = create(
        vsm.team,
        CalendarSpec(
            name="New York",
            time_zone="America/New_York",
            spans=[SpanSpec(day, time(9), time(17)) for day in range(5)],
            closures=[
                ClosureSpec(
                    at("2026-04-20T00:00Z").date(), at("2026-04-24T00:00Z").date(), label="Move"
                )
            ],
        ),
    )
    Lane.objects.filter(pk=vsm.ae.pk).update(calendar=new_york)
    q, d = vsm.qualify, vsm.discovery
    won(vsm, (q, "2026-03-27T17:00+01:00", "2026-03-30T10:00+02:00"))  # A
    won(vsm, (q, "2026-04-30T17:00+02:00", "2026-05-04T10:00+02:00"))  # B
    won(  # C
        vsm,
        (q, "2026-04-08T09:00+02:00", "2026-04-08T17:30+02:00", 120),
        (d, "2026-04-13T14:00Z", "2026-04-14T14:00Z"),
    )
    deal(  # D
        vsm,
        (q, "2026-03-27T18:00+01:00", "2026-03-28T10:00+01:00"),
        (d, "2026-04-20T13:00Z", "2026-04-24T20:00Z"),
        status=DealStatus.LOST,
    )
    deal(
        vsm, (q, "2026-04-13T09:00+02:00", "2026-04-15T09:00+02:00"), (d, "2026-05-06T14:00Z", None)
    )
    deal(vsm, (q, "2026-05-08T17:00+02:00", None))  # F
    deal(  # G
        vsm,
        (q, "2026-04-20T09:00+02:00", "2026-04-20T10:00+02:00"),
        (q, "2026-04-21T17:00+02:00", "2026-04-22T10:00+02:00"),
    )
    fill_offsets(vsm.stream)
    return vsm


def both(ns):
    results = compute_bases(MetricsQuery(stream_id=ns.stream.pk, start=START, end=END), now=NOW)
    assert set(results) == {"elapsed", "working"}
    assert results["working"].query.basis == "working"
    return results["elapsed"], results["working"]


def test_time_in_step_percentiles_and_mean_in_both_bases(log):
    elapsed, working = both(log)
    q_e, q_w = elapsed.step(log.qualify.pk), working.step(log.qualify.pk)
    # Qualify, elapsed: 1, 8.5, 16, 17, 48, 64, 89 (7 visits): median 17; p85 at rank 5.1:
    # 64 + 0.1 × 25 = 66.5; p95 at rank 5.7: 64 + 0.7 × 25 = 81.5; mean 243.5 / 7.
    assert (q_e.n_completed, q_e.median_hours, q_e.p85_hours, q_e.p95_hours) == (
        7,
        approx(17),
        approx(66.5),
        approx(81.5),
    )
    assert q_e.mean_hours == approx(243.5 / 7)
    # Working: 0, 1, 1.5, 1.5, 1.5, 8.5, 17: median 1.5; p85 8.5 + 0.1 × 8.5 = 9.35;
    # p95 8.5 + 0.7 × 8.5 = 14.45; mean 31 / 7. The same sample: n is the same.
    assert (q_w.n_completed, q_w.median_hours, q_w.p85_hours, q_w.p95_hours) == (
        7,
        approx(1.5),
        approx(9.35),
        approx(14.45),
    )
    assert q_w.mean_hours == approx(31 / 7)
    assert (q_e.time_in_step_hours, q_w.time_in_step_hours) == (approx(243.5), approx(31))
    # Discovery: elapsed 24 and 103 (median 63.5); working 8 (New York's hours) and 0 (its
    # closure: no working time in that week).
    d_e, d_w = elapsed.step(log.discovery.pk), working.step(log.discovery.pk)
    assert (d_e.median_hours, d_w.median_hours) == (approx(63.5), approx(4))
    assert (d_e.p85_hours, d_w.p85_hours) == (approx(24 + 0.85 * 79), approx(6.8))


def test_wait_and_flow_efficiency_in_both_bases(log):
    elapsed, working = both(log)
    q_e, q_w = elapsed.step(log.qualify.pk), working.step(log.qualify.pk)
    # Work: 1 h planned per visit, C's logged 2 h: 8 h, the same in both bases.
    assert (q_e.work_hours, q_w.work_hours) == (approx(8), approx(8))
    assert q_e.median_work_hours == q_w.median_work_hours == approx(1)
    # Wait = time in step − work, never below 0. Elapsed: 15 + 63 + 88 + 6.5 + 47 + 0 + 16.
    # Working: D's 0 h (not −1), A 0.5, B 0.5, C 6.5, E 16, G 0 and 0.5.
    assert (q_e.wait_hours, q_w.wait_hours) == (approx(235.5), approx(24))
    assert q_e.flow_efficiency == approx(8 / 243.5)
    assert q_w.flow_efficiency == approx(8 / 31)
    # Waiting waste: Discovery adds 22 + 101 elapsed, 6 + 0 working.
    assert (elapsed.waste.waiting_hours, working.waste.waiting_hours) == (
        approx(358.5),
        approx(30),
    )
    # Defects: G's re-entry, 17 h elapsed, 1.5 working hours.
    assert (elapsed.waste.defects_hours, working.waste.defects_hours) == (approx(17), approx(1.5))
    assert elapsed.waste.defects_count == working.waste.defects_count == 1


def test_counts_wip_throughput_and_littles_law_stay_elapsed(log):
    elapsed, working = both(log)
    for e, w in zip(elapsed.steps, working.steps, strict=True):
        assert (e.n_completed, e.arrivals, e.wip_now, e.reentries, e.lost) == (
            w.n_completed,
            w.arrivals,
            w.wip_now,
            w.reentries,
            w.lost,
        )
        assert e.throughput_per_week == w.throughput_per_week
        assert e.avg_wip == w.avg_wip
        assert e.littles_law_ratio == w.littles_law_ratio
    assert elapsed.summary.win_rate == working.summary.win_rate == approx(3 / 4)


def test_the_ladder_and_the_activity_ratio_in_both_bases(log):
    elapsed, working = both(log)
    # Lead time: Σ of the step medians. Elapsed 17 + 63.5; working 1.5 + 4. Process time:
    # the median work hours, 1 + 2, in both.
    assert (elapsed.summary.lead_time_hours, working.summary.lead_time_hours) == (
        approx(80.5),
        approx(5.5),
    )
    assert elapsed.summary.process_time_hours == working.summary.process_time_hours == approx(3)
    assert elapsed.summary.activity_ratio == approx(3 / 80.5)
    assert working.summary.activity_ratio == approx(3 / 5.5)


def test_sales_cycle_in_calendar_days_and_working_days(log):
    elapsed, working = both(log)
    # Won: A 64 h, B 89 h, C 151 h elapsed (Wed 8 Apr 09:00 CEST → Tue 14 Apr 14:00Z); in the
    # default calendar's working time A 1.5, B 1.5, C 8.5 × 4 + 7 = 41. Medians: 89 h = 89/24
    # calendar days; 1.5 working hours = 1.5 / 8.5 working days.
    assert elapsed.summary.sales_cycle_days == approx(89 / 24)
    assert working.summary.sales_cycle_days == approx(1.5 / DAY)
    assert elapsed.summary.won == working.summary.won == 3


def test_stalled_against_the_p85_of_each_basis(log):
    elapsed, working = both(log)
    q_e, q_w = elapsed.step(log.qualify.pk), working.step(log.qualify.pk)
    # F has been at Qualify 88 elapsed hours (> p85 66.5: stalled) but only 9 working hours
    # (Fri 0.5 + Mon 8.5 + Tue none yet: ≤ the working p85 9.35, not stalled).
    assert (q_e.stalled, q_w.stalled) == (1, 0)
    assert (q_e.stall_threshold_hours, q_w.stall_threshold_hours) == (approx(66.5), approx(9.35))
    # E at Discovery: 137 elapsed hours (> 91.15) and 31 New York working hours (> 6.8).
    d_e, d_w = elapsed.step(log.discovery.pk), working.step(log.discovery.pk)
    assert (d_e.stalled, d_w.stalled) == (1, 1)
    assert (elapsed.waste.inventory_count, working.waste.inventory_count) == (2, 1)
    assert q_e.wip_now == q_w.wip_now == 1


def test_days_in_stage_in_both_bases(log):
    elapsed, working = both(log)
    lead_e, lead_w = elapsed.stages[0], working.stages[0]
    # Left the Lead stage (Qualify): A 64, B 89, C 8.5, D 16, E 48, G 1 + 17 = 18 hours
    # (F is still there): median (18 + 48) / 2 = 33 h. Working: 1.5, 1.5, 8.5, 0, 17, 2.5:
    # median 2 h, in working days of 8.5 h.
    assert lead_e.n_left == lead_w.n_left == 6
    assert lead_e.median_days_in_stage == approx(33 / 24)
    assert lead_w.median_days_in_stage == approx(2 / DAY)
    opportunity_e, opportunity_w = elapsed.stages[1], working.stages[1]
    assert opportunity_e.median_days_in_stage == approx(63.5 / 24)
    assert opportunity_w.median_days_in_stage == approx(4 / DAY)


def test_the_chart_series_count_durations_in_their_basis(log):
    elapsed, working = both(log)
    charts = compute_series(elapsed.query, now=NOW, result=elapsed)
    working_charts = compute_series(working.query, now=NOW, result=working, like=charts)
    assert sorted(p["days"] for p in charts.cycle_times.points) == approx(
        [64 / 24, 89 / 24, 151 / 24]
    )
    assert sorted(p["days"] for p in working_charts.cycle_times.points) == approx(
        [1.5 / DAY, 1.5 / DAY, 41 / DAY]
    )
    # Qualify's histogram (< 1 h, 1–2 h, 2–4 h, 4–8 h, 8 h–1 d, 1–2 d, 2–4 d …): elapsed 1,
    # 8.5, 16, 17, 48, 64, 89; working 0, 1, 1.5, 1.5, 1.5, 8.5, 17.
    assert charts.time_in_step.counts[str(log.qualify.pk)][:8] == [0, 1, 0, 0, 3, 0, 3, 0]
    assert working_charts.time_in_step.counts[str(log.qualify.pk)][:8] == [1, 4, 0, 0, 2, 0, 0, 0]
    ages = {i["step_id"]: (i["age_hours"], i["stalled"]) for i in working_charts.aging.items}
    assert ages == {log.qualify.pk: (approx(9), False), log.discovery.pk: (approx(31), True)}
    # The series without durations are the elapsed ones.
    assert working_charts.cumulative_flow == charts.cumulative_flow
    assert working_charts.throughput == charts.throughput


def test_a_team_without_a_calendar_has_elapsed_figures_only(vsm):  # noqa: F811
    won(vsm, (vsm.qualify, "2026-04-08T09:00+02:00", "2026-04-08T17:30+02:00"))
    query = MetricsQuery(stream_id=vsm.stream.pk, start=START, end=END)
    assert set(compute_bases(query, now=NOW)) == {"elapsed"}
    with pytest.raises(ValidationError) as raised:
        compute_metrics(MetricsQuery(stream_id=vsm.stream.pk, basis="working"), now=NOW)
    assert "time" in raised.value.message_dict


def test_a_calendar_without_working_time_in_the_window_gives_zero_working_hours(vsm):  # noqa: F811
    # Every visit falls in the calendar's closure: no working time at all, not a wrong one.
    office(vsm.team, closures=[ClosureSpec(START.date(), END.date(), label="Shutdown")])
    won(vsm, (vsm.qualify, "2026-04-08T09:00+02:00", "2026-04-08T17:30+02:00"))
    won(vsm, (vsm.qualify, "2026-04-09T09:00+02:00", "2026-04-10T12:00+02:00"))
    fill_offsets(vsm.stream)
    query = MetricsQuery(stream_id=vsm.stream.pk, start=START, end=END)
    elapsed, working = compute_bases(query, now=NOW).values()
    step = working.step(vsm.qualify.pk)
    assert (step.median_hours, step.time_in_step_hours, step.flow_efficiency) == (0, 0, None)
    assert elapsed.step(vsm.qualify.pk).median_hours == approx((8.5 + 27) / 2)
    assert working.summary.sales_cycle_days == 0


def test_a_bad_basis_is_refused_naming_time():
    with pytest.raises(ValidationError) as raised:
        MetricsQuery(stream_id=1, basis="business")
    assert "time" in raised.value.message_dict


# --- the API's time parameter -----------------------------------------------------------------

WINDOW = "?start=2026-03-23&end=2026-05-11&tz=Europe/Berlin"


def api(api_client, ns, user, query: str):
    api_client.force_authenticate(user)
    with time_machine.travel(NOW, tick=False):
        return api_client.get(f"/api/streams/{ns.stream.pk}/metrics/{query}")


def qualify_of(body: dict, ns) -> dict:
    return next(s for s in body["steps"] if s["step"] == ns.qualify.pk)


def test_the_api_answers_in_the_basis_asked_for(api_client, log):
    leader = MembershipFactory(team=log.team, role=Role.LEADERSHIP).user
    elapsed = api(api_client, log, leader, WINDOW).json()
    working = api(api_client, log, leader, WINDOW + "&time=working").json()
    assert (elapsed["time"], working["time"]) == ("elapsed", "working")
    assert qualify_of(elapsed, log)["median_hours"] == {
        "value": approx(17),
        "n": 7,
        "low_sample": False,
    }
    assert qualify_of(working, log)["median_hours"]["value"] == approx(1.5)
    assert working["summary"]["sales_cycle_days"]["value"] == approx(1.5 / DAY)
    assert working["stale"] is False
    # Both were stored by the first request: the second read computes nothing.
    assert MetricsSnapshot.objects.filter(stream=log.stream).count() == 2


def test_the_api_defaults_to_the_streams_basis(api_client, log):
    log.stream.time_basis = "working"
    log.stream.save(update_fields=["time_basis"])
    manager = MembershipFactory(team=log.team, role=Role.MANAGER).user
    body = api(api_client, log, manager, WINDOW).json()
    assert body["time"] == "working"
    assert api(api_client, log, manager, WINDOW + "&time=elapsed").json()["time"] == "elapsed"


def test_a_rep_reads_working_time_for_the_team_and_themselves_only(api_client, log):
    own = api(api_client, log, log.rep_1, WINDOW + f"&time=working&owner={log.rep_1.pk}")
    assert (own.status_code, own.json()["time"]) == (200, "working")
    assert api(api_client, log, log.rep_1, WINDOW + "&time=working").status_code == 200
    other = api(api_client, log, log.rep_1, WINDOW + f"&time=working&owner={log.rep_2.pk}")
    assert other.status_code == 403


@pytest.mark.parametrize("value", ["business", "WORKING", "1"])
def test_a_bad_time_is_a_400_naming_it(api_client, log, value):
    response = api(api_client, log, log.rep_1, WINDOW + f"&time={value}")
    assert response.status_code == 400
    assert "not a time basis" in response.json()["time"][0]


def test_working_time_without_a_calendar_is_a_400_naming_time(api_client, vsm):  # noqa: F811
    response = api(api_client, vsm, vsm.rep_1, "?time=working")
    assert response.status_code == 400
    assert "no working calendar" in response.json()["time"][0]
    assert not MetricsSnapshot.objects.exists()
    assert api(api_client, vsm, vsm.rep_1, "?time=elapsed").status_code == 200


def test_the_schema_names_the_time_parameter_and_field():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/streams/{id}/metrics/"]["get"]
    time_param = next(p for p in operation["parameters"] if p["name"] == "time")
    assert time_param["schema"]["enum"] == ["elapsed", "working"]
    fields = schema["components"]["schemas"]["StreamMetrics"]["properties"]
    assert "time" in fields


def test_working_figures_are_stale_while_the_offsets_are_owed(log):
    query = MetricsQuery(stream_id=log.stream.pk, start=START, end=END, basis="working")
    metrics_read(query, now=timezone.now())  # after the log was written: not stale by it
    with mock.patch("funnel.metrics.snapshots.offsets_owed", return_value=True):
        assert metrics_stored(query).stale is True
        assert metrics_stored(replace(query, basis="elapsed")).stale is False
    assert metrics_stored(query).stale is False


# --- the map's measured figures and the stream's default basis -------------------------------


def stream_page(ns, query: str = "") -> str:
    user = MembershipFactory(team=ns.team, role=Role.LEADERSHIP).user
    client = Client()
    client.force_login(user)
    with time_machine.travel(NOW, tick=False):
        response = client.get(f"/streams/{ns.stream.slug}/{query}")
    assert response.status_code == 200
    return response.content.decode()


def step_row(html: str, step) -> str:
    row = html[html.index(f'<tr data-step-id="{step.pk}">') :]
    return row[: row.index("</tr>")]


def test_the_map_shows_its_measured_figures_in_either_time(log):
    metrics_recompute_stream(stream_id=log.stream.pk, now=NOW, series=False)
    elapsed = stream_page(log)
    # Qualify's median time in step: 17 h elapsed, 1.5 working hours; the lead time of the
    # ladder 80.5 h (3.4 calendar days) against 5.5 working hours.
    assert "17 h" in step_row(elapsed, log.qualify)
    assert 'aria-current="true" id="time-elapsed"' in elapsed
    working = stream_page(log, "?time=working")
    assert "1.5 h" in step_row(working, log.qualify)
    assert "Measured in working time" in working
    assert 'aria-current="true" id="time-working"' in working
    summary = working[working.index('data-figure="lead_time_hours"') :]
    assert "5.5 h" in summary[: summary.index("</div>")]
    # The stream's default basis applies without the parameter.
    log.stream.time_basis = "working"
    log.stream.save(update_fields=["time_basis"])
    assert "Measured in working time" in stream_page(log)
    assert "Measured in working time" not in stream_page(log, "?time=elapsed")


def test_a_map_without_a_team_calendar_offers_no_switch(vsm):  # noqa: F811
    html = stream_page(vsm, "?time=working")
    assert 'id="time-working"' not in html


def test_the_streams_default_basis_is_set_through_the_stream_api(api_client, log):
    manager = MembershipFactory(team=log.team, role=Role.MANAGER).user
    api_client.force_authenticate(manager)
    url = f"/api/streams/{log.stream.pk}/"
    version = api_client.get(url).json()["version"]
    assert api_client.get(url).json()["time_basis"] == "elapsed"
    changed = api_client.patch(url, {"version": version, "time_basis": "working"}, format="json")
    assert (changed.status_code, changed.json()["time_basis"]) == (200, "working")
    log.stream.refresh_from_db()
    assert log.stream.time_basis == "working"
    bad = api_client.patch(
        url, {"version": log.stream.version, "time_basis": "hours"}, format="json"
    )
    assert bad.status_code == 400 and "time_basis" in bad.json()


# --- the kaizen Check's durations --------------------------------------------------------------


def test_the_kaizen_check_counts_durations_in_the_basis_asked_for(log):
    # Change on Mon 13 Apr, 21-day windows: before [23 Mar, 13 Apr), after [13 Apr, 4 May).
    # Qualify's completed visits before: D 16 h / 0, A 64 / 1.5, C 8.5 / 8.5 (elapsed /
    # working); after: E 48 / 17, G 1 / 1 and 17 / 1.5 (B leaves on 4 May 08:00Z, too late).
    def check(metric, basis):
        return check_compute(
            metric=metric,
            stream_id=log.stream.pk,
            step_id=log.qualify.pk if metric == Metric.TIME_IN_STEP else None,
            change_date=date(2026, 4, 13),
            window_days=21,
            direction="decrease",
            now=NOW,
            basis=basis,
        )

    elapsed, working = check(Metric.TIME_IN_STEP, "elapsed"), check(Metric.TIME_IN_STEP, "working")
    assert (elapsed.comparison.value_before, elapsed.comparison.value_after) == (16, 17)
    assert (working.comparison.value_before, working.comparison.value_after) == (1.5, 1.5)
    assert working.basis == "working"
    # Sales cycle: A (won 30 Mar) before, C (won 14 Apr) after: 64 h and 151 h in calendar
    # days; 1.5 and 41 working hours in working days of 8.5 h.
    cycle = check(Metric.SALES_CYCLE, "working").comparison
    assert (cycle.value_before, cycle.value_after) == (approx(1.5 / DAY), approx(41 / DAY))
    cycle = check(Metric.SALES_CYCLE, "elapsed").comparison
    assert (cycle.value_before, cycle.value_after) == (approx(64 / 24), approx(151 / 24))


def test_a_streams_basis_falls_back_to_elapsed_without_a_calendar(log):
    log.stream.time_basis = "working"
    assert stream_basis(log.stream) == "working"
    elsewhere = ValueStream(team=TeamFactory(), name="No calendar", time_basis="working")
    assert stream_basis(elsewhere) == "elapsed"


# --- the deals list and a deal's timeline ----------------------------------------------------


def deals_page(ns, path: str = "") -> str:
    manager = MembershipFactory(team=ns.team, role=Role.MANAGER).user
    client = Client()
    client.force_login(manager)
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("funnel:deal_list") + path)
    assert response.status_code == 200
    return response.content.decode()


def deal_row(html: str, deal_id: int) -> str:
    row = html[html.index(f'data-deal-id="{deal_id}"') :]
    return row[: row.index("</tr>")]


def test_the_deals_list_and_a_deal_count_time_at_the_step_in_the_streams_basis(log):
    metrics_recompute_stream(stream_id=log.stream.pk, now=NOW, series=False)
    f = Deal.objects.get(
        stream=log.stream, visits__exited_at__isnull=True, visits__step=log.qualify
    )
    e = Deal.objects.get(
        stream=log.stream, visits__exited_at__isnull=True, visits__step=log.discovery
    )
    # Elapsed (the default): F has been at Qualify 88 h (> p85 66.5: stalled).
    html = deals_page(log)
    assert "3.7 d" in deal_row(html, f.pk) and "Stalled" in deal_row(html, f.pk)
    # Working time: 9 working hours (≤ the working p85 9.35: not stalled); E 31 working
    # hours at Discovery on New York's calendar (> 6.8: stalled).
    log.stream.time_basis = "working"
    log.stream.save(update_fields=["time_basis"])
    html = deals_page(log)
    assert "9 h working" in deal_row(html, f.pk) and "Stalled" not in deal_row(html, f.pk)
    assert "31 h working" in deal_row(html, e.pk) and "Stalled" in deal_row(html, e.pk)
    stalled_only = deals_page(log, "?stalled=true")
    assert f'data-deal-id="{e.pk}"' in stalled_only
    assert f'data-deal-id="{f.pk}"' not in stalled_only
    # E's page: now at Discovery for 31 working hours; its Qualify visit took 17.
    detail = deals_page(log, f"{e.pk}/")
    assert "31 h</strong> of working time" in detail
    assert "17 h working" in detail


def test_a_recompute_after_the_calendars_are_gone_drops_the_working_figures(log):
    metrics_recompute_stream(stream_id=log.stream.pk, now=NOW, series=False)
    assert MetricsSnapshot.objects.filter(stream=log.stream, basis="working").count() == 2
    Lane.objects.filter(stream=log.stream).update(calendar=None)
    log.team.calendars.all().delete()
    assert metrics_recompute_stream(stream_id=log.stream.pk, now=NOW, series=False) == 2
    assert set(MetricsSnapshot.objects.values_list("basis", flat=True)) == {"elapsed"}
