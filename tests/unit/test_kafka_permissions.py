"""What each principal may do on Kafka is one reviewed table, and it is exactly what the
services are wired to do; every Kafka client is made from the settings' login."""

import importlib
import re

import pytest
from kafka.admin import ACLOperation, ResourceType
from pydantic import ValidationError

from services.referral.partners import partner_permissions
from services.referral.partnerside import PartnerLogin, PartnerSideError
from shared.kafka import SERVICES, KafkaConnection, KafkaLoginError, kafka_connection
from shared.kafkaacl import SERVICE_PERMISSIONS, Permission, UngrantedKafkaAccess
from shared.keyring import generate_master_key
from shared.runtime import Subscription
from shared.settings import REPO_ROOT, Settings
from tests.conftest import in_memory_keyring

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}


def wired(service: str):
    """The service's runtime as its composition root wires it; no broker is reached."""
    settings = Settings(kafka_bootstrap="127.0.0.1:9", master_key=generate_master_key())
    build = importlib.import_module(f"services.{service}.service").build_runtime
    return build(settings, IN_MEMORY, keyring=in_memory_keyring())


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_granted_exactly_what_it_is_wired_to_do(service):
    runtime = wired(service)
    try:
        assert runtime.kafka_uses == SERVICE_PERMISSIONS[service]
    finally:
        runtime.application.close()


def test_a_subscription_beyond_the_grant_fails_when_the_service_is_built():
    runtime = wired("intake")
    try:
        with pytest.raises(
            UngrantedKafkaAccess, match=r"READ on topic homeward\.partner\.X\.replies"
        ):
            runtime.subscribe(
                Subscription(
                    ["homeward.partner.X.replies"], lambda *_: None, name="homeward.intake.peek"
                )
            )
    finally:
        runtime.application.close()


def test_a_partner_is_granted_its_own_topics_and_groups_only():
    granted = partner_permissions("SCH-GOMA")
    topics = {(p.operation, p.name) for p in granted if p.resource == ResourceType.TOPIC}
    assert topics == {
        (ACLOperation.READ, "homeward.partner.SCH-GOMA.referrals"),
        (ACLOperation.WRITE, "homeward.partner.SCH-GOMA.replies"),
        (ACLOperation.READ, "homeward.partner.SCH-GOMA.replies.dlq"),
    }
    (groups,) = [p for p in granted if p.resource == ResourceType.GROUP]
    assert groups.covers(Permission(ACLOperation.READ, ResourceType.GROUP, "SCH-GOMA.cases"))
    # Agency codes hold hyphens: SCH-GOMA's groups never take in SCH-GOMA-2's.
    assert not groups.covers(Permission(ACLOperation.READ, ResourceType.GROUP, "SCH-GOMA-2.x"))


def test_client_arguments_follow_the_settings(tmp_path):
    (tmp_path / "homeward-intake.password").write_text("s3cret\n")
    production = Settings(
        kafka_bootstrap="kafka-1.example.org:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_credentials_dir=tmp_path,
        kafka_ssl_cafile=tmp_path / "ca.pem",
    )
    assert kafka_connection(production, "homeward-intake").client_kwargs() == {
        "bootstrap_servers": "kafka-1.example.org:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "homeward-intake",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": str(tmp_path / "ca.pem"),
    }
    assert "s3cret" not in repr(kafka_connection(production, "homeward-intake"))
    plain = KafkaConnection("127.0.0.1:9092", "homeward-intake")
    assert plain.client_kwargs() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    with pytest.raises(KafkaLoginError, match=r"homeward-referral\.password") as refused:
        kafka_connection(production, "homeward-referral").client_kwargs()
    assert "s3cret" not in str(refused.value)


def test_settings_refuse_an_incomplete_or_unencrypted_kafka_login(tmp_path):
    with pytest.raises(ValidationError, match="HOMEWARD_KAFKA_CREDENTIALS_DIR"):
        Settings(kafka_security_protocol="SASL_SSL")
    with pytest.raises(ValidationError, match="SASL_SSL"):
        Settings(kafka_ssl_cafile=tmp_path / "ca.pem")
    local_jwks = tmp_path / "jwks.json"
    local_jwks.write_text('{"keys": []}')
    production = {
        "environment": "production",
        "auth_issuer": "https://idp.example.org/realms/homeward",
        "auth_jwks_file": local_jwks,
        "kafka_bootstrap": "kafka-1.example.org:9093",
    }
    for protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
        with pytest.raises(ValidationError, match="over TLS"):
            Settings(**production, kafka_security_protocol=protocol, kafka_credentials_dir=tmp_path)
    Settings(**production, kafka_security_protocol="SASL_SSL", kafka_credentials_dir=tmp_path)


def test_every_kafka_client_of_the_platform_takes_its_login_from_shared_kafka():
    """A client made with its own ``bootstrap_servers=`` would skip TLS and SASL. The partner's
    own tool (``homeward partner read|answer``) signs in as the partner, from the partner's
    file, and refuses one without SASL (below)."""
    own_login = {REPO_ROOT / "shared" / "kafka.py", REPO_ROOT / "services/referral/partnerside.py"}
    making_their_own = [
        str(path.relative_to(REPO_ROOT))
        for folder in ("shared", "services", "bench")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if path not in own_login
        and re.search(r"bootstrap_servers\s*=|[\"']bootstrap\.servers[\"']", path.read_text())
    ]
    assert making_their_own == []


def test_the_partners_own_tool_refuses_a_login_file_without_sasl(tmp_path):
    config = tmp_path / "homeward-partner.properties"
    config.write_text(
        "bootstrap.servers=127.0.0.1:9092\nsecurity.protocol=PLAINTEXT\n"
        "sasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram."
        'ScramLoginModule required username="SCH-GOMA" password="x";\n'
    )
    with pytest.raises(PartnerSideError, match=r"security\.protocol must be SASL_SSL"):
        PartnerLogin(config)
    config.write_text(config.read_text().replace("=PLAINTEXT", "=SASL_PLAINTEXT"))
    assert PartnerLogin(config).client["sasl_plain_username"] == "SCH-GOMA"
