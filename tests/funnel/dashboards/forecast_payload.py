"""A forecast result built by hand, in the layout of the forecast contract
(``funnel.forecasts.view.compute_forecast``), for the dashboard's chart and page tests: two
open deals (one the lab's), three weeks of fan, a target and a track record whose 85 % band
held 36 of 52 back-tests (69 %: too narrow);
the revenue's and the date of 10 more wins' records beside it."""

from __future__ import annotations


def _week(day: str, median: float, b50: list, b85: list, b95: list) -> dict:
    return {"date": day, "median": median, "bands": {"50": b50, "85": b85, "95": b95}}


def forecast_payload(*, deals: list[dict] | None = None, target: bool = True, track: bool = True):
    bands = {"50": [4, 6], "85": [3, 8], "95": [2, 9]}
    return {
        "as_of": "2026-12-01T09:00:00+00:00",
        "basis": "elapsed",
        "runs": 10000,
        "seed": 7,
        "window": {"start": "2026-06-04T09:00:00+00:00", "end": "2026-12-01T09:00:00+00:00"},
        "outcome_source": "mixed",
        "lab_note": "1 deal uses the lab's calibrated probability (its model is calibrated "
        "for the step the deal is at).",
        "deals": deals
        if deals is not None
        else [
            {
                "deal": 11,
                "name": "Globex renewal",
                "owner": 2,
                "step": 5,
                "step_name": "Proposal",
                "amount": 12000.0,
                "win_probability": 0.8,
                "source": "lab",
                "close": {"50": "2026-12-10", "85": "2026-12-20", "95": "2027-01-05"},
            },
            {
                "deal": 12,
                "name": "Initech pilot",
                "owner": 3,
                "step": 3,
                "step_name": "Demo",
                "amount": None,
                "win_probability": 0.25,
                "source": "flow",
                "close": {"50": "2027-01-15", "85": None, "95": None},
            },
        ],
        "wins_by": {
            "by": "2026-12-31",
            "wins": {"mean": 5.2, "median": 5, "bands": bands},
            "revenue": {
                "mean": 61000.0,
                "median": 60000.0,
                "bands": {"50": [48000, 72000], "85": [36000, 90000], "95": [24000, 99000]},
            },
        },
        "fan": [
            _week("2026-12-06", 1, [0, 2], [0, 3], [0, 3]),
            _week("2026-12-13", 3, [2, 4], [1, 5], [1, 6]),
            _week("2026-12-20", 4, [3, 5], [2, 7], [1, 8]),
            {"date": "2026-12-31", "median": 5, "bands": bands},
        ],
        "wins_needed": {
            "n": 10,
            "reached_by": {"50": "2027-01-20", "85": "2027-02-10", "95": None},
            "share_reached": 0.93,
        },
        "target": {
            "period_start": "2026-10-01",
            "period_end": "2026-12-31",
            "target": 20,
            "won_so_far": 14,
            "expected": 19.2,
            "probability": 0.4,
            "bands": {"50": [18, 21], "85": [17, 23], "95": [16, 24]},
        }
        if target
        else None,
        "track_record": {
            "count": 52,
            "coverage": {"50": 0.5, "85": 36 / 52, "95": 0.9},
            "typical_error": 1.75,
            "verdicts": [
                "Wins: the 85 % band held the actual result in only 69 % of 52 back-tests: "
                "the bands were too narrow"
            ],
            "revenue": {
                "name": "revenue",
                "count": 52,
                "coverage": {"50": 0.5, "85": 0.875, "95": 0.95},
                "typical_error": 12000.0,
                "verdicts": [],
            },
            "needed": {
                "name": "needed",
                "n": 10,
                "count": 40,
                "coverage": {"50": 0.45, "85": 0.8, "95": 0.9},
                "typical_error": 36.0,
                "verdicts": [],
            },
            "points": [
                {
                    "date": "2026-01-05",
                    "actual": 4,
                    "median": 5,
                    "bands": {"50": [4, 6], "85": [3, 7], "95": [2, 8]},
                },
                {
                    "date": "2026-01-12",
                    "actual": 9,
                    "median": 5,
                    "bands": {"50": [4, 6], "85": [3, 7], "95": [2, 8]},
                },
            ],
            "stored": {"count": 0, "coverage": {"50": None, "85": None, "95": None}},
        }
        if track
        else None,
    }
