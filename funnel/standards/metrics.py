"""The figures of standard work (docs/five-s.md, "How the figures are computed"): pure
functions over counts, with the qualification lab's statistics (``funnel.qualification.stats``:
the Wilson interval of a share, Fisher's exact p of the 2×2 table won/lost × with/without,
and its rule that a side with fewer than ``MIN_SIDE`` deals gets no p)."""

from __future__ import annotations

from dataclasses import dataclass

from funnel.qualification.stats import MIN_SIDE, fisher_p, interval, newcombe, wilson


def _share(successes: int, n: int) -> dict | None:
    found = wilson(successes, n)
    return interval(*found) if found else None


@dataclass(frozen=True)
class Adherence:
    """One step's checklist adherence and the win rate with and without it."""

    #: Deals that were at the step while it had a checklist.
    reached: int
    #: Of those, the deals with every active item ticked.
    complete: int
    #: Closed deals (won or lost) among ``reached``, with and without the full checklist.
    n_with: int
    won_with: int
    n_without: int
    won_without: int

    @property
    def adherence(self) -> dict | None:
        """``complete ÷ reached`` with its Wilson interval."""
        return _share(self.complete, self.reached)

    @property
    def win_rate_with(self) -> dict | None:
        return _share(self.won_with, self.n_with)

    @property
    def win_rate_without(self) -> dict | None:
        return _share(self.won_without, self.n_without)

    @property
    def difference(self) -> dict | None:
        """Win rate with − without, Newcombe's interval (as the lab's criteria)."""
        found = newcombe(self.won_with, self.n_with, self.won_without, self.n_without)
        return interval(*found) if found else None

    @property
    def p_value(self) -> float | None:
        """Fisher's exact two-sided p; None when a side has fewer than MIN_SIDE closed deals."""
        if min(self.n_with, self.n_without) < MIN_SIDE:
            return None
        return fisher_p(self.won_with, self.n_with, self.won_without, self.n_without)

    @property
    def too_few(self) -> bool:
        return min(self.n_with, self.n_without) < MIN_SIDE


def adherence(*, reached: set[int], complete: set[int], outcomes: dict[int, bool]) -> Adherence:
    """From deal ids: ``reached`` the step, ``complete`` (every item ticked) and the closed
    deals' ``outcomes`` (id → won)."""
    complete = complete & reached
    closed = {d: won for d, won in outcomes.items() if d in reached}
    with_ = [won for d, won in closed.items() if d in complete]
    without = [won for d, won in closed.items() if d not in complete]
    return Adherence(
        reached=len(reached),
        complete=len(complete),
        n_with=len(with_),
        won_with=sum(with_),
        n_without=len(without),
        won_without=sum(without),
    )
