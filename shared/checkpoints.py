"""Checkpoints of each service's event chain on Kafka, out of reach of whoever can write to
the service's database.

The relay that holds a service's lease publishes the chain's head (its notification id and
hash) to ``homeward.audit.checkpoints`` every ``HOMEWARD_AUDIT_CHECKPOINT_SECONDS`` when it
moved, and once more when the relay stops. A store rewritten later, links included, no longer
gives the hash a checkpoint recorded (``homeward audit verify``).
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import uuid5

from shared.chain import ChainLink, EventChain
from shared.envelope import CONTENT_TYPE, EVENT_ID_NAMESPACE, CloudEvent, event_type, schema_url
from shared.kafka import CHECKPOINT_TOPIC
from shared.publishing import EventCatalogue, published

log = logging.getLogger("homeward.checkpoints")

CLOSING_ACK_SECONDS = 2.0  # a stopping service waits this long at most for its last checkpoint


class ChainCheckpointed:
    """A service's event chain as it stood: the hash of its link at a notification id. A
    store changed at or before that notification, links rewritten or not, no longer gives
    this hash."""

    about_a_child: ClassVar = False  # hashes and positions: nothing about a child
    service: str
    chain: str  # the hash of the chain's first link (hex): which store's chain it is
    notification_id: int
    hash: str  # the hash of the link at notification_id (hex)


CATALOGUE = EventCatalogue("audit", published(ChainCheckpointed))
CHECKPOINT_TYPE = event_type("audit", "ChainCheckpointed", 1)


def checkpoint_message(
    service: str, chain: str, head: ChainLink, at: datetime, schemas_at: str
) -> CloudEvent:
    """The message of one checkpoint; its ``id`` is the same however often it is sent. The
    service at ``schemas_at`` serves its schema."""
    return CloudEvent(
        specversion="1.0",
        id=str(uuid5(EVENT_ID_NAMESPACE, f"checkpoint/{service}/{chain}/{head.notification_id}")),
        source=f"/homeward/{service}",
        type=CHECKPOINT_TYPE,
        subject=service,
        time=at,
        dataschema=schema_url(schemas_at, CHECKPOINT_TYPE),
        partitionkey=service,  # one service's checkpoints stay in order
        data={
            "service": service,
            "chain": chain,
            "notification_id": head.notification_id,
            "hash": head.hash.hex(),
        },
    )


class Checkpointer:
    """Publishes a store's chain head when due, through the relay's producer."""

    def __init__(
        self,
        service: str,
        recorder: EventChain,
        every_seconds: float,
        schemas_at: str,
        *,
        topic: str = CHECKPOINT_TOPIC,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.recorder = recorder
        self.every_seconds = every_seconds
        self.schemas_at = schemas_at
        self.topic = topic
        self._monotonic = monotonic
        self._chain: str | None = None
        self._last_sent: int | None = None  # the notification id of the last checkpoint sent
        self._last_time: float | None = None

    def due(self) -> bool:
        return self._last_time is None or (
            self._monotonic() - self._last_time >= self.every_seconds
        )

    def publish(self, producer: Any, ack_seconds: float) -> CloudEvent | None:
        """Send the chain's head if it moved since the last checkpoint and wait for the
        broker's ack; return the message sent (None when there was nothing new)."""
        self._last_time = self._monotonic()
        head = self.recorder.chain_head()
        if head is None or head.notification_id == self._last_sent:
            return None
        if self._chain is None:
            self._chain = self.recorder.chain_links(0, 1)[0].hash.hex()
        message = checkpoint_message(
            self.service, self._chain, head, datetime.now(UTC), self.schemas_at
        )
        producer.send(
            self.topic,
            value=message.to_bytes(),
            key=self.service.encode(),
            headers=[("content-type", CONTENT_TYPE.encode())],
        ).get(timeout=ack_seconds)
        self._last_sent = head.notification_id
        log.debug("%s: checkpoint at notification %d", self.service, head.notification_id)
        return message


def checkpoint_of(message: CloudEvent) -> tuple[str, str, int, bytes] | None:
    """(service, chain, notification id, hash) of a checkpoint message, or None for a message
    that is no checkpoint."""
    if message.type != CHECKPOINT_TYPE:
        return None
    data = message.data
    return (
        str(data["service"]),
        str(data["chain"]),
        int(data["notification_id"]),
        bytes.fromhex(str(data["hash"])),
    )
