"""What the intake service publishes on ``homeward.intake.events`` (its Kafka wiring)."""

from typing import Any

from services.intake.domain import ChildCase, age_band
from shared.publishing import EventCatalogue, PublishedEvent


def child_registered_v1(event: ChildCase.ChildRegistered) -> dict[str, Any]:
    return {
        "case_id": str(event.originator_id),
        "case_number": event.case_number,
        "name": event.name,
        "date_of_birth": event.date_of_birth,
        "how_left": event.how_left,
        "released_on": event.released_on.isoformat(),
        "release_place": event.release_place,
        "armed_group": {"name": event.armed_group, "kind": event.armed_group_kind},
        "roles": list(event.roles),
        "sex": event.sex,
        "estimated_age": event.estimated_age,
        "age_band": age_band(event.estimated_age),
        "languages": list(event.languages),
        "registering_agency": event.registering_agency,
        "caseworker": event.caseworker,
        "account": event.account,
    }


def handed_over_v1(event: ChildCase.HandedOver) -> dict[str, Any]:
    return {
        "case_id": str(event.originator_id),
        "from_actor": event.from_actor,
        "to_agency": event.to_agency,
        "handed_over_at": event.handed_over_at.isoformat(),
    }


def consent_given_v1(event: ChildCase.ConsentGiven) -> dict[str, Any]:
    return {
        "case_id": str(event.originator_id),
        "consent_id": str(event.consent_id),
        "given_by": event.given_by,
        "purpose": event.purpose,
        "recipients": list(event.recipients),
        "categories": list(event.categories),
        "given_on": event.given_on.isoformat(),
        "expires_on": None if event.expires_on is None else event.expires_on.isoformat(),
        "recorded_by": event.recorded_by,
        "approved_by": event.approved_by,
    }


def consent_withdrawn_v1(event: ChildCase.ConsentWithdrawn) -> dict[str, Any]:
    return {
        "case_id": str(event.originator_id),
        "consent_id": str(event.consent_id),
        "recorded_by": event.recorded_by,
    }


def case_erased_v1(event: ChildCase.CaseErased) -> dict[str, Any]:
    return {
        "case_id": str(event.originator_id),
        "reason": event.reason,
        "requested_by": event.requested_by,
    }


CATALOGUE = EventCatalogue(
    "intake",
    PublishedEvent(
        ChildCase.ChildRegistered,
        "ChildRegistered",
        1,
        child_registered_v1,
        personal=("name", "date_of_birth", "release_place", "account"),
    ),
    PublishedEvent(ChildCase.HandedOver, "HandedOver", 1, handed_over_v1),
    PublishedEvent(ChildCase.ConsentGiven, "ConsentGiven", 1, consent_given_v1),
    PublishedEvent(ChildCase.ConsentWithdrawn, "ConsentWithdrawn", 1, consent_withdrawn_v1),
    PublishedEvent(ChildCase.CaseErased, "CaseErased", 1, case_erased_v1),
)
