"""The message envelope on Kafka: CloudEvents 1.0 in structured JSON mode.

A message's ``id`` is derived from the stored event's identity ``(originator_id, version)``, so
it is the same however many times the outbox relay publishes it: consumers de-duplicate on it.
``subject`` is the aggregate the event belongs to (the case, a referral, a follow-up plan) and
``sequence`` (CloudEvents extension, a lexicographically ordered string) its version,
zero-padded: sequences increase strictly per subject. ``caseid`` (an extension) names the case
the message is about, and is the Kafka record key (``partitionkey``), so that one child's
history, whatever its aggregates, keeps its order within one partition.
``dataschema`` is where the publishing service serves the message's JSON Schema over HTTP.
"""

import json
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

EVENT_ID_NAMESPACE = UUID("6c1d0bb4-5f0e-4a35-9d7e-2f3a8f1a7c11")
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
SEQUENCE_DIGITS = 20


def event_id(originator_id: UUID, originator_version: int) -> UUID:
    return uuid5(EVENT_ID_NAMESPACE, f"{originator_id}/{originator_version}")


def event_type(service: str, name: str, version: int) -> str:
    return f"org.homeward.{service}.{name}.v{version}"


def event_source(service: str) -> str:
    return f"/homeward/{service}"


def event_types(service: str, name: str, *versions: int) -> frozenset[str]:
    """One event's types in the versions a consumer reads alike (the fields it reads are in
    each): the topics keep every version published."""
    return frozenset(event_type(service, name, version) for version in versions)


def schema_uri(service: str, name: str, version: int) -> str:
    """The schema's ``$id``; the file is ``shared/schemas/<service>.<name>.v<version>.json``."""
    return f"urn:homeward:schema:{service}.{name}.v{version}"


def schema_url(service_url: str, message_type: str) -> str:
    """Where a service at ``service_url`` serves the JSON Schema of a type (``dataschema``)."""
    return f"{service_url}/schemas/{message_type}"


def format_sequence(version: int) -> str:
    return str(version).zfill(SEQUENCE_DIGITS)


class MalformedMessage(ValueError):
    """A message is not a CloudEvent this platform can read; the text says what is wrong."""


class CloudEvent(BaseModel):
    """One CloudEvent as Homeward publishes and reads it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = Field(pattern=r"^1\.0$")
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: AwareDatetime | None = None
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    sequence: str | None = Field(default=None, pattern=r"^[0-9]+$")
    partitionkey: str | None = None
    caseid: str | None = Field(default=None, description="The case the message is about.")
    signature: str | None = Field(
        default=None, description="Its service's signature (shared.signatures)."
    )
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def published(
        cls,
        *,
        service: str,
        name: str,
        version: int,
        case_id: UUID | None,
        originator_id: UUID,
        originator_version: int,
        occurred_at: datetime,
        data: dict[str, Any],
        schemas_at: str,
    ) -> "CloudEvent":
        """A recorded event as a message about its own aggregate, keyed by its case so that one
        child's history keeps its order; a message about no case (an access denied before any
        case was named) is keyed by its own aggregate. ``schemas_at`` is the URL of the service
        that serves the message's schema."""
        subject = str(originator_id)
        message_type = event_type(service, name, version)
        return cls(
            specversion="1.0",
            id=str(event_id(originator_id, originator_version)),
            source=event_source(service),
            type=message_type,
            subject=subject,
            time=occurred_at,
            dataschema=schema_url(schemas_at, message_type),
            sequence=format_sequence(originator_version),
            partitionkey=subject if case_id is None else str(case_id),
            caseid=None if case_id is None else str(case_id),
            data=data,
        )

    @property
    def case_id(self) -> UUID | None:
        """The case a message is about: its ``caseid``. A message published before ``caseid``
        was added names its case in ``partitionkey``, the Kafka key it was sent with (then
        its ``subject`` too, whichever aggregate the event belonged to), so that is read when
        ``caseid`` is absent."""
        named = self.caseid or self.partitionkey
        try:
            return UUID(named) if named else None
        except ValueError:
            return None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> "CloudEvent":
        if not raw:
            raise MalformedMessage("empty message: expected a CloudEvent in structured JSON mode")
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MalformedMessage(f"not JSON: {error}") from None
        except RecursionError:  # b"[" * 100_000 must not stop a consumer
            raise MalformedMessage("not JSON a consumer can read: nested too deeply") from None
        if not isinstance(document, dict):
            raise MalformedMessage("not a JSON object: expected a CloudEvent")
        try:
            return cls.model_validate(document)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
                for problem in error.errors(include_input=False)
            )
            raise MalformedMessage(f"not a valid CloudEvent: {problems}") from None
