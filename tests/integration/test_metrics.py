"""Operators see the service: `/metrics` in Prometheus's format, and `/healthz` degraded when a
consumer is stuck or falls behind, with `/healthz/details` saying why.

Scrapes go through the API as an operator would; no label ever holds a case id."""

import re
import sqlite3
import uuid

from fastapi.testclient import TestClient
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from services.intake.service import build_runtime, create_app
from shared.consumer import EventConsumer, UnacceptableMessage, published_only
from shared.envelope import CloudEvent
from shared.kafka import ADMIN, ensure_topics, event_topic, kafka_connection
from shared.settings import Settings
from tests import samples
from tests.integration.test_outbox_relay import register_without_relay
from tests.reliability.test_poison_messages import cloudevent
from tests.running import wait_for
from tests.samples import registration
from tests.signin import admin_headers, staff_headers

UUID_LOOKING = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
INTAKE_TOPIC = event_topic("intake")


def scrape(client: TestClient, settings: Settings) -> tuple[str, dict[tuple, float]]:
    """The metrics text, and each sample's value by (name, sorted labels)."""
    response = client.get("/metrics", headers=admin_headers(settings))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return response.text, samples


def value(samples: dict[tuple, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def probe(n: int) -> CloudEvent:
    return samples.probe(n=n)


def fresh_topic(settings: Settings, values: list[bytes]) -> str:
    """A topic of the test's own, holding ``values``."""
    admin = kafka_connection(settings, ADMIN)
    topic = f"homeward.test.{uuid.uuid4().hex[:8]}"
    ensure_topics(admin, [topic], partitions=1)
    producer = KafkaProducer(**admin.client_kwargs())
    for item in values:
        producer.send(topic, value=item, key=b"k").get(timeout=10)
    producer.close()
    return topic


def test_a_scrape_shows_requests_the_relay_caught_up_and_consumers_applying_and_no_case_id(
    settings, sqlite_env
):
    runtime = build_runtime(settings, sqlite_env)
    staff = staff_headers(settings)
    with TestClient(create_app(runtime)) as intake:
        anonymous = intake.get("/metrics")
        _, before = scrape(intake, settings)
        case_ids = []
        for _ in range(3):
            created = intake.post("/cases", json=registration(), headers=staff)
            assert created.status_code == 201, created.text
            case_ids.append(created.json()["case_id"])
        assert intake.get(f"/cases/{case_ids[0]}", headers=staff).status_code == 200
        assert intake.get(f"/nowhere/{case_ids[0]}").status_code == 404
        wait_for(lambda: runtime.relay.lag() == 0, "the relay to catch up", 30)
        projections = {"group": "homeward.intake.projections", "topic": INTAKE_TOPIC}
        applied_before = value(before, "homeward_consumer_applied_total", **projections) or 0
        # Each registration publishes its ChildRegistered; other tests' messages may come too.
        text, after = wait_for(
            lambda: (
                (scraped := scrape(intake, settings))
                and (value(scraped[1], "homeward_consumer_applied_total", **projections) or 0)
                >= applied_before + 3
                # The lag is taken once the whole batch is processed and committed.
                and value(scraped[1], "homeward_consumer_lag_messages", **projections) is not None
                and scraped
            ),
            "the projections to apply the registrations",
            60,
        )
        published = runtime.relay.position

    assert anonymous.status_code == 401
    posted = {"method": "POST", "route": "/cases", "status_class": "2xx"}
    assert value(after, "homeward_http_request_duration_seconds_count", **posted) == 3
    read = {"method": "GET", "route": "/cases/{case_id}", "status_class": "2xx"}
    assert value(after, "homeward_http_request_duration_seconds_count", **read) == 1
    unrouted = {"method": "GET", "route": "unrouted", "status_class": "4xx"}
    assert value(after, "homeward_http_request_duration_seconds_count", **unrouted) == 1
    on_intake = {"topic": INTAKE_TOPIC}
    assert value(after, "homeward_relay_waiting_events", **on_intake) == 0
    assert value(after, "homeward_relay_position", **on_intake) == published > 0
    assert value(after, "homeward_relay_holds_lease", **on_intake) == 1
    assert value(after, "homeward_relay_stuck", **on_intake) == 0
    assert value(after, "homeward_consumer_lag_messages", **projections) is not None
    assert value(after, "homeward_consumer_running", group=projections["group"]) == 1
    assert value(after, "homeward_erasures_pending") == 0
    for case_id in case_ids:
        assert case_id not in text
    assert UUID_LOOKING.findall(text) == []


def test_parked_messages_retries_and_a_stuck_consumer_show_and_degrade_health(settings, sqlite_env):
    settings = settings.model_copy(update={"health_stuck_seconds": 0.5})
    valid, refused, failing = probe(0), probe(1), probe(2)
    topic = fresh_topic(
        settings,
        [
            b"\xff not json",
            b"[1, 2, 3]",
            cloudevent("org.homeward.intake.NeverPublished.v1", {}),
            valid.to_bytes(),
            refused.to_bytes(),
            failing.to_bytes(),
        ],
    )
    broken = {"database": True}

    def apply(message: CloudEvent, _tx) -> None:
        if message.id == refused.id:
            raise UnacceptableMessage("refused by the handler")
        if message.id == failing.id and broken["database"]:
            raise sqlite3.OperationalError("database is locked")

    def only_probes(message: CloudEvent) -> None:
        if message.type != valid.type:
            published_only(message)

    runtime = build_runtime(settings, sqlite_env)
    group = f"metrics-test-{uuid.uuid4().hex[:6]}"
    runtime.consumers.append(
        EventConsumer(
            group,
            [topic],
            kafka_connection(settings, ADMIN),
            runtime.database,
            apply,
            check=only_probes,
            retry_seconds=0.05,
        )
    )
    consumer = runtime.consumers[-1]
    with TestClient(create_app(runtime)) as intake:
        wait_for(lambda: consumer.failing_for() > 0.5, "the handler to fail for a while", 60)
        health = intake.get("/healthz")
        details = intake.get("/healthz/details", headers=admin_headers(settings)).json()
        _, stuck = scrape(intake, settings)
        broken["database"] = False
        wait_for(lambda: consumer.last_error is None, "the message to be applied", 30)
        healed = wait_for(
            lambda: (answer := intake.get("/healthz").json()) == {"status": "up"} and answer,
            "health to be up again",
            30,
        )
        # The lag is measured as a poll ends: the one after the message was applied.
        after = wait_for(
            lambda: (
                (scraped := scrape(intake, settings)[1])
                and value(scraped, "homeward_consumer_lag_messages", group=group, topic=topic) == 0
                and scraped
            ),
            "the consumer's lag to be measured at 0",
            30,
        )

    assert health.status_code == 200
    assert health.json() == {"status": "degraded"}
    assert details["status"] == "degraded"
    assert any(
        trouble.startswith(f"consumer {group} has failed for")
        for trouble in details["degraded_because"]
    ), details["degraded_because"]
    report = details["consumers"][group]
    assert report["last_error"].endswith("OperationalError: database is locked")
    assert report["failing_seconds"] >= 0.5  # rounded to a tenth
    assert healed == {"status": "up"}

    assert value(stuck, "homeward_consumer_last_error", group=group) == 1
    assert value(stuck, "homeward_consumer_retries_total", group=group) >= 1
    assert value(after, "homeward_consumer_last_error", group=group) == 0
    parked = {
        reason: value(
            after, "homeward_consumer_dead_lettered_total", group=group, topic=topic, reason=reason
        )
        for reason in ("not_a_cloudevent", "refused_by_check", "refused_by_handler")
    }
    assert parked == {"not_a_cloudevent": 2, "refused_by_check": 1, "refused_by_handler": 1}
    assert value(after, "homeward_consumer_applied_total", group=group, topic=topic) == 2


def test_a_consumer_behind_its_topic_and_a_relay_behind_its_store_degrade_health(
    settings, sqlite_env
):
    settings = settings.model_copy(
        update={"health_max_consumer_lag": 10, "health_max_relay_waiting": 3}
    )
    topic = fresh_topic(settings, [probe(n).to_bytes() for n in range(150)])
    runtime = build_runtime(settings, sqlite_env)
    consumer = EventConsumer(
        f"metrics-lag-{uuid.uuid4().hex[:6]}",
        [topic],
        kafka_connection(settings, ADMIN),
        runtime.database,
        lambda _message, _tx: None,
    )
    runtime.consumers.append(consumer)
    try:
        first = wait_for(lambda: consumer.poll_once(timeout_ms=300), "the first batch", 30)
        behind = dict(consumer.lag)
        report = runtime.health()
        wait_for(
            lambda: consumer.poll_once(timeout_ms=300) >= 0 and consumer.lag == {topic: 0},
            "the consumer to catch up",
            30,
        )
        caught_up = runtime.health()
        register_without_relay(runtime)
        register_without_relay(runtime)
        relay_behind = runtime.health()
    finally:
        consumer.close()
        runtime.application.close()

    assert first <= 100  # what one poll takes at most (max_poll_records)
    assert behind == {topic: 150 - first}
    assert report["status"] == "degraded"
    assert (
        f"consumer {consumer.name} is {150 - first} messages behind on {topic} (over 10)"
        in report["degraded_because"]
    )
    assert report["consumers"][consumer.name]["lag"] == {topic: 150 - first}
    assert caught_up["status"] == "ok", caught_up["degraded_because"]
    waiting = relay_behind["relay"]["waiting"]
    assert waiting > 3  # each registration records its events: more than the threshold
    assert relay_behind["status"] == "degraded"
    assert (
        f"relay {runtime.relay.name} has {waiting} events waiting (over 3)"
        in relay_behind["degraded_because"]
    )
