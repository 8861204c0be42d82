"""Kafka names, logins and clients shared by every service.

One event topic per service, keyed by case id so that one child's events keep their order;
infinite retention because the topics are the platform's audit record.

Every client of the platform is made from a :class:`KafkaConnection`: where the brokers are,
how to reach them (TLS, SASL) and which principal the client acts as, so that no client can be
made that skips the broker's authentication.
"""

import contextlib
import logging
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import murmur2
from kafka.structs import OffsetAndMetadata

from shared.settings import Settings

SERVICES = ("intake", "referral", "followup")
EVENT_TOPIC_PARTITIONS = 6
DEAD_LETTER_SUFFIX = ".dlq"
# One partition: a topic's parked messages form one ordered log, so that an offset names one
# of them (`homeward dlq replay --since`).
DEAD_LETTER_PARTITIONS = 1
# Every partner's topics (homeward.partner.<agency>.referrals, .replies) start with it.
PARTNER_TOPIC_PREFIX = "homeward.partner."

# Homeward's principals on the broker. Partners are named by their agency code, which is
# upper case (AGENCY_CODE_PATTERN), so no partner can take one of these names.
ADMIN = "homeward-admin"  # topics, service principals and their ACLs: a super user
REGISTRAR = "homeward-registrar"  # the referral service's partner registration: ACLs, SCRAM
AUDITOR = "homeward-audit"  # `homeward replay`, `audit verify`: reads events and checkpoints


# kafka-python's admin client logs its whole configuration, the SASL password included, at
# DEBUG: that logger never goes below INFO, whatever level the application logs at.
logging.getLogger("kafka.admin.client").setLevel(logging.INFO)


def service_principal(service: str) -> str:
    return f"homeward-{service}"


class KafkaLoginError(RuntimeError):
    """A principal's password cannot be read; the message names the file, never its content."""


def password_file(credentials_dir: Path, principal: str) -> Path:
    return credentials_dir / f"{principal}.password"


def ensure_password_file(credentials_dir: Path, principal: str) -> Path:
    """A principal's password, made once into a file readable by its owner only."""
    path = password_file(credentials_dir, principal)
    credentials_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        # Created 0600 from the start, and never over a password a broker already knows.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
    return path


def read_password(credentials_dir: Path, principal: str) -> str:
    path = password_file(credentials_dir, principal)
    try:
        password = path.read_text().strip()
    except OSError as error:
        raise KafkaLoginError(
            f"cannot read the Kafka password of {principal} in {path}: {error.strerror}"
        ) from None
    if not password:
        raise KafkaLoginError(f"the Kafka password file {path} is empty")
    return password


@dataclass(frozen=True)
class KafkaConnection:
    """How one principal reaches the brokers. The password stays in its file until a client
    is made, so that it is in no settings dump, log line or ``repr``."""

    bootstrap: str
    principal: str | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    credentials_dir: Path | None = None
    ssl_cafile: Path | None = None

    @property
    def authenticates(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def as_principal(self, principal: str) -> "KafkaConnection":
        return replace(self, principal=principal)

    def password(self) -> str:
        if self.principal is None or self.credentials_dir is None:
            raise KafkaLoginError("a SASL connection needs a principal and a credentials folder")
        return read_password(self.credentials_dir, self.principal)

    def client_kwargs(self) -> dict[str, Any]:
        """The arguments every kafka-python producer, consumer and admin client is made with."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.authenticates:
            kwargs |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.principal,
                "sasl_plain_password": self.password(),
            }
        if self.security_protocol == "SASL_SSL" and self.ssl_cafile is not None:
            kwargs["ssl_cafile"] = str(self.ssl_cafile)
        return kwargs

    def librdkafka_config(self) -> dict[str, Any]:
        """The same login in confluent-kafka's (librdkafka's) words."""
        kwargs = self.client_kwargs()
        config: dict[str, Any] = {
            "bootstrap.servers": kwargs["bootstrap_servers"],
            "security.protocol": kwargs["security_protocol"],
        }
        if "sasl_mechanism" in kwargs:
            config |= {
                "sasl.mechanisms": kwargs["sasl_mechanism"],
                "sasl.username": kwargs["sasl_plain_username"],
                "sasl.password": kwargs["sasl_plain_password"],
            }
        if "ssl_cafile" in kwargs:
            config["ssl.ca.location"] = kwargs["ssl_cafile"]
        return config


def kafka_connection(settings: Settings, principal: str) -> KafkaConnection:
    """How ``principal`` reaches the broker the settings name."""
    if not settings.kafka_bootstrap:
        raise ValueError("HOMEWARD_KAFKA_BOOTSTRAP is not set: a service needs a broker")
    return KafkaConnection(
        bootstrap=settings.kafka_bootstrap,
        principal=principal,
        security_protocol=settings.kafka_security_protocol,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        credentials_dir=settings.kafka_credentials_dir,
        ssl_cafile=settings.kafka_ssl_cafile,
    )


def event_topic(service: str) -> str:
    return f"homeward.{service}.events"


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX


ACCESS_TOPIC = "homeward.audit.access"
# Each service's event-chain checkpoints (shared/checkpoints.py): one partition, one ordered log.
CHECKPOINT_TOPIC = "homeward.audit.checkpoints"


def platform_topics() -> list[str]:
    """The services' event topics and the access log (each service's dead letters of them are
    made apart: they have one partition)."""
    return [*(event_topic(service) for service in SERVICES), ACCESS_TOPIC]


def ensure_checkpoint_topic(connection: KafkaConnection) -> list[str]:
    """The checkpoints' topic, kept forever like the chains it vouches for."""
    return ensure_topics(connection, [CHECKPOINT_TOPIC], partitions=1)


def ensure_dead_letter_topics(connection: KafkaConnection, topics: Iterable[str]) -> list[str]:
    """The dead-letter topics of ``topics`` (kept forever, like what they park)."""
    return ensure_topics(
        connection, [dead_letter_topic(topic) for topic in topics], DEAD_LETTER_PARTITIONS
    )


def ensure_topics(
    connection: KafkaConnection,
    topics: Iterable[str],
    partitions: int = EVENT_TOPIC_PARTITIONS,
    retention_ms: int = -1,
) -> list[str]:
    """Create the topics that do not exist yet; return the ones created. Safe to repeat.
    Retention is infinite unless said otherwise: the event topics are the audit record."""
    admin = KafkaAdminClient(**connection.client_kwargs(), client_id="homeward-topics")
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in dict.fromkeys(topics) if topic not in existing]
        if missing:
            # Someone else may create one of them meanwhile; the broker creates each topic of a
            # request on its own, so the others are made all the same.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    {
                        topic: {
                            "num_partitions": partitions,
                            # The broker's default: as many copies as the cluster has nodes.
                            "replication_factor": -1,
                            "configs": {"retention.ms": str(retention_ms)},
                        }
                        for topic in missing
                    },
                    wait_for_metadata=True,
                )
        return missing
    finally:
        admin.close()


def reliable_producer(
    connection: KafkaConnection, client_id: str, timeout_seconds: float
) -> KafkaProducer:
    """A producer that waits for every in-sync replica and never reorders or duplicates a retry.

    ``max_block_ms`` bounds how long ``send`` waits for metadata, so a broker outage surfaces
    as an error the caller can retry instead of a hang.
    """
    timeout_ms = int(timeout_seconds * 1000)
    return KafkaProducer(
        **connection.client_kwargs(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_block_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
        delivery_timeout_ms=timeout_ms + 5000,
        reconnect_backoff_max_ms=2000,
    )


def topic_partitions(consumer: KafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    return [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]


def partitions_of_key(
    consumer: KafkaConsumer, topics: Iterable[str], key: bytes
) -> list[TopicPartition]:
    """The one partition of each topic that a message with ``key`` goes to: the platform's
    producers use the client's default partitioner (murmur2 of the key, as Java's)."""
    found = []
    for topic in topics:
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if partitions:
            found.append(
                TopicPartition(topic, partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)])
            )
    return found


class UnknownTopic(LookupError):
    """A topic that does not exist, or that a principal may not see."""


def read_to_end(connection: KafkaConnection, topics: list[str]) -> Iterator[ConsumerRecord]:
    """Every record of ``topics`` from the beginning to the end they had when asked, in no
    consumer group (nothing is committed). A topic that does not exist, or that the
    connection's principal may not read, is an error, not an empty topic."""
    consumer = KafkaConsumer(**connection.client_kwargs(), enable_auto_commit=False)
    try:
        partitions = topic_partitions(consumer, topics)
        missing = set(topics) - {partition.topic for partition in partitions}
        if missing:
            raise UnknownTopic(
                f"no topic {', '.join(sorted(missing))} that {connection.principal} may read"
            )
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        while any(consumer.position(p) < end[p] for p in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                yield from (
                    r for r in records if r.offset < end[TopicPartition(r.topic, r.partition)]
                )
    finally:
        consumer.close(autocommit=False)


@contextlib.contextmanager
def group_client(connection: KafkaConnection, group: str) -> Iterator[KafkaConsumer]:
    """A client that commits a consumer group's offsets without joining it."""
    consumer = KafkaConsumer(
        **connection.client_kwargs(),
        group_id=group,
        client_id=f"{group}-move",
        enable_auto_commit=False,
    )
    try:
        yield consumer
    finally:
        consumer.close(autocommit=False)


def move_consumer_group(
    connection: KafkaConnection, group: str, topics: list[str], *, to_end: bool = False
) -> None:
    """Move a consumer group's committed offsets back to the start of its topics, so that it
    reads them all again, or with ``to_end`` on to their end, so that it reads only what
    comes next. The group must have no running member."""
    with group_client(connection, group) as consumer:
        partitions = topic_partitions(consumer, topics)
        offsets = (
            consumer.end_offsets(partitions) if to_end else consumer.beginning_offsets(partitions)
        )
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()})


def commit_group_offsets(
    connection: KafkaConnection, group: str, offsets: dict[tuple[str, int], int]
) -> None:
    """Set a consumer group's committed offsets (by topic and partition): where a rebuilt read
    model's live consumer takes over. The group must have no running member."""
    with group_client(connection, group) as consumer:
        consumer.commit(
            {TopicPartition(*p): OffsetAndMetadata(offset, "", -1) for p, offset in offsets.items()}
        )
