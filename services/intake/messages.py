"""What the intake service publishes on ``homeward.intake.events`` (its Kafka wiring)."""

from typing import Any

from services.intake.domain import ChildCase, age_band
from shared.publishing import EventCatalogue, PublishedEvent


def child_registered_v1(event: ChildCase.ChildRegistered) -> dict[str, Any]:
    return {
        "case_id": str(event.originator_id),
        "case_number": event.case_number,
        "how_left": event.how_left,
        "released_on": event.released_on.isoformat(),
        "release_place": event.release_place,
        "armed_group": {"name": event.armed_group, "kind": event.armed_group_kind},
        "roles": list(event.roles),
        "sex": event.sex,
        "estimated_age": event.estimated_age,
        "age_band": age_band(event.estimated_age),
        "registering_agency": event.registering_agency,
        "caseworker": event.caseworker,
    }


def handed_over_v1(event: ChildCase.HandedOver) -> dict[str, Any]:
    return {
        "case_id": str(event.originator_id),
        "from_actor": event.from_actor,
        "to_agency": event.to_agency,
        "handed_over_at": event.handed_over_at.isoformat(),
    }


CATALOGUE = EventCatalogue(
    "intake",
    PublishedEvent(ChildCase.ChildRegistered, "ChildRegistered", 1, child_registered_v1),
    PublishedEvent(ChildCase.HandedOver, "HandedOver", 1, handed_over_v1),
)
