"""The transactional outbox relay: from a service's notification log to its Kafka topic.

The event store is the outbox: an event is committed once, with the aggregate, and the relay
publishes the log's notifications in order, after the last position it recorded. The position
is stored (a tracking record in the service's own database) only after the broker acknowledged
every message up to it, so a crash or a broker outage can publish a message twice, never zero
times. Consumers de-duplicate by the CloudEvent ``id``.
"""

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from eventsourcing.persistence import Tracking
from kafka.errors import KafkaError

from shared.application import ServiceApplication
from shared.envelope import CONTENT_TYPE, CloudEvent
from shared.publishing import EventCatalogue

log = logging.getLogger("homeward.outbox")


class Producer(Protocol):
    def send(self, topic: str, *, value: bytes, key: bytes, headers: list[Any]) -> Any: ...
    def close(self, timeout: float | None = None) -> None: ...


class OutboxRelay:
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
        self.application = application
        self.catalogue = catalogue
        self.topic = topic
        self.name = f"{application.name}-outbox-{topic}"
        self._route = route or (lambda _message: topic)
        self._producer_factory = producer_factory
        self._producer: Producer | None = None
        self._tracking = application.factory.tracking_recorder()
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._ack_timeout = ack_timeout_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

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

    def run(self) -> None:
        """Publish until stopped; a broker outage only delays publishing, with back-off."""
        backoff = self._poll_seconds
        while not self._stop.is_set():
            try:
                moved = self.publish_pending()
            except Exception as error:  # a broker or database outage: keep trying
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning(
                    "relay %s cannot publish (%s); retrying in %.1f s",
                    self.name,
                    self.last_error,
                    backoff,
                )
                self._drop_producer()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self.last_error = None
            backoff = self._poll_seconds
            if moved < self._batch_size:
                self._stop.wait(self._poll_seconds)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._drop_producer()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
