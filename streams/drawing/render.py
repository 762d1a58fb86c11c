"""Layer 3 of the drawing: :func:`render_vsm_svg` fills ``templates/streams/vsm.svg`` with
the layout; :func:`stream_svg` reads a stream and draws it."""

from __future__ import annotations

from django.template.loader import render_to_string

from streams.drawing.data import VsmMap, vsm_map_data
from streams.drawing.geometry import BOX_H, BOX_TITLE_H, BOX_W, LABEL_W, MARGIN, Text
from streams.drawing.layout import vsm_layout
from streams.drawing.overlay import COLOUR, HEADROOM, discovered_overlay
from streams.models import ValueStream

_MEASURED_MID = 84 + (BOX_W - 84) / 2 + 1


def render_vsm_svg(data: VsmMap, discovered: list[tuple[int, int, int]] | None = None) -> str:
    """The map as one ``<svg>`` element (no XML declaration, so it can be inlined in HTML;
    it is also a valid standalone .svg file). With ``discovered`` (from step id, to step id,
    count), the discovered moves are drawn as an extra layer, hidden until the page's toggle
    shows it, and the lanes leave them room under the legend (``streams.drawing.overlay``)."""
    layout = vsm_layout(data, headroom=HEADROOM if discovered else 0)
    return render_to_string(
        "streams/vsm.svg",
        {
            "layout": layout,
            "overlay": discovered_overlay(layout, discovered) if discovered else [],
            "overlay_colour": COLOUR,
            "label_column": MARGIN + LABEL_W,
            "legend_tag_y": layout.legend_y - 10,
            "box": {
                "w": BOX_W,
                "h": BOX_H,
                "title_h": BOX_TITLE_H,
                "tag_y": BOX_TITLE_H + 3.5,
                "header_y": BOX_TITLE_H + 12,
                "label_x": 6,
                "planned_x": 84,
                "measured_x": BOX_W - 7,
                # "not measured yet", once per box, stacked in the measured column
                "not_measured": [
                    Text(_MEASURED_MID, BOX_TITLE_H + 14 + 13 * k, word)
                    for k, word in enumerate(("not", "measured", "yet"), start=1)
                ],
            },
        },
    ).strip()


def stream_svg(stream: ValueStream) -> str:
    """Read ``stream`` and draw it: ``render_vsm_svg(vsm_map_data(stream))``."""
    return render_vsm_svg(vsm_map_data(stream))
