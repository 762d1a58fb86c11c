"""The asset library's database rules, on SQLite and PostgreSQL (a dialect test: SQLite
drops a table's triggers when a migration rebuilds it)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from funnel.assets import services
from funnel.assets.models import AssetStep, AssetUsage
from tests.funnel.assets.conftest import upload


def test_the_database_keeps_assets_within_their_team(team_setup) -> None:
    """Triggers (funnel/assets/rules.py): even past the services, no cross-team attachment
    or usage can be stored."""
    ns = team_setup
    asset = services.asset_create(user=ns.manager_a, team=ns.team_a, title="A", upload=upload())
    for row in (
        AssetStep(asset=asset, step=ns.steps_b[0], attached_at=ns.t),
        AssetUsage(asset=asset, deal=ns.deal_b, user=ns.rep_b, used_at=ns.t),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            row.save()
    AssetStep.objects.create(asset=asset, step=ns.steps_a[0], attached_at=ns.t)
