"""Realistic request bodies; every test gets its own copy to change."""

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.envelope import CloudEvent

# Where the tests that build messages themselves say the publishing service is reached.
SCHEMAS_AT = "https://intake.homeward.example.org"

GIRL_ESCAPED = {
    "name": "Amani Zawadi-Kuvuka",
    "date_of_birth": "2011-03-14",
    "languages": ["sw", "fr"],
    "notes": {
        "health": "A leg wound that has not healed; asks for a clinic visit.",
        "education": "Left school in the fourth year of primary; wants to go back.",
    },
    "release": {
        "date": "2026-10-03",
        "place": "Kalehe, near the river crossing",
        "how_left": "escape",
        "separated_from_adults": True,
    },
    "armed_group": {"name": "Raia Mutomboki faction", "kind": "non_state_armed_group"},
    "roles": ["support", "sexual_purposes"],
    "sex": "female",
    "estimated_age": 15,
    "registering_agency": "CD-KIN",
    "caseworker": "cw-0412",
    "handover": {
        "from_actor": "FARDC 34th military region",
        "to_agency": "CD-KIN",
        "at": "2026-10-04T09:30:00+02:00",
    },
}


def registration(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(GIRL_ESCAPED)
    body.update(changes)
    return body


def boy_formally_released(**changes: Any) -> dict[str, Any]:
    """A 16-year-old boy released under an action plan; no handover recorded yet."""
    body = registration(
        name="Esaie Bahati Mugisho",
        date_of_birth=None,
        languages=["sw"],
        notes={"livelihood": "Wants to learn mechanics."},
        release={
            "date": "2026-10-01",
            "place": "Rumangabo camp, north gate",
            "how_left": "formal_release",
        },
        armed_group={"name": "FARDC 3rd brigade", "kind": "state_armed_force"},
        roles=["combatant"],
        sex="male",
        estimated_age=16,
        handover=None,
    )
    body.update(changes)
    return body


def person_of_uncertain_age(**changes: Any) -> dict[str, Any]:
    """Someone who says 17 and may be older: the benefit of the doubt until assessed."""
    body = registration(
        name="Jean-Pierre Habimana",
        date_of_birth=None,
        notes={},
        release={
            "date": "2026-10-02",
            "place": "Sake, roadside",
            "how_left": "capture",
        },
        armed_group={"name": "Local self-defence militia", "kind": "allied_militia"},
        roles=["combatant", "spy"],
        sex="male",
        estimated_age=17,
    )
    body.update(changes)
    return body


# The steps of GIRL_ESCAPED's return to her mother, each a body for `POST /cases/{id}/<route>`
# without the case's version.
FAMILY_TRACING_CONSENT = {
    "given_by": "child_consent",
    "purpose": "family_tracing",
    "recipients": ["CD-ICRC"],
    "categories": ["identity", "family"],
    "given_on": "2026-10-04",
}


def education_consent(school: str, given_on: str) -> dict[str, Any]:
    """The child's own consent to share her identity with a school."""
    return {
        "given_by": "child_consent",
        "purpose": "education",
        "recipients": [school],
        "categories": ["identity"],
        "given_on": given_on,
    }


TRACING_STARTED = {"tracing_agency": "CD-ICRC", "started_on": "2026-10-04", "sought": "My mother"}
MOTHER_LOCATED = {
    "relationship": "mother",
    "family_members": ["Furaha Zawadi"],
    "whereabouts": "Kibati camp",
    "relationship_verified": True,
    "located_on": "2026-10-10",
}
MOTHER_ASSESSED = {
    "willing": True,
    "able": True,
    "safe": True,
    "child_willing": True,
    "assessed_on": "2026-10-11",
}
RETURN_CHECKED = {
    "community_acceptance": "good",
    "re_recruitment_risk": "low",
    "checked_on": "2026-10-11",
}
RETURN_APPROVED = {  # by a supervisor
    "reason": "Her mother is ready and the camp is calm.",
    "approved_on": "2026-10-11",
}

# What may follow her return, for the journeys: bodies without the case's version.
RETURN_BROKE_DOWN = {
    "reason": "family_rejection",
    "broke_down_on": "2026-11-18",
    "notes": "Her stepfather would not have her in the house.",
}
FOSTER_CARE = {
    "kind": "foster_care",
    "carer": "Famille Mapendo",
    "address": "Ndosho, avenue des Volcans 3",
    "arranged_on": "2026-11-25",
}
DETAINED = {
    "place": "Prison centrale de Goma",
    "detaining_authority": "Auditorat militaire",
    "started_on": "2026-10-06",
    "legal_aid_provider": "Bureau d'aide juridique de Goma",
}
DETENTION_ENDED = {"ended_on": "2026-10-20", "outcome": "released_to_child_protection"}


def probe(**data: Any) -> CloudEvent:
    """A message of a type no service handles, about a case of its own: for the tests of
    consumers, which apply ``data`` as they are told."""
    case_id = uuid.uuid4()
    return CloudEvent.published(
        service="test",
        name="Probed",
        version=1,
        case_id=case_id,
        originator_id=case_id,
        originator_version=1,
        occurred_at=datetime.now(UTC),
        data=data,
        schemas_at=SCHEMAS_AT,
    )
