"""A lab result as docs/qualification.md "Lab result" defines it, written by hand, for the
pages to be tested against without running the lab. ``lab_result`` fills in the ids of the
test's own stream (a step, reps, an open deal)."""

from __future__ import annotations

import copy
from datetime import UTC

from django.utils import timezone

from funnel.qualification.models import LabSnapshot
from funnel.qualification.snapshots import lab_signature, lab_view_from_params


def _wr(value: float, low: float, high: float) -> dict:
    return {"value": value, "low": low, "high": high}


CRITERIA = [
    {
        "key": "economic-buyer",
        "name": "Economic buyer",
        "weight": 5,
        "met_label": "Validated or better",
        "n_met": 300,
        "won_met": 140,
        "n_not_met": 512,
        "won_not_met": 90,
        "win_rate_met": _wr(0.467, 0.411, 0.523),
        "win_rate_not_met": _wr(0.176, 0.145, 0.211),
        "difference": _wr(0.291, 0.227, 0.353),
        "lift": _wr(2.65, 2.12, 3.32),
        "p": 1.2e-18,
        "q": 9.6e-18,
        "verdict": "predicts_win",
        "deals_needed": None,
        "levels": [
            {
                "level": 0,
                "label": "Unknown",
                "n": 200,
                "won": 20,
                "win_rate": _wr(0.1, 0.066, 0.149),
            }
        ],
        "thresholds": [
            {
                "level": 1,
                "label": "Identified or better",
                "n_met": 612,
                "won_met": 210,
                "n_not_met": 200,
                "won_not_met": 20,
                "win_rate_met": _wr(0.343, 0.306, 0.382),
                "win_rate_not_met": _wr(0.1, 0.066, 0.149),
                "difference": _wr(0.243, 0.186, 0.293),
                "lift": _wr(3.43, 2.25, 5.24),
                "p": 2.1e-12,
                "q": 8.4e-12,
            },
            # + the met level's threshold: the criterion's own split (below).
        ],
    },
    {
        "key": "champion",
        "name": "Champion",
        "weight": None,
        "met_label": "Validated or better",
        "n_met": 250,
        "won_met": 95,
        "n_not_met": 562,
        "won_not_met": 135,
        "win_rate_met": _wr(0.38, 0.322, 0.442),
        "win_rate_not_met": _wr(0.24, 0.206, 0.277),
        "difference": _wr(0.14, 0.072, 0.209),
        "lift": _wr(1.58, 1.28, 1.96),
        "p": 3.1e-5,
        "q": 1.2e-4,
        "verdict": "predicts_win",
        "deals_needed": None,
        "levels": [],
    },
    {
        "key": "paper-process",
        "name": "Paper process",
        "weight": 5,
        "met_label": "Validated or better",
        "n_met": 280,
        "won_met": 76,
        "n_not_met": 532,
        "won_not_met": 149,
        "win_rate_met": _wr(0.271, 0.222, 0.326),
        "win_rate_not_met": _wr(0.28, 0.244, 0.319),
        "difference": _wr(-0.009, -0.072, 0.058),
        "lift": _wr(0.97, 0.77, 1.22),
        "p": 0.81,
        "q": 0.81,
        "verdict": "no_effect",
        "deals_needed": None,
        "levels": [],
    },
    {
        "key": "competition",
        "name": "Competition",
        "weight": 2,
        "met_label": "Yes",
        "n_met": 40,
        "won_met": 4,
        "n_not_met": 772,
        "won_not_met": 226,
        "win_rate_met": _wr(0.1, 0.04, 0.231),
        "win_rate_not_met": _wr(0.293, 0.262, 0.326),
        "difference": _wr(-0.193, -0.262, -0.069),
        "lift": _wr(0.34, 0.13, 0.87),
        "p": 0.004,
        "q": 0.011,
        "verdict": "predicts_loss",
        "deals_needed": None,
        "levels": [],
    },
    {
        "key": "decision-criteria",
        "name": "Decision criteria",
        "weight": 3,
        "met_label": "Validated or better",
        "n_met": 12,
        "won_met": 5,
        "n_not_met": 800,
        "won_not_met": 225,
        "win_rate_met": _wr(0.417, 0.193, 0.68),
        "win_rate_not_met": _wr(0.281, 0.251, 0.313),
        "difference": _wr(0.136, -0.085, 0.397),
        "lift": _wr(1.48, 0.76, 2.9),
        "p": 0.33,
        "q": 0.41,
        "verdict": "not_yet",
        "deals_needed": 1900,
        "levels": [],
    },
    {
        "key": "implicate-pain",
        "name": "Implicate the pain",
        "weight": 4,
        "met_label": "Validated or better",
        "n_met": 0,
        "won_met": 0,
        "n_not_met": 812,
        "won_not_met": 230,
        "win_rate_met": None,
        "win_rate_not_met": _wr(0.283, 0.253, 0.315),
        "difference": None,
        "lift": None,
        "p": None,
        "q": None,
        "verdict": "not_yet",
        "deals_needed": 2400,
        "levels": [],
    },
]
#: The figures of a split, a criterion's or a threshold's.
SPLIT_KEYS = (
    "n_met", "won_met", "n_not_met", "won_not_met", "win_rate_met", "win_rate_not_met",
    "difference", "lift", "p", "q",
)  # fmt: skip
CRITERIA[0]["thresholds"].append(
    {"level": 2, "label": "Validated or better"} | {k: CRITERIA[0][k] for k in SPLIT_KEYS}
)

MYTHS = [
    {
        "key": "paper-process",
        "name": "Paper process",
        "weight": 5,
        "kind": "weighted_no_effect",
        "text": "The team weights Paper process 5 of 5, but deals that met it won 27 % [22–33 %] "
        "against 28 % [24–32 %] (q = 0.81).",
    },
    {
        "key": "champion",
        "name": "Champion",
        "weight": None,
        "kind": "unweighted_effect",
        "text": "The team gives Champion no weight, but deals that met it won 38 % [32–44 %] "
        "against 24 % [21–28 %] (q = 0.0001).",
    },
]

RELIABILITY = [
    {"predicted": 0.08, "observed": 0.07, "n": 81},
    {"predicted": 0.15, "observed": 0.12, "n": 81},
    {"predicted": 0.3, "observed": 0.33, "n": 82},
    {"predicted": 0.55, "observed": 0.5, "n": 81},
]


def lab_result(
    *,
    step_id: int,
    step_name: str = "Proposal & ROI model",
    reps: list[tuple[int, str]] = (),
    deal_id: int | None = None,
    computed_at: str = "2026-12-06T10:00:00Z",
) -> dict:
    """The fixture's result with the test's ids: ``step_id`` for the as-of step, the rules'
    step and the coverage row; ``reps`` ((id, name), ...) a coverage row each; ``deal_id``
    an open deal with a probability and its drivers."""
    rules = [
        {
            "key": "economic-buyer",
            "name": "Economic buyer",
            "step": step_id,
            "step_name": step_name,
            "condition": "unknown",
            "text": f"Economic buyer still Unknown at {step_name} → win rate 4 % [1–11 %], "
            "73 deals",
            "n": 73,
            "won": 3,
            "win_rate": _wr(0.041, 0.014, 0.114),
            "others_win_rate": _wr(0.31, 0.27, 0.35),
            "p": 0.0001,
            "q": 0.0004,
            "hours_after": 412.5,
            "revenue_won": 38000.0,
            "hours_per_10k": 108.6,
        },
        {
            "key": "competition",
            "name": "Competition",
            "step": step_id,
            "step_name": step_name,
            "condition": "not_met",
            "text": f"Competition not met at {step_name} → win rate 10 % [4–23 %], 40 deals",
            "n": 40,
            "won": 4,
            "win_rate": _wr(0.1, 0.04, 0.231),
            "others_win_rate": _wr(0.293, 0.262, 0.326),
            "p": 0.004,
            "q": 0.011,
            "hours_after": 150.0,
            "revenue_won": 60000.0,
            "hours_per_10k": 25.0,
        },
    ]
    by_rep = [
        {
            "owner": pk,
            "owner_name": name,
            "open_deals": 12 + i,
            "due": 48,
            "known": 30 - i,
            "share": (30 - i) / 48,
            "overdue": 5,
        }
        for i, (pk, name) in enumerate(reps)
    ]
    deals = {}
    if deal_id is not None:
        deals[str(deal_id)] = {
            "probability": 0.62,
            "step": step_id,
            "drivers": [
                {"key": "champion", "name": "Champion", "effect": 0.18},
                {"key": "economic-buyer", "name": "Economic buyer", "effect": -0.09},
            ],
        }
    return {
        "view": {
            "start": "2025-12-06T00:00:00Z",
            "end": "2026-12-06T00:00:00Z",
            "as_of": step_id,
            "as_of_name": step_name,
        },
        "deals": {"closed": 812, "won": 230, "lost": 582},
        "criteria": copy.deepcopy(CRITERIA),
        "myths": copy.deepcopy(MYTHS),
        "model": {
            "status": "ok",
            "won": 230,
            "lost": 582,
            "floor": {"won": 40, "lost": 40},
            "message": "",
            "folds": 5,
            "auc": _wr(0.74, 0.70, 0.78),
            "brier": 0.17,
            "reliability": copy.deepcopy(RELIABILITY),
            "coefficients": [{"key": "economic-buyer", "name": "Economic buyer", "coef": 1.21}],
        },
        "rules": rules,
        "open_deals": {
            "model_ok": True,
            "expected_value": 412000.0,
            "pipeline": 1650000.0,
            "deals_scored": 140,
            "deals_open": 143,
            "pipeline_all": 1700000.0,
            "steps": {
                str(step_id): {
                    "step": step_id,
                    "step_name": step_name,
                    "won": 120,
                    "lost": 300,
                    "folds": 5,
                    "auc": 0.71,
                    "brier": 0.18,
                }
            },
            "deals": deals,
        },
        "win_calls": {"n": 0, "brier": None, "reliability": []},
        "coverage": {
            "by_step": [
                {
                    "step": step_id,
                    "step_name": step_name,
                    "open_deals": 40,
                    "due": 160,
                    "known": 120,
                    "share": 0.75,
                    "overdue": 9,
                }
            ],
            "by_rep": by_rep,
        },
        "computed_at": computed_at,
    }


def not_enough(result: dict, *, won: int = 12, lost: int = 30) -> dict:
    """``result`` below the model's evidence floor: no model scores, no open-deal figures."""
    result = copy.deepcopy(result)
    result["model"] = {
        "status": "not_enough",
        "won": won,
        "lost": lost,
        "floor": {"won": 40, "lost": 40},
        "message": f"Not enough closed deals yet: {won} won and {lost} lost; the model needs "
        "at least 40 of each.",
        "folds": 0,
        "auc": None,
        "brier": None,
        "reliability": [],
        "coefficients": [],
    }
    result["open_deals"] = {"model_ok": False}
    return result


def store_lab(stream, result: dict, params: dict | None = None) -> LabSnapshot:
    """``result`` stored as the job would store the lab view ``params`` (default: the
    default view) of ``stream``: under its key, computed now, with the stream's current
    signature, so the pages read it as fresh and queue nothing."""
    now = timezone.now()
    _, key, rolling = lab_view_from_params(stream, params or {}, now=now)
    day = now.astimezone(UTC).date().isoformat() if rolling else ""
    snapshot, _ = LabSnapshot.objects.update_or_create(
        stream=stream,
        view_key=key,
        defaults={
            "computed_at": now,
            "requested_at": now,
            "source_signature": lab_signature(stream, day=day),
            "result": result,
        },
    )
    return snapshot
