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
    assert document["partitionkey"] == document["subject"]
    assert document["time"] == "2026-11-01T08:00:00Z"
    assert document["dataschema"] == (
        "https://intake.homeward.example.org/schemas/org.homeward.intake.ChildRegistered.v1"
    )
    # Sequences order as strings the way versions order as numbers.
    assert sample(9).sequence < sample(10).sequence


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
