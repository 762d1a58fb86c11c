"""The event log read once and cut in memory (funnel/forecasts/history.py) in working time:
the same model and open deals as ``measure(..., as_of=T)`` on test_metrics_working's log (an
office calendar by default, New York's for the AE lane, offsets filled)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from funnel.forecasts.history import EventLog
from funnel.forecasts.model import measure
from tests.funnel.forecasts.test_backtest import _same
from tests.funnel.test_metrics import at, vsm  # noqa: F401
from tests.funnel.test_metrics_working import log  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "cut",
    [
        "2026-04-08T12:00+02:00",
        "2026-04-14T12:00Z",
        "2026-04-22T09:30+02:00",
        "2026-05-12T09:00+02:00",
    ],
)
def test_the_log_cut_in_memory_equals_the_as_of_reading_in_working_time(log, cut):  # noqa: F811
    log.stream.time_basis = "working"
    log.stream.save(update_fields=["time_basis"])
    moment = at(cut)
    start = moment - timedelta(days=40)
    memory = EventLog(log.stream).as_of(moment, start=start)
    measured = measure(log.stream, now=moment, start=start, as_of=moment)
    assert measured[0].basis == memory[0].basis == "working"
    assert len(measured[1]) > 0 and measured[0].counts.sum() > 0
    _same(memory, measured)
