"""Consent and assent, purpose-bound: the one answer to "may this go there, for that, now?".

``ConsentGiven`` / ``ConsentWithdrawn`` are facts on the intake case, published on
``homeward.intake.events``; every service keeps its own view of them (a list of
:class:`ConsentRecord`) by consuming that topic, and every share in the platform asks
:func:`may_share` against the latest view it has seen, recording which consents allowed it.

Who may decide depends on the child's age *now* (:class:`AgeTable`, configurable per
programme), and a child's recorded objection to a disclosure blocks it whatever was given.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Self
from uuid import UUID

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    IDENTITY = "identity"  # name, date of birth, languages
    CONTACT_AND_LOCATION = "contact_and_location"  # how to reach the child and carer now
    FAMILY = "family"  # family members located, relationship
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
# Children are victims first (Paris Commitments 10-11): what links a child to an armed group
# goes only where the link itself is the service's subject.
ASSOCIATION_PURPOSES = frozenset({Purpose.LEGAL_AID})

NO_IDENTITY_IN_AGGREGATES = "rule 'statistics and monitoring carry no one's identity'"
NO_PUBLICITY_WITHOUT_CONSENT = (
    "rule 'no publicity without explicit consent for it' (Paris Commitments 13)"
)
ASSOCIATION_FOR_LEGAL_AID_ONLY = (
    "rule 'association data only for legal aid' (Paris Commitments 10-11)"
)
THE_CHILDS_OBJECTION = "rule 'the child's objection blocks the disclosure'"


def purpose_refusal(purpose: Purpose, categories: Iterable[DataCategory]) -> str | None:
    """Why a consent or share for ``purpose`` may never cover ``categories``, whoever
    consents; None if it may."""
    asked = set(categories)
    if purpose in AGGREGATE_PURPOSES:
        barred = sorted(asked & NEVER_IN_AGGREGATES)
        if barred:
            return f"{NO_IDENTITY_IN_AGGREGATES}: purpose '{purpose}' cannot cover " + ", ".join(
                f"'{category}'" for category in barred
            )
    if DataCategory.ASSOCIATION in asked and purpose not in ASSOCIATION_PURPOSES:
        return f"{ASSOCIATION_FOR_LEGAL_AID_ONLY}: purpose '{purpose}' cannot cover 'association'"
    return None


class AgeTable(BaseSettings):
    """Who decides at which age: common practice by default; a programme sets its own
    through ``HOMEWARD_PROGRAMME_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_PROGRAMME_", extra="ignore")

    assent_age: int = Field(default=6, ge=0, description="From this age the child's assent.")
    mature_consent_age: int = Field(
        default=12, ge=0, description="From this age, own consent with a maturity assessment."
    )
    own_consent_age: int = Field(default=15, ge=0, description="From this age, own consent.")
    adult_age: int = Field(default=18, ge=0, description="A caregiver's consent lapses.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        ages = [self.assent_age, self.mature_consent_age, self.own_consent_age, self.adult_age]
        if ages != sorted(ages):
            raise ValueError(
                "ages must not decrease: assent_age <= mature_consent_age <= own_consent_age "
                "<= adult_age"
            )
        return self

    def who_decides(self, age: int) -> str:
        """The rule for ``age``, in words, as refusals and the README name it."""
        if age >= self.adult_age:
            return (
                f"at {self.adult_age} and over, the young person's own consent "
                "(a caregiver's consent lapsed)"
            )
        if age >= self.own_consent_age:
            return (
                f"at {self.own_consent_age}-{self.adult_age - 1}, the child's own consent "
                "(a caregiver's alone is not enough)"
            )
        if age >= self.mature_consent_age:
            return (
                f"at {self.mature_consent_age}-{self.own_consent_age - 1}, the child's assent "
                "and a caregiver's consent (or a best-interests decision), or the child's own "
                "consent with a recorded maturity assessment"
            )
        if age >= self.assent_age:
            return (
                f"at {self.assent_age}-{self.mature_consent_age - 1}, the child's assent and a "
                "caregiver's consent (or a best-interests decision)"
            )
        return f"under {self.assent_age}, a caregiver's consent (or a best-interests decision)"

    def suffices(self, givers: set[ConsentGiver], age: int, maturity_assessed: bool) -> bool:
        """Do consents from ``givers`` together decide for a child of ``age``?"""
        own = ConsentGiver.CHILD_CONSENT in givers
        if age >= self.own_consent_age:
            return own
        if own and age >= self.mature_consent_age and maturity_assessed:
            return True
        for_the_child = givers & {
            ConsentGiver.CAREGIVER_CONSENT,
            ConsentGiver.BEST_INTERESTS_DECISION,
        }
        if not for_the_child:
            return False
        # A child's own consent says at least what an assent says.
        assented = own or ConsentGiver.CHILD_ASSENT in givers
        return age < self.assent_age or assented

    def may_give(self, giver: ConsentGiver, age: int, maturity_assessed: bool) -> str | None:
        """Why ``giver`` cannot give consent for a child of ``age``; None if it can count."""
        if giver == ConsentGiver.CHILD_CONSENT:
            if age >= self.own_consent_age:
                return None
            if age >= self.mature_consent_age and maturity_assessed:
                return None
            if age >= self.mature_consent_age:
                return (
                    f"a child of {age} consents alone only with a recorded maturity "
                    "assessment; record one, or record the child's assent and a caregiver's "
                    "consent"
                )
            return (
                f"a child of {age} cannot consent alone; record the child's assent and a "
                "caregiver's consent, or a best-interests decision"
            )
        for_the_child = (ConsentGiver.CAREGIVER_CONSENT, ConsentGiver.BEST_INTERESTS_DECISION)
        if giver in for_the_child and age >= self.own_consent_age:
            return f"the child is {age}: {self.who_decides(age)}; record the child's own consent"
        return None


def current_age(
    today: date,
    *,
    date_of_birth: date | None,
    estimated_age: int,
    estimated_on: date,
    assessed_adult: bool,
    adult_age: int = 18,
) -> int:
    """The child's age now: from the date of birth, else an assessment that found the child
    adult, else the estimate plus the time since it was made."""
    if date_of_birth is not None:
        return _years_between(date_of_birth, today)
    estimate = estimated_age + _years_between(estimated_on, today)
    return max(estimate, adult_age) if assessed_adult else estimate


def _years_between(start: date, end: date) -> int:
    return end.year - start.year - ((end.month, end.day) < (start.month, start.day))


@dataclass(frozen=True)
class Objection:
    """The child refused a disclosure: to these recipients (none named: any), for this
    purpose (None: any), of these categories (none named: every one)."""

    objection_id: UUID
    purpose: Purpose | None
    recipients: frozenset[str]
    categories: frozenset[DataCategory]

    def blocks(self, purpose: Purpose, agency: str, category: DataCategory) -> bool:
        return (
            (self.purpose is None or self.purpose == purpose)
            and (not self.recipients or agency in self.recipients)
            and (not self.categories or category in self.categories)
        )


@dataclass(frozen=True)
class ChildStanding:
    """What, beyond the consents, decides whether a share of a child's data may go."""

    age: int
    maturity_assessed: bool = False
    objections: tuple[Objection, ...] = field(default=())


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

    def expired(self, today: date) -> bool:
        """Past its expiry day: a consent is valid through that day."""
        return self.expires_on is not None and today > self.expires_on

    def live(self, today: date) -> bool:
        return (
            self.given_on <= today
            and not self.expired(today)
            # A withdrawal acts from the moment the service has seen it, whatever its clock.
            and self.withdrawn_at is None
        )

    def covers(
        self, case_id: UUID, purpose: Purpose, agency: str, category: DataCategory, now: datetime
    ) -> bool:
        return (
            self.case_id == case_id
            and self.purpose == purpose
            and agency in self.recipients
            and category in self.categories
            and self.live(now.date())
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    consent_ids: tuple[UUID, ...] = ()

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
    child: ChildStanding,
    table: AgeTable,
) -> Decision:
    """May ``category`` of case ``case_id`` go to ``agency`` for ``purpose`` at ``now``?"""
    barred = purpose_refusal(purpose, [category])
    if barred:
        return Decision(False, barred)
    for objection in child.objections:
        if objection.blocks(purpose, agency, category):
            return Decision(
                False,
                f"{THE_CHILDS_OBJECTION}: case {case_id} recorded objection "
                f"{objection.objection_id} to sharing '{category}' with '{agency}' for "
                f"'{purpose}'",
            )
    covering = [c for c in consents if c.covers(case_id, purpose, agency, category, now)]
    givers = {consent.given_by for consent in covering}
    if table.suffices(givers, child.age, child.maturity_assessed):
        deciding = tuple(sorted(consent.consent_id for consent in covering))
        return Decision(True, "allowed by consent " + ", ".join(map(str, deciding)), deciding)
    asked = f"purpose '{purpose}' to agency '{agency}' covering data category '{category}'"
    if not covering:
        missing = f"case {case_id} has no valid consent for {asked}"
        if purpose in PUBLICITY_PURPOSES:
            return Decision(False, f"{NO_PUBLICITY_WITHOUT_CONSENT}: {missing}")
        return Decision(False, missing)
    held = ", ".join(sorted(givers))
    return Decision(
        False,
        f"rule 'who decides by age' (age table): the child is {child.age}, so "
        f"{table.who_decides(child.age)}; case {case_id} has only {held} for {asked}",
    )


def shareable_categories(
    consents: Iterable[ConsentRecord],
    *,
    case_id: UUID,
    categories: Iterable[DataCategory],
    agency: str,
    purpose: Purpose,
    now: datetime,
    child: ChildStanding,
    table: AgeTable,
) -> dict[DataCategory, Decision]:
    """The decision for each category asked for, so a share can carry only the allowed ones."""
    held = list(consents)
    return {
        category: may_share(
            held,
            case_id=case_id,
            category=category,
            agency=agency,
            purpose=purpose,
            now=now,
            child=child,
            table=table,
        )
        for category in categories
    }
