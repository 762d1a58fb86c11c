"""The lab's combined model (regularised logistic regression over the criteria as known at a
step, judged out of sample by stratified k-fold cross-validation: AUC with a bootstrap
interval, Brier score, reliability), and the open deals' win probabilities from one such model
per step (docs/qualification.md).

**Features**: one column per criterion, the level as of S divided by the top level of its scale
(0 … 1; a criterion never scored counts 0, as its lowest level).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from django.db.models import FloatField
from django.db.models.functions import Cast

from funnel.models import DealStatus, Visit
from funnel.qualification.lab_data import (
    AsOf,
    Criteria,
    Epoch,
    Scores,
    fetch_rows,
    known_as_of,
    load_scores,
    owner_names,
    positions,
    rounded,
)
from funnel.qualification.stats import (
    interval,
)
from streams.models import ValueStream

#: The combined model's evidence floor: at least this many won and as many lost deals.
FLOOR = 40
FOLDS = 5
BOOTSTRAP = 200
BINS = 10
DRIVERS = 3
SEED = 0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _new_model():
    from sklearn.linear_model import LogisticRegression

    # Newton–Cholesky: a handful of iterations for many deals and few criteria.
    return LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100)


def _fits(X: np.ndarray, y: np.ndarray) -> bool:
    won = int(y.sum())
    return X.shape[1] > 0 and won >= FLOOR and len(y) - won >= FLOOR


def _floor_message(won: int, lost: int) -> str:
    """Below the floor, e.g. "… 12 won and 30 lost; the model needs at least 40 of each:
    need 28 more won and 10 more lost." (only the sides short of the floor)."""
    short = " and ".join(
        f"{FLOOR - count} more {side}"
        for side, count in (("won", won), ("lost", lost))
        if count < FLOOR
    )
    return (
        f"Not enough closed deals yet: {won} won and {lost} lost; the model needs at least "
        f"{FLOOR} of each: need {short}."
    )


def auc_score(predicted: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The area under the ROC curve (ties count half), optionally weighted per deal."""
    w = np.ones(len(y)) if weights is None else weights
    _, group = np.unique(predicted, return_inverse=True)
    pos = np.bincount(group, weights=w * y)
    neg = np.bincount(group, weights=w * (1 - y))
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def reliability(predicted: np.ndarray, y: np.ndarray, bins: int = BINS) -> list[dict]:
    """Equal-count bins of the predictions, lowest first: mean predicted, observed, n."""
    order = np.argsort(predicted, kind="stable")
    return [
        {
            "predicted": rounded(predicted[part].mean()),
            "observed": rounded(y[part].mean()),
            "n": len(part),
        }
        for part in np.array_split(order, min(bins, len(order)))
        if len(part)
    ]


def _out_of_fold(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each deal's prediction from a model that never saw it: stratified 5-fold
    cross-validation, shuffled with the lab's seed."""
    from sklearn.model_selection import StratifiedKFold

    oof = np.zeros(len(y))
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    for train, test in folds.split(X, y):
        oof[test] = _new_model().fit(X[train], y[train]).predict_proba(X[test])[:, 1]
    return oof


def combined_model(X: np.ndarray, y: np.ndarray, criteria: Criteria) -> dict:
    won = int(y.sum())
    lost = len(y) - won
    base = {"won": won, "lost": lost, "floor": {"won": FLOOR, "lost": FLOOR}, "folds": FOLDS}
    if not _fits(X, y):
        message = _floor_message(won, lost) if X.shape[1] else "No active criteria to model yet."
        return {"status": "not_enough", "message": message, **base} | {
            "auc": None,
            "brier": None,
            "reliability": [],
            "coefficients": [],
        }
    oof = _out_of_fold(X, y)
    # Bootstrap the out-of-fold predictions: resampling weights, one pass per resample.
    rng = np.random.default_rng(SEED)
    _, group = np.unique(oof, return_inverse=True)
    aucs = []
    for _ in range(BOOTSTRAP):
        w = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)).astype(float)
        pos = np.bincount(group, weights=w * y)
        neg = np.bincount(group, weights=w * (1 - y))
        if pos.sum() and neg.sum():
            aucs.append((pos * (np.cumsum(neg) - neg + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))
    full = _new_model().fit(X, y)
    return {"status": "ok", "message": "", **base} | {
        "auc": interval(
            rounded(auc_score(oof, y)),
            rounded(np.percentile(aucs, 2.5)),
            rounded(np.percentile(aucs, 97.5)),
        ),
        "brier": rounded(float(np.mean((oof - y) ** 2))),
        "reliability": reliability(oof, y),
        "coefficients": [
            {"key": c.key, "name": c.name, "coef": rounded(float(coef))}
            for c, coef in zip(criteria.active, full.coef_[0], strict=True)
        ],
    }


# --- Open deals, win calls, coverage ------------------------------------------------------------


def open_deal_probabilities(
    stream: ValueStream,
    criteria: Criteria,
    won: np.ndarray,
    score_rows: np.ndarray,
    state: Callable[[int], tuple[np.ndarray, AsOf]],
    model_ok: bool,
) -> tuple[dict, dict]:
    """The open deals' probabilities (when ``model_ok``) and the coverage by step and rep;
    ``state(step)``: the closed deals' first entries to a step and their criteria then."""
    rows = list(
        Visit.objects.filter(
            deal__stream=stream, deal__status=DealStatus.OPEN, exited_at__isnull=True
        )
        .order_by("deal_id")
        .values_list(
            "deal_id",
            "step_id",
            "step__position",
            "step__name",
            Cast("deal__amount", FloatField()),
            "deal__owner_id",
            "deal__owner_name",
        )
    )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    n_keys = len(criteria.keys)
    open_scores = load_scores(score_rows, ids, criteria)
    always = np.full(len(ids), np.inf)
    # The model of a step is trained on closed deals' criteria as of their first entry to it,
    # so an open deal is scored on its criteria as of its first entry to its current step.
    entered = fetch_rows(
        Visit.objects.filter(deal__stream=stream, deal__status=DealStatus.OPEN)
        .annotate(at=Epoch("entered_at"))
        .values_list("deal_id", "step_id", "at"),
        3,
    )
    where = positions(ids, entered[:, 0])
    current = np.array([r[1] for r in rows], dtype=np.int64)
    at_current = current[np.maximum(where, 0)] if len(ids) else np.zeros(len(where), np.int64)
    mine = (where >= 0) & (entered[:, 1].astype(np.int64) == at_current)
    first_entry = np.full(len(ids), np.inf)
    np.minimum.at(first_entry, where[mine], entered[mine, 2])
    at_entry = known_as_of(open_scores, first_entry, n_keys, criteria)
    # Coverage counts only scores of each criterion's active version (as the deals list).
    active = np.isin(criteria.version_ids[open_scores.version], [c.pk for c in criteria.active])
    active_scores = Scores(**{k: v[active] for k, v in vars(open_scores).items()})
    known_now = known_as_of(active_scores, always, n_keys, criteria).known

    amount = np.array([r[4] or 0.0 for r in rows])
    probability = np.full(len(ids), np.nan)
    drivers: dict[int, list] = {}
    step_models: dict[str, dict] = {}
    if model_ok:
        for step_id in sorted({r[1] for r in rows}):
            first, at_step = state(step_id)
            train = ~np.isnan(first)
            X = at_step.feature[train]
            y = won[train].astype(float)
            if not _fits(X, y):
                continue
            model = _new_model().fit(X, y)
            oof = _out_of_fold(X, y)
            here = current == step_id
            step_models[str(step_id)] = {
                "step": step_id,
                "step_name": next(r[3] for r in rows if r[1] == step_id),
                "won": int(y.sum()),
                "lost": int(len(y) - y.sum()),
                "folds": FOLDS,
                "auc": rounded(auc_score(oof, y)),
                "brier": rounded(float(np.mean((oof - y) ** 2))),
            }
            x = at_entry.feature[here]
            coef, mean = model.coef_[0], X.mean(axis=0)
            logit = model.intercept_[0] + x @ coef
            p = _sigmoid(logit)
            effect = p[:, None] - _sigmoid(logit[:, None] - coef * (x - mean))
            probability[here] = p
            for j, deal_index in enumerate(np.nonzero(here)[0]):
                top = np.argsort(-np.abs(effect[j]))[:DRIVERS]
                drivers[int(deal_index)] = [
                    {
                        "key": criteria.active[t].key,
                        "name": criteria.active[t].name,
                        "effect": rounded(effect[j, t]),
                    }
                    for t in top
                    if abs(effect[j, t]) >= 0.005
                ]
    scored = ~np.isnan(probability)
    owner = np.array([r[5] or 0 for r in rows], dtype=np.int64)
    open_deals = {
        **_pipeline(model_ok, probability, amount, np.ones(len(ids), dtype=bool)),
        "by_owner": {
            str(o): _pipeline(model_ok, probability, amount, owner == o)
            for o in sorted(set(owner.tolist()) - {0})
        },
        "steps": step_models,
        "deals": {
            str(int(ids[i])): {
                "probability": rounded(probability[i]),
                "step": int(current[i]),
                "drivers": drivers.get(i, []),
            }
            for i in np.nonzero(scored)[0]
        },
    }
    # Coverage: criteria due at each open deal's current step, known, and the overdue deals.
    due_at = np.array(
        [c.known_by.position if c.known_by_id else np.inf for c in criteria.active], dtype=float
    ).reshape(1, n_keys)
    position = np.array([r[2] for r in rows], dtype=float).reshape(-1, 1)
    due = position >= due_at
    known = due & known_now
    overdue = ((position > due_at) & ~known_now).any(axis=1)
    names = owner_names({r[5] for r in rows if r[5]})

    def group(by: list) -> list[dict]:
        out: dict = {}
        for i, label in enumerate(by):
            row = out.setdefault(label, [0, 0, 0, 0])
            row[0] += 1
            row[1] += int(due[i].sum())
            row[2] += int(known[i].sum())
            row[3] += int(overdue[i])
        return [
            {
                "open_deals": v[0],
                "due": v[1],
                "known": v[2],
                "share": rounded(v[2] / v[1]) if v[1] else None,
                "overdue": v[3],
            }
            | dict(label)
            for label, v in out.items()
        ]

    by_step = sorted(
        group([(("step", r[1]), ("step_name", r[3]), ("_position", r[2])) for r in rows]),
        key=lambda g: g.pop("_position"),
    )
    by_rep = sorted(
        group(
            [
                (
                    ("owner", r[5]),
                    ("owner_name", names.get(r[5]) if r[5] else (r[6] or "No owner")),
                )
                for r in rows
            ]
        ),
        key=lambda g: (g["owner"] is None, g["owner_name"].lower()),
    )
    return open_deals, {"by_step": by_step, "by_rep": by_rep}


def _pipeline(
    model_ok: bool, probability: np.ndarray, amount: np.ndarray, mine: np.ndarray
) -> dict:
    """The pipeline figures of the open deals ``mine`` (a mask): expected value Σ p × amount
    and the unweighted Σ amount over the **same** deals, those with a probability (both null
    below the floor), their count, and the open deals and amount in all."""
    scored = mine & ~np.isnan(probability)
    return {
        "model_ok": model_ok,
        "expected_value": rounded(float((probability[scored] * amount[scored]).sum()), 2)
        if model_ok
        else None,
        "pipeline": rounded(float(amount[scored].sum()), 2) if model_ok else None,
        "deals_scored": int(scored.sum()),
        "deals_open": int(mine.sum()),
        "pipeline_all": rounded(float(amount[mine].sum()), 2),
    }
