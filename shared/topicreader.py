"""Reading whole topics from their first offset, with whichever Kafka client is at hand.

A rebuild reads years of messages; what it needs of a client is small (assign partitions, go
to their beginning, learn where they end, take batches), so that small interface is all the
rebuild sees. kafka-python is the default; ``confluent-kafka`` (the ``homeward[fast]`` extra,
on librdkafka) reads the same records several times faster.
"""

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol

from kafka import KafkaConsumer, TopicPartition

from shared.kafka import KafkaConnection, UnknownTopic, topic_partitions

Partition = tuple[str, int]  # topic, partition number
# What a reader holds at once is bounded by these, not by the topics' size, so that a replay
# of a million messages needs no more memory than one of a hundred thousand: fetches of a few
# MiB keep the handlers busy (reading is not what a replay waits for).
KAFKA_PYTHON_FETCH: dict[str, Any] = {
    "max_poll_records": 5_000,
    "fetch_max_bytes": 8 * 1024 * 1024,
    "max_partition_fetch_bytes": 2 * 1024 * 1024,
}
CONFLUENT_FETCH: dict[str, Any] = {
    # librdkafka prefetches up to 64 MiB by default. A quarter of it keeps a replay as fast
    # (its handlers set the pace, not reading); 8 MiB with a smaller fetch slowed it by 30%.
    "queued.max.messages.kbytes": 16 * 1024,
}


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class TopicReader(Protocol):
    def partitions(self, topics: list[str]) -> list[Partition]: ...

    def assign_from_beginning(self, partitions: list[Partition]) -> None: ...

    def end_offsets(self, partitions: list[Partition]) -> dict[Partition, int]: ...

    def poll_batch(self, timeout_seconds: float) -> list[Record]: ...

    def close(self) -> None: ...


class KafkaPythonReader:
    """The default: kafka-python, in no consumer group, committing nothing."""

    def __init__(self, connection: KafkaConnection) -> None:
        self._consumer = KafkaConsumer(
            **connection.client_kwargs(), enable_auto_commit=False, **KAFKA_PYTHON_FETCH
        )

    def partitions(self, topics: list[str]) -> list[Partition]:
        return [(p.topic, p.partition) for p in topic_partitions(self._consumer, topics)]

    def assign_from_beginning(self, partitions: list[Partition]) -> None:
        assigned = [TopicPartition(*p) for p in partitions]
        self._consumer.assign(assigned)
        self._consumer.seek_to_beginning(*assigned)

    def end_offsets(self, partitions: list[Partition]) -> dict[Partition, int]:
        ends = self._consumer.end_offsets([TopicPartition(*p) for p in partitions])
        return {(p.topic, p.partition): offset for p, offset in ends.items()}

    def poll_batch(self, timeout_seconds: float) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=int(timeout_seconds * 1000))
        return [
            Record(r.topic, r.partition, r.offset, r.key, r.value)
            for records in batches.values()
            for r in records
        ]

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class ConfluentReader:
    """The fast path: confluent-kafka (librdkafka), in no consumer group, committing nothing."""

    def __init__(self, connection: KafkaConnection) -> None:
        from confluent_kafka import Consumer  # the homeward[fast] extra, imported when chosen

        config: dict[str, Any] = (
            connection.librdkafka_config()
            | {
                # librdkafka wants a group id even for assigned partitions; nothing is committed.
                "group.id": f"{connection.principal}-rebuild",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            }
            | CONFLUENT_FETCH
        )
        self._consumer = Consumer(config)

    def partitions(self, topics: list[str]) -> list[Partition]:
        found = []
        for topic in topics:
            metadata = self._consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is not None and metadata.error is None:
                found += [(topic, number) for number in sorted(metadata.partitions)]
        return found

    def assign_from_beginning(self, partitions: list[Partition]) -> None:
        from confluent_kafka import OFFSET_BEGINNING
        from confluent_kafka import TopicPartition as ConfluentPartition

        self._consumer.assign([ConfluentPartition(t, p, OFFSET_BEGINNING) for t, p in partitions])

    def end_offsets(self, partitions: list[Partition]) -> dict[Partition, int]:
        from confluent_kafka import TopicPartition as ConfluentPartition

        return {
            (topic, number): self._consumer.get_watermark_offsets(
                ConfluentPartition(topic, number), timeout=10
            )[1]
            for topic, number in partitions
        }

    def poll_batch(self, timeout_seconds: float) -> list[Record]:
        records = []
        for message in self._consumer.consume(num_messages=5_000, timeout=timeout_seconds):
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if message.error() is not None or topic is None or partition is None or offset is None:
                continue  # the end of a partition, reported as an "error" by librdkafka
            records.append(Record(topic, partition, offset, message.key(), message.value() or b""))
        return records

    def close(self) -> None:
        self._consumer.close()


READERS: dict[str, Callable[[KafkaConnection], TopicReader]] = {
    "kafka-python": KafkaPythonReader,
    "confluent": ConfluentReader,
}


def read_from_beginning(
    reader: TopicReader, topics: list[str]
) -> tuple[dict[Partition, int], Iterator[Record]]:
    """Where each partition of ``topics`` ends now, and its records from the first offset to
    that end (what comes later is the live consumers' work)."""
    partitions = reader.partitions(topics)
    missing = set(topics) - {topic for topic, _ in partitions}
    if missing:
        raise UnknownTopic(f"no topic {', '.join(sorted(missing))} to read")
    reader.assign_from_beginning(partitions)
    ends = reader.end_offsets(partitions)

    def records() -> Iterator[Record]:
        left = {p for p, end in ends.items() if end > 0}
        while left:
            batch = [r for r in reader.poll_batch(0.2) if r.offset < ends[(r.topic, r.partition)]]
            for record in batch:
                if record.offset + 1 >= ends[(record.topic, record.partition)]:
                    left.discard((record.topic, record.partition))
            yield from batch

    return ends, records()
