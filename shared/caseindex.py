"""Where each case's messages lie on the topics, so that its history is fetched, not scanned.

A case's messages are keyed by the case, so one partition of each topic holds them all; among
a million messages that partition still holds a sixth of them. The index keeps, for every
keyed message below each partition's indexed end, its key and offset: ids and offsets only, no
personal data. It is derived from Kafka alone, so it can be dropped and built again from the
topics at any time, and whoever reads a case's history keeps it: what lies past the indexed
end of the case's partitions is scanned and every key found there indexed on the way. A
missing or stale index therefore costs a scan of the case's partitions, never an incomplete
account (and the account's check for missing versions still holds whatever the index says).
"""

from collections.abc import Iterable, Iterator
from threading import Lock

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from shared.database import Database
from shared.kafka import KafkaConnection, UnknownTopic, partitions_of_key, topic_partitions
from shared.persistence import event_store_env
from shared.settings import Settings

Partition = tuple[str, int]  # topic, partition number

INDEX_DDL = (
    """CREATE TABLE IF NOT EXISTS homeward_message_offsets (
        message_key TEXT NOT NULL,
        topic TEXT NOT NULL,
        part INTEGER NOT NULL,
        kafka_offset BIGINT NOT NULL,
        PRIMARY KEY (message_key, topic, part, kafka_offset)
    )""",
    """CREATE TABLE IF NOT EXISTS homeward_message_offsets_end (
        topic TEXT NOT NULL,
        part INTEGER NOT NULL,
        indexed_to BIGINT NOT NULL,
        PRIMARY KEY (topic, part)
    )""",
)
# A fetch at an indexed offset brings whole record batches from there: small fetches keep a
# case's hundred scattered messages from dragging in megabytes of others.
FETCH_BYTES = 32 * 1024
SCAN_FETCH_BYTES = 10 * 1024 * 1024
POLL_RECORDS = 500  # the client's default
SCAN_FROM = 1_000  # offsets past the index's end worth a client of its own, with large fetches


class CaseOffsetIndex:
    """Message keys and their offsets, below each partition's indexed end."""

    def __init__(self, database: Database) -> None:
        self._database = database
        with database.transaction() as tx:
            for statement in INDEX_DDL:
                tx.execute(statement)

    def offsets_of(self, key: str) -> dict[Partition, list[int]]:
        """The indexed offsets of ``key``, by partition, oldest first."""
        offsets: dict[Partition, list[int]] = {}
        with self._database.transaction() as tx:
            for topic, part, offset in tx.fetchall(
                "SELECT topic, part, kafka_offset FROM homeward_message_offsets "
                "WHERE message_key = ? ORDER BY kafka_offset",
                (key,),
            ):
                offsets.setdefault((topic, int(part)), []).append(int(offset))
        return offsets

    def indexed_ends(self) -> dict[Partition, int]:
        """Where each partition's index ends: every keyed message before it is indexed."""
        with self._database.transaction() as tx:
            rows = tx.fetchall("SELECT topic, part, indexed_to FROM homeward_message_offsets_end")
        return {(topic, int(part)): int(indexed_to) for topic, part, indexed_to in rows}

    def add(self, partition: Partition, found: Iterable[tuple[str, int]], indexed_to: int) -> None:
        """The keys and offsets found in ``partition`` below ``indexed_to``; two readers may
        index the same stretch at once, and the end never moves back."""
        topic, part = partition
        with self._database.transaction() as tx:
            tx.executemany(
                "INSERT INTO homeward_message_offsets (message_key, topic, part, kafka_offset) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(key, topic, part, offset) for key, offset in found],
            )
            tx.execute(
                "INSERT INTO homeward_message_offsets_end (topic, part, indexed_to) "
                "VALUES (?, ?, ?) ON CONFLICT (topic, part) DO UPDATE SET indexed_to = CASE "
                "WHEN excluded.indexed_to > homeward_message_offsets_end.indexed_to "
                "THEN excluded.indexed_to ELSE homeward_message_offsets_end.indexed_to END",
                (topic, part, indexed_to),
            )

    def forget(self, partition: Partition) -> None:
        """Drop what is indexed of a partition that no longer holds it (a topic made again)."""
        with self._database.transaction() as tx:
            tx.execute(
                "DELETE FROM homeward_message_offsets WHERE topic = ? AND part = ?", partition
            )
            tx.execute(
                "DELETE FROM homeward_message_offsets_end WHERE topic = ? AND part = ?", partition
            )


def open_case_index(settings: Settings) -> CaseOffsetIndex:
    """The index in a database of its own (``$HOMEWARD_DATA_DIR/caseindex.sqlite3`` unless
    ``CASEINDEX_``-prefixed eventsourcing variables place it elsewhere)."""
    env = event_store_env("caseindex", settings.data_dir)
    return CaseOffsetIndex(Database.named("caseindex", env))


def _runs(offsets: list[int]) -> list[tuple[int, int]]:
    """Adjacent offsets as ``(first, past the last)``, so each run is one seek."""
    runs: list[tuple[int, int]] = []
    for offset in offsets:
        if runs and runs[-1][1] == offset:
            runs[-1] = (runs[-1][0], offset + 1)
        else:
            runs.append((offset, offset + 1))
    return runs


def _consumer(connection: KafkaConnection, fetch_bytes: int) -> KafkaConsumer:
    return KafkaConsumer(
        **connection.client_kwargs(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=fetch_bytes,
    )


def _fetch(
    consumer: KafkaConsumer, partition: TopicPartition, start: int, stop: int
) -> Iterator[ConsumerRecord]:
    """The records of one partition in ``[start, stop)`` (from its beginning for 0: the
    topics keep every message, but a partition's first offset need not be 0)."""
    consumer.assign([partition])
    if start == 0:
        consumer.seek_to_beginning(partition)
    else:
        consumer.seek(partition, start)
    while (position := consumer.position(partition)) < stop:
        # The client decodes a fetched batch only as far as it is asked: a case's message is
        # one record of a batch of a dozen others.
        wanted = min(stop - position, POLL_RECORDS)
        for records in consumer.poll(timeout_ms=1000, max_records=wanted).values():
            yield from (r for r in records if r.offset < stop)


def _scan(
    consumer: KafkaConsumer,
    partition: TopicPartition,
    start: int,
    end: int,
    index: CaseOffsetIndex | None,
) -> Iterator[ConsumerRecord]:
    """The records of ``partition`` in ``[start, end)``; once all are read, every keyed one is
    in the index (when there is one), and the partition indexed to ``end``."""
    found = []
    for record in _fetch(consumer, partition, start, end):
        if record.key:
            found.append((record.key.decode(), record.offset))
        yield record
    if index is not None:
        index.add((partition.topic, partition.partition), found, end)


class KeyReader:
    """Reads the records of one key at a time through one client kept between lookups: signing
    in to the broker and learning its topics' partitions cost more than fetching a case."""

    def __init__(self, connection: KafkaConnection) -> None:
        self.connection = connection
        self._consumer: KafkaConsumer | None = None
        self._lock = Lock()  # a client serves one lookup at a time

    def read(
        self, topics: list[str], key: bytes, index: CaseOffsetIndex | None
    ) -> list[ConsumerRecord]:
        """The records with ``key`` on ``topics``, up to the end the topics had when asked:
        from the partition of each topic the key maps to, at the offsets the index holds, then
        past the index's end (indexing every key found there). Without an index, those
        partitions are scanned from their beginning. A topic the principal may not read is an
        error."""
        with self._lock:
            if self._consumer is None:
                self._consumer = _consumer(self.connection, FETCH_BYTES)
            try:
                return list(self._read(self._consumer, topics, key, index))
            except Exception:
                self._close()  # a client in an unknown state is not kept
                raise

    def _read(
        self,
        consumer: KafkaConsumer,
        topics: list[str],
        key: bytes,
        index: CaseOffsetIndex | None,
    ) -> Iterator[ConsumerRecord]:
        partitions = partitions_of_key(consumer, topics, key)
        missing = set(topics) - {partition.topic for partition in partitions}
        if missing:
            raise UnknownTopic(
                f"no topic {', '.join(sorted(missing))} that {self.connection.principal} may read"
            )
        ends = consumer.end_offsets(partitions)
        known = index.offsets_of(key.decode()) if index else {}
        indexed_to = index.indexed_ends() if index else {}
        for partition in partitions:
            name = (partition.topic, partition.partition)
            start = indexed_to.get(name, 0)
            fetched = [
                record
                for first, stop in _runs(known.get(name, []))
                for record in _fetch(consumer, partition, first, stop)
            ]
            if index is not None and (
                start > ends[partition] or any(r.key != key for r in fetched)
            ):
                # The partition no longer holds what was indexed of it: index it again.
                index.forget(name)
                fetched, start = [], 0
            yield from fetched
            if start < ends[partition]:
                yield from self._past_index(consumer, partition, key, start, ends[partition], index)

    def _past_index(
        self,
        consumer: KafkaConsumer,
        partition: TopicPartition,
        key: bytes,
        start: int,
        end: int,
        index: CaseOffsetIndex | None,
    ) -> Iterator[ConsumerRecord]:
        scanner = _consumer(self.connection, SCAN_FETCH_BYTES) if end - start > SCAN_FROM else None
        try:
            scanned = _scan(scanner or consumer, partition, start, end, index)
            yield from (record for record in scanned if record.key == key)
        finally:
            if scanner is not None:
                scanner.close(autocommit=False)

    def _close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def close(self) -> None:
        with self._lock:
            self._close()


def read_key(
    source: KafkaConnection | KeyReader,
    topics: list[str],
    key: bytes,
    index: CaseOffsetIndex | None,
) -> list[ConsumerRecord]:
    """:meth:`KeyReader.read`, through the reader given or one made for this lookup."""
    if isinstance(source, KeyReader):
        return source.read(topics, key, index)
    reader = KeyReader(source)
    try:
        return reader.read(topics, key, index)
    finally:
        reader.close()


def index_topics(connection: KafkaConnection, topics: list[str], index: CaseOffsetIndex) -> int:
    """Index every partition of ``topics`` up to its end now, as lookups would on their way,
    all at once (to build the index of a platform that kept none, or one dropped); return how
    many keyed records it indexed."""
    consumer = _consumer(connection, SCAN_FETCH_BYTES)
    read = 0
    try:
        partitions = topic_partitions(consumer, topics)
        ends = consumer.end_offsets(partitions)
        indexed_to = index.indexed_ends()
        for partition in partitions:
            start = indexed_to.get((partition.topic, partition.partition), 0)
            if start < ends[partition]:
                scanned = _scan(consumer, partition, start, ends[partition], index)
                read += sum(1 for record in scanned if record.key)
    finally:
        consumer.close(autocommit=False)
    return read
