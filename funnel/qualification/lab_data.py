"""What the lab reads, as plain numbers: a view (window and as-of step), the stream's criteria
and their versions, the closed deals' scores and visits, and the criteria as known at a
cut-off. Used by the lab (:mod:`funnel.qualification.lab`) and its model
(:mod:`funnel.qualification.lab_model`).

- **As of step S** (:func:`as_of`): for each deal, the cut-off is its *first* entry to S
  (``at close``: its close). Among its scores with ``scored_at`` ≤ the cut-off, the latest of
  each criterion key (ties: the later row) gives its level, read against the scale of the
  score's own criterion version. No such score: *Unknown*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import FloatField, Func, QuerySet

from funnel.models import Visit
from funnel.qualification.models import (
    Criterion,
    CriterionScore,
    LevelScale,
)
from funnel.qualification.stats import (
    interval,
)
from streams.models import ValueStream


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


def fetch_rows(qs: QuerySet, columns: int) -> np.ndarray:
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


def positions(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The position of each of ``values`` in the sorted ``ids``; -1 where it is not there."""
    values = values.astype(np.int64)
    at = np.minimum(np.searchsorted(ids, values), max(len(ids) - 1, 0))
    found = (ids[at] == values) if len(ids) else np.zeros(len(values), dtype=bool)
    return np.where(found, at, -1)


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), digits)


def significant(value: float | None) -> float | None:
    """p and q values: three significant digits."""
    return None if value is None else float(f"{value:.3g}")


def interval_figure(triple: tuple[float, float, float] | None, digits: int = 4) -> dict | None:
    if triple is None:
        return None
    return interval(*(rounded(v, digits) for v in triple))


def _pct(value: float) -> str:
    return f"{round(value * 100):.0f}"


def rate_text(figure: dict) -> str:
    return f"{_pct(figure['value'])} % [{_pct(figure['low'])}–{_pct(figure['high'])} %]"


def q_text(q: float | None) -> str:
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


def load_criteria(stream: ValueStream) -> Criteria:
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


def score_rows(criteria: Criteria) -> np.ndarray:
    """Every score under the criteria (any deal of the stream): id, deal, criterion version,
    level, scored_at, ordered by (scored_at, id). One query, read by every part of the lab."""
    data = fetch_rows(
        CriterionScore.objects.filter(criterion_id__in=criteria.version_ids.tolist())
        .annotate(at=Epoch("scored_at"))
        .values_list("id", "deal_id", "criterion_id", "level", "at"),
        5,
    )
    return data[np.lexsort((data[:, 0], data[:, 4]))]


def load_scores(rows: np.ndarray, deal_ids: np.ndarray, criteria: Criteria) -> Scores:
    """The score ``rows`` of the deals ``deal_ids`` (sorted), indexed into them."""
    version = np.searchsorted(criteria.version_ids, rows[:, 2].astype(np.int64))
    key = criteria.version_key[version]
    deal = positions(deal_ids, rows[:, 1])
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


def known_as_of(scores: Scores, cutoff: np.ndarray, n_keys: int, criteria: Criteria) -> AsOf:
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


def load_visits(deal_ids: np.ndarray, steps: dict[int, dict]) -> Visits:
    """The visits of the deals ``deal_ids`` (sorted) to the stream's ``steps``."""
    data = fetch_rows(
        Visit.objects.filter(step_id__in=list(steps))
        .annotate(at=Epoch("entered_at"))
        .values_list("deal_id", "step_id", "at", "work_minutes"),
        4,
    )
    deal = positions(deal_ids, data[:, 0])
    data, deal = data[deal >= 0], deal[deal >= 0]
    step = data[:, 1].astype(np.int64)
    step_ids = np.array(sorted(steps), dtype=np.int64)
    planned = np.array([steps[pk]["planned"] or 0.0 for pk in step_ids.tolist()], dtype=float)
    plan = planned[np.searchsorted(step_ids, step)] if len(step) else np.zeros(0)
    hours = np.where(np.isnan(data[:, 3]), plan, data[:, 3] / 60.0)
    return Visits(deal=deal, step=step, at=data[:, 2], hours=hours)


def owner_names(ids: set[int]) -> dict[int, str]:
    return {
        u.pk: (u.get_full_name() or u.get_username())
        for u in get_user_model().objects.filter(pk__in=ids)
    }
