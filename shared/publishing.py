"""What a service publishes: the mapping from its stored domain events to documented messages.

Stored events are internal (Python topics, the library's encoding). Only the event types a
service declares here leave it, each as a versioned CloudEvent whose ``data`` has exactly the
documented fields of its JSON Schema in ``shared/schemas/``.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from shared.crypto import ERASED
from shared.envelope import CloudEvent, event_type

if TYPE_CHECKING:
    from shared.application import ServiceApplication

SEALED_FIELD_SCHEMA = "sealed-field.json"


@dataclass(frozen=True)
class PublishedEvent:
    """One published event type: which stored event it comes from and how its data is made."""

    event_class: type
    name: str
    version: int
    to_data: Callable[[Any], dict[str, Any]]
    personal: tuple[str, ...] = ()  # fields of the data sealed with the case's key


# What the eventsourcing library adds to every event: never part of a published message.
LIBRARY_FIELDS = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp"})


def event_fields(event: Any) -> dict[str, Any]:
    """An event's own fields as JSON values (dates as ISO text, ids as text), for event
    types whose published data is exactly what they record."""
    return {
        name: _as_json(value) for name, value in vars(event).items() if name not in LIBRARY_FIELDS
    }


def _as_json(value: Any) -> Any:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def _schema_file(filename: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (resources.files("shared.schemas") / filename).read_text()
    )
    Draft202012Validator.check_schema(document)
    return document


@cache
def load_schema(service: str, name: str, version: int) -> dict[str, Any]:
    return _schema_file(f"{service}.{name}.v{version}.json")


@cache
def schema_registry() -> Registry:
    """The shared definitions the event schemas refer to (a sealed personal field)."""
    sealed = _schema_file(SEALED_FIELD_SCHEMA)
    return Registry().with_resource(sealed["$id"], Resource.from_contents(sealed))


def validate_data(service: str, name: str, version: int, data: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``data`` breaks its published schema."""
    Draft202012Validator(
        load_schema(service, name, version),
        registry=schema_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    ).validate(data)


class EventCatalogue:
    """The published event types of one service."""

    def __init__(self, service: str, *published: PublishedEvent) -> None:
        self.service = service
        self._by_class = {entry.event_class: entry for entry in published}
        self._by_type = {
            event_type(service, entry.name, entry.version): entry for entry in published
        }
        for entry in published:
            load_schema(service, entry.name, entry.version)  # a missing schema fails at start

    def to_cloudevent(
        self, event: DomainEventProtocol[UUID], application: "ServiceApplication"
    ) -> CloudEvent | None:
        """The message for a stored event, or None for an event that stays internal.
        Personal fields travel sealed with the case's data key, or as ``[erased]``."""
        entry = self._by_class.get(type(event))
        if entry is None:
            return None
        case_id = application.case_of(event)
        data = entry.to_data(event)
        if entry.personal:
            key = application.case_keys.for_opening(case_id, "publication")
            for field in entry.personal:
                value = data.get(field)
                if value is not None and value != ERASED:
                    data[field] = ERASED if key is None else key.seal(field, value)
        return CloudEvent.published(
            service=self.service,
            name=entry.name,
            version=entry.version,
            case_id=case_id,
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            occurred_at=event.timestamp,  # type: ignore[attr-defined]
            data=data,
        )

    def validate(self, message: CloudEvent) -> None:
        """Raise ``jsonschema.ValidationError`` when a message's data breaks its schema."""
        entry = self._by_type[message.type]
        validate_data(self.service, entry.name, entry.version, message.data)

    @property
    def types(self) -> list[str]:
        return sorted(self._by_type)
