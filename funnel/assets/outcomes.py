"""Usage against outcome (issue 17, point 5; docs/assets.md, "Usage and outcome").

The figures, over a window of closing dates ``[start, end)`` (UTC days, ``end`` left out,
the last 365 days by default):

- **usage** per asset (the deals it was used on, the people who used it, the taps), per step
  (the step the deal was at when it was used) and per rep, from ``AssetUsage`` rows whose
  ``used_at`` falls in the window;
- **with and without**, per asset: among the deals closed (won or lost) in the window that
  visited one of the asset's steps (``AssetStep``), those it was used on against the others:
  the win rate of each side with its Wilson 95 % interval and n, the difference with
  Newcombe's interval, Fisher's exact p, and the median time the deals spent in the steps
  *after* the asset's step (the first of its steps the deal reached, by position), each with
  its n, over the *won* deals only (a lost deal leaves the process early, so with the lost
  ones the median would say more about how many were lost than about speed). The statistics
  are the qualification lab's (``funnel.qualification.stats``): a side
  with fewer than ``MIN_SIDE`` closed deals gets no p and no verdict ("not enough deals yet");
- **assets nobody uses**: active assets with no usage in the window; **steps with no
  assets**: steps of the team's maps with no active asset attached.

Time basis: working time (``exited_w − entered_w``, the stored offsets) when every stream
involved shows working time by default (``stream_basis``), else elapsed time; the figures say
which. A deal that closed at the asset's step (it never entered a later one) has no time in
the following steps and is left out of the time's n, not counted as zero.
"Steps with no assets" looks at the current-state maps only (a future-state map has no deals).

It is an association, not proof: the deals a rep chooses to use an asset on may differ from
the others in ways the asset did not cause. A kaizen cycle's Check is where a change is tested.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from funnel.assets.models import Asset, AssetStep, AssetUsage, ProposalState
from funnel.assets.selectors import active_attachments
from funnel.metrics.engine import stream_basis, working_day_hours
from funnel.metrics.query import ELAPSED, WORKING
from funnel.metrics.sql import epoch_hours
from funnel.models import Deal, DealStatus, Visit
from funnel.qualification.stats import MIN_SIDE, fisher_p, interval, newcombe, wilson
from streams.models import ProcessStep, Role, StreamState, Team, ValueStream
from streams.selectors import User, role_in_team

#: The default window: the last 365 days of closing dates.
DEFAULT_DAYS = 365


# --- The window ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Closing dates (and usage times) ``[start, end)``, UTC."""

    start: datetime
    end: datetime

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()

    def text(self) -> str:
        return f"{self.start:%-d %b %Y} – {self.last_day:%-d %b %Y}"

    def params(self) -> dict[str, str]:
        return {"start": self.start.date().isoformat(), "end": self.end.date().isoformat()}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def default_window(now: datetime | None = None) -> Window:
    """The last ``DEFAULT_DAYS`` days, today included."""
    end = _midnight((now or timezone.now()).astimezone(UTC).date() + timedelta(days=1))
    return Window(end - timedelta(days=DEFAULT_DAYS), end)


def window_from(params, now: datetime | None = None) -> Window:
    """The window of ``start`` and ``end`` (ISO dates, either may be left out);
    ``ValidationError`` naming the field when one is not a date or the window is empty."""
    default = default_window(now)
    found: dict[str, datetime] = {}
    errors: dict[str, str] = {}
    for name in ("start", "end"):
        text = (params.get(name) or "").strip()
        if not text:
            continue
        try:
            found[name] = _midnight(date.fromisoformat(text))
        except ValueError:
            errors[name] = "Enter a date as YYYY-MM-DD."
    if errors:
        raise ValidationError(errors)
    end = found.get("end", default.end)
    try:
        start = found.get("start", end - timedelta(days=DEFAULT_DAYS))
    except OverflowError:
        raise ValidationError({"end": "Enter a later date."}) from None
    if start >= end:
        raise ValidationError({"end": "The end must come after the start."})
    return Window(start, end)


# --- With and without (pure) --------------------------------------------------------------


def _share(successes: int, n: int) -> dict | None:
    found = wilson(successes, n)
    return interval(*found) if found else None


@dataclass(frozen=True)
class Side:
    """The closed deals of one side: ``n`` of them, ``won`` won, and the hours each won deal
    spent in the steps after the asset's step (those that entered one)."""

    n: int
    won: int
    hours: tuple[float, ...] = ()

    @property
    def win_rate(self) -> dict | None:
        """``won ÷ n`` with its Wilson 95 % interval."""
        return _share(self.won, self.n)

    @property
    def time_n(self) -> int:
        return len(self.hours)

    @property
    def median_hours(self) -> float | None:
        return statistics.median(self.hours) if self.hours else None


@dataclass(frozen=True)
class Outcome:
    """One asset's with and without: ``used`` the deals it was used on, ``other`` the rest of
    the closed deals that reached its steps."""

    used: Side
    other: Side
    basis: str = ELAPSED
    #: Hours in a day of ``basis`` (24 elapsed; the calendar's working day in working time).
    day_hours: float = 24.0

    @property
    def reached(self) -> int:
        return self.used.n + self.other.n

    @property
    def too_few(self) -> bool:
        """Either side under ``MIN_SIDE`` closed deals: no p, no verdict."""
        return min(self.used.n, self.other.n) < MIN_SIDE

    @property
    def difference(self) -> dict | None:
        """Win rate with − without, Newcombe's hybrid score interval."""
        found = newcombe(self.used.won, self.used.n, self.other.won, self.other.n)
        return interval(*found) if found else None

    @property
    def p_value(self) -> float | None:
        """Fisher's exact two-sided p; None when a side has fewer than ``MIN_SIDE`` deals."""
        if self.too_few:
            return None
        return fisher_p(self.used.won, self.used.n, self.other.won, self.other.n)

    @property
    def verdict(self) -> str:
        """``too_few``; ``higher`` or ``lower`` (p < 0.05, by the difference's sign); else
        ``no_clear_difference``. A word for the page, never a cause."""
        p = self.p_value
        if p is None:
            return "too_few"
        if p < 0.05:
            return "higher" if self.difference["value"] > 0 else "lower"
        return "no_clear_difference"

    def median_days(self, side: Side) -> float | None:
        hours = side.median_hours
        return None if hours is None else hours / self.day_hours


def outcome(
    *,
    reached: dict[int, tuple[bool, float | None]],
    used: set[int],
    basis: str = ELAPSED,
    day_hours: float = 24.0,
) -> Outcome:
    """From the closed deals that reached the asset's steps (id → (won, hours in the
    following steps or None)) and the ids of the deals it was used on. Times are the won
    deals' only."""
    sides: dict[bool, list[tuple[bool, float | None]]] = {True: [], False: []}
    for deal_id, row in reached.items():
        sides[deal_id in used].append(row)

    def side(rows: list[tuple[bool, float | None]]) -> Side:
        return Side(
            n=len(rows),
            won=sum(1 for won, _ in rows if won),
            hours=tuple(sorted(h for won, h in rows if won and h is not None)),
        )

    return Outcome(
        used=side(sides[True]), other=side(sides[False]), basis=basis, day_hours=day_hours
    )


# --- Reads --------------------------------------------------------------------------------


@dataclass
class _Log:
    """The closed deals of the team's streams in the window and their visits."""

    #: deal id → won
    won: dict[int, bool] = field(default_factory=dict)
    #: deal id → [(step id, position, elapsed hours, working hours or None)]
    visits: dict[int, list[tuple[int, int, float, float | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    #: deal id → stream id
    stream: dict[int, int] = field(default_factory=dict)


def _log(team_id: int, window: Window, step_ids: set[int] | None = None) -> _Log:
    """The closed deals (of those that visited ``step_ids``, when given) and their ended
    visits, each visit's elapsed hours computed by the database (reading the timestamps
    into Python would cost more than everything else here)."""
    log = _Log()
    deals = Deal.objects.filter(
        stream__team_id=team_id,
        status__in=[DealStatus.WON, DealStatus.LOST],
        closed_at__gte=window.start,
        closed_at__lt=window.end,
    )
    if step_ids is not None:
        deals = deals.filter(pk__in=Visit.objects.filter(step_id__in=step_ids).values("deal_id"))
    for pk, status, stream_id in deals.values_list("pk", "status", "stream_id"):
        log.won[pk] = status == DealStatus.WON
        log.stream[pk] = stream_id
    if not log.won:
        return log
    table = Visit._meta.db_table
    elapsed = RawSQL(
        f"{epoch_hours(f'{table}.exited_at')} - {epoch_hours(f'{table}.entered_at')}", []
    )
    visits = (
        Visit.objects.filter(deal__in=deals.values("pk"), exited_at__isnull=False)
        .annotate(elapsed=elapsed)
        .values_list("deal_id", "step_id", "step__position", "elapsed", "entered_w", "exited_w")
    )
    for deal_id, step_id, position, hours, entered_w, exited_w in visits:
        working = None
        if entered_w is not None and exited_w is not None:
            working = (exited_w - entered_w) / 3600
        log.visits[deal_id].append((step_id, position, round(float(hours), 6), working))
    return log


def _reached(log: _Log, step_ids: set[int], basis: str) -> dict[int, tuple[bool, float | None]]:
    """The closed deals that visited one of ``step_ids``, each with (won, the hours it spent
    in the steps after the first of them it reached, or None when it entered none, or when a
    working duration is missing)."""
    found: dict[int, tuple[bool, float | None]] = {}
    for deal_id, visits in log.visits.items():
        at = [position for step_id, position, _, _ in visits if step_id in step_ids]
        if not at:
            continue
        first = min(at)
        later = [v for v in visits if v[1] > first]
        hours: float | None = None
        if later:
            column = [v[3] if basis == WORKING else v[2] for v in later]
            hours = None if None in column else float(sum(column))
        found[deal_id] = (log.won[deal_id], hours)
    return found


def _basis(stream_ids: set[int]) -> str:
    """Working time when every stream shows it by default, else elapsed."""
    streams = list(ValueStream.objects.filter(pk__in=stream_ids))
    if streams and all(stream_basis(s) == WORKING for s in streams):
        return WORKING
    return ELAPSED


def _attached(assets: list[Asset]) -> dict[int, set[int]]:
    """Each asset's attached step ids."""
    found: dict[int, set[int]] = defaultdict(set)
    for asset_id, step_id in AssetStep.objects.filter(asset__in=assets).values_list(
        "asset_id", "step_id"
    ):
        found[asset_id].add(step_id)
    return found


def _used_on(asset_ids: list[int]) -> dict[int, set[int]]:
    """Each asset's deals it was used on (at any time: the deal's outcome is what counts)."""
    found: dict[int, set[int]] = defaultdict(set)
    for asset_id, deal_id in (
        AssetUsage.objects.filter(asset_id__in=asset_ids).values_list("asset_id", "deal_id")
    ).distinct():
        found[asset_id].add(deal_id)
    return found


def _outcomes(team: Team, assets: list[Asset], window: Window) -> dict[int, Outcome | None]:
    """Each asset's :class:`Outcome` (None for an asset on no step)."""
    steps = _attached(assets)
    # One asset (its page): only the deals that visited its steps are read.
    only = set().union(*steps.values()) if len(assets) == 1 else None
    log = _log(team.pk, window, only)
    step_streams = dict(
        ProcessStep.objects.filter(stream__team=team).values_list("pk", "stream_id")
    )
    used = _used_on([a.pk for a in assets])
    day_hours = None
    found: dict[int, Outcome | None] = {}
    for asset in assets:
        step_ids = steps.get(asset.pk, set())
        if not step_ids:
            found[asset.pk] = None
            continue
        basis = _basis({step_streams[s] for s in step_ids if s in step_streams})
        if basis == WORKING and day_hours is None:
            day_hours = working_day_hours(team.pk)
        found[asset.pk] = outcome(
            reached=_reached(log, step_ids, basis),
            used=used.get(asset.pk, set()),
            basis=basis,
            day_hours=day_hours if basis == WORKING else 24.0,
        )
    return found


def asset_outcome(asset: Asset, window: Window) -> Outcome | None:
    """One asset's with and without; None when it is on no step."""
    return _outcomes(asset.team, [asset], window)[asset.pk]


def _usages(team: Team, window: Window):
    return AssetUsage.objects.filter(
        asset__team=team, used_at__gte=window.start, used_at__lt=window.end
    )


def asset_usage(asset: Asset, window: Window) -> dict:
    """Deals, people and taps of one asset in the window."""
    return (
        _usages(asset.team, window)
        .filter(asset=asset)
        .aggregate(
            deals=Count("deal_id", distinct=True),
            users=Count("user_id", distinct=True),
            uses=Count("id"),
        )
    )


def sees_every_rep(user: User, team_id: int) -> bool:
    """Managers, leadership and admins see usage per rep for everyone; a rep, their own."""
    return user.is_staff or role_in_team(user, team_id) != Role.REP


def _name(first: str, last: str, username: str | None) -> str:
    return f"{first} {last}".strip() or username or "—"


def active_assets(team: Team) -> list[Asset]:
    return list(
        Asset.objects.filter(team=team, state=ProposalState.ACCEPTED, retired_at__isnull=True)
    )


@dataclass
class Report:
    """The library's "Usage and outcome" report of one team."""

    team: Team
    window: Window
    #: Per active asset: asset, its usage, its outcome (None: on no step).
    assets: list[dict]
    by_step: list[dict]
    #: Every rep's row, or only the viewer's (a rep).
    by_rep: list[dict]
    own_only: bool
    unused: list[Asset]
    steps_without: list[ProcessStep]
    min_side: int = MIN_SIDE


def team_report(team: Team, window: Window, user: User) -> Report:
    """Usage per asset, step and rep; each active asset's with and without; the assets
    nobody used in the window and the steps with no asset."""
    assets = active_assets(team)
    usages = _usages(team, window)
    per_asset = {
        row["asset_id"]: {k: row[k] for k in ("deals", "users", "uses")}
        for row in usages.values("asset_id").annotate(
            deals=Count("deal_id", distinct=True),
            users=Count("user_id", distinct=True),
            uses=Count("id"),
        )
    }
    outcomes = _outcomes(team, assets, window)
    empty = {"deals": 0, "users": 0, "uses": 0}
    rows = [
        {"asset": a, "usage": per_asset.get(a.pk, empty), "outcome": outcomes[a.pk]} for a in assets
    ]
    rows.sort(key=lambda r: (-r["usage"]["deals"], r["asset"].title.lower()))
    by_step = [
        {
            "step_id": row["step_id"],
            "step": row["step__name"] or "(step not known)",
            "stream": row["step__stream__name"] or "",
            "deals": row["deals"],
            "assets": row["assets"],
            "uses": row["uses"],
        }
        for row in usages.values("step_id", "step__name", "step__stream__name", "step__position")
        .annotate(
            deals=Count("deal_id", distinct=True),
            assets=Count("asset_id", distinct=True),
            uses=Count("id"),
        )
        .order_by("step__stream__name", "step__position")
    ]
    own_only = not sees_every_rep(user, team.pk)
    reps = usages.filter(user=user) if own_only else usages
    by_rep = sorted(
        (
            {
                "user_id": row["user_id"],
                "name": _name(
                    row["user__first_name"] or "",
                    row["user__last_name"] or "",
                    row["user__username"],
                ),
                "deals": row["deals"],
                "assets": row["assets"],
                "uses": row["uses"],
            }
            for row in reps.values(
                "user_id", "user__first_name", "user__last_name", "user__username"
            ).annotate(
                deals=Count("deal_id", distinct=True),
                assets=Count("asset_id", distinct=True),
                uses=Count("id"),
            )
        ),
        key=lambda r: (-r["deals"], r["name"]),
    )
    used_ids = set(per_asset)
    covered = active_attachments().values("step_id")
    steps_without = list(
        ProcessStep.objects.filter(stream__team=team, stream__state=StreamState.CURRENT)
        .filter(~Q(pk__in=covered))
        .select_related("stream")
        .order_by("stream__name", "position")
    )
    return Report(
        team=team,
        window=window,
        assets=rows,
        by_step=by_step,
        by_rep=by_rep,
        own_only=own_only,
        unused=[a for a in assets if a.pk not in used_ids],
        steps_without=steps_without,
    )
