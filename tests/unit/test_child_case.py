from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from jsonschema import ValidationError

from services.intake.app import IntakeApplication
from services.intake.domain import (
    AgencyCaseCounter,
    ArmedGroupKind,
    ChildCase,
    Handover,
    HowLeft,
    InvalidCaseData,
    Registration,
    Role,
    Sex,
    age_band,
)
from services.intake.messages import CATALOGUE
from tests.samples import SCHEMAS_AT

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
REGISTRATION = Registration(
    name="Esaie Bahati",
    how_left=HowLeft.FORMAL_RELEASE,
    released_on=date(2026, 11, 20),
    release_place="Bunia transit site",
    armed_group="State armed force, 3rd brigade",
    armed_group_kind=ArmedGroupKind.STATE_ARMED_FORCE,
    roles=(Role.COMBATANT,),
    sex=Sex.MALE,
    estimated_age=16,
    registering_agency="CD-BUN",
    caseworker="cw-9",
    handover=Handover("3rd brigade", "CD-BUN", datetime(2026, 11, 21, 10, 0, tzinfo=UTC)),
)


def test_registration_records_the_release_and_the_handover():
    case = ChildCase.register(REGISTRATION, "CD-BUN-2026-00001", NOW)
    events = case.collect_events()
    assert [type(e).__name__ for e in events] == ["ChildRegistered", "HandedOver"]
    assert case.handover is not None
    assert case.handover.to_agency == "CD-BUN"
    assert case.roles == ["combatant"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"released_on": date(2026, 11, 24)}, "release.date is in the future"),
        (
            {"handover": Handover("x", "y", datetime(2026, 11, 24, tzinfo=UTC))},
            "handover.at is in the future",
        ),
        (
            {"handover": Handover("x", "y", datetime(2026, 11, 19, tzinfo=UTC))},
            "before the release date",
        ),
    ],
)
def test_impossible_facts_are_refused(change, reason):
    with pytest.raises(InvalidCaseData, match=reason):
        ChildCase.register(replace(REGISTRATION, **change), "CD-BUN-2026-00001", NOW)


@pytest.mark.parametrize(
    ("age", "band"), [(7, "under-10"), (10, "10-14"), (14, "10-14"), (15, "15-17"), (18, "18-plus")]
)
def test_age_bands(age, band):
    assert age_band(age) == band


def test_a_counter_numbers_cases_in_order_and_identifies_itself_by_agency_and_year():
    counter = AgencyCaseCounter.start("CD-BUN", 2026)
    assert [counter.next_case_number() for _ in range(2)] == [
        "CD-BUN-2026-00001",
        "CD-BUN-2026-00002",
    ]
    assert counter.id == AgencyCaseCounter.create_id("CD-BUN", 2026)
    assert counter.id != AgencyCaseCounter.create_id("CD-BUN", 2027)


def test_only_documented_events_are_published_and_they_match_their_schema(case_keys):
    app = IntakeApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"}, lambda: NOW, case_keys)
    case = ChildCase.register(REGISTRATION, "CD-BUN-2026-00001", NOW)
    case_keys.for_sealing(case.id)
    registered, handed_over = case.collect_events()
    message = CATALOGUE.to_cloudevent(registered, app, SCHEMAS_AT)
    assert message is not None
    CATALOGUE.validate(message)
    assert CATALOGUE.to_cloudevent(handed_over, app, SCHEMAS_AT) is not None
    counter = AgencyCaseCounter.start("CD-BUN", 2026)
    counter.next_case_number()
    assert all(
        CATALOGUE.to_cloudevent(e, app, SCHEMAS_AT) is None for e in counter.collect_events()
    )
    broken = message.model_copy(update={"data": {**message.data, "sex": "unknown"}})
    with pytest.raises(ValidationError):
        CATALOGUE.validate(broken)
