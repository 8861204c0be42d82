"""A released child's case, as the facts recorded about it (aggregate ``ChildCase``).

Each fact is an event class that declares its fields once and says, in ``apply``, how it
changes the case; each command checks the rules, then triggers one fact.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.intake.domain.commands import (
    AgeAssessment,
    AlternativeCare,
    BestInterests,
    CasePlan,
    ChildOfMother,
    Consent,
    DisclosureRefusal,
    FamilyAssessment,
    FamilyFound,
    Handover,
    MaturityAssessment,
    NeedsAssessment,
    Placement,
    Registration,
    ReturnCheckRecord,
    RiskAssessment,
    TracingRequest,
)
from services.intake.domain.errors import CaseRuleViolation, ConsentMissing, InvalidCaseData
from services.intake.domain.vocabulary import (
    LEGACY_ACCOUNT_NOTE,
    NOT_INTERIM_CARE,
    AgeMethod,
    AgeResult,
    AlternativeCareKind,
    ArmedGroupKind,
    BestInterestsGrounds,
    BreakdownReason,
    CareExit,
    ClosureReason,
    DetentionOutcome,
    ErasureReason,
    HowLeft,
    LeadSource,
    Likelihood,
    LinkRelation,
    NeedArea,
    PlanArea,
    ProtectionFlag,
    RiskLevel,
    Route,
    Stage,
    TracingFailure,
    VerifiedWith,
    stage_of,
    start_of_day,
)
from shared.consent import (
    AgeTable,
    ChildStanding,
    ConsentGiver,
    ConsentRecord,
    DataCategory,
    Objection,
    Purpose,
    current_age,
    may_share,
    purpose_refusal,
)
from shared.crypto import ERASED
from shared.privacy import ErasableEvent
from shared.protections import Displacement

# Supervised independent living is for older adolescents only.
INDEPENDENT_LIVING_MIN_AGE = 16
# The registered facts a correction may change: who the child is, not what happened.
CORRECTABLE = frozenset(
    {
        "name",
        "date_of_birth",
        "sex",
        "estimated_age",
        "languages",
        "nationality",
        "displacement",
        "release_place",
    }
)
# What tracing shares with the tracing agency: who the child is, and who the family is.
TRACING_CATEGORIES = (DataCategory.IDENTITY, DataCategory.FAMILY)


@dataclass(frozen=True)
class PlacementState:
    """The latest interim care placement; personal details stay in the events."""

    kind: str
    entered_on: date
    extended_until: date | None = None
    left_on: date | None = None
    exit_reason: str | None = None

    @property
    def current(self) -> bool:
        return self.left_on is None

    @property
    def interim_care(self) -> bool:
        """Whether the stay counts against the interim-care limit: not a direct return that
        an earlier version recorded as a placement."""
        return self.kind not in NOT_INTERIM_CARE


@dataclass(frozen=True)
class TracingState:
    open: bool
    started_on: date
    tracing_agency: str
    consent_id: UUID
    leads: int = 0
    family_located_on: date | None = None
    relationship: str | None = None
    assessment: FamilyAssessment | None = None
    outcome: str | None = None  # reunified, or why it closed unsuccessfully
    # The safeguards before a return, all about the family located last.
    verified_with: frozenset[str] = frozenset()
    return_checked: "ReturnCheck | None" = None
    return_approved_by: str | None = None


@dataclass(frozen=True)
class Detention:
    """One detention episode; the place and the detaining authority stay in the events."""

    started_on: date
    legal_aid_provider: str
    ended_on: date | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class ClosureRequest:
    reason: ClosureReason
    notes: str | None
    requested_by: str
    requested_on: date


@dataclass(frozen=True)
class ReturnCheck:
    community_acceptance: str
    re_recruitment_risk: str


class ChildCase(Aggregate):
    class Event(ErasableEvent, Aggregate.Event):
        """A fact about the case itself: the case's key seals it. The library rebases every
        event class declared in ``ChildCase`` on this one, so each is erasable."""

        is_the_case: ClassVar = True

        def note_erased_fact(self, aggregate: Any) -> None:
            aggregate.stage_as_recorded = getattr(self, "stage", aggregate.stage_as_recorded)

    class ChildRegistered(Aggregate.Created):
        """A child released from an armed force or group was registered by a
        child-protection agency."""

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
        nationality: str | None  # ISO 3166-1 alpha-2
        displacement: str | None
        separated_from_adults: bool | None  # None: not known
        notes: dict[str, str]  # a NotePurpose (or LEGACY_ACCOUNT_NOTE) -> a short note

        # v2: the free-text account gave way to short notes per purpose (the case agency's
        # own, never shared), and whether the child was separated from adults is recorded.
        class_version: ClassVar = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A v1 registration knew nothing of separation from adults; its account, if the
            child gave one, stays readable to the case agency as a note of its own."""
            account = state.pop("account")
            state["separated_from_adults"] = None
            if account == ERASED:
                state["notes"] = ERASED
            else:
                state["notes"] = {} if account is None else {LEGACY_ACCOUNT_NOTE: account}

        def apply(self, case: "ChildCase") -> None:
            case.case_number = self.case_number
            case.name = self.name
            case.date_of_birth = self.date_of_birth
            case.how_left = self.how_left
            case.released_on = self.released_on
            case.release_place = self.release_place
            case.armed_group = self.armed_group
            case.armed_group_kind = self.armed_group_kind
            case.roles = self.roles
            case.sex = self.sex
            case.estimated_age = self.estimated_age
            case.languages = self.languages
            case.registering_agency = self.registering_agency
            case.caseworker = self.caseworker
            case.nationality = self.nationality
            case.displacement = self.displacement
            case.separated_from_adults = self.separated_from_adults
            case.notes = self.notes
            # Read after its key was destroyed, even at a version before its erasure was
            # recorded, the case holds nothing personal any more: it reads as erased.
            case.erased = self.name == ERASED

    class HandedOver(Aggregate.Event):
        """Custody passed from a military or armed actor to a child-protection agency."""

        from_actor: str
        to_agency: str
        handed_over_at: datetime
        protocol: str | None
        custody_hours: int | None

        # v2: the protocol the handover happened under, and the hours in custody.
        class_version: ClassVar = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A v1 handover said neither: both not known."""
            state["protocol"] = None
            state["custody_hours"] = None

        def apply(self, case: "ChildCase") -> None:
            case.handover = Handover(
                self.from_actor,
                self.to_agency,
                self.handed_over_at,
                self.protocol,
                self.custody_hours,
            )

    class ConsentGiven(Aggregate.Event):
        """Consent or assent was given for one purpose, to named agencies, for some data."""

        consent_id: UUID
        given_by: str
        purpose: str
        recipients: list[str]
        categories: list[str]
        given_on: date
        expires_on: date | None
        recorded_by: str
        approved_by: str | None

        def apply(self, case: "ChildCase") -> None:
            case.consents[self.consent_id] = Consent(
                given_by=ConsentGiver(self.given_by),
                purpose=Purpose(self.purpose),
                recipients=tuple(self.recipients),
                categories=tuple(DataCategory(category) for category in self.categories),
                given_on=self.given_on,
                recorded_by=self.recorded_by,
                expires_on=self.expires_on,
                approved_by=self.approved_by,
                best_interests=case.best_interests.get(self.consent_id),
            )

    class BestInterestsDecided(Aggregate.Event):
        """No caregiver could be reached, or the caregiver is a source of harm: a decision in
        the child's best interests, written and approved by a supervisor who did not propose
        it, stands in for a caregiver's consent (the ``ConsentGiven`` that follows)."""

        consent_id: UUID
        grounds: str
        reason: str
        proposed_by: str
        approved_by: str

        def apply(self, case: "ChildCase") -> None:
            case.best_interests[self.consent_id] = BestInterests(
                BestInterestsGrounds(self.grounds), self.reason
            )

    class MaturityAssessed(Aggregate.Event):
        """Whether the child is mature enough to consent alone was assessed; the latest
        assessment counts."""

        mature: bool
        assessed_by: str
        assessed_on: date
        notes: str | None

        def apply(self, case: "ChildCase") -> None:
            case.maturity_assessed = self.mature

    class DisclosureRefused(Aggregate.Event):
        """The child refused a disclosure: it is blocked whatever consent was given."""

        refusal_id: UUID
        purpose: str | None
        recipients: list[str]
        categories: list[str]
        recorded_by: str
        refused_on: date

        def apply(self, case: "ChildCase") -> None:
            case.objections.append(
                Objection(
                    objection_id=self.refusal_id,
                    purpose=None if self.purpose is None else Purpose(self.purpose),
                    recipients=frozenset(self.recipients),
                    categories=frozenset(DataCategory(c) for c in self.categories),
                )
            )

    class FieldCorrected(Aggregate.Event):
        """A registered fact was wrong and is corrected from now on; the fact it corrects stays
        in the history beside this one."""

        field: str
        value: Any
        reason: str
        corrected_by: str

        def apply(self, case: "ChildCase") -> None:
            setattr(case, self.field, self.value)

    class ConsentWithdrawn(Aggregate.Event):
        """A consent was withdrawn: from now on it allows no share."""

        consent_id: UUID
        recorded_by: str

        def apply(self, case: "ChildCase") -> None:
            case.withdrawn_consents.add(self.consent_id)

    class CaseErased(Aggregate.Event):
        """The case's personal data was erased: its key is destroyed once this is recorded.
        All in clear, so that it reaches every service after the key is gone."""

        erasure_reason: str
        requested_by: str

        def apply(self, case: "ChildCase") -> None:
            case.erased = True

    # The journey. Every event below carries the stage the case reached with it (in clear:
    # statistics-safe); its other fields are sealed with the case's key.

    class AgeAssessed(Aggregate.Event):
        """The child's age was assessed; an adult result moves the case to the adult pathway."""

        method: str
        result: str
        assessed_by: str
        assessed_on: date
        notes: str | None
        route: str
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.age_assessments.append(
                AgeAssessment(
                    AgeMethod(self.method),
                    AgeResult(self.result),
                    self.assessed_by,
                    self.assessed_on,
                    self.notes,
                )
            )
            case.route = Route(self.route)

    class InterimCarePlaced(Aggregate.Event):
        """The child was placed in interim care."""

        kind: str
        carer: str
        address: str | None
        entered_on: date
        planned_end_on: date | None
        placed_by: str
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.placement = PlacementState(kind=self.kind, entered_on=self.entered_on)

    class InterimCareExtended(Aggregate.Event):
        """Interim care was extended beyond its limit, with a reason and an approver."""

        until: date
        reason: str
        approved_by: str
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.placement is not None
            case.placement = replace(case.placement, extended_until=self.until)

    class InterimCareEnded(Aggregate.Event):
        """The child left interim care."""

        left_on: date
        exit_reason: str
        recorded_by: str
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.placement is not None
            case.placement = replace(
                case.placement, left_on=self.left_on, exit_reason=self.exit_reason
            )

    class NeedsAssessed(Aggregate.Event):
        """The child's needs and protection flags were assessed."""

        # ``sexual_violence`` is always given (survivor or not), so that its presence on a
        # topic or in a store says nothing: only the case's key tells.
        needs: list[str]
        flags: list[str]
        dependants_count: int
        dependants: list[dict[str, Any]]
        sexual_violence: dict[str, Any]
        assessed_by: str
        assessed_on: date
        notes: str | None
        stage: str

        def apply(self, case: "ChildCase") -> None:
            # The latest assessment stands; personal values are kept as they come (an erased
            # case's read "[erased]").
            case.needs = list(self.needs)
            case.protection_flags = list(self.flags)
            case.dependants = self.dependants

    class RiskLevelSet(Aggregate.Event):
        """The case's risk level was set; its response deadline follows from it."""

        level: str
        reason: str
        set_by: str
        set_at: datetime
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.risk = RiskAssessment(RiskLevel(self.level), self.reason, self.set_by, self.set_at)
            case.risk_responded_at = None

    class RiskResponded(Aggregate.Event):
        """Something was done about the case's risk."""

        action: str
        responded_by: str
        responded_at: datetime
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.risk_responded_at = self.responded_at

    class TracingStarted(Aggregate.Event):
        """Family tracing started, under a consent for tracing."""

        tracing_agency: str
        consent_id: UUID
        sought: str
        last_known_place: str | None
        started_by: str
        started_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.tracing = TracingState(
                open=True,
                started_on=self.started_on,
                tracing_agency=self.tracing_agency,
                consent_id=self.consent_id,
            )

    class TracingLeadRecorded(Aggregate.Event):
        """A tracing lead was recorded."""

        source: str
        lead: str
        recorded_by: str
        recorded_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.tracing is not None
            case.tracing = replace(case.tracing, leads=case.tracing.leads + 1)

    class FamilyLocated(Aggregate.Event):
        """The child's family was located."""

        relationship: str
        family_members: list[str]
        whereabouts: str
        phone: str | None
        relationship_verified: bool
        recorded_by: str
        located_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.tracing is not None
            case.tracing = replace(
                case.tracing,
                family_located_on=self.located_on,
                relationship=self.relationship,
                assessment=None,
                verified_with=frozenset(),
                return_checked=None,
                return_approved_by=None,
            )

    class FamilyAssessed(Aggregate.Event):
        """The family was assessed before any return: willing, able, safe; the child willing."""

        willing: bool
        able: bool
        safe: bool
        child_willing: bool
        assessed_by: str
        assessed_on: date
        notes: str | None
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.tracing is not None
            assessment = FamilyAssessment(
                self.willing,
                self.able,
                self.safe,
                self.child_willing,
                self.assessed_by,
                self.assessed_on,
                self.notes,
            )
            # An approval approved the assessment it followed: a new one needs its own.
            case.tracing = replace(case.tracing, assessment=assessment, return_approved_by=None)

    class RelationshipVerified(Aggregate.Event):
        """The relationship with the family located was confirmed by the child, or by the
        family, each asked apart."""

        verified_with: str
        verified_by: str
        verified_on: date
        notes: str | None
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.tracing is not None
            case.tracing = replace(
                case.tracing, verified_with=case.tracing.verified_with | {self.verified_with}
            )

    class ReturnChecked(Aggregate.Event):
        """Before a return: how the community would receive the child, and how likely the
        child is to be recruited again there."""

        community_acceptance: str
        re_recruitment_risk: str
        checked_by: str
        checked_on: date
        notes: str | None
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.tracing is not None
            check = ReturnCheck(self.community_acceptance, self.re_recruitment_risk)
            case.tracing = replace(case.tracing, return_checked=check)

    class ReturnApproved(Aggregate.Event):
        """A supervisor who is not the caseworker found the return in the child's best
        interests, for the reason written here."""

        reason: str
        proposed_by: str
        approved_by: str
        approved_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.tracing is not None
            case.tracing = replace(case.tracing, return_approved_by=self.approved_by)

    class Reunified(Aggregate.Event):
        """The child was reunified with the family."""

        address: str | None
        recorded_by: str
        reunified_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.tracing is not None
            case.tracing = replace(case.tracing, open=False, outcome="reunified")
            case.reunified_on = self.reunified_on

    class CaseLinked(Aggregate.Event):
        """This case and another were linked: a child mother's and her child's, each a case
        of its own (erasing one leaves the other)."""

        linked_case_id: UUID
        relation: str
        linked_by: str

        def apply(self, case: "ChildCase") -> None:
            case.links[self.linked_case_id] = LinkRelation(self.relation)

    class CaseUnlinked(Aggregate.Event):
        """A link recorded in error was removed; the history keeps both."""

        linked_case_id: UUID
        reason: str
        unlinked_by: str

        def apply(self, case: "ChildCase") -> None:
            case.links.pop(self.linked_case_id, None)

    class DetentionStarted(Aggregate.Event):
        """The child was detained (children are victims first: Paris Commitments 10-11); a
        legal aid provider is named from the start. Nothing here asks what the child knows."""

        place: str
        detaining_authority: str
        started_on: date
        legal_aid_provider: str
        recorded_by: str
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.detention = Detention(self.started_on, self.legal_aid_provider)
            case.detentions.append(case.detention)

    class DetentionEnded(Aggregate.Event):
        """The child left detention, with the outcome."""

        ended_on: date
        outcome: str
        recorded_by: str
        stage: str

        def apply(self, case: "ChildCase") -> None:
            # The episode stays on the case with its outcome: legal follow-up needs it.
            case.detentions[-1] = replace(
                case.detentions[-1], ended_on=self.ended_on, outcome=self.outcome
            )
            case.detention = None

    class ReunificationBrokeDown(Aggregate.Event):
        """The child no longer lives with the family reunified with: the path to interim
        care, alternative care or new tracing opens again; the history keeps both."""

        reason: str
        broke_down_on: date
        notes: str | None
        recorded_by: str
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.reunified_on = None
            case.reunification_breakdowns += 1
            # Follow-up's recommendation judged the home the child left: it lapses, and the
            # message it came in is never taken for a new one.
            if case.closure_recommendation is not None:
                case.lapsed_recommendations.add(case.closure_recommendation[1])
                case.closure_recommendation = None

    class AlternativeCareArranged(Aggregate.Event):
        """The child was placed in alternative care."""

        kind: str
        carer: str
        address: str | None
        arranged_by: str
        arranged_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.alternative_care = AlternativeCare(
                AlternativeCareKind(self.kind),
                self.carer,
                self.arranged_on,
                self.arranged_by,
                self.address,
            )

    class TracingClosedUnsuccessful(Aggregate.Event):
        """Tracing was closed without a reunification."""

        reason: str
        notes: str | None
        closed_by: str
        closed_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            assert case.tracing is not None
            case.tracing = replace(case.tracing, open=False, outcome=self.reason)

    class CaseAssigned(Aggregate.Event):
        """The case was assigned to another caseworker."""

        caseworker: str
        assigned_by: str
        assigned_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.caseworker = self.caseworker

    class CasePlanAgreed(Aggregate.Event):
        """A case plan was agreed with the child."""

        goal_areas: list[str]
        goals: dict[str, str]
        child_participated: bool
        child_views: str | None
        agreed_by: str
        agreed_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            # Goals are kept as recorded (area names as text; "[erased]" once erased).
            case.plan = CasePlan(
                self.goals,  # type: ignore[arg-type]
                self.child_participated,
                self.agreed_on,
                self.agreed_by,
                self.child_views,
            )
            case.plan_reviewed_on = self.agreed_on

    class CasePlanReviewed(Aggregate.Event):
        """The case plan was reviewed with the child; the next review falls due from here."""

        reviewed_by: str
        reviewed_on: date
        notes: str | None
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.plan_reviewed_on = self.reviewed_on

    class FollowUpRecommendedClosure(Aggregate.Event):
        """Follow-up found the reintegration stable and recommends closing the case: the
        caseworker decides, and asks for closure."""

        because: str
        message_id: str  # the follow-up message it came in: applied once
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.closure_recommendation = (self.because, self.message_id)

    class ClosureRequested(Aggregate.Event):
        """The caseworker asked to close the case, with a reason; a supervisor decides."""

        reason: str
        notes: str | None
        requested_by: str
        requested_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.closure_requested = ClosureRequest(
                ClosureReason(self.reason), self.notes, self.requested_by, self.requested_on
            )

    class CaseClosed(Aggregate.Event):
        """The case was closed."""

        reason: str
        notes: str | None
        closed_by: str
        closed_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.closed = (self.reason, self.closed_on)
            case.closure_requested = None

    class CaseReopened(Aggregate.Event):
        """A closed case was reopened."""

        reason: str
        reopened_by: str
        reopened_on: date
        stage: str

        def apply(self, case: "ChildCase") -> None:
            case.closed = None

    def __init__(self) -> None:
        # What registration records, given by ``ChildRegistered.apply``; declared here for
        # the type checker.
        self.case_number: str
        self.name: str
        self.date_of_birth: str | None
        self.how_left: str
        self.released_on: date
        self.release_place: str
        self.armed_group: str
        self.armed_group_kind: str
        self.roles: list[str]
        self.sex: str
        self.estimated_age: int
        self.languages: list[str]
        self.registering_agency: str
        self.caseworker: str
        self.nationality: str | None
        self.displacement: str | None
        self.separated_from_adults: bool | None
        self.notes: dict[str, str] | str  # "[erased]" once erased
        # The rest of the journey: nothing yet.
        self.consents: dict[UUID, Consent] = {}
        self.withdrawn_consents: set[UUID] = set()
        self.best_interests: dict[UUID, BestInterests] = {}
        self.maturity_assessed = False
        self.objections: list[Objection] = []
        self.erased = False
        self.stage_as_recorded: str | None = None
        self.handover: Handover | None = None
        self.route = Route.CHILD_PROTECTION
        self.age_assessments: list[AgeAssessment] = []
        self.placement: PlacementState | None = None
        self.needs: list[str] = []
        self.protection_flags: list[str] = []
        self.dependants: list[dict[str, Any]] | str = []
        self.risk: RiskAssessment | None = None
        self.risk_responded_at: datetime | None = None
        self.tracing: TracingState | None = None
        self.reunified_on: date | None = None
        self.reunification_breakdowns = 0
        self.detention: Detention | None = None  # while detained
        self.detentions: list[Detention] = []  # every episode, the latest last
        self.links: dict[UUID, LinkRelation] = {}
        self.alternative_care: AlternativeCare | None = None
        self.plan: CasePlan | None = None
        self.closed: tuple[str, date] | None = None  # reason and day, while closed
        self.closure_requested: ClosureRequest | None = None
        self.plan_reviewed_on: date | None = None
        self.closure_recommendation: tuple[str, str] | None = None  # why, and its message
        self.lapsed_recommendations: set[str] = set()  # their messages

    @classmethod
    def register(
        cls,
        registration: Registration,
        case_number: str,
        now: datetime,
        case_id: UUID | None = None,
    ) -> "ChildCase":
        """``case_id``: None for a new random one."""
        if registration.released_on > now.date():
            raise InvalidCaseData("release.date is in the future")
        born = registration.date_of_birth
        if born is not None and born > registration.released_on:
            raise InvalidCaseData("date_of_birth is after the release date")
        case = cls._create(
            cls.ChildRegistered,
            id=case_id,
            case_number=case_number,
            name=registration.name,
            date_of_birth=None if born is None else born.isoformat(),
            languages=list(registration.languages),
            notes={purpose.value: note for purpose, note in registration.notes.items()},
            separated_from_adults=registration.separated_from_adults,
            nationality=registration.nationality,
            displacement=None
            if registration.displacement is None
            else registration.displacement.value,
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
        if registration.needs is not None:
            case.assess_needs(registration.needs, now)
        return case

    def hand_over(self, handover: Handover, now: datetime) -> None:
        self._may_hand_over()
        if handover.handed_over_at > now:
            raise InvalidCaseData("handover.at is in the future")
        if handover.handed_over_at.date() < self.released_on:
            raise InvalidCaseData("handover.at is before the release date")
        # The release is known by its day: it counts from the day's start, as the handover
        # deadline does (Programme.handover_due), so custody can last no longer than that.
        since_release = handover.handed_over_at - start_of_day(self.released_on)
        hours_since_release = int(since_release.total_seconds() // 3600)
        if handover.custody_hours is not None and handover.custody_hours > hours_since_release:
            raise InvalidCaseData(
                f"handover.custody_hours: {handover.custody_hours} hours in custody is more "
                f"than the {hours_since_release} hours from the release day to the handover"
            )
        self.trigger_event(
            self.HandedOver,
            from_actor=handover.from_actor,
            to_agency=handover.to_agency,
            handed_over_at=handover.handed_over_at,
            protocol=handover.protocol,
            custody_hours=handover.custody_hours,
        )

    def give_consent(
        self, consent: Consent, consent_id: UUID, now: datetime, table: AgeTable
    ) -> None:
        self._refuse_if_erased()
        if consent.given_on > now.date():
            raise InvalidCaseData("given_on is in the future")
        if consent.expires_on is not None and consent.expires_on < consent.given_on:
            raise InvalidCaseData("expires_on is before given_on")
        barred = purpose_refusal(consent.purpose, consent.categories)
        if barred:
            raise CaseRuleViolation(f"consent refused: {barred}")
        deciding = consent.given_by == ConsentGiver.BEST_INTERESTS_DECISION
        if deciding and (not consent.approved_by or consent.best_interests is None):
            raise InvalidCaseData(
                "a best-interests decision needs its grounds, a written reason and the "
                "approving supervisor"
            )
        refused = table.may_give(consent.given_by, self.age(now, table), self.maturity_assessed)
        if refused:
            raise InvalidCaseData(f"given_by: {refused}")
        if deciding and consent.best_interests is not None and consent.approved_by:
            self.trigger_event(
                self.BestInterestsDecided,
                consent_id=consent_id,
                grounds=consent.best_interests.grounds.value,
                reason=consent.best_interests.reason,
                proposed_by=consent.recorded_by,
                approved_by=consent.approved_by,
            )
        self.trigger_event(
            self.ConsentGiven,
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

    def assess_maturity(self, assessment: MaturityAssessment, now: datetime) -> None:
        self._refuse_if_erased()
        self._check_day(assessment.assessed_on, "assessed_on", now)
        self.trigger_event(
            self.MaturityAssessed,
            mature=assessment.mature,
            assessed_by=assessment.assessed_by,
            assessed_on=assessment.assessed_on,
            notes=assessment.notes,
        )

    def refuse_disclosure(
        self, refusal: DisclosureRefusal, refusal_id: UUID, now: datetime
    ) -> None:
        self._refuse_if_erased()
        self._check_day(refusal.refused_on, "refused_on", now)
        self.trigger_event(
            self.DisclosureRefused,
            refusal_id=refusal_id,
            purpose=None if refusal.purpose is None else refusal.purpose.value,
            recipients=list(refusal.recipients),
            categories=[category.value for category in refusal.categories],
            recorded_by=refusal.recorded_by,
            refused_on=refusal.refused_on,
        )

    def age(self, now: datetime, table: AgeTable) -> int:
        """The child's age now: the date of birth, else an assessment finding the child
        adult, else the estimate plus the years since the release it describes (recorded in
        the case itself, unlike the moment of registration, which is the recorder's clock)."""
        latest = self.age_assessments[-1] if self.age_assessments else None
        return current_age(
            now.date(),
            date_of_birth=None
            if self.date_of_birth is None
            else date.fromisoformat(self.date_of_birth),
            estimated_age=self.estimated_age,
            estimated_on=self.released_on,
            assessed_adult=latest is not None and latest.result == AgeResult.EIGHTEEN_OR_OVER,
            adult_age=table.adult_age,
        )

    def standing(self, now: datetime, table: AgeTable) -> ChildStanding:
        return ChildStanding(
            age=self.age(now, table),
            maturity_assessed=self.maturity_assessed,
            objections=tuple(self.objections),
        )

    def consents_to_renew(self, now: datetime, table: AgeTable) -> list[UUID]:
        """Live consents given for the child that the child's age no longer lets stand
        alone (a caregiver's at 15, anyone's but the young person's at 18), where the child
        has not given their own for the same purpose and recipients."""
        age = self.age(now, table)
        if age < table.own_consent_age:
            return []
        live = [record for record in self.consent_records(now) if record.live(now.date())]
        own = [r for r in live if r.given_by == ConsentGiver.CHILD_CONSENT]
        return [
            record.consent_id
            for record in live
            if record.given_by
            in (ConsentGiver.CAREGIVER_CONSENT, ConsentGiver.BEST_INTERESTS_DECISION)
            and not any(
                o.purpose == record.purpose and record.recipients <= o.recipients for o in own
            )
        ]

    def correct(self, corrections: dict[str, Any], reason: str, by: str) -> None:
        """Correct registered facts, one ``FieldCorrected`` each; a value equal to the one
        recorded changes nothing."""
        self._refuse_if_erased()
        unknown = sorted(set(corrections) - CORRECTABLE)
        if unknown:
            raise InvalidCaseData(
                f"{', '.join(unknown)} cannot be corrected; correctable: "
                + ", ".join(sorted(CORRECTABLE))
            )
        born = corrections.get("date_of_birth")
        if born is not None and date.fromisoformat(born) > self.released_on:
            raise InvalidCaseData("date_of_birth is after the release date")
        changed = {f: v for f, v in corrections.items() if getattr(self, f) != v}
        if not changed:
            raise CaseRuleViolation(f"case {self.id}: every value given is the one recorded")
        for field_name, value in changed.items():
            self.trigger_event(
                self.FieldCorrected,
                field=field_name,
                value=value,
                reason=reason,
                corrected_by=by,
            )

    def withdraw_consent(self, consent_id: UUID, recorded_by: str) -> None:
        self._refuse_if_erased()
        if consent_id not in self.consents:
            raise CaseRuleViolation(f"case {self.id} has no consent {consent_id}")
        if consent_id in self.withdrawn_consents:
            raise CaseRuleViolation(f"consent {consent_id} was already withdrawn")
        self.trigger_event(self.ConsentWithdrawn, consent_id=consent_id, recorded_by=recorded_by)

    def erase(self, reason: ErasureReason, requested_by: str) -> None:
        self._refuse_if_erased()
        self.trigger_event(self.CaseErased, erasure_reason=reason.value, requested_by=requested_by)

    # --- the journey: each command checks the rules, then records one fact -----------------

    @property
    def stage(self) -> Stage:
        if self.erased and self.stage_as_recorded is not None:
            return Stage(self.stage_as_recorded)
        return self._stage_with()

    def _stage_with(self, **reached: bool) -> Stage:
        """The stage the case would be at with some facts changed: what an event records."""
        facts = {
            "closed": self.closed is not None,
            "adult": self.route == Route.ADULT_PATHWAY,
            "reunified": self.reunified_on is not None,
            "alternative_care": self.alternative_care is not None,
            "tracing": self.tracing is not None and self.tracing.open,
            "interim_care": self.placement is not None and self.placement.current,
            "handed_over": self.handover is not None,
        }
        return stage_of(**{**facts, **reached})

    def next_steps(self, now: datetime, table: AgeTable) -> list[str]:
        """The steps of the journey (named as the API's paths under a case) that the case's
        state allows now. Each is tried with its command's own check of the state, the one
        that refuses it, so no rule is written twice; what a step's answers say (a medical
        assessment before any other, a date, a second supervisor) may still refuse it."""
        allowed = []
        for step, check in self._state_checks(now, table).items():
            try:
                check()
            except CaseRuleViolation:
                continue
            allowed.append(step)
        return allowed

    def _state_checks(self, now: datetime, table: AgeTable) -> dict[str, Callable[[], object]]:
        def tracing(what: str) -> Callable[[], object]:
            return lambda: self._tracing_under_consent(what, now, table)

        def family_located(what: str) -> Callable[[], object]:
            return lambda: self._family_located(what, now, table)

        return {
            "handover": self._may_hand_over,
            "age-assessment": self._refuse_unless_open,
            "interim-care": self._may_place_in_interim_care,
            "interim-care/extension": lambda: self._current_placement("extended"),
            "interim-care/end": lambda: self._current_placement("ended"),
            "needs-assessment": self._refuse_unless_open,
            "risk-level": self._refuse_unless_open,
            "risk-response": self._risk_awaiting_response,
            "consents": self._refuse_if_erased,
            "maturity-assessment": self._refuse_if_erased,
            "disclosure-refusals": self._refuse_if_erased,
            "corrections": self._refuse_if_erased,
            "children": self._refuse_unless_open,
            "tracing": self._may_start_tracing,
            "tracing/leads": tracing("a lead recorded"),
            "tracing/family-located": tracing("a family located"),
            "tracing/family-assessment": family_located("a family assessed"),
            "tracing/relationship-verification": family_located("verified"),
            "tracing/return-check": family_located("checked for a return"),
            "tracing/return-approval": lambda: self._family_found_suitable(now, table),
            "tracing/closure": lambda: self._open_tracing("closed"),
            "reunification": lambda: self._may_reunify(now, table),
            "reunification/breakdown": self._reunified_on,
            "alternative-care": self._may_arrange_alternative_care,
            "detention": self._may_record_detention,
            "detention/end": self._current_detention,
            "assignment": self._refuse_unless_open,
            "case-plan": self._refuse_unless_open,
            "case-plan/review": self._plan_reviewed_on,
            "closure": self._may_request_closure,
            "closure/approval": self._closure_waiting,
            "reopening": self._closed_on,
        }

    def assess_age(self, assessment: AgeAssessment, now: datetime) -> None:
        self._refuse_unless_open()
        self._check_day(assessment.assessed_on, "assessed_on", now)
        if assessment.method == AgeMethod.MEDICAL and not any(
            earlier.result == AgeResult.UNCERTAIN for earlier in self.age_assessments
        ):
            raise CaseRuleViolation(
                f"case {self.id}: a medical age assessment is a last resort; record an "
                "uncertain documents, interview or community assessment first"
            )
        adult = assessment.result == AgeResult.EIGHTEEN_OR_OVER
        route = Route.ADULT_PATHWAY if adult else Route.CHILD_PROTECTION
        self.trigger_event(
            self.AgeAssessed,
            method=assessment.method.value,
            result=assessment.result.value,
            assessed_by=assessment.assessed_by,
            assessed_on=assessment.assessed_on,
            notes=assessment.notes,
            route=route.value,
            stage=self._stage_with(adult=adult).value,
        )

    def place_in_interim_care(self, placement: Placement, now: datetime) -> None:
        # Adults recruited as children keep the pathway (Optional Protocol, art. 6(3)).
        self._may_place_in_interim_care()
        self._check_day(placement.entered_on, "entered_on", now)
        if placement.kind in NOT_INTERIM_CARE:
            raise InvalidCaseData(
                f"kind '{placement.kind}' is not interim care: a direct return is recorded "
                "with `reunification` (or `alternative-care`)"
            )
        planned_end = placement.planned_end_on
        if planned_end is not None and planned_end < placement.entered_on:
            raise InvalidCaseData("planned_end_on is before entered_on")
        self.trigger_event(
            self.InterimCarePlaced,
            kind=placement.kind.value,
            carer=placement.carer,
            address=placement.address,
            entered_on=placement.entered_on,
            planned_end_on=planned_end,
            placed_by=placement.placed_by,
            stage=self._stage_with(interim_care=True).value,
        )

    def extend_interim_care(
        self, until: date, reason: str, approved_by: str, now: datetime
    ) -> None:
        placement = self._current_placement("extended")
        if until <= max(placement.entered_on, now.date()):
            raise InvalidCaseData("until must be after the entry date and after today")
        self.trigger_event(
            self.InterimCareExtended,
            until=until,
            reason=reason,
            approved_by=approved_by,
            stage=self.stage.value,
        )

    def end_interim_care(
        self, left_on: date, exit_reason: CareExit, recorded_by: str, now: datetime
    ) -> None:
        placement = self._current_placement("ended")
        self._check_day(left_on, "left_on", now)
        if left_on < placement.entered_on:
            raise InvalidCaseData("left_on is before the day the child entered interim care")
        self.trigger_event(
            self.InterimCareEnded,
            left_on=left_on,
            exit_reason=exit_reason.value,
            recorded_by=recorded_by,
            stage=self._stage_with(interim_care=False).value,
        )

    def _may_place_in_interim_care(self) -> None:
        self._refuse_unless_open()
        if self.placement is not None and self.placement.current:
            raise CaseRuleViolation(
                f"case {self.id} is already in interim care since "
                f"{self.placement.entered_on}: record its end first"
            )
        if self.reunified_on is not None or self.alternative_care is not None:
            raise CaseRuleViolation(
                f"case {self.id} is already {self.stage}: interim care comes before that"
            )

    def _current_placement(self, what: str) -> PlacementState:
        self._refuse_unless_open()
        if self.placement is None or not self.placement.current:
            raise CaseRuleViolation(
                f"case {self.id} is not in interim care: a placement cannot be {what} "
                "before it started"
            )
        return self.placement

    def assess_needs(self, assessment: NeedsAssessment, now: datetime) -> None:
        self._refuse_unless_open()
        self._check_day(assessment.assessed_on, "assessed_on", now)
        flags = list(dict.fromkeys(assessment.flags))
        # A later assessment that names no dependants does not make a mother's children
        # disappear: the ones recorded stand, and so does the flag.
        dependants = [dependant.as_json() for dependant in assessment.dependants] or (
            self.dependants if isinstance(self.dependants, list) else []
        )
        has_children = LinkRelation.CHILD in self.links.values()
        if (dependants or has_children) and ProtectionFlag.CHILD_MOTHER not in flags:
            flags.append(ProtectionFlag.CHILD_MOTHER)
        needs = list(dict.fromkeys(assessment.needs))
        if ProtectionFlag.DETAINED_OR_FACING_CHARGES in flags and NeedArea.LEGAL not in needs:
            needs.append(NeedArea.LEGAL)  # a victim, not a deserter: refer for legal aid
        if assessment.sexual_violence_details and not assessment.sexual_violence_survivor:
            raise InvalidCaseData("sexual_violence_details are given for a non-survivor")
        self.trigger_event(
            self.NeedsAssessed,
            needs=[need.value for need in needs],
            flags=[flag.value for flag in flags],
            dependants_count=len(dependants),
            dependants=dependants,
            sexual_violence={
                "survivor": assessment.sexual_violence_survivor,
                "details": assessment.sexual_violence_details,
            },
            assessed_by=assessment.assessed_by,
            assessed_on=assessment.assessed_on,
            notes=assessment.notes,
            stage=self.stage.value,
        )

    def set_risk_level(self, risk: RiskAssessment, now: datetime) -> None:
        self._refuse_unless_open()
        self._check_moment(risk.set_at, "set_at", now)
        self.trigger_event(
            self.RiskLevelSet,
            level=risk.level.value,
            reason=risk.reason,
            set_by=risk.set_by,
            set_at=risk.set_at,
            stage=self.stage.value,
        )

    def respond_to_risk(
        self, action: str, responded_by: str, responded_at: datetime, now: datetime
    ) -> None:
        risk = self._risk_awaiting_response()
        self._check_moment(responded_at, "responded_at", now)
        if responded_at < risk.set_at:
            raise InvalidCaseData("responded_at is before the risk level was set")
        self.trigger_event(
            self.RiskResponded,
            action=action,
            responded_by=responded_by,
            responded_at=responded_at,
            stage=self.stage.value,
        )

    def _risk_awaiting_response(self) -> RiskAssessment:
        self._refuse_unless_open()
        if self.risk is None or self.risk_responded_at is not None:
            raise CaseRuleViolation(f"case {self.id} has no risk level awaiting a response")
        return self.risk

    def start_tracing(self, request: TracingRequest, now: datetime, table: AgeTable) -> None:
        """Tracing shares who the child is and who the family is with the tracing agency:
        only with a valid, unwithdrawn consent for family tracing to that agency."""
        self._may_start_tracing()
        self._check_day(request.started_on, "started_on", now)
        consent_id = self._tracing_consent(request.tracing_agency, now, table)
        self.trigger_event(
            self.TracingStarted,
            tracing_agency=request.tracing_agency,
            consent_id=consent_id,
            sought=request.sought,
            last_known_place=request.last_known_place,
            started_by=request.started_by,
            started_on=request.started_on,
            stage=self._stage_with(tracing=True).value,
        )

    def _may_start_tracing(self) -> None:
        self._refuse_unless_open()
        if self.tracing is not None and self.tracing.open:
            raise CaseRuleViolation(f"case {self.id}: tracing is already open")
        if self.reunified_on is not None:
            raise CaseRuleViolation(f"case {self.id} is already reunified")

    def consent_records(self, now: datetime) -> list[ConsentRecord]:
        """The case's own consents, as the shared consent rule reads them."""
        return [
            ConsentRecord(
                consent_id=consent_id,
                case_id=self.id,
                given_by=consent.given_by,
                purpose=consent.purpose,
                recipients=frozenset(consent.recipients),
                categories=frozenset(consent.categories),
                given_on=consent.given_on,
                expires_on=consent.expires_on,
                withdrawn_at=now if consent_id in self.withdrawn_consents else None,
            )
            for consent_id, consent in self.consents.items()
        ]

    def _tracing_consent(self, agency: str, now: datetime, table: AgeTable) -> UUID:
        """The consent that allows tracing through ``agency``: the one given for the child
        (not an assent) that the decisions for every category tracing shares rest on."""
        consents = self.consent_records(now)
        decisions = [
            may_share(
                consents,
                case_id=self.id,
                category=category,
                agency=agency,
                purpose=Purpose.FAMILY_TRACING,
                now=now,
                child=self.standing(now, table),
                table=table,
            )
            for category in TRACING_CATEGORIES
        ]
        for decision in decisions:
            if not decision:
                raise ConsentMissing(f"tracing cannot start: {decision.reason}")
        in_every = set.intersection(*(set(d.consent_ids) for d in decisions))
        givers = {record.consent_id: record.given_by for record in consents}
        deciding = sorted(
            in_every or decisions[0].consent_ids,
            key=lambda consent_id: givers[consent_id] == ConsentGiver.CHILD_ASSENT,
        )
        return deciding[0]

    def record_tracing_lead(
        self,
        source: LeadSource,
        lead: str,
        recorded_by: str,
        recorded_on: date,
        now: datetime,
        table: AgeTable,
    ) -> None:
        self._tracing_under_consent("a lead recorded", now, table)
        self._check_day(recorded_on, "recorded_on", now)
        self.trigger_event(
            self.TracingLeadRecorded,
            source=source.value,
            lead=lead,
            recorded_by=recorded_by,
            recorded_on=recorded_on,
            stage=self.stage.value,
        )

    def locate_family(self, found: FamilyFound, now: datetime, table: AgeTable) -> None:
        tracing = self._tracing_under_consent("a family located", now, table)
        self._check_day(found.located_on, "located_on", now)
        if found.located_on < tracing.started_on:
            raise InvalidCaseData("located_on is before tracing started")
        self.trigger_event(
            self.FamilyLocated,
            relationship=found.relationship.value,
            family_members=list(found.family_members),
            whereabouts=found.whereabouts,
            phone=found.phone,
            relationship_verified=found.relationship_verified,
            recorded_by=found.recorded_by,
            located_on=found.located_on,
            stage=self.stage.value,
        )

    def assess_family(self, assessment: FamilyAssessment, now: datetime, table: AgeTable) -> None:
        self._family_located("a family assessed", now, table)
        self._check_day(assessment.assessed_on, "assessed_on", now)
        self.trigger_event(
            self.FamilyAssessed,
            willing=assessment.willing,
            able=assessment.able,
            safe=assessment.safe,
            child_willing=assessment.child_willing,
            assessed_by=assessment.assessed_by,
            assessed_on=assessment.assessed_on,
            notes=assessment.notes,
            stage=self.stage.value,
        )

    def reunify(
        self,
        reunified_on: date,
        recorded_by: str,
        address: str | None,
        now: datetime,
        table: AgeTable,
    ) -> None:
        self._may_reunify(now, table)
        self._check_day(reunified_on, "reunified_on", now)
        self.trigger_event(
            self.Reunified,
            address=address,
            recorded_by=recorded_by,
            reunified_on=reunified_on,
            stage=self._stage_with(reunified=True, tracing=False).value,
        )

    def _may_reunify(self, now: datetime, table: AgeTable) -> None:
        tracing = self._tracing_under_consent("reunified", now, table)
        if tracing.family_located_on is None:
            raise CaseRuleViolation(
                f"case {self.id} cannot be reunified before the family is located and assessed"
            )
        if tracing.assessment is None or not tracing.assessment.suitable:
            raise CaseRuleViolation(
                f"case {self.id} cannot be reunified: the latest family assessment must find "
                "the family willing, able and safe, and the child willing"
            )
        missing = [
            f"the relationship verified with the {side}"
            for side in VerifiedWith
            if side not in tracing.verified_with
        ]
        if tracing.return_checked is None:
            missing.append("a community acceptance and re-recruitment check")
        elif tracing.return_checked.re_recruitment_risk == Likelihood.HIGH:
            missing.append("a re-recruitment risk below high")
        if tracing.return_approved_by is None:
            missing.append("a best-interests approval by a supervisor after the assessment")
        if missing:
            raise CaseRuleViolation(
                f"rule 'safeguards before return': case {self.id} cannot be reunified "
                "without " + "; ".join(missing)
            )
        self._refuse_while_in_interim_care()

    def verify_relationship(
        self,
        side: VerifiedWith,
        by: str,
        on: date,
        notes: str | None,
        now: datetime,
        table: AgeTable,
    ) -> None:
        self._family_located("verified", now, table)
        self._check_day(on, "verified_on", now)
        self.trigger_event(
            self.RelationshipVerified,
            verified_with=side.value,
            verified_by=by,
            verified_on=on,
            notes=notes,
            stage=self.stage.value,
        )

    def check_return(self, check: ReturnCheckRecord, now: datetime, table: AgeTable) -> None:
        self._family_located("checked for a return", now, table)
        self._check_day(check.checked_on, "checked_on", now)
        self.trigger_event(
            self.ReturnChecked,
            community_acceptance=check.community_acceptance.value,
            re_recruitment_risk=check.re_recruitment_risk.value,
            checked_by=check.checked_by,
            checked_on=check.checked_on,
            notes=check.notes,
            stage=self.stage.value,
        )

    def _family_found_suitable(self, now: datetime, table: AgeTable) -> TracingState:
        tracing = self._tracing_under_consent("approved for a return", now, table)
        if tracing.assessment is None or not tracing.assessment.suitable:
            raise CaseRuleViolation(
                f"case {self.id}: a return is approved after a family assessment that finds "
                "the family willing, able and safe, and the child willing"
            )
        return tracing

    def approve_return(
        self, reason: str, approved_by: str, approved_on: date, now: datetime, table: AgeTable
    ) -> None:
        self._family_found_suitable(now, table)
        self._check_day(approved_on, "approved_on", now)
        if approved_by == self.caseworker:
            raise CaseRuleViolation(
                f"case {self.id}: the caseworker proposes a return; a supervisor who is someone "
                "else approves it"
            )
        self.trigger_event(
            self.ReturnApproved,
            reason=reason,
            proposed_by=self.caseworker,
            approved_by=approved_by,
            approved_on=approved_on,
            stage=self.stage.value,
        )

    def registration_of_child(
        self, child: ChildOfMother, now: datetime, table: AgeTable
    ) -> Registration:
        """A child mother's child, registered with her release: the group the child was born
        in or taken with, and the day the child came out with her (or was born, after it)."""
        self._refuse_unless_open()
        born = child.date_of_birth
        if born is not None and born > now.date():
            raise InvalidCaseData("date_of_birth is in the future")
        if born is None and child.estimated_age is None:
            raise InvalidCaseData("give the child's date_of_birth or estimated_age")
        released_on = max(self.released_on, born) if born else self.released_on
        estimated_age = (
            current_age(
                now.date(),
                date_of_birth=born,
                estimated_age=0,
                estimated_on=now.date(),
                assessed_adult=False,
                adult_age=table.adult_age,
            )
            if born
            else child.estimated_age or 0
        )
        return Registration(
            name=child.name,
            how_left=HowLeft(self.how_left),
            released_on=released_on,
            release_place=self.release_place,
            armed_group=self.armed_group,
            armed_group_kind=ArmedGroupKind(self.armed_group_kind),
            roles=(),
            sex=child.sex,
            estimated_age=estimated_age,
            registering_agency=self.registering_agency,
            caseworker=self.caseworker,
            date_of_birth=born,
            languages=tuple(self.languages),
            nationality=self.nationality,
            displacement=None if self.displacement is None else Displacement(self.displacement),
            separated_from_adults=self.separated_from_adults,
        )

    def link(self, other: UUID, relation: LinkRelation, by: str) -> None:
        self._refuse_if_erased()
        if other in self.links:
            raise CaseRuleViolation(f"case {self.id} is already linked to case {other}")
        self.trigger_event(
            self.CaseLinked, linked_case_id=other, relation=relation.value, linked_by=by
        )

    def unlink(self, other: UUID, reason: str, by: str) -> None:
        self._refuse_if_erased()
        if other not in self.links:
            raise CaseRuleViolation(f"case {self.id} is not linked to case {other}")
        self.trigger_event(self.CaseUnlinked, linked_case_id=other, reason=reason, unlinked_by=by)

    def record_detention(
        self,
        place: str,
        authority: str,
        started_on: date,
        legal_aid_provider: str,
        by: str,
        now: datetime,
    ) -> None:
        self._may_record_detention()
        if started_on > now.date():
            raise InvalidCaseData("started_on is in the future")
        self.trigger_event(
            self.DetentionStarted,
            place=place,
            detaining_authority=authority,
            started_on=started_on,
            legal_aid_provider=legal_aid_provider,
            recorded_by=by,
            stage=self.stage.value,
        )

    def _may_record_detention(self) -> None:
        self._refuse_unless_open()
        if self.detention is not None:
            raise CaseRuleViolation(
                f"case {self.id} is already detained since {self.detention.started_on}"
            )

    def _current_detention(self) -> Detention:
        self._refuse_unless_open()
        if self.detention is None:
            raise CaseRuleViolation(f"case {self.id} is not detained")
        return self.detention

    def end_detention(
        self, ended_on: date, outcome: DetentionOutcome, by: str, now: datetime
    ) -> None:
        detention = self._current_detention()
        if ended_on > now.date():
            raise InvalidCaseData("ended_on is in the future")
        if ended_on < detention.started_on:
            raise InvalidCaseData("ended_on is before the detention started")
        self.trigger_event(
            self.DetentionEnded,
            ended_on=ended_on,
            outcome=outcome.value,
            recorded_by=by,
            stage=self.stage.value,
        )

    def _reunified_on(self) -> date:
        self._refuse_unless_open()
        if self.reunified_on is None:
            raise CaseRuleViolation(f"case {self.id} is not reunified: nothing can break down")
        return self.reunified_on

    def record_reunification_breakdown(
        self,
        reason: BreakdownReason,
        broke_down_on: date,
        notes: str | None,
        by: str,
        now: datetime,
    ) -> None:
        reunified_on = self._reunified_on()
        self._check_day(broke_down_on, "broke_down_on", now)
        if broke_down_on < reunified_on:
            raise InvalidCaseData("broke_down_on is before the reunification")
        self.trigger_event(
            self.ReunificationBrokeDown,
            reason=reason.value,
            broke_down_on=broke_down_on,
            notes=notes,
            recorded_by=by,
            stage=self._stage_with(reunified=False).value,
        )

    def _family_located(self, what: str, now: datetime, table: AgeTable) -> TracingState:
        tracing = self._tracing_under_consent(what, now, table)
        if tracing.family_located_on is None:
            raise CaseRuleViolation(f"case {self.id}: no family was located yet")
        return tracing

    def _may_arrange_alternative_care(self) -> None:
        self._refuse_unless_open()
        if self.tracing is not None and self.tracing.open:
            raise CaseRuleViolation(
                f"case {self.id}: tracing is still open; reunify or close it unsuccessfully "
                "before arranging alternative care"
            )
        if self.reunified_on is not None or self.alternative_care is not None:
            raise CaseRuleViolation(f"case {self.id} is already {self.stage}")
        self._refuse_while_in_interim_care()

    def arrange_alternative_care(self, care: AlternativeCare, now: datetime) -> None:
        self._may_arrange_alternative_care()
        self._check_day(care.arranged_on, "arranged_on", now)
        if (
            care.kind == AlternativeCareKind.SUPERVISED_INDEPENDENT_LIVING
            and self.estimated_age < INDEPENDENT_LIVING_MIN_AGE
        ):
            raise CaseRuleViolation(
                f"case {self.id}: supervised independent living is for adolescents of "
                f"{INDEPENDENT_LIVING_MIN_AGE} or older"
            )
        self.trigger_event(
            self.AlternativeCareArranged,
            kind=care.kind.value,
            carer=care.carer,
            address=care.address,
            arranged_by=care.arranged_by,
            arranged_on=care.arranged_on,
            stage=self._stage_with(alternative_care=True).value,
        )

    def close_tracing(
        self,
        reason: TracingFailure,
        closed_by: str,
        closed_on: date,
        notes: str | None,
        now: datetime,
    ) -> None:
        tracing = self._open_tracing("closed")
        self._check_day(closed_on, "closed_on", now)
        if closed_on < tracing.started_on:
            raise InvalidCaseData("closed_on is before tracing started")
        self.trigger_event(
            self.TracingClosedUnsuccessful,
            reason=reason.value,
            notes=notes,
            closed_by=closed_by,
            closed_on=closed_on,
            stage=self._stage_with(tracing=False).value,
        )

    def _tracing_under_consent(self, what: str, now: datetime, table: AgeTable) -> TracingState:
        """Open tracing, while a valid consent lets it go on: a withdrawn (or expired) tracing
        consent pauses it until a new one allows tracing through the same agency. Closing
        it stays possible: stopping never needs consent."""
        tracing = self._open_tracing(what)
        try:
            self._tracing_consent(tracing.tracing_agency, now, table)
        except ConsentMissing as missing:
            raise ConsentMissing(
                f"rule 'tracing pauses without a valid tracing consent': nothing can be {what} "
                f"on case {self.id} until a new consent for tracing through "
                f"{tracing.tracing_agency} is recorded ({missing})"
            ) from None
        return tracing

    def _open_tracing(self, what: str) -> TracingState:
        self._refuse_unless_open()
        if self.tracing is None or not self.tracing.open:
            raise CaseRuleViolation(
                f"case {self.id} has no open tracing: nothing can be {what} before tracing starts"
            )
        return self.tracing

    def _refuse_while_in_interim_care(self) -> None:
        if self.placement is not None and self.placement.current:
            raise CaseRuleViolation(
                f"case {self.id} is still in interim care: record the end of the placement first"
            )

    def assign(self, caseworker: str, assigned_by: str, assigned_on: date, now: datetime) -> None:
        self._refuse_unless_open()
        self._check_day(assigned_on, "assigned_on", now)
        if caseworker == self.caseworker:
            raise CaseRuleViolation(f"case {self.id} is already assigned to {caseworker}")
        self.trigger_event(
            self.CaseAssigned,
            caseworker=caseworker,
            assigned_by=assigned_by,
            assigned_on=assigned_on,
            stage=self.stage.value,
        )

    def agree_plan(self, plan: CasePlan, now: datetime) -> None:
        self._refuse_unless_open()
        self._check_day(plan.agreed_on, "agreed_on", now)
        if not plan.goals:
            raise InvalidCaseData("a case plan needs at least one goal")
        self.trigger_event(
            self.CasePlanAgreed,
            goal_areas=[area.value for area in plan.goals],
            goals={area.value: goal for area, goal in plan.goals.items()},
            child_participated=plan.child_participated,
            child_views=plan.child_views,
            agreed_by=plan.agreed_by,
            agreed_on=plan.agreed_on,
            stage=self.stage.value,
        )

    def _plan_reviewed_on(self) -> date:
        self._refuse_unless_open()
        if self.plan is None or self.plan_reviewed_on is None:
            raise CaseRuleViolation(f"case {self.id} has no case plan to review")
        return self.plan_reviewed_on

    def review_plan(
        self, reviewed_by: str, reviewed_on: date, notes: str | None, now: datetime
    ) -> None:
        last_reviewed_on = self._plan_reviewed_on()
        self._check_day(reviewed_on, "reviewed_on", now)
        if reviewed_on < last_reviewed_on:
            raise InvalidCaseData("reviewed_on is before the plan's last agreement or review")
        self.trigger_event(
            self.CasePlanReviewed,
            reviewed_by=reviewed_by,
            reviewed_on=reviewed_on,
            notes=notes,
            stage=self.stage.value,
        )

    def _may_request_closure(self) -> None:
        self._refuse_if_erased()
        if self.closed is not None:
            raise CaseRuleViolation(f"case {self.id} is already closed")

    def request_closure(
        self,
        reason: ClosureReason,
        requested_by: str,
        requested_on: date,
        notes: str | None,
        now: datetime,
        table: AgeTable,
    ) -> None:
        self._may_request_closure()
        self._check_day(requested_on, "requested_on", now)
        refused = self._closure_refusal(reason, now, table)
        if refused:
            raise CaseRuleViolation(f"case {self.id} cannot be closed as {reason}: {refused}")
        self.trigger_event(
            self.ClosureRequested,
            reason=reason.value,
            notes=notes,
            requested_by=requested_by,
            requested_on=requested_on,
            stage=self.stage.value,
        )

    def _closure_refusal(self, reason: ClosureReason, now: datetime, table: AgeTable) -> str | None:
        returned = self.reunified_on is not None or self.alternative_care is not None
        if reason == ClosureReason.REINTEGRATION_GOALS_MET and not (returned and self.plan):
            return (
                "rule 'goals met after a return': the child must be back in a family or in "
                "alternative care, under an agreed case plan"
            )
        if reason == ClosureReason.TURNED_18_WITH_TRANSITION_PLAN and (
            self.age(now, table) < table.adult_age or not self.has_transition_plan
        ):
            return (
                "rule 'a transition plan at 18': the young person is 18 and the case plan has "
                "a 'transition_to_adulthood' goal"
            )
        return None

    @property
    def has_transition_plan(self) -> bool:
        return self.plan is not None and PlanArea.TRANSITION_TO_ADULTHOOD in self.plan.goals

    def needs_transition_plan(self, now: datetime, table: AgeTable) -> bool:
        """From a year before 18, an open case whose plan has no transition goal yet."""
        return (
            not self.erased
            and self.closed is None
            and not self.has_transition_plan
            and self.age(now, table) >= table.adult_age - 1
        )

    def note_closure_recommendation(self, because: str, message_id: str) -> bool:
        """Record follow-up's recommendation once, on an open case; False if nothing to do."""
        if self.erased or self.closed is not None:
            return False
        if message_id in self.lapsed_recommendations or (
            self.closure_recommendation and self.closure_recommendation[1] == message_id
        ):
            return False
        self.trigger_event(
            self.FollowUpRecommendedClosure,
            because=because,
            message_id=message_id,
            stage=self.stage.value,
        )
        return True

    def _closure_waiting(self) -> ClosureRequest:
        self._refuse_if_erased()
        if self.closed is not None or self.closure_requested is None:
            raise CaseRuleViolation(f"case {self.id} has no closure waiting for approval")
        return self.closure_requested

    def approve_closure(self, approved_by: str, approved_on: date, now: datetime) -> None:
        """A supervisor who did not ask closes the case, for the reason asked."""
        request = self._closure_waiting()
        if approved_by == request.requested_by:
            raise CaseRuleViolation(
                f"case {self.id}: who asked to close the case cannot approve it (four eyes)"
            )
        self._check_day(approved_on, "approved_on", now)
        if approved_on < request.requested_on:
            raise InvalidCaseData("approved_on is before the closure was asked for")
        self.trigger_event(
            self.CaseClosed,
            reason=request.reason.value,
            notes=request.notes,
            closed_by=approved_by,
            closed_on=approved_on,
            stage=Stage.CLOSED.value,
        )

    def _closed_on(self) -> date:
        self._refuse_if_erased()
        if self.closed is None:
            raise CaseRuleViolation(f"case {self.id} is not closed, so it cannot be reopened")
        return self.closed[1]

    def reopen(self, reason: str, reopened_by: str, reopened_on: date, now: datetime) -> None:
        closed_on = self._closed_on()
        self._check_day(reopened_on, "reopened_on", now)
        if reopened_on < closed_on:
            raise InvalidCaseData("reopened_on is before the case was closed")
        self.trigger_event(
            self.CaseReopened,
            reason=reason,
            reopened_by=reopened_by,
            reopened_on=reopened_on,
            stage=self._stage_with(closed=False).value,
        )

    def _may_hand_over(self) -> None:
        self._refuse_unless_open()
        if self.handover is not None:
            raise CaseRuleViolation(f"case {self.id} was already handed over")

    def _refuse_unless_open(self) -> None:
        self._refuse_if_erased()
        if self.closed is not None:
            raise CaseRuleViolation(f"case {self.id} is closed: reopen it first")

    def _check_day(self, day: date, name: str, now: datetime) -> None:
        if day > now.date():
            raise InvalidCaseData(f"{name} is in the future")
        if day < self.released_on:
            raise InvalidCaseData(f"{name} is before the release date")

    def _check_moment(self, moment: datetime, name: str, now: datetime) -> None:
        if moment > now:
            raise InvalidCaseData(f"{name} is in the future")
        if moment.date() < self.released_on:  # the day where it happened
            raise InvalidCaseData(f"{name} is before the release date")

    def _refuse_if_erased(self) -> None:
        if self.erased:
            raise CaseRuleViolation(f"case {self.id} is erased: nothing more can be recorded")
