"""The 5S demo data (vsm_project/demo_five_s.py): three audits with a rising score and
checklists with ticks, added by the demo seed and, on a demo seeded before them, only when
missing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from funnel.standards.models import ChecklistItem, ChecklistTick
from funnel.standards.selectors import step_adherence
from kaizen.fives.models import FiveSAudit
from vsm_project.demo import DEMO_TEAM_SLUG, demo_seed
from vsm_project.demo_five_s import demo_five_s_add

pytestmark = pytest.mark.django_db

ANCHOR = datetime(2025, 6, 2, tzinfo=UTC)


def test_the_demo_has_rising_audits_and_ticked_checklists_added_only_when_missing():
    demo_seed(deals=60, leads=0, seed=7, anchor=ANCHOR)
    scores = list(FiveSAudit.objects.order_by("audited_on").values_list("score", flat=True))
    # Per S the mean answer ÷ 4, then the mean of the five S's. Last audit: Sort (3,3) 75 %,
    # Set in order (3,3) 75 %, Shine (3,2) 62.5 %, Standardize (3,3) 75 %, Sustain (3,2)
    # 62.5 % → 350 / 5 = 70 %; the first two likewise 150 / 5 = 30 %, 250 / 5 = 50 %.
    assert scores == [30.0, 50.0, 70.0]
    assert ChecklistItem.objects.count() == 8 and ChecklistTick.objects.exists()
    step = ChecklistItem.objects.first().step
    assert step_adherence(step).reached > 0
    assert demo_five_s_add(team_slug=DEMO_TEAM_SLUG, anchor=ANCHOR) is False
    FiveSAudit.objects.all().delete()
    ChecklistItem.objects.all().delete()
    assert demo_five_s_add(team_slug=DEMO_TEAM_SLUG, anchor=ANCHOR) is True
    assert FiveSAudit.objects.count() == 3
