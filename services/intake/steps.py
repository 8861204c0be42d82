"""The steps of a child's journey over HTTP: one request model and one route per step.

Each route needs the caller's token and a case of their agency (another agency's case is
answered like a missing one); who did a step is the caller's ``sub``, never a field of the
body. Each request names the case version it was based on (a stale one is refused with 409); its
model turns the request into the domain's values, and its route hands them to the intake
application, which checks and records the step. Free-text and identifying fields are personal:
the event store and Kafka get them sealed.
"""

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.types import DecoratedCallable
from pydantic import AwareDatetime, Field, StringConstraints

from services.intake.api import (
    Approval,
    CaseAccess,
    CaseOut,
    HandoverIn,
    Intake,
    LongText,
    NeedsAssessmentIn,
    Reassignment,
    Step,
    case_out,
)
from services.intake.domain import (
    Acceptance,
    AgeAssessment,
    AgeMethod,
    AgeResult,
    AlternativeCare,
    AlternativeCareKind,
    BreakdownReason,
    CareExit,
    CareKind,
    CaseNotFound,
    CasePlan,
    ClosureReason,
    DetentionOutcome,
    FamilyAssessment,
    FamilyFound,
    LeadSource,
    Likelihood,
    Placement,
    PlanArea,
    Relationship,
    ReturnCheckRecord,
    RiskAssessment,
    RiskLevel,
    TracingFailure,
    TracingRequest,
    VerifiedWith,
)
from shared.access import decide_approval
from shared.api import AgencyCode, Text, VersionedCommand
from shared.auth import settle

Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()-]{6,20}$")]

journey = APIRouter(prefix="/cases", tags=["journey"])

STEP_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "A stale version, or a step the case's state refuses."},
    422: {"description": "A field is missing, malformed or impossible."},
}


def approved_by_another(request: Request, access: CaseAccess, case_id: UUID) -> None:
    """Four eyes: the case's caseworker proposes (an extension, a return, a closure) and a
    supervisor who is someone else approves; anyone else is refused, and the refusal logged."""
    settle(
        request,
        access.caller,
        decide_approval(access.caller, access.case.registering_agency, access.case.caseworker),
        not_found=str(CaseNotFound(case_id)),
        case_id=case_id,
    )


def journey_step(path: str, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``POST /cases/{case_id}/<path>``: one step of the journey."""
    return journey.post(f"/{{case_id}}/{path}", summary=summary, responses=STEP_RESPONSES)


class HandoverStep(VersionedCommand, HandoverIn):
    pass


@journey_step("handover", "Record the handover to civilian child protection")
def record_handover(case_id: UUID, step: HandoverStep, intake: Intake, access: Step) -> CaseOut:
    case = intake.hand_over(case_id, step.version, step.to_domain())
    return case_out(intake, case)


class AgeAssessmentStep(VersionedCommand):
    method: AgeMethod = Field(description="Medical only after an uncertain assessment.")
    result: AgeResult = Field(description="Uncertain is treated as a child.")
    assessed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def to_domain(self, by: str) -> AgeAssessment:
        return AgeAssessment(self.method, self.result, by, self.assessed_on, self.notes)


@journey_step("age-assessment", "Record an age assessment (may change the route)")
def record_age_assessment(
    case_id: UUID, step: AgeAssessmentStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.assess_age(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class InterimCareStep(VersionedCommand):
    kind: CareKind = Field(
        description="'direct_return' is kept on placements recorded before, not chosen any "
        "more: a direct return is not interim care; record it with `reunification`."
    )
    carer: Text = Field(description="The centre, foster family or relative. Personal.")
    address: Text | None = Field(default=None, description="Personal.")
    entered_on: dt.date
    planned_end_on: dt.date | None = None

    def to_domain(self, by: str) -> Placement:
        return Placement(
            kind=self.kind,
            carer=self.carer,
            entered_on=self.entered_on,
            placed_by=by,
            address=self.address,
            planned_end_on=self.planned_end_on,
        )


@journey_step("interim-care", "Place the child in interim care")
def record_interim_care(
    case_id: UUID, step: InterimCareStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.place_in_interim_care(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class InterimCareExtensionStep(VersionedCommand):
    until: dt.date = Field(description="The stay is allowed up to and including this day.")
    reason: LongText = Field(description="Personal.")


@journey_step(
    "interim-care/extension",
    "Extend interim care, with a reason (a supervisor other than who placed the child)",
)
def record_interim_care_extension(
    case_id: UUID,
    step: InterimCareExtensionStep,
    intake: Intake,
    access: Approval,
    request: Request,
) -> CaseOut:
    approved_by_another(request, access, case_id)
    case = intake.extend_interim_care(
        case_id, step.version, step.until, step.reason, access.caller.sub
    )
    return case_out(intake, case)


class InterimCareEndStep(VersionedCommand):
    left_on: dt.date
    exit_reason: CareExit


@journey_step("interim-care/end", "Record that the child left interim care")
def record_interim_care_end(
    case_id: UUID, step: InterimCareEndStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.end_interim_care(
        case_id, step.version, step.left_on, step.exit_reason, access.caller.sub
    )
    return case_out(intake, case)


class NeedsAssessmentStep(VersionedCommand, NeedsAssessmentIn):
    pass


@journey_step("needs-assessment", "Record needs and protection flags")
def record_needs_assessment(
    case_id: UUID, step: NeedsAssessmentStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.assess_needs(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class RiskLevelStep(VersionedCommand):
    level: RiskLevel
    reason: LongText = Field(description="Personal.")
    set_at: AwareDatetime

    def to_domain(self, by: str) -> RiskAssessment:
        return RiskAssessment(self.level, self.reason, by, self.set_at)


@journey_step("risk-level", "Set the risk level; its response deadline follows")
def record_risk_level(case_id: UUID, step: RiskLevelStep, intake: Intake, access: Step) -> CaseOut:
    case = intake.set_risk_level(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class RiskResponseStep(VersionedCommand):
    action: LongText = Field(description="What was done. Personal.")
    responded_at: AwareDatetime


@journey_step("risk-response", "Record the response to the risk level")
def record_risk_response(
    case_id: UUID, step: RiskResponseStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.respond_to_risk(
        case_id, step.version, step.action, access.caller.sub, step.responded_at
    )
    return case_out(intake, case)


class TracingStep(VersionedCommand):
    tracing_agency: AgencyCode = Field(description="Needs the child's consent for tracing.")
    started_on: dt.date
    sought: LongText = Field(description="Who the child is looking for. Personal.")
    last_known_place: Text | None = Field(default=None, description="Personal.")

    def to_domain(self, by: str) -> TracingRequest:
        return TracingRequest(
            self.tracing_agency,
            by,
            self.started_on,
            self.sought,
            self.last_known_place,
        )


@journey_step("tracing", "Start family tracing (needs consent for tracing)")
def record_tracing(case_id: UUID, step: TracingStep, intake: Intake, access: Step) -> CaseOut:
    case = intake.start_tracing(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class TracingLeadStep(VersionedCommand):
    source: LeadSource
    lead: LongText = Field(description="Personal.")
    recorded_on: dt.date


@journey_step("tracing/leads", "Record a tracing lead")
def record_tracing_leads(
    case_id: UUID, step: TracingLeadStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.record_tracing_lead(
        case_id, step.version, step.source, step.lead, access.caller.sub, step.recorded_on
    )
    return case_out(intake, case)


class FamilyLocatedStep(VersionedCommand):
    relationship: Relationship
    family_members: list[Text] = Field(min_length=1, max_length=20, description="Personal.")
    whereabouts: Text = Field(description="Personal.")
    phone: Phone | None = Field(default=None, description="Personal.")
    relationship_verified: bool = Field(
        description="Verified with the child and the family separately."
    )
    located_on: dt.date

    def to_domain(self, by: str) -> FamilyFound:
        return FamilyFound(
            relationship=self.relationship,
            family_members=tuple(self.family_members),
            whereabouts=self.whereabouts,
            located_on=self.located_on,
            relationship_verified=self.relationship_verified,
            recorded_by=by,
            phone=self.phone,
        )


@journey_step("tracing/family-located", "Record that the family was located")
def record_tracing_family_located(
    case_id: UUID, step: FamilyLocatedStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.locate_family(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class FamilyAssessmentStep(VersionedCommand):
    willing: bool
    able: bool
    safe: bool
    child_willing: bool
    assessed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def to_domain(self, by: str) -> FamilyAssessment:
        return FamilyAssessment(
            self.willing,
            self.able,
            self.safe,
            self.child_willing,
            by,
            self.assessed_on,
            self.notes,
        )


@journey_step("tracing/family-assessment", "Best-interests check of the family")
def record_tracing_family_assessment(
    case_id: UUID, step: FamilyAssessmentStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.assess_family(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class TracingClosureStep(VersionedCommand):
    reason: TracingFailure
    closed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")


@journey_step("tracing/closure", "Close tracing unsuccessfully, with a reason")
def record_tracing_closure(
    case_id: UUID, step: TracingClosureStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.close_tracing(
        case_id, step.version, step.reason, access.caller.sub, step.closed_on, step.notes
    )
    return case_out(intake, case)


class RelationshipVerificationStep(VersionedCommand):
    verified_with: VerifiedWith = Field(description="Ask the child and the family apart.")
    verified_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")


@journey_step(
    "tracing/relationship-verification",
    "Record that the child, or the family, confirmed the relationship (each separately)",
)
def record_relationship_verification(
    case_id: UUID, step: RelationshipVerificationStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.verify_relationship(
        case_id, step.version, step.verified_with, access.caller.sub, step.verified_on, step.notes
    )
    return case_out(intake, case)


class ReturnCheckStep(VersionedCommand):
    community_acceptance: Acceptance
    re_recruitment_risk: Likelihood = Field(description="High refuses the return.")
    checked_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def to_domain(self, by: str) -> ReturnCheckRecord:
        return ReturnCheckRecord(
            self.community_acceptance, self.re_recruitment_risk, by, self.checked_on, self.notes
        )


@journey_step("tracing/return-check", "Record community acceptance and the re-recruitment risk")
def record_return_check(
    case_id: UUID, step: ReturnCheckStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.check_return(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class ReturnApprovalStep(VersionedCommand):
    reason: LongText = Field(
        min_length=20, description="Why the return is in the child's best interests. Personal."
    )
    approved_on: dt.date


@journey_step(
    "tracing/return-approval",
    "Approve the return in the child's best interests (a supervisor other than the caseworker)",
)
def record_return_approval(
    case_id: UUID,
    step: ReturnApprovalStep,
    intake: Intake,
    access: Approval,
    request: Request,
) -> CaseOut:
    approved_by_another(request, access, case_id)
    case = intake.approve_return(
        case_id, step.version, step.reason, access.caller.sub, step.approved_on
    )
    return case_out(intake, case)


class ReunificationStep(VersionedCommand):
    reunified_on: dt.date
    address: Text | None = Field(default=None, description="Personal.")


@journey_step("reunification", "Record the reunification with the family")
def record_reunification(
    case_id: UUID, step: ReunificationStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.reunify(case_id, step.version, step.reunified_on, access.caller.sub, step.address)
    return case_out(intake, case)


class DetentionStep(VersionedCommand):
    place: Text = Field(description="Where the child is held. Personal.")
    detaining_authority: Text = Field(description="Who holds the child. Personal.")
    started_on: dt.date
    legal_aid_provider: Text = Field(description="Who gives the child legal aid: required.")


@journey_step(
    "detention",
    "Record that the child is detained, with the legal aid provider (no debriefing is recorded)",
)
def record_detention(case_id: UUID, step: DetentionStep, intake: Intake, access: Step) -> CaseOut:
    case = intake.record_detention(
        case_id,
        step.version,
        step.place,
        step.detaining_authority,
        step.started_on,
        step.legal_aid_provider,
        access.caller.sub,
    )
    return case_out(intake, case)


class DetentionEndStep(VersionedCommand):
    ended_on: dt.date
    outcome: DetentionOutcome


@journey_step("detention/end", "Record that the child left detention, with the outcome")
def record_detention_end(
    case_id: UUID, step: DetentionEndStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.end_detention(
        case_id, step.version, step.ended_on, step.outcome, access.caller.sub
    )
    return case_out(intake, case)


class BreakdownStep(VersionedCommand):
    reason: BreakdownReason
    broke_down_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")


@journey_step(
    "reunification/breakdown",
    "Record that a reunification broke down: interim care, alternative care or tracing again",
)
def record_reunification_breakdown(
    case_id: UUID, step: BreakdownStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.record_reunification_breakdown(
        case_id, step.version, step.reason, step.broke_down_on, step.notes, access.caller.sub
    )
    return case_out(intake, case)


class AlternativeCareStep(VersionedCommand):
    kind: AlternativeCareKind
    carer: Text = Field(description="The foster family's or relative's identity. Personal.")
    address: Text | None = Field(default=None, description="Personal.")
    arranged_on: dt.date

    def to_domain(self, by: str) -> AlternativeCare:
        return AlternativeCare(self.kind, self.carer, self.arranged_on, by, self.address)


@journey_step("alternative-care", "Arrange alternative care")
def record_alternative_care(
    case_id: UUID, step: AlternativeCareStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.arrange_alternative_care(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class AssignmentStep(VersionedCommand):
    caseworker: Text
    assigned_on: dt.date


@journey_step("assignment", "Assign the case to a caseworker")
def record_assignment(
    case_id: UUID, step: AssignmentStep, intake: Intake, access: Reassignment
) -> CaseOut:
    case = intake.assign(
        case_id, step.version, step.caseworker, access.caller.sub, step.assigned_on
    )
    return case_out(intake, case)


class CasePlanStep(VersionedCommand):
    goals: dict[PlanArea, LongText] = Field(min_length=1, description="Personal.")
    child_participated: bool
    child_views: LongText | None = Field(default=None, description="Personal.")
    agreed_on: dt.date

    def to_domain(self, by: str) -> CasePlan:
        return CasePlan(
            dict(self.goals),
            self.child_participated,
            self.agreed_on,
            by,
            self.child_views,
        )


@journey_step("case-plan", "Record the case plan agreed with the child")
def record_case_plan(case_id: UUID, step: CasePlanStep, intake: Intake, access: Step) -> CaseOut:
    case = intake.agree_plan(case_id, step.version, step.to_domain(access.caller.sub))
    return case_out(intake, case)


class CasePlanReviewStep(VersionedCommand):
    reviewed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")


@journey_step(
    "case-plan/review",
    "Record a review of the case plan (due every 3 months, monthly while the risk is high)",
)
def record_case_plan_review(
    case_id: UUID, step: CasePlanReviewStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.review_plan(
        case_id, step.version, access.caller.sub, step.reviewed_on, step.notes
    )
    return case_out(intake, case)


class ClosureStep(VersionedCommand):
    reason: ClosureReason
    requested_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")


@journey_step("closure", "Ask to close the case, with the reason (a supervisor approves)")
def record_closure_request(
    case_id: UUID, step: ClosureStep, intake: Intake, access: Step
) -> CaseOut:
    case = intake.request_closure(
        case_id, step.version, step.reason, access.caller.sub, step.requested_on, step.notes
    )
    return case_out(intake, case)


class ClosureApprovalStep(VersionedCommand):
    approved_on: dt.date


@journey_step(
    "closure/approval", "Approve the closure asked for (a supervisor other than who asked)"
)
def record_closure_approval(
    case_id: UUID,
    step: ClosureApprovalStep,
    intake: Intake,
    access: Approval,
    request: Request,
) -> CaseOut:
    approved_by_another(request, access, case_id)
    case = intake.approve_closure(case_id, step.version, access.caller.sub, step.approved_on)
    return case_out(intake, case)


class ReopeningStep(VersionedCommand):
    reason: LongText = Field(description="Personal.")
    reopened_on: dt.date


@journey_step("reopening", "Reopen a closed case")
def record_reopening(case_id: UUID, step: ReopeningStep, intake: Intake, access: Step) -> CaseOut:
    case = intake.reopen_case(
        case_id, step.version, step.reason, access.caller.sub, step.reopened_on
    )
    return case_out(intake, case)
