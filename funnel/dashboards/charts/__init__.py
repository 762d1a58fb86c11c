"""Dashboard charts: the metric snapshots (``MetricsResult``) and chart series
(``ChartSeries``) of ``funnel.metrics`` turned into Plotly figures, with everything a chart
card shows around them: title, units, how to read it, "as of", the empty state, and the
numbers plotted as a table (the chart's CSV download and its data-table alternative).

Every chart is built the same way: first the rows of its table, then the figure *from those
rows*, so the CSV holds exactly the numbers the chart shows.

Figures are plain Plotly figure specs (``{"data": [...], "layout": {...}}``, the JSON that
``plotly.graph_objects.Figure.to_plotly_json`` gives), not ``Figure`` objects: building a
``Figure`` validates every property, about 8 ms a figure, and a dashboard has up to twenty
figures, which alone would be many times the cost of serving a page. The tests pass every
spec through ``plotly.graph_objects.Figure`` (``as_figure``), so a wrong property still
fails CI.

Colours are the Okabe–Ito palette, readable with every common colour-vision deficiency; where
two series must be told apart they also differ in marker shape, dash or position.

One module per dashboard, each chart with its explanation text:

- ``common``: palette, layout and axis helpers, the traces and figures every chart is drawn
  with, ``Figure``/``Chart``/``Tile``, the stream's map (``StreamMap``, ``Named``), number and
  time helpers, the change text of headline tiles;
- ``funnel``: the funnel dashboard (funnel, velocity levers, closed per week, stage time,
  cohorts) and its tiles;
- ``flow``: the flow dashboard (cumulative flow, aging, cycle time, time in step,
  throughput, Little's law) and its tiles;
- ``waste``: the waste dashboard (Pareto in hours and money, by step, counts, timeline
  ladder) and its tiles;
- ``rep``: a rep's own view (time per step, win rate, conversion beside the team's) and its
  tiles;
- ``team``: the streams of a team side by side;
- ``quality``: the Quality dashboard, the qualification lab's result (forest plot of the
  lifts, win rates met and not met, calibration of the model and of the reps' win calls,
  walk-away rules, score coverage by step and by rep) and its tiles.

This package re-exports every public name, so ``from funnel.dashboards.charts import funnel_chart``
keeps working. A test that patches a helper patches it where the chart looks it up: the
module of that chart (``funnel.dashboards.charts.flow._zone``), not ``common`` nor this package.
"""

from __future__ import annotations

from funnel.dashboards.charts.common import (
    BLACK,
    BLUE,
    CURRENCY_SYMBOLS,
    FONT,
    GREEN,
    GREY,
    GRID,
    INK,
    LEGEND,
    ORANGE,
    PURPLE,
    SERIES,
    SKY,
    TABLE_ROWS,
    VERMILLION,
    VIRIDIS,
    WASTE_COLOURS,
    YELLOW,
    Chart,
    Figure,
    Named,
    StageInfo,
    StepInfo,
    StreamMap,
    Tile,
    as_figure,
)
from funnel.dashboards.charts.flow import (
    aging_chart,
    cumulative_flow_chart,
    cycle_time_chart,
    flow_tiles,
    littles_law_chart,
    throughput_chart,
    time_in_step_chart,
)
from funnel.dashboards.charts.funnel import (
    FUNNEL_COLUMNS,
    LEVERS,
    closed_per_week_chart,
    cohort_chart,
    funnel_chart,
    funnel_tiles,
    stage_time_chart,
    velocity_levers_chart,
    win_rate_tile,
)
from funnel.dashboards.charts.quality import (
    VERDICTS,
    calibration_chart,
    coverage_charts,
    forest_chart,
    lab_tiles,
    rules_chart,
    win_calls_chart,
    win_rates_chart,
)
from funnel.dashboards.charts.rep import (
    TEAM,
    YOU,
    my_conversion_chart,
    my_time_per_step_chart,
    my_win_rate_chart,
    rep_tiles,
)
from funnel.dashboards.charts.team import (
    StreamFigures,
    team_funnels_chart,
    team_velocity_chart,
    team_win_rate_chart,
)
from funnel.dashboards.charts.waste import (
    HOUR_WASTES,
    MONEY_WASTES,
    VALUE_CLASS_LABELS,
    timeline_ladder_chart,
    waste_by_step_chart,
    waste_counts_chart,
    waste_money_chart,
    waste_pareto_chart,
    waste_tiles,
)

__all__ = [
    "BLACK",
    "BLUE",
    "CURRENCY_SYMBOLS",
    "FONT",
    "FUNNEL_COLUMNS",
    "GREEN",
    "GREY",
    "GRID",
    "HOUR_WASTES",
    "INK",
    "LEGEND",
    "LEVERS",
    "MONEY_WASTES",
    "ORANGE",
    "PURPLE",
    "SERIES",
    "SKY",
    "TABLE_ROWS",
    "TEAM",
    "VALUE_CLASS_LABELS",
    "VERDICTS",
    "VERMILLION",
    "VIRIDIS",
    "WASTE_COLOURS",
    "YELLOW",
    "YOU",
    "Chart",
    "Figure",
    "Named",
    "StageInfo",
    "StepInfo",
    "StreamFigures",
    "StreamMap",
    "Tile",
    "aging_chart",
    "as_figure",
    "calibration_chart",
    "closed_per_week_chart",
    "cohort_chart",
    "coverage_charts",
    "cumulative_flow_chart",
    "cycle_time_chart",
    "flow_tiles",
    "forest_chart",
    "funnel_chart",
    "funnel_tiles",
    "lab_tiles",
    "littles_law_chart",
    "my_conversion_chart",
    "my_time_per_step_chart",
    "my_win_rate_chart",
    "rep_tiles",
    "rules_chart",
    "stage_time_chart",
    "team_funnels_chart",
    "team_velocity_chart",
    "team_win_rate_chart",
    "throughput_chart",
    "time_in_step_chart",
    "timeline_ladder_chart",
    "velocity_levers_chart",
    "waste_by_step_chart",
    "waste_counts_chart",
    "waste_money_chart",
    "waste_pareto_chart",
    "waste_tiles",
    "win_calls_chart",
    "win_rate_tile",
    "win_rates_chart",
]
