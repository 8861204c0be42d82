"""Replaying a case's history from Kafka alone, with its personal fields opened or erased.

The topics keep every event forever; a replay reads them from the beginning, keeps the
messages whose key is the case id, drops republished duplicates by CloudEvent ``id``, and opens
sealed personal fields with the keyring: an erased case shows ``[erased]`` in every one.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.crypto import ERASED, is_sealed
from shared.envelope import CloudEvent, MalformedMessage
from shared.kafka import KafkaConnection, read_to_end
from shared.keyring import CaseKeys


def open_personal_fields(
    data: dict[str, Any], case_id: UUID, case_keys: CaseKeys, purpose: str
) -> dict[str, Any]:
    """A copy of a message's data with each sealed field opened, or ``[erased]``."""
    if not any(is_sealed(value) for value in data.values()):
        return dict(data)
    key = case_keys.for_opening(case_id, purpose)
    return {
        name: (ERASED if key is None else key.open(name, value)) if is_sealed(value) else value
        for name, value in data.items()
    }


def read_case_messages(
    kafka: KafkaConnection, topics: list[str], case_id: UUID, as_of: datetime | None = None
) -> list[CloudEvent]:
    """Every distinct message about one case on ``topics``, oldest first."""
    key = str(case_id).encode()
    found: dict[str, CloudEvent] = {}
    # A case's messages are keyed by the case: one partition of each topic holds them all.
    for record in read_to_end(kafka, topics, key):
        if record.key != key:
            continue
        try:
            message = CloudEvent.from_bytes(record.value)
        except MalformedMessage:
            continue
        found.setdefault(message.id, message)
    history = sorted(found.values(), key=lambda m: (m.time or datetime.min, m.sequence or ""))
    return [m for m in history if as_of is None or (m.time is not None and m.time <= as_of)]


def replay_case(
    kafka: KafkaConnection,
    topics: list[str],
    case_id: UUID,
    case_keys: CaseKeys,
    as_of: datetime | None = None,
) -> list[dict[str, Any]]:
    """The case's timeline as an auditor reads it: each message with its data opened."""
    return [
        {
            **message.model_dump(mode="json", exclude={"data"}, exclude_none=True),
            "data": open_personal_fields(message.data, case_id, case_keys, "audit replay"),
        }
        for message in read_case_messages(kafka, topics, case_id, as_of)
    ]
