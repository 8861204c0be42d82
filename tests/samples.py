"""Realistic request bodies; every test gets its own copy to change."""

import copy
from typing import Any

GIRL_ESCAPED = {
    "name": "Amani Zawadi-Kuvuka",
    "date_of_birth": "2011-03-14",
    "languages": ["sw", "fr"],
    "account": "I was taken from the school road and made to carry water and ammunition.",
    "release": {
        "date": "2026-10-03",
        "place": "Kalehe, near the river crossing",
        "how_left": "escape",
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
