"""The outbox relay publishes every recorded event at least once, whatever crashes when; a
consumer that de-duplicates by event id applies it exactly once."""

import json
import time
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from kafka.errors import KafkaTimeoutError

from services.intake.service import build_runtime, create_app
from shared.consumer import EventConsumer
from shared.database import Transaction
from shared.envelope import event_id
from shared.kafka import ADMIN, kafka_connection, reliable_producer
from shared.kafkaacl import set_up_platform
from shared.keyring import generate_master_key
from shared.localkafka import LocalBroker
from shared.outbox import OutboxRelay
from shared.settings import Settings
from tests.conftest import TEST_BROKER_PORT, as_admin, sqlite_store
from tests.partner import as_json, read_messages
from tests.samples import registration
from tests.signin import staff_headers

INTAKE_TOPIC = "homeward.intake.events"


class RelayCrashed(Exception):
    """Stands for the relay's process dying at a chosen point."""


class ProducerThatDies:
    def send(self, *_args, **_kwargs):
        raise RelayCrashed("the process died before anything reached the broker")

    def close(self, timeout=None):
        pass


def register_without_relay(runtime, body: dict | None = None) -> str:
    """Register through the API with no lifespan, so no relay publishes in the background."""
    response = TestClient(create_app(runtime), headers=staff_headers(runtime.settings)).post(
        "/cases", json=body or registration()
    )
    assert response.status_code == 201, response.text
    return response.json()["case_id"]


def relay_for(runtime, settings: Settings) -> OutboxRelay:
    """A fresh relay over the same store, as after a restart."""
    return OutboxRelay(
        runtime.application,
        runtime.catalogue,
        INTAKE_TOPIC,
        lambda: reliable_producer(runtime.kafka, "test-relay", 5),
        schemas_at=runtime.relay.schemas_at,
    )


def counting_consumer(runtime, settings: Settings, name: str) -> EventConsumer:
    """A de-duplicating consumer whose effect is one row per applied message."""
    with runtime.database.transaction() as tx:
        tx.execute("CREATE TABLE applied (event_id TEXT NOT NULL, case_id TEXT NOT NULL)")

    def apply(message, tx: Transaction) -> None:
        tx.execute("INSERT INTO applied VALUES (?, ?)", (message.id, str(message.case_id)))

    admin = kafka_connection(settings, ADMIN)  # a group of the test's own
    return EventConsumer(name, [INTAKE_TOPIC], admin, runtime.database, apply)


def applied_rows(runtime, case_id: str) -> list[tuple]:
    with runtime.database.transaction() as tx:
        return tx.fetchall("SELECT event_id FROM applied WHERE case_id = ?", (case_id,))


def consume_until_quiet(consumer: EventConsumer, seconds: float = 8) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        consumer.poll_once(timeout_ms=300)


def test_crash_after_commit_before_publish_loses_nothing(settings, sqlite_env):
    runtime = build_runtime(settings, sqlite_env)
    case_id = register_without_relay(runtime)

    crashed = OutboxRelay(
        runtime.application,
        runtime.catalogue,
        INTAKE_TOPIC,
        ProducerThatDies,
        schemas_at=runtime.relay.schemas_at,
    )
    with pytest.raises(RelayCrashed):
        crashed.publish_pending()
    assert crashed.position == 0
    assert read_messages(as_admin(settings), INTAKE_TOPIC, key=case_id, timeout=2) == []

    restarted = relay_for(runtime, settings)
    restarted.publish_pending()
    assert restarted.lag() == 0
    records = read_messages(as_admin(settings), INTAKE_TOPIC, key=case_id, expect=2)
    assert [as_json(r)["sequence"][-1] for r in records] == ["1", "2"]
    runtime.application.close()


def test_crash_after_publish_before_recording_publishes_twice_and_applies_once(
    settings, sqlite_env, monkeypatch
):
    runtime = build_runtime(settings, sqlite_env)
    case_id = register_without_relay(runtime)

    first = relay_for(runtime, settings)

    def die(_notification_id: int) -> None:
        raise RelayCrashed("the process died after the broker's ack")

    monkeypatch.setattr(first, "record_position", die)
    with pytest.raises(RelayCrashed):
        first.publish_pending()
    assert first.position == 0  # nothing recorded: the restart publishes again

    relay_for(runtime, settings).publish_pending()
    records = read_messages(as_admin(settings), INTAKE_TOPIC, key=case_id, expect=4)
    ids = [as_json(r)["id"] for r in records]
    assert len(ids) == 4
    assert len(set(ids)) == 2

    consumer = counting_consumer(runtime, settings, f"dedup-{case_id}")
    try:
        consume_until_quiet(consumer)
    finally:
        consumer.close()
    assert sorted(applied_rows(runtime, case_id)) == sorted((i,) for i in set(ids))
    runtime.application.close()


class Acknowledgement:
    """A send's future that says when it is waited for, and fails if told to."""

    def __init__(self, timeline: list, event_id: str, fails: bool) -> None:
        self.timeline, self.event_id, self.fails = timeline, event_id, fails

    def get(self, timeout=None):
        if self.fails:
            raise KafkaTimeoutError("no acknowledgement in time")
        self.timeline.append(("ack", self.event_id))


class TimelineProducer:
    """Writes down every send and acknowledgement, in order; the ``fail_at``-th send is never
    acknowledged."""

    def __init__(self, timeline: list, fail_at: int | None = None) -> None:
        self.timeline, self.fail_at, self.sent = timeline, fail_at, 0

    def send(self, _topic, *, value, key, headers):
        self.sent += 1
        event_id = json.loads(value)["id"]
        self.timeline.append(("send", event_id))
        return Acknowledgement(self.timeline, event_id, self.sent == self.fail_at)

    def close(self, timeout=None):
        pass


def pipelined_relay(runtime, producer, timeline: list) -> OutboxRelay:
    relay = OutboxRelay(
        runtime.application,
        runtime.catalogue,
        INTAKE_TOPIC,
        lambda: producer,
        schemas_at=runtime.relay.schemas_at,
        batch_size=2,
        batches_per_round=50,
    )
    recorded = relay.record_position

    def record(notification_id: int) -> None:
        timeline.append(("record", notification_id))
        recorded(notification_id)

    relay.record_position = record  # type: ignore[method-assign]
    return relay


def three_cases_registered(settings: Settings, sqlite_env):
    runtime = build_runtime(settings, sqlite_env)
    for _ in range(3):
        register_without_relay(runtime)
    return runtime


def notification_of_message(runtime) -> dict[str, int]:
    """Each published message's id, to the notification it was made from."""
    return {
        str(event_id(UUID(str(n.originator_id)), n.originator_version)): n.id
        for n in runtime.application.recorder.select_notifications(start=1, limit=1000)
        if runtime.catalogue.publishes_stored(n.topic)
    }


def test_pipelined_relay_records_a_position_only_after_every_acknowledgement_up_to_it(
    settings, sqlite_env
):
    runtime = three_cases_registered(settings, sqlite_env)
    timeline: list = []
    relay = pipelined_relay(runtime, TimelineProducer(timeline), timeline)

    relay.publish_pending()

    assert relay.lag() == 0
    notification = notification_of_message(runtime)
    acknowledged: set[int] = set()
    for what, which in timeline:
        if what == "ack":
            acknowledged.add(notification[which])
        elif what == "record":
            sent_up_to = {notification[i] for w, i in timeline if w == "send"} & set(
                range(which + 1)
            )
            assert sent_up_to <= acknowledged, f"position {which} recorded before its acks"
    # Pipelined: the next batch was sent before the previous one's acknowledgements.
    first_ack = next(n for n, (what, _) in enumerate(timeline) if what == "ack")
    assert sum(what == "send" for what, _ in timeline[:first_ack]) > 2
    runtime.application.close()


def test_an_acknowledgement_missing_mid_round_republishes_from_it_and_loses_nothing(
    settings, sqlite_env
):
    runtime = three_cases_registered(settings, sqlite_env)
    timeline: list = []
    failing = pipelined_relay(runtime, TimelineProducer(timeline, fail_at=4), timeline)

    with pytest.raises(KafkaTimeoutError):
        failing.publish_pending()

    notification = notification_of_message(runtime)
    sends = [which for what, which in timeline if what == "send"]
    acked = [notification[which] for what, which in timeline if what == "ack"]
    # Up to the last message acknowledged before the one that was not, and no further.
    held_at = failing.position
    assert held_at == max(n for n in acked if n < notification[sends[3]])
    assert held_at < notification[sends[3]]

    again: list = []
    restarted = pipelined_relay(runtime, TimelineProducer(again), again)
    restarted.publish_pending()
    assert restarted.lag() == 0
    republished = {which for what, which in again if what == "send"}
    assert republished == {i for i, n in notification.items() if n > held_at}
    assert sends[3] in republished
    runtime.application.close()


def test_broker_outage_delays_publishing_and_loses_nothing(tmp_path):
    broker = LocalBroker(tmp_path / "kafka", port=TEST_BROKER_PORT + 100)  # a broker of its own
    broker.start()
    set_up_platform(broker.admin)
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_credentials_dir=broker.credentials_dir,
        data_dir=tmp_path,
        relay_poll_seconds=0.05,
        kafka_timeout_seconds=3,
        master_key=generate_master_key(),
    )
    runtime = build_runtime(settings, sqlite_store(tmp_path))
    try:
        with TestClient(create_app(runtime), headers=staff_headers(runtime.settings)) as client:
            before = client.post("/cases", json=registration()).json()["case_id"]
            read_messages(as_admin(settings), INTAKE_TOPIC, key=before, expect=2)

            broker.stop()
            started = time.monotonic()
            response = client.post("/cases", json=registration())
            assert response.status_code == 201
            assert time.monotonic() - started < 2, "registering must not wait for Kafka"
            during = response.json()["case_id"]
            time.sleep(3)
            assert runtime.relay.lag() > 0, "the event waits in the store"
            assert client.get("/healthz").status_code == 503

            broker.start()
            records = read_messages(
                as_admin(settings), INTAKE_TOPIC, key=during, expect=2, timeout=60
            )
            # A send that timed out during the outage may still have landed: duplicates are
            # allowed (consumers de-duplicate by id), gaps and reordering are not.
            events = {as_json(r)["id"]: as_json(r)["type"].split(".")[3] for r in records}
            assert sorted(events.values()) == ["ChildRegistered", "HandedOver"]
            first_copy = list(dict.fromkeys(as_json(r)["type"] for r in records))
            assert first_copy[0].endswith("ChildRegistered.v2")
            deadline = time.monotonic() + 30
            while runtime.relay.lag() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert runtime.relay.lag() == 0
    finally:
        broker.stop()
