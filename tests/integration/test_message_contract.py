"""One message contract on every topic, stated in the README's "What is on Kafka": ``subject``
is what a message is about, ``sequence`` that subject's version, ``caseid`` and the Kafka key
the case; a partner's answer names the referral it answers (``subject``) and when (``time``).

The three services run in this process on the real broker; the partner is a plain Kafka
client (``tests/running.py``)."""

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.followup.domain import FollowUpPlan
from shared.envelope import CloudEvent, MalformedMessage
from shared.kafka import ADMIN, AUDITOR, kafka_connection, read_to_end
from shared.replay import read_case_messages
from shared.settings import Settings
from tests.partner import answer_document, read_messages
from tests.running import (
    EVENT_TOPICS,
    CaseInIntake,
    Partner,
    connected_partner,
    new_agency,
    referred,
    running_services,
    sqlite_stores,
    wait_for,
)
from tests.samples import FAMILY_TRACING_CONSENT, TRACING_STARTED, identity_consent, registration


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


def test_per_subject_sequence_order_on_every_topic_across_several_referrals_of_one_case(
    services, settings, tmp_path
):
    started = time.monotonic()
    clock, intake, referral, followup, _keyring = services
    agency = new_agency(settings, intake, referral, followup)
    school = f"SCH-{agency.removeprefix('CD-')}"
    partner = connected_partner(referral, settings, school, "education", tmp_path / school)
    girl = CaseInIntake.register(intake, registration(registering_agency=agency))
    girl.step("consents", **identity_consent(school, "education", "2026-10-04"))
    to_school = {
        "case_id": girl.id,
        "agency": school,
        "service": "education",
        "purpose": "education",
        "categories": ["identity"],
    }

    def referred_and_accepted() -> str:
        made = referred(referral, **to_school)
        referral_id: str = made["referral_id"]
        assert partner.next_referral()["referral_id"] == referral_id
        partner.answer("ReferralAccepted", referral_id=referral_id)
        wait_for_state(referral, referral_id, "accepted")
        return referral_id

    try:
        # Three referrals of one case to one school, one after the other (one open at a time):
        # the first served to its end, the second withdrawn, the third accepted.
        served = referred_and_accepted()
        partner.answer("ServiceStarted", referral_id=served, started_on="2026-10-04")
        partner.answer("ServiceCompleted", referral_id=served, completed_on="2026-10-04")
        wait_for_state(referral, served, "completed")
        withdrawn = referred_and_accepted()
        assert referral.post(
            f"/referrals/{withdrawn}/withdrawal", json={"reason": "The family moved."}
        ).is_success
        accepted = referred_and_accepted()
    finally:
        partner.close()
    # Home to her mother: follow-up makes its plan, and knows the first referral's outcome.
    girl.step("consents", **FAMILY_TRACING_CONSENT)
    girl.step("tracing", **TRACING_STARTED)
    clock.to(date(2026, 10, 12))
    girl.safeguarded_return(settings)
    girl.step("reunification", reunified_on="2026-10-12", address="Kibati camp, block C")
    wait_for(
        lambda: (
            (plan := followup.get(f"/plans/{girl.id}")).status_code == 200
            and plan.json()["outcomes"]
        ),
        "the plan, with the outcome the school reported",
    )
    for service in (intake, referral, followup):
        wait_for(lambda s=service: all_published(s), "every recorded event published")

    case_id = girl.id
    subjects = {
        "homeward.intake.events": {case_id},
        "homeward.referral.events": {served, withdrawn, accepted},
        "homeward.followup.events": {str(FollowUpPlan.create_id(uuid.UUID(case_id)))},
        f"homeward.partner.{school}.referrals": {served, withdrawn, accepted},
    }
    seen = {
        topic: sequences_by_subject(settings, topic, case_id, expected)
        for topic, expected in subjects.items()
    }
    for topic, by_subject in seen.items():
        assert by_subject.keys() == subjects[topic], topic
        for subject, sequences in by_subject.items():
            assert sequences[0] == 1, (topic, subject)
            assert sequences == sorted(set(sequences)), (topic, subject)
            if not topic.startswith("homeward.partner."):
                # A service topic carries every event of its subjects: no gap.
                assert sequences == list(range(1, len(sequences) + 1)), (topic, subject)
    # The partner reads only some of a referral's facts: its answers, for one, are not sent.
    assert len(seen[f"homeward.partner.{school}.referrals"][served]) == 1
    assert len(seen["homeward.referral.events"][served]) == 4
    # The auditor's replay still finds the whole story by the case.
    replayed = read_case_messages(
        kafka_connection(settings, AUDITOR), EVENT_TOPICS, uuid.UUID(case_id)
    )
    assert len(replayed) == sum(
        len(sequences) for topic in EVENT_TOPICS for sequences in seen[topic].values()
    )
    print(
        f"\nper-subject sequence order, case {case_id[:8]}: "
        + "; ".join(
            f"{topic} " + ", ".join(f"1..{max(q)}({len(q)})" for q in by_subject.values())
            for topic, by_subject in seen.items()
        )
        + f"; {time.monotonic() - started:.1f} s"
    )


def wait_for_state(referral: TestClient, referral_id: str, state: str) -> None:
    wait_for(
        lambda: referral.get(f"/referrals/{referral_id}").json()["state"] == state,
        f"referral {referral_id} {state}",
    )


def all_published(service: TestClient) -> bool:
    runtime = service.app.state.runtime  # type: ignore[attr-defined]
    return all(relay.lag() == 0 for relay in runtime.relays)


def sequences_by_subject(
    settings: Settings, topic: str, case_id: str, subjects: set[str]
) -> dict[str, list[int]]:
    """The sequences of each subject's messages on ``topic`` in offset order, of every message
    about the case: by its key, its caseid or a subject of the case's. Each must carry the case
    as ``caseid``, ``partitionkey`` and Kafka key."""
    records = sorted(
        read_to_end(kafka_connection(settings, ADMIN), [topic]),
        key=lambda record: (record.partition, record.offset),
    )
    by_subject: dict[str, list[int]] = defaultdict(list)
    for record in records:
        try:
            message = CloudEvent.from_bytes(record.value)
        except MalformedMessage:  # other tests' poison
            continue
        about_the_case = (
            record.key == case_id.encode()
            or message.caseid == case_id
            or message.subject in subjects
        )
        if not about_the_case:
            continue
        assert (message.caseid, message.partitionkey, record.key) == (
            case_id,
            case_id,
            case_id.encode(),
        ), f"{topic}@{record.offset}: {message.type}"
        assert message.subject is not None
        assert message.sequence is not None
        by_subject[message.subject].append(int(message.sequence))
    return dict(by_subject)


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
        wait_for_state(referral, referral_id, "accepted")
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
