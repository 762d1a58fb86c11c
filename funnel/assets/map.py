"""The asset library on the map (Set in order): a pill on each step's box with its number of
assets (``streams.hooks.register_step_markers``), and a card on the stream's page listing
each step's assets and the steps with none (``register_stream_panel``); both registered in
``funnel.apps``. Retired and proposed assets are left out."""

from __future__ import annotations

from funnel.assets.selectors import step_asset_counts, step_assets
from streams.hooks import StreamPanel
from streams.models import ValueStream


def asset_markers(stream: ValueStream) -> dict[int, list[tuple[str, str]]]:
    """Per step with assets: ("A<n>", "n assets attached to this step …")."""
    return {
        step_id: [
            (
                f"A{n}",
                f"{n} asset{'s' if n != 1 else ''} attached to this step: see "
                "“Assets by step” below the map, or the asset library.",
            )
        ]
        for step_id, n in step_asset_counts(stream).items()
    }


def asset_panel(stream: ValueStream, user: object) -> StreamPanel | None:
    """Each step of the map with its assets, in map order."""
    steps = list(stream.steps.order_by("position"))
    if not steps:
        return None
    by_step = step_assets([s.pk for s in steps])
    return StreamPanel(
        template="funnel/assets/_map_panel.html",
        context={
            "stream": stream,
            "rows": [(step, by_step.get(step.pk, [])) for step in steps],
            "bare": [step for step in steps if step.pk not in by_step],
            "any": bool(by_step),
        },
    )
