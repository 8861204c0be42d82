"""Partners may use librdkafka (confluent-kafka) rather than kafka-python: Homeward's messages
and topics must work for it as they are, with nothing but the published contract, the Kafka
credentials its registration gave, the partner's own key pair and the guide's lines (PyNaCl)
to open what is sealed to it."""

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from fastapi.testclient import TestClient
from nacl.exceptions import CryptoError

from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.keyring import open_keyring
from tests.conftest import as_admin, sqlite_store
from tests.partner import answer_document, opened_data, read_messages, register_partner
from tests.samples import registration
from tests.signin import staff_headers


def test_a_librdkafka_partner_reads_its_referral_and_answers_it(settings, tmp_path):
    keyring = open_keyring(settings)
    for name in ("intake", "referral"):
        (tmp_path / name).mkdir()
    intake_runtime = build_intake(settings, sqlite_store(tmp_path / "intake"), keyring=keyring)
    referral_runtime = build_referral(
        settings, sqlite_store(tmp_path / "referral"), keyring=keyring
    )
    agency, other_agency = (f"{prefix}-{uuid.uuid4().hex[:6].upper()}" for prefix in ("RD", "OT"))
    clinic_keys, other_keys = tmp_path / "clinic-keys", tmp_path / "other-keys"
    with (
        TestClient(
            intake_api(intake_runtime), headers=staff_headers(intake_runtime.settings)
        ) as intake,
        TestClient(
            referral_api(referral_runtime), headers=staff_headers(referral_runtime.settings)
        ) as referrals,
    ):
        bootstrap = settings.kafka_bootstrap
        clinic = register_partner(referrals, bootstrap, agency, "health", clinic_keys, "Clinique")
        register_partner(referrals, bootstrap, other_agency, "health", other_keys, "Dispensaire")
        case = intake.post("/cases", json=registration()).json()
        intake.post(
            f"/cases/{case['case_id']}/consents",
            json={
                "version": case["version"],
                "given_by": "child_consent",
                "purpose": "health",
                "recipients": [agency],
                "categories": ["identity"],
                "given_on": "2026-11-20",
            },
        )
        request = {
            "case_id": case["case_id"],
            "agency": agency,
            "service": "health",
            "purpose": "health",
            "categories": ["identity"],
        }
        deadline = time.monotonic() + 30
        while (made := referrals.post("/referrals", json=request)).status_code != 201:
            assert time.monotonic() < deadline, made.text
            time.sleep(0.2)
        referral_id = made.json()["referral_id"]

        consumer = Consumer(
            {
                **clinic.librdkafka(),
                "group.id": clinic.group("clinic"),
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([f"homeward.partner.{agency}.referrals"])
        received = None
        deadline = time.monotonic() + 30
        try:
            while received is None and time.monotonic() < deadline:
                record = consumer.poll(0.5)
                if record is not None and record.error() is None:
                    received = record
                    consumer.commit(record, asynchronous=False)
        finally:
            consumer.close()
        assert received is not None
        assert b"Amani" not in received.value()
        event = json.loads(received.value())
        assert received.key().decode() == case["case_id"]
        assert dict(received.headers())["content-type"].startswith(b"application/cloudevents")
        assert event["type"] == "org.homeward.partner.ReferralReceived.v1"
        assert event["data"]["referral_id"] == referral_id
        assert opened_data(clinic_keys, event)["shared_data"]["name"] == "Amani Zawadi-Kuvuka"

        # Another partner that reads the clinic's topic (the broker's ACLs should stop it)
        # finds ciphertext only, and its own key opens none of it.
        (seen_by_other,) = read_messages(
            as_admin(settings), f"homeward.partner.{agency}.referrals", key=case["case_id"]
        )
        assert b"Amani" not in seen_by_other.value
        assert b"Zawadi" not in seen_by_other.value
        with pytest.raises(CryptoError):
            opened_data(other_keys, json.loads(seen_by_other.value))

        producer = Producer(clinic.librdkafka())
        producer.produce(
            f"homeward.partner.{agency}.replies",
            answer_document(agency, "ReferralAccepted", {"referral_id": referral_id}),
        )
        assert producer.flush(10) == 0
        deadline = time.monotonic() + 30
        while referrals.get(f"/referrals/{referral_id}").json()["state"] != "accepted":
            assert time.monotonic() < deadline, "the librdkafka partner's answer was not applied"
            time.sleep(0.2)
