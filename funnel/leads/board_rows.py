"""What the hand-off board's and the ready-for-sales queue's rows show, made once per page in
Python rather than by template tags per row (docs/benchmarks.md, "Leads, hand-offs and
pull"): each row's links, times and texts; the board's turn-down forms rendered once per page
with stand-ins that each row fills in; one CSRF field for every form of a page."""

from __future__ import annotations

from collections.abc import Callable
from html import escape as _e

from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from funnel.leads.forms import format_working
from funnel.leads.models import ReasonKind
from funnel.leads.selectors import ArrivalRow, reasons_of
from streams.drawing import format_ratio
from streams.models import ValueStream
from streams.templatetags.vsm import moment


def duration_text(minutes: float, working: bool) -> str:
    """An age or an overrun: ``45 min``, ``3.5 h``, ``2.1 days`` (working days of 8 hours
    when ``working``), marked "working" when counted in working time."""
    word = " working" if working else ""
    if minutes < 60:
        return f"{minutes:.0f}{word} min"
    day = 8 * 60 if working else 24 * 60
    if minutes < 2 * day:
        return f"{minutes / 60:.1f}{word} h".replace(".0 ", " ")
    return f"{minutes / day:.1f}{word} days".replace(".0 ", " ")


#: An id no row has, reversed into a URL once per page and replaced by each row's id.
_ANY_ID = 987654321987


def _url_of(name: str, *args) -> Callable[[int], str]:
    """``reverse(name, args=[*args, id])`` for many ids at the cost of one reverse."""
    url = reverse(name, args=[*args, _ANY_ID])
    head, tail = url.rsplit(str(_ANY_ID), 1)
    return lambda pk: f"{head}{pk}{tail}"


def arrival_items(
    rows: list[ArrivalRow], stream: ValueStream, failed: int | None = None
) -> list[dict]:
    """:func:`arrival_item` for each of ``rows``, their links reversed once."""
    deal_url = _url_of("funnel:deal_detail")
    decide_url = _url_of("leads:decide", stream.slug)
    return [arrival_item(r, stream, failed, deal_url, decide_url) for r in rows]


def arrival_item(
    row: ArrivalRow,
    stream: ValueStream,
    failed: int | None = None,
    deal_url: Callable[[int], str] | None = None,
    decide_url: Callable[[int], str] | None = None,
) -> dict:
    """What the board's and the queue's templates show of a row, made here once (the links,
    the texts) rather than by template tags per row."""
    deal_url = deal_url or _url_of("funnel:deal_detail")
    decide_url = decide_url or _url_of("leads:decide", stream.slug)
    return {
        "row": row,
        "age": duration_text(row.age_minutes, row.working),
        "sla": format_working(row.sla_minutes),
        "over": duration_text(row.over_by_minutes, row.working) if row.breached else "",
        "arrived": moment(row.arrived_at),
        "deal_url": deal_url(row.deal_id),
        "decide_url": decide_url(row.visit_id),
        "failed": failed == row.visit_id,
    }


def csrf_field(request: HttpRequest) -> str:
    """The CSRF field every form of a page shares (one token per page, not one per form)."""
    return format_html(
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request)
    )


#: Stand-ins for a row's values in the turn-down forms rendered once per page (turn_down_forms).
_VISIT, _URL, _LEAD = "__visit__", "__decide_url__", "__lead_name__"


#: A stand-in for the page's CSRF field in the kept turn-down forms.
_CSRF = "__csrf_input__"
#: The turn-down forms as rendered, by everything they are rendered from (:func:`_forms_key`):
#: the same for every read of the board until a reason or the waterfall changes. Per process.
_KEPT: dict[tuple, list[dict]] = {}
_KEPT_MAX = 256


def turn_down_forms(
    stream: ValueStream, recycle_on: bool, can_manage: bool, *, csrf_input: str, chosen
) -> list[dict]:
    """The ways of turning a lead down on the board: each with its reason buttons, and its
    whole form (_turn_down.html) rendered once for the page with stand-ins for the row's
    visit, link and lead name, which :func:`turn_down_form_html` fills in per row (a row's forms
    differ only by them; rendering them per row was most of the board's time). Rendered once
    per process for the same reasons, stream, rights and chosen hand-off, and kept; the
    page's CSRF field is put in per read."""
    found = list(reasons_of(stream).order_by("position", "id"))
    key = (
        stream.pk,
        stream.slug,
        recycle_on,
        can_manage,
        chosen,
        tuple((r.pk, r.kind, r.label) for r in found),
    )
    kept = _KEPT.get(key)
    if kept is None:
        if len(_KEPT) >= _KEPT_MAX:
            _KEPT.clear()
        kept = _KEPT[key] = _render_turn_downs(stream, found, recycle_on, can_manage, chosen)
    return [{**t, "html": mark_safe(t["html"].replace(_CSRF, csrf_input))} for t in kept]


def _render_turn_downs(
    stream: ValueStream, found: list, recycle_on: bool, can_manage: bool, chosen
) -> list[dict]:
    reasons: dict[str, list] = {kind: [] for kind in ReasonKind.values}
    for reason in found:
        reasons[reason.kind].append(reason)
    kinds = [("reject", "Reject")]
    if recycle_on:
        kinds.append(("recycle", "Recycle"))
    kinds.append(("disqualify", "Disqualify"))
    made = []
    stand_in = {
        "row": {"visit_id": _VISIT, "deal_name": _LEAD},
        "decide_url": _URL,
        "failed": False,
    }
    for kind, verb in kinds:
        t = {
            "kind": kind,
            "verb": verb,
            "buttons": render_to_string(
                "funnel/leads/_reason_buttons.html",
                {
                    "stream": stream,
                    "kind": kind,
                    "verb": verb,
                    "reasons": reasons[kind],
                    "can_manage": can_manage,
                },
            ),
        }
        t["html"] = render_to_string(
            "funnel/leads/_turn_down.html",
            {"item": stand_in, "t": t, "csrf_input": mark_safe(_CSRF), "chosen": chosen},
        )
        made.append(t)
    return made


def turn_down_form_html(turn_downs: list[dict], item: dict) -> str:
    """A row's turn-down forms: the page's, with the row's visit, link and lead name."""
    row = item["row"]
    name = str(escape(row.deal_name))
    # Safe: rendered templates, and the name escaped as the template escapes it.
    return mark_safe(
        "".join(
            t["html"]
            .replace(_VISIT, str(row.visit_id))
            .replace(_URL, item["decide_url"])
            .replace(_LEAD, name)
            for t in turn_downs
        )
    )


# --- Rows as markup, made in Python ------------------------------------------------------------
#
# A row of the board or the queue is some twenty values in a fixed frame: rendered by the
# template language, each value's lookup and escaping cost more than the rest of the page
# (docs/benchmarks.md, issue 16). So the rows are written here, every value escaped as the
# template escapes it (``html.escape``, quotes included: Django's ``escape``). The board's row
# whose decision was just refused, with its errors, is still rendered by board.html, whose
# row markup this follows: a change to one is made to both (tests/funnel/leads/
# test_board_rows.py compares them).

_NOBODY = '<span class="muted-inline">Nobody yet</span>'
_NO_SLA = '<span class="muted-inline">No SLA</span>'
_NONE = '<span class="muted-inline">none</span>'
_ESCALATED = ' <span class="badge badge-escalated">Escalated to the managers</span>'


def _breach(item: dict) -> str:
    return (
        '<span class="badge badge-breach"><span aria-hidden="true">⚠ </span>Breached by '
        f"{_e(item['over'])}</span>"
    )


def board_row_html(
    item: dict,
    *,
    queue_url: str,
    can_decide: bool,
    can_pull: bool,
    can_decide_pull: bool,
    chosen: int | None,
    csrf_input: str,
) -> str:
    """One row of the hand-off board (not a refused one: board.html renders that)."""
    r = item["row"]
    vid = r.visit_id
    name = _e(r.deal_name)
    classes = "arrival" + (" breached" if r.breached else "")
    classes += " escalated" if r.escalated else ""
    ext = f' <span class="muted ext-id">{_e(r.external_id)}</span>' if r.external_id else ""
    sla = item["sla"]
    if r.breached:
        against = _breach(item) + (_ESCALATED if r.escalated else "")
    elif sla:
        against = '<span class="within">Within the SLA</span>'
    else:
        against = _NO_SLA
    html = (
        f'<tr id="arrival-{vid}" data-visit="{vid}" class="{classes}">\n'
        f'    <th scope="row"><a href="{item["deal_url"]}" class="lead-name">{name}</a>{ext}</th>\n'
        f'    <td data-label="Hand-off">{_e(r.stage)} <span class="muted-inline">at '
        f"{_e(r.step_name)}</span></td>\n"
        f'    <td data-label="Owner">{_e(r.owner_label) if r.owner_label else _NOBODY}</td>\n'
        f'    <td data-label="Arrived">{item["arrived"]}</td>\n'
        f'    <td data-label="Age" class="num">{_e(item["age"])}</td>\n'
        f'    <td data-label="SLA" class="num">{_e(sla) if sla else _NONE}</td>\n'
        f'    <td data-label="Against the SLA" class="sla-cell">{against}</td>\n'
    )
    if can_decide or can_pull:
        html += '    <td data-label="Decide" class="decide-cell">\n'
        if r.pull:
            if can_pull:
                html += (
                    f'<a class="button small primary" href="{queue_url}#queue-{vid}">Pull in the '
                    f'queue<span class="visually-hidden"> {name}</span></a>\n'
                )
            if can_decide_pull:
                html += item.get("turn_downs", "")
            elif not can_pull:
                html += '<span class="muted-inline">Sellers pull it from the queue.</span>'
        elif can_decide:
            back = f'<input type="hidden" name="back" value="{chosen}">' if chosen else ""
            html += (
                f'<form method="post" action="{item["decide_url"]}" class="accept-form">\n'
                f'{csrf_input}<input type="hidden" name="kind" value="accept">{back}\n'
                '<button type="submit" class="button primary accept">Accept<span '
                f'class="visually-hidden"> {name}</span></button>\n</form>\n'
                + item.get("turn_downs", "")
            )
        html += "\n    </td>"
    return mark_safe(html + "\n  </tr>\n")  # every value escaped above


def queue_row_html(
    item: dict, *, pull_url: str, any_probability: bool, can_pull: bool, csrf_input: str
) -> str:
    """One row of the ready-for-sales queue."""
    r = item["row"]
    vid = r.visit_id
    name = _e(r.deal_name)
    ext = f' <span class="muted ext-id">{_e(r.external_id)}</span>' if r.external_id else ""
    owner = (
        f'<span class="muted lead-from">from {_e(r.owner_label)}</span>' if r.owner_label else ""
    )
    sla = item["sla"]
    if r.breached:
        against = _breach(item)
    elif sla:
        against = f'<span class="within">Within the SLA of {_e(sla)}</span>'
    else:
        against = _NO_SLA
    html = (
        f'<tr id="queue-{vid}" data-visit="{vid}" '
        f'class="arrival{" breached" if r.breached else ""}">\n'
        f'    <th scope="row"><a href="{item["deal_url"]}" class="lead-name">{name}</a>'
        f"{ext}{owner}</th>\n"
        f'    <td data-label="Arrived">{item["arrived"]}</td>\n'
        f'    <td data-label="Age" class="num">{_e(item["age"])}</td>\n'
        f'    <td data-label="Against the SLA" class="sla-cell">{against}</td>\n'
    )
    if any_probability:
        chance = (
            _e(format_ratio(r.win_probability))
            if r.win_probability is not None
            else '<span class="muted-inline">not scored</span>'
        )
        html += f'    <td data-label="Win probability" class="num">{chance}</td>\n'
    if can_pull:
        html += (
            '    <td data-label="Pull" class="decide-cell">\n'
            f'      <form method="post" action="{pull_url}">{csrf_input}<input type="hidden" '
            f'name="visit" value="{vid}"><button type="submit" class="button small">Pull<span '
            f'class="visually-hidden"> {name}</span></button></form>\n    </td>\n'
        )
    return mark_safe(html + "  </tr>\n")  # every value escaped above
