"""What a handler is given of a message: opened fields, and nothing of an erased case."""

import uuid

from shared.crypto import ERASED
from shared.envelope import CloudEvent
from shared.runtime import opening_sealed_fields


def message(data: dict) -> CloudEvent:
    case_id = str(uuid.uuid4())
    return CloudEvent(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source="/homeward/intake",
        type="org.homeward.intake.Reunified.v1",
        caseid=case_id,
        partitionkey=case_id,
        data={"case_id": case_id, **data},
    )


def test_a_message_published_after_its_case_was_erased_is_not_applied(case_keys):
    applied = []
    handle = opening_sealed_fields(lambda m, _tx: applied.append(m), case_keys, "test")
    handle(message({"reunified_on": ERASED, "stage": "reunified"}), "tx")
    handle(message({"stage": "reunified"}), "tx")
    assert [m.data for m in applied] == [
        {"case_id": applied[0].data["case_id"], "stage": "reunified"}
    ]
