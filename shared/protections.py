"""The special protections a share must respect whatever a consent says (Paris Commitments).

Consent cannot authorise these shares: a child (or a caregiver under pressure) cannot be asked
to waive them, so they are refused before any consent is looked at, each naming its rule.
"""

from enum import StrEnum


class PartnerKind(StrEnum):
    SCHOOL = "school"
    VOCATIONAL_TRAINING = "vocational_training"
    HEALTH = "health"
    PSYCHOSOCIAL = "psychosocial"
    LEGAL_AID = "legal_aid"
    CHILD_PROTECTION = "child_protection"
    SHELTER = "shelter"
    HUMANITARIAN = "humanitarian"
    GOVERNMENT_AUTHORITY = "government_authority"  # a ministry or public office of a State
    # Never recipients of a child's data: registration refuses them.
    ARMED_FORCES = "armed_forces"
    POLICE_SECURITY = "police_security"
    INTELLIGENCE = "intelligence"
    PROSECUTION = "prosecution"


NEVER_RECIPIENTS = frozenset(
    {
        PartnerKind.ARMED_FORCES,
        PartnerKind.POLICE_SECURITY,
        PartnerKind.INTELLIGENCE,
        PartnerKind.PROSECUTION,
    }
)


class Displacement(StrEnum):
    RESIDENT = "resident"
    INTERNALLY_DISPLACED = "internally_displaced"
    REFUGEE = "refugee"
    ASYLUM_SEEKER = "asylum_seeker"
    STATELESS = "stateless"


# A refugee or an asylum seeker is, by definition, outside the country of their nationality.
OUTSIDE_COUNTRY_OF_ORIGIN = frozenset({Displacement.REFUGEE, Displacement.ASYLUM_SEEKER})

NO_SECURITY_OR_PROSECUTION = (
    "rule 'children are victims: no data to security or prosecution bodies' "
    "(Paris Commitments 10-11)"
)
NON_REFOULEMENT = "rule 'non-refoulement' (Paris Commitments 14)"


def never_recipient(kind: PartnerKind) -> str | None:
    """Why an agency of ``kind`` can never receive a child's data; None when it may."""
    if kind in NEVER_RECIPIENTS:
        return f"{NO_SECURITY_OR_PROSECUTION}: a partner of kind '{kind}' can never receive it"
    return None


def refoulement_risk(
    kind: PartnerKind,
    country: str,
    nationality: str | None,
    displacement: Displacement | None,
) -> str | None:
    """Why a share with a partner of ``kind`` in ``country`` could expose a child outside the
    country of origin to its authorities; None when it cannot.

    Only the displacement status decides that the child is outside: intake knows no country
    of the registering agency to compare the nationality with. A refugee or asylum seeker
    whose nationality is not recorded may come from any country, so no authority is safe.
    """
    if kind != PartnerKind.GOVERNMENT_AUTHORITY or displacement not in OUTSIDE_COUNTRY_OF_ORIGIN:
        return None
    if nationality is None:
        return (
            f"{NON_REFOULEMENT}: the child is a {displacement} of unrecorded nationality, so "
            f"an authority of {country} may be of the country of origin"
        )
    if nationality == country:
        return (
            f"{NON_REFOULEMENT}: the child is a {displacement} from {country}; a public "
            f"authority of {country} may not receive the child's data"
        )
    return None
