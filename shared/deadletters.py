"""Dead letters: how a consumer parks a message, and how an operator lists and replays them.

A consumer parks what it can never apply on ``<topic>.dlq`` (one partition, kept forever):
the message's own key, value and headers, plus headers of ours saying why, where it was read
and by which consumer. ``homeward dlq list`` prints each parked message's metadata, never its
data; ``homeward dlq replay`` sends parked messages back to the partition they were read from
once the cause is fixed.

A replay needs nothing from the consumers: a parked message never entered its consumer's inbox
(the handler's transaction rolled back, or a check refused it before one began), so the
consumers that parked it apply the replayed copy as a new message, while the inbox of those
that had applied it skips it by its CloudEvent ``id``. The parked copy stays where it is: the
dead-letter topic is part of the record.
"""

import string
from collections.abc import Iterable
from dataclasses import dataclass

from kafka.consumer.fetcher import ConsumerRecord

from shared.envelope import CloudEvent, MalformedMessage
from shared.kafka import KafkaConnection, dead_letter_topic, read_to_end, reliable_producer

HEADER_PREFIX = "dlq."
REASON = "dlq.reason"
READ_FROM_TOPIC = "dlq.topic"
READ_FROM_PARTITION = "dlq.partition"
READ_FROM_OFFSET = "dlq.offset"
CONSUMER = "dlq.consumer"
REPLAYED_FROM = "dlq.replayed-from"  # on a replayed copy: the dead-letter topic and offset

PRINTABLE = set(string.printable) - set("\t\n\r\x0b\x0c")
LONGEST_PRINTED = 300


def parking_headers(record: ConsumerRecord, consumer: str, reason: str) -> list[tuple[str, bytes]]:
    """The headers of a message's parked copy: its own first, ours last (a reader taking the
    last value of a name gets ours, whatever the sender put in its own)."""
    return [
        *(record.headers or []),
        (REASON, reason.encode()),
        (READ_FROM_TOPIC, record.topic.encode()),
        (READ_FROM_PARTITION, str(record.partition).encode()),
        (READ_FROM_OFFSET, str(record.offset).encode()),
        (CONSUMER, consumer.encode()),
    ]


class NotParked(ValueError):
    """A record of a dead-letter topic that no consumer of the platform parked."""


@dataclass(frozen=True)
class ParkedMessage:
    dead_letter_topic: str
    offset: int  # on the dead-letter topic
    topic: str  # where the consumer read it
    partition: int
    original_offset: int
    consumer: str
    reason: str
    key: bytes | None
    value: bytes
    own_headers: list[tuple[str, bytes]]
    event_id: str | None  # None for bytes that are no CloudEvent
    event_type: str | None

    @classmethod
    def of(cls, record: ConsumerRecord) -> "ParkedMessage":
        ours = {name: value.decode(errors="replace") for name, value in record.headers or []}
        try:
            message: CloudEvent | None = CloudEvent.from_bytes(record.value or b"")
        except MalformedMessage:
            message = None
        try:
            return cls(
                dead_letter_topic=record.topic,
                offset=record.offset,
                topic=ours[READ_FROM_TOPIC],
                partition=int(ours[READ_FROM_PARTITION]),
                original_offset=int(ours[READ_FROM_OFFSET]),
                consumer=ours[CONSUMER],
                reason=ours[REASON],
                key=record.key,
                value=record.value or b"",
                own_headers=[
                    (name, value)
                    for name, value in record.headers or []
                    if not name.startswith(HEADER_PREFIX)
                ],
                event_id=message.id if message else None,
                event_type=message.type if message else None,
            )
        except (KeyError, ValueError) as missing:
            raise NotParked(
                f"{record.topic}@{record.offset} is not a parked message (header {missing})"
            ) from None

    @property
    def identity(self) -> str | tuple[str, int, int]:
        """What tells one message from another: its CloudEvent id, or where it was read."""
        return self.event_id or (self.topic, self.partition, self.original_offset)

    def describe(self) -> str:
        """One line of metadata; the message's data is never printed."""
        key = None if self.key is None else self.key.decode(errors="replace")
        return (
            f"offset={self.offset} read_from={self.topic}[{self.partition}]@"
            f"{self.original_offset} key={printable(key)} id={printable(self.event_id)} "
            f"type={printable(self.event_type)} consumer={self.consumer} "
            f"reason={printable(self.reason)}"
        )


def printable(text: str | None) -> str:
    """Text from a message, safe for a terminal and a log line: one line, no control
    characters, bounded."""
    if text is None:
        return "-"
    shown = "".join(c if c in PRINTABLE else "?" for c in text)
    return shown if len(shown) <= LONGEST_PRINTED else shown[:LONGEST_PRINTED] + "..."


def parked_messages(kafka: KafkaConnection, topic: str) -> list[ParkedMessage]:
    """Every message parked from ``topic``, in the order it was parked."""
    return [ParkedMessage.of(record) for record in read_to_end(kafka, [dead_letter_topic(topic)])]


def select(
    parked: Iterable[ParkedMessage], *, event_id: str | None = None, since: int | None = None
) -> list[ParkedMessage]:
    """The parked messages to replay: those of one CloudEvent id, or from one offset of the
    dead-letter topic on, or all; each distinct message once, at its first parking."""
    chosen: dict[str | tuple[str, int, int], ParkedMessage] = {}
    for message in parked:
        if event_id is not None and message.event_id != event_id:
            continue
        if since is not None and message.offset < since:
            continue
        chosen.setdefault(message.identity, message)
    return list(chosen.values())


def replay(kafka: KafkaConnection, messages: list[ParkedMessage], timeout_seconds: float) -> None:
    """Send each message back to the partition it was read from, as it was sent there, with
    where its parked copy is; return once the broker acknowledged every one."""
    producer = reliable_producer(kafka, "homeward-dlq-replay", timeout_seconds)
    try:
        sent = [
            producer.send(
                message.topic,
                value=message.value,
                key=message.key,
                headers=[
                    *message.own_headers,
                    (REPLAYED_FROM, f"{message.dead_letter_topic}@{message.offset}".encode()),
                ],
                partition=message.partition,
            )
            for message in messages
        ]
        for future in sent:
            future.get(timeout=timeout_seconds)
    finally:
        producer.close(timeout=timeout_seconds)
