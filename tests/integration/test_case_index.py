"""A case's history read through the case index (shared.caseindex) is the history read by
scanning its partitions, whether the index is empty, current, behind the topics, or wrong."""

import uuid
from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from shared.caseindex import CaseOffsetIndex, index_topics
from shared.database import Database
from shared.envelope import CloudEvent
from shared.kafka import EVENT_TOPIC_PARTITIONS, KafkaConnection, ensure_topics
from shared.localkafka import LocalBroker
from shared.replay import read_case_messages


def partition_of(case_id: uuid.UUID) -> int:
    return (murmur2(str(case_id).encode()) & 0x7FFFFFFF) % EVENT_TOPIC_PARTITIONS


def beside(case_id: uuid.UUID) -> uuid.UUID:
    """Another case whose messages share the case's partitions."""
    while partition_of(other := uuid.uuid4()) != partition_of(case_id):
        pass
    return other


FIRST = uuid.uuid4()
CASES = [FIRST, beside(FIRST), *(uuid.uuid4() for _ in range(10))]


def message(case_id: uuid.UUID, version: int, topic: str) -> CloudEvent:
    """A fact of the case, or on another topic of an aggregate about the case."""
    return CloudEvent.published(
        service="intake",
        name="RiskLevelSet",
        version=1,
        case_id=case_id,
        originator_id=uuid.uuid5(case_id, topic),
        originator_version=version,
        occurred_at=datetime(2026, 10, 4, 9, version % 60, tzinfo=UTC),
        data={"level": "high"},
        schemas_at="http://intake",
    )


def publish(admin: KafkaConnection, topics: list[str], first: int, last: int) -> None:
    """Versions ``first..last`` of every case, interleaved, on every topic."""
    producer = KafkaProducer(**admin.client_kwargs())
    for version in range(first, last + 1):
        for case_id in CASES:
            for topic in topics:
                value = message(case_id, version, topic).to_bytes()
                producer.send(topic, key=str(case_id).encode(), value=value)
    producer.flush()
    producer.close()


def versions(messages: list[CloudEvent]) -> list[int]:
    return [int(m.sequence or 0) for m in messages]


@pytest.fixture
def topics(kafka_broker: LocalBroker) -> list[str]:
    named = [f"test.caseindex.{uuid.uuid4().hex[:8]}.{n}" for n in range(2)]
    ensure_topics(kafka_broker.admin, named)
    return named


@pytest.fixture
def index(event_store_env: dict[str, str]) -> CaseOffsetIndex:
    """An empty index in SQLite, and in PostgreSQL."""
    return CaseOffsetIndex(Database.named("caseindex", event_store_env))


def test_lookups_keep_the_index_and_read_what_a_scan_reads(kafka_broker, topics, index):
    admin = kafka_broker.admin
    publish(admin, topics, 1, 5)
    case = CASES[0]
    scanned = read_case_messages(admin, topics, case)
    assert versions(scanned) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]

    assert read_case_messages(admin, topics, case, index) == scanned  # empty: scans, indexes
    assert sum(len(offsets) for offsets in index.offsets_of(str(case)).values()) == 10
    # Another case of the same partitions is indexed too, by the first case's lookup.
    assert read_case_messages(admin, topics, case, index) == scanned

    publish(admin, topics, 6, 7)  # past the index's end: read, and indexed on the way
    later = read_case_messages(admin, topics, case, index)
    assert later == read_case_messages(admin, topics, case)
    assert versions(later)[-4:] == [6, 6, 7, 7]
    assert sum(len(offsets) for offsets in index.offsets_of(str(case)).values()) == 14


def test_an_index_built_at_once_serves_every_case(kafka_broker, topics, index):
    admin = kafka_broker.admin
    publish(admin, topics, 1, 3)
    assert index_topics(admin, topics, index) == len(CASES) * 3 * len(topics)
    assert index_topics(admin, topics, index) == 0  # nothing past its end
    for case in CASES:
        assert read_case_messages(admin, topics, case, index) == read_case_messages(
            admin, topics, case
        )


def test_a_wrong_index_is_built_again_and_the_account_stays_whole(kafka_broker, topics, index):
    admin = kafka_broker.admin
    publish(admin, topics, 1, 3)
    index_topics(admin, topics, index)
    case, other = CASES[0], CASES[1]  # on the same partitions
    # The case's offsets given to another key, as a topic made again would leave them.
    for (topic, part), offsets in index.offsets_of(str(case)).items():
        index.add((topic, part), [(str(other), offset) for offset in offsets], 0)
    assert read_case_messages(admin, topics, other, index) == read_case_messages(
        admin, topics, other
    )
    # An index that runs past the partitions' ends.
    for topic, part in index.offsets_of(str(case)):
        index.add((topic, part), [], 1_000_000)
    assert versions(read_case_messages(admin, topics, case, index)) == [1, 1, 2, 2, 3, 3]
