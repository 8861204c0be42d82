"""Interim care is a centre, a transit centre, a family-based, foster or kinship placement; a
direct return is not: new placements refuse it, and placements an earlier version recorded
with it load and start no interim-care clock."""

from dataclasses import replace
from datetime import date

import pytest

from services.intake.api import case_deadlines
from services.intake.app import IntakeApplication
from services.intake.domain import CareKind, ChildCase, InvalidCaseData, Placement
from services.intake.programme import DeadlineKind, Programme
from services.intake.projections import ROW_CHANGES, intake_type
from tests.unit.test_child_case import NOW, REGISTRATION

PLACEMENT = Placement(CareKind.TRANSIT_CENTRE, "Transit site Bunia", date(2026, 11, 21), "cw-9")


def kinds_of_deadlines(case: ChildCase) -> list[DeadlineKind]:
    return [deadline.kind for deadline in case_deadlines(case, Programme())]


@pytest.mark.parametrize("kind", [CareKind.TRANSIT_CENTRE, CareKind.FAMILY_BASED_CARE])
def test_a_new_kind_of_interim_care_starts_the_clock(kind):
    case = ChildCase.register(REGISTRATION, "CD-BUN-2026-00001", NOW)
    case.place_in_interim_care(replace(PLACEMENT, kind=kind), NOW)
    assert case.placement is not None
    assert case.placement.kind == kind
    assert DeadlineKind.INTERIM_CARE in kinds_of_deadlines(case)


def test_a_direct_return_is_refused_as_interim_care_naming_reunification():
    case = ChildCase.register(REGISTRATION, "CD-BUN-2026-00001", NOW)
    with pytest.raises(InvalidCaseData, match="a direct return is recorded with `reunification`"):
        case.place_in_interim_care(replace(PLACEMENT, kind=CareKind.DIRECT_RETURN), NOW)
    assert case.placement is None


def test_a_stored_direct_return_placement_loads_and_starts_no_clock(case_keys):
    application = IntakeApplication(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"}, lambda: NOW, case_keys
    )
    case = ChildCase.register(REGISTRATION, "CD-BUN-2025-00009", NOW)
    # As an earlier version recorded it, when direct_return was a kind of placement.
    case.trigger_event(
        ChildCase.InterimCarePlaced,
        kind="direct_return",
        carer="Mama Neema",
        address=None,
        entered_on=date(2026, 11, 21),
        planned_end_on=None,
        placed_by="cw-9",
        stage="interim_care",
    )
    application.save(case)

    loaded = application.get_case(case.id)
    assert loaded.placement is not None
    assert loaded.placement.kind == "direct_return"
    assert not loaded.placement.interim_care
    assert DeadlineKind.INTERIM_CARE not in kinds_of_deadlines(loaded)


def test_the_case_list_starts_no_clock_for_a_direct_return():
    placed = ROW_CHANGES[intake_type("InterimCarePlaced")]
    assert placed({"kind": "direct_return", "entered_on": "2026-11-21"})["care_entered_on"] is None
    assert placed({"kind": "transit_centre", "entered_on": "2026-11-21"})["care_entered_on"] == (
        "2026-11-21"
    )
