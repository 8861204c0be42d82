"""What a handler is given of a message: opened fields, and nothing of an erased case."""

import uuid

from shared.crypto import ERASED
from shared.envelope import CloudEvent
from shared.keyring import CaseKeys
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


def test_the_key_cache_keeps_only_the_cases_used_last(case_keys):
    keys = CaseKeys(case_keys.keyring, "test", cached=2)
    first, second, third = (uuid.uuid4() for _ in range(3))
    for case_id in (first, second, third):
        keys.for_sealing(case_id)
    assert list(keys._cache) == [second, third]  # the oldest was dropped
    assert keys.for_opening(first, "test") is not None  # and is unwrapped again when needed
    assert list(keys._cache) == [third, first]
