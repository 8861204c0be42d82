"""Reading topics the way a partner agency would: a plain kafka-python consumer, no project code."""

import json
import time
import uuid
from typing import Any

from kafka import KafkaConsumer


def read_messages(
    bootstrap: str, topic: str, *, key: str | None = None, expect: int = 1, timeout: float = 30
) -> list[Any]:
    """Records of ``topic`` (only those with ``key``, if given), once ``expect`` have arrived
    or the timeout passed; reads from the beginning in a consumer group of its own."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"partner-test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(found) < expect:
            for records in consumer.poll(timeout_ms=300).values():
                found += [r for r in records if key is None or r.key == key.encode()]
        # A little longer, so that an unexpected extra message would be seen too.
        for records in consumer.poll(timeout_ms=500).values():
            found += [r for r in records if key is None or r.key == key.encode()]
    finally:
        consumer.close(autocommit=False)
    return found


def as_json(record: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(record.value)
    return document
