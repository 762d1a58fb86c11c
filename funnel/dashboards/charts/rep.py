"""A rep's own view: the rep's figures beside the team's (time per step, win rate,
conversion) and the rep's headline tiles.
"""

from __future__ import annotations

from funnel.dashboards.charts.common import (
    BLUE,
    GREY,
    Chart,
    StreamMap,
    Tile,
    _bars,
    _blue_and_grey,
    _hbars,
    _pct,
    _pct_text,
    _plot,
    _stages_beside,
    _steps_axis,
    _steps_beside,
    _text_outside,
    _title,
    basis_of,
)
from funnel.metrics.results import MetricsResult

# --- A rep's own view -----------------------------------------------------------------------

YOU, TEAM = "You", "Team (everyone, you included)"


def _you_and_team_bars(
    categories: list[str],
    *,
    you: tuple[list, list],
    team: tuple[list, list],
    horizontal: bool,
    hover: str,
) -> list[dict]:
    """Two bar traces, the rep's (blue) and the team's (grey), each given as (values, n)
    with n shown on hover."""
    (you_values, you_n), (team_values, team_n) = you, team
    return _blue_and_grey(
        categories,
        dict(
            name=YOU,
            values=you_values,
            customdata=you_n,
            hovertemplate=f"{hover}<extra>you</extra>",
        ),
        dict(
            name=TEAM,
            values=team_values,
            customdata=team_n,
            hovertemplate=f"{hover}<extra>team</extra>",
        ),
        horizontal=horizontal,
    )


def my_time_per_step_chart(mine: MetricsResult, team: MetricsResult, smap: StreamMap) -> Chart:
    b = basis_of(mine)
    rows = [
        [
            name,
            b.in_days(s.median_hours),
            s.n_completed,
            b.in_days(t.median_hours) if t else None,
            t.n_completed if t else 0,
        ]
        for name, s, t in _steps_beside(mine, team, smap)
    ]
    chart = Chart(
        key="my_time_per_step",
        title="Your time per step, beside the team's",
        units=f"{b.days} (median time in step)",
        how_to_read=(
            "For each step, how long your deals typically stayed (blue) and how long the "
            "team's did (grey). A longer blue bar is a step where you could ask how others "
            "move deals along; a shorter one is something you can share."
        ),
        as_of=mine.computed_at,
        columns=["step", "your_median_days", "your_visits", "team_median_days", "team_visits"],
        rows=rows,
        wide=True,
    )
    if not any(r[1] is not None for r in rows):
        return chart.empty_because("None of your deals left a step in this period.")
    names = [r[0] for r in rows]
    return chart.plotted(
        _hbars(
            names,
            _you_and_team_bars(
                names,
                you=([r[1] for r in rows], [r[2] for r in rows]),
                team=([r[3] for r in rows], [r[4] for r in rows]),
                horizontal=True,
                hover="%{y}: %{x:.1f} d (%{customdata} visits)",
            ),
            per_row=20,
            barmode="group",
            xaxis={"title": _title(f"Median {b.days} in step")},
            label="Bar chart of your median time per step beside the team's",
        )
    )


def my_win_rate_chart(mine: MetricsResult, team: MetricsResult) -> Chart:
    rows = [
        [who, r.summary.won, r.summary.closed, _pct(r.summary.win_rate)]
        for who, r in ((YOU, mine), (TEAM, team))
    ]
    chart = Chart(
        key="my_win_rate",
        title="Your win rate, beside the team's",
        units="% of closed deals won",
        how_to_read=(
            "Of the deals closed in this period, the share won: yours and the whole team's "
            "(yours included). Under each name are the deals behind its rate; with few closed "
            "deals a rate moves a lot by chance."
        ),
        as_of=mine.computed_at,
        columns=["who", "won", "closed", "win_rate_pct"],
        rows=rows,
    )
    if rows[0][2] == 0:
        return chart.empty_because("None of your deals was won or lost in this period.")
    return chart.plotted(
        _plot(
            [
                _bars(
                    "Win rate",
                    [r[0] for r in rows],
                    [r[3] for r in rows],
                    marker={
                        "color": [BLUE, "#C5CDD6"],
                        "line": {"color": [BLUE, GREY], "width": 1},
                    },
                    **_text_outside([f"{r[3]:.0f}%" if r[3] is not None else "" for r in rows]),
                    customdata=[f"{r[1]} won of {r[2]} closed" for r in rows],
                    hovertemplate="%{y}: %{text}, %{customdata}<extra></extra>",
                ),
            ],
            height=220,
            showlegend=False,
            xaxis={"title": _title("Win rate (%)"), "range": [0, 100], "ticksuffix": "%"},
            yaxis=_steps_axis(
                [r[0] for r in rows],
                tickmode="array",
                tickvals=[r[0] for r in rows],
                ticktext=[
                    f"<b>{'You' if r[0] == YOU else 'Team'}</b><br>"
                    f"<span style='font-size:11px'>{r[1]} won of {r[2]}</span>"
                    for r in rows
                ],
            ),
            right=40,
            label="Bar chart of your win rate beside the team's",
        )
    )


def my_conversion_chart(mine: MetricsResult, team: MetricsResult, smap: StreamMap) -> Chart:
    rows = [
        [
            name,
            s.reached,
            _pct(s.cumulative_conversion),
            t.reached if t else 0,
            _pct(t.cumulative_conversion) if t else None,
        ]
        for name, s, t in _stages_beside(mine, team, smap)
    ]
    chart = Chart(
        key="my_conversion",
        title="How far your deals get, beside the team's",
        units="% of new deals reaching each stage",
        how_to_read=(
            "Of the deals that entered the stream in this period, the share that reached each "
            "funnel stage: yours (blue) and the team's (grey). Where your line of bars drops "
            "faster, deals leave earlier."
        ),
        as_of=mine.computed_at,
        columns=["stage", "your_reached", "your_pct", "team_reached", "team_pct"],
        rows=rows,
    )
    if not rows or not rows[0][1]:
        return chart.empty_because("None of your deals entered the stream in this period.")
    names = [r[0] for r in rows]
    return chart.plotted(
        _plot(
            _you_and_team_bars(
                names,
                you=([r[2] for r in rows], [r[1] for r in rows]),
                team=([r[4] for r in rows], [r[3] for r in rows]),
                horizontal=False,
                hover="%{x}: %{y:.0f}% (%{customdata} deals)",
            ),
            height=300,
            barmode="group",
            xaxis={"type": "category"},
            yaxis={"title": _title("% of new deals"), "range": [0, 105], "ticksuffix": "%"},
            label="Bar chart of the share of your deals reaching each stage beside the team's",
        )
    )


# --- Headline tiles -------------------------------------------------------------------------


def rep_tiles(mine: MetricsResult, team: MetricsResult, stalled_mine: int) -> list[Tile]:
    m, t, b = mine.summary, team.summary, basis_of(mine)
    return [
        Tile(
            "my_win_rate",
            "Your win rate",
            _pct_text(_pct(m.win_rate)),
            f"{m.won:,} won of {m.closed:,} closed · team {_pct_text(_pct(t.win_rate))}",
            "",
            None,
            m.closed < 5,
            "Won ÷ (won + lost) of your deals closed in the period.",
        ),
        Tile(
            "my_sales_cycle",
            "Your sales cycle",
            "—" if m.sales_cycle_days is None else f"{m.sales_cycle_days:.1f} {b.days}",
            f"over {m.won:,} won · team "
            + ("—" if t.sales_cycle_days is None else f"{t.sales_cycle_days:.1f} {b.days}"),
            "",
            None,
            m.won < 5,
            f"Median {b.days} from first step to won, your deals.",
        ),
        Tile(
            "my_open_deals",
            "Your open deals",
            f"{m.open_deals:,}",
            f"{stalled_mine:,} stalled",
            "",
            None,
            False,
            "Your deals neither won nor lost.",
        ),
        Tile(
            "my_new_deals",
            "Your new deals",
            f"{mine.cohort_deals:,}",
            f"{mine.cohort_won:,} won so far",
            "",
            None,
            False,
            "Your deals whose first step was in the period.",
        ),
    ]
