from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from streams.selectors import stream_can_edit, streams_visible_to


def stream_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The stream's steps in map order with their planned figures (the map drawing comes
    with the mapping issue)."""
    stream = get_object_or_404(streams_visible_to(request.user), slug=slug)
    steps = stream.steps.select_related("lane", "stage")
    return render(
        request,
        "streams/stream_detail.html",
        {
            "stream": stream,
            "steps": steps,
            "lanes": stream.lanes.all(),
            "can_edit": stream_can_edit(user=request.user, stream=stream),
        },
    )
