"""One message contract on every topic, stated in the README's "What is on Kafka": ``subject``
is what a message is about, ``sequence`` that subject's version, ``caseid`` and the Kafka key
the case; a partner's answer names the referral it answers (``subject``) and when (``time``).

The three services run in this process on the real broker; the partner is a plain Kafka
client (``tests/running.py``)."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.partner import answer_document, read_messages
from tests.running import (
    Partner,
    connected_partner,
    new_agency,
    referred,
    running_services,
    sqlite_stores,
    wait_for,
)
from tests.samples import registration


@pytest.fixture
def services(settings, tmp_path) -> Iterator[tuple[Any, TestClient, TestClient, TestClient, Any]]:
    with running_services(settings, sqlite_stores(tmp_path)) as running:
        yield running


def school_referral(
    intake: TestClient, referral: TestClient, agency: str, school: str
) -> dict[str, Any]:
    """A case registered with the child's consent to share her identity with the school, and
    its referral there."""
    case = intake.post("/cases", json=registration(registering_agency=agency)).json()
    consented = intake.post(
        f"/cases/{case['case_id']}/consents",
        json={
            "version": case["version"],
            "given_by": "child_consent",
            "purpose": "education",
            "recipients": [school],
            "categories": ["identity"],
            "given_on": "2026-10-04",
        },
    )
    assert consented.status_code == 201, consented.text
    return referred(
        referral,
        case_id=case["case_id"],
        agency=school,
        service="education",
        purpose="education",
        categories=["identity"],
    )


def test_an_answer_without_subject_or_time_goes_to_the_partners_dead_letter_topic_with_the_reason(
    services, settings, tmp_path
):
    _clock, intake, referral, _followup, _keyring = services
    agency = new_agency(settings, intake, referral)
    school = f"SCH-{agency.removeprefix('CD-')}"
    partner = connected_partner(referral, settings, school, "education", tmp_path / school)
    try:
        made = school_referral(intake, referral, agency, school)
        referral_id = made["referral_id"]
        assert partner.next_referral()["referral_id"] == referral_id
        accepted = {"referral_id": referral_id}
        refused = {
            "'subject' is a required property": answer_document(
                school, "ReferralAccepted", accepted, subject=None
            ),
            "'time' is a required property": answer_document(
                school, "ReferralAccepted", accepted, time=None
            ),
            # The case, as the subject of every message was before the contract.
            f"subject {made['case_id']} is not data.referral_id {referral_id}": answer_document(
                school, "ReferralAccepted", accepted, subject=made["case_id"]
            ),
        }
        send(partner, *refused.values())
        parked = wait_for(
            lambda: len(p := parked_answers(partner, expect=3)) == 3 and p,
            "the refused answers on the dead-letter topic",
        )
        for expected, document in refused.items():
            assert expected in parked[json.loads(document)["id"]]
        # None of them was applied; the same answer, complete, is, and parks nothing.
        assert referral.get(f"/referrals/{referral_id}").json()["state"] == "awaiting_answer"
        send(partner, answer_document(school, "ReferralAccepted", accepted))
        wait_for(
            lambda: referral.get(f"/referrals/{referral_id}").json()["state"] == "accepted",
            "the complete answer applied",
        )
        assert parked_answers(partner, expect=4).keys() == parked.keys()
    finally:
        partner.close()
    print(
        f"\nanswers refused with their reasons: {len(parked)} parked on "
        f"homeward.partner.{school}.replies.dlq: " + " | ".join(sorted(parked.values()))
    )


def send(partner: Partner, *documents: bytes) -> None:
    for document in documents:
        partner.producer.send(f"homeward.partner.{partner.agency}.replies", document).get(10)


def parked_answers(partner: Partner, expect: int) -> dict[str, str]:
    """The partner's answers on its dead-letter topic, read as the partner reads them: the
    reason of each, by its id."""
    parked = read_messages(
        partner.login.kafka_python(),
        f"homeward.partner.{partner.agency}.replies.dlq",
        expect=expect,
        timeout=5,
    )
    return {
        json.loads(record.value)["id"]: dict(record.headers)["dlq.reason"].decode()
        for record in parked
    }
