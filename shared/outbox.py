"""The transactional outbox relay: from a service's notification log to its Kafka topic.

The event store is the outbox: an event is committed once, with the aggregate, and the relay
publishes the log's notifications in order, after the last position it recorded. The position
is stored (a tracking record in the service's own database) only after the broker acknowledged
every message up to it, so a crash or a broker outage can publish a message twice, never zero
times. Consumers de-duplicate by the CloudEvent ``id``.

A stored event the relay cannot make a message of (its stored state does not decode) is never
skipped: the relay publishes everything before it, then holds its position there and tries
again every round, logging an ERROR once per distinct failure and showing it as ``stuck`` (the
service's health is then degraded) until the event decodes again.

Several instances of a service may run on one database: each relay publishes only while it
holds the relay's lease (:mod:`shared.lease`), so exactly one instance publishes at a time and
another takes over when the holder dies. A relay given a :class:`Checkpointer` also publishes
its store's chain head when due and when it stops (:mod:`shared.checkpoints`).
"""

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import Notification, Tracking
from kafka.errors import KafkaError

from shared.application import ServiceApplication
from shared.background import BackgroundWorker
from shared.checkpoints import CLOSING_ACK_SECONDS, Checkpointer
from shared.envelope import CONTENT_TYPE, CloudEvent
from shared.lease import Lease, lease_for
from shared.publishing import EventCatalogue
from shared.signatures import sign

log = logging.getLogger("homeward.outbox")
HEADERS = [("content-type", CONTENT_TYPE.encode())]


class Producer(Protocol):
    def send(self, topic: str, *, value: bytes, key: bytes, headers: list[Any]) -> Any: ...
    def close(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class Sent:
    """A batch handed to the producer: each notification's future (None for one not
    published), the last notification it holds, and whether the relay holds after it."""

    futures: list[tuple[int, Any]]
    up_to: int
    held: bool


@dataclass(frozen=True)
class Stuck:
    """Where the relay holds, and why."""

    position: int  # the id of the notification it cannot publish
    error: str


def relay_name(application_name: str, topic: str) -> str:
    """A relay's name: also the name of its position (tracking record) in the store."""
    return f"{application_name}-outbox-{topic}"


class OutboxRelay(BackgroundWorker):
    """Publishes one application's recorded events to one topic (or to the topic ``route``
    picks for each message), resuming where it stopped."""

    def __init__(
        self,
        application: ServiceApplication,
        catalogue: EventCatalogue,
        topic: str,
        producer_factory: Callable[[], Producer],
        *,
        schemas_at: str,
        route: Callable[[CloudEvent], str] | None = None,
        batch_size: int = 500,
        batches_per_round: int = 20,
        poll_seconds: float = 0.2,
        ack_timeout_seconds: float = 10.0,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        super().__init__(relay_name(application.name, topic), retry_seconds=poll_seconds)
        self.application = application
        self.catalogue = catalogue
        self.topic = topic
        self.schemas_at = schemas_at  # the URL of the service that serves their schemas
        self._route = route or (lambda _message: topic)
        self._producer_factory = producer_factory
        self._producer: Producer | None = None
        self._tracking = application.factory.tracking_recorder()
        self._batch_size = batch_size
        self._batches_per_round = batches_per_round
        self._poll_seconds = poll_seconds
        self._ack_timeout = ack_timeout_seconds
        self.stuck: Stuck | None = None
        self.checkpointer = checkpointer
        self.lease: Lease = lease_for(application, self.name)
        self._signing_key = application.case_keys.keyring.message_signing_key(catalogue.service)

    @property
    def position(self) -> int:
        """The id of the last notification known to be on the topic."""
        return self._tracking.max_tracking_id(self.name) or 0

    def lag(self) -> int:
        """How many recorded events wait to be published."""
        return (self.application.recorder.max_notification_id() or 0) - self.position

    def publish_pending(self) -> int:
        """Publish what waits, up to ``batches_per_round`` batches; return how many
        notifications it moved the position over.

        Batches are pipelined: the next batch is read, made into messages and handed to the
        producer while the previous one is in flight, so neither the database nor the
        broker's round trip stalls the other. The position still moves only over an unbroken
        run of acknowledged messages, recorded once per batch after its last acknowledgement:
        a failure anywhere leaves it before the first message not acknowledged."""
        start = self.position
        published_up_to = recorded = start
        in_flight: deque[Sent] = deque()

        def acknowledged(sent: Sent) -> None:
            nonlocal published_up_to, recorded
            for notification_id, future in sent.futures:
                if future is not None:
                    future.get(timeout=self._ack_timeout)
                published_up_to = notification_id
            self.record_position(sent.up_to)
            recorded = sent.up_to

        try:
            read_up_to = start
            for _ in range(self._batches_per_round):
                sent = self._send_batch(read_up_to)
                if sent is None:
                    break
                in_flight.append(sent)
                read_up_to = sent.up_to
                if len(in_flight) > 1:
                    acknowledged(in_flight.popleft())
                if sent.held:
                    break
            while in_flight:
                acknowledged(in_flight.popleft())
        finally:
            # Only an unbroken run of acknowledged messages moves the position.
            if published_up_to > recorded:
                self.record_position(published_up_to)
                recorded = published_up_to
        return recorded - start

    def _send_batch(self, after: int) -> Sent | None:
        """Hand the batch after notification ``after`` to the producer; None if nothing waits
        or the first event waiting cannot be made a message."""
        notifications = self.application.recorder.select_notifications(
            start=after, limit=self._batch_size, inclusive_of_start=False
        )
        if not notifications:
            return None
        messages: list[tuple[int, CloudEvent | None]] = []
        stuck = None
        for notification in notifications:
            try:
                messages.append((notification.id, self._message_of(notification)))
            except Exception as error:  # whatever it is, the relay must not go past it
                stuck = Stuck(notification.id, f"{type(error).__name__}: {error}"[:500])
                break
        self._report(stuck)
        if not messages:
            return None
        producer = self._connected_producer()
        futures = [
            (
                notification_id,
                None
                if message is None
                else producer.send(
                    self._route(message),
                    value=sign(message, self._signing_key).to_bytes(),
                    key=(message.partitionkey or "").encode(),
                    headers=HEADERS,
                ),
            )
            for notification_id, message in messages
        ]
        return Sent(futures, messages[-1][0], held=stuck is not None)

    def _message_of(self, notification: Notification) -> CloudEvent | None:
        """The message for a stored event; None for one this relay does not publish."""
        if not self.catalogue.publishes_stored(notification.topic):
            return None
        event = self.application.mapper.to_domain_event(notification)
        return self.catalogue.to_cloudevent(event, self.application, self.schemas_at)

    def _report(self, stuck: Stuck | None) -> None:
        """Say once that the relay holds at a stored event, and once that it goes on."""
        if stuck == self.stuck:
            return
        if stuck is not None:
            log.error(
                "%s cannot publish the stored event at notification %d, and holds there "
                "(nothing after it is published until it is repaired): %s",
                self.name,
                stuck.position,
                stuck.error,
            )
        elif self.stuck is not None:
            log.info("%s publishes again from notification %d", self.name, self.stuck.position)
        self.stuck = stuck

    def record_position(self, notification_id: int) -> None:
        self._tracking.insert_tracking(Tracking(self.name, notification_id))

    def _connected_producer(self) -> Producer:
        if self._producer is None:
            self._producer = self._producer_factory()
        return self._producer

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except KafkaError:
                log.debug("closing a failed producer raised", exc_info=True)
            self._producer = None

    def step(self) -> float:
        if not self.lease.hold():
            return self._poll_seconds  # another instance publishes; wait to take over
        moved = self.publish_pending()
        if self.checkpointer is not None and self.checkpointer.due():
            self.checkpointer.publish(self._connected_producer(), self._ack_timeout)
        return 0.0 if moved >= self._batch_size else self._poll_seconds

    def recover(self) -> None:
        self._drop_producer()
        self.lease.release()  # a broken database connection may have lost it already

    def close(self) -> None:
        self._publish_last_checkpoint()
        self._drop_producer()
        self.lease.release()

    def _publish_last_checkpoint(self) -> None:
        """The chain's head as the relay stops, if it publishes and its producer is up; a
        broker that does not answer within a moment leaves the previous checkpoint standing
        rather than holding the shutdown."""
        if self.checkpointer is None or not self.lease.held or self._producer is None:
            return
        try:
            self.checkpointer.publish(self._producer, CLOSING_ACK_SECONDS)
        except Exception as error:  # stopping must go on whatever failed
            log.warning("%s: no checkpoint published on stopping: %s", self.name, error)
