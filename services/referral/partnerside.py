"""The partner agency's side of the referral contract, for `homeward partner read` and `answer`:
what an agency with no developers runs instead of writing a Kafka client.

Its Kafka login is read from ``homeward-partner.properties``, the file Kafka's own console tools
read (the partner's guide shows it), so that one file serves both. Its referrals are read from
the earliest offset its topic keeps, in no consumer group (nothing is committed: every run shows
everything), and opened with its private key; an answer's free text is sealed to the referral
service's ``reply_key``, taken from the referral's own ``ReferralReceived``.
"""

import base64
import json
import os
import re
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jsonschema import ValidationError
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from nacl.public import PrivateKey

from services.referral.domain import partner_referrals_topic, partner_replies_topic
from services.referral.messages import PARTNER_ANSWERS
from shared.crypto import SealError
from shared.partnerbox import (
    encoded_key,
    is_box_sealed,
    open_sealed,
    public_key_from_text,
    seal_to,
)
from shared.publishing import validate_data

PARTNER_CONFIG_FILE = "homeward-partner.properties"
# An unreachable broker is said within seconds, never waited on in silence.
BOOTSTRAP_TIMEOUT_MS = 10_000
READ_TIMEOUT_SECONDS = 60.0
JAAS_OPTION = re.compile(r'(\w+)="([^"]*)"')
# `homeward partner answer` takes an answer's kind (accepted, declined, ...): its CloudEvent type.
ANSWER_TYPES = {kind: event_type for event_type, kind in PARTNER_ANSWERS.items()}
DATED_TODAY = {
    "service_started": "started_on",
    "service_completed": "completed_on",
    "data_deleted": "deleted_on",
}
WITH_REASON = ("declined", "service_discontinued")
# A milestone names which one it is: it is reported by a partner's system or over HTTP.
ANSWERABLE = sorted(set(ANSWER_TYPES) - {"milestone"})


class PartnerSideError(RuntimeError):
    """The partner's login, key, topic or answer is not usable; the message says why."""


class PartnerLogin:
    """A partner's Kafka login, as kafka-python's arguments, from its properties file."""

    def __init__(self, config: Path) -> None:
        try:
            lines = config.read_text().splitlines()
        except OSError as error:
            raise PartnerSideError(
                f"cannot read {config} ({error.strerror}): write it as the partner's guide says"
            ) from None
        properties = dict(
            line.strip().split("=", 1)
            for line in lines
            if "=" in line and not line.lstrip().startswith(("#", "!"))
        )
        missing = {"bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.jaas.config"}
        missing -= set(properties)
        if missing:
            raise PartnerSideError(f"{config} lacks {', '.join(sorted(missing))}")
        if not properties["security.protocol"].startswith("SASL_"):
            raise PartnerSideError(
                f"{config}: security.protocol must be SASL_SSL (SASL_PLAINTEXT on this machine): "
                "the broker lets in no one unsigned"
            )
        jaas = dict(JAAS_OPTION.findall(properties["sasl.jaas.config"]))
        if not {"username", "password"} <= set(jaas):
            raise PartnerSideError(
                f'{config}: sasl.jaas.config needs username="..." password="..."'
            )
        self.agency = jaas["username"]
        self.client: dict[str, Any] = {
            "bootstrap_servers": properties["bootstrap.servers"],
            "security_protocol": properties["security.protocol"],
            "sasl_mechanism": properties["sasl.mechanism"],
            "sasl_plain_username": jaas["username"],
            "sasl_plain_password": jaas["password"],
            "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        }
        if "ssl.truststore.location" in properties:
            # A PEM truststore (ssl.truststore.type=PEM) is the CA file kafka-python reads.
            self.client["ssl_cafile"] = properties["ssl.truststore.location"]


def write_new_private_key(path: Path) -> PrivateKey:
    """A new key pair, its private key written to ``path``: 0600 from the start (never
    readable by others, even for a moment), and never over an existing key, which may already
    open referrals on their way (FileExistsError)."""
    key = PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as key_file:
        key_file.write(encoded_key(key) + "\n")
    return key


def private_key(path: Path) -> PrivateKey:
    try:
        return PrivateKey(base64.b64decode(path.read_text()))
    except OSError as error:
        raise PartnerSideError(
            f"cannot read {path} ({error.strerror}): `homeward partner keygen` made it"
        ) from None


def opened(key: PrivateKey, event: dict[str, Any]) -> dict[str, Any]:
    """A message's data with every sealed field opened."""
    try:
        return {
            name: open_sealed(key, value) if is_box_sealed(value) else value
            for name, value in event["data"].items()
        }
    except SealError:
        raise PartnerSideError(
            f"message {event['id']} does not open with this key: is it the key you registered?"
        ) from None


def read_referrals(login: PartnerLogin, key: PrivateKey) -> list[dict[str, Any]]:
    """Every message the partner's topic keeps, oldest first, opened."""
    topic = partner_referrals_topic(login.agency)
    try:
        consumer = KafkaConsumer(**login.client, enable_auto_commit=False)
    except KafkaError as error:
        raise PartnerSideError(
            f"no Kafka broker answers at {login.client['bootstrap_servers']} ({error}): "
            "check bootstrap.servers"
        ) from None
    try:
        partitions = [
            TopicPartition(topic, partition)
            for partition in consumer.partitions_for_topic(topic) or ()
        ]
        if not partitions:
            raise PartnerSideError(f"no topic {topic}, or {login.agency} may not read it")
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        while any(consumer.position(partition) < ends[partition] for partition in partitions):
            if time.monotonic() > deadline:
                raise PartnerSideError(f"{topic} was not read within {READ_TIMEOUT_SECONDS:.0f} s")
            for records in consumer.poll(timeout_ms=1000).values():
                events += [json.loads(record.value) for record in records]
    finally:
        consumer.close(autocommit=False)
    events.sort(key=lambda event: event.get("time", ""))
    return [
        {"type": event["type"], "id": event["id"], "time": event.get("time"), "data": data}
        for event in events
        for data in [opened(key, event)]
    ]


def answer(
    login: PartnerLogin, key: PrivateKey, referral_id: uuid.UUID, kind: str, reason: str | None
) -> dict[str, Any]:
    """Send the answer ``kind`` to a referral on the partner's topic; return the CloudEvent."""
    received = [
        event
        for event in read_referrals(login, key)
        if event["type"].endswith(".ReferralReceived.v1")
        and event["data"]["referral_id"] == str(referral_id)
    ]
    if not received:
        raise PartnerSideError(f"no referral {referral_id} on your topic")
    if (reason is None) == (kind in WITH_REASON):
        raise PartnerSideError(
            f"{kind} takes --reason" if reason is None else f"{kind} takes no --reason"
        )
    event_type = ANSWER_TYPES[kind]
    data: dict[str, Any] = {"referral_id": str(referral_id)}
    if kind in DATED_TODAY:
        data[DATED_TODAY[kind]] = date.today().isoformat()
    if reason is not None:
        reply_key = public_key_from_text(received[-1]["data"]["reply_key"])
        data["reason"] = seal_to(reply_key, reason)
    try:
        validate_data("partner", event_type.split(".")[3], 1, data)
    except ValidationError as error:
        raise PartnerSideError(f"the answer would be refused: {error.message}") from None
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"/partners/{login.agency}",
        "type": event_type,
        "subject": str(referral_id),
        "time": datetime.now(UTC).isoformat(),
        "data": data,
    }
    producer = KafkaProducer(**login.client)
    try:
        producer.send(partner_replies_topic(login.agency), json.dumps(event).encode()).get(
            timeout=10
        )
    except KafkaError as error:
        raise PartnerSideError(f"the answer was not sent ({error}); run it again") from None
    finally:
        producer.close()
    return event
