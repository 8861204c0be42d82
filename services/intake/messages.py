"""What the intake service publishes on ``homeward.intake.events`` (its Kafka wiring)."""

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from services.intake.domain import ChildCase, ProtectionFlag, age_band
from shared.publishing import EventCatalogue, PublishedEvent

# Shown to no one through the general API: the extra-restricted category (its reading needs
# the authorisation work that comes later); it travels and is stored sealed like every
# personal field.
RESTRICTED_FIELDS = ("sexual_violence",)


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


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def fields_of(*names: str) -> Callable[[Any], dict[str, Any]]:
    """The published data of a journey event: the case id and the named fields, as JSON."""

    def to_data(event: Any) -> dict[str, Any]:
        data = {"case_id": str(event.originator_id)}
        data.update({name: _plain(getattr(event, name)) for name in names})
        return data

    return to_data


def needs_assessed_v1(event: ChildCase.NeedsAssessed) -> dict[str, Any]:
    data = fields_of(
        "needs",
        "flags",
        "dependants_count",
        "dependants",
        "sexual_violence",
        "assessed_by",
        "assessed_on",
        "notes",
        "stage",
    )(event)
    # Children detained or facing charges are victims: they are referred for legal aid.
    data["legal_aid_referral"] = ProtectionFlag.DETAINED_OR_FACING_CHARGES in event.flags
    return data


def journey(event_class: type, data: Callable[[Any], dict[str, Any]]) -> PublishedEvent:
    """A journey event, published under its own name as v1, its personal fields sealed."""
    return PublishedEvent(
        event_class,
        event_class.__name__,
        1,
        data,
        personal=tuple(getattr(event_class, "personal_fields", ())),
    )


JOURNEY = (
    journey(
        ChildCase.AgeAssessed,
        fields_of("method", "result", "assessed_by", "assessed_on", "notes", "route", "stage"),
    ),
    journey(
        ChildCase.InterimCarePlaced,
        fields_of("kind", "carer", "address", "entered_on", "planned_end_on", "placed_by", "stage"),
    ),
    journey(ChildCase.InterimCareExtended, fields_of("until", "reason", "approved_by", "stage")),
    journey(
        ChildCase.InterimCareEnded, fields_of("left_on", "exit_reason", "recorded_by", "stage")
    ),
    journey(ChildCase.NeedsAssessed, needs_assessed_v1),
    journey(ChildCase.RiskLevelSet, fields_of("level", "reason", "set_by", "set_at", "stage")),
    journey(
        ChildCase.RiskResponded,
        fields_of("action", "responded_by", "responded_at", "stage"),
    ),
    journey(
        ChildCase.TracingStarted,
        fields_of(
            "tracing_agency",
            "consent_id",
            "sought",
            "last_known_place",
            "started_by",
            "started_on",
            "stage",
        ),
    ),
    journey(
        ChildCase.TracingLeadRecorded,
        fields_of("source", "lead", "recorded_by", "recorded_on", "stage"),
    ),
    journey(
        ChildCase.FamilyLocated,
        fields_of(
            "relationship",
            "family_members",
            "whereabouts",
            "phone",
            "relationship_verified",
            "recorded_by",
            "located_on",
            "stage",
        ),
    ),
    journey(
        ChildCase.FamilyAssessed,
        fields_of(
            "willing",
            "able",
            "safe",
            "child_willing",
            "assessed_by",
            "assessed_on",
            "notes",
            "stage",
        ),
    ),
    journey(ChildCase.Reunified, fields_of("address", "recorded_by", "reunified_on", "stage")),
    journey(
        ChildCase.AlternativeCareArranged,
        fields_of("kind", "carer", "address", "arranged_by", "arranged_on", "stage"),
    ),
    journey(
        ChildCase.TracingClosedUnsuccessful,
        fields_of("reason", "notes", "closed_by", "closed_on", "stage"),
    ),
    journey(ChildCase.CaseAssigned, fields_of("caseworker", "assigned_by", "assigned_on", "stage")),
    journey(
        ChildCase.CasePlanAgreed,
        fields_of(
            "goal_areas",
            "goals",
            "child_participated",
            "child_views",
            "agreed_by",
            "agreed_on",
            "stage",
        ),
    ),
    journey(ChildCase.CaseClosed, fields_of("reason", "notes", "closed_by", "closed_on", "stage")),
    journey(ChildCase.CaseReopened, fields_of("reason", "reopened_by", "reopened_on", "stage")),
)

PUBLISHED = (
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
    *JOURNEY,
)
_BY_CLASS = {entry.event_class: entry for entry in PUBLISHED}

CATALOGUE = EventCatalogue("intake", *PUBLISHED)


def published_form(event: Any) -> PublishedEvent | None:
    """How an event type is published, or None for an internal one."""
    return _BY_CLASS.get(type(event))
