"""How fast a full replay reads the intake topic into read models, and ``audit verify`` checks
it, against bare consumers of the same topic.

Starts its own broker (port 27292 unless ``--port``) and puts the platform on it. An intake
store (``bench/intakestore.py``) grows to each size of ``--events`` (default 10,000 and
100,000) and its relay publishes it to ``homeward.intake.events``; the same log, larger each
time. At each size:

- baselines: a bare kafka-python ``KafkaConsumer`` and a bare confluent-kafka ``Consumer``
  (plain loops, no code of ours) read the topic from its first offset to its end;
- the full replay: ``rebuild_read_models`` (what ``homeward rebuild referral`` runs) makes the
  referral service's intake view again, into a fresh database, with kafka-python and with
  the confluent-kafka fast path (``--client confluent``), each in a process of its own, so that
  its peak RSS is its own;
- ``audit verify --topic``'s comparison of the topic with the store (``verify_topic``).

Prints figures; never asserts a timing. ``.venv/bin/python bench/replay_throughput.py
--events 10000 100000 1000000 --json var/bench-replay.json``.
"""

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer
from confluent_kafka import TopicPartition as ConfluentPartition
from kafka import KafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figure, growth_figure, peak_rss_mib, share_figure, write_figures
from bench.intakestore import SCHEMAS_AT, GrowingStore, intake_application, keyring_in
from services.intake.messages import CATALOGUE
from shared.audit import verify_topic
from shared.cli import with_local_broker
from shared.kafka import EVENT_TOPIC_PARTITIONS, KafkaConnection, event_topic, reliable_producer
from shared.kafkaacl import set_up_platform
from shared.keyring import generate_master_key
from shared.localkafka import LocalBroker
from shared.outbox import OutboxRelay
from shared.rebuild import Progress, rebuild_read_models
from shared.settings import Settings
from shared.topicreader import KAFKA_PYTHON_FETCH

TOPIC = event_topic("intake")
READ_MODEL = "homeward.referral.intake"
REPLAY_TARGET, FAST_TARGET = 0.50, 0.30


def bare_kafka_python(kafka: KafkaConnection, ends: dict[int, int]) -> int:
    consumer = KafkaConsumer(
        **kafka.client_kwargs(), enable_auto_commit=False, **KAFKA_PYTHON_FETCH
    )
    partitions = [TopicPartition(TOPIC, p) for p in ends]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    count, left = 0, {p for p, end in ends.items() if end}
    while left:
        for tp, records in consumer.poll(timeout_ms=200).items():
            count += len(records)
            if records[-1].offset + 1 >= ends[tp.partition]:
                left.discard(tp.partition)
    consumer.close()
    return count


def bare_confluent(kafka: KafkaConnection, ends: dict[int, int]) -> int:
    # librdkafka's defaults: bounding its prefetch as the fast path does lowers this ceiling.
    consumer = Consumer(
        kafka.librdkafka_config() | {"group.id": "bench", "enable.auto.commit": False}
    )
    consumer.assign([ConfluentPartition(TOPIC, p, OFFSET_BEGINNING) for p in ends])
    count, left = 0, {p for p, end in ends.items() if end}
    while left:
        for message in consumer.consume(num_messages=5_000, timeout=0.2):
            if message.error() is None:
                count += 1
                if message.offset() + 1 >= ends[message.partition()]:
                    left.discard(message.partition())
    consumer.close()
    return count


def end_offsets(kafka: KafkaConnection) -> dict[int, int]:
    consumer = KafkaConsumer(**kafka.client_kwargs())
    partitions = [TopicPartition(TOPIC, p) for p in range(EVENT_TOPIC_PARTITIONS)]
    ends = {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    consumer.close()
    return ends


@dataclass
class Replayed:
    messages: int
    applied: int
    seconds: float
    peak_rss_mib: float


def replay(settings: Settings, folder: Path, master_key: str, client: str) -> Replayed:
    """The referral service's intake view made again from the topic, as ``homeward rebuild``
    makes it; run in a process of its own."""
    from services.referral.service import build_runtime

    logging.basicConfig(level=logging.ERROR)
    keyring = keyring_in(folder.parent, master_key)
    sqlite = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    live = build_runtime(
        settings, {**sqlite, "SQLITE_DBNAME": str(folder / "live.sqlite3")}, keyring=keyring
    )
    fresh = build_runtime(
        settings, {**sqlite, "SQLITE_DBNAME": str(folder / "fresh.sqlite3")}, keyring=keyring
    )
    progress = Progress(every_seconds=3600, terminal=False)
    report = rebuild_read_models(live, fresh, [READ_MODEL], client, progress)
    (model,) = report.read_models
    return Replayed(model.messages, model.applied, model.seconds, peak_rss_mib())


def in_own_process(*args: Any) -> Replayed:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(replay, args)


def timed_count(work: Any, *args: Any) -> tuple[int, float]:
    began = time.perf_counter()
    count = work(*args)
    return count, time.perf_counter() - began


def measure(
    broker: LocalBroker,
    store: GrowingStore,
    relay: OutboxRelay,
    settings: Settings,
    folder: Path,
    master_key: str,
    events: int,
) -> dict[str, Any]:
    kafka = broker.admin
    store.grow_to(events)
    while relay.lag() > 0:
        relay.publish_pending()
    ends = end_offsets(kafka)
    published = sum(ends.values())
    bare_kafka_python(kafka, ends)  # the broker's page cache warm for every reader
    rates: dict[str, Any] = {"events": events, "published": published}
    for name, bare in (("kafka-python", bare_kafka_python), ("confluent", bare_confluent)):
        count, seconds = timed_count(bare, kafka, ends)
        assert count == published, (name, count, published)
        rates[f"bare {name}"] = count / seconds
    for client in ("kafka-python", "confluent"):
        run = folder / f"replay-{events}-{client}"
        run.mkdir()
        replayed = in_own_process(settings, run, master_key, client)
        assert replayed.messages == published, (client, replayed)
        rates[f"replay {client}"] = replayed.messages / replayed.seconds
        rates[f"rss {client}"] = replayed.peak_rss_mib
    position = relay.position
    verified, seconds = timed_count(
        lambda: verify_topic(store.app, CATALOGUE, kafka, TOPIC, position)
    )
    assert not verified.findings, verified.findings[:3]
    rates["audit verify"] = verified.messages / seconds
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--port", type=int, default=27292)
    parser.add_argument("--json", type=Path, help="write the figures there")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    began = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="homeward-bench-replay-") as tmp:
        folder = Path(tmp)
        broker = LocalBroker(folder / "kafka", port=args.port)
        master_key = generate_master_key()
        try:
            broker.start()
            set_up_platform(broker.admin)
            settings = with_local_broker(Settings(data_dir=folder, master_key=master_key), broker)
            app = intake_application(folder, keyring_in(folder, master_key))
            store = GrowingStore(app)
            relay = OutboxRelay(
                app,
                CATALOGUE,
                TOPIC,
                lambda: reliable_producer(broker.admin, "bench-relay", 30),
                schemas_at=SCHEMAS_AT,
            )
            try:
                for events in sorted(args.events):
                    runs.append(measure(broker, store, relay, settings, folder, master_key, events))
            finally:
                relay.stop()
                app.close()
        finally:
            broker.stop()
    write_figures(args.json, report(runs))
    print(f"took {time.perf_counter() - began:.0f} s")


def report(runs: list[dict[str, Any]]) -> list[Figure]:
    columns = [
        "bare kafka-python",
        "replay kafka-python",
        "bare confluent",
        "replay confluent",
        "audit verify",
    ]
    print(
        f"\n{'events':>10}{'messages':>10}"
        + "".join(f"{c:>21}" for c in columns)
        + f"{'RSS MiB kp/cf':>15}"
    )
    for run in runs:
        print(
            f"{run['events']:>10,}{run['published']:>10,}"
            + "".join(f"{run[c]:>21,.0f}" for c in columns)
            + f"{run['rss kafka-python']:>8,.0f}/{run['rss confluent']:<6,.0f}"
        )
    figures = []
    for run in runs:
        size = f"{run['events']:,} events"
        for name, client, baseline, target in (
            ("full replay", "kafka-python", "bare kafka-python", REPLAY_TARGET),
            ("full replay, fast path", "confluent", "bare confluent", FAST_TARGET),
        ):
            figures.append(
                share_figure(
                    "replay",
                    f"{name}, {size}",
                    run[f"replay {client}"],
                    "events/s",
                    run[baseline],
                    f"{baseline} consumer",
                    target,
                )
            )
            figures.append(
                Figure("growth", f"peak RSS of the {name}, {size}", run[f"rss {client}"], "MiB")
            )
        figures.append(
            Figure(
                "replay",
                f"audit verify --topic, {size}",
                round(run["audit verify"]),
                "events/s",
                round(run["bare kafka-python"]),
                "bare kafka-python consumer",
            )
        )
    if len(runs) > 1:
        first, last = runs[0], runs[-1]
        for client in ("kafka-python", "confluent"):
            sizes = f"at {last['events']:,} over {first['events']:,}"
            figures.append(
                growth_figure(
                    f"replay ({client}) µs/event {sizes}",
                    first[f"replay {client}"] / last[f"replay {client}"],
                )
            )
            figures.append(
                growth_figure(
                    f"replay ({client}) peak RSS {sizes}",
                    last[f"rss {client}"] / first[f"rss {client}"],
                )
            )
    return figures


if __name__ == "__main__":
    main()
