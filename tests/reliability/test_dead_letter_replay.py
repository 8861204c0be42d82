"""A parked message is replayed once its cause is fixed, and applied exactly once.

A handler refuses two messages (as for a partner the platform does not know yet); both are
parked with the reason. `homeward dlq list` shows their metadata and no data; after the fix,
`homeward dlq replay` sends them back, the consumer applies them, and replaying them again
applies nothing twice."""

import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer

from shared.cli import kafka_env
from shared.cli import main as homeward
from shared.consumer import EventConsumer, UnacceptableMessage
from shared.database import Database, Transaction
from shared.envelope import CloudEvent
from shared.kafka import ADMIN, ensure_topics, kafka_connection
from tests import samples
from tests.partner import read_messages

SECRET = "a-value-that-must-never-be-printed"


def probe(n: int, partner: str) -> CloudEvent:
    return samples.probe(n=n, partner=partner, note=SECRET)


def partitions_of(kafka, topic: str) -> set[int]:
    consumer = KafkaConsumer(**kafka.client_kwargs())
    try:
        return consumer.partitions_for_topic(topic)
    finally:
        consumer.close()


def printed_lines(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert homeward(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


def test_a_parked_message_is_replayed_after_the_fix_and_applied_once(
    settings, sqlite_env, monkeypatch, capsys
):
    for name, value in kafka_env(settings).items():
        monkeypatch.setenv(name, value)
    admin = kafka_connection(settings, ADMIN)
    topic = f"homeward.test.{uuid.uuid4().hex[:8]}"
    ensure_topics(admin, [topic], partitions=2)
    messages = [probe(0, "known"), probe(1, "SCH-NEW"), probe(2, "SCH-NEW")]
    producer = KafkaProducer(**admin.client_kwargs())
    for message in messages:
        producer.send(topic, value=message.to_bytes(), key=message.subject.encode()).get(10)
    producer.close()

    known_partners = {"known"}
    database = Database.named("test", sqlite_env)
    with database.transaction() as tx:
        tx.execute("CREATE TABLE applied (n INTEGER NOT NULL)")

    def apply(message: CloudEvent, tx: Transaction) -> None:
        if message.data["partner"] not in known_partners:
            raise UnacceptableMessage(f"no partner {message.data['partner']} is registered")
        tx.execute("INSERT INTO applied VALUES (?)", (message.data["n"],))

    def applied() -> list[int]:
        with database.transaction() as tx:
            return sorted(row[0] for row in tx.fetchall("SELECT n FROM applied"))

    consumer = EventConsumer(f"replay-test-{topic}", [topic], admin, database, apply)

    def consume_until(expected: list[int], quiet_seconds: float = 3) -> None:
        deadline = time.monotonic() + 30
        while applied() != expected and time.monotonic() < deadline:
            consumer.poll_once(timeout_ms=300)
        quiet_until = time.monotonic() + quiet_seconds  # an extra copy would show meanwhile
        while time.monotonic() < quiet_until:
            consumer.poll_once(timeout_ms=300)

    try:
        consume_until([0])
        read_messages(admin.client_kwargs(), f"{topic}.dlq", expect=2)
        assert partitions_of(admin, f"{topic}.dlq") == {0}  # one ordered log of parked messages
        listed = printed_lines(capsys, "dlq", "list", topic)
        assert listed[-1] == f"2 parked on {topic}.dlq"
        parked = [
            dict(field.split("=", 1) for field in line.split(" reason=")[0].split())
            for line in listed[:-1]
        ]
        assert {entry["id"] for entry in parked} == {messages[1].id, messages[2].id}
        for line, entry in zip(listed, parked, strict=False):
            assert line.endswith(" reason=no partner SCH-NEW is registered")
            assert entry["consumer"] == f"replay-test-{topic}"
            assert entry["type"] == "org.homeward.test.Probed.v1"
            assert SECRET not in line
        by_id = {message.id: message for message in messages}
        assert all(entry["key"] == by_id[entry["id"]].subject for entry in parked)
        first, second = sorted(parked, key=lambda entry: int(entry["offset"]))

        known_partners.add("SCH-NEW")  # the fix: the partner is registered

        replayed = printed_lines(capsys, "dlq", "replay", topic, "--since", second["offset"])
        assert replayed[-1] == f"resent 1 of the 2 parked on {topic}.dlq"
        consume_until(sorted([0, by_id[second["id"]].data["n"]]))
        replayed = printed_lines(capsys, "dlq", "replay", topic, "--id", first["id"])
        assert replayed[-1] == f"resent 1 of the 2 parked on {topic}.dlq"
        consume_until([0, 1, 2])
        replayed = printed_lines(capsys, "dlq", "replay", topic)  # again: nothing twice
        assert replayed[-1] == f"resent 2 of the 2 parked on {topic}.dlq"
        consume_until([0, 1, 2])
    finally:
        consumer.close()

    resent = read_messages(admin.client_kwargs(), topic, expect=7)
    replayed_from = [dict(r.headers).get("dlq.replayed-from") for r in resent]
    assert sum(header is not None for header in replayed_from) == 4
    assert printed_lines(capsys, "dlq", "list", topic)[-1] == f"2 parked on {topic}.dlq"
    print(
        f"sent 3, parked 2, resent 4 (1 --since, 1 --id, 2 all), applied {len(applied())}, "
        "applied twice 0, parked again 0"
    )


def test_listing_a_topic_without_dead_letters_says_so(settings, monkeypatch, capsys):
    for name, value in kafka_env(settings).items():
        monkeypatch.setenv(name, value)
    assert homeward(["dlq", "list", f"homeward.test.{uuid.uuid4().hex[:8]}"]) == 2
    assert "no topic homeward.test." in capsys.readouterr().err
