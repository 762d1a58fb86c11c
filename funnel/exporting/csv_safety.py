"""Spreadsheet formulas in CSV files ("CSV injection", OWASP): the one rule that every CSV the
product writes (the event-log export, the dashboards' downloads, the import's error lists) and
the import's check share, so what the export neutralises the import takes back.

A cell is a *formula* when its first character after any leading blanks (space, tab, CR, LF,
the ideographic space) is ``=`` or ``@``, or ``+`` / ``-`` followed by something that is not a
plain number, date or phone number (``-5``, ``+49 30 1234`` and ``2025-03-03`` stay as they
are). The full-width forms ``＝ ＠ ＋ －`` count as their ASCII twins: spreadsheets with an
East Asian input method run them too.

:func:`neutralise` prefixes such a cell with ``'`` (a spreadsheet then shows it as text); a
cell that already begins with quotes before a formula gets one more, so :func:`unneutralise`
gives back exactly the original.
"""

from __future__ import annotations

import re

#: Blanks a spreadsheet skips before it looks for a formula's first character.
BLANKS = " \t\r\n\u3000"
_FOLD = {"＝": "=", "＠": "@", "＋": "+", "－": "-"}
#: Every character a formula may begin with (after :data:`BLANKS`).
FORMULA_LEADS = "=@+-" + "".join(_FOLD)
_PLAIN = re.compile(r"[\d\s.,:/+\-TZtz]*\d[\d\s.,:/+\-TZtz]*")


class FormulaError(ValueError):
    """A cell is a live spreadsheet formula (raised by :func:`unneutralise`)."""


def _is_plain(text: str) -> bool:
    return not text or _PLAIN.fullmatch(text) is not None


def is_formula(cell: str) -> bool:
    """Whether a spreadsheet would run ``cell`` as a formula (see the module's docstring)."""
    body = cell.lstrip(BLANKS)
    if not body:
        return False
    lead = _FOLD.get(body[0], body[0])
    if lead in "=@":
        return True
    return lead in "+-" and not _is_plain(body[1:].strip())


def neutralise(cell: str) -> str:
    """``cell`` made safe to open in a spreadsheet: a formula gets a leading ``'``; a cell of
    quotes before a formula gets one more quote (so :func:`unneutralise` is its inverse)."""
    if not cell:
        return cell
    if cell[0] == "'":
        return "'" + cell if is_formula(cell.lstrip("'")) else cell
    return "'" + cell if is_formula(cell) else cell


def unneutralise(cell: str) -> str:
    """The inverse of :func:`neutralise`; raises :class:`FormulaError` for a live formula."""
    if not cell:
        return cell
    if cell[0] == "'":
        return cell[1:] if is_formula(cell.lstrip("'")) else cell
    if is_formula(cell):
        raise FormulaError(cell)
    return cell
