"""A released child's case, as the facts recorded about it (aggregate ``ChildCase``).

Vocabulary follows the Paris Principles (2007) and IDDRS 5.30: how the child left the armed
force or group, who held the child, the roles the child was used in (association "in any
capacity" counts), and the handover to civilian child-protection actors.
"""

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.consent import ConsentGiver, DataCategory, Purpose


class HowLeft(StrEnum):
    FORMAL_RELEASE = "formal_release"  # under an action plan or handover protocol
    ESCAPE = "escape"
    CAPTURE_OR_SURRENDER = "capture_or_surrender"
    ABANDONED_BY_GROUP = "abandoned_by_group"
    RELEASED_BY_COMMUNITY = "released_by_community"


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


class InvalidCaseData(ValueError):
    """A fact that cannot be true (a date in the future, a handover before the release)."""


class CaseRuleViolation(Exception):
    """A command that makes no sense in the case's current state."""


@dataclass(frozen=True)
class Handover:
    from_actor: str
    to_agency: str
    handed_over_at: datetime


@dataclass(frozen=True)
class Registration:
    name: str
    how_left: HowLeft
    released_on: date
    release_place: str
    armed_group: str
    armed_group_kind: ArmedGroupKind
    roles: tuple[Role, ...]
    sex: Sex
    estimated_age: int
    registering_agency: str
    caseworker: str
    date_of_birth: date | None = None
    languages: tuple[str, ...] = ()
    account: str | None = None
    handover: Handover | None = None


@dataclass(frozen=True)
class Consent:
    given_by: ConsentGiver
    purpose: Purpose
    recipients: tuple[str, ...]
    categories: tuple[DataCategory, ...]
    given_on: date
    recorded_by: str
    expires_on: date | None = None
    approved_by: str | None = None


def age_band(age: int) -> str:
    """The band used in statistics, where an exact age could point at one child."""
    if age < 10:
        return "under-10"
    if age < 15:
        return "10-14"
    if age < 18:
        return "15-17"
    return "18-plus"


class ChildCase(Aggregate):
    class ChildRegistered(Aggregate.Created):
        personal_fields: ClassVar = ("name", "date_of_birth", "release_place", "account")
        case_number: str
        name: str
        date_of_birth: str | None
        how_left: str
        released_on: date
        release_place: str
        armed_group: str
        armed_group_kind: str
        roles: list[str]
        sex: str
        estimated_age: int
        languages: list[str]
        registering_agency: str
        caseworker: str
        account: str | None

    class HandedOver(Aggregate.Event):
        from_actor: str
        to_agency: str
        handed_over_at: datetime

    class ConsentGiven(Aggregate.Event):
        consent_id: UUID
        given_by: str
        purpose: str
        recipients: list[str]
        categories: list[str]
        given_on: date
        expires_on: date | None
        recorded_by: str
        approved_by: str | None

    class ConsentWithdrawn(Aggregate.Event):
        consent_id: UUID
        recorded_by: str

    class CaseErased(Aggregate.Event):
        """Carries no personal data: the case's key is destroyed when this is recorded."""

        reason: str
        requested_by: str

    @event(ChildRegistered)
    def __init__(
        self,
        case_number: str,
        name: str,
        date_of_birth: str | None,
        how_left: str,
        released_on: date,
        release_place: str,
        armed_group: str,
        armed_group_kind: str,
        roles: list[str],
        sex: str,
        estimated_age: int,
        languages: list[str],
        registering_agency: str,
        caseworker: str,
        account: str | None,
    ) -> None:
        self.case_number = case_number
        self.name = name
        self.date_of_birth = date_of_birth
        self.languages = languages
        self.account = account
        self.consents: dict[UUID, Consent] = {}
        self.withdrawn_consents: set[UUID] = set()
        self.erased = False
        self.how_left = how_left
        self.released_on = released_on
        self.release_place = release_place
        self.armed_group = armed_group
        self.armed_group_kind = armed_group_kind
        self.roles = roles
        self.sex = sex
        self.estimated_age = estimated_age
        self.registering_agency = registering_agency
        self.caseworker = caseworker
        self.handover: Handover | None = None

    @classmethod
    def register(cls, registration: Registration, case_number: str, now: datetime) -> "ChildCase":
        if registration.released_on > now.date():
            raise InvalidCaseData("release.date is in the future")
        born = registration.date_of_birth
        if born is not None and born > registration.released_on:
            raise InvalidCaseData("date_of_birth is after the release date")
        case = cls(
            case_number=case_number,
            name=registration.name,
            date_of_birth=None if born is None else born.isoformat(),
            languages=list(registration.languages),
            account=registration.account,
            how_left=registration.how_left.value,
            released_on=registration.released_on,
            release_place=registration.release_place,
            armed_group=registration.armed_group,
            armed_group_kind=registration.armed_group_kind.value,
            roles=[role.value for role in registration.roles],
            sex=registration.sex.value,
            estimated_age=registration.estimated_age,
            registering_agency=registration.registering_agency,
            caseworker=registration.caseworker,
        )
        if registration.handover is not None:
            case.hand_over(registration.handover, now)
        return case

    def hand_over(self, handover: Handover, now: datetime) -> None:
        self._refuse_if_erased()
        if handover.handed_over_at > now:
            raise InvalidCaseData("handover.at is in the future")
        if handover.handed_over_at.date() < self.released_on:
            raise InvalidCaseData("handover.at is before the release date")
        self._record_handover(
            from_actor=handover.from_actor,
            to_agency=handover.to_agency,
            handed_over_at=handover.handed_over_at,
        )

    @event(HandedOver)
    def _record_handover(self, from_actor: str, to_agency: str, handed_over_at: datetime) -> None:
        self.handover = Handover(from_actor, to_agency, handed_over_at)

    def give_consent(self, consent: Consent, consent_id: UUID, now: datetime) -> None:
        self._refuse_if_erased()
        if consent.given_on > now.date():
            raise InvalidCaseData("given_on is in the future")
        if consent.expires_on is not None and consent.expires_on < consent.given_on:
            raise InvalidCaseData("expires_on is before given_on")
        if consent.given_by == ConsentGiver.BEST_INTERESTS_DECISION and not consent.approved_by:
            raise InvalidCaseData(
                "a best-interests decision needs the approving supervisor (approved_by)"
            )
        self._record_consent(
            consent_id=consent_id,
            given_by=consent.given_by.value,
            purpose=consent.purpose.value,
            recipients=list(consent.recipients),
            categories=[category.value for category in consent.categories],
            given_on=consent.given_on,
            expires_on=consent.expires_on,
            recorded_by=consent.recorded_by,
            approved_by=consent.approved_by,
        )

    @event(ConsentGiven)
    def _record_consent(
        self,
        consent_id: UUID,
        given_by: str,
        purpose: str,
        recipients: list[str],
        categories: list[str],
        given_on: date,
        expires_on: date | None,
        recorded_by: str,
        approved_by: str | None,
    ) -> None:
        self.consents[consent_id] = Consent(
            given_by=ConsentGiver(given_by),
            purpose=Purpose(purpose),
            recipients=tuple(recipients),
            categories=tuple(DataCategory(category) for category in categories),
            given_on=given_on,
            recorded_by=recorded_by,
            expires_on=expires_on,
            approved_by=approved_by,
        )

    def withdraw_consent(self, consent_id: UUID, recorded_by: str) -> None:
        self._refuse_if_erased()
        if consent_id not in self.consents:
            raise CaseRuleViolation(f"case {self.id} has no consent {consent_id}")
        if consent_id in self.withdrawn_consents:
            raise CaseRuleViolation(f"consent {consent_id} was already withdrawn")
        self._record_withdrawal(consent_id=consent_id, recorded_by=recorded_by)

    @event(ConsentWithdrawn)
    def _record_withdrawal(self, consent_id: UUID, recorded_by: str) -> None:
        self.withdrawn_consents.add(consent_id)

    def erase(self, reason: ErasureReason, requested_by: str) -> None:
        self._refuse_if_erased()
        self._record_erasure(reason=reason.value, requested_by=requested_by)

    @event(CaseErased)
    def _record_erasure(self, reason: str, requested_by: str) -> None:
        self.erased = True

    def _refuse_if_erased(self) -> None:
        if self.erased:
            raise CaseRuleViolation(f"case {self.id} is erased: nothing more can be recorded")


class AgencyCaseCounter(Aggregate):
    """Issues an agency's case numbers for one year, so that no two cases share one: the
    counter is saved with the new case, and a concurrent registration conflicts and retries."""

    class CaseNumberIssued(Aggregate.Event):
        pass

    def __init__(self, agency: str, year: int) -> None:
        self.agency = agency
        self.year = year
        self.issued = 0

    @staticmethod
    def create_id(agency: str, year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"homeward:intake:case-numbers/{agency}/{year}")

    def next_case_number(self) -> str:
        self._issue()
        return f"{self.agency}-{self.year}-{self.issued:05d}"

    @event(CaseNumberIssued)
    def _issue(self) -> None:
        self.issued += 1
