"""Consent and assent, purpose-bound: the one answer to "may this go there, for that, now?".

``ConsentGiven`` / ``ConsentWithdrawn`` are facts on the intake case, published on
``homeward.intake.events``; every service keeps its own view of them (a list of
:class:`ConsentRecord`) by consuming that topic, and every share in the platform asks
:func:`may_share` against the latest view it has seen, recording which consent allowed it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID


class Purpose(StrEnum):
    FAMILY_TRACING = "family_tracing"
    EDUCATION = "education"
    LIVELIHOOD = "livelihood"
    HEALTH = "health"
    PSYCHOSOCIAL_SUPPORT = "psychosocial_support"
    LEGAL_AID = "legal_aid"
    SHELTER = "shelter"
    STATISTICS = "statistics"
    MONITORING = "monitoring"  # e.g. the UN's monitoring and reporting mechanism (MRM)
    TRACING_PUBLICITY = "tracing_publicity"  # a photo or name published to find a family
    MEDIA = "media"


class DataCategory(StrEnum):
    IDENTITY = "identity"  # name, date of birth, photo
    CONTACT_AND_LOCATION = "contact_and_location"  # exact places, phone numbers
    FAMILY = "family"  # family members and their whereabouts
    ASSOCIATION = "association"  # the armed force or group, roles, how the child left
    HEALTH = "health"
    PSYCHOSOCIAL = "psychosocial"
    EDUCATION = "education"
    LIVELIHOOD = "livelihood"
    LEGAL = "legal"
    SEXUAL_VIOLENCE = "sexual_violence"  # restricted: shared only when named explicitly


class ConsentGiver(StrEnum):
    CHILD_ASSENT = "child_assent"  # the child's informed assent
    CHILD_CONSENT = "child_consent"  # a mature child's own informed consent
    CAREGIVER_CONSENT = "caregiver_consent"  # a parent's or guardian's consent
    BEST_INTERESTS_DECISION = "best_interests_decision"  # no caregiver reachable or safe


# Counting needs no one's identity: what could single a child out never goes to these.
AGGREGATE_PURPOSES = frozenset({Purpose.STATISTICS, Purpose.MONITORING})
NEVER_IN_AGGREGATES = frozenset(
    {
        DataCategory.IDENTITY,
        DataCategory.CONTACT_AND_LOCATION,
        DataCategory.ASSOCIATION,
        DataCategory.SEXUAL_VIOLENCE,
    }
)
# Making a child known to the public can expose the child to the group left behind or to
# political use (Paris Commitments 13): no other purpose's consent ever stands in for these.
PUBLICITY_PURPOSES = frozenset({Purpose.MEDIA, Purpose.TRACING_PUBLICITY})

NO_IDENTITY_IN_AGGREGATES = "rule 'statistics and monitoring carry no one's identity'"
NO_PUBLICITY_WITHOUT_CONSENT = (
    "rule 'no publicity without explicit consent for it' (Paris Commitments 13)"
)


def aggregate_refusal(purpose: Purpose, categories: Iterable[DataCategory]) -> str | None:
    """Why a consent or share for ``purpose`` may not cover ``categories``; None if it may."""
    if purpose not in AGGREGATE_PURPOSES:
        return None
    barred = sorted(set(categories) & NEVER_IN_AGGREGATES)
    if not barred:
        return None
    return f"{NO_IDENTITY_IN_AGGREGATES}: purpose '{purpose}' cannot cover " + ", ".join(
        f"'{category}'" for category in barred
    )


@dataclass(frozen=True)
class ConsentRecord:
    consent_id: UUID
    case_id: UUID
    given_by: ConsentGiver
    purpose: Purpose
    recipients: frozenset[str]
    categories: frozenset[DataCategory]
    given_on: date
    expires_on: date | None = None
    withdrawn_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    consent_id: UUID | None = None

    def __bool__(self) -> bool:
        return self.allowed


def may_share(
    consents: Iterable[ConsentRecord],
    *,
    case_id: UUID,
    category: DataCategory,
    agency: str,
    purpose: Purpose,
    now: datetime,
) -> Decision:
    """May ``category`` of case ``case_id`` go to ``agency`` for ``purpose`` at ``now``?"""
    barred = aggregate_refusal(purpose, [category])
    if barred:
        return Decision(False, barred)
    for consent in consents:
        if (
            # A child's assent is asked and recorded, but it never authorises a share alone:
            # a caregiver's consent, the child's own, or a best-interests decision does.
            consent.given_by != ConsentGiver.CHILD_ASSENT
            and consent.case_id == case_id
            and consent.purpose == purpose
            and agency in consent.recipients
            and category in consent.categories
            and consent.given_on <= now.date()
            and (consent.expires_on is None or now.date() <= consent.expires_on)
            # A withdrawal acts from the moment the service has seen it, whatever its clock.
            and consent.withdrawn_at is None
        ):
            return Decision(True, f"allowed by consent {consent.consent_id}", consent.consent_id)
    missing = (
        f"case {case_id} has no valid consent for purpose '{purpose}' to agency '{agency}' "
        f"covering data category '{category}'"
    )
    if purpose in PUBLICITY_PURPOSES:
        return Decision(False, f"{NO_PUBLICITY_WITHOUT_CONSENT}: {missing}")
    return Decision(False, missing)


def shareable_categories(
    consents: Iterable[ConsentRecord],
    *,
    case_id: UUID,
    categories: Iterable[DataCategory],
    agency: str,
    purpose: Purpose,
    now: datetime,
) -> dict[DataCategory, Decision]:
    """The decision for each category asked for, so a share can carry only the allowed ones."""
    held = list(consents)
    return {
        category: may_share(
            held, case_id=case_id, category=category, agency=agency, purpose=purpose, now=now
        )
        for category in categories
    }
