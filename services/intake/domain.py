"""A released child's case, as the facts recorded about it (aggregate ``ChildCase``).

Vocabulary follows the Paris Principles (2007) and IDDRS 5.30: how the child left the armed
force or group, who held the child, the roles the child was used in (association "in any
capacity" counts), and the handover to civilian child-protection actors.
"""

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


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


class InvalidCaseData(ValueError):
    """A fact that cannot be true (a date in the future, a handover before the release)."""


@dataclass(frozen=True)
class Handover:
    from_actor: str
    to_agency: str
    handed_over_at: datetime


@dataclass(frozen=True)
class Registration:
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
    handover: Handover | None = None


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
        case_number: str
        how_left: str
        released_on: date
        release_place: str
        armed_group: str
        armed_group_kind: str
        roles: list[str]
        sex: str
        estimated_age: int
        registering_agency: str
        caseworker: str

    class HandedOver(Aggregate.Event):
        from_actor: str
        to_agency: str
        handed_over_at: datetime

    @event(ChildRegistered)
    def __init__(
        self,
        case_number: str,
        how_left: str,
        released_on: date,
        release_place: str,
        armed_group: str,
        armed_group_kind: str,
        roles: list[str],
        sex: str,
        estimated_age: int,
        registering_agency: str,
        caseworker: str,
    ) -> None:
        self.case_number = case_number
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
        case = cls(
            case_number=case_number,
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
