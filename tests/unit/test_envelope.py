import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from shared.envelope import CloudEvent, MalformedMessage, event_id
from tests.samples import SCHEMAS_AT


def sample(version: int = 3) -> CloudEvent:
    case_id = uuid4()
    return CloudEvent.published(
        service="intake",
        name="ChildRegistered",
        version=1,
        case_id=case_id,
        originator_id=case_id,
        originator_version=version,
        occurred_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        data={"case_id": str(case_id)},
        schemas_at=SCHEMAS_AT,
    )


def test_the_id_depends_only_on_the_stored_events_identity():
    originator = uuid4()
    assert event_id(originator, 1) == event_id(originator, 1)
    assert event_id(originator, 1) != event_id(originator, 2)
    assert event_id(originator, 1) != event_id(uuid4(), 1)


def test_published_attributes_follow_cloudevents_and_the_design():
    message = sample(version=12)
    document = json.loads(message.to_bytes())
    assert document["specversion"] == "1.0"
    assert document["type"] == "org.homeward.intake.ChildRegistered.v1"
    assert document["source"] == "/homeward/intake"
    assert document["sequence"] == "00000000000000000012"
    # A case's own event: the case is its subject, its caseid and its key.
    assert document["subject"] == document["caseid"] == document["partitionkey"]
    assert document["time"] == "2026-11-01T08:00:00Z"
    assert document["dataschema"] == (
        "https://intake.homeward.example.org/schemas/org.homeward.intake.ChildRegistered.v1"
    )
    # Sequences order as strings the way versions order as numbers.
    assert sample(9).sequence < sample(10).sequence


def test_a_message_is_about_its_own_aggregate_and_keyed_by_its_case():
    case_id, referral_id = uuid4(), uuid4()
    made = CloudEvent.published(
        service="referral",
        name="ReferralAccepted",
        version=1,
        case_id=case_id,
        originator_id=referral_id,
        originator_version=2,
        occurred_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        data={"referral_id": str(referral_id)},
        schemas_at=SCHEMAS_AT,
    )
    assert (made.subject, made.sequence) == (str(referral_id), "00000000000000000002")
    assert made.caseid == made.partitionkey == str(case_id)
    assert made.case_id == case_id


def test_a_message_published_before_caseid_names_its_case_by_its_key():
    case_id = uuid4()
    earlier = CloudEvent(
        specversion="1.0",
        id=str(uuid4()),
        source="/homeward/referral",
        type="org.homeward.referral.ReferralAccepted.v1",
        subject=str(case_id),
        partitionkey=str(case_id),
    )
    assert earlier.case_id == case_id


def test_a_message_about_no_case_is_keyed_by_its_own_aggregate():
    record_id = uuid4()
    denied = CloudEvent.published(
        service="audit",
        name="AccessRecorded",
        version=1,
        case_id=None,
        originator_id=record_id,
        originator_version=1,
        occurred_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        data={},
        schemas_at=SCHEMAS_AT,
    )
    assert denied.caseid is None
    assert denied.subject == denied.partitionkey == str(record_id)


def test_a_message_survives_the_round_trip():
    message = sample()
    assert CloudEvent.from_bytes(message.to_bytes()) == message


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (None, "empty message"),
        (b"\x00\xff", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": "1", "source": "/x", "type": "t"}', "specversion"),
        (b'{"specversion": "0.3", "id": "1", "source": "/x", "type": "t"}', "specversion"),
        (b'{"specversion": "1.0", "id": "", "source": "/x", "type": "t"}', "id"),
        (b'{"specversion": "1.0", "id": "1", "source": "/x", "type": "t", "time": "soon"}', "time"),
    ],
)
def test_unreadable_messages_are_refused_with_the_reason(raw, reason):
    with pytest.raises(MalformedMessage, match=reason):
        CloudEvent.from_bytes(raw)
