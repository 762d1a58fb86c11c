"""The qualification lab: which criteria go with winning, tested on the deals closed in a
window, with the criteria as they were known when each deal reached a step (no hindsight).
Produces the result of docs/qualification.md ("Lab result"); the figures are defined in
docs/metrics.md ("Qualification lab").

Set-based, for 100,000 closed deals × 10 criteria in seconds: a handful of queries read the
closed deals, their visits and their scores as plain numbers (times as seconds since the
epoch, :mod:`funnel.qualification.lab_data`), and numpy does the rest. Per-criterion figures,
myths, walk-away rules and win calls are here; the combined model and the open deals'
probabilities in :mod:`funnel.qualification.lab_model`.
"""

from __future__ import annotations

import numpy as np
from django.db.models import Case, F, FloatField, QuerySet, When
from django.db.models.functions import Cast
from django.utils import timezone

from funnel.models import Deal, DealStatus
from funnel.qualification.lab_data import (
    AsOf,
    Criteria,
    Epoch,
    LabView,
    Visits,
    fetch_rows,
    interval_figure,
    known_as_of,
    load_criteria,
    load_scores,
    load_visits,
    q_text,
    rate_text,
    rounded,
    score_rows,
    significant,
)
from funnel.qualification.lab_model import combined_model, open_deal_probabilities, reliability
from funnel.qualification.models import (
    SCALE_LEVELS,
    Criterion,
    LevelScale,
    WinCall,
)
from funnel.qualification.stats import (
    MIN_SIDE,
    bh_q,
    fisher_p,
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
#: A criterion weighted at least this much that shows no effect is a myth; one weighted at
#: most ``UNWEIGHTED`` (or not at all) that shows an effect is the other kind.
WEIGHTED_HIGH = 4
UNWEIGHTED = 1
Q_LEVEL = 0.05


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
            "win_rate": interval_figure(wilson(counts[label][1], counts[label][0])),
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
        "win_rate_met": interval_figure(wilson(won_met, n_met)),
        "win_rate_not_met": interval_figure(wilson(won_not, n_not)),
        "difference": interval_figure(newcombe(won_met, n_met, won_not, n_not)),
        "lift": interval_figure(katz(won_met, n_met, won_not, n_not)),
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
        figure["q"], figure["p"] = significant(q), significant(main["p"])
        figure["thresholds"] = [
            {"level": t["level"], "label": t["label"]}
            | t["_split"]
            | {"p": significant(t["_split"]["p"]), "q": significant(t["_split"]["q"])}
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
            f"{rate_text(f['win_rate_met'])} against {rate_text(f['win_rate_not_met'])}"
            if (f["win_rate_met"] and f["win_rate_not_met"])
            else ""
        )
        if weight is not None and weight >= WEIGHTED_HIGH and f["verdict"] == "no_effect":
            kind = "weighted_no_effect"
            text = (
                f"The team weights {f['name']} {weight} of 5, but deals that met it won "
                f"{rates} ({q_text(f['q'])})."
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
                f"{rates} ({q_text(f['q'])}): no effect shown in {closed:,} closed deals"
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
                f"({q_text(f['q'])})."
            )
        else:
            continue
        myths.append(
            {"key": f["key"], "name": f["name"], "weight": weight, "kind": kind, "text": text}
        )
    return myths


# --- The combined model --------------------------------------------------------------------
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
                    "win_rate": interval_figure(wilson(won_hit, n_hit)),
                    "others_win_rate": interval_figure(wilson(won_rest, n_rest)),
                    "p": fisher_p(won_hit, n_hit, won_rest, n_rest),
                    "hours_after": rounded(float(hours[hit].sum()), 2),
                    "revenue_won": rounded(float(amount[hit & won].sum()), 2),
                    "_lower": won_hit / n_hit < won_rest / n_rest,
                    "_criterion": criterion,
                }
            )
    rules = []
    for rule, q in zip(candidates, bh_q([c["p"] for c in candidates]), strict=True):
        lower, criterion = rule.pop("_lower"), rule.pop("_criterion")
        rule["p"], rule["q"] = significant(rule["p"]), significant(q)
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
            f"{rate_text(rule['win_rate'])}, {rule['n']} deals"
        )
        revenue = rule["revenue_won"]
        rule["hours_per_10k"] = (
            rounded(rule["hours_after"] / (revenue / 10000), 2) if revenue else None
        )
        rules.append(rule)
    rules.sort(
        key=lambda r: (
            r["hours_per_10k"] is not None,
            -(r["hours_per_10k"] if r["hours_per_10k"] is not None else r["hours_after"]),
        )
    )
    return rules


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
        "brier": rounded(float(np.mean((p - y) ** 2))),
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
    criteria = load_criteria(stream)
    n_keys = len(criteria.keys)
    closed = Deal.objects.filter(
        stream=stream,
        status__in=[DealStatus.WON, DealStatus.LOST],
        closed_at__gte=view.start,
        closed_at__lt=view.end,
    )
    deals = fetch_rows(
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
    score_data = score_rows(criteria)
    scores = load_scores(score_data, ids, criteria)
    visits = load_visits(ids, steps)

    cache: dict[int | None, tuple[np.ndarray, AsOf]] = {}

    def state(step_id: int | None) -> tuple[np.ndarray, AsOf]:
        if step_id not in cache:
            cut = deals[:, 1] if step_id is None else visits.first_entry(step_id, n)
            cache[step_id] = (cut, known_as_of(scores, cut, n_keys, criteria))
        return cache[step_id]

    cutoff, view_state = state(view.as_of)
    rows = ~np.isnan(cutoff)
    figures = _criterion_figures(criteria, view_state, won, rows)
    model = combined_model(view_state.feature[rows], won[rows].astype(float), criteria)
    known_by = {c.known_by_id for c in criteria.active if c.known_by_id in steps}
    rules = _rules(criteria, {s: state(s) for s in known_by}, won, amount, visits, steps)
    open_deals, coverage = open_deal_probabilities(
        stream, criteria, won, score_data, state, model["status"] == "ok"
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
