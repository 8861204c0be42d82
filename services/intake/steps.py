"""The steps of a child's journey over HTTP: one request model per command.

Each model names the case version it was based on (a stale one is refused with 409) and turns
itself into a :data:`~services.intake.app.CaseStep`, which the domain checks and records.
Free-text and identifying fields are personal: the event store and Kafka get them sealed.
"""

import datetime as dt
from collections.abc import Callable
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from pydantic import AwareDatetime, Field, StringConstraints

from services.intake.api import CaseOut, Intake, LongText, case_errors, case_out
from services.intake.app import CaseStep
from services.intake.domain import (
    AgeAssessment,
    AgeMethod,
    AgeResult,
    AlternativeCare,
    AlternativeCareKind,
    CareExit,
    CareKind,
    CasePlan,
    ClosureReason,
    Dependant,
    FamilyAssessment,
    FamilyFound,
    Handover,
    LeadSource,
    NeedArea,
    NeedsAssessment,
    Placement,
    PlanArea,
    ProtectionFlag,
    Relationship,
    RiskAssessment,
    RiskLevel,
    Sex,
    TracingFailure,
    TracingRequest,
)
from shared.api import AgencyCode, RequestModel, Text, VersionedCommand

Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()-]{6,20}$")]


class JourneyStep(VersionedCommand):
    def step(self) -> CaseStep:
        """The domain command this request asks for."""
        raise NotImplementedError


class HandoverStep(JourneyStep):
    from_actor: Text = Field(description="The military or armed actor that held the child.")
    to_agency: Text = Field(description="The civilian child-protection agency.")
    at: AwareDatetime = Field(description="When custody passed, with its UTC offset.")

    def step(self) -> CaseStep:
        handover = Handover(self.from_actor, self.to_agency, self.at)
        return lambda case, now: case.hand_over(handover, now)


class AgeAssessmentStep(JourneyStep):
    method: AgeMethod = Field(description="Medical only after an uncertain assessment.")
    result: AgeResult = Field(description="Uncertain is treated as a child.")
    assessed_by: Text
    assessed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def step(self) -> CaseStep:
        assessment = AgeAssessment(
            self.method, self.result, self.assessed_by, self.assessed_on, self.notes
        )
        return lambda case, now: case.assess_age(assessment, now)


class InterimCareStep(JourneyStep):
    kind: CareKind
    carer: Text = Field(description="The centre, foster family or relative. Personal.")
    address: Text | None = Field(default=None, description="Personal.")
    entered_on: dt.date
    planned_end_on: dt.date | None = None
    placed_by: Text

    def step(self) -> CaseStep:
        placement = Placement(
            kind=self.kind,
            carer=self.carer,
            entered_on=self.entered_on,
            placed_by=self.placed_by,
            address=self.address,
            planned_end_on=self.planned_end_on,
        )
        return lambda case, now: case.place_in_interim_care(placement, now)


class InterimCareExtensionStep(JourneyStep):
    until: dt.date = Field(description="The stay is allowed up to and including this day.")
    reason: LongText = Field(description="Personal.")
    approved_by: Text = Field(description="The approving supervisor.")

    def step(self) -> CaseStep:
        return lambda case, now: case.extend_interim_care(
            self.until, self.reason, self.approved_by, now
        )


class InterimCareEndStep(JourneyStep):
    left_on: dt.date
    exit_reason: CareExit
    recorded_by: Text

    def step(self) -> CaseStep:
        return lambda case, now: case.end_interim_care(
            self.left_on, self.exit_reason, self.recorded_by, now
        )


class DependantIn(RequestModel):
    name: Text = Field(description="Personal.")
    sex: Sex
    date_of_birth: dt.date | None = None


class NeedsAssessmentStep(JourneyStep):
    needs: list[NeedArea] = Field(default_factory=list, max_length=len(NeedArea))
    flags: list[ProtectionFlag] = Field(default_factory=list, max_length=len(ProtectionFlag))
    dependants: list[DependantIn] = Field(
        default_factory=list, max_length=10, description="A child mother's own children."
    )
    sexual_violence_survivor: bool = Field(
        default=False, description="Extra-restricted: stored and published sealed only."
    )
    sexual_violence_details: LongText | None = Field(default=None, description="Restricted.")
    assessed_by: Text
    assessed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def step(self) -> CaseStep:
        assessment = NeedsAssessment(
            needs=tuple(self.needs),
            flags=tuple(self.flags),
            assessed_by=self.assessed_by,
            assessed_on=self.assessed_on,
            dependants=tuple(Dependant(d.name, d.sex, d.date_of_birth) for d in self.dependants),
            sexual_violence_survivor=self.sexual_violence_survivor,
            sexual_violence_details=self.sexual_violence_details,
            notes=self.notes,
        )
        return lambda case, now: case.assess_needs(assessment, now)


class RiskLevelStep(JourneyStep):
    level: RiskLevel
    reason: LongText = Field(description="Personal.")
    set_by: Text
    set_at: AwareDatetime

    def step(self) -> CaseStep:
        risk = RiskAssessment(self.level, self.reason, self.set_by, self.set_at)
        return lambda case, now: case.set_risk_level(risk, now)


class RiskResponseStep(JourneyStep):
    action: LongText = Field(description="What was done. Personal.")
    responded_by: Text
    responded_at: AwareDatetime

    def step(self) -> CaseStep:
        return lambda case, now: case.respond_to_risk(
            self.action, self.responded_by, self.responded_at, now
        )


class TracingStep(JourneyStep):
    tracing_agency: AgencyCode = Field(description="Needs the child's consent for tracing.")
    started_by: Text
    started_on: dt.date
    sought: LongText = Field(description="Who the child is looking for. Personal.")
    last_known_place: Text | None = Field(default=None, description="Personal.")

    def step(self) -> CaseStep:
        request = TracingRequest(
            self.tracing_agency,
            self.started_by,
            self.started_on,
            self.sought,
            self.last_known_place,
        )
        return lambda case, now: case.start_tracing(request, now)


class TracingLeadStep(JourneyStep):
    source: LeadSource
    lead: LongText = Field(description="Personal.")
    recorded_by: Text
    recorded_on: dt.date

    def step(self) -> CaseStep:
        return lambda case, now: case.record_tracing_lead(
            self.source, self.lead, self.recorded_by, self.recorded_on, now
        )


class FamilyLocatedStep(JourneyStep):
    relationship: Relationship
    family_members: list[Text] = Field(min_length=1, max_length=20, description="Personal.")
    whereabouts: Text = Field(description="Personal.")
    phone: Phone | None = Field(default=None, description="Personal.")
    relationship_verified: bool = Field(
        description="Verified with the child and the family separately."
    )
    recorded_by: Text
    located_on: dt.date

    def step(self) -> CaseStep:
        found = FamilyFound(
            relationship=self.relationship,
            family_members=tuple(self.family_members),
            whereabouts=self.whereabouts,
            located_on=self.located_on,
            relationship_verified=self.relationship_verified,
            recorded_by=self.recorded_by,
            phone=self.phone,
        )
        return lambda case, now: case.locate_family(found, now)


class FamilyAssessmentStep(JourneyStep):
    willing: bool
    able: bool
    safe: bool
    child_willing: bool
    assessed_by: Text
    assessed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def step(self) -> CaseStep:
        assessment = FamilyAssessment(
            self.willing,
            self.able,
            self.safe,
            self.child_willing,
            self.assessed_by,
            self.assessed_on,
            self.notes,
        )
        return lambda case, now: case.assess_family(assessment, now)


class ReunificationStep(JourneyStep):
    reunified_on: dt.date
    recorded_by: Text
    address: Text | None = Field(default=None, description="Personal.")

    def step(self) -> CaseStep:
        return lambda case, now: case.reunify(
            self.reunified_on, self.recorded_by, self.address, now
        )


class AlternativeCareStep(JourneyStep):
    kind: AlternativeCareKind
    carer: Text = Field(description="The foster family's or relative's identity. Personal.")
    address: Text | None = Field(default=None, description="Personal.")
    arranged_on: dt.date
    arranged_by: Text

    def step(self) -> CaseStep:
        care = AlternativeCare(
            self.kind, self.carer, self.arranged_on, self.arranged_by, self.address
        )
        return lambda case, now: case.arrange_alternative_care(care, now)


class TracingClosureStep(JourneyStep):
    reason: TracingFailure
    closed_by: Text
    closed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def step(self) -> CaseStep:
        return lambda case, now: case.close_tracing(
            self.reason, self.closed_by, self.closed_on, self.notes, now
        )


class AssignmentStep(JourneyStep):
    caseworker: Text
    assigned_by: Text
    assigned_on: dt.date

    def step(self) -> CaseStep:
        return lambda case, now: case.assign(
            self.caseworker, self.assigned_by, self.assigned_on, now
        )


class CasePlanStep(JourneyStep):
    goals: dict[PlanArea, LongText] = Field(min_length=1, description="Personal.")
    child_participated: bool
    child_views: LongText | None = Field(default=None, description="Personal.")
    agreed_by: Text
    agreed_on: dt.date

    def step(self) -> CaseStep:
        plan = CasePlan(
            dict(self.goals),
            self.child_participated,
            self.agreed_on,
            self.agreed_by,
            self.child_views,
        )
        return lambda case, now: case.agree_plan(plan, now)


class ClosureStep(JourneyStep):
    reason: ClosureReason
    closed_by: Text
    closed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def step(self) -> CaseStep:
        return lambda case, now: case.close(
            self.reason, self.closed_by, self.closed_on, self.notes, now
        )


class ReopeningStep(JourneyStep):
    reason: LongText = Field(description="Personal.")
    reopened_by: Text
    reopened_on: dt.date

    def step(self) -> CaseStep:
        return lambda case, now: case.reopen(self.reason, self.reopened_by, self.reopened_on, now)


# path below /cases/{case_id}, request model, summary
STEPS: tuple[tuple[str, type[JourneyStep], str], ...] = (
    ("handover", HandoverStep, "Record the handover to civilian child protection"),
    ("age-assessment", AgeAssessmentStep, "Record an age assessment (may change the route)"),
    ("interim-care", InterimCareStep, "Place the child in interim care"),
    ("interim-care/extension", InterimCareExtensionStep, "Extend interim care, with a reason"),
    ("interim-care/end", InterimCareEndStep, "Record that the child left interim care"),
    ("needs-assessment", NeedsAssessmentStep, "Record needs and protection flags"),
    ("risk-level", RiskLevelStep, "Set the risk level; its response deadline follows"),
    ("risk-response", RiskResponseStep, "Record the response to the risk level"),
    ("tracing", TracingStep, "Start family tracing (needs consent for tracing)"),
    ("tracing/leads", TracingLeadStep, "Record a tracing lead"),
    ("tracing/family-located", FamilyLocatedStep, "Record that the family was located"),
    ("tracing/family-assessment", FamilyAssessmentStep, "Best-interests check of the family"),
    ("tracing/closure", TracingClosureStep, "Close tracing unsuccessfully, with a reason"),
    ("reunification", ReunificationStep, "Record the reunification with the family"),
    ("alternative-care", AlternativeCareStep, "Arrange alternative care"),
    ("assignment", AssignmentStep, "Assign the case to a caseworker"),
    ("case-plan", CasePlanStep, "Record the case plan agreed with the child"),
    ("closure", ClosureStep, "Close the case"),
    ("reopening", ReopeningStep, "Reopen a closed case"),
)


def journey_router() -> APIRouter:
    """``POST /cases/{case_id}/<step>`` for every step of the journey."""
    router = APIRouter(prefix="/cases", tags=["journey"])
    for path, model, summary in STEPS:
        router.add_api_route(
            f"/{{case_id}}/{path}",
            _take(model),
            methods=["POST"],
            summary=summary,
            name=f"record_{path.replace('/', '_').replace('-', '_')}",
            responses={
                409: {"description": "A stale version, or a step the case's state refuses."},
                422: {"description": "A field is missing, malformed or impossible."},
            },
        )
    return router


def _take(model: type[JourneyStep]) -> Callable[..., CaseOut]:
    def take_step(case_id: UUID, command: model, intake: Intake) -> CaseOut:  # type: ignore[valid-type]
        with case_errors(case_id):
            case = intake.record(case_id, command.version, command.step())  # type: ignore[attr-defined]
        return case_out(intake, case)

    return take_step
