"""Messages signed by their service: what an auditor reading only Kafka can trust."""

import uuid
from datetime import UTC, datetime

import pytest

from services.intake.caseaudit import Verification
from shared.envelope import CloudEvent
from shared.keyring import generate_master_key, load_master_key
from shared.settings import Settings
from shared.signatures import SignatureCheck, Verdict, sign, signing_key

CASE = uuid.UUID("3c86fd92-df45-402d-a0ce-36bdf92775e7")


@pytest.fixture
def master_key(tmp_path) -> bytes:
    return load_master_key(Settings(data_dir=tmp_path, master_key=generate_master_key()))


def fact(version: int, service: str = "intake", **data: object) -> CloudEvent:
    return CloudEvent.published(
        service=service,
        name="Noted",
        version=1,
        case_id=CASE,
        originator_id=CASE,
        originator_version=version,
        occurred_at=datetime(2026, 11, 24, 8, version, tzinfo=UTC),
        data={"case_id": str(CASE), "note": "Amani, été", **data},
        schemas_at="http://127.0.0.1:8001",
    )


def history(master_key: bytes, versions: int = 4) -> list[CloudEvent]:
    key = signing_key(master_key, "intake")
    return [
        CloudEvent.from_bytes(sign(fact(version), key).to_bytes())
        for version in range(1, versions + 1)
    ]


def verification(master_key: bytes, messages: list[CloudEvent]) -> Verification:
    check = SignatureCheck(master_key)
    return Verification.of(messages, [check.verdict(message) for message in messages])


def test_a_history_as_published_verifies(master_key):
    checked = verification(master_key, history(master_key))
    assert checked.verified
    assert (checked.signed, checked.unsigned, checked.invalid, checked.missing) == (4, 0, [], {})


def test_one_changed_byte_in_a_message_fails_its_signature(master_key):
    messages = history(master_key)
    raw = sign(fact(5), signing_key(master_key, "intake")).to_bytes()
    altered = CloudEvent.from_bytes(raw.replace("été".encode(), b"ete"))
    checked = verification(master_key, [*messages, altered])
    assert not checked.verified
    assert checked.invalid == [altered.id]


def test_a_forged_message_is_unsigned_or_signed_by_the_wrong_key(master_key, tmp_path):
    messages = history(master_key)
    unsigned = fact(5)
    other_platform = load_master_key(Settings(data_dir=tmp_path, master_key=generate_master_key()))
    foreign = sign(fact(6), signing_key(other_platform, "intake"))
    # Signed by the referral service's key, yet its source says intake.
    impersonated = sign(fact(7), signing_key(master_key, "referral"))
    check = SignatureCheck(master_key)
    assert [check.verdict(m) for m in (unsigned, foreign, impersonated)] == [
        Verdict.UNSIGNED,
        Verdict.INVALID,
        Verdict.INVALID,
    ]
    checked = verification(master_key, [*messages, unsigned, foreign, impersonated])
    assert not checked.verified
    assert checked.unsigned == 1
    assert checked.invalid == [foreign.id, impersonated.id]


def test_a_removed_message_is_named_by_its_subject_and_version(master_key):
    first, second, third, fourth = history(master_key)
    checked = verification(master_key, [first, third, fourth])
    assert not checked.verified
    assert checked.missing == {str(CASE): [2]}
    assert f"{CASE} v[2]" in checked.summary()
    # Reordered on the topic: the account orders by time and version, and verifies.
    assert verification(master_key, [fourth, second, first, third]).verified
