"""The lab's combined model (``funnel.qualification.lab_model.combined_model``) against
scikit-learn's own out-of-sample tools: its AUC, Brier score and reliability bins are those of
the out-of-fold predictions of stratified 5-fold cross-validation, not of the model scored on
the deals it was fitted on; and at the floor exactly, it fits."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from funnel.qualification.lab_model import FLOOR, auc_score, combined_model


def _criteria(k: int) -> SimpleNamespace:
    return SimpleNamespace(active=[SimpleNamespace(key=f"c{i}", name=f"C{i}") for i in range(k)])


def _deals(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Four criteria on the 0 … 1 scale of levels (quarters); the first two move the odds."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, size=(n, 4)) / 3
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 2.0 * X[:, 0] + 1.2 * X[:, 1])))).astype(float)
    return X, y


def test_the_model_is_judged_on_out_of_fold_predictions():
    X, y = _deals(600)
    model = combined_model(X, y, _criteria(4))
    oof = cross_val_predict(
        LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100),
        X,
        y,
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0),
        method="predict_proba",
    )[:, 1]
    assert model["status"] == "ok" and model["folds"] == 5
    assert model["auc"]["value"] == pytest.approx(roc_auc_score(y, oof), abs=1e-3)
    assert model["auc"]["low"] < model["auc"]["value"] < model["auc"]["high"]
    assert model["brier"] == pytest.approx(brier_score_loss(y, oof), abs=1e-3)
    # In-sample the AUC would be higher: the figures are not the fitted model's own.
    fitted = LogisticRegression(C=1.0, solver="newton-cholesky").fit(X, y)
    assert roc_auc_score(y, fitted.predict_proba(X)[:, 1]) > roc_auc_score(y, oof)
    # Ten equal-count bins of the out-of-fold predictions, lowest first, every deal once.
    bins = model["reliability"]
    assert [b["n"] for b in bins] == [60] * 10
    assert [b["predicted"] for b in bins] == sorted(b["predicted"] for b in bins)
    order = np.argsort(oof, kind="stable")
    assert bins[0]["observed"] == pytest.approx(y[order[:60]].mean(), abs=1e-3)
    # The planted criteria get the largest positive coefficients.
    coefs = {c["key"]: c["coef"] for c in model["coefficients"]}
    assert coefs["c0"] > coefs["c1"] > max(abs(coefs["c2"]), abs(coefs["c3"]))


def test_the_auc_counts_ties_half():
    y = np.array([0, 1, 0, 1.0])
    predicted = np.array([0.2, 0.2, 0.1, 0.9])
    # Pairs (won, lost): (0.2, 0.2) tie ½, (0.2, 0.1) 1, (0.9, 0.2) 1, (0.9, 0.1) 1 → 3.5 / 4.
    assert auc_score(predicted, y) == pytest.approx(0.875) == roc_auc_score(y, predicted)


@pytest.mark.parametrize(("won", "lost", "fits"), [(FLOOR, FLOOR, True), (FLOOR - 1, 90, False)])
def test_the_evidence_floor(won, lost, fits):
    rng = np.random.default_rng(0)
    y = np.array([1.0] * won + [0.0] * lost)
    X = (rng.integers(0, 4, size=(len(y), 2)) / 3) + 0.2 * y[:, None]
    model = combined_model(X, y, _criteria(2))
    assert (model["status"] == "ok") is fits
    if not fits:
        assert model["message"] == (
            f"Not enough closed deals yet: {won} won and {lost} lost; the model needs at "
            f"least {FLOOR} of each: need 1 more won."
        )
        assert model["auc"] is None and model["reliability"] == []
