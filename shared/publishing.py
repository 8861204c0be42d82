"""What a service publishes: each event type declared once, its message and schema derived.

Stored events are internal (Python topics, the library's encoding). Only the event types a
service declares in its catalogue leave it, each as a versioned CloudEvent whose ``data`` is
the event's own fields (plus the id of what it is about). Every field that
:mod:`shared.allowlist` does not name travels sealed with the case's data key. The JSON Schema
of each message is generated from the same declaration (:func:`generated_schema`) and checked
in under ``shared/schemas/``; a test fails when the two differ, so that every change to the
contract shows in a diff.
"""

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import jsonschema_rs
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import resolve_topic
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

from shared.allowlist import CLEAR_FIELDS, LIBRARY_FIELDS, is_clear
from shared.crypto import ERASED
from shared.envelope import CloudEvent, event_type, schema_uri
from shared.partnerbox import PARTNER_SEALED_FIELD_SCHEMA
from shared.privacy import about_a_child, seal_fields

if TYPE_CHECKING:
    from shared.application import ServiceApplication

SEALED_FIELD_SCHEMA = "sealed-field.json"
SEALED_FIELD_URI = "urn:homeward:schema:sealed-field"
SCHEMA_FOLDER = Path(__file__).parent / "schemas"


def event_fields(event: Any) -> dict[str, Any]:
    """An event's own fields as JSON values (dates as ISO text, ids as text)."""
    return {
        name: as_json(value) for name, value in vars(event).items() if name not in LIBRARY_FIELDS
    }


def as_json(value: Any) -> Any:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): as_json(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class PublishedEvent:
    """One published event type: the stored event it comes from, and the id field that names
    what it is about (``case_id``, ``referral_id``) if the event does not carry it."""

    event_class: type
    name: str
    version: int = 1
    about: str | None = None

    def to_data(self, event: Any) -> dict[str, Any]:
        data = event_fields(event)
        if self.about is not None:
            data = {self.about: str(event.originator_id), **data}
        return data

    def fields(self) -> dict[str, Any]:
        """The declared fields and their types, in the order the message carries them."""
        hints = typing.get_type_hints(self.event_class)
        declared = {
            name: hint
            for name, hint in hints.items()
            if name not in LIBRARY_FIELDS and ClassVar not in (hint, typing.get_origin(hint))
        }
        if self.about is not None:
            return {self.about: UUID, **declared}
        return declared

    def service_data(self, application: "ServiceApplication") -> dict[str, Any]:
        """What the publishing service adds of its own, beside the event's fields (where to
        answer, for instance); declared in :meth:`fields` like them."""
        return {}

    def description(self) -> str:
        """What the message means, for its schema: the docstring of a form of its own (a
        subclass that reshapes the event), else the event's."""
        own_form = type(self) is not PublishedEvent
        return (own_form and type(self).__doc__) or declared_doc(self.event_class)


def published(event_class: type, *, about: str | None = None) -> PublishedEvent:
    """An event published under its own class name, in the version of its class
    (``class_version``, 1 when absent): a new version of a stored event is a new version of
    its message, and one stored in an earlier version is published upcast to the current."""
    return PublishedEvent(event_class, event_class.__name__, class_version(event_class), about)


def class_version(event_class: type) -> int:
    return int(getattr(event_class, "class_version", 1))


@cache
def checked_in_schema(filename: str) -> dict[str, Any]:
    """A schema of ``shared/schemas/``, once it is known to be a valid JSON Schema."""
    document: dict[str, Any] = json.loads(
        (resources.files("shared.schemas") / filename).read_text()
    )
    Draft202012Validator.check_schema(document)
    return document


def load_schema(service: str, name: str, version: int) -> dict[str, Any]:
    return checked_in_schema(f"{service}.{name}.v{version}.json")


# The definitions the event schemas refer to (a sealed personal field, with the case's key or
# to a partner's; the envelope every partner answer is in), by the name that ends their ``$id``
# (``urn:homeward:schema:<name>``): the services serve them at ``/schemas/<name>`` beside the
# types.
SHARED_DEFINITIONS = {
    "sealed-field": SEALED_FIELD_SCHEMA,
    "partner-sealed-field": PARTNER_SEALED_FIELD_SCHEMA,
    "partner-answer": "partner-answer.json",
}


@cache
def schema_registry() -> Registry:
    """The shared definitions, for the validators to resolve the event schemas' ``$ref``."""
    registry: Registry = Registry()
    for filename in SHARED_DEFINITIONS.values():
        sealed = checked_in_schema(filename)
        registry = registry.with_resource(sealed["$id"], Resource.from_contents(sealed))
    return registry


def validate_data(service: str, name: str, version: int, data: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``data`` breaks its published schema."""
    # Every consumer checks every message. jsonschema-rs answers "valid" about a hundred times
    # faster than jsonschema (3 µs against 200-270 µs a message, bench/README.md); a message
    # it finds invalid is checked again by jsonschema, which says where and why, and decides.
    if not compiled_validator(service, name, version).is_valid(data):
        validator_of(load_schema(service, name, version)).validate(data)


@cache
def compiled_validator(service: str, name: str, version: int) -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator(
        load_schema(service, name, version), registry=compiled_registry(), validate_formats=True
    )


@cache
def compiled_registry() -> jsonschema_rs.Registry:
    shared = (checked_in_schema(filename) for filename in SHARED_DEFINITIONS.values())
    return jsonschema_rs.Registry([(schema["$id"], schema) for schema in shared])


def validator_of(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema`` with formats checked and the shared definitions resolved."""
    return Draft202012Validator(
        schema, registry=schema_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def validate_against(schema: dict[str, Any], document: Any) -> None:
    """Raise ``jsonschema.ValidationError`` when ``document`` breaks ``schema``."""
    validator_of(schema).validate(document)


PUBLISHED_TYPE = re.compile(r"^org\.homeward\.([a-z]+)\.([A-Za-z]+)\.v([1-9][0-9]{0,3})$")


def published_schema(name: str) -> dict[str, Any]:
    """A published schema by the name it is served under: a type
    (``org.homeward.<service>.<Name>.v<N>``) or a shared definition."""
    if name in SHARED_DEFINITIONS:
        return checked_in_schema(SHARED_DEFINITIONS[name])
    matched = PUBLISHED_TYPE.match(name)
    if matched is None:
        raise LookupError(f"{name} is neither a published type nor a shared definition")
    return load_schema(matched[1], matched[2], int(matched[3]))


class NotPublished(ValueError):
    """A message that is not one of the platform's published types, or breaks its schema."""


def check_published(message: CloudEvent) -> None:
    """Raise :class:`NotPublished` unless ``message`` is a published type whose data meets its
    checked-in schema: what every consumer of a platform topic accepts, before any handler
    sees it, so that a forged or corrupt message never reaches a read model."""
    matched = PUBLISHED_TYPE.match(message.type)
    try:
        if matched is None:
            raise FileNotFoundError(message.type)
        validate_data(matched[1], matched[2], int(matched[3]), message.data)
    except OSError:  # no schema file: FileNotFoundError included
        raise NotPublished(f"unknown type {message.type[:200]!r}: no published schema") from None
    except ValidationError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "data"
        raise NotPublished(
            f"{message.type} breaks its schema at {where}: {error.message[:300]}"
        ) from None


# How a catalogue seals a message's data: given the data, the event and its case.
Sealing = Callable[[dict[str, Any], Any, UUID, "ServiceApplication"], dict[str, Any]]


@dataclass(frozen=True)
class SealedFieldSchema:
    """How a catalogue's schemas show a sealed field: the shared definition it refers to."""

    uri: str
    description: str


SEALED_WITH_CASE_KEY = SealedFieldSchema(SEALED_FIELD_URI, "Sealed with the case's data key.")


def sealed_with_case_key(
    data: dict[str, Any], event: Any, case_id: UUID, application: "ServiceApplication"
) -> dict[str, Any]:
    """Every field that is not allow-listed sealed with the case's data key, or ``[erased]``
    once the key is destroyed."""
    key = application.case_keys.for_opening(case_id, "publication")
    if key is None:
        return {name: value if is_clear(name) else ERASED for name, value in data.items()}
    return seal_fields(data, key)


class EventCatalogue:
    """The published event types of one service."""

    def __init__(
        self,
        service: str,
        *published: PublishedEvent,
        sealing: Sealing = sealed_with_case_key,
        sealed_field: SealedFieldSchema = SEALED_WITH_CASE_KEY,
    ) -> None:
        self.service = service
        self.published = published
        self._sealing = sealing
        self.sealed_field = sealed_field
        self._by_class = {entry.event_class: entry for entry in published}
        self._by_type = {
            event_type(service, entry.name, entry.version): entry for entry in published
        }

    def publishes_stored(self, topic: str) -> bool:
        """Whether the events stored under ``topic`` (the library's name for their class)
        are published: the others need not be decoded at all. Raises ``TopicError`` for a
        class that cannot be found."""
        return resolve_topic(topic) in self._by_class

    def form_of(self, event: Any) -> PublishedEvent | None:
        """How an event type is published, or None for an internal one."""
        return self._by_class.get(type(event))

    def to_cloudevent(
        self,
        event: DomainEventProtocol[UUID],
        application: "ServiceApplication",
        schemas_at: str,
    ) -> CloudEvent | None:
        """The message for a stored event, or None for an event that stays internal, sealed
        as the catalogue seals; its ``dataschema`` is served by the service at the URL
        ``schemas_at``."""
        entry = self._by_class.get(type(event))
        if entry is None:
            return None
        data = entry.to_data(event) | entry.service_data(application)
        case_id = getattr(event, "case_id", None)
        if about_a_child(event):
            case_id = application.case_of(event)
            data = self._sealing(data, event, case_id, application)
        return CloudEvent.published(
            service=self.service,
            name=entry.name,
            version=entry.version,
            case_id=case_id,
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            occurred_at=event.timestamp,  # type: ignore[attr-defined]
            data=data,
            schemas_at=schemas_at,
        )

    def validate(self, message: CloudEvent) -> None:
        """Raise ``jsonschema.ValidationError`` when a message's data breaks its schema."""
        entry = self._by_type[message.type]
        validate_data(self.service, entry.name, entry.version, message.data)

    @property
    def types(self) -> list[str]:
        """The types published now, and their earlier versions, which stay on the topics
        (kept for ever) with their schemas: consumers read both."""
        return sorted([*self._by_type, *self.earlier_types])

    @property
    def earlier_types(self) -> list[str]:
        """Earlier versions of the types published now: no longer published, their schemas
        frozen as they were checked in (the declarations make the current version only)."""
        return [
            event_type(self.service, entry.name, earlier)
            for entry in self.published
            for earlier in range(1, entry.version)
        ]

    def generated_schemas(self) -> dict[str, dict[str, Any]]:
        """Each published type's schema, by file name, as the declarations make them."""
        return {
            f"{self.service}.{entry.name}.v{entry.version}.json": generated_schema(
                self.service, entry, self.sealed_field
            )
            for entry in self.published
        }


# --- schemas from declarations ---------------------------------------------------------------


def type_schema(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a value of a Python type, as :func:`as_json` writes it."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [type_schema(argument) for argument in arguments]
        return {"anyOf": options}
    if origin in (list, tuple):
        return {"type": "array", "items": type_schema(arguments[0]) if arguments else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(arguments[1])}
    if inspect.isclass(hint) and issubclass(hint, Enum):
        return {"enum": [member.value for member in hint]}
    simple: dict[Any, dict[str, Any]] = {
        str: {"type": "string"},
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        float: {"type": "number"},
        datetime: {"type": "string", "format": "date-time"},
        date: {"type": "string", "format": "date"},
        UUID: {"type": "string", "format": "uuid"},
        type(None): {"type": "null"},
    }
    if hint in simple:
        return simple[hint]
    if hint is Any or origin is dict or hint is dict:
        return {}
    raise TypeError(f"no JSON Schema for the declared type {hint!r}")


def field_schema(
    name: str, hint: Any, sealed_about_a_child: bool, sealed_field: SealedFieldSchema
) -> dict[str, Any]:
    if name in CLEAR_FIELDS or not sealed_about_a_child:
        schema = dict(CLEAR_FIELDS[name].schema) if name in CLEAR_FIELDS else type_schema(hint)
        if name in CLEAR_FIELDS and type(None) in typing.get_args(hint):
            schema = {"anyOf": [schema, {"type": "null"}]}
        if name in CLEAR_FIELDS:
            schema["description"] = f"In clear: {CLEAR_FIELDS[name].why}."
        return schema
    return {
        "$ref": sealed_field.uri,
        "description": sealed_field.description,
        "x-plaintext": type_schema(hint),
    }


def declared_doc(event_class: type) -> str:
    """The docstring the event's author wrote (the library's redefined event classes carry
    a generated signature instead)."""
    for cls in event_class.__mro__:
        doc = cls.__dict__.get("__doc__")
        if doc and not doc.startswith(f"{cls.__name__}("):
            return doc
    return ""


def generated_schema(
    service: str, entry: PublishedEvent, sealed_field: SealedFieldSchema
) -> dict[str, Any]:
    fields = entry.fields()
    sealed = bool(getattr(entry.event_class, "about_a_child", True))
    own_doc = entry.description()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_uri(service, entry.name, entry.version),
        "title": f"{entry.name} v{entry.version}",
        "description": " ".join(inspect.cleandoc(own_doc).split()),
        "type": "object",
        "additionalProperties": False,
        "required": list(fields),
        "properties": {
            name: field_schema(name, hint, sealed, sealed_field) for name, hint in fields.items()
        },
    }


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
