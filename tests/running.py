"""The platform in one test process, for the journeys: the three services on the real broker,
one clock they all read, partners as plain Kafka clients, a caseworker stepping a case
through intake, and waiting on what travels through Kafka."""

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from kafka import KafkaConsumer, KafkaProducer

from services.followup.service import build_runtime as build_followup
from services.followup.service import create_app as followup_api
from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.kafka import AUDITOR, KafkaConnection, kafka_connection
from shared.keyring import CaseKeys, Keyring, open_keyring
from shared.privacy import open_personal_fields
from shared.replay import read_case_messages
from shared.settings import Settings
from tests.conftest import sqlite_store
from tests.partner import PartnerLogin, answer_document, register_partner, run_guide
from tests.samples import (
    MOTHER_ASSESSED,
    MOTHER_LOCATED,
    RETURN_APPROVED,
    RETURN_CHECKED,
    identity_consent,
)
from tests.signin import staff_headers, supervisor_headers

T = TypeVar("T")
EVENT_TOPICS = ["homeward.intake.events", "homeward.referral.events", "homeward.followup.events"]


def replay_case(
    kafka: KafkaConnection, topics: list[str], case_id: uuid.UUID, case_keys: CaseKeys
) -> list[dict[str, Any]]:
    """A case's messages with every sealed field opened (``[erased]`` without its key): what
    a holder of the keys could read, which the tests hold against what each reader may."""
    return [
        {
            **message.model_dump(mode="json", exclude={"data"}, exclude_none=True),
            "data": open_personal_fields(message.data, case_id, case_keys, "test replay"),
        }
        for message in read_case_messages(kafka, topics, case_id)
    ]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def to(self, day: date) -> None:
        self.now = datetime.combine(day, self.now.timetz())


def wait_for(check: Callable[[], T], what: str, timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Partner:
    """A partner agency as it would be built outside Homeward: a plain Kafka client signed in
    with the credentials its registration gave, its own key pair in ``key_folder`` and the
    partner's guide's lines to open and seal."""

    def __init__(self, login: PartnerLogin, key_folder: Path) -> None:
        self.agency = agency = login.username
        self.login = login
        self.key_folder = key_folder
        self.sealed: Any = None  # the guide's function that seals free text to Homeward
        self.received: list[bytes] = []  # every message read, as it came off the topic
        self.consumer = KafkaConsumer(
            f"homeward.partner.{agency}.referrals",
            **login.kafka_python(),
            group_id=login.group("case-system"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.producer = KafkaProducer(**login.kafka_python())

    def next_referral(self) -> dict:
        def received():
            for records in self.consumer.poll(timeout_ms=300).values():
                for record in records:
                    self.received.append(record.value)
                    event = json.loads(record.value)
                    if event["type"] == "org.homeward.partner.ReferralReceived.v1":
                        guide = run_guide(self.key_folder, event)
                        self.sealed = guide["sealed"]
                        return guide["data"]
            return None

        return wait_for(received, f"a referral for {self.agency}")

    def answer(self, type_name: str, **data) -> None:
        self.producer.send(
            f"homeward.partner.{self.agency}.replies",
            answer_document(self.agency, type_name, data),
        ).get(timeout=10)

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.producer.close()


def new_agency(settings: Settings, *services: TestClient, prefix: str = "CD") -> str:
    """A code no other test uses (``CD-1A2B``); the services' caller becomes the sample
    caseworker (cw-0412) of that agency, so that each test sees its own cases only."""
    agency = f"{prefix}-{uuid.uuid4().hex[:4].upper()}"
    for client in services:
        client.headers.update(staff_headers(settings, agency=agency))
    return agency


def connected_partner(
    referral: TestClient,
    settings: Settings,
    agency: str,
    service: str,
    key_folder: Path,
    kind: str = "humanitarian",
) -> Partner:
    """A partner registered with the referral service (an administrator's call), reading its
    referrals with the Kafka login the registration gave."""
    login = register_partner(
        referral, settings.kafka_bootstrap, agency, service, key_folder, kind=kind
    )
    return Partner(login, key_folder)


def referred(referral: TestClient, **body: Any) -> dict[str, Any]:
    """A new referral, made as soon as the referral service has seen, on Kafka, the consent
    it needs (until then it is refused)."""
    made = wait_for(
        lambda: (answer := referral.post("/referrals", json=body)).status_code == 201 and answer,
        f"the referral to {body['agency']}",
    )
    document: dict[str, Any] = made.json()
    return document


def accepted_by_school(
    referral: TestClient, case: Any, school: Partner, given_on: str = "2026-10-12"
) -> dict[str, Any]:
    """The child's consent to tell the school who she is, a referral for education under it,
    received by the school over Kafka and accepted there; the referral as the school read it.
    ``case`` is a journey with ``id`` and ``step``."""
    case.step("consents", **identity_consent(school.agency, "education", given_on))
    referred(
        referral,
        case_id=case.id,
        agency=school.agency,
        service="education",
        purpose="education",
        categories=["identity"],
    )
    received = school.next_referral()
    school.answer("ReferralAccepted", referral_id=received["referral_id"])
    return received


@contextmanager
def running_services(
    settings: Settings, store_env: Callable[[str], dict[str, str]]
) -> Iterator[tuple[Clock, TestClient, TestClient, TestClient, Keyring]]:
    """The three services in this process, each on the event store ``store_env`` gives for
    its name (``keyring`` too), with one clock to move through the journey."""
    clock = Clock(datetime(2026, 10, 4, 10, 0, tzinfo=UTC))
    keyring = open_keyring(settings, store_env("keyring"))
    runtimes = {
        name: build(settings, store_env(name), clock, keyring)
        for name, build in (
            ("intake", build_intake),
            ("referral", build_referral),
            ("followup", build_followup),
        )
    }
    with (
        TestClient(
            intake_api(runtimes["intake"]), headers=staff_headers(runtimes["intake"].settings)
        ) as intake,
        TestClient(
            referral_api(runtimes["referral"]), headers=staff_headers(runtimes["referral"].settings)
        ) as referral,
        TestClient(
            followup_api(runtimes["followup"]), headers=staff_headers(runtimes["followup"].settings)
        ) as followup,
    ):
        yield clock, intake, referral, followup, keyring


def sqlite_stores(folder: Path) -> Callable[[str], dict[str, str]]:
    def store_env(name: str) -> dict[str, str]:
        (folder / name).mkdir(exist_ok=True)
        return sqlite_store(folder / name)

    return store_env


class CaseInIntake:
    """One case as its caseworker steps it through intake: each step is sent with the version
    last seen, and its answer becomes the case as now seen."""

    def __init__(self, intake: TestClient, case: dict[str, Any]) -> None:
        self.intake = intake
        self.case = case

    @classmethod
    def register(cls, intake: TestClient, body: dict[str, Any]) -> "CaseInIntake":
        answer = intake.post("/cases", json=body)
        assert answer.status_code == 201, answer.text
        return cls(intake, answer.json())

    @property
    def id(self) -> str:
        return str(self.case["case_id"])

    def step(self, path: str, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
        answer = self.intake.post(
            f"/cases/{self.id}/{path}",
            json={"version": self.case["version"], **body},
            headers=headers,
        )
        assert answer.status_code in (200, 201), f"{path}: {answer.text}"
        self.case = answer.json()
        return self.case

    def reload(self) -> dict[str, Any]:
        self.case = self.intake.get(f"/cases/{self.id}").json()
        return self.case

    def timeline_types(self) -> list[str]:
        """The facts recorded, oldest first, by name (``Reunified``)."""
        entries = self.intake.get(f"/cases/{self.id}/timeline").json()
        return [entry["type"].split(".")[-2] for entry in reversed(entries)]

    def safeguarded_return(self, settings: Settings) -> None:
        """Every safeguard before the sample girl's return to her mother (the samples' days,
        up to 2026-10-11): the mother located and assessed, the relationship verified with the
        child and the family apart, the return checked, then approved by a supervisor."""
        self.step("tracing/family-located", **MOTHER_LOCATED)
        self.step("tracing/family-assessment", **MOTHER_ASSESSED)
        for side in ("child", "family"):
            self.step(
                "tracing/relationship-verification",
                verified_with=side,
                verified_on=MOTHER_ASSESSED["assessed_on"],
            )
        self.step("tracing/return-check", **RETURN_CHECKED)
        agency = self.case["registering_agency"]
        self.step(
            "tracing/return-approval", supervisor_headers(settings, agency), **RETURN_APPROVED
        )


def has_applied(service: TestClient, consumer: str, message_id: str) -> bool:
    """Whether the service's ``consumer`` has applied the message: its inbox holds the id."""
    database = service.app.state.runtime.database  # type: ignore[attr-defined]
    with database.transaction() as tx:
        return bool(
            tx.fetchall(
                "SELECT 1 FROM homeward_inbox WHERE consumer = ? AND event_id = ?",
                (consumer, message_id),
            )
        )


def messages_per_service(settings: Settings, case_ids: list[str]) -> dict[str, int]:
    """How many distinct messages each service published about the cases, read from Kafka."""
    audit = kafka_connection(settings, AUDITOR)
    return dict(
        Counter(
            message.source.removeprefix("/homeward/")
            for case_id in case_ids
            for message in read_case_messages(audit, EVENT_TOPICS, uuid.UUID(case_id))
        )
    )
