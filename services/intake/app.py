"""The intake application: the use cases a caseworker performs on a child's case."""

from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from services.intake.casenumbers import CaseNumbers
from services.intake.domain import (
    AgeAssessment,
    AgencyCaseCounter,
    AlternativeCare,
    BreakdownReason,
    CareExit,
    CaseNotFound,
    CasePlan,
    CaseRuleViolation,
    ChildCase,
    ChildOfMother,
    ClosureReason,
    Consent,
    DetentionOutcome,
    DisclosureRefusal,
    ErasureReason,
    FamilyAssessment,
    FamilyFound,
    Handover,
    LeadSource,
    LinkRelation,
    MaturityAssessment,
    NeedsAssessment,
    Placement,
    Registration,
    ReturnCheckRecord,
    RiskAssessment,
    RiskLevel,
    TracingFailure,
    TracingRequest,
    VerifiedWith,
)
from services.intake.idempotency import RegistrationKeys, keyed_case_id
from services.intake.programme import Programme
from shared.application import ServiceApplication, project_events
from shared.database import Database
from shared.erasure import KeyShredder
from shared.keyring import CaseKeys
from shared.persistence import Clock
from shared.refusals import VersionConflict

if TYPE_CHECKING:
    from services.intake.projections import CaseProjections
    from services.intake.reports.projection import StatisticsProjection


class StaleVersion(CaseRuleViolation, VersionConflict):
    """The command was based on an older version of the case than the one recorded."""


class IntakeApplication(ServiceApplication):
    name = "intake"
    programme = Programme()  # the defaults; the composition root attaches the programme's own
    projections: "CaseProjections | None" = None
    statistics: "StatisticsProjection | None" = None  # the programme reports' counts

    def __init__(self, env: dict[str, str] | None, clock: Clock, case_keys: CaseKeys) -> None:
        super().__init__(env, clock, case_keys)
        self.key_shredder = KeyShredder(self, ChildCase.CaseErased)

    def attach_read_models(
        self,
        programme: Programme,
        projections: "CaseProjections",
        statistics: "StatisticsProjection",
    ) -> None:
        self.programme = programme
        self.projections = projections
        self.statistics = statistics

    @cached_property
    def case_numbers(self) -> CaseNumbers:
        # Made when first needed: an application kept in memory (tests) has no database.
        return CaseNumbers(Database.of(self), self._issued_by_counter)

    @cached_property
    def registration_keys(self) -> RegistrationKeys:
        return RegistrationKeys(Database.of(self), self.case_keys)

    def register_child(self, registration: Registration, case_id: UUID | None = None) -> ChildCase:
        """Open a case; its number is unique within the registering agency and year, and
        concurrent registrations do not wait on one another for it (services.intake.casenumbers)."""
        now = self.clock()
        number = self.case_numbers.next(registration.registering_agency, now.year)
        case = ChildCase.register(registration, number, now, case_id)
        self.save(case)
        return case

    def register_child_once(
        self, registration: Registration, idempotency_key: str
    ) -> tuple[ChildCase, bool]:
        """Register the child unless the agency's earlier request with the same idempotency
        key did (services.intake.idempotency): then answer that case, recording nothing and
        taking no number. True when registered now."""
        case_id = keyed_case_id(registration.registering_agency, idempotency_key)
        self.registration_keys.bind(case_id, idempotency_key, registration)
        try:
            return self.get_case(case_id), False
        except CaseNotFound:
            pass
        try:
            return self.register_child(registration, case_id), True
        except IntegrityError:
            # The same request twice at once, and the other one saved first: the number this
            # one took is a gap.
            return self.get_case(case_id), False

    def get_case(self, case_id: UUID, version: int | None = None) -> ChildCase:
        """The case now, or as it was at ``version`` (an auditor's question)."""
        try:
            case: object = self.repository.get(
                case_id, version=version, projector_func=project_events
            )
        except AggregateNotFoundError:
            raise CaseNotFound(case_id) from None
        if not isinstance(case, ChildCase):
            raise CaseNotFound(case_id)
        return case

    def case_at_version(self, case_id: UUID, version: int) -> ChildCase:
        """The case, if ``version`` is still its latest: concurrent edits are refused."""
        case = self.get_case(case_id)
        if case.version != version:
            raise StaleVersion(
                f"case {case_id} is at version {case.version}, not {version}: "
                "reload it and try again",
                current_version=case.version,
            )
        return case

    def raise_risk_on_alert(self, case_id: UUID, alert_id: str, kind: str) -> bool:
        """A follow-up visit found a re-recruitment threat or a high risk: the case's risk
        level goes to high, once per alert however often the alert is delivered."""
        case = self.get_case(case_id)
        alerted_by = f"follow-up alert {alert_id}"
        if case.risk is not None and case.risk.set_by == alerted_by:
            return False
        now = self.clock()
        case.set_risk_level(
            RiskAssessment(RiskLevel.HIGH, f"follow-up found: {kind}", alerted_by, now), now
        )
        self._save_case(case)
        return True

    def note_closure_recommendation(self, case_id: UUID, message_id: str, because: str) -> bool:
        """Follow-up recommends closing: it shows on the case, once per message."""
        case = self.get_case(case_id)
        if not case.note_closure_recommendation(because, message_id):
            return False
        self._save_case(case)
        return True

    def register_child_of(
        self, mother_id: UUID, version: int, child: ChildOfMother, by: str
    ) -> ChildCase:
        """A child mother's child gets a case of its own, numbered by her agency, and the two
        cases are linked both ways, in one save."""
        mother = self.case_at_version(mother_id, version)
        now = self.clock()
        registration = mother.registration_of_child(child, now, self.programme)
        number = self.case_numbers.next(registration.registering_agency, now.year)
        case = ChildCase.register(registration, number, now)
        mother.link(case.id, LinkRelation.CHILD, by)
        case.link(mother.id, LinkRelation.MOTHER, by)
        self.save(mother, case)
        return case

    def unlink(self, case_id: UUID, version: int, other: UUID, reason: str, by: str) -> ChildCase:
        """Remove a link recorded in error, on both cases."""
        case = self.case_at_version(case_id, version)
        linked = self.get_case(other)
        case.unlink(other, reason, by)
        linked.unlink(case_id, reason, by)
        self.save(case, linked)
        return case

    def history(self, case_id: UUID) -> list[DomainEventProtocol[UUID]]:
        """Every recorded fact of a case, oldest first, personal fields opened (or
        ``[erased]``)."""
        self.get_case(case_id)  # a case that does not exist is CaseNotFound, not an empty list
        return list(self.repository.event_store.get(case_id))

    # Each step below is based on the version of the case the caller saw: a stale one is
    # refused (StaleVersion), and so is a change saved meanwhile.

    def give_consent(self, case_id: UUID, version: int, consent: Consent) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.give_consent(consent, uuid4(), self.clock(), self.programme)
        return self._save_case(case)

    def correct(
        self, case_id: UUID, version: int, corrections: dict[str, Any], reason: str, by: str
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.correct(corrections, reason, by)
        return self._save_case(case)

    def assess_maturity(
        self, case_id: UUID, version: int, assessment: MaturityAssessment
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.assess_maturity(assessment, self.clock())
        return self._save_case(case)

    def refuse_disclosure(
        self, case_id: UUID, version: int, refusal: DisclosureRefusal
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.refuse_disclosure(refusal, uuid4(), self.clock())
        return self._save_case(case)

    def withdraw_consent(
        self, case_id: UUID, version: int, consent_id: UUID, recorded_by: str
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.withdraw_consent(consent_id, recorded_by)
        return self._save_case(case)

    def hand_over(self, case_id: UUID, version: int, handover: Handover) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.hand_over(handover, self.clock())
        return self._save_case(case)

    def assess_age(self, case_id: UUID, version: int, assessment: AgeAssessment) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.assess_age(assessment, self.clock())
        return self._save_case(case)

    def place_in_interim_care(self, case_id: UUID, version: int, placement: Placement) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.place_in_interim_care(placement, self.clock())
        return self._save_case(case)

    def extend_interim_care(
        self, case_id: UUID, version: int, until: date, reason: str, approved_by: str
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.extend_interim_care(until, reason, approved_by, self.clock())
        return self._save_case(case)

    def end_interim_care(
        self, case_id: UUID, version: int, left_on: date, exit_reason: CareExit, recorded_by: str
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.end_interim_care(left_on, exit_reason, recorded_by, self.clock())
        return self._save_case(case)

    def assess_needs(self, case_id: UUID, version: int, assessment: NeedsAssessment) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.assess_needs(assessment, self.clock())
        return self._save_case(case)

    def set_risk_level(self, case_id: UUID, version: int, risk: RiskAssessment) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.set_risk_level(risk, self.clock())
        return self._save_case(case)

    def respond_to_risk(
        self,
        case_id: UUID,
        version: int,
        action: str,
        responded_by: str,
        responded_at: datetime,
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.respond_to_risk(action, responded_by, responded_at, self.clock())
        return self._save_case(case)

    def start_tracing(self, case_id: UUID, version: int, request: TracingRequest) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.start_tracing(request, self.clock(), self.programme)
        return self._save_case(case)

    def record_tracing_lead(
        self,
        case_id: UUID,
        version: int,
        source: LeadSource,
        lead: str,
        recorded_by: str,
        recorded_on: date,
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.record_tracing_lead(
            source, lead, recorded_by, recorded_on, self.clock(), self.programme
        )
        return self._save_case(case)

    def locate_family(self, case_id: UUID, version: int, found: FamilyFound) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.locate_family(found, self.clock(), self.programme)
        return self._save_case(case)

    def assess_family(self, case_id: UUID, version: int, assessment: FamilyAssessment) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.assess_family(assessment, self.clock(), self.programme)
        return self._save_case(case)

    def reunify(
        self,
        case_id: UUID,
        version: int,
        reunified_on: date,
        recorded_by: str,
        address: str | None,
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.reunify(reunified_on, recorded_by, address, self.clock(), self.programme)
        return self._save_case(case)

    def verify_relationship(
        self,
        case_id: UUID,
        version: int,
        side: VerifiedWith,
        by: str,
        on: date,
        notes: str | None,
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.verify_relationship(side, by, on, notes, self.clock(), self.programme)
        return self._save_case(case)

    def check_return(self, case_id: UUID, version: int, check: ReturnCheckRecord) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.check_return(check, self.clock(), self.programme)
        return self._save_case(case)

    def approve_return(
        self, case_id: UUID, version: int, reason: str, approved_by: str, approved_on: date
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.approve_return(reason, approved_by, approved_on, self.clock(), self.programme)
        return self._save_case(case)

    def record_detention(
        self,
        case_id: UUID,
        version: int,
        place: str,
        authority: str,
        started_on: date,
        legal_aid_provider: str,
        by: str,
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.record_detention(place, authority, started_on, legal_aid_provider, by, self.clock())
        return self._save_case(case)

    def end_detention(
        self, case_id: UUID, version: int, ended_on: date, outcome: DetentionOutcome, by: str
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.end_detention(ended_on, outcome, by, self.clock())
        return self._save_case(case)

    def record_reunification_breakdown(
        self,
        case_id: UUID,
        version: int,
        reason: BreakdownReason,
        broke_down_on: date,
        notes: str | None,
        by: str,
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.record_reunification_breakdown(reason, broke_down_on, notes, by, self.clock())
        return self._save_case(case)

    def arrange_alternative_care(
        self, case_id: UUID, version: int, care: AlternativeCare
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.arrange_alternative_care(care, self.clock())
        return self._save_case(case)

    def close_tracing(
        self,
        case_id: UUID,
        version: int,
        reason: TracingFailure,
        closed_by: str,
        closed_on: date,
        notes: str | None,
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.close_tracing(reason, closed_by, closed_on, notes, self.clock())
        return self._save_case(case)

    def assign(
        self, case_id: UUID, version: int, caseworker: str, assigned_by: str, assigned_on: date
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.assign(caseworker, assigned_by, assigned_on, self.clock())
        return self._save_case(case)

    def agree_plan(self, case_id: UUID, version: int, plan: CasePlan) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.agree_plan(plan, self.clock())
        return self._save_case(case)

    def review_plan(
        self, case_id: UUID, version: int, reviewed_by: str, reviewed_on: date, notes: str | None
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.review_plan(reviewed_by, reviewed_on, notes, self.clock())
        return self._save_case(case)

    def request_closure(
        self,
        case_id: UUID,
        version: int,
        reason: ClosureReason,
        requested_by: str,
        requested_on: date,
        notes: str | None,
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.request_closure(
            reason, requested_by, requested_on, notes, self.clock(), self.programme
        )
        return self._save_case(case)

    def approve_closure(
        self, case_id: UUID, version: int, approved_by: str, approved_on: date
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.approve_closure(approved_by, approved_on, self.clock())
        return self._save_case(case)

    def reopen_case(
        self, case_id: UUID, version: int, reason: str, reopened_by: str, reopened_on: date
    ) -> ChildCase:
        case = self.case_at_version(case_id, version)
        case.reopen(reason, reopened_by, reopened_on, self.clock())
        return self._save_case(case)

    def erase_case(
        self, case_id: UUID, version: int, reason: ErasureReason, requested_by: str
    ) -> ChildCase:
        """Record that the case was erased, then destroy its data key (through the key
        shredder, which a crash between the two only delays), and return the case as it
        reads now: every sealed field ``[erased]``."""
        case = self.case_at_version(case_id, version)
        case.erase(reason, requested_by)
        self._save_case(case)
        self.key_shredder.shred_pending()
        return self.get_case(case_id)

    def _save_case(self, case: ChildCase) -> ChildCase:
        try:
            self.save(case)
        except IntegrityError:
            raise StaleVersion(
                f"case {case.id} changed while this command ran: reload it and try again",
                current_version=self.recorded_version(case.id),
            ) from None
        return case

    def _issued_by_counter(self, agency: str, year: int) -> int:
        """How many case numbers the agency's AgencyCaseCounter issued in the year, before
        numbers came from services.intake.casenumbers."""
        counter_id = AgencyCaseCounter.create_id(agency, year)
        if counter_id not in self.repository:
            return 0
        counter: object = self.repository.get(counter_id)
        assert isinstance(counter, AgencyCaseCounter)
        return counter.issued
