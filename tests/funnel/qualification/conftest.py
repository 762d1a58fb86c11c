"""Fixtures of the qualification tests: team_setup's stream A with a MEDDPICC set."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from funnel.qualification.services import criteria_set_start


@pytest.fixture
def qual(team_setup: SimpleNamespace) -> SimpleNamespace:
    """``team_setup`` plus stream A's MEDDPICC criteria (``criteria``, in order) and
    ``crit``: the first one (Metrics)."""
    ns = team_setup
    ns.criteria_set = criteria_set_start(stream=ns.stream_a, preset="meddpicc", user=ns.manager_a)
    ns.criteria = list(ns.criteria_set.criteria.order_by("position"))
    ns.crit = ns.criteria[0]
    return ns
