"""The one allow-list: the fields of events about a child that stay readable at rest.

Every other field of every event about a child is sealed with the case's data key, in the
event store and on Kafka (see :mod:`shared.privacy`). A field belongs here only if it
identifies no one, even beside the others, and routing or the audit trail needs it without a
key: random ids, the case's stage, the recording agency's code, opaque staff ids and the
recording time (the event's own timestamp, kept by the library). Exact ages and dates, names
of armed forces and groups, roles, sex, places, flags and every free text are sealed.

Review a change to this module like a change to the crypto: one clear field too many, and
party + date + age + sex point at one child again.
"""

from dataclasses import dataclass
from typing import Any

UUID_SCHEMA = {"type": "string", "format": "uuid"}
STAFF_ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 200}
AGENCY_SCHEMA = {"type": "string", "pattern": "^[A-Z0-9]{2,8}(-[A-Z0-9]{2,8}){0,2}$"}


@dataclass(frozen=True)
class ClearField:
    why: str
    schema: dict[str, Any]


def _staff(role: str) -> ClearField:
    return ClearField(f"opaque staff id of {role}; never a name", STAFF_ID_SCHEMA)


CLEAR_FIELDS: dict[str, ClearField] = {
    # Random ids: they name a record, not a person.
    "case_id": ClearField(
        "the case's random id: the Kafka key of the child's history", UUID_SCHEMA
    ),
    "referral_id": ClearField("a referral's random id", UUID_SCHEMA),
    "consent_id": ClearField(
        "a consent's random id, so a share names what allowed it", UUID_SCHEMA
    ),
    "consent_ids": ClearField(
        "the consents a referral relied on", {"type": "array", "items": UUID_SCHEMA}
    ),
    "message_id": ClearField(
        "the CloudEvent id of a partner's answer, so that it applies once",
        {"type": "string", "minLength": 1, "maxLength": 200},
    ),
    "case_number": ClearField(
        "agency, year and ordinal (CD-KIN-2026-00042): the number staff search by",
        {"type": "string", "pattern": "^[A-Z0-9][A-Z0-9-]*-[0-9]{4}-[0-9]{5,}$"},
    ),
    # Where the case stands, and who holds it.
    "stage": ClearField(
        "the stage of the journey the case reached; counted without a key",
        {"type": "string", "pattern": "^[a-z_]+$"},
    ),
    "registering_agency": ClearField("the recording agency's code", AGENCY_SCHEMA),
    "agency": ClearField("the partner agency a referral is addressed to: routing", AGENCY_SCHEMA),
    "referring_agency": ClearField(
        "the agency whose staff made a referral: who may read it, after erasure too",
        AGENCY_SCHEMA,
    ),
    "erasure_reason": ClearField(
        "why a case was erased (child_request, court_order...): the audit needs it after "
        "the key is gone",
        {"type": "string", "pattern": "^[a-z_]+$"},
    ),
    "withdrawal_cause": ClearField(
        "why a partner must delete what it received (consent_withdrawn, consent_expired, "
        "case_erased)",
        {"type": "string", "pattern": "^[a-z_]+$"},
    ),
    # The one date in clear: what a partner did with data, never a date of the child's life.
    "deleted_on": ClearField(
        "the day a partner says it deleted what it received for a referral: the audit needs "
        "it after the key is gone",
        {"type": "string", "format": "date"},
    ),
    # Staff ids, as the identity provider issues them.
    "caseworker": _staff("the caseworker holding the case"),
    "recorded_by": _staff("who recorded the fact"),
    "requested_by": _staff("who asked for it"),
    "approved_by": _staff("the approving supervisor"),
    "assessed_by": _staff("the assessor"),
    "placed_by": _staff("who arranged the placement"),
    "set_by": _staff("who set the risk level"),
    "responded_by": _staff("who responded to the risk"),
    "started_by": _staff("who started tracing"),
    "closed_by": _staff("who closed"),
    "assigned_by": _staff("who assigned the case"),
    "agreed_by": _staff("who agreed the plan"),
    "reopened_by": _staff("who reopened the case"),
    "arranged_by": _staff("who arranged the care"),
    "made_by": _staff("who made the referral"),
    "withdrawn_by": _staff("who withdrew the referral"),
    "visited_by": _staff("who made the visit"),
    "reviewed_by": _staff("who reviewed"),
    "cancelled_by": _staff("who cancelled"),
}

# What the eventsourcing library adds to every stored event: the event's identity (aggregate
# id and version), its class, and the time it was recorded.
LIBRARY_FIELDS = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp"})


def is_clear(field: str) -> bool:
    return field in CLEAR_FIELDS or field in LIBRARY_FIELDS


def sealed_names(fields: Any) -> list[str]:
    """The fields, of those given, that are sealed."""
    return [field for field in fields if not is_clear(field)]
