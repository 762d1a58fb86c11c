from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from funnel.models import DealStatus
from funnel.selectors import deal_can_edit, deal_path, deals_visible_to


def deal_list(request: HttpRequest) -> HttpResponse:
    """Deals the user may see: a rep's own, a manager's or leader's whole team."""
    status = request.GET.get("status", DealStatus.OPEN)
    deals = deals_visible_to(request.user)
    if status in DealStatus.values:
        deals = deals.filter(status=status)
    stream_id = request.GET.get("stream", "")
    if stream_id.isdigit():
        deals = deals.filter(stream_id=int(stream_id))
    page = Paginator(deals.order_by("-created_at", "id"), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "funnel/deal_list.html",
        {"page": page, "status": status, "statuses": DealStatus.choices, "stream_id": stream_id},
    )


def deal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_object_or_404(deals_visible_to(request.user), pk=pk)
    return render(
        request,
        "funnel/deal_detail.html",
        {
            "deal": deal,
            "path": deal_path(deal=deal),
            "can_edit": deal_can_edit(user=request.user, deal=deal),
        },
    )
