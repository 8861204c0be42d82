"""The transactional outbox relay: from a service's notification log to its Kafka topic.

The event store is the outbox: an event is committed once, with the aggregate, and the relay
publishes the log's notifications in order, after the last position it recorded. The position
is stored (a tracking record in the service's own database) only after the broker acknowledged
every message up to it, so a crash or a broker outage can publish a message twice, never zero
times. Consumers de-duplicate by the CloudEvent ``id``.
"""

import logging
from collections.abc import Callable
from typing import Any, Protocol

from eventsourcing.persistence import Tracking
from kafka.errors import KafkaError

from shared.application import ServiceApplication
from shared.background import BackgroundWorker
from shared.envelope import CONTENT_TYPE, CloudEvent
from shared.publishing import EventCatalogue

log = logging.getLogger("homeward.outbox")


class Producer(Protocol):
    def send(self, topic: str, *, value: bytes, key: bytes, headers: list[Any]) -> Any: ...
    def close(self, timeout: float | None = None) -> None: ...


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
        route: Callable[[CloudEvent], str] | None = None,
        batch_size: int = 200,
        poll_seconds: float = 0.2,
        ack_timeout_seconds: float = 10.0,
    ) -> None:
        super().__init__(f"{application.name}-outbox-{topic}", retry_seconds=poll_seconds)
        self.application = application
        self.catalogue = catalogue
        self.topic = topic
        self._route = route or (lambda _message: topic)
        self._producer_factory = producer_factory
        self._producer: Producer | None = None
        self._tracking = application.factory.tracking_recorder()
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._ack_timeout = ack_timeout_seconds

    @property
    def position(self) -> int:
        """The id of the last notification known to be on the topic."""
        return self._tracking.max_tracking_id(self.name) or 0

    def lag(self) -> int:
        """How many recorded events wait to be published."""
        return (self.application.recorder.max_notification_id() or 0) - self.position

    def publish_pending(self) -> int:
        """Publish one batch; return how many notifications it moved the position over."""
        start = self.position
        notifications = self.application.recorder.select_notifications(
            start=start, limit=self._batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        producer = self._connected_producer()
        sent = []
        for notification in notifications:
            message = self.catalogue.to_cloudevent(
                self.application.mapper.to_domain_event(notification), self.application
            )
            future = None
            if message is not None:
                future = producer.send(
                    self._route(message),
                    value=message.to_bytes(),
                    key=(message.partitionkey or "").encode(),
                    headers=[("content-type", CONTENT_TYPE.encode())],
                )
            sent.append((notification.id, future))
        published_up_to = start
        try:
            for notification_id, future in sent:
                if future is not None:
                    future.get(timeout=self._ack_timeout)
                published_up_to = notification_id
        finally:
            # Only an unbroken run of acknowledged messages moves the position.
            if published_up_to > start:
                self.record_position(published_up_to)
        return published_up_to - start

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
        moved = self.publish_pending()
        return 0.0 if moved >= self._batch_size else self._poll_seconds

    def recover(self) -> None:
        self._drop_producer()

    def close(self) -> None:
        self._drop_producer()
