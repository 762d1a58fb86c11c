"""The qualification lab: which criteria go with winning, tested on the deals closed in a
window, with the criteria as they were known when each deal reached a step (no hindsight).
Produces the result of docs/qualification.md ("Lab result"); the figures are defined in
docs/metrics.md ("Qualification lab").

Set-based, for 100,000 closed deals × 10 criteria in seconds: a handful of queries read the
closed deals, their visits and their scores as plain numbers (times as seconds since the
epoch), and numpy does the rest.

- **As of step S** (:func:`_as_of`): for each deal, the cut-off is its *first* entry to S
  (``at close``: its close). Among its scores with ``scored_at`` ≤ the cut-off, the latest of
  each criterion key (ties: the later row) gives its level, read against the scale of the
  score's own criterion version. No such score: *Unknown*.
- **Features** of the model: one column per criterion, the level as of S divided by the top
  level of its scale (0 … 1; a criterion never scored counts 0, as its lowest level).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Case, F, FloatField, Func, QuerySet, When
from django.db.models.functions import Cast
from django.utils import timezone

from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.models import (
    SCALE_LEVELS,
    Criterion,
    CriterionScore,
    LevelScale,
    WinCall,
)
from funnel.qualification.stats import (
    MIN_SIDE,
    bh_q,
    fisher_p,
    interval,
    katz,
    newcombe,
    verdict,
    wilson,
)
from streams.models import ProcessStep, ValueStream

#: The shape of the result (docs/qualification.md); part of the snapshots' signature, so that
#: a result stored by an earlier engine is stale and recomputed. 2: thresholds, step models,
#: pipeline by owner.
RESULT_FORMAT = 2
#: The combined model's evidence floor: at least this many won and as many lost deals.
FLOOR = 40
FOLDS = 5
BOOTSTRAP = 200
BINS = 10
#: A criterion weighted at least this much that shows no effect is a myth; one weighted at
#: most ``UNWEIGHTED`` (or not at all) that shows an effect is the other kind.
WEIGHTED_HIGH = 4
UNWEIGHTED = 1
Q_LEVEL = 0.05
DRIVERS = 3
SEED = 0


@dataclass(frozen=True)
class LabView:
    """The window of closing dates [start, end) and the as-of step (None: at close)."""

    start: datetime
    end: datetime
    as_of: int | None


class Epoch(Func):
    """A date-time column as seconds since 1970 (float), on PostgreSQL and SQLite."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)::float8"

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
            **extra,
        )


def _fetch(qs: QuerySet, columns: int) -> np.ndarray:
    """The rows of a ``values_list`` query as a float array (n × columns), through the cursor
    (no model or field converters: a million rows in a fraction of a second). NULL → nan."""
    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:  # an empty ``__in`` list: nothing to read
        return np.empty((0, columns))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return np.empty((0, columns))
    return np.array(rows, dtype=float).reshape(len(rows), columns)


def _index(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The position of each of ``values`` in the sorted ``ids``; -1 where it is not there."""
    values = values.astype(np.int64)
    at = np.minimum(np.searchsorted(ids, values), max(len(ids) - 1, 0))
    found = (ids[at] == values) if len(ids) else np.zeros(len(values), dtype=bool)
    return np.where(found, at, -1)


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), digits)


def _g(value: float | None) -> float | None:
    """p and q values: three significant digits."""
    return None if value is None else float(f"{value:.3g}")


def _figure(triple: tuple[float, float, float] | None, digits: int = 4) -> dict | None:
    if triple is None:
        return None
    return interval(*(_r(v, digits) for v in triple))


def _pct(value: float) -> str:
    return f"{round(value * 100):.0f}"


def _rate_text(figure: dict) -> str:
    return f"{_pct(figure['value'])} % [{_pct(figure['low'])}–{_pct(figure['high'])} %]"


def _q_text(q: float | None) -> str:
    if q is None:
        return "not tested"
    return "q < 0.001" if q < 0.001 else f"q = {q:.2f}"


# --- Reading ---------------------------------------------------------------------------------


@dataclass
class Criteria:
    """The active criteria (one per key, in the set's order) and every version's scale."""

    keys: list[str]
    active: list[Criterion]
    #: Per version (criterion row) id, sorted: its key's column (-1: a retired key), the top
    #: level of its scale, its met level and whether it is yes/no.
    version_ids: np.ndarray
    version_key: np.ndarray
    version_top: np.ndarray
    version_met: np.ndarray
    version_yes_no: np.ndarray
    #: The versions themselves, in the order of ``version_ids`` (their level labels).
    versions: list[Criterion]


def _criteria(stream: ValueStream) -> Criteria:
    rows = list(
        Criterion.objects.filter(criteria_set__stream=stream)
        .select_related("known_by")
        .order_by("position", "id")
    )
    active = [c for c in rows if c.retired_at is None]
    keys = [c.key for c in active]
    column = {k: i for i, k in enumerate(keys)}
    rows.sort(key=lambda c: c.pk)
    return Criteria(
        keys=keys,
        active=active,
        version_ids=np.array([c.pk for c in rows], dtype=np.int64),
        version_key=np.array([column.get(c.key, -1) for c in rows], dtype=np.int64),
        version_top=np.array([len(c.levels) - 1 for c in rows], dtype=float),
        version_met=np.array([c.met_level for c in rows], dtype=float),
        version_yes_no=np.array([c.scale == LevelScale.YES_NO for c in rows], dtype=bool),
        versions=rows,
    )


@dataclass
class Scores:
    """Score rows of a set of deals, ordered by (scored_at, id): deal index, key column,
    version index (into ``Criteria.version_*``), level, scored_at (epoch)."""

    deal: np.ndarray
    key: np.ndarray
    version: np.ndarray
    level: np.ndarray
    at: np.ndarray


def _score_rows(criteria: Criteria) -> np.ndarray:
    """Every score under the criteria (any deal of the stream): id, deal, criterion version,
    level, scored_at, ordered by (scored_at, id). One query, read by every part of the lab."""
    data = _fetch(
        CriterionScore.objects.filter(criterion_id__in=criteria.version_ids.tolist())
        .annotate(at=Epoch("scored_at"))
        .values_list("id", "deal_id", "criterion_id", "level", "at"),
        5,
    )
    return data[np.lexsort((data[:, 0], data[:, 4]))]


def _scores(rows: np.ndarray, deal_ids: np.ndarray, criteria: Criteria) -> Scores:
    """The score ``rows`` of the deals ``deal_ids`` (sorted), indexed into them."""
    version = np.searchsorted(criteria.version_ids, rows[:, 2].astype(np.int64))
    key = criteria.version_key[version]
    deal = _index(deal_ids, rows[:, 1])
    keep = (key >= 0) & (deal >= 0)
    return Scores(
        deal=deal[keep],
        key=key[keep],
        version=version[keep],
        level=rows[keep, 3],
        at=rows[keep, 4],
    )


@dataclass
class AsOf:
    """The criteria of each deal at a cut-off: level (-1: no score), met, known, and the
    model's feature (level / top level; 0 without a score), and the version index of the
    score read (-1: none). Arrays n_deals × n_keys."""

    level: np.ndarray
    met: np.ndarray
    known: np.ndarray
    feature: np.ndarray
    version: np.ndarray


def _as_of(scores: Scores, cutoff: np.ndarray, n_keys: int, criteria: Criteria) -> AsOf:
    """The latest score of each (deal, key) with ``scored_at`` ≤ the deal's ``cutoff`` (nan:
    none is used)."""
    n = len(cutoff)
    level = np.full((n, n_keys), -1.0)
    met = np.zeros((n, n_keys), dtype=bool)
    known = np.zeros((n, n_keys), dtype=bool)
    feature = np.zeros((n, n_keys))
    version = np.full((n, n_keys), -1, dtype=np.int64)
    if len(scores.deal) and n_keys:
        used = np.nonzero(scores.at <= cutoff[scores.deal])[0]
        code = scores.deal[used] * n_keys + scores.key[used]
        # The last row of each (deal, key) in time order: the first in reversed order.
        _, first = np.unique(code[::-1], return_index=True)
        take = used[::-1][first]
        d, k, v = scores.deal[take], scores.key[take], scores.version[take]
        lv = scores.level[take]
        level[d, k] = lv
        version[d, k] = v
        met[d, k] = lv >= criteria.version_met[v]
        known[d, k] = criteria.version_yes_no[v] | (lv > 0)
        feature[d, k] = lv / np.maximum(criteria.version_top[v], 1)
    return AsOf(level=level, met=met, known=known, feature=feature, version=version)


@dataclass
class Visits:
    """Visit rows of the closed deals: deal index, step id, entered_at (epoch), hours of
    work (logged minutes / 60, else the step's planned process hours)."""

    deal: np.ndarray
    step: np.ndarray
    at: np.ndarray
    hours: np.ndarray

    def first_entry(self, step_id: int, n: int) -> np.ndarray:
        """Each deal's first entry to ``step_id`` (nan: never reached it)."""
        first = np.full(n, np.inf)
        mask = self.step == step_id
        np.minimum.at(first, self.deal[mask], self.at[mask])
        first[np.isinf(first)] = np.nan
        return first

    def hours_from(self, cutoff: np.ndarray, n: int) -> np.ndarray:
        """Each deal's work hours in the visits it entered at or after ``cutoff``."""
        mask = self.at >= cutoff[self.deal]
        return np.bincount(self.deal[mask], weights=self.hours[mask], minlength=n)


def _visits(deal_ids: np.ndarray, steps: dict[int, dict]) -> Visits:
    """The visits of the deals ``deal_ids`` (sorted) to the stream's ``steps``."""
    data = _fetch(
        Visit.objects.filter(step_id__in=list(steps))
        .annotate(at=Epoch("entered_at"))
        .values_list("deal_id", "step_id", "at", "work_minutes"),
        4,
    )
    deal = _index(deal_ids, data[:, 0])
    data, deal = data[deal >= 0], deal[deal >= 0]
    step = data[:, 1].astype(np.int64)
    step_ids = np.array(sorted(steps), dtype=np.int64)
    planned = np.array([steps[pk]["planned"] or 0.0 for pk in step_ids.tolist()], dtype=float)
    plan = planned[np.searchsorted(step_ids, step)] if len(step) else np.zeros(0)
    hours = np.where(np.isnan(data[:, 3]), plan, data[:, 3] / 60.0)
    return Visits(deal=deal, step=step, at=data[:, 2], hours=hours)


# --- Per criterion -----------------------------------------------------------------------------


def _level_rows(
    criteria: Criteria, criterion: Criterion, level: np.ndarray, version: np.ndarray, y: np.ndarray
) -> list[dict]:
    """The per-level rows of one criterion. Each deal's level is read as the **label** of its
    score's own version's scale and the rows count labels: a v1 yes/no "Yes" is "Yes", not
    level 1 of the active evidence scale ("Identified"). The active scale's labels come first,
    in order (``level`` their index), then labels of earlier scales only (``level`` null),
    then "Not scored" (no score as of the cut-off; on the evidence scale that is *Unknown*)."""
    labels = criterion.levels
    evidence = criterion.scale == LevelScale.EVIDENCE
    counts: dict[str, list[int]] = {label: [0, 0] for label in labels}
    if not len(level):
        return [
            {"level": i, "label": label, "n": 0, "won": 0, "win_rate": None}
            for i, label in enumerate(labels)
        ]
    pairs, inverse = np.unique(
        np.stack([version, level.astype(np.int64)]), axis=1, return_inverse=True
    )
    inverse = inverse.reshape(-1)
    n_pair = np.bincount(inverse, minlength=pairs.shape[1])
    won_pair = np.bincount(inverse, weights=y.astype(float), minlength=pairs.shape[1])
    for (v, value), count, wins in zip(pairs.T.tolist(), n_pair, won_pair, strict=True):
        if v < 0:
            label = labels[0] if evidence else "Not scored"
        else:
            own = criteria.versions[v].levels
            label = own[value] if value < len(own) else f"Level {value}"
        row = counts.setdefault(label, [0, 0])
        row[0] += int(count)
        row[1] += int(wins + 0.5)
    index = {label: i for i, label in enumerate(labels)}
    order = sorted(counts, key=lambda label: (label == "Not scored", label not in index))
    return [
        {
            "level": index.get(label),
            "label": label,
            "n": counts[label][0],
            "won": counts[label][1],
            "win_rate": _figure(wilson(counts[label][1], counts[label][0])),
        }
        for label in order
    ]


def _split(at: np.ndarray, y: np.ndarray) -> dict:
    """The deals ``at`` (a mask: "met") against the others: counts, Wilson rates, Newcombe
    difference, Katz lift, Fisher p (raw; none with fewer than 5 deals on a side), q to come."""
    n, total_won = len(y), int(y.sum())
    n_met, won_met = int(at.sum()), int((at & y).sum())
    n_not, won_not = n - n_met, total_won - won_met
    tested = n_met >= MIN_SIDE and n_not >= MIN_SIDE
    return {
        "n_met": n_met,
        "won_met": won_met,
        "n_not_met": n_not,
        "won_not_met": won_not,
        "win_rate_met": _figure(wilson(won_met, n_met)),
        "win_rate_not_met": _figure(wilson(won_not, n_not)),
        "difference": _figure(newcombe(won_met, n_met, won_not, n_not)),
        "lift": _figure(katz(won_met, n_met, won_not, n_not)),
        "p": fisher_p(won_met, n_met, won_not, n_not) if tested else None,
        "q": None,
    }


def _thresholds(criterion: Criterion, met: np.ndarray, feature: np.ndarray):
    """For each level above the lowest of the active scale, the split "at or above it"
    against "below", with its label. A score is placed by its fraction of its own version's
    top level (the model's feature), so a score under an earlier scale counts by where it
    stood on that scale (a v1 "Yes" is at or above every level; unscored is below all). The
    split at the met level is the met split itself (``met``), so the two agree."""
    labels = criterion.levels
    top = len(labels) - 1
    for t in range(1, top + 1):
        at = met if t == criterion.met_level else feature >= t / top - 1e-9
        label = labels[t] if criterion.scale == LevelScale.YES_NO else f"{labels[t]} or better"
        yield t, label, at


def _criterion_figures(
    criteria: Criteria, state: AsOf, won: np.ndarray, rows: np.ndarray
) -> list[dict]:
    """Per active criterion: the met / not met win rates, difference, lift, Fisher p, BH q,
    verdict, per-level win rates and per-threshold splits, over the deals ``rows`` (a mask).
    One Benjamini–Hochberg family: every threshold of every criterion (the met split is the
    threshold at the met level; a met level of 0 adds its split to the family as well)."""
    met, level, version = state.met[rows], state.level[rows], state.version[rows]
    feature = state.feature[rows]
    y = won[rows]
    n = int(rows.sum())
    total_won = int(y.sum())
    figures: list[dict] = []
    family: list[dict] = []
    for k, criterion in enumerate(criteria.active):
        main = _split(met[:, k], y)
        family.append(main)
        thresholds = []
        for t, label, at in _thresholds(criterion, met[:, k], feature[:, k]):
            split = main if t == criterion.met_level else _split(at, y)
            if split is not main:
                family.append(split)
            thresholds.append({"level": t, "label": label, "_split": split})
        labels = criterion.levels
        levels = _level_rows(criteria, criterion, level[:, k], version[:, k], y)
        if criterion.scale == LevelScale.YES_NO:
            met_label = labels[criterion.met_level]
        else:
            met_label = f"{labels[min(criterion.met_level, len(labels) - 1)]} or better"
        n_not, won_not = main["n_not_met"], main["won_not_met"]
        figures.append(
            {
                "key": criterion.key,
                "name": criterion.name,
                "weight": criterion.weight,
                "met_label": met_label,
                "_main": main,
                "verdict": "not_yet",
                "deals_needed": None,
                "levels": levels,
                "thresholds": thresholds,
                "_n": n,
                "_rate": (won_not / n_not) if n_not and won_not else (total_won / n if n else 0),
            }
        )
    for split, q in zip(family, bh_q([f["p"] for f in family]), strict=True):
        split["q"] = q
    for figure in figures:
        main = figure.pop("_main")
        q = main["q"]
        figure.update(main)
        figure["q"], figure["p"] = _g(q), _g(main["p"])
        figure["thresholds"] = [
            {"level": t["level"], "label": t["label"]}
            | t["_split"]
            | {"p": _g(t["_split"]["p"]), "q": _g(t["_split"]["q"])}
            for t in figure["thresholds"]
        ]
        n, rate = figure.pop("_n"), figure.pop("_rate")
        lift, difference = figure["lift"], figure["difference"]
        figure["verdict"], figure["deals_needed"] = verdict(
            q,
            difference and difference["value"],
            lift and (lift["value"], lift["low"], lift["high"]),
            rate,
            n,
            figure["n_met"] / n if n else None,
            Q_LEVEL,
        )
    figures = [{key: f[key] for key in FIGURE_KEYS} for f in figures]
    figures.sort(key=lambda f: (f["lift"] is None, -(f["lift"] or {"value": 0})["value"]))
    return figures


#: The keys of a criterion's figures, in the order of docs/qualification.md.
FIGURE_KEYS = (
    "key", "name", "weight", "met_label", "n_met", "won_met", "n_not_met", "won_not_met",
    "win_rate_met", "win_rate_not_met", "difference", "lift", "p", "q", "verdict",
    "deals_needed", "levels", "thresholds",
)  # fmt: skip


def _myths(figures: list[dict]) -> list[dict]:
    myths = []
    for f in figures:
        weight = f["weight"]
        rates = (
            f"{_rate_text(f['win_rate_met'])} against {_rate_text(f['win_rate_not_met'])}"
            if (f["win_rate_met"] and f["win_rate_not_met"])
            else ""
        )
        if weight is not None and weight >= WEIGHTED_HIGH and f["verdict"] == "no_effect":
            kind = "weighted_no_effect"
            text = (
                f"The team weights {f['name']} {weight} of 5, but deals that met it won "
                f"{rates} ({_q_text(f['q'])})."
            )
        elif (
            weight is not None
            and weight >= WEIGHTED_HIGH
            and f["verdict"] == "not_yet"
            and f["q"] is not None
            and f["q"] >= Q_LEVEL
        ):
            # Weighted high, yet no effect shown: too few deals to rule one out, but nothing
            # that backs the weight either (absence of evidence, said as such).
            kind = "weighted_unproven"
            closed = f["n_met"] + f["n_not_met"]
            text = (
                f"The team weights {f['name']} {weight} of 5, but deals that met it won "
                f"{rates} ({_q_text(f['q'])}): no effect shown in {closed:,} closed deals"
                + (
                    f"; about {f['deals_needed']:,} would tell whether it has one."
                    if f["deals_needed"]
                    else "."
                )
            )
        elif (weight is None or weight <= UNWEIGHTED) and f["verdict"] in (
            "predicts_win",
            "predicts_loss",
        ):
            kind = "unweighted_effect"
            belief = "no weight" if weight is None else f"a weight of {weight} of 5"
            text = (
                f"The team gives {f['name']} {belief}, yet deals that met it won {rates} "
                f"({_q_text(f['q'])})."
            )
        else:
            continue
        myths.append(
            {"key": f["key"], "name": f["name"], "weight": weight, "kind": kind, "text": text}
        )
    return myths


# --- The combined model --------------------------------------------------------------------


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
            "predicted": _r(predicted[part].mean()),
            "observed": _r(y[part].mean()),
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


def _model(X: np.ndarray, y: np.ndarray, criteria: Criteria) -> dict:
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
            _r(auc_score(oof, y)), _r(np.percentile(aucs, 2.5)), _r(np.percentile(aucs, 97.5))
        ),
        "brier": _r(float(np.mean((oof - y) ** 2))),
        "reliability": reliability(oof, y),
        "coefficients": [
            {"key": c.key, "name": c.name, "coef": _r(float(coef))}
            for c, coef in zip(criteria.active, full.coef_[0], strict=True)
        ],
    }


# --- Walk-away rules --------------------------------------------------------------------------


def _rules(
    criteria: Criteria,
    state_at: dict[int, tuple[np.ndarray, AsOf]],
    won: np.ndarray,
    amount: np.ndarray,
    visits: Visits,
    steps: dict[int, dict],
) -> list[dict]:
    n = len(won)
    candidates = []
    for k, criterion in enumerate(criteria.active):
        if criterion.known_by_id is None or criterion.known_by_id not in state_at:
            continue
        first, state = state_at[criterion.known_by_id]
        reached = ~np.isnan(first)
        hours = visits.hours_from(first, n)
        for condition, hit in (("unknown", ~state.known[:, k]), ("not_met", ~state.met[:, k])):
            hit = hit & reached
            rest = reached & ~hit
            n_hit, n_rest = int(hit.sum()), int(rest.sum())
            if n_hit < MIN_SIDE or n_rest < MIN_SIDE:
                continue
            won_hit, won_rest = int((hit & won).sum()), int((rest & won).sum())
            candidates.append(
                {
                    "key": criterion.key,
                    "name": criterion.name,
                    "step": criterion.known_by_id,
                    "step_name": steps[criterion.known_by_id]["name"],
                    "condition": condition,
                    "n": n_hit,
                    "won": won_hit,
                    "win_rate": _figure(wilson(won_hit, n_hit)),
                    "others_win_rate": _figure(wilson(won_rest, n_rest)),
                    "p": fisher_p(won_hit, n_hit, won_rest, n_rest),
                    "hours_after": _r(float(hours[hit].sum()), 2),
                    "revenue_won": _r(float(amount[hit & won].sum()), 2),
                    "_lower": won_hit / n_hit < won_rest / n_rest,
                    "_criterion": criterion,
                }
            )
    rules = []
    for rule, q in zip(candidates, bh_q([c["p"] for c in candidates]), strict=True):
        lower, criterion = rule.pop("_lower"), rule.pop("_criterion")
        rule["p"], rule["q"] = _g(rule["p"]), _g(q)
        if not lower or q is None or q >= Q_LEVEL:
            continue
        what = (
            f"still {criterion.levels[0]}"
            if rule["condition"] == "unknown" and criterion.scale == LevelScale.EVIDENCE
            else "still unknown"
            if rule["condition"] == "unknown"
            else f"not met (below {SCALE_LEVELS[LevelScale(criterion.scale)][criterion.met_level]})"
        )
        rule["text"] = (
            f"{rule['name']} {what} at {rule['step_name']} → win rate "
            f"{_rate_text(rule['win_rate'])}, {rule['n']} deals"
        )
        revenue = rule["revenue_won"]
        rule["hours_per_10k"] = _r(rule["hours_after"] / (revenue / 10000), 2) if revenue else None
        rules.append(rule)
    rules.sort(
        key=lambda r: (
            r["hours_per_10k"] is not None,
            -(r["hours_per_10k"] if r["hours_per_10k"] is not None else r["hours_after"]),
        )
    )
    return rules


# --- Open deals, win calls, coverage ------------------------------------------------------------


def _open_deals(
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
    open_scores = _scores(score_rows, ids, criteria)
    always = np.full(len(ids), np.inf)
    # The model of a step is trained on closed deals' criteria as of their first entry to it,
    # so an open deal is scored on its criteria as of its first entry to its current step.
    entered = _fetch(
        Visit.objects.filter(deal__stream=stream, deal__status=DealStatus.OPEN)
        .annotate(at=Epoch("entered_at"))
        .values_list("deal_id", "step_id", "at"),
        3,
    )
    where = _index(ids, entered[:, 0])
    current = np.array([r[1] for r in rows], dtype=np.int64)
    at_current = current[np.maximum(where, 0)] if len(ids) else np.zeros(len(where), np.int64)
    mine = (where >= 0) & (entered[:, 1].astype(np.int64) == at_current)
    first_entry = np.full(len(ids), np.inf)
    np.minimum.at(first_entry, where[mine], entered[mine, 2])
    at_entry = _as_of(open_scores, first_entry, n_keys, criteria)
    # Coverage counts only scores of each criterion's active version (as the deals list).
    active = np.isin(criteria.version_ids[open_scores.version], [c.pk for c in criteria.active])
    active_scores = Scores(**{k: v[active] for k, v in vars(open_scores).items()})
    known_now = _as_of(active_scores, always, n_keys, criteria).known

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
                "auc": _r(auc_score(oof, y)),
                "brier": _r(float(np.mean((oof - y) ** 2))),
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
                        "effect": _r(effect[j, t]),
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
                "probability": _r(probability[i]),
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
    names = _owner_names({r[5] for r in rows if r[5]})

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
                "share": _r(v[2] / v[1]) if v[1] else None,
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
        "expected_value": _r(float((probability[scored] * amount[scored]).sum()), 2)
        if model_ok
        else None,
        "pipeline": _r(float(amount[scored].sum()), 2) if model_ok else None,
        "deals_scored": int(scored.sum()),
        "deals_open": int(mine.sum()),
        "pipeline_all": _r(float(amount[mine].sum()), 2),
    }


def _owner_names(ids: set[int]) -> dict[int, str]:
    return {
        u.pk: (u.get_full_name() or u.get_username())
        for u in get_user_model().objects.filter(pk__in=ids)
    }


def _win_calls(closed: QuerySet, closed_ids: np.ndarray, won: np.ndarray) -> dict:
    """The latest win call at or before each closed deal's close, against its outcome."""
    latest: dict[int, int] = {}
    for deal_id, probability in (
        WinCall.objects.filter(deal__in=closed, called_at__lte=F("deal__closed_at"))
        .order_by("called_at", "id")
        .values_list("deal_id", "probability")
    ):
        latest[deal_id] = probability
    if not latest:
        return {"n": 0, "brier": None, "reliability": []}
    index = np.searchsorted(closed_ids, np.array(list(latest), dtype=np.int64))
    p = np.array(list(latest.values()), dtype=float) / 100
    y = won[index].astype(float)
    return {
        "n": len(p),
        "brier": _r(float(np.mean((p - y) ** 2))),
        "reliability": reliability(p, y),
    }


# --- The lab ----------------------------------------------------------------------------------


def compute_lab(stream: ValueStream, view: LabView) -> dict:
    """The lab result of ``stream`` for ``view`` (docs/qualification.md, "Lab result")."""
    steps = {
        pk: {"name": name, "position": position, "planned": planned}
        for pk, name, position, planned in ProcessStep.objects.filter(stream=stream).values_list(
            "pk", "name", "position", "planned_process_hours"
        )
    }
    criteria = _criteria(stream)
    n_keys = len(criteria.keys)
    closed = Deal.objects.filter(
        stream=stream,
        status__in=[DealStatus.WON, DealStatus.LOST],
        closed_at__gte=view.start,
        closed_at__lt=view.end,
    )
    deals = _fetch(
        closed.annotate(closed_epoch=Epoch("closed_at"), amount_f=Cast("amount", FloatField()))
        .order_by("pk")
        .values_list(
            "pk", "closed_epoch", "amount_f", Case(When(status=DealStatus.WON, then=1), default=0)
        ),
        4,
    )
    ids = deals[:, 0].astype(np.int64)
    n = len(ids)
    won = deals[:, 3].astype(bool)
    amount = np.nan_to_num(deals[:, 2])
    score_rows = _score_rows(criteria)
    scores = _scores(score_rows, ids, criteria)
    visits = _visits(ids, steps)

    cache: dict[int | None, tuple[np.ndarray, AsOf]] = {}

    def state(step_id: int | None) -> tuple[np.ndarray, AsOf]:
        if step_id not in cache:
            cut = deals[:, 1] if step_id is None else visits.first_entry(step_id, n)
            cache[step_id] = (cut, _as_of(scores, cut, n_keys, criteria))
        return cache[step_id]

    cutoff, view_state = state(view.as_of)
    rows = ~np.isnan(cutoff)
    figures = _criterion_figures(criteria, view_state, won, rows)
    model = _model(view_state.feature[rows], won[rows].astype(float), criteria)
    known_by = {c.known_by_id for c in criteria.active if c.known_by_id in steps}
    rules = _rules(criteria, {s: state(s) for s in known_by}, won, amount, visits, steps)
    open_deals, coverage = _open_deals(
        stream, criteria, won, score_rows, state, model["status"] == "ok"
    )
    n_won = int(won[rows].sum())
    return {
        "view": {
            "start": view.start.isoformat().replace("+00:00", "Z"),
            "end": view.end.isoformat().replace("+00:00", "Z"),
            "as_of": view.as_of,
            "as_of_name": steps[view.as_of]["name"] if view.as_of in steps else None,
        },
        "deals": {"closed": int(rows.sum()), "won": n_won, "lost": int(rows.sum()) - n_won},
        "criteria": figures,
        "myths": _myths(figures),
        "model": model,
        "rules": rules,
        "open_deals": open_deals,
        "win_calls": _win_calls(closed, ids, won),
        "coverage": coverage,
        "computed_at": timezone.now().isoformat().replace("+00:00", "Z"),
    }
