"""The stream page's 5S card (registered in ``KaizenConfig.ready`` through
``streams.hooks.register_stream_panel``): the latest audit's score and its trend."""

from __future__ import annotations

from kaizen.fives.selectors import fives_can_run, stream_five_s
from streams.hooks import StreamPanel
from streams.models import StreamState, ValueStream


def five_s_panel(stream: ValueStream, user: object) -> StreamPanel | None:
    """The card of a current-state stream (the page checked that ``user`` sees it)."""
    if stream.state != StreamState.CURRENT:
        return None
    return StreamPanel(
        template="kaizen/fives/_stream_panel.html",
        context={
            "stream": stream,
            "summary": stream_five_s(stream),
            "can_run": fives_can_run(user=user, stream=stream),
        },
    )
