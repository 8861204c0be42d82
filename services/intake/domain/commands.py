"""The values the case's commands take; several are kept as the case's state as they are."""

from dataclasses import dataclass, field
from datetime import date, datetime

from services.intake.domain.vocabulary import (
    Acceptance,
    AgeMethod,
    AgeResult,
    AlternativeCareKind,
    ArmedGroupKind,
    BestInterestsGrounds,
    CareKind,
    HowLeft,
    Likelihood,
    NeedArea,
    NotePurpose,
    PlanArea,
    ProtectionFlag,
    Relationship,
    RiskLevel,
    Role,
    Sex,
)
from shared.consent import ConsentGiver, DataCategory, Purpose
from shared.protections import Displacement


@dataclass(frozen=True)
class Handover:
    from_actor: str
    to_agency: str
    handed_over_at: datetime
    protocol: str | None = None  # the handover protocol or action plan it happened under
    custody_hours: int | None = None  # held by a military or security actor, as reported


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
    handover: Handover | None = None
    nationality: str | None = None
    displacement: Displacement | None = None
    separated_from_adults: bool | None = None  # None: not known
    notes: dict[NotePurpose, str] = field(default_factory=dict)  # short, one per purpose
    needs: "NeedsAssessment | None" = None  # recorded with the registration


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
    best_interests: "BestInterests | None" = None


@dataclass(frozen=True)
class BestInterests:
    """Why a best-interests decision stands in for a caregiver's consent, in writing."""

    grounds: BestInterestsGrounds
    reason: str


@dataclass(frozen=True)
class MaturityAssessment:
    """Whether the child is mature enough to consent alone (asked between 12 and 14)."""

    mature: bool
    assessed_by: str
    assessed_on: date
    notes: str | None = None


@dataclass(frozen=True)
class DisclosureRefusal:
    """The child refused a disclosure: none named means any purpose, recipient or category."""

    purpose: Purpose | None
    recipients: tuple[str, ...]
    categories: tuple[DataCategory, ...]
    recorded_by: str
    refused_on: date


@dataclass(frozen=True)
class AgeAssessment:
    method: AgeMethod
    result: AgeResult
    assessed_by: str
    assessed_on: date
    notes: str | None = None


@dataclass(frozen=True)
class Placement:
    kind: CareKind
    carer: str  # who: a centre's, foster family's or relative's name, personal
    entered_on: date
    placed_by: str
    address: str | None = None
    planned_end_on: date | None = None


@dataclass(frozen=True)
class Dependant:
    """A child mother's own child, a dependant of her case (personal as a whole)."""

    name: str
    sex: Sex
    date_of_birth: date | None = None

    def as_json(self) -> dict[str, str | None]:
        born = None if self.date_of_birth is None else self.date_of_birth.isoformat()
        return {"name": self.name, "sex": self.sex.value, "date_of_birth": born}


@dataclass(frozen=True)
class NeedsAssessment:
    needs: tuple[NeedArea, ...]
    flags: tuple[ProtectionFlag, ...]
    assessed_by: str
    assessed_on: date
    dependants: tuple[Dependant, ...] = ()
    sexual_violence_survivor: bool = False
    sexual_violence_details: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class RiskAssessment:
    level: RiskLevel
    reason: str
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class TracingRequest:
    tracing_agency: str
    started_by: str
    started_on: date
    sought: str  # who the child is looking for, in the child's words: personal
    last_known_place: str | None = None


@dataclass(frozen=True)
class FamilyFound:
    relationship: Relationship
    family_members: tuple[str, ...]
    whereabouts: str
    located_on: date
    relationship_verified: bool
    recorded_by: str
    phone: str | None = None


@dataclass(frozen=True)
class ChildOfMother:
    """A child mother's child, to be registered as a case of its own linked to hers."""

    name: str
    sex: Sex
    date_of_birth: date | None = None
    estimated_age: int | None = None


@dataclass(frozen=True)
class ReturnCheckRecord:
    community_acceptance: Acceptance
    re_recruitment_risk: Likelihood
    checked_by: str
    checked_on: date
    notes: str | None = None


@dataclass(frozen=True)
class FamilyAssessment:
    """The best-interests check before any return: the family willing, able and safe, and
    the child willing too."""

    willing: bool
    able: bool
    safe: bool
    child_willing: bool
    assessed_by: str
    assessed_on: date
    notes: str | None = None

    @property
    def suitable(self) -> bool:
        return self.willing and self.able and self.safe and self.child_willing


@dataclass(frozen=True)
class AlternativeCare:
    kind: AlternativeCareKind
    carer: str  # the foster family's or relative's identity: personal
    arranged_on: date
    arranged_by: str
    address: str | None = None


@dataclass(frozen=True)
class CasePlan:
    goals: dict[PlanArea, str]  # free text per area: personal
    child_participated: bool
    agreed_on: date
    agreed_by: str
    child_views: str | None = None
