"""The asset library's demo: assets on most steps with versions, some due or stale, one widely
used that goes with winning, one nobody uses; added only when missing."""

from __future__ import annotations

import pytest

from funnel.assets import selectors
from funnel.assets.models import Asset, AssetUsage
from funnel.models import Deal, DealStatus, Visit
from streams.models import ValueStream
from vsm_project.demo import DEMO_TEAM_SLUG, demo_seed
from vsm_project.demo_assets import demo_assets_add

pytestmark = pytest.mark.django_db


def test_the_demo_library() -> None:
    result = demo_seed(deals=150, seed=3)
    assets = Asset.objects.filter(team__slug=DEMO_TEAM_SLUG)
    steps = ValueStream.objects.get(slug=result.stream_slug).steps
    covered = steps.filter(asset_links__isnull=False).distinct().count()
    assert covered >= steps.count() - 1
    states = {selectors.review_state(a) for a in assets}
    assert {"current", "due", "stale"} <= states
    assert max(a.versions.count() for a in assets) == 3
    assert [a.title for a in selectors.retire_suggestions(assets)] == ["Case study: Globex rollout"]
    # The value map: used on more of the won deals that reached discovery than of the others.
    value_map = assets.get(title="Customer value map")
    reached = set(
        Visit.objects.filter(
            step__name="Discovery meeting", deal__stream__slug=result.stream_slug
        ).values_list("deal_id", flat=True)
    )
    used = set(AssetUsage.objects.filter(asset=value_map).values_list("deal_id", flat=True))
    won = set(
        Deal.objects.filter(pk__in=reached, status=DealStatus.WON).values_list("pk", flat=True)
    )
    rest = reached - won
    assert won and rest
    assert len(used & won) / len(won) > len(used & rest) / len(rest)
    assert value_map.versions.first().file.read().startswith(b"%PDF")
    assert not demo_assets_add(team_slug=DEMO_TEAM_SLUG, anchor=value_map.created_at)
