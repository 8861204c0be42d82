"""How fast a rebuild reads a topic from its first offset: kafka-python against confluent-kafka.

Starts its own Kafka broker (port 19392 unless ``--port``) in a temporary directory, writes
``--messages`` CloudEvents of a registration's size to a topic of the platform's partitions,
then reads them all with each client through the rebuild's own reader
(``shared.topicreader``), and prints events/s with the ratio to kafka-python. It reads only:
what the handlers then write depends on the database, not the client. It never asserts a
timing. ``.venv/bin/python bench/replay_throughput.py --messages 200000``.
"""

import argparse
import json
import logging
import tempfile
import time
import uuid
from pathlib import Path

from kafka import KafkaProducer

from shared.envelope import CONTENT_TYPE
from shared.kafka import ensure_topics
from shared.localkafka import LocalBroker
from shared.topicreader import READERS, read_from_beginning

TOPIC = "bench.replay"
HEADERS = [("content-type", CONTENT_TYPE.encode())]


def message(number: int) -> tuple[bytes, bytes]:
    """A message the size of a published registration, sealed fields included (about 1.5 kB)."""
    case_id = str(uuid.uuid4())
    sealed = {"alg": "A256GCM", "kid": case_id, "nonce": "n" * 16, "ct": "c" * 96}
    document = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/homeward/intake",
        "type": "org.homeward.intake.ChildRegistered.v2",
        "subject": case_id,
        "time": "2026-10-04T10:00:00+00:00",
        "sequence": f"{number:020d}",
        "data": {
            "case_id": case_id,
            "registering_agency": "CD-KIN",
            "caseworker": "cw-0412",
            **{field: sealed for field in ("name", "date_of_birth", "release_place", "notes")},
        },
    }
    return case_id.encode(), json.dumps(document).encode()


def write(broker: LocalBroker, count: int) -> int:
    producer = KafkaProducer(**broker.admin.client_kwargs(), linger_ms=20, batch_size=256 * 1024)
    size = 0
    for number in range(count):
        key, value = message(number)
        size += len(value)
        producer.send(TOPIC, key=key, value=value, headers=HEADERS)
    producer.flush()
    producer.close()
    return size


def read_all(client: str, broker: LocalBroker) -> tuple[int, float]:
    reader = READERS[client](broker.admin)
    began = time.perf_counter()
    try:
        _ends, records = read_from_beginning(reader, [TOPIC])
        count = sum(1 for _ in records)
    finally:
        reader.close()
    return count, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=19392)
    parser.add_argument("--rounds", type=int, default=2, help="reads per client; the best counts")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(Path(tmp) / "kafka", port=args.port)
        try:
            broker.start()
            ensure_topics(broker.admin, [TOPIC])
            size = write(broker, args.messages)
            print(f"{args.messages} messages of {size / args.messages:,.0f} B on average")
            read_all("kafka-python", broker)  # the broker's page cache warm for both
            rates = {}
            for client in ("kafka-python", "confluent"):
                best = min(read_all(client, broker)[1] for _ in range(args.rounds))
                rates[client] = args.messages / best
                print(
                    f"{client:>13}: {rates[client]:>10,.0f} events/s ({best:.2f} s), "
                    f"{rates[client] / rates['kafka-python']:.2f}x kafka-python"
                )
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
