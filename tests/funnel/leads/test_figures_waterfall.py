"""The waterfall's stages, cohorts and flow (docs/metrics.md §8) on the hand-worked logs of
``hand_logs`` (read its docstring for the cases; every number below is worked from it)."""

from __future__ import annotations

import pytest

from funnel.leads.models import Handoff, Side, Waterfall
from funnel.leads.view import LeadsView
from funnel.leads.waterfall_figures import cohort_figures, flow_figures, stages
from streams.models import TimeBasis
from tests.funnel.leads.hand_logs import at, base, case, elapsed_log, working_log

pytestmark = pytest.mark.django_db

START, END, AS_OF = at("2026-08-24T00:00Z"), at("2026-09-14T00:00Z"), at("2026-09-20T00:00Z")
KEYS = ["created", "offered-{m}", "accepted-{m}", "offered-{s}", "accepted-{s}", "won"]


def view(ns, **kwargs) -> LeadsView:
    values = {"start": START, "end": END, "as_of": AS_OF} | kwargs
    return LeadsView(stream_id=ns.stream.pk, **values)


def keys(ns) -> list[str]:
    return [k.format(m=ns.mql.pk, s=ns.sql.pk) for k in KEYS]


#: The Wilson 95 % interval of ``reached`` of ``created`` to 4 decimals, worked apart from the
#: code: ``scipy.stats.binomtest(reached, created).proportion_ci(method="wilson")``.
WILSON_95 = {
    (0, 2): (0.0, 0.6576),
    (1, 2): (0.0945, 0.9055),
    (2, 2): (0.3424, 1.0),
    (0, 3): (0.0, 0.5615),
    (2, 3): (0.2077, 0.9385),
    (3, 3): (0.4385, 1.0),
}


def figure(reached, share, median, p85, of: int = 0) -> dict:
    """A stage's cohort figure; ``of`` the month's created (none: no share, no interval)."""
    low, high = WILSON_95[(reached, of)] if of else (None, None)
    return {
        "reached": reached,
        "share": share,
        "low": low,
        "high": high,
        "median_hours": median,
        "p85_hours": p85,
    }


def by_key(ns, values: list) -> dict:
    return dict(zip(keys(ns), values, strict=True))


@pytest.fixture
def log(db):
    return elapsed_log()


# --- Stages -----------------------------------------------------------------------------------


def test_the_stages_are_the_first_each_hand_offs_offered_and_accepted_and_won(log):
    m, s = log.mql.pk, log.sql.pk
    assert stages(log.stream) == [
        {"key": "created", "name": "Inquiry", "kind": "created", "handoff": None},
        {"key": f"offered-{m}", "name": "MQL", "kind": "offered", "handoff": m},
        {"key": f"accepted-{m}", "name": "SAL", "kind": "accepted", "handoff": m},
        {"key": f"offered-{s}", "name": "SQL", "kind": "offered", "handoff": s},
        {"key": f"accepted-{s}", "name": "Opportunity", "kind": "accepted", "handoff": s},
        {"key": "won", "name": "Won", "kind": "won", "handoff": None},
    ]


def test_stages_follow_the_map_the_teams_names_and_skip_an_accepted_stage_left_empty(db):
    ns = base()
    Waterfall.objects.filter(stream=ns.stream).update(inquiry_stage="Raw", won_stage="Booked")
    # A hand-off on Qualify (after MQL, before SQL on the map) without an accepted stage.
    extra = Handoff.objects.create(
        stream=ns.stream,
        position=9,
        step=ns.steps["Qualify"],
        offered_stage="TQL",
        giver=Side.SDR,
        receiver=Side.SDR,
    )
    assert [(s["key"], s["name"]) for s in stages(ns.stream.pk)] == [
        ("created", "Raw"),
        (f"offered-{ns.mql.pk}", "MQL"),
        (f"accepted-{ns.mql.pk}", "SAL"),
        (f"offered-{extra.pk}", "TQL"),
        (f"offered-{ns.sql.pk}", "SQL"),
        (f"accepted-{ns.sql.pk}", "Opportunity"),
        ("won", "Booked"),
    ]


def test_a_stream_without_a_waterfall_has_the_default_first_and_last_stage(db):
    ns = base()
    Waterfall.objects.filter(stream=ns.stream).delete()
    Handoff.objects.filter(stream=ns.stream).delete()
    assert [s["name"] for s in stages(ns.stream)] == ["Inquiry", "Won"]


# --- Cohorts ----------------------------------------------------------------------------------


def test_cohorts_by_month_count_reached_stages_shares_and_hours_to_reach_them(log):
    """August: A and B (F began before the window, G after it). September: C, D, E.

    Hours from the first visit, A and B: MQL 25 and 3 (B's first offer; its second after
    the recycle is not a first reach): median 14, p85 3 + 0.85 × 22 = 21.7; SAL 26.5 and
    144.5: 85.5, 26.5 + 0.85 × 118 = 126.8; SQL 72 and 168: 120, 72 + 0.85 × 96 = 153.6;
    Opportunity A 73.5; Won A 243. September: MQL 1, 1 and 4: median 1, p85 1 + 0.7 × 3 = 3.1.
    """
    august, september = cohort_figures(view(log))
    assert august == {
        "month": "2026-08",
        "created": 2,
        "stages": by_key(
            log,
            [
                figure(2, 1.0, 0.0, 0.0, of=2),
                figure(2, 1.0, 14.0, 21.7, of=2),
                figure(2, 1.0, 85.5, 126.8, of=2),
                figure(2, 1.0, 120.0, 153.6, of=2),
                figure(1, 0.5, 73.5, 73.5, of=2),
                figure(1, 0.5, 243.0, 243.0, of=2),
            ],
        ),
    }
    assert september == {
        "month": "2026-09",
        "created": 3,
        "stages": by_key(
            log,
            [figure(3, 1.0, 0.0, 0.0, of=3), figure(3, 1.0, 1.0, 3.1, of=3)]
            + [figure(0, 0.0, None, None, of=3)] * 4,
        ),
    }


def test_a_cohort_share_carries_its_wilson_interval(db):
    """20 leads created in September 2026, 7 of them offered at MQL: the share 7/20 = 0.35
    and its Wilson 95 % interval, by hand with z = 1.959964 (z² = 3.841459): centre
    (0.35 + z²/40) ÷ (1 + z²/20) = 0.446036 ÷ 1.192073 = 0.374171, half-width
    z ÷ 1.192073 × √(0.35 × 0.65 ÷ 20 + z²/1600) = 1.644170 × 0.117371 = 0.192977, so
    [0.181194, 0.567148] → [0.1812, 0.5671] (scipy.stats.binomtest(7, 20).proportion_ci(
    method="wilson") gives the same). None went further: 0 of 20 is [0, 0.1611]."""
    ns = base()
    for i in range(20):
        day = f"2026-09-{i + 1:02d}"
        stays = [("Capture", f"{day}T09:00Z", f"{day}T10:00Z" if i < 7 else None)]
        if i < 7:
            stays.append(("MQL", f"{day}T10:00Z", None))
        case(ns, *stays)
    window = {"start": at("2026-09-01T00:00Z"), "end": at("2026-10-01T00:00Z")}
    (september,) = cohort_figures(view(ns, as_of=at("2026-10-01T00:00Z"), **window))
    assert september["created"] == 20
    offered = september["stages"][f"offered-{ns.mql.pk}"]
    assert (offered["reached"], offered["share"]) == (7, 0.35)
    assert (offered["low"], offered["high"]) == (0.1812, 0.5671)
    assert offered["low"] == pytest.approx(0.181194, abs=5e-5)
    assert offered["high"] == pytest.approx(0.567148, abs=5e-5)
    won = september["stages"]["won"]
    assert (won["reached"], won["share"], won["low"], won["high"]) == (0, 0.0, 0.0, 0.1611)


def test_a_recycled_lead_offered_again_counts_once_in_its_cohort(log):
    """B is offered at MQL twice; August's cohort has 2 cases that reached MQL, not 3."""
    august = cohort_figures(view(log))[0]
    assert august["stages"][f"offered-{log.mql.pk}"]["reached"] == 2


def test_as_of_leaves_out_the_cases_and_stages_reached_after_it(log):
    """As of Tue 1 Sep 09:15: A has not won yet (3 Sep); B was offered again at 09:00 but
    accepted at 09:30, so it has not reached SAL nor SQL; C, D and E do not exist yet."""
    august, september = cohort_figures(view(log, as_of=at("2026-09-01T09:15Z")))
    stage = august["stages"]
    assert stage[f"accepted-{log.mql.pk}"] == figure(1, 0.5, 26.5, 26.5, of=2)
    assert stage[f"offered-{log.sql.pk}"] == figure(1, 0.5, 72.0, 72.0, of=2)
    assert stage["won"] == figure(0, 0.0, None, None, of=2)
    assert september == {
        "month": "2026-09",
        "created": 0,
        "stages": by_key(log, [figure(0, None, None, None)] * 6),
    }


def test_the_source_and_owner_filters_narrow_the_cohort(log):
    """Source event: C and D, offered at MQL after 1 hour each. Owner rep2: C and E, after
    1 and 4 hours: median 2.5, p85 1 + 0.85 × 3 = 3.55."""
    august, september = cohort_figures(view(log, source="event"))
    assert (august["created"], september["created"]) == (0, 2)
    assert september["stages"][f"offered-{log.mql.pk}"] == figure(2, 1.0, 1.0, 1.0, of=2)
    august, september = cohort_figures(view(log, owner_id=log.rep2.pk))
    assert (august["created"], september["created"]) == (0, 2)
    assert september["stages"][f"offered-{log.mql.pk}"] == figure(2, 1.0, 2.5, 3.55, of=2)
    assert september["stages"]["won"] == figure(0, 0.0, None, None, of=2)


def test_cohort_hours_in_working_time_are_the_teams_default_calendars(db):
    """P: Fri 17:00 → MQL Mon 17:00 Berlin is 0.5 + 8 = 8.5 Office hours (the SDR lane's
    "Early" calendar would say 7.5 + 0 = 7.5 hours after Friday's closing); Q 5.5 and R 0.5:
    median 5.5, p85 5.5 + 0.7 × 3 = 7.6. SAL: P 9.5 (Tue 09:30), R 1: median 5.25, p85
    1 + 0.85 × 8.5 = 8.225. In elapsed hours: MQL 72, 5.5, 0.5 → 5.5 and 52.05; SAL 88.5
    and 1 → 44.75 and 75.375."""
    ns = working_log()
    window = {"start": at("2026-09-01T00:00Z"), "end": END, "as_of": at("2026-09-08T13:45Z")}
    (working,) = cohort_figures(view(ns, basis=TimeBasis.WORKING, **window))
    (elapsed,) = cohort_figures(view(ns, **window))
    m = ns.mql.pk
    assert working["created"] == elapsed["created"] == 3
    assert working["stages"][f"offered-{m}"] == figure(3, 1.0, 5.5, 7.6, of=3)
    assert working["stages"][f"accepted-{m}"] == figure(2, 0.6667, 5.25, 8.225, of=3)
    assert elapsed["stages"][f"offered-{m}"] == figure(3, 1.0, 5.5, 52.05, of=3)
    assert elapsed["stages"][f"accepted-{m}"] == figure(2, 0.6667, 44.75, 75.375, of=3)


def test_a_window_before_any_case_lists_its_months_empty(log):
    (july,) = cohort_figures(view(log, start=at("2026-07-01T00:00Z"), end=at("2026-08-01T00:00Z")))
    assert july == {
        "month": "2026-07",
        "created": 0,
        "stages": by_key(log, [figure(0, None, None, None)] * 6),
    }


def test_an_as_of_before_the_window_has_no_months_nor_weeks(log):
    early = view(log, as_of=at("2026-08-01T00:00Z"))
    assert cohort_figures(early) == []
    assert flow_figures(early) == []


# --- Flow -------------------------------------------------------------------------------------


def week(ns, day: str, reached: list[int], rejected=0, recycled=0, disqualified=0) -> dict:
    return {
        "week": day,
        "reached": by_key(ns, reached),
        "rejected": rejected,
        "recycled": recycled,
        "disqualified": disqualified,
    }


def test_flow_counts_every_stage_event_and_turn_down_by_iso_week(log):
    """Week of 24 Aug: created A, B; offered MQL F, A, B; SAL F, A; SQL A; Opportunity A;
    B recycled. 31 Aug: created C; MQL B (again, after the recycle) and C; SAL B; SQL B; A
    won; C rejected. 7 Sep: created D, E; MQL D, E; E disqualified. G (15 Sep) is after the
    window."""
    assert flow_figures(view(log)) == [
        week(log, "2026-08-24", [2, 3, 2, 1, 1, 0], recycled=1),
        week(log, "2026-08-31", [1, 2, 1, 1, 0, 1], rejected=1),
        week(log, "2026-09-07", [2, 2, 0, 0, 0, 0], disqualified=1),
    ]


def test_flow_stops_at_as_of(log):
    """As of Wed 2 Sep 10:30: B's SQL (09:00) is in, C (created 10:00) is, its MQL (11:00)
    is not, nor A's win (3 Sep) nor anything later."""
    assert flow_figures(view(log, as_of=at("2026-09-02T10:30Z"))) == [
        week(log, "2026-08-24", [2, 3, 2, 1, 1, 0], recycled=1),
        week(log, "2026-08-31", [1, 1, 1, 1, 0, 0]),
    ]


def test_flow_with_filters(log):
    """Owner rep1: A, B and F (created before the window, offered in it)."""
    assert flow_figures(view(log, owner_id=log.rep1.pk)) == [
        week(log, "2026-08-24", [2, 3, 2, 1, 1, 0], recycled=1),
        week(log, "2026-08-31", [0, 1, 1, 1, 0, 1]),
        week(log, "2026-09-07", [0, 0, 0, 0, 0, 0]),
    ]
    assert flow_figures(view(log, source="event")) == [
        week(log, "2026-08-24", [0] * 6),
        week(log, "2026-08-31", [1, 1, 0, 0, 0, 0], rejected=1),
        week(log, "2026-09-07", [1, 1, 0, 0, 0, 0]),
    ]
