"""A case's messages from Kafka alone: what an auditor's account of a case is read from.

The topics keep every event forever. A case's messages are keyed by the case, so one partition
of each topic holds them all: only that partition is read, at the offsets the case index
(:mod:`shared.caseindex`) holds and past its end, or from its beginning without an index; the
messages whose key is the case are kept, republished duplicates dropped by CloudEvent ``id``.
"""

from datetime import datetime
from uuid import UUID

from shared.caseindex import CaseOffsetIndex, KeyReader, read_key
from shared.envelope import CloudEvent, MalformedMessage
from shared.kafka import KafkaConnection


def read_case_messages(
    kafka: KafkaConnection | KeyReader,
    topics: list[str],
    case_id: UUID,
    index: CaseOffsetIndex | None = None,
) -> list[CloudEvent]:
    """Every distinct message about one case on ``topics``, oldest first, read through the
    reader given (a client kept between lookups) or through a client made for this one."""
    key = str(case_id).encode()
    found: dict[str, CloudEvent] = {}
    for record in read_key(kafka, topics, key, index):
        try:
            message = CloudEvent.from_bytes(record.value)
        except MalformedMessage:
            continue
        found.setdefault(message.id, message)
    return sorted(found.values(), key=lambda m: (m.time or datetime.min, m.sequence or ""))
