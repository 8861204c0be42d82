"""A case rebuilt from its messages on ``homeward.intake.events``, without intake's store.

Every fact of the case aggregate is published, its fields sealed as they are stored, so the
topic holds the whole case: an auditor with Kafka, the keyring and a token needs no access to
the service's database. Each message becomes the domain event it was published from (its
sealed fields opened with the case's key, ``[erased]`` without it; upcast from the version it
was published in; its values typed as the event declares them) and the events are applied in
order, as the repository applies stored ones. A test holds the result equal to the store's
case at every version.
"""

import typing
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from services.intake.domain import CaseNotFound, ChildCase
from services.intake.messages import CATALOGUE
from shared.crypto import ERASED
from shared.envelope import CloudEvent, event_source
from shared.keyring import CaseKeys
from shared.privacy import open_personal_fields, upcast
from shared.publishing import PUBLISHED_TYPE, PublishedEvent

FORMS: dict[str, PublishedEvent] = {entry.name: entry for entry in CATALOGUE.published}
INTAKE_SOURCE = event_source("intake")
CASE_TOPIC = get_topic(ChildCase)


def _typed(value: Any, hint: Any) -> Any:
    """A JSON value as the declared type holds it (dates, moments and ids as objects)."""
    if value is None or value == ERASED:
        return value
    options = typing.get_args(hint) if typing.get_origin(hint) is not None else (hint,)
    for option in options:
        if option is datetime:
            return datetime.fromisoformat(value)
        if option is date:
            return date.fromisoformat(value)
        if option is UUID:
            return UUID(value)
    return value


def event_of(message: CloudEvent, case_id: UUID, case_keys: CaseKeys) -> Any:
    """The case's domain event a message was published from."""
    matched = PUBLISHED_TYPE.match(message.type)
    if matched is None or matched[1] != "intake" or matched[2] not in FORMS:
        raise ValueError(f"{message.type} is not a fact of the case aggregate")
    form = FORMS[matched[2]]
    event_class = form.event_class
    state = open_personal_fields(message.data, case_id, case_keys, "case audit")
    upcast(event_class, state, int(matched[3]))
    # The event's own fields; the case id the message adds beside them is its originator.
    declared = {name: hint for name, hint in form.fields().items() if name != form.about}
    state = {name: _typed(state[name], hint) for name, hint in declared.items() if name in state}
    state["originator_id"] = case_id
    state["originator_version"] = int(message.sequence or 0)
    state["timestamp"] = message.time
    if issubclass(event_class, Aggregate.Created):
        state["originator_topic"] = CASE_TOPIC
    event: Any = object.__new__(event_class)
    object.__setattr__(event, "__dict__", state)
    return event


def facts_of_case(messages: Iterable[CloudEvent], case_id: UUID) -> list[CloudEvent]:
    """The messages that carry the case aggregate's own facts, in the case's order."""
    own = [
        message
        for message in messages
        if message.source == INTAKE_SOURCE
        and message.subject == str(case_id)
        and message.sequence is not None
    ]
    return sorted(own, key=lambda message: int(message.sequence or 0))


def case_from_messages(
    facts: list[CloudEvent], case_id: UUID, case_keys: CaseKeys, version: int
) -> ChildCase:
    """The case as it was at ``version``, from its facts (:func:`facts_of_case`)."""
    case: Any = None
    for message in facts:
        if int(message.sequence or 0) > version:
            break
        case = event_of(message, case_id, case_keys).mutate(case)
    if not isinstance(case, ChildCase):
        raise CaseNotFound(case_id)
    return case
