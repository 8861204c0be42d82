"""A three-node KRaft cluster on loopback, as `homeward broker start --nodes 3` starts it: the
platform's topics hold every partition three times and acknowledge a write once two copies
have it, so killing a partition's leader mid-stream loses no acknowledged message and doubles
none."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from shared.kafka import event_topic, reliable_producer
from shared.localkafka import LocalCluster
from tests.conftest import TEST_BROKER_PORT

MESSAGES = 3_000
KILL_AT = 1_000
PORT = TEST_BROKER_PORT + 500  # and the five ports after it


def broker_script(action: str, data_dir: Path) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOMEWARD_")}
    env |= {"HOMEWARD_DATA_DIR": str(data_dir), "HOMEWARD_LOCAL_BROKER_PORT": str(PORT)}
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "broker", action, "--nodes", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_killing_the_partition_leader_mid_stream_loses_nothing_acknowledged(tmp_path):
    started = time.monotonic()
    printed = broker_script("start", tmp_path)
    assert f"Kafka cluster on 127.0.0.1:{PORT},127.0.0.1:{PORT + 2},127.0.0.1:{PORT + 4}" in printed
    cluster = LocalCluster(tmp_path / "kafka-cluster", port=PORT)
    try:
        topic = event_topic("intake")
        admin = KafkaAdminClient(**cluster.admin.client_kwargs())
        [described] = admin.describe_topics([topic])
        admin.close()
        [partition] = [p for p in described["partitions"] if p["partition_index"] == 0]
        assert len(partition["replica_nodes"]) == 3
        leader = partition["leader_id"]
        producer = reliable_producer(cluster.admin, "leader-kill-test", timeout_seconds=60)
        acknowledged: set[str] = set()
        for number in range(MESSAGES):
            if number == KILL_AT:
                pid = cluster.nodes[leader - 1].pid()
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
            value = f"{number}:{uuid.uuid4()}"
            future = producer.send(topic, value=value.encode(), partition=0)
            if number % 100 == 99 or number == KILL_AT - 1:
                producer.flush(timeout=60)
            future.get(timeout=60)
            acknowledged.add(value)
        producer.close()

        consumer = KafkaConsumer(**cluster.admin.client_kwargs(), enable_auto_commit=False)
        where = TopicPartition(topic, 0)
        consumer.assign([where])
        consumer.seek_to_beginning(where)
        end = consumer.end_offsets([where])[where]
        read: list[str] = []
        while consumer.position(where) < end:
            for records in consumer.poll(timeout_ms=1000).values():
                read.extend(record.value.decode() for record in records)
        consumer.close()
        lost = acknowledged - set(read)
        doubled = len(read) - len(set(read))
        print(
            f"\ncluster of 3 (min.insync.replicas 2): leader node {leader} killed at message "
            f"{KILL_AT}; sent {MESSAGES}, acknowledged {len(acknowledged)}, read {len(read)}, "
            f"lost {len(lost)}, doubled {doubled}, {time.monotonic() - started:.0f} s"
        )
        assert lost == set()
        assert doubled == 0
        assert len(acknowledged) == MESSAGES
    finally:
        broker_script("stop", tmp_path)
    assert all(node.pid() is None for node in cluster.nodes)
