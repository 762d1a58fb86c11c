"""Many writes to the event log in one transaction: all of them, or none (the bulk API).

:func:`events_apply` runs each event through the same service as the single-deal API
(``deal_create``, ``deal_move``, ``visit_log_work``, ``deal_close``) under the same rules of
who may do what:

* an event names streams, steps, owners and deals among those the user can see
  (``funnel.eventlog.selectors`` / ``streams.selectors``); anything else is "not found", a 400
  naming the field, as the single-deal API answers 404 or 400;
* changing a visible deal needs ``deal_can_edit``, creating one :func:`deal_create_owner`;
  a refusal stops the batch at once (:class:`EventsRefused` with ``forbidden=True``).

Events apply in order, so a ``create_deal`` can be followed by moves of the deal it created,
named by ``stream`` and ``external_id``. A service's ``ValidationError`` does not stop the
batch: the services validate before they write and each runs in its own savepoint, so the
later events are still checked against the batch as it stands, and every failing event (up
to :data:`MAX_FAILED_EVENTS`) is reported. Errors of later events may follow from an earlier
failure (a move of a deal whose creation failed finds no deal). Any error rolls the whole
batch back.

Each event costs what its service costs (about ten queries, locks and savepoints included):
a batch of :data:`MAX_EVENTS` takes tens of seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction

from funnel.eventlog.selectors import deal_can_edit, deal_open_visit, deals_visible_to
from funnel.eventlog.services import deal_close, deal_create, deal_log_work, deal_move
from funnel.models import Deal, Visit
from streams.models import Membership, ProcessStep, Role, ValueStream
from streams.selectors import (
    User,
    role_in_team,
    stream_can_edit,
    streams_visible_to,
    teams_visible_to,
)

#: The most events one batch may hold.
#: A batch runs inside one request (about 10 ms an event on PostgreSQL here); larger loads
#: belong to the import (``manage.py import_events`` or the wizard), which runs in Celery.
MAX_EVENTS = 1000
#: Checking stops after this many failing events; the batch fails either way.
MAX_FAILED_EVENTS = 50

EVENT_TYPES = ("create_deal", "move", "log_work", "close")


@dataclass(frozen=True)
class EventError:
    """Why one event (``index`` in the batch; None: the batch itself) was refused.
    ``field`` is None when the reason concerns the whole event."""

    index: int | None
    field: str | None
    reason: str


class EventsRefused(Exception):
    """The batch was refused and nothing of it was stored.

    ``forbidden`` when an event asked for something the user may not do (the API's 403);
    otherwise some events were invalid (400).
    """

    def __init__(self, errors: list[EventError], *, forbidden: bool = False) -> None:
        super().__init__(errors[0].reason if errors else "Refused.")
        self.errors = errors
        self.forbidden = forbidden


# --- Rules shared with the single-deal API ------------------------------------------------


def deal_create_owner(
    *, user: User, stream: ValueStream, owner: AbstractBaseUser | None
) -> AbstractBaseUser | None:
    """The owner a deal created by ``user`` in ``stream`` gets, or ``PermissionDenied``.

    Managers of the stream's team (and admins) create deals for any manager or rep of that
    team (``deal_create`` checks the team), or unowned; reps create deals they own, and own
    them when no owner is given; leadership and outsiders create nothing.
    """
    if stream_can_edit(user=user, stream=stream):
        return owner
    if role_in_team(user, stream.team_id) == Role.REP:
        if owner is not None and owner.pk != user.pk:
            raise PermissionDenied(
                "A rep creates deals they own; ask a manager to create it for someone else."
            )
        return user
    raise PermissionDenied("Only the team's managers and reps create deals.")


# --- The batch ----------------------------------------------------------------------------


class _Lookups:
    """What the events name, looked up among what the user can see, and what the user may do
    with it, each asked once per batch.

    Deals are cached as found; the services re-read a deal under a lock before changing it,
    so a cached row only serves for its id, stream and owner, which no event changes; nor
    does any event change the user's roles, so permission answers are cached too.
    """

    def __init__(self, user: User) -> None:
        self.user = user
        self._streams: dict[int, ValueStream | None] = {}
        self._steps: dict[int, ProcessStep | None] = {}
        self._owners: dict[int, AbstractBaseUser | None] = {}
        self._deals: dict[int, Deal | None] = {}
        self._deals_by_ref: dict[tuple[int, str], Deal | None] = {}
        self._editable: dict[int, bool] = {}
        self._create_owners: dict[tuple[int, int | None], AbstractBaseUser | None] = {}

    @staticmethod
    def _found(cache: dict, key: Any, fetch: Callable[[], Any], field: str, missing: str) -> Any:
        """``cache[key]``, fetched once (``fetch()``); a 400 naming ``field`` when there is
        no such row among those the user sees."""
        if key not in cache:
            cache[key] = fetch()
        if cache[key] is None:
            raise ValidationError({field: missing})
        return cache[key]

    def stream(self, stream_id: int) -> ValueStream:
        return self._found(
            self._streams,
            stream_id,
            lambda: streams_visible_to(self.user).filter(pk=stream_id).first(),
            "stream",
            f"No value stream {stream_id} among those you see.",
        )

    def step(self, step_id: int | None, *, field: str) -> ProcessStep | None:
        if step_id is None:
            return None
        return self._found(
            self._steps,
            step_id,
            lambda: ProcessStep.objects.filter(
                pk=step_id, stream__in=streams_visible_to(self.user)
            ).first(),
            field,
            f"No step {step_id} in the streams you see.",
        )

    def owner(self, user_id: int | None) -> AbstractBaseUser | None:
        if user_id is None:
            return None
        return self._found(
            self._owners,
            user_id,
            lambda: (
                get_user_model()
                .objects.filter(
                    pk=user_id,
                    pk__in=Membership.objects.filter(team__in=teams_visible_to(self.user)).values(
                        "user_id"
                    ),
                )
                .first()
            ),
            "owner",
            f"No user {user_id} in your teams.",
        )

    def deal(self, event: dict[str, Any]) -> Deal:
        """The deal an event names by ``deal`` (id) or by ``stream`` and ``external_id``."""
        if event.get("deal") is not None:
            deal_id = event["deal"]
            return self._found(
                self._deals,
                deal_id,
                lambda: deals_visible_to(self.user).filter(pk=deal_id).first(),
                "deal",
                f"No deal {deal_id} among those you see.",
            )
        stream = self.stream(event["stream"])
        ref = (stream.pk, event["external_id"])
        return self._found(
            self._deals_by_ref,
            ref,
            lambda: deals_visible_to(self.user).filter(stream=stream, external_id=ref[1]).first(),
            "external_id",
            f"Stream {stream.name} has no deal {ref[1]} among those you see.",
        )

    def remember(self, deal: Deal) -> None:
        self._deals[deal.pk] = deal
        self._deals_by_ref[(deal.stream_id, deal.external_id)] = deal

    def editable_deal(self, event: dict[str, Any]) -> Deal:
        deal = self.deal(event)
        if deal.pk not in self._editable:
            self._editable[deal.pk] = deal_can_edit(user=self.user, deal=deal)
        if not self._editable[deal.pk]:
            raise PermissionDenied(f"You can see deal {deal.external_id} but not change it.")
        return deal

    def create_owner(
        self, stream: ValueStream, owner: AbstractBaseUser | None
    ) -> AbstractBaseUser | None:
        """:func:`deal_create_owner`; a refusal ends the batch, so only answers are kept."""
        key = (stream.pk, owner.pk if owner is not None else None)
        if key not in self._create_owners:
            self._create_owners[key] = deal_create_owner(user=self.user, stream=stream, owner=owner)
        return self._create_owners[key]


def _result(deal: Deal, visit: Visit | None) -> dict[str, Any]:
    return {
        "deal": deal.pk,
        "external_id": deal.external_id,
        "visit": visit.pk if visit is not None else None,
    }


def _create_deal(lookups: _Lookups, event: dict[str, Any]) -> dict[str, Any]:
    stream = lookups.stream(event["stream"])
    owner = lookups.create_owner(stream, lookups.owner(event.get("owner")))
    first_step = lookups.step(event.get("first_step"), field="first_step")
    deal = deal_create(
        stream=stream,
        name=event["name"],
        owner=owner,
        external_id=event["external_id"],
        account=event.get("account", ""),
        amount=event.get("amount"),
        source=event.get("source", ""),
        created_at=event.get("created_at"),
        first_step=first_step,
        actor=lookups.user,
    )
    lookups.remember(deal)
    visit = deal.visits.first() if first_step is not None else None
    return _result(deal, visit)


def _move(lookups: _Lookups, event: dict[str, Any]) -> dict[str, Any]:
    deal = lookups.editable_deal(event)
    step = lookups.step(event["step"], field="step")
    visit = deal_move(deal=deal, step=step, at=event.get("at"), actor=lookups.user)
    return _result(deal, visit)


def _log_work(lookups: _Lookups, event: dict[str, Any]) -> dict[str, Any]:
    deal = lookups.editable_deal(event)
    return _result(deal, deal_log_work(deal=deal, minutes=event["minutes"]))


def _close(lookups: _Lookups, event: dict[str, Any]) -> dict[str, Any]:
    deal = lookups.editable_deal(event)
    ended = deal_open_visit(deal=deal)
    deal_close(
        deal=deal,
        outcome=event["outcome"],
        at=event.get("at"),
        lost_reason=event.get("lost_reason", ""),
        actor=lookups.user,
    )
    return _result(deal, ended)


_APPLY: dict[str, Callable[[_Lookups, dict[str, Any]], dict[str, Any]]] = {
    "create_deal": _create_deal,
    "move": _move,
    "log_work": _log_work,
    "close": _close,
}


def _errors_of(index: int, exc: ValidationError) -> Iterator[EventError]:
    if not hasattr(exc, "error_dict"):
        for reason in exc.messages:
            yield EventError(index, None, reason)
        return
    for field, reasons in exc.message_dict.items():
        for reason in reasons:
            yield EventError(index, None if field == NON_FIELD_ERRORS else field, reason)


@transaction.atomic
def events_apply(*, user: User, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply ``events`` in order, all or none; the result of each, in order.

    Each event is a dict with ``type`` (one of :data:`EVENT_TYPES`) and that type's
    already type-checked fields (ids as ints, times as aware datetimes, ``amount`` as a
    Decimal): see the API's event serializers. A ``move``, ``log_work`` or ``close`` names its
    deal by ``deal`` (id) or by ``stream`` and ``external_id``.

    Returns one dict per event: ``index``, ``type``, ``deal`` (id), ``external_id`` and
    ``visit``: the visit a ``create_deal`` opened at ``first_step``, the one a ``move``
    opened, the one ``log_work`` logged on, the one a ``close`` ended (None when there is
    none). Raises :class:`EventsRefused` (everything rolled back) when the batch holds more
    than :data:`MAX_EVENTS` events, when any event is invalid, or, with ``forbidden``, at the
    first event the user may not perform.
    """
    if len(events) > MAX_EVENTS:
        raise EventsRefused(
            [EventError(None, "events", f"At most {MAX_EVENTS} events in one batch.")]
        )
    lookups = _Lookups(user)
    results: list[dict[str, Any]] = []
    errors: list[EventError] = []
    failed = 0
    for index, event in enumerate(events):
        kind = event.get("type")
        try:
            if kind not in _APPLY:
                raise ValidationError(
                    {"type": f"'{kind}' is not an event type; use {', '.join(EVENT_TYPES)}."}
                )
            results.append({"index": index, "type": kind, **_APPLY[kind](lookups, event)})
        except PermissionDenied as exc:
            raise EventsRefused([EventError(index, None, str(exc))], forbidden=True) from exc
        except ValidationError as exc:
            errors.extend(_errors_of(index, exc))
            failed += 1
            if failed >= MAX_FAILED_EVENTS:
                break
    if errors:
        raise EventsRefused(errors)
    return results
