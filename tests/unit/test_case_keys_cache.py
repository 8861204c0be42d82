"""A service's cache of case keys: the keyring is asked outside the cache's lock, so one
case's slow round trip does not hold up another's, and an erased case's key is never kept."""

import threading
import time
from uuid import UUID, uuid4

from shared.crypto import DataKey
from shared.keyring import CaseKeys
from tests.conftest import in_memory_keyring

ROUND_TRIP = 0.2


class SlowKeyring:
    """The real keyring behind a database that takes ``ROUND_TRIP`` to answer."""

    def __init__(self) -> None:
        self.real = in_memory_keyring()
        self.asked = 0

    def create(self, case_id: UUID) -> DataKey:
        self.asked += 1
        time.sleep(ROUND_TRIP)
        return self.real.create(case_id)

    def unwrap(self, case_id: UUID, *, service: str, purpose: str) -> DataKey | None:
        self.asked += 1
        time.sleep(ROUND_TRIP)
        return self.real.unwrap(case_id, service=service, purpose=purpose)


class MeetingKeyring(SlowKeyring):
    """Each call waits, inside the keyring, for another call to arrive: only calls made at
    the same time get through."""

    def __init__(self) -> None:
        super().__init__()
        self.meeting = threading.Barrier(2, timeout=5)
        self.met: list[UUID] = []

    def create(self, case_id: UUID) -> DataKey:
        self.meeting.wait()  # BrokenBarrierError if the other case's call never comes
        self.met.append(case_id)
        return self.real.create(case_id)


def test_two_cases_keys_are_fetched_at_once_not_one_after_the_other() -> None:
    keyring = MeetingKeyring()
    keys = CaseKeys(keyring, "intake")  # type: ignore[arg-type]
    cases = [uuid4(), uuid4()]
    threads = [threading.Thread(target=keys.for_sealing, args=(case,)) for case in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(keyring.met) == sorted(cases)


def test_a_cached_key_is_not_fetched_again() -> None:
    keyring = SlowKeyring()
    keys = CaseKeys(keyring, "intake")  # type: ignore[arg-type]
    case = uuid4()
    sealing = keys.for_sealing(case)
    assert keys.for_opening(case, "a read") is sealing
    assert keyring.asked == 1


def test_a_key_fetched_while_its_case_is_erased_is_not_kept() -> None:
    keyring = SlowKeyring()
    keys = CaseKeys(keyring, "intake")  # type: ignore[arg-type]
    case = uuid4()
    keyring.real.create(case)
    opening = threading.Thread(target=keys.for_opening, args=(case, "a read"))
    opening.start()
    time.sleep(ROUND_TRIP / 2)  # the read is waiting on the keyring
    keys.forget(case)
    keyring.real.destroy(case)
    opening.join()
    assert keys.for_opening(case, "a later read") is None
    assert keyring.asked == 2
