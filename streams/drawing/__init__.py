"""The value stream map drawing, rendered on the server as SVG.

Three layers, each testable on its own:

1. :func:`vsm_map_data` reads one stream (a handful of queries) into a :class:`VsmMap` of
   plain values: lanes, stages, steps with their planned figures, the measured figures
   (``streams.hooks.measured_map``), the steps carrying a kaizen burst
   (``streams.hooks.burst_step_ids``) and the planned summary box (metrics.md §3, computed by
   ``streams.metrics.map_summary``).
2. :func:`vsm_layout` turns a :class:`VsmMap` into coordinates and display strings (a
   :class:`Layout` of small dataclasses). Every step gets one fixed-width column in map order,
   so a long map gets wide, never cramped.
3. :func:`render_vsm_svg` fills ``templates/streams/vsm.svg`` with the layout. The template
   is autoescaped: names are never put into markup anywhere else, so a step called
   ``<script>`` is drawn as text.

The SVG is self-contained (presentation attributes only, no ``<style>`` and no ids other than
the title/desc ones, which carry the stream id), because it is inlined into pages next to
other maps and also downloaded as a standalone file.

The package, by concern: ``data.py`` (the map read from the database), ``formatting.py``
(figures and names as the map shows them, text measurement), ``geometry.py`` (sizes, value
class styles, the layout's dataclasses), ``summary.py`` (the summary box), ``layout.py`` (the
bands, boxes, arrows, ladder and legend) and ``render.py`` (the SVG). Import from
``streams.drawing``: the names below are its public face.
"""

from streams.drawing.data import (
    VsmLane,
    VsmMap,
    VsmStage,
    VsmStep,
    vsm_map_data,
)
from streams.drawing.formatting import (
    format_hours,
    format_percent,
    format_ratio,
    format_work_hours,
    truncate,
    wrap,
)
from streams.drawing.geometry import COL_W, Layout
from streams.drawing.layout import vsm_layout
from streams.drawing.render import render_vsm_svg, stream_svg

__all__ = (
    "COL_W",
    "Layout",
    "VsmLane",
    "VsmMap",
    "VsmStage",
    "VsmStep",
    "format_hours",
    "format_percent",
    "format_ratio",
    "format_work_hours",
    "render_vsm_svg",
    "stream_svg",
    "truncate",
    "vsm_layout",
    "vsm_map_data",
    "wrap",
)
