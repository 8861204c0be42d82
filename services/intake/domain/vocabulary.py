"""The words a child's case is recorded in, and what follows from them alone.

Vocabulary follows the Paris Principles (2007) and IDDRS 5.30: how the child left the armed
force or group, who held the child, the roles the child was used in (association "in any
capacity" counts), and the handover to civilian child-protection actors.
"""

from datetime import UTC, date, datetime, time
from enum import StrEnum


class HowLeft(StrEnum):
    FORMAL_RELEASE = "formal_release"  # under an action plan or handover protocol
    NEGOTIATED_RELEASE = "negotiated_release"  # by mediators, with no plan or protocol
    ESCAPE = "escape"
    CAPTURE = "capture"  # by a military or security force
    SURRENDER = "surrender"
    IDENTIFIED_IN_COMMUNITY = "identified_in_community"  # already out, found by screening
    ABANDONED_BY_GROUP = "abandoned_by_group"
    RELEASED_BY_COMMUNITY = "released_by_community"  # the child's community obtained it
    # Recorded before capture and surrender were told apart: stored registrations keep it,
    # new ones choose between the two (RETIRED_HOW_LEFT).
    CAPTURE_OR_SURRENDER = "capture_or_surrender"


# Ways of leaving that stored cases keep and new registrations may no longer choose, each with
# what to choose instead.
RETIRED_HOW_LEFT: dict[HowLeft, tuple[HowLeft, ...]] = {
    HowLeft.CAPTURE_OR_SURRENDER: (HowLeft.CAPTURE, HowLeft.SURRENDER),
}


class NotePurpose(StrEnum):
    """What a caseworker's short note at registration serves: each says what the child needs
    for one purpose. No field takes the child's story of the association: an intelligence-
    style debrief is what the Paris Principles forbid."""

    CARE = "care"  # interim or alternative care, daily living
    HEALTH = "health"
    PSYCHOSOCIAL = "psychosocial"
    EDUCATION = "education"
    LIVELIHOOD = "livelihood"
    LEGAL = "legal"
    FAMILY_TRACING = "family_tracing"


NOTE_MAX_CHARS = 500
# Where a registration recorded before notes took the free-text account keeps it: read by
# the case agency only, never a purpose of a note a registration may write, never shared.
LEGACY_ACCOUNT_NOTE = "legacy_account"


class ArmedGroupKind(StrEnum):
    STATE_ARMED_FORCE = "state_armed_force"
    NON_STATE_ARMED_GROUP = "non_state_armed_group"
    ALLIED_MILITIA = "allied_militia"


class Role(StrEnum):
    COMBATANT = "combatant"
    SUPPORT = "support"
    SEXUAL_PURPOSES = "sexual_purposes"
    SPY = "spy"
    OTHER = "other"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class ErasureReason(StrEnum):
    CHILD_REQUEST = "child_request"
    CAREGIVER_REQUEST = "caregiver_request"
    RETENTION_PERIOD_ENDED = "retention_period_ended"
    COURT_ORDER = "court_order"
    DATA_PROTECTION_OFFICER = "data_protection_officer"


class Stage(StrEnum):
    """Where a case stands in the journey; statistics-safe, so it travels in clear."""

    REGISTERED = "registered"
    HANDED_OVER = "handed_over"
    INTERIM_CARE = "interim_care"
    TRACING = "tracing"
    REUNIFIED = "reunified"
    ALTERNATIVE_CARE = "alternative_care"
    ADULT_PATHWAY = "adult_pathway"
    CLOSED = "closed"


class Route(StrEnum):
    CHILD_PROTECTION = "child_protection"
    ADULT_PATHWAY = "adult_pathway"  # assessed 18 or over: nothing is deleted, the route changes


class BestInterestsGrounds(StrEnum):
    CAREGIVER_UNREACHABLE = "caregiver_unreachable"
    CAREGIVER_A_SOURCE_OF_HARM = "caregiver_a_source_of_harm"


class AgeMethod(StrEnum):
    DOCUMENTS = "documents"
    INTERVIEW = "interview"
    COMMUNITY = "community"
    MEDICAL = "medical"  # a last resort only


class AgeResult(StrEnum):
    UNDER_18 = "under_18"
    EIGHTEEN_OR_OVER = "18_or_over"
    UNCERTAIN = "uncertain"  # the benefit of the doubt: treated as a child


class CareKind(StrEnum):
    INTERIM_CARE_CENTRE = "interim_care_centre"
    TRANSIT_CENTRE = "transit_centre"  # a short stay on the way, e.g. after a handover
    FAMILY_BASED_CARE = "family_based_care"  # a host family found by the programme
    FOSTER_FAMILY = "foster_family"
    KINSHIP_CARER = "kinship_carer"
    # Recorded as a placement before a direct return was told apart from interim care: stored
    # placements keep it and start no interim-care clock; a direct return is a reunification.
    DIRECT_RETURN = "direct_return"


# Care kinds that stored placements keep and new placements may no longer choose: they start
# no interim-care clock.
NOT_INTERIM_CARE = frozenset({CareKind.DIRECT_RETURN})


class CareExit(StrEnum):
    FAMILY_REUNIFICATION = "family_reunification"
    ALTERNATIVE_CARE = "alternative_care"
    TRANSFERRED = "transferred"
    LEFT_WITHOUT_NOTICE = "left_without_notice"
    OTHER = "other"


class NeedArea(StrEnum):
    HEALTH = "health"
    PSYCHOSOCIAL = "psychosocial"
    EDUCATION = "education"
    LIVELIHOOD = "livelihood"
    LEGAL = "legal"
    SECURITY = "security"


class ProtectionFlag(StrEnum):
    """Specific protections. Sexual violence is not among them: it is an extra-restricted
    category, recorded only inside a sealed field (see ``NeedsAssessment.sexual_violence``)."""

    CHILD_MOTHER = "child_mother"
    UNACCOMPANIED = "unaccompanied"
    SEPARATED = "separated"
    DISABILITY = "disability"
    DETAINED_OR_FACING_CHARGES = "detained_or_facing_charges"  # a victim: refer for legal aid
    CROSSED_BORDER = "crossed_border"  # asylum and non-refoulement considerations
    RE_RECRUITMENT_THREAT = "re_recruitment_threat"


class RiskLevel(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class LeadSource(StrEnum):
    CHILD = "child"
    COMMUNITY = "community"
    TRACING_NETWORK = "tracing_network"
    AUTHORITIES = "authorities"
    OTHER = "other"


class Relationship(StrEnum):
    MOTHER = "mother"
    FATHER = "father"
    BOTH_PARENTS = "both_parents"
    GRANDPARENT = "grandparent"
    SIBLING = "sibling"
    AUNT_OR_UNCLE = "aunt_or_uncle"
    OTHER_RELATIVE = "other_relative"


class VerifiedWith(StrEnum):
    """Who confirmed the relationship: each is asked apart from the other, since a claimed
    relative may be a recruiter or a trafficker."""

    CHILD = "child"
    FAMILY = "family"


class Likelihood(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Acceptance(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class LinkRelation(StrEnum):
    """What the linked case is to this one."""

    CHILD = "child"  # this is a child mother's case; the linked one, her child's
    MOTHER = "mother"


class DetentionOutcome(StrEnum):
    RELEASED_TO_CHILD_PROTECTION = "released_to_child_protection"
    RELEASED_WITHOUT_CHARGE = "released_without_charge"
    CHARGES_DROPPED = "charges_dropped"
    DIVERTED = "diverted"  # to a restorative or community measure, away from prosecution
    CONVICTED = "convicted"
    TRANSFERRED = "transferred"
    OTHER = "other"


class BreakdownReason(StrEnum):
    FAMILY_REJECTION = "family_rejection"
    CHILD_LEFT = "child_left"
    ABUSE_OR_NEGLECT = "abuse_or_neglect"
    RE_RECRUITMENT_THREAT = "re_recruitment_threat"
    ECONOMIC_HARDSHIP = "economic_hardship"
    OTHER = "other"


class TracingFailure(StrEnum):
    FAMILY_NOT_FOUND = "family_not_found"
    FAMILY_UNWILLING_OR_UNSAFE = "family_unwilling_or_unsafe"
    CHILD_DECLINED = "child_declined"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    OTHER = "other"


class AlternativeCareKind(StrEnum):
    KINSHIP_CARE = "kinship_care"
    FOSTER_CARE = "foster_care"
    SUPERVISED_INDEPENDENT_LIVING = "supervised_independent_living"  # older adolescents


class PlanArea(StrEnum):
    EDUCATION = "education"
    LIVELIHOOD = "livelihood"
    HEALTH = "health"
    PSYCHOSOCIAL_SUPPORT = "psychosocial_support"
    # Where the young person will live, which adult services take over, income: agreed
    # before 18, so that the case can close at 18 without leaving the young person alone.
    TRANSITION_TO_ADULTHOOD = "transition_to_adulthood"


class ClosureReason(StrEnum):
    REINTEGRATION_GOALS_MET = "reintegration_goals_met"  # after a return, under a case plan
    DECLINED_SERVICES_AND_SAFE = "declined_services_and_safe"
    TURNED_18_WITH_TRANSITION_PLAN = "turned_18_with_transition_plan"  # 18, and a case plan
    TURNED_18_AND_TRANSFERRED = "turned_18_and_transferred"
    TRANSFERRED = "transferred"  # to another agency's case management
    RE_RECRUITED = "re_recruited"
    MOVED_AWAY = "moved_away"
    DIED = "died"
    LOST_CONTACT = "lost_contact"


def stage_of(
    *,
    closed: bool,
    adult: bool,
    reunified: bool,
    alternative_care: bool,
    tracing: bool,
    interim_care: bool,
    handed_over: bool,
) -> Stage:
    """The stage follows from the facts: the furthest step of the journey reached."""
    for reached, stage in (
        (closed, Stage.CLOSED),
        (adult, Stage.ADULT_PATHWAY),
        (reunified, Stage.REUNIFIED),
        (alternative_care, Stage.ALTERNATIVE_CARE),
        (tracing, Stage.TRACING),
        (interim_care, Stage.INTERIM_CARE),
        (handed_over, Stage.HANDED_OVER),
    ):
        if reached:
            return stage
    return Stage.REGISTERED


def start_of_day(day: date) -> datetime:
    """A day as the moment it began (UTC): a release known by its date alone counts from
    the start of that day, which flags a late handover sooner rather than later."""
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def age_band(age: int) -> str:
    """The band used in statistics, where an exact age could point at one child."""
    if age < 10:
        return "under-10"
    if age < 15:
        return "10-14"
    if age < 18:
        return "15-17"
    return "18-plus"
