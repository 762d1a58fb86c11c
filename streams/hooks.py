"""Extension points through which higher apps add to the map without ``streams`` importing
them (apps depend one way: streams ← funnel ← kaizen).

- ``funnel`` registers a *measures* provider: the measured figures of a stream's steps, read
  from its metric snapshots (``funnel.eventlog.selectors.measured_map``).
- ``kaizen`` registers a *bursts* provider: the steps with an open kaizen cycle
  (``kaizen.selectors.open_cycle_step_ids``).
- ``funnel`` registers a *step markers* provider: small labelled pills on a step's box, such
  as a hand-off point of the lead waterfall (``funnel.leads.map_markers``).
- ``funnel`` registers a *discovered edges* provider: the moves the deals made between the
  steps, with their counts, drawn as an overlay the map page can show
  (``funnel.discovery.map_markers.discovered_edges``).
- ``kaizen`` registers a *stream panels* provider: a small card on the stream's page, such as
  its latest 5S audit score and trend (``kaizen.fives.panel``).
- ``kaizen`` registers a *team panels* provider: the leadership cockpit on the team's
  dashboard page (``kaizen.cockpit.panels.team_cockpit_panel``), and an *account panels*
  provider: the weekly digest's opt-in on the account page
  (``kaizen.cockpit.panels.digest_account_panel``).

Providers are registered in each app's ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from streams.metrics import MeasuredMap
from streams.models import ValueStream

P = TypeVar("P", bound=Callable[..., Any])


class Providers(Generic[P]):
    """The providers registered at one extension point, each once, in the order registered."""

    def __init__(self) -> None:
        self._providers: list[P] = []

    def register(self, provider: P) -> None:
        if provider not in self._providers:
            self._providers.append(provider)

    def unregister(self, provider: P) -> None:
        if provider in self._providers:
            self._providers.remove(provider)

    def __iter__(self) -> Iterator[P]:
        # A copy: a provider may register or unregister another while they are called.
        return iter(list(self._providers))

    def first(self, *args: Any) -> Any:
        """The first provider's answer to ``args`` that is not None (None: no provider has
        one)."""
        for provider in self:
            answer = provider(*args)
            if answer is not None:
                return answer
        return None

    def every(self, *args: Any) -> list:
        """Every provider's answer to ``args`` that is not None, in the order registered."""
        return [answer for answer in (provider(*args) for provider in self) if answer is not None]


#: ``provider(stream, basis)``: the measured figures in ``basis`` ("elapsed" or "working").
MeasuresProvider = Callable[[ValueStream, str], MeasuredMap | None]
BurstsProvider = Callable[[ValueStream], set[int]]
#: ``provider(stream)``: per step id, the markers to draw on its box as (symbol, tooltip);
#: the symbol is a few letters (it fits a pill of 24 px), the tooltip says what it means.
StepMarkersProvider = Callable[[ValueStream], dict[int, list[tuple[str, str]]]]
#: ``provider(stream)``: the moves the deals made, as (from step id, to step id, count), or
#: None when nothing has been discovered yet.
DiscoveredEdgesProvider = Callable[[ValueStream], list[tuple[int, int, int]] | None]


@dataclass(frozen=True)
class StreamPanel:
    """A card on the stream's page: ``template`` rendered with ``context`` as ``panel``."""

    template: str
    context: dict = field(default_factory=dict)


#: ``provider(stream, user)``: the panel to show, or None.
StreamPanelProvider = Callable[[ValueStream, object], StreamPanel | None]
#: ``provider(team, user)``: a panel for the team's page (its dashboard), or None.
TeamPanelProvider = Callable[[object, object], StreamPanel | None]
#: ``provider(user)``: a panel for the person's account page, or None.
AccountPanelProvider = Callable[[object], StreamPanel | None]

_measures: Providers[MeasuresProvider] = Providers()
_bursts: Providers[BurstsProvider] = Providers()
_step_markers: Providers[StepMarkersProvider] = Providers()
_discovered_edges: Providers[DiscoveredEdgesProvider] = Providers()
_stream_panels: Providers[StreamPanelProvider] = Providers()
_team_panels: Providers[TeamPanelProvider] = Providers()
_account_panels: Providers[AccountPanelProvider] = Providers()

register_measures = _measures.register
register_bursts = _bursts.register
register_step_markers = _step_markers.register
register_discovered_edges = _discovered_edges.register
register_stream_panel = _stream_panels.register
register_team_panel = _team_panels.register
register_account_panel = _account_panels.register


def measured_map(stream: ValueStream, basis: str | None = None) -> MeasuredMap | None:
    """The first provider's measurement of ``stream`` in ``basis`` (default: the stream's
    ``time_basis``; the provider falls back to elapsed time where there is no working time),
    or None: "not measured yet".

    A measurement without a single completed visit has no summary (``summary=None``: "no
    data yet"): its sums would read as a measured lead time of 0 h, which nobody measured."""
    measured = _measures.first(stream, basis or stream.time_basis)
    return None if measured is None else _without_empty_summary(measured)


def _without_empty_summary(measured: MeasuredMap) -> MeasuredMap:
    if measured.summary is None or any(step.n for step in measured.steps.values()):
        return measured
    return replace(measured, summary=None)


def burst_step_ids(stream: ValueStream) -> set[int]:
    """Ids of the steps of ``stream`` that carry a kaizen burst."""
    ids: set[int] = set()
    for provider in _bursts:
        ids |= provider(stream)
    return ids


def step_markers(stream: ValueStream) -> dict[int, list[tuple[str, str]]]:
    """Every provider's markers of the steps of ``stream``, by step id."""
    markers: dict[int, list[tuple[str, str]]] = {}
    for provider in _step_markers:
        for step_id, items in provider(stream).items():
            markers.setdefault(step_id, []).extend(items)
    return markers


def discovered_edges(stream: ValueStream) -> list[tuple[int, int, int]] | None:
    """The first provider's discovered moves of ``stream`` (from step id, to step id, count),
    or None: nothing discovered yet (no overlay to draw)."""
    return _discovered_edges.first(stream)


def stream_panels(stream: ValueStream, user: object) -> list[StreamPanel]:
    """The panels the higher apps add to the page of ``stream`` for ``user``."""
    return _stream_panels.every(stream, user)


def team_panels(team: object, user: object) -> list[StreamPanel]:
    """The panels the higher apps add to the page of ``team`` for ``user``."""
    return _team_panels.every(team, user)


def account_panels(user: object) -> list[StreamPanel]:
    """The panels the higher apps add to ``user``'s account page."""
    return _account_panels.every(user)
