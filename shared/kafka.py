"""Kafka names and clients shared by every service.

One event topic per service, keyed by case id so that one child's events keep their order;
infinite retention because the topics are the platform's audit record.
"""

import contextlib
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

SERVICES = ("intake", "referral", "followup")
EVENT_TOPIC_PARTITIONS = 6
DEAD_LETTER_SUFFIX = ".dlq"


def event_topic(service: str) -> str:
    return f"homeward.{service}.events"


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX


ACCESS_TOPIC = "homeward.audit.access"


def platform_topics() -> list[str]:
    topics = [event_topic(service) for service in SERVICES]
    return [*topics, *(dead_letter_topic(topic) for topic in topics), ACCESS_TOPIC]


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int = EVENT_TOPIC_PARTITIONS,
    retention_ms: int = -1,
) -> list[str]:
    """Create the topics that do not exist yet; return the ones created. Safe to repeat.
    Retention is infinite unless said otherwise: the event topics are the audit record."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="homeward-admin")
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in dict.fromkeys(topics) if topic not in existing]
        if missing:
            # Someone else may create one of them meanwhile; the broker creates each topic of a
            # request on its own, so the others are made all the same.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    {
                        topic: {
                            "num_partitions": partitions,
                            "replication_factor": 1,
                            "configs": {"retention.ms": str(retention_ms)},
                        }
                        for topic in missing
                    },
                    wait_for_metadata=True,
                )
        return missing
    finally:
        admin.close()


def reliable_producer(bootstrap: str, client_id: str, timeout_seconds: float) -> KafkaProducer:
    """A producer that waits for every in-sync replica and never reorders or duplicates a retry.

    ``max_block_ms`` bounds how long ``send`` waits for metadata, so a broker outage surfaces
    as an error the caller can retry instead of a hang.
    """
    timeout_ms = int(timeout_seconds * 1000)
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_block_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
        delivery_timeout_ms=timeout_ms + 5000,
        reconnect_backoff_max_ms=2000,
    )


def topic_partitions(consumer: KafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    return [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]


def rewind_consumer_group(bootstrap: str, group: str, topics: list[str]) -> None:
    """Move a consumer group's committed offsets back to the start of its topics, so that it
    reads them all again (a rebuild). The group must have no running member."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=f"{group}-rewind",
        enable_auto_commit=False,
    )
    try:
        starts = consumer.beginning_offsets(topic_partitions(consumer, topics))
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in starts.items()})
    finally:
        consumer.close(autocommit=False)
