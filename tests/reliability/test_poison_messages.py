"""No message blocks a line, no valid message is dropped.

Poison of every shape lands on the dead-letter topic with its reason and the next valid message
is applied; a handler that fails for a while (the database locked) is retried until it
succeeds, its message neither dead-lettered nor applied twice."""

import json
import sqlite3
import threading
import time
import uuid

from fastapi.testclient import TestClient
from kafka import KafkaProducer

from services.intake.service import build_runtime, create_app
from shared.consumer import EventConsumer
from shared.envelope import CloudEvent
from shared.kafka import ADMIN, ensure_topics, event_topic, kafka_connection
from tests.conftest import as_admin
from tests.partner import read_messages
from tests.running import wait_for
from tests.samples import probe, registration
from tests.signin import staff_headers


def cloudevent(type_name: str, data: dict) -> bytes:
    case_id = uuid.uuid4()
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/forged",
            "type": type_name,
            "caseid": str(case_id),
            "partitionkey": str(case_id),
            "data": data,
        }
    ).encode()


POISON = {
    "nested too deeply": b"[" * 100_000,
    "not JSON": b"\xff\xfe not json",
    "empty message": b"",
    "not a JSON object": b"[1, 2, 3]",
    "not a valid CloudEvent": b'{"id": "x", "source": "/s", "type": "t"}',
    "unknown type": cloudevent("org.homeward.intake.NeverPublished.v1", {}),
    "breaks its schema": cloudevent(
        "org.homeward.intake.CaseAssigned.v1", {"case_id": "not-a-uuid", "stage": "bogus stage"}
    ),
}


def test_poison_of_every_shape_is_parked_with_its_reason_and_the_line_goes_on(settings, sqlite_env):
    topic = event_topic("intake")
    tag = uuid.uuid4().hex  # this test's poison, among what other tests parked
    producer = KafkaProducer(**as_admin(settings))
    for value in POISON.values():
        producer.send(topic, value=value, key=tag.encode()).get(timeout=10)
    producer.close()

    runtime = build_runtime(settings, sqlite_env)
    staff = staff_headers(settings)
    with TestClient(create_app(runtime), headers=staff) as intake:
        case_id = intake.post("/cases", json=registration()).json()["case_id"]
        listed = wait_for(
            lambda: case_id in intake.get("/cases").text, "the case after the poison", 60
        )
    assert listed
    parked = read_messages(as_admin(settings), f"{topic}.dlq", key=tag, expect=len(POISON) * 2)
    by_consumer: dict[str, list[str]] = {}
    for record in parked:
        headers = dict(record.headers)
        by_consumer.setdefault(headers["dlq.consumer"].decode(), []).append(
            headers["dlq.reason"].decode()
        )
    # Both of intake's consumers of its own topic parked each poison once, saying why.
    projection = by_consumer["homeward.intake.projections"]
    assert len(projection) == len(POISON)
    for expected, reason in zip(POISON, projection, strict=True):
        assert expected.split()[0] in reason, (expected, reason)
    print(f"sent {len(POISON)} poison messages: parked {len(projection)}, valid applied 1")


def test_a_handler_that_fails_for_a_while_is_retried_and_nothing_is_dropped(settings, sqlite_env):
    admin = kafka_connection(settings, ADMIN)
    topic = f"homeward.test.{uuid.uuid4().hex[:8]}"
    ensure_topics(admin, [topic], partitions=1)
    messages = [probe(n=n) for n in range(3)]
    producer = KafkaProducer(**admin.client_kwargs())
    for message in messages:
        producer.send(topic, value=message.to_bytes(), key=b"k").get(timeout=10)
    producer.close()

    runtime = build_runtime(settings, sqlite_env)
    applied: list[int] = []
    failures = {"left": 4}

    def apply(message: CloudEvent, _tx) -> None:
        if message.data["n"] == 1 and failures["left"]:
            failures["left"] -= 1
            raise sqlite3.OperationalError("database is locked")
        applied.append(message.data["n"])

    consumer = EventConsumer(
        "transient-test", [topic], admin, runtime.database, apply, retry_seconds=0.05
    )
    deadline = time.monotonic() + 30
    try:
        while len(applied) < 3 and time.monotonic() < deadline:
            consumer.poll_once(timeout_ms=300)
    finally:
        consumer.close()
        runtime.application.close()

    assert applied == [0, 1, 2]
    assert failures["left"] == 0
    assert read_messages(admin.client_kwargs(), f"{topic}.dlq", timeout=2) == []
    print(f"sent 3, failed attempts 4, applied {len(applied)}, applied twice 0, dead-lettered 0")


def test_a_database_locked_by_another_writer_delays_the_line_and_drops_nothing(
    settings, sqlite_env
):
    """A real lock, not a simulated one: another connection holds the store's write lock
    longer than the service waits for it; the consumer retries until it is free."""
    admin = kafka_connection(settings, ADMIN)
    topic = f"homeward.test.{uuid.uuid4().hex[:8]}"
    ensure_topics(admin, [topic], partitions=1)
    runtime = build_runtime(settings, {**sqlite_env, "SQLITE_LOCK_TIMEOUT": "1"})
    with runtime.database.transaction() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS probes (n INTEGER PRIMARY KEY)")

    def apply(message: CloudEvent, tx) -> None:
        tx.execute("INSERT INTO probes (n) VALUES (?)", (message.data["n"],))

    consumer = EventConsumer(
        "locked-test", [topic], admin, runtime.database, apply, retry_seconds=0.2
    )
    blocker = sqlite3.connect(
        sqlite_env["SQLITE_DBNAME"], isolation_level=None, check_same_thread=False
    )
    blocker.execute("BEGIN EXCLUSIVE")  # the store's write lock, held by someone else
    # The consumer retries inside its poll, holding its offset: the lock is let go elsewhere.
    release = threading.Timer(3, lambda: blocker.execute("COMMIT"))
    release.start()
    producer = KafkaProducer(**admin.client_kwargs())
    for n in range(5):
        producer.send(topic, value=probe(n=n).to_bytes(), key=b"k").get(timeout=10)
    producer.close()
    deadline = time.monotonic() + 40
    applied: list[int] = []
    try:
        while time.monotonic() < deadline:
            consumer.poll_once(timeout_ms=300)
            with runtime.database.transaction() as tx:
                applied = [n for (n,) in tx.fetchall("SELECT n FROM probes ORDER BY n")]
            if len(applied) == 5:
                break
    finally:
        release.join()
        blocker.close()
        consumer.close()
        runtime.application.close()

    assert applied == [0, 1, 2, 3, 4]
    assert consumer.retried_messages > 0, "the lock was never felt: the test proves nothing"
    assert read_messages(admin.client_kwargs(), f"{topic}.dlq", timeout=2) == []
    print(
        f"\ndatabase locked 3 s by another writer (the service waits 1 s): sent 5, "
        f"attempts retried {consumer.retried_messages}, applied {len(applied)}, applied twice 0, "
        "dead-lettered 0"
    )
