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
