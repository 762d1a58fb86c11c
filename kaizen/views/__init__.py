"""Kaizen pages, one module per what a page or action is for:

- :mod:`.board`: the board (cycles by phase, the team's improvement history);
- :mod:`.cycle`: a cycle's page (the PDCA record with one form per phase, the Check with its
  run chart, comments), the Check's status the page polls, and the post/redirect/get
  scaffolding every form of that page posts through;
- :mod:`.plan`: planning a cycle, changing its plan, withdrawing it;
- :mod:`.phases`: the moves through Do, Check and Act, and the Act decisions (adopt, adapt,
  abandon);
- :mod:`.comments`: commenting on a cycle.

Every action posts a small form to its own view, which calls one service; a refused action
re-renders the cycle page with the reason next to the field (status 400). The Check is read
as stored, never computed on a page view.
"""
