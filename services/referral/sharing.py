"""What a referral carries: for each data category the consent covers, exactly its fields.

The fields come from two places. Most are facts intake recorded (the case file the referral
service keeps, :mod:`services.referral.projections`); the rest are written by the caseworker
for this referral alone (``WrittenField``), so that a partner learns a child's needs in the
words meant for it. The case agency's own notes of a registration (and the child's account a
registration recorded before notes took its place) stay with the case agency: the case file
here never holds them (``KEPT_BY_THE_CASE_AGENCY``), so no category can let them through.
"""

from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID

from shared.consent import AgeTable, ChildStanding, DataCategory, Objection, Purpose, current_age


class WrittenField(StrEnum):
    SCHOOL_LEVEL = "school_level"
    CERTIFICATES = "certificates"
    SKILLS = "skills"
    TRAINING_WANTED = "training_wanted"
    HEALTH_NEEDS = "health_needs"
    PSYCHOSOCIAL_NEEDS = "psychosocial_needs"
    LEGAL_NEEDS = "legal_needs"


# The one table of what each category lets through; the README shows it as it is here.
CATEGORY_FIELDS: dict[DataCategory, tuple[str, ...]] = {
    DataCategory.IDENTITY: ("name", "date_of_birth", "age", "sex", "languages"),
    # How to reach the child and the carer now, once placed or reunified: never the place
    # of release, which ties the child to the group.
    DataCategory.CONTACT_AND_LOCATION: ("lives_with", "address", "phone"),
    DataCategory.FAMILY: ("family_members", "relationship"),
    DataCategory.EDUCATION: ("languages", WrittenField.SCHOOL_LEVEL, WrittenField.CERTIFICATES),
    DataCategory.LIVELIHOOD: (WrittenField.SKILLS, WrittenField.TRAINING_WANTED),
    DataCategory.HEALTH: (WrittenField.HEALTH_NEEDS,),
    DataCategory.PSYCHOSOCIAL: (WrittenField.PSYCHOSOCIAL_NEEDS,),
    DataCategory.LEGAL: (WrittenField.LEGAL_NEEDS,),
    DataCategory.ASSOCIATION: (
        "armed_group",
        "armed_group_kind",
        "roles",
        "how_left",
        "released_on",
    ),
    DataCategory.SEXUAL_VIOLENCE: ("sexual_violence",),
}
assert set(CATEGORY_FIELDS) == set(DataCategory)
WRITTEN_IN: dict[WrittenField, DataCategory] = {
    WrittenField(name): category
    for category, names in CATEGORY_FIELDS.items()
    for name in names
    if name in set(WrittenField)
}
assert set(WRITTEN_IN) == set(WrittenField)


def written_outside(written: dict[WrittenField, str], categories: list[DataCategory]) -> list[str]:
    """The written fields whose category the referral does not share, each saying which."""
    return [
        f"written.{name} belongs to category '{WRITTEN_IN[name]}', which this referral does "
        "not share: add the category or leave the note out"
        for name in written
        if WRITTEN_IN[name] not in categories
    ]


def child_age(case_file: dict[str, Any], today: date, table: AgeTable) -> int:
    born = case_file.get("date_of_birth")
    return current_age(
        today,
        date_of_birth=None if born is None else date.fromisoformat(born),
        estimated_age=int(case_file["estimated_age"]),
        estimated_on=date.fromisoformat(case_file["released_on"]),
        assessed_adult=bool(case_file.get("assessed_adult")),
        adult_age=table.adult_age,
    )


def child_standing(case_file: dict[str, Any], today: date, table: AgeTable) -> ChildStanding:
    return ChildStanding(
        age=child_age(case_file, today, table),
        maturity_assessed=bool(case_file.get("maturity_assessed")),
        objections=tuple(
            Objection(
                objection_id=UUID(refusal_id),
                purpose=None if refusal["purpose"] is None else Purpose(refusal["purpose"]),
                recipients=frozenset(refusal["recipients"]),
                categories=frozenset(DataCategory(c) for c in refusal["categories"]),
            )
            for refusal_id, refusal in case_file.get("objections", {}).items()
        ),
    )


def shared_fields(
    case_file: dict[str, Any],
    written: dict[WrittenField, str],
    categories: list[DataCategory],
    today: date,
    table: AgeTable,
) -> dict[str, Any]:
    """Exactly the fields of ``categories``: recorded ones from the case file (null when not
    recorded yet), written ones when the caseworker wrote them."""
    recorded = {
        **case_file,
        **(case_file.get("contact") or {}),
        "age": child_age(case_file, today, table),
    }
    shared: dict[str, Any] = {}
    for category in categories:
        for name in CATEGORY_FIELDS[category]:
            if name in set(WrittenField):
                if WrittenField(name) in written:
                    shared[name] = written[WrittenField(name)]
            else:
                shared[name] = recorded.get(name)
    return shared
