"""What the referral service keeps of a case and what a referral carries of it: for each
category exactly its fields, taken from the intake facts as they arrive, sealed at rest."""

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from services.referral.projections import IntakeView
from services.referral.sharing import (
    CATEGORY_FIELDS,
    WrittenField,
    child_standing,
    shared_fields,
    written_outside,
)
from shared.consent import AgeTable, DataCategory, Purpose
from shared.database import Database
from shared.envelope import CloudEvent

TABLE = AgeTable()
TODAY = date(2026, 11, 23)
CASE = uuid4()
REGISTERED = {
    "case_id": str(CASE),
    "case_number": "CD-BUN-2026-00001",
    "name": "Amani Zawadi",
    "date_of_birth": None,
    "how_left": "escaped",
    "released_on": "2025-12-01",
    "release_place": "Kalehe, near the river crossing",
    "armed_group": "Group X",
    "armed_group_kind": "non_state_armed_group",
    "roles": ["support"],
    "sex": "female",
    "estimated_age": 14,
    "languages": ["sw"],
    "registering_agency": "CD-BUN",
    "caseworker": "cw-9",
    "nationality": None,
    "displacement": None,
    "separated_from_adults": None,
    "notes": {"health": "a note for the case agency only"},
}


def message(fact: str, version: int = 1, **data: Any) -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id=str(uuid4()),
        source="/homeward/intake",
        type=f"org.homeward.intake.{fact}.v{version}",
        time=datetime(2026, 1, 5, tzinfo=UTC),
        data={"case_id": str(CASE), **data},
    )


@pytest.fixture
def view(case_keys) -> IntakeView:
    case_keys.for_sealing(CASE)
    memory = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}
    view = IntakeView(Database.named("referral", memory), case_keys)
    for fact in (
        message("ChildRegistered", 2, **REGISTERED),
        message("InterimCarePlaced", kind="foster_family", carer="Mama Neema", address="Goma"),
        message(
            "FamilyLocated",
            relationship="aunt",
            family_members=["Aunt Furaha"],
            whereabouts="Kibati camp",
            phone="+243 970 000 001",
        ),
        message("Reunified", address="Kibati camp, block C"),
        message("MaturityAssessed", mature=True),
        message(
            "DisclosureRefused",
            refusal_id=str(uuid4()),
            purpose=None,
            recipients=["SCH-1"],
            categories=["family"],
        ),
        message("NeedsAssessed", sexual_violence={"survivor": False, "details": None}),
    ):
        with view.database.transaction() as tx:
            view.apply(fact, tx)
    return view


def case_file(view: IntakeView) -> dict[str, Any]:
    found = view.case_data(CASE, "test")
    assert found is not None
    return found[0]


def test_a_referral_carries_exactly_the_fields_of_its_categories(view):
    written = {WrittenField.SCHOOL_LEVEL: "primary 5", WrittenField.HEALTH_NEEDS: "asthma"}
    shared = shared_fields(
        case_file(view),
        written,
        [DataCategory.IDENTITY, DataCategory.CONTACT_AND_LOCATION, DataCategory.EDUCATION],
        TODAY,
        TABLE,
    )
    assert shared == {
        "name": "Amani Zawadi",
        "date_of_birth": None,
        "age": 14,  # estimated 14 at the release, less than a year ago
        "sex": "female",
        "languages": ["sw"],
        "lives_with": "aunt",  # reunified: the family, reached on its phone
        "address": "Kibati camp, block C",
        "phone": "+243 970 000 001",
        "school_level": "primary 5",
    }  # the health note was written, but health is not shared


def test_the_case_agencys_notes_and_the_release_place_never_leave_it(view):
    everything = shared_fields(
        case_file(view),
        dict.fromkeys(WrittenField, "note"),
        list(DataCategory),
        TODAY,
        TABLE,
    )
    assert set(everything) == {name for names in CATEGORY_FIELDS.values() for name in names}
    assert "for the case agency only" not in str(everything)
    assert "Kalehe" not in str(everything)


def test_the_case_agencys_notes_are_not_kept_for_partners(view):
    assert "notes" not in case_file(view)


def test_a_v1_registration_is_kept_without_the_childs_account(case_keys):
    case_keys.for_sealing(CASE)
    memory = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}
    view = IntakeView(Database.named("referral", memory), case_keys)
    v1 = {name: value for name, value in REGISTERED.items() if name != "notes"}
    del v1["separated_from_adults"]
    with view.database.transaction() as tx:
        view.apply(message("ChildRegistered", 1, **v1, account="what the child told"), tx)
    kept = case_file(view)
    assert kept["name"] == "Amani Zawadi"
    assert "account" not in kept


def test_the_case_file_is_sealed_at_rest(view):
    with view.database.transaction() as tx:
        [(sealed,)] = tx.fetchall("SELECT sealed_data FROM referral_case_data")
    for clear in ("Amani", "Kibati", "+243", "Group X", "Kalehe"):
        assert clear not in sealed


def test_the_standing_comes_from_the_facts_seen(view):
    standing = child_standing(case_file(view), TODAY, TABLE)
    assert standing.age == 14
    assert standing.maturity_assessed
    [objection] = standing.objections
    assert objection.blocks(Purpose.EDUCATION, "SCH-1", DataCategory.FAMILY)
    assert not objection.blocks(Purpose.EDUCATION, "SCH-1", DataCategory.IDENTITY)
    later = child_standing(case_file(view), date(2026, 12, 1), TABLE)
    assert later.age == 15  # a year after the release the estimate describes


def test_an_adult_finding_makes_the_child_18(view):
    with view.database.transaction() as tx:
        view.apply(message("AgeAssessed", result="18_or_over"), tx)
    assert child_standing(case_file(view), TODAY, TABLE).age == 18


def test_a_note_outside_the_shared_categories_is_refused_saying_which():
    [refusal] = written_outside({WrittenField.SKILLS: "welding"}, [DataCategory.EDUCATION])
    assert "written.skills belongs to category 'livelihood'" in refusal
