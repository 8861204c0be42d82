"""The consumer base parks what it cannot read on the dead-letter topic and keeps going."""

import time
import uuid

from kafka import KafkaProducer

from services.intake.service import build_runtime
from shared.consumer import EventConsumer
from shared.kafka import ADMIN, ensure_topics, kafka_connection
from tests.partner import read_messages
from tests.samples import probe


def test_malformed_messages_go_to_the_dead_letter_topic_and_the_consumer_goes_on(
    settings, sqlite_env
):
    topic = f"homeward.test.{uuid.uuid4().hex[:8]}"
    admin = kafka_connection(settings, ADMIN)  # a topic and a consumer group of the test's own
    ensure_topics(admin, [topic], partitions=1)
    valid = probe(n=1)
    producer = KafkaProducer(**admin.client_kwargs())
    for value in (b"\xff not json", b'{"id": "x", "source": "/s", "type": "t"}', valid.to_bytes()):
        producer.send(topic, value=value, key=b"k").get(timeout=10)
    producer.close()

    runtime = build_runtime(settings, sqlite_env)
    seen: list[str] = []
    consumer = EventConsumer(
        "dlq-test",
        [topic],
        admin,
        runtime.database,
        lambda message, _tx: seen.append(message.id),
    )
    deadline = time.monotonic() + 30
    try:
        while not seen and time.monotonic() < deadline:
            consumer.poll_once(timeout_ms=300)
    finally:
        consumer.close()

    assert seen == [valid.id]
    parked = read_messages(admin.client_kwargs(), f"{topic}.dlq", expect=2)
    reasons = [dict(record.headers)["dlq.reason"].decode() for record in parked]
    assert next(record.value for record in parked) == b"\xff not json"
    assert reasons[0].startswith("not JSON")
    assert "specversion" in reasons[1]
    assert dict(parked[1].headers)["dlq.offset"] == b"1"
    runtime.application.close()


def crash(consumer: EventConsumer) -> None:
    """The consumer's process dies: its client goes without committing anything more."""
    assert consumer._consumer is not None
    consumer._consumer.close(autocommit=False)
    consumer._consumer = None


def test_offsets_are_committed_now_and_then_and_at_once_after_a_parked_message(
    settings, sqlite_env, monkeypatch
):
    monkeypatch.setattr("shared.consumer.COMMIT_EVERY_SECONDS", 3600)
    topic = f"homeward.test.{uuid.uuid4().hex[:8]}"
    admin = kafka_connection(settings, ADMIN)
    ensure_topics(admin, [topic], partitions=1)
    producer = KafkaProducer(**admin.client_kwargs())

    def send(value: bytes) -> None:
        producer.send(topic, value=value, key=b"k").get(timeout=10)

    runtime = build_runtime(settings, sqlite_env)
    seen: list[str] = []
    consumer = EventConsumer(
        "commit-test", [topic], admin, runtime.database, lambda m, _tx: seen.append(m.id)
    )

    def poll_until(done) -> None:
        deadline = time.monotonic() + 30
        while not done() and time.monotonic() < deadline:
            consumer.poll_once(timeout_ms=300)

    first, second = probe(n=1), probe(n=2)
    try:
        send(first.to_bytes())
        poll_until(lambda: seen == [first.id])  # the first poll commits: none was due before
        send(b"\xff not json")
        send(second.to_bytes())
        poll_until(lambda: seen == [first.id, second.id])  # parked one: committed at once
        third = probe(n=3)
        send(third.to_bytes())
        poll_until(lambda: len(seen) == 3)  # not committed: the next commit is an hour away
        crash(consumer)
        poll_until(lambda: consumer.duplicates[topic] == 1)
    finally:
        consumer.close()
        producer.close()
    # The third message was read again and the inbox skipped it; the parked one was not.
    assert seen == [first.id, second.id, third.id]
    assert consumer.duplicates[topic] == 1
    assert sum(consumer.parked.values()) == 1
    assert len(read_messages(admin.client_kwargs(), f"{topic}.dlq", expect=1)) == 1
    runtime.application.close()
