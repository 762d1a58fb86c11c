"""The questions a stream's 5S audit starts with (docs/five-s.md)."""

from __future__ import annotations

from kaizen.fives.models import FiveS

#: The questions a stream starts with, two per S; the team's managers edit them.
DEFAULT_QUESTIONS: dict[str, tuple[str, ...]] = {
    FiveS.SORT: (
        "Assets nobody used in the last quarter have been retired.",
        "There is one current version of each asset; no copies drift in inboxes or drives.",
    ),
    FiveS.SET_IN_ORDER: (
        "Every step of the map lists the assets it needs.",
        "A rep finds the asset for the deal's current step in under a minute.",
    ),
    FiveS.SHINE: (
        "Every asset was reviewed within its review interval.",
        "Figures, prices and customer stories in the assets are current.",
    ),
    FiveS.STANDARDIZE: (
        "Each step has a definition of done the team agrees on.",
        "Reps tick the definition of done on their deals.",
    ),
    FiveS.SUSTAIN: (
        "The last audit's findings became kaizen cycles or were closed.",
        "Each asset has an owner who keeps it fresh.",
    ),
}
