"""A hand-written Leads result in the documented format (docs/leads.md "Leads result"), small
enough to work every chart of the Leads dashboard out by hand: a Sirius 2006 waterfall with
two hand-offs (MQL → SAL with a 4-hour SLA, SQL → Opportunity pulled by sellers with an
8-hour SLA), two cohort months, two weeks of flow, four weeks of prospecting share.

Worked out by hand (the chart tests assert these):

- cohorts: September 10 created, October 20; all months together 30 created, 20 reached MQL
  (66.7 %, 67 % of the 30 before), 15 SAL (50 %, 75 % of MQL), 9 SQL (30 %), 5 Opportunity
  (16.7 %), 1 Won (3.3 %);
- prospecting share 40, 30, 30, 20 % in weeks 0–3: the least-squares slope is
  Σ(x−1.5)(y−30) ÷ Σ(x−1.5)² = −30 ÷ 5 = −6 points a week, intercept 30 + 6 × 1.5 = 39, so
  the trend line is 39, 33, 27, 21;
- capacity 2.0 a week: the level band is 1.8–2.2; arrivals 2.5 a week are above it: "over".
"""

from __future__ import annotations

import copy

from funnel.qualification.stats import wilson


def _bins(*counts: int) -> list[dict]:
    edges = (0, 1, 4, 8, 24, 72, 168)
    uppers = (*edges[1:], None)
    return [
        {"from_hours": low, "to_hours": high, "n": n}
        for low, high, n in zip(edges, uppers, counts, strict=True)
    ]


def _stage(reached: int, created: int, median: float | None, p85: float | None) -> dict:
    share, low, high = wilson(reached, created)
    return {
        "reached": reached,
        "share": share,
        "low": round(low, 4),
        "high": round(high, 4),
        "median_hours": median,
        "p85_hours": p85,
    }


STAGES = [
    {"key": "created", "name": "Inquiry", "kind": "created", "handoff": None},
    {"key": "offered-1", "name": "MQL", "kind": "offered", "handoff": 1},
    {"key": "accepted-1", "name": "SAL", "kind": "accepted", "handoff": 1},
    {"key": "offered-2", "name": "SQL", "kind": "offered", "handoff": 2},
    {"key": "accepted-2", "name": "Opportunity", "kind": "accepted", "handoff": 2},
    {"key": "won", "name": "Won", "kind": "won", "handoff": None},
]


def leads_result(*, reps: list[tuple[int, str]] = ((11, "Rep One"), (12, "Rep Two")), deal_id=7):
    """The result; ``reps``: the (user id, name) of the two reps the by-rep rows name;
    ``deal_id``: the ping-pong example."""
    (one, one_name), (two, two_name) = reps
    keys = [s["key"] for s in STAGES]
    september = [10, 8, 6, 4, 3, 1]
    october = [20, 12, 9, 5, 2, 0]
    return copy.deepcopy(
        {
            "format": 2,
            "view": {
                "start": "2026-09-01T00:00:00+00:00",
                "end": "2026-11-01T00:00:00+00:00",
                "as_of": "2026-11-01T00:00:00+00:00",
                "source": "",
                "owner": None,
                "basis": "elapsed",
            },
            "stages": STAGES,
            "cohorts": [
                {
                    "month": "2026-09",
                    "created": 10,
                    "stages": {
                        k: _stage(n, 10, None if i == 0 else 10.0 * i, None if i == 0 else 20.0 * i)
                        for i, (k, n) in enumerate(zip(keys, september, strict=True))
                    },
                },
                {
                    "month": "2026-10",
                    "created": 20,
                    "stages": {
                        k: _stage(n, 20, None if i == 0 or not n else 12.0 * i, None)
                        for i, (k, n) in enumerate(zip(keys, october, strict=True))
                    },
                },
            ],
            "flow": [
                {
                    "week": "2026-10-05",
                    "reached": dict(zip(keys, [6, 4, 3, 2, 1, 0], strict=True)),
                    "rejected": 1,
                    "recycled": 2,
                    "disqualified": 0,
                },
                {
                    "week": "2026-10-12",
                    "reached": dict(zip(keys, [5, 5, 2, 2, 2, 1], strict=True)),
                    "rejected": 0,
                    "recycled": 1,
                    "disqualified": 1,
                },
            ],
            "response": [
                {
                    "handoff": 1,
                    "name": "MQL → SAL",
                    "n": 10,
                    "median_hours": 1.5,
                    "p85_hours": 6.0,
                    "p95_hours": 20.0,
                    "histogram": _bins(3, 4, 2, 1, 0, 0, 0),
                    "waiting_now": 2,
                },
                {
                    "handoff": 2,
                    "name": "SQL → Opportunity",
                    "n": 5,
                    "median_hours": 30.0,
                    "p85_hours": 90.0,
                    "p95_hours": 200.0,
                    "histogram": _bins(0, 1, 0, 1, 1, 1, 1),
                    "waiting_now": 3,
                },
            ],
            "sla": [
                {
                    "handoff": 1,
                    "name": "MQL → SAL",
                    "sla_hours": 4.0,
                    "due": 10,
                    "met": 7,
                    "rate": 0.7,
                    "low": 0.397,
                    "high": 0.892,
                    "by_rep": [
                        {
                            "key": str(one),
                            "label": one_name,
                            "due": 6,
                            "met": 5,
                            "rate": 5 / 6,
                            "low": 0.436,
                            "high": 0.97,
                        },
                        {
                            "key": str(two),
                            "label": two_name,
                            "due": 4,
                            "met": 2,
                            "rate": 0.5,
                            "low": 0.15,
                            "high": 0.85,
                        },
                    ],
                    "by_source": [
                        {
                            "key": "web",
                            "label": "web",
                            "due": 10,
                            "met": 7,
                            "rate": 0.7,
                            "low": 0.397,
                            "high": 0.892,
                        },
                    ],
                    "by_week": [
                        {
                            "week": "2026-10-05",
                            "due": 6,
                            "met": 5,
                            "rate": 5 / 6,
                            "low": 0.436,
                            "high": 0.97,
                        },
                        {
                            "week": "2026-10-12",
                            "due": 4,
                            "met": 2,
                            "rate": 0.5,
                            "low": 0.15,
                            "high": 0.85,
                        },
                    ],
                },
                {
                    "handoff": 2,
                    "name": "SQL → Opportunity",
                    "sla_hours": 8.0,
                    "due": 5,
                    "met": 1,
                    "rate": 0.2,
                    "low": 0.036,
                    "high": 0.624,
                    "by_rep": [
                        {
                            "key": str(one),
                            "label": one_name,
                            "due": 5,
                            "met": 1,
                            "rate": 0.2,
                            "low": 0.036,
                            "high": 0.624,
                        },
                    ],
                    "by_source": [],
                    "by_week": [
                        {
                            "week": "2026-10-12",
                            "due": 5,
                            "met": 1,
                            "rate": 0.2,
                            "low": 0.036,
                            "high": 0.624,
                        },
                    ],
                },
            ],
            "queue": {
                "waiting": 3,
                "median_age_hours": 5.5,
                "oldest_age_hours": 30.0,
                "arrivals_per_week": 2.5,
                "pulls_per_week": 1.5,
                "capacity_per_week": 2.0,
                "sellers": [
                    {"user": one, "label": one_name, "wip": 2, "limit": 3},
                    {"user": two, "label": two_name, "wip": 3, "limit": 3},
                ],
                "verdict": "over",
            },
            "separation": {
                "prospecting_share": [
                    {"week": w, "share": s, "hours": 10.0, "prospecting_hours": 10.0 * s}
                    for w, s in zip(
                        ["2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"],
                        [0.4, 0.3, 0.3, 0.2],
                        strict=True,
                    )
                ],
                "by_rep": [
                    {
                        "user": one,
                        "label": one_name,
                        "share": 0.25,
                        "hours": 20.0,
                        "prospecting_hours": 5.0,
                    },
                    {
                        "user": two,
                        "label": two_name,
                        "share": 0.35,
                        "hours": 20.0,
                        "prospecting_hours": 7.0,
                    },
                ],
                "skipped_share": [
                    {
                        "week": "2026-10-05",
                        "n": 4,
                        "skipped": 1,
                        "rate": 0.25,
                        "low": 0.046,
                        "high": 0.699,
                    },
                    {
                        "week": "2026-10-12",
                        "n": 0,
                        "skipped": 0,
                        "rate": None,
                        "low": None,
                        "high": None,
                    },
                ],
                "skipped_by_rep": [
                    {
                        "user": one,
                        "label": one_name,
                        "n": 3,
                        "skipped": 1,
                        "rate": 1 / 3,
                        "low": 0.061,
                        "high": 0.792,
                    },
                    {
                        "user": two,
                        "label": two_name,
                        "n": 1,
                        "skipped": 0,
                        "rate": 0.0,
                        "low": 0.0,
                        "high": 0.793,
                    },
                ],
                "trend_per_week": -0.06,
                "trend_p": 0.0377,
            },
            "waste": {
                "never_touched": {"n": 2, "arrivals": 20, "share": 0.1},
                "first_touch_histogram": _bins(3, 5, 2, 2, 1, 1, 1),
                "still_waiting": 5,
                "ping_pong": {
                    "cases": 1,
                    "rejected_cases": 4,
                    "share": 0.25,
                    "examples": [deal_id],
                },
                "reasons": [
                    {"kind": "reject", "label": "Not our ICP", "n": 5, "cumulative_share": 0.5},
                    {"kind": "recycle", "label": "Not now", "n": 3, "cumulative_share": 0.8},
                    {"kind": "disqualify", "label": "Student", "n": 2, "cumulative_share": 1.0},
                ],
                "recycle_yield": {
                    "recycled": 3,
                    "became_sql": 1,
                    "rate": 1 / 3,
                    "low": 0.061,
                    "high": 0.792,
                },
            },
        }
    )


def empty_result() -> dict:
    """A stream with a waterfall and no lead at all in the window."""
    result = leads_result()
    zero = {
        "cohorts": [],
        "flow": [],
        "response": [
            {
                **h,
                "n": 0,
                "median_hours": None,
                "p85_hours": None,
                "p95_hours": None,
                "histogram": _bins(0, 0, 0, 0, 0, 0, 0),
                "waiting_now": 0,
            }
            for h in result["response"]
        ],
        "sla": [
            {
                **s,
                "due": 0,
                "met": 0,
                "rate": None,
                "low": None,
                "high": None,
                "by_rep": [],
                "by_source": [],
                "by_week": [],
            }
            for s in result["sla"]
        ],
        "queue": {
            "waiting": 0,
            "median_age_hours": None,
            "oldest_age_hours": None,
            "arrivals_per_week": 0.0,
            "pulls_per_week": 0.0,
            "capacity_per_week": None,
            "sellers": [],
            "verdict": "unknown",
        },
        "separation": {
            "prospecting_share": [],
            "by_rep": [],
            "skipped_share": [],
            "skipped_by_rep": [],
            "trend_per_week": None,
            "trend_p": None,
        },
        "waste": {
            "never_touched": {"n": 0, "arrivals": 0, "share": None},
            "first_touch_histogram": _bins(0, 0, 0, 0, 0, 0, 0),
            "still_waiting": 0,
            "ping_pong": {"cases": 0, "rejected_cases": 0, "share": None, "examples": []},
            "reasons": [],
            "recycle_yield": {
                "recycled": 0,
                "became_sql": 0,
                "rate": None,
                "low": None,
                "high": None,
            },
        },
    }
    return result | zero


def no_waterfall_result() -> dict:
    """A stream whose manager has not set up a waterfall: no stages, nothing else."""
    return empty_result() | {"stages": [], "response": [], "sla": []}
