"""The consumer base: every Kafka consumer of the platform reads through this.

- Offsets are committed only after a message was processed (never automatically).
- De-duplication: the CloudEvent ``id`` goes into the consumer's inbox table in the same
  transaction as the handler's effect, so a message delivered twice is applied once.
- Only what can never be applied goes to ``<topic>.dlq``, with the reason in a header: bytes
  that are no CloudEvent, whatever their shape; a type that is not published or data that
  breaks its published schema (when the consumer checks them); a message its handler refuses
  (:class:`UnacceptableMessage`). The consumer then goes on with the next message.
- Anything else that fails (a database locked or down, a broker error) is not the message's
  fault: the consumer retries it, backing off, for as long as it takes, holding its offset, and
  shows the error in ``last_error`` (``/healthz``) meanwhile. A valid message is never dropped.

Two kinds of effect: a projection writes its rows in the inbox's transaction (``Handler``); a
command handler (``CommandHandler``) records events through an application, in transactions
of its own, so it must itself be idempotent for a message it has seen (the aggregates it
changes remember the message ids they applied); the inbox then skips later copies cheaply.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from shared.background import MAX_BACKOFF_SECONDS, BackgroundWorker
from shared.database import Database, Transaction
from shared.deadletters import parking_headers
from shared.envelope import CloudEvent, MalformedMessage
from shared.kafka import (
    KafkaConnection,
    dead_letter_topic,
    ensure_dead_letter_topics,
    reliable_producer,
)
from shared.publishing import NotPublished, check_published

log = logging.getLogger("homeward.consumer")

Handler = Callable[[CloudEvent, Transaction], None]
CommandHandler = Callable[[CloudEvent, str], None]  # the message and the topic it came on


class ParkedBecause(StrEnum):
    """Why a message went to the dead-letter topic, as a class: the metrics count by it (the
    reason's own text, in the ``dlq.reason`` header, may name anything)."""

    NOT_A_CLOUDEVENT = "not_a_cloudevent"
    REFUSED_BY_CHECK = "refused_by_check"  # a type not published, data breaking its schema
    REFUSED_BY_HANDLER = "refused_by_handler"


class StoppedMidMessage(Exception):
    """The consumer was stopped while it retried a message: nothing past it is committed, so
    the message is read again when the consumer comes back."""


class UnacceptableMessage(Exception):
    """A readable message that must not be applied (fails its schema, breaks a rule): it goes
    to the dead-letter topic at once, with this exception's text as the reason."""


def published_only(message: CloudEvent) -> None:
    """The check of a platform topic's consumer: a published type, meeting its schema."""
    try:
        check_published(message)
    except NotPublished as error:
        raise UnacceptableMessage(str(error)) from None


# How often a consumer commits its offsets: each commit is a round trip to the group's
# coordinator, and committing after every fetch cost a sixth of a busy worker's time.
COMMIT_EVERY_SECONDS = 1.0

INBOX_DDL = """
CREATE TABLE IF NOT EXISTS homeward_inbox (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
)"""


class EventConsumer(BackgroundWorker):
    """One consumer group member that applies messages from some topics to its own database."""

    def __init__(
        self,
        name: str,
        topics: list[str],
        kafka: KafkaConnection,
        database: Database,
        handler: Handler | None = None,
        *,
        command_handler: CommandHandler | None = None,
        pattern: str | None = None,
        check: Callable[[CloudEvent], None] | None = None,
        retry_seconds: float = 0.5,
        kafka_timeout_seconds: float = 10.0,
    ) -> None:
        super().__init__(name)
        self.topics = topics
        self.kafka = kafka
        self.database = database
        if handler is None and command_handler is None:
            raise ValueError("give a consumer a handler, a command handler, or both")
        self.handler = handler
        self.command_handler = command_handler
        self.pattern = pattern
        self.check = check  # raises UnacceptableMessage for what may never be applied
        self.retry_seconds = retry_seconds
        self.kafka_timeout_seconds = kafka_timeout_seconds
        self._consumer: KafkaConsumer | None = None
        self._dead_letters: Any = None
        self._done: dict[TopicPartition, OffsetAndMetadata] = {}  # processed, not committed
        self._commit_due = 0.0
        self._parked_since_commit = False
        # Counters for the metrics, written by the consumer's thread only.
        self.applied: Counter[str] = Counter()  # by topic
        self.duplicates: Counter[str] = Counter()  # by topic: already in the inbox, skipped
        self.parked: Counter[tuple[str, ParkedBecause]] = Counter()  # by topic and class
        self.retried_messages = 0
        # Messages on the topics not yet processed, by topic, as the last poll left them.
        self.lag: dict[str, int] = {}
        with database.transaction() as tx:
            tx.execute(INBOX_DDL)

    def _connect(self) -> KafkaConsumer:
        if self._consumer is None:
            # The topics read are made by their owners or the platform's set-up, with their
            # retention (a reader may not make them); their dead-letter topics are ours.
            ensure_dead_letter_topics(self.kafka, self.topics)
            self._consumer = KafkaConsumer(
                *self.topics,
                **self.kafka.client_kwargs(),
                group_id=self.name,
                client_id=self.name,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=100,
                # A member that crashed leaves the group within seconds, not the client's
                # default 45 s, so the others (and its own restart) take over its partitions.
                session_timeout_ms=10_000,
                max_poll_interval_ms=60_000,
                # A pattern subscription notices new topics (a new partner) within seconds.
                metadata_max_age_ms=3000 if self.pattern else 300_000,
            )
            if self.pattern:
                self._consumer.subscribe(pattern=self.pattern)
        return self._consumer

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Fetch and process one batch; return how many messages were taken off the topics."""
        consumer = self._connect()
        batches = consumer.poll(timeout_ms=timeout_ms)
        taken = 0
        for partition, records in batches.items():
            for record in records:
                self._process(record)
                taken += 1
            self._done[partition] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        if self._done and (self._parked_since_commit or time.monotonic() >= self._commit_due):
            self._commit_done(consumer)
        self.lag = self._lag(consumer)
        return taken

    @staticmethod
    def _lag(consumer: KafkaConsumer) -> dict[str, int]:
        """End offset minus position, summed by topic, over the partitions assigned, from what
        the fetches already brought back: no request to the broker. A partition not fetched
        from yet is left out."""
        lag: dict[str, int] = {}
        for partition in consumer.assignment():
            end = consumer.highwater(partition)
            if end is not None:
                behind = max(end - consumer.position(partition), 0)
                lag[partition.topic] = lag.get(partition.topic, 0) + behind
        return lag

    def _commit_done(self, consumer: KafkaConsumer) -> None:
        """Commit how far every partition was processed, in one request. Messages applied
        since the last commit are read again after a crash or a rebalance, and the inbox skips
        them; a parked message is not in the inbox, so a batch that parked one is committed at
        once, never parked twice."""
        done, self._done = self._done, {}
        self._parked_since_commit = False
        self._commit_due = time.monotonic() + COMMIT_EVERY_SECONDS
        try:
            consumer.commit(done)
        except CommitFailedError:
            # The group rebalanced: another member re-reads these messages and the inbox
            # makes sure none is applied twice.
            log.warning("consumer %s lost partitions before committing", self.name)

    def _process(self, record: ConsumerRecord) -> None:
        try:
            message = CloudEvent.from_bytes(record.value)
            if self.check is not None:
                self.check(message)
        except MalformedMessage as error:
            self._dead_letter(record, str(error), ParkedBecause.NOT_A_CLOUDEVENT)
            return
        except UnacceptableMessage as error:
            self._dead_letter(record, str(error), ParkedBecause.REFUSED_BY_CHECK)
            return
        backoff = self.retry_seconds
        while True:
            try:
                applied = self._apply_once(message, record.topic)
                (self.applied if applied else self.duplicates)[record.topic] += 1
                self.last_error = None
                return
            except UnacceptableMessage as error:
                self._dead_letter(record, str(error), ParkedBecause.REFUSED_BY_HANDLER)
                return
            except Exception as error:
                self.retried_messages += 1
                self.last_error = f"event {message.id}: {type(error).__name__}: {error}"[:500]
                log.warning(
                    "consumer %s: %s; retrying in %.1f s", self.name, self.last_error, backoff
                )
                if self._stop.wait(backoff):
                    raise StoppedMidMessage(self.name) from None
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _apply_once(self, message: CloudEvent, topic: str) -> bool:
        """Apply a message unless the inbox has it; True if it was new. With both handlers,
        the projection commits with its inbox row first, then the command runs, with an inbox
        of its own: a command that fails is retried without the projection applying twice."""
        new = self.handler is not None and self.apply_projection(message, topic)
        if self.command_handler is not None:
            inbox = self.name if self.handler is None else f"{self.name}:commands"
            with self.database.transaction() as tx:
                seen = tx.fetchall(
                    "SELECT 1 FROM homeward_inbox WHERE consumer = ? AND event_id = ?",
                    (inbox, message.id),
                )
            if not seen:
                self.command_handler(message, topic)
                new = True
            with self.database.transaction() as tx:
                self._record_in_inbox(tx, inbox, message, topic)
        return new

    def apply_projection(self, message: CloudEvent, topic: str) -> bool:
        """Apply a message to the projection with its inbox row, unless the inbox has it; True
        if it was new. A rebuild runs this too, the command handler never."""
        with self.database.transaction() as tx:
            return self.apply_projection_in(tx, message, topic)

    def apply_projection_in(self, tx: Transaction, message: CloudEvent, topic: str) -> bool:
        """The same in the caller's transaction: a rebuild applies many messages in one."""
        assert self.handler is not None
        if self._record_in_inbox(tx, self.name, message, topic):
            self.handler(message, tx)
            return True
        log.debug("consumer %s: event %s already applied", self.name, message.id)
        return False

    @staticmethod
    def _record_in_inbox(tx: Transaction, inbox: str, message: CloudEvent, topic: str) -> bool:
        """True if the message is new to this inbox."""
        return bool(
            tx.execute(
                "INSERT INTO homeward_inbox (consumer, event_id, topic, received_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (inbox, message.id, topic, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            )
        )

    def _dead_letter(self, record: ConsumerRecord, reason: str, because: ParkedBecause) -> None:
        """Park a message with its reason; wait for the broker's ack before moving on. The
        message keeps its own headers, so that ``homeward dlq replay`` can send it back as it
        was. Nothing of it went into the inbox: a replayed copy is applied like a new one."""
        if self._dead_letters is None:
            self._dead_letters = reliable_producer(
                self.kafka, f"{self.name}-dlq", self.kafka_timeout_seconds
            )
        self._dead_letters.send(
            dead_letter_topic(record.topic),
            value=record.value,
            key=record.key,
            headers=parking_headers(record, self.name, reason),
            partition=0,  # one ordered log of parked messages, whatever the topic's partitions
        ).get(timeout=self.kafka_timeout_seconds)
        self.parked[(record.topic, because)] += 1
        self._parked_since_commit = True
        log.warning(
            "consumer %s: %s[%d]@%d sent to the dead-letter topic: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            reason,
        )

    def step(self) -> float:
        try:
            self.poll_once()
        except StoppedMidMessage:
            log.info("consumer %s stopped while retrying a message", self.name)
        return 0.0  # the poll itself waits for messages

    def recover(self) -> None:
        # Reconnecting rewinds to the last committed offsets, so the messages of the failed
        # batch are read again (the inbox skips those already applied).
        self.close()

    def close(self) -> None:
        try:
            if self._consumer is not None:
                if self._done:
                    self._commit_done(self._consumer)
                self._consumer.close(autocommit=False)
            if self._dead_letters is not None:
                self._dead_letters.close(timeout=2)
        except KafkaError:
            log.debug("consumer %s: closing its clients failed", self.name, exc_info=True)
        self._consumer = None
        self._dead_letters = None
