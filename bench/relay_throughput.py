"""How fast the outbox relay publishes a store's events, against a bare producer.

For each size in ``--events`` (default 10,000, 100,000 and 200,000): an intake store of that
many events (``bench/intakestore.py``), which ``OutboxRelay`` publishes to a topic of its own
until its lag is 0; then a bare kafka-python producer with the relay's very settings
(``reliable_producer``: acks from every in-sync replica, idempotence, the same linger and
batching) sends the same bytes (keys, values, headers; cycled past the first 200,000) to
another topic and flushes. Starts its own broker (port 27192 unless ``--port``) in a
temporary directory; prints figures, never asserts a timing.
``.venv/bin/python bench/relay_throughput.py --events 200000 --json var/bench-relay.json``.
"""

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figure, growth_figure, peak_rss_mib, share_figure, write_figures
from bench.intakestore import SCHEMAS_AT, fill, intake_application
from services.intake.messages import CATALOGUE
from shared.envelope import CONTENT_TYPE
from shared.kafka import KafkaConnection, ensure_topics, reliable_producer
from shared.localkafka import LocalBroker
from shared.outbox import OutboxRelay

HEADERS = [("content-type", CONTENT_TYPE.encode())]
KEPT = 200_000  # messages the baseline sends again; past them it cycles over them
TARGET = 0.70


class Recording:
    """The relay's producer, keeping a copy of what it sends for the baseline to send."""

    def __init__(self, producer: KafkaProducer, kept: list[tuple[bytes, bytes]]) -> None:
        self._producer = producer
        self._kept = kept

    def send(self, topic: str, *, value: bytes, key: bytes, headers: list[Any]) -> Any:
        if len(self._kept) < KEPT:
            self._kept.append((key, value))
        return self._producer.send(topic, value=value, key=key, headers=headers)

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self._producer.close(timeout)


def on_topic(kafka: KafkaConnection, topic: str) -> int:
    consumer = KafkaConsumer(**kafka.client_kwargs())
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def bare_send(
    kafka: KafkaConnection, topic: str, kept: list[tuple[bytes, bytes]], count: int
) -> None:
    """The plain loop a client's user writes: send, send, send, flush."""
    producer = reliable_producer(kafka, "bench-bare", 30)
    for number in range(count):
        key, value = kept[number % len(kept)]
        producer.send(topic, value=value, key=key, headers=HEADERS)
    producer.flush()
    producer.close()


def timed(work: Callable[[], Any]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def measure(broker: LocalBroker, folder: Path, events: int, batch_size: int) -> dict[str, float]:
    kafka = broker.admin
    relay_topic, bare_topic = f"bench.relay.{events}", f"bench.bare.{events}"
    ensure_topics(kafka, [relay_topic, bare_topic])
    app = intake_application(folder)
    try:
        fill_seconds = timed(lambda: fill(app, events))
        kept: list[tuple[bytes, bytes]] = []
        relay = OutboxRelay(
            app,
            CATALOGUE,
            relay_topic,
            lambda: Recording(reliable_producer(kafka, "bench-relay", 30), kept),
            schemas_at=SCHEMAS_AT,
            **({} if batch_size is None else {"batch_size": batch_size}),
        )
        notifications = relay.lag()

        def drain() -> None:
            while relay.lag() > 0:
                relay.publish_pending()
            relay.stop()

        relay_seconds = timed(drain)
    finally:
        app.close()
    published = on_topic(kafka, relay_topic)
    bare_seconds = timed(lambda: bare_send(kafka, bare_topic, kept, published))
    assert on_topic(kafka, bare_topic) == published
    return {
        "events": events,
        "notifications": notifications,
        "published": published,
        "size": sum(len(v) for _, v in kept) / max(len(kept), 1),
        "fill": fill_seconds,
        "relay": published / relay_seconds,
        "relay_seconds": relay_seconds,
        "bare": published / bare_seconds,
        "bare_seconds": bare_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000, 200_000])
    parser.add_argument("--batch-size", type=int, help="the relay's batch (its default if not)")
    parser.add_argument("--port", type=int, default=27192)
    parser.add_argument("--json", type=Path, help="write the figures there")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    began = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="homeward-bench-relay-") as tmp:
        broker = LocalBroker(Path(tmp) / "kafka", port=args.port)
        try:
            broker.start()
            ensure_topics(broker.admin, ["bench.warm"])
            bare_send(broker.admin, "bench.warm", [(b"k", b"v" * 1000)], 2000)  # JIT, page cache
            for events in args.events:
                folder = Path(tmp) / f"store-{events}"
                folder.mkdir()
                runs.append(measure(broker, folder, events, args.batch_size))
        finally:
            broker.stop()
    figures = report(runs)
    print(f"peak RSS of this process: {peak_rss_mib():,.0f} MiB (the broker's JVM apart)")
    print(f"took {time.perf_counter() - began:.0f} s")
    write_figures(args.json, figures)


def report(runs: list[dict[str, float]]) -> list[Figure]:
    print(
        f"\n{'events':>10}{'published':>11}{'msg B':>7}{'fill s':>8}{'relay msgs/s':>14}"
        f"{'bare msgs/s':>13}{'ratio':>7}{'relay µs/msg':>14}"
    )
    for run in runs:
        print(
            f"{run['events']:>10,.0f}{run['published']:>11,.0f}{run['size']:>7,.0f}"
            f"{run['fill']:>8.1f}{run['relay']:>14,.0f}{run['bare']:>13,.0f}"
            f"{run['relay'] / run['bare']:>7.2f}{1e6 / run['relay']:>14.1f}"
        )
    figures = []
    for run in runs:
        figures.append(
            share_figure(
                "relay",
                f"relay, {run['events']:,.0f} events",
                run["relay"],
                "msgs/s",
                run["bare"],
                "bare kafka-python producer, same settings and bytes",
                TARGET,
            )
        )
    if len(runs) > 1:
        first, last = runs[0], runs[-1]
        figures.append(
            growth_figure(
                f"relay µs/msg at {last['events']:,.0f} over {first['events']:,.0f} events",
                first["relay"] / last["relay"],
            )
        )
    return figures


if __name__ == "__main__":
    main()
