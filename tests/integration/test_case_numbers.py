"""Case numbers come from one row per agency and year, and go on from the numbers the
``AgencyCaseCounter`` aggregate issued before them."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from services.intake.app import IntakeApplication
from services.intake.domain import AgencyCaseCounter
from tests.unit.test_child_case import NOW, REGISTRATION


def test_numbers_go_on_from_the_counter_aggregate_and_stay_unique_per_agency_and_year(
    event_store_env, case_keys
):
    before = IntakeApplication(event_store_env, lambda: NOW, case_keys)
    legacy = AgencyCaseCounter.start("CD-BUN", NOW.year)
    for _ in range(3):
        legacy.next_case_number()
    before.save(legacy)
    before.close()

    intake = IntakeApplication(event_store_env, lambda: NOW, case_keys)
    with ThreadPoolExecutor(8) as pool:
        numbers = list(
            pool.map(lambda _: intake.register_child(REGISTRATION).case_number, range(40))
        )
    elsewhere = intake.register_child(replace(REGISTRATION, registering_agency="SS-JUB"))
    next_year = IntakeApplication(
        event_store_env, lambda: NOW.replace(year=NOW.year + 1), case_keys
    ).register_child(REGISTRATION)

    assert sorted(numbers) == [f"CD-BUN-{NOW.year}-{n:05d}" for n in range(4, 44)]
    assert elsewhere.case_number == f"SS-JUB-{NOW.year}-00001"
    assert next_year.case_number == f"CD-BUN-{NOW.year + 1}-00001"
    # The old counter's history still loads, as recorded.
    counter = intake.repository.get(AgencyCaseCounter.create_id("CD-BUN", NOW.year))
    assert counter.issued == 3


def test_a_registration_that_fails_after_taking_its_number_leaves_a_gap(
    sqlite_env, case_keys, monkeypatch
):
    intake = IntakeApplication(sqlite_env, lambda: NOW, case_keys)
    first = intake.register_child(REGISTRATION)
    with monkeypatch.context() as failing:
        failing.setattr(intake, "save", lambda *_: (_ for _ in ()).throw(OSError("disk full")))
        with pytest.raises(OSError, match="disk full"):
            intake.register_child(REGISTRATION)
    after = intake.register_child(REGISTRATION)
    assert [first.case_number[-5:], after.case_number[-5:]] == ["00001", "00003"]
