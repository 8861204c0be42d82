"""Events stored in an earlier version of their class load upcast to the current one, from
their opened values; new ones record the new fields, sealed; both versions are published
types with a schema of their own."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.followup.app import FollowUpApplication
from services.followup.domain import FollowUpPlan, ReturnKind, Schedule, VisitMode
from services.intake.api import CaseOut
from services.intake.app import IntakeApplication
from services.intake.casereplay import case_from_messages
from services.intake.domain import (
    ChildCase,
    HowLeft,
    InvalidCaseData,
    NeedArea,
    NeedsAssessment,
    NotePurpose,
    ProtectionFlag,
)
from services.intake.messages import CATALOGUE
from shared.cli import published_catalogues
from shared.envelope import CloudEvent
from shared.privacy import seal_fields
from shared.publishing import SCHEMA_FOLDER, event_fields, validate_data
from tests.samples import SCHEMAS_AT
from tests.unit.test_child_case import NOW, REGISTRATION
from tests.unit.test_followup_plan import findings


@pytest.fixture
def application(case_keys):
    return IntakeApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"}, lambda: NOW, case_keys)


def store_in_v1(application: Any, event: Any, v1_state: dict[str, Any]) -> None:
    """Record ``event`` as a v1 class stored it: its own fields replaced by ``v1_state``,
    sealed as every stored event is, and no ``class_version`` (v1 wrote none)."""
    library = {
        name: vars(event)[name]
        for name in ("originator_id", "originator_version", "timestamp", "originator_topic")
        if name in vars(event)
    }
    old = object.__new__(type(event))
    object.__setattr__(old, "__dict__", {**library, **v1_state})
    stored = application.mapper.to_stored_event(old)
    state = application.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") > 1
    application.recorder.insert_events(
        [replace(stored, state=application.mapper.transcoder.encode(state))]
    )


def registered_in_v1(application: Any, case_keys: Any, **v1_fields: Any) -> UUID:
    """A case whose registration was stored by ChildRegistered v1, with ``v1_fields``."""
    case = ChildCase.register(replace(REGISTRATION, handover=None), "CD-BUN-2025-00007", NOW)
    [registered] = case.collect_events()
    v1 = {
        name: value
        for name, value in vars(registered).items()
        if name not in {"notes", "separated_from_adults"}
        and name not in ("originator_id", "originator_version", "timestamp", "originator_topic")
    }
    case_keys.for_sealing(case.id)
    store_in_v1(application, registered, {**v1, **v1_fields})
    return case.id


def stored_state(application: Any, case_id: UUID, version: int = 1) -> dict[str, Any]:
    [stored] = application.recorder.select_events(case_id, gt=version - 1, lte=version)
    return json.loads(stored.state)


def test_a_v1_registration_loads_with_its_account_as_a_legacy_note_and_separation_unknown(
    application, case_keys
):
    case_id = registered_in_v1(
        application,
        case_keys,
        how_left="capture_or_surrender",
        account="I was taken from the school road.",
    )
    sealed = stored_state(application, case_id)
    assert "class_version" not in sealed
    assert sealed["account"]["alg"] == "A256GCM"

    case = application.get_case(case_id)
    assert case.notes == {"legacy_account": "I was taken from the school road."}
    assert case.separated_from_adults is None
    assert case.how_left == HowLeft.CAPTURE_OR_SURRENDER  # a stored meaning never changes
    assert not hasattr(case, "account")


def test_a_v1_registration_without_an_account_has_no_notes(application, case_keys):
    case_id = registered_in_v1(application, case_keys, account=None)
    assert application.get_case(case_id).notes == {}


def test_a_v1_registration_of_an_erased_case_reads_erased(application, case_keys):
    case_id = registered_in_v1(application, case_keys, account="a story")
    case_keys.keyring.destroy(case_id)
    case_keys.forget(case_id)
    case = application.get_case(case_id)
    assert case.notes == case.name == "[erased]"


def test_a_v1_registration_is_republished_as_a_v2_message(application, case_keys):
    case_id = registered_in_v1(application, case_keys, account="a story")
    [registered] = application.history(case_id)
    message = CATALOGUE.to_cloudevent(registered, application, SCHEMAS_AT)
    assert message is not None
    assert message.type == "org.homeward.intake.ChildRegistered.v2"
    validate_data("intake", "ChildRegistered", 2, message.data)
    key = case_keys.for_opening(case_id, "test")
    assert key.open("notes", message.data["notes"]) == {"legacy_account": "a story"}


def test_a_v2_registration_records_notes_separation_and_needs_sealed(application, case_keys):
    registration = replace(
        REGISTRATION,
        how_left=HowLeft.SURRENDER,
        separated_from_adults=True,
        notes={NotePurpose.HEALTH: "Asks for a clinic visit."},
        needs=NeedsAssessment(
            needs=(NeedArea.HEALTH,),
            flags=(ProtectionFlag.SEPARATED,),
            assessed_by="cw-9",
            assessed_on=NOW.date(),
        ),
    )
    case = ChildCase.register(registration, "CD-BUN-2026-00003", NOW)
    application.save(case)
    assert [type(e).__name__ for e in application.history(case.id)] == [
        "ChildRegistered",
        "HandedOver",
        "NeedsAssessed",
    ]
    sealed = stored_state(application, case.id)
    assert sealed["class_version"] == 2
    assert sealed["notes"]["alg"] == sealed["separated_from_adults"]["alg"] == "A256GCM"
    assert b"clinic" not in application.recorder.select_events(case.id)[0].state
    loaded = application.get_case(case.id)
    assert loaded.notes == {"health": "Asks for a clinic visit."}
    assert loaded.separated_from_adults is True
    assert loaded.how_left == "surrender"
    assert loaded.needs == ["health"]
    assert loaded.protection_flags == ["separated"]


def test_a_v1_handover_loads_with_protocol_and_custody_not_known(application, case_keys):
    case = ChildCase.register(REGISTRATION, "CD-BUN-2025-00008", NOW)
    registered, handed_over = case.collect_events()
    case_keys.for_sealing(case.id)
    application.recorder.insert_events([application.mapper.to_stored_event(registered)])
    v1 = {name: vars(handed_over)[name] for name in ("from_actor", "to_agency", "handed_over_at")}
    store_in_v1(application, handed_over, v1)

    handover = application.get_case(case.id).handover
    assert handover is not None
    assert handover.from_actor == "3rd brigade"
    assert handover.protocol is None
    assert handover.custody_hours is None


def test_a_v2_handover_records_its_protocol_and_the_hours_in_custody_sealed(application, case_keys):
    handover = replace(
        REGISTRATION.handover, protocol="Handover protocol of 2013", custody_hours=20
    )
    case = ChildCase.register(replace(REGISTRATION, handover=handover), "CD-BUN-2026-4", NOW)
    application.save(case)
    sealed = stored_state(application, case.id, version=2)
    assert sealed["class_version"] == 2
    assert sealed["protocol"]["alg"] == sealed["custody_hours"]["alg"] == "A256GCM"
    loaded = application.get_case(case.id).handover
    assert loaded is not None
    assert (loaded.protocol, loaded.custody_hours) == ("Handover protocol of 2013", 20)


def test_custody_longer_than_the_time_since_the_release_day_is_refused():
    # Released on 20 November, handed over on the 21st at 10:00 UTC: 34 hours at most.
    too_long = replace(REGISTRATION.handover, custody_hours=35)
    with pytest.raises(InvalidCaseData, match="35 hours in custody is more than the 34 hours"):
        ChildCase.register(replace(REGISTRATION, handover=too_long), "CD-BUN-2026-5", NOW)
    at_most = replace(REGISTRATION.handover, custody_hours=34)
    ChildCase.register(replace(REGISTRATION, handover=at_most), "CD-BUN-2026-6", NOW)


def test_a_v1_visit_loads_with_its_mode_not_known_and_a_v2_one_records_it(case_keys):
    followup = FollowUpApplication(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"}, lambda: NOW, case_keys
    )
    case_id = uuid4()
    case_keys.for_sealing(case_id)
    plan = FollowUpPlan.start(
        case_id, date(2026, 10, 1), ReturnKind.REUNIFIED, "cw", None, Schedule()
    )
    followup.save(plan)
    seen = findings(visited_on=date(2026, 10, 15))
    plan.complete_visit(1, seen, NOW.date(), Schedule())
    [completed] = plan.collect_events()
    v1 = {name: value for name, value in vars(completed).items() if name != "mode"}
    for library in ("originator_id", "originator_version", "timestamp"):
        del v1[library]
    store_in_v1(followup, completed, v1)

    assert followup.get_plan(case_id).visits[1].mode is None
    plan = followup.get_plan(case_id)
    plan.complete_visit(2, replace(seen, mode=VisitMode.SCHOOL), NOW.date(), Schedule())
    followup.save(plan)
    sealed = stored_state(followup, plan.id, version=plan.version)
    assert sealed["class_version"] == 2
    assert sealed["mode"]["alg"] == "A256GCM"
    assert followup.get_plan(case_id).visits[2].mode == "school"


@pytest.mark.parametrize("catalogue", published_catalogues(), ids=lambda c: c.service)
def test_the_schemas_of_earlier_versions_stay_served(catalogue):
    """The topics keep every message: a consumer meets each version a type ever had."""
    for earlier in catalogue.earlier_types:
        assert earlier in catalogue.types
        _, service, name, version = earlier.rsplit(".", 3)
        assert (SCHEMA_FOLDER / f"{service}.{name}.{version}.json").exists(), earlier


def test_intake_publishes_the_second_version_of_a_registration():
    assert "org.homeward.intake.ChildRegistered.v1" in CATALOGUE.earlier_types
    assert "org.homeward.intake.ChildRegistered.v2" in CATALOGUE.types
    assert ChildCase.ChildRegistered.class_version == 2


def test_a_registration_without_notes_is_fine():
    case = ChildCase.register(REGISTRATION, "CD-BUN-2026-00002", datetime.now(UTC))
    assert case.notes == {}
    assert case.separated_from_adults is None


def test_a_v1_registration_message_already_on_kafka_rebuilds_the_case_as_the_store_does(
    application, case_keys
):
    """An auditor rebuilding a case from Kafka meets the v1 messages published before v2:
    they are upcast as the store's v1 events are, to the same case."""
    case_id = registered_in_v1(application, case_keys, account="a story")
    [registered] = application.history(case_id)
    v1_data = {
        "case_id": str(case_id),
        **{
            name: value
            for name, value in event_fields(registered).items()
            if name not in {"notes", "separated_from_adults"}
        },
        "account": "a story",
    }
    published_in_v1 = CloudEvent.published(
        service="intake",
        name="ChildRegistered",
        version=1,
        case_id=case_id,
        originator_id=case_id,
        originator_version=1,
        occurred_at=NOW,
        data=seal_fields(v1_data, case_keys.for_sealing(case_id)),
        schemas_at=SCHEMAS_AT,
    )
    validate_data("intake", "ChildRegistered", 1, published_in_v1.data)
    from_kafka = case_from_messages([published_in_v1], case_id, case_keys, version=1)
    from_store = application.get_case(case_id)
    assert from_kafka.notes == {"legacy_account": "a story"}
    assert CaseOut.of(from_kafka, application.programme, NOW) == CaseOut.of(
        from_store, application.programme, NOW
    )
