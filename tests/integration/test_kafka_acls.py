"""On the SASL/SCRAM broker with its ACL authoriser, as `homeward up` and production run it:
a partner's credentials reach its own two topics and nothing else, each service's principal
writes only its own topics, and nobody gets in without a valid password."""

import json
import stat
import time
import uuid

import pytest
from confluent_kafka import Consumer
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ACLOperation
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.cli import kafka_env
from shared.cli import main as homeward
from shared.kafka import (
    ADMIN,
    SERVICES,
    event_topic,
    kafka_connection,
    password_file,
    service_principal,
)
from shared.kafkaacl import grant, on_topic
from shared.localkafka import BROKER_PRINCIPAL
from tests.conftest import as_admin, sqlite_store
from tests.partner import PartnerLogin, partner_keys, read_messages, register_partner
from tests.signin import admin_headers

EVENT_TOPICS = [event_topic(service) for service in SERVICES]


def refused_to_read(client: dict, topic: str, group: str) -> bool:
    """Whether the broker refuses these kafka-python credentials reading ``topic`` in
    ``group``: both the offsets of its partitions and, to librdkafka (which reports what
    kafka-python only logs), a fetch in the group. False when a message was read."""
    refused_offsets = offsets_refused(client, topic)
    reader = Consumer(
        {
            "bootstrap.servers": client["bootstrap_servers"],
            "security.protocol": client["security_protocol"],
            "sasl.mechanisms": client["sasl_mechanism"],
            "sasl.username": client["sasl_plain_username"],
            "sasl.password": client["sasl_plain_password"],
            "group.id": group,
            "auto.offset.reset": "earliest",
        }
    )
    reader.subscribe([topic])
    record = None
    deadline = time.monotonic() + 15
    try:
        while record is None and time.monotonic() < deadline:
            record = reader.poll(0.3)
    finally:
        reader.close()
    assert record is not None, f"no answer from the broker about {topic}"
    error = record.error()
    return refused_offsets and error is not None and error.name() == "TOPIC_AUTHORIZATION_FAILED"


def offsets_refused(client: dict, topic: str) -> bool:
    consumer = KafkaConsumer(**client)
    try:
        consumer.beginning_offsets([TopicPartition(topic, 0)])
    except TopicAuthorizationFailedError:
        return True
    finally:
        consumer.close()
    return False


def eventually(condition, what: str, timeout: float = 15) -> None:
    """ACLs reach the authoriser through the cluster's metadata log: soon, not at once."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def refused_to_write(client: dict, topic: str) -> bool:
    producer = KafkaProducer(**client, max_block_ms=10_000)
    try:
        producer.send(topic, b'{"forged": true}').get(timeout=10)
    except TopicAuthorizationFailedError:
        return True
    finally:
        producer.close()
    return False


@pytest.fixture
def two_partners(settings, tmp_path):
    """Two partners registered through the referral service, as each would be."""
    runtime = build_referral(settings, sqlite_store(tmp_path))
    logins = []
    with TestClient(referral_api(runtime)) as referrals:
        for prefix in ("AA", "BB"):
            agency = f"{prefix}-{uuid.uuid4().hex[:6].upper()}"
            logins.append(
                register_partner(
                    referrals, settings.kafka_bootstrap, agency, "education", tmp_path / agency
                )
            )
            # The password is in the registration's answer only.
            assert "password" not in referrals.get(f"/partners/{agency}").text
        yield logins


def test_a_partner_reads_and_answers_on_its_own_topics_only(settings, two_partners):
    a, b = two_partners
    mine, theirs = (f"homeward.partner.{p.username}" for p in (a, b))
    own_referral = json.dumps({"marker": str(uuid.uuid4())}).encode()
    admin = KafkaProducer(**as_admin(settings))
    admin.send(f"{mine}.referrals", own_referral).get(timeout=10)
    admin.close()

    # Its own: it reads its referrals in a group of its own, and answers on its replies.
    (received,) = read_messages(a.kafka_python(), f"{mine}.referrals")
    assert received.value == own_referral
    assert not refused_to_read(a.kafka_python(), f"{mine}.referrals", a.group("check"))
    assert not refused_to_write(a.kafka_python(), f"{mine}.replies")

    # Nothing else: another partner's referrals and replies, any service's events.
    for topic in (f"{theirs}.referrals", f"{theirs}.replies", *EVENT_TOPICS):
        assert refused_to_read(a.kafka_python(), topic, a.group("peek")), topic
    for topic in (f"{theirs}.replies", f"{mine}.referrals", *EVENT_TOPICS):
        assert refused_to_write(a.kafka_python(), topic), topic
    # Nor another partner's consumer groups, even on its own topic.
    intruder = KafkaConsumer(
        f"{mine}.referrals", **a.kafka_python(), group_id=b.group("case-system")
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            intruder.poll(timeout_ms=5000)
    finally:
        intruder.close()


def test_each_service_writes_its_own_topic_only_and_reads_what_it_consumes(settings):
    for service in SERVICES:
        client = kafka_connection(settings, service_principal(service)).client_kwargs()
        for other in SERVICES:
            if other != service:
                assert refused_to_write(client, event_topic(other)), (service, other)
    referral = kafka_connection(settings, service_principal("referral")).client_kwargs()
    assert refused_to_read(referral, event_topic("followup"), "homeward.referral.intake")
    # Intake reads the referral service's messages, for the programme reports' counts (their
    # offsets here: a read in its group would move the statistics consumer's offsets).
    intake = kafka_connection(settings, service_principal("intake")).client_kwargs()
    assert not offsets_refused(intake, event_topic("referral"))


def test_setting_up_again_takes_away_an_acl_the_table_does_not_grant(settings, monkeypatch):
    referral = service_principal("referral")
    client = kafka_connection(settings, referral).client_kwargs()
    stray = on_topic(event_topic("followup"), ACLOperation.READ)
    admin = KafkaAdminClient(**as_admin(settings))
    try:
        grant(admin, referral, stray)
    finally:
        admin.close()
    eventually(lambda: not offsets_refused(client, event_topic("followup")), "the stray ACL")
    for name, value in kafka_env(settings).items():
        monkeypatch.setenv(name, value)
    assert homeward(["kafka", "setup"]) == 0
    eventually(lambda: offsets_refused(client, event_topic("followup")), "the ACL taken away")


def test_without_a_valid_password_nobody_gets_in(settings):
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, bootstrap_timeout_ms=3000)
    errors: list = []
    intruder = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": ADMIN,
            "sasl.password": "guessed",
            "group.id": "homeward-admin.guess",
            "error_cb": errors.append,
        }
    )
    deadline = time.monotonic() + 15
    try:
        while not errors and time.monotonic() < deadline:
            intruder.poll(0.2)
    finally:
        intruder.close()
    assert errors
    assert errors[0].name() == "_AUTHENTICATION"
    # The same client with the admin's own password is let in.
    admin = KafkaAdminClient(**as_admin(settings))
    assert event_topic("intake") in admin.list_topics()
    admin.close()


def test_an_administrator_issues_a_partner_new_credentials(
    settings, two_partners, monkeypatch, capsys
):
    a, _ = two_partners
    for name, value in kafka_env(settings).items():
        monkeypatch.setenv(name, value)
    assert homeward(["partner", "credentials", a.username]) == 0
    printed = capsys.readouterr().out
    password = next(
        line.split()[-1] for line in printed.splitlines() if line.strip().startswith("password")
    )
    renewed = PartnerLogin(settings.kafka_bootstrap, a.username, password, a.sasl_mechanism)
    own_topic = f"homeward.partner.{a.username}.referrals"
    assert read_messages(renewed.kafka_python(), own_topic, timeout=2) == []
    with pytest.raises(KafkaError):  # the previous password no longer signs in
        KafkaAdminClient(**a.kafka_python(), bootstrap_timeout_ms=3000)


def test_without_the_registrar_a_registration_stands_and_makes_no_credentials(settings, tmp_path):
    """A deployment that keeps the registrar's password off the referral host."""
    referral_only = tmp_path / "credentials"
    referral_only.mkdir(mode=0o700)
    principal = service_principal("referral")
    password = kafka_connection(settings, principal).password()
    password_file(referral_only, principal).write_text(password)
    runtime = build_referral(
        settings.model_copy(update={"kafka_credentials_dir": referral_only}),
        sqlite_store(tmp_path),
    )
    agency = f"CC-{uuid.uuid4().hex[:6].upper()}"
    with TestClient(referral_api(runtime)) as referrals:
        registered = referrals.post(
            "/partners",
            json={
                "agency": agency,
                "name": "Partner CC",
                "kind": "school",
                "country": "CD",
                "services": ["education"],
                "public_key": partner_keys(tmp_path / agency),
            },
            headers=admin_headers(runtime.settings),
        )
    assert registered.status_code == 201, registered.text
    assert registered.json()["kafka_login"] is None
    assert registered.json()["referrals_topic"] == f"homeward.partner.{agency}.referrals"


def test_passwords_stay_in_files_only_their_owner_reads(kafka_broker):
    folder = kafka_broker.credentials_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.glob("*.password"))
    assert {f.stem for f in files} >= {BROKER_PRINCIPAL, ADMIN, service_principal("intake")}
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE((kafka_broker.home / "server.properties").stat().st_mode) == 0o600
    logs = [kafka_broker.log_file, kafka_broker.home / "broker.out"]
    for file in files:
        password = file.read_text().strip().encode()
        assert not any(password in log.read_bytes() for log in logs), file.name
