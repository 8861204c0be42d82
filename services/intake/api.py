"""The intake service's HTTP routes and their request and response models."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Self
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from services.intake.app import IntakeApplication
from services.intake.domain import (
    ArmedGroupKind,
    BestInterests,
    BestInterestsGrounds,
    CaseNotFound,
    ChildCase,
    ChildOfMother,
    Consent,
    Dependant,
    DisclosureRefusal,
    ErasureReason,
    Handover,
    HowLeft,
    LinkRelation,
    MaturityAssessment,
    NeedArea,
    NeedsAssessment,
    NotePurpose,
    ProtectionFlag,
    Registration,
    RiskLevel,
    Role,
    Route,
    Sex,
    Stage,
)
from services.intake.domain.vocabulary import NOTE_MAX_CHARS, RETIRED_HOW_LEFT
from services.intake.idempotency import IDEMPOTENCY_KEY_PATTERN
from services.intake.messages import CATALOGUE, RESTRICTED_FIELDS
from services.intake.programme import (
    Deadline,
    DeadlineDates,
    DeadlineKind,
    DeadlineStatus,
    Programme,
)
from services.intake.projections import CaseFilter, CaseProjections, CaseRow
from services.intake.reports.disclosure import Grid, suppress
from services.intake.reports.tables import ReportSettings, as_published
from shared.access import Action, Caller, Decision, Outcome, decide, decide_approval, permission
from shared.api import (
    LONGEST_AGENCY_CODE,
    MAX_OFFSET,
    AgencyCode,
    AgencyFilter,
    CaseworkerFilter,
    CountryCode,
    Erased,
    PageLimit,
    PageOffset,
    RequestModel,
    Text,
    VersionedCommand,
)
from shared.auth import authorize, authorize_listing, requires, settle
from shared.consent import ConsentGiver, DataCategory, Purpose
from shared.crypto import ERASED
from shared.envelope import event_type
from shared.protections import Displacement

LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
NoteText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NOTE_MAX_CHARS)
]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


class DependantIn(RequestModel):
    name: Text = Field(description="Personal.")
    sex: Sex
    date_of_birth: dt.date | None = None


class NeedsAssessmentIn(RequestModel):
    needs: list[NeedArea] = Field(default_factory=list, max_length=len(NeedArea))
    flags: list[ProtectionFlag] = Field(default_factory=list, max_length=len(ProtectionFlag))
    dependants: list[DependantIn] = Field(
        default_factory=list, max_length=10, description="A child mother's own children."
    )
    sexual_violence_survivor: bool = Field(
        default=False, description="Extra-restricted: stored and published sealed only."
    )
    sexual_violence_details: LongText | None = Field(default=None, description="Restricted.")
    assessed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def to_domain(self, by: str) -> NeedsAssessment:
        return NeedsAssessment(
            needs=tuple(self.needs),
            flags=tuple(self.flags),
            assessed_by=by,
            assessed_on=self.assessed_on,
            dependants=tuple(Dependant(d.name, d.sex, d.date_of_birth) for d in self.dependants),
            sexual_violence_survivor=self.sexual_violence_survivor,
            sexual_violence_details=self.sexual_violence_details,
            notes=self.notes,
        )


class ReleaseIn(RequestModel):
    date: dt.date = Field(description="The day the child left the armed force or group.")
    place: Text = Field(description="Where: personal data, protected like a name.")
    # The schema offers only what may be chosen now (so do the forms made from it); a retired
    # value sent all the same is refused with what to choose instead.
    how_left: Annotated[
        HowLeft,
        WithJsonSchema(
            {"type": "string", "enum": [h.value for h in HowLeft if h not in RETIRED_HOW_LEFT]}
        ),
    ] = Field(
        description="How the child left. "
        + "; ".join(
            f"'{retired}' is kept on cases registered before, not chosen any more: choose "
            + " or ".join(f"'{choice}'" for choice in choices)
            for retired, choices in RETIRED_HOW_LEFT.items()
        )
        + "."
    )
    separated_from_adults: bool | None = Field(
        default=None,
        description="Whether the child was separated from adult members of the force or group "
        "at release; null when not known. Personal.",
    )

    @field_validator("how_left")
    @classmethod
    def _not_retired(cls, how_left: HowLeft) -> HowLeft:
        choices = RETIRED_HOW_LEFT.get(how_left)
        if choices is not None:
            raise ValueError(
                f"'{how_left}' is no longer recorded: choose "
                + " or ".join(f"'{choice}'" for choice in choices)
            )
        return how_left


class ArmedGroupIn(RequestModel):
    name: Text
    kind: ArmedGroupKind


class HandoverIn(RequestModel):
    from_actor: Text = Field(description="The military or armed actor that held the child.")
    to_agency: Text = Field(description="The civilian child-protection agency.")
    at: AwareDatetime = Field(description="When custody passed, with its UTC offset.")
    protocol: Text | None = Field(
        default=None,
        description="The handover protocol or action plan it happened under, if any. Personal.",
    )
    custody_hours: int | None = Field(
        default=None,
        ge=0,
        description="Hours the child was held by a military or security actor before the "
        "handover, as reported; at most the hours from the start of the release day to the "
        "handover. Personal.",
    )

    def to_domain(self) -> Handover:
        return Handover(self.from_actor, self.to_agency, self.at, self.protocol, self.custody_hours)


class ChildRegistration(RequestModel):
    name: Text = Field(description="As the child gives it. Personal: sealed per case.")
    date_of_birth: dt.date | None = Field(
        default=None, description="If known; otherwise the estimated age stands. Personal."
    )
    languages: list[LanguageCode] = Field(default_factory=list, max_length=10)
    notes: dict[NotePurpose, NoteText] = Field(
        default_factory=dict,
        description="Short notes, one per purpose, each at most "
        f"{NOTE_MAX_CHARS} characters: what the child needs for it, never the story of the "
        "association (no debriefing). Personal; kept by the case agency, never shared with "
        "partners, who get what a referral writes for them.",
    )
    needs_assessment: NeedsAssessmentIn | None = Field(
        default=None,
        description="The needs and protection flags found at registration, recorded as the "
        "needs-assessment step records them.",
    )
    release: ReleaseIn
    armed_group: ArmedGroupIn
    roles: list[Role] = Field(
        default_factory=list,
        max_length=len(Role),
        description="Association in any capacity counts; no weapon is needed.",
    )
    sex: Sex
    estimated_age: int = Field(ge=5, le=30, description="Years; an age assessment may follow.")
    registering_agency: AgencyCode | None = Field(
        default=None,
        examples=["CD-KIN"],
        description="The caller's own agency, which it defaults to; another is refused.",
    )
    caseworker: Text | None = Field(
        default=None,
        description="The caller, which it defaults to; someone else only by a supervisor.",
    )
    handover: HandoverIn | None = None
    nationality: CountryCode | None = Field(
        default=None,
        description="ISO 3166-1 alpha-2, if known. Personal. With displacement, it keeps the "
        "authorities of the country of origin from the child's data (non-refoulement).",
    )
    displacement: Displacement | None = Field(default=None, description="Personal.")

    def to_domain(self, agency: str, caseworker: str, by: str) -> Registration:
        handover = None if self.handover is None else self.handover.to_domain()
        needs = self.needs_assessment
        return Registration(
            name=self.name,
            date_of_birth=self.date_of_birth,
            languages=tuple(self.languages),
            notes=dict(self.notes),
            needs=None if needs is None else needs.to_domain(by),
            nationality=self.nationality,
            displacement=self.displacement,
            how_left=self.release.how_left,
            separated_from_adults=self.release.separated_from_adults,
            released_on=self.release.date,
            release_place=self.release.place,
            armed_group=self.armed_group.name,
            armed_group_kind=self.armed_group.kind,
            roles=tuple(dict.fromkeys(self.roles)),
            sex=self.sex,
            estimated_age=self.estimated_age,
            registering_agency=agency,
            caseworker=caseworker,
            handover=handover,
        )


class HandoverOut(BaseModel):
    from_actor: str
    to_agency: str
    at: dt.datetime
    protocol: str | None
    custody_hours: int | Erased | None


class ConsentOut(BaseModel):
    consent_id: UUID
    given_by: ConsentGiver
    purpose: Purpose
    recipients: list[str]
    categories: list[DataCategory]
    given_on: dt.date
    expires_on: dt.date | None
    recorded_by: str
    approved_by: str | None
    best_interests_grounds: BestInterestsGrounds | None
    best_interests_reason: str | None
    withdrawn: bool


class DeadlineOut(BaseModel):
    kind: DeadlineKind
    due_at: dt.datetime
    met_at: dt.datetime | None
    status: DeadlineStatus

    @classmethod
    def of(cls, deadline: Deadline, now: dt.datetime) -> "DeadlineOut":
        return cls(
            kind=deadline.kind,
            due_at=deadline.due_at,
            met_at=deadline.met_at,
            status=deadline.status(now),
        )

    @property
    def alert(self) -> str | None:
        if self.status == DeadlineStatus.OVERDUE:
            return f"{self.kind}_overdue"
        if self.status == DeadlineStatus.MET_LATE:
            return f"{self.kind}_late"
        return None


def case_deadlines(case: ChildCase, programme: Programme) -> list[Deadline]:
    """The case's deadlines, from its recorded dates; a closed or erased case has none left
    to meet."""
    if case.closed is not None or case.erased:
        return []
    risk = case.risk
    # A direct return an earlier version recorded as a placement starts no interim-care clock.
    placement = case.placement if case.placement and case.placement.interim_care else None
    return programme.deadlines(
        DeadlineDates(
            released_on=case.released_on,
            handed_over_at=None if case.handover is None else case.handover.handed_over_at,
            care_entered_on=None if placement is None else placement.entered_on,
            care_extended_until=None if placement is None else placement.extended_until,
            care_left_on=None if placement is None else placement.left_on,
            risk_level=None if risk is None else risk.level,
            risk_set_at=None if risk is None else risk.set_at,
            risk_responded_at=case.risk_responded_at,
            plan_reviewed_on=case.plan_reviewed_on,
        )
    )


def journey_of(case: ChildCase) -> dict[str, Any]:
    """What the journey recorded so far, for the case view (restricted data left out)."""
    latest_age = case.age_assessments[-1] if case.age_assessments else None
    tracing = case.tracing
    return {
        "age_assessment": None if latest_age is None else vars(latest_age),
        "interim_care": None if case.placement is None else vars(case.placement),
        "needs": case.needs,
        "protection_flags": case.protection_flags,
        "dependants": case.dependants,
        "risk": None
        if case.risk is None
        else {**vars(case.risk), "responded_at": case.risk_responded_at},
        "tracing": None
        if tracing is None
        else {
            **vars(tracing),
            "verified_with": sorted(tracing.verified_with),
            "assessment": None
            if tracing.assessment is None
            else {**vars(tracing.assessment), "suitable": tracing.assessment.suitable},
        },
        "reunified_on": case.reunified_on,
        "alternative_care": None if case.alternative_care is None else vars(case.alternative_care),
        "case_plan": None if case.plan is None else vars(case.plan),
        "closure": None
        if case.closed is None
        else {"reason": case.closed[0], "closed_on": case.closed[1]},
        "detention": None if case.detention is None else vars(case.detention),
        "detentions": [vars(episode) for episode in case.detentions],
        "closure_requested": None
        if case.closure_requested is None
        else vars(case.closure_requested),
        "closure_recommended_by_followup": None
        if case.closure_recommendation is None
        else case.closure_recommendation[0],
    }


class CaseOut(BaseModel):
    case_id: UUID
    case_number: str
    version: int = Field(description="Send it back with a change, to detect concurrent edits.")
    erased: bool = Field(description="Personal fields of an erased case read '[erased]'.")
    name: str
    date_of_birth: str | None
    languages: list[str] | Erased
    notes: dict[str, str] | Erased = Field(
        description="The case agency's short notes per purpose; 'legacy_account': the free-"
        "text account a case registered before notes holds. Never shared with partners."
    )
    nationality: str | None
    displacement: str | None
    how_left: str
    separated_from_adults: bool | Erased | None
    released_on: dt.date | Erased
    release_place: str
    armed_group: ArmedGroupIn | Erased
    roles: list[str] | Erased
    sex: str
    estimated_age: int | Erased
    registering_agency: str
    caseworker: str
    handover: HandoverOut | None
    consents: list[ConsentOut]
    linked_cases: dict[UUID, LinkRelation] = Field(
        description="Cases linked to this one, and what each is to it (a child mother's child)."
    )
    stage: Stage
    route: Route = Field(description="adult_pathway once assessed 18 or over.")
    journey: dict[str, Any] = Field(
        description="Age assessment, interim care, needs, risk, tracing, care and plan."
    )
    deadlines: list[DeadlineOut]
    age: int | None = Field(
        description="The child's age today: from the date of birth, else an assessment that "
        "found the child adult, else the estimate plus the years since registration."
    )
    maturity_assessed: bool = Field(description="Assessed mature enough to consent alone.")
    consents_to_renew: list[UUID] = Field(
        description="Consents given for the child that the child's age no longer lets stand "
        "alone: the child's own consent is needed now."
    )
    alerts: list[str] = Field(
        description="Deadlines missed or overdue now, e.g. 'handover_late', "
        "'interim_care_overdue', 'risk_response_overdue'; 'own_consent_needed' from 15, "
        "'consent_lapsed_at_18' from 18, while consents_to_renew is not empty; "
        "'transition_plan_needed' from 17 while the case plan has no "
        "'transition_to_adulthood' goal."
    )
    next_steps: list[str] = Field(
        description="The journey's steps the case's state allows now, each named as its path "
        "under /cases/{case_id}/ (e.g. 'interim-care/end' only while the child is in interim "
        "care); a step listed may still be refused for what its body says."
    )

    @classmethod
    def of(cls, case: ChildCase, programme: Programme, now: dt.datetime) -> "CaseOut":
        deadlines = [DeadlineOut.of(d, now) for d in case_deadlines(case, programme)]
        alerts = [d.alert for d in deadlines if d.alert is not None]
        age, to_renew = None, []
        if not case.erased:
            age, to_renew = case.age(now, programme), case.consents_to_renew(now, programme)
        if to_renew:
            adult = age is not None and age >= programme.adult_age
            alerts.append("consent_lapsed_at_18" if adult else "own_consent_needed")
        if case.needs_transition_plan(now, programme):
            alerts.append("transition_plan_needed")
        return cls(
            **cls._registration(case),
            stage=case.stage,
            route=case.route,
            journey=journey_of(case),
            deadlines=deadlines,
            age=age,
            maturity_assessed=case.maturity_assessed,
            consents_to_renew=to_renew,
            alerts=alerts,
            next_steps=case.next_steps(now, programme),
        )

    @staticmethod
    def _registration(case: ChildCase) -> dict[str, Any]:
        handover = None
        if case.handover is not None:
            handover = HandoverOut(
                from_actor=case.handover.from_actor,
                to_agency=case.handover.to_agency,
                at=case.handover.handed_over_at,
                protocol=case.handover.protocol,
                custody_hours=case.handover.custody_hours,
            )
        return dict(
            case_id=case.id,
            case_number=case.case_number,
            version=case.version,
            erased=case.erased,
            name=case.name,
            date_of_birth=case.date_of_birth,
            languages=case.languages,
            notes=case.notes,
            nationality=case.nationality,
            displacement=case.displacement,
            how_left=case.how_left,
            separated_from_adults=case.separated_from_adults,
            released_on=case.released_on,
            release_place=case.release_place,
            armed_group=ERASED
            if case.erased
            else ArmedGroupIn(name=case.armed_group, kind=ArmedGroupKind(case.armed_group_kind)),
            roles=case.roles,
            sex=case.sex,
            estimated_age=case.estimated_age,
            registering_agency=case.registering_agency,
            caseworker=case.caseworker,
            handover=handover,
            linked_cases=dict(case.links),
            consents=[
                ConsentOut(
                    consent_id=consent_id,
                    given_by=consent.given_by,
                    purpose=consent.purpose,
                    recipients=list(consent.recipients),
                    categories=list(consent.categories),
                    given_on=consent.given_on,
                    expires_on=consent.expires_on,
                    recorded_by=consent.recorded_by,
                    approved_by=consent.approved_by,
                    best_interests_grounds=None
                    if consent.best_interests is None
                    else consent.best_interests.grounds,
                    best_interests_reason=None
                    if consent.best_interests is None
                    else consent.best_interests.reason,
                    withdrawn=consent_id in case.withdrawn_consents,
                )
                for consent_id, consent in case.consents.items()
            ],
        )


class ConsentIn(VersionedCommand):
    given_by: ConsentGiver
    purpose: Purpose
    recipients: list[AgencyCode] = Field(min_length=1, max_length=50)
    categories: list[DataCategory] = Field(min_length=1, max_length=len(DataCategory))
    given_on: dt.date
    expires_on: dt.date | None = None
    best_interests_grounds: BestInterestsGrounds | None = Field(
        default=None, description="For a best-interests decision: why no caregiver consents."
    )
    best_interests_reason: LongText | None = Field(
        default=None,
        min_length=20,
        description="For a best-interests decision: the written reason. Personal.",
    )

    @model_validator(mode="after")
    def _best_interests_written(self) -> Self:
        deciding = self.given_by == ConsentGiver.BEST_INTERESTS_DECISION
        written = self.best_interests_grounds is not None and self.best_interests_reason
        if deciding and not written:
            raise ValueError(
                "a best-interests decision needs best_interests_grounds and a written "
                "best_interests_reason (at least 20 characters)"
            )
        if not deciding and (self.best_interests_grounds or self.best_interests_reason):
            raise ValueError("best_interests_* belong to a best-interests decision only")
        return self

    def to_domain(self, recorded_by: str, approved_by: str | None) -> Consent:
        best_interests = None
        if self.best_interests_grounds is not None and self.best_interests_reason:
            best_interests = BestInterests(self.best_interests_grounds, self.best_interests_reason)
        return Consent(
            given_by=self.given_by,
            purpose=self.purpose,
            recipients=tuple(dict.fromkeys(self.recipients)),
            categories=tuple(dict.fromkeys(self.categories)),
            given_on=self.given_on,
            recorded_by=recorded_by,
            expires_on=self.expires_on,
            approved_by=approved_by,
            best_interests=best_interests,
        )


class CorrectionIn(VersionedCommand):
    """The registered facts to correct, each as registration takes it; what is left out stays."""

    name: Text | None = None
    date_of_birth: dt.date | None = None
    sex: Sex | None = None
    estimated_age: int | None = Field(default=None, ge=5, le=30)
    languages: list[LanguageCode] | None = Field(default=None, max_length=10)
    nationality: CountryCode | None = None
    displacement: Displacement | None = None
    release_place: Text | None = None
    reason: Text = Field(description="Why the recorded value was wrong. Personal.")

    @model_validator(mode="after")
    def _something_to_correct(self) -> Self:
        given = self.corrections()
        if not given:
            raise ValueError("name at least one field to correct")
        nulls = sorted(f for f, v in given.items() if v is None and f not in NULLABLE)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be emptied, only corrected")
        return self

    def corrections(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True, exclude={"version", "reason"})


# A correction may say a fact is not known after all.
NULLABLE = frozenset({"date_of_birth", "nationality", "displacement"})


class MaturityAssessmentIn(VersionedCommand):
    mature: bool = Field(description="Mature enough to consent alone (asked at 12 to 14).")
    assessed_on: dt.date
    notes: LongText | None = Field(default=None, description="Personal.")

    def to_domain(self, by: str) -> MaturityAssessment:
        return MaturityAssessment(self.mature, by, self.assessed_on, self.notes)


class DisclosureRefusalIn(VersionedCommand):
    purpose: Purpose | None = Field(default=None, description="None: for any purpose.")
    recipients: list[AgencyCode] = Field(
        default_factory=list, max_length=50, description="None named: to anyone."
    )
    categories: list[DataCategory] = Field(
        default_factory=list, max_length=len(DataCategory), description="None named: all."
    )
    refused_on: dt.date

    def to_domain(self, by: str) -> DisclosureRefusal:
        return DisclosureRefusal(
            purpose=self.purpose,
            recipients=tuple(dict.fromkeys(self.recipients)),
            categories=tuple(dict.fromkeys(self.categories)),
            recorded_by=by,
            refused_on=self.refused_on,
        )


class WithdrawalIn(VersionedCommand):
    pass


class ErasureIn(VersionedCommand):
    reason: ErasureReason


async def intake_application(request: Request) -> IntakeApplication:
    # async because it only reads the app's state: FastAPI hands a sync dependency to a worker
    # thread, and each hand-over waits for the interpreter lock under load.
    application = request.app.state.runtime.application
    assert isinstance(application, IntakeApplication)
    return application


Intake = Annotated[IntakeApplication, Depends(intake_application)]


def case_out(intake: IntakeApplication, case: ChildCase) -> CaseOut:
    return CaseOut.of(case, intake.programme, intake.clock())


async def projections(intake: Intake) -> CaseProjections:
    if intake.projections is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "The case list is not kept here.")
    return intake.projections


Projections = Annotated[CaseProjections, Depends(projections)]


@dataclass(frozen=True)
class CaseAccess:
    """The caller, and the case they may take the route's action on."""

    caller: Caller
    case: ChildCase


def case_access(action: Action, *, personal: bool = False) -> Callable[..., CaseAccess]:
    """The dependency of a route on one case: 401 or 403 before the case is loaded, then
    404 for a case that is missing or of another agency alike (``personal`` reads are
    recorded, and may break the glass)."""

    def dependency(
        case_id: UUID,
        request: Request,
        intake: Intake,
        caller: Annotated[Caller, Depends(requires(action))],
    ) -> CaseAccess:
        case = intake.get_case(case_id)
        authorize(
            request,
            caller,
            action,
            case.registering_agency,
            not_found=str(CaseNotFound(case_id)),
            case_id=case_id,
            personal=personal,
        )
        return CaseAccess(caller, case)

    return dependency


Reading = Annotated[CaseAccess, Depends(case_access(Action.READ_CASE, personal=True))]
Step = Annotated[CaseAccess, Depends(case_access(Action.RECORD_STEP))]
Approval = Annotated[CaseAccess, Depends(case_access(Action.APPROVE))]
Reassignment = Annotated[CaseAccess, Depends(case_access(Action.REASSIGN_CASE))]
Erasure = Annotated[CaseAccess, Depends(case_access(Action.ERASE_CASE))]

router = APIRouter(prefix="/cases", tags=["cases"])


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Made by the client, one per child it registers (up to 100 letters, "
        "digits, '-' and '_'): a retry with the same key registers nothing again and is "
        "answered 200 with the case the first request registered.",
    ),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a child released from an armed force or group",
    responses={
        200: {
            "model": CaseOut,
            "description": "Registered earlier with the same Idempotency-Key: nothing recorded.",
        },
        409: {"description": "The Idempotency-Key came earlier with another registration."},
        422: {"description": "A field is missing, malformed or impossible."},
    },
)
def register_child(
    registration: ChildRegistration,
    intake: Intake,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(requires(Action.REGISTER_CASE))],
    idempotency_key: IdempotencyKey = None,
) -> CaseOut:
    agency = registration.registering_agency or caller.agency
    if agency != caller.agency:
        reason = f"a case is registered for the caller's own agency, {caller.agency}"
        settle(
            request,
            caller,
            Decision(Outcome.FORBIDDEN, Action.REGISTER_CASE, reason),
            not_found="No such agency.",
        )
    caseworker = registration.caseworker or caller.sub
    if caseworker != caller.sub:
        settle(
            request,
            caller,
            decide(caller, Action.REASSIGN_CASE, agency),
            not_found="No such agency.",
        )
    if idempotency_key is None:
        case = intake.register_child(registration.to_domain(agency, caseworker, caller.sub))
    else:
        case, registered_now = intake.register_child_once(
            registration.to_domain(agency, caseworker, caller.sub), idempotency_key
        )
        if not registered_now:
            response.status_code = status.HTTP_200_OK
    return case_out(intake, case)


class CaseSummary(BaseModel):
    case_id: UUID
    case_number: str
    name: str = Field(description="Opened when asked for; '[erased]' once the case is erased.")
    registering_agency: str
    caseworker: str
    sex: str | None = Field(description="None once the case is erased; so are the others.")
    age_band: str | None
    stage: Stage
    route: Route | None
    risk_level: RiskLevel | None
    flags: list[str]
    released_on: dt.date | None
    version: int
    erased: bool
    overdue: list[DeadlineKind]

    @classmethod
    def of(cls, row: CaseRow, now: dt.datetime) -> "CaseSummary":
        return cls(
            **{name: getattr(row, name) for name in cls.model_fields if name != "overdue"},
            overdue=[deadline.kind for deadline in row.overdue(now)],
        )


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


class OverdueOut(BaseModel):
    case_id: UUID
    case_number: str
    registering_agency: str
    caseworker: str
    stage: Stage
    kind: DeadlineKind
    due_at: dt.datetime
    overdue_hours: float


class TimelineEntry(BaseModel):
    version: int
    type: str = Field(description="The CloudEvent type it is published as.")
    recorded_at: dt.datetime
    data: dict[str, Any] = Field(
        description="As published, with personal fields opened ('[erased]' once erased)."
    )


@router.get("", summary="The case list, from the projection of homeward.intake.events")
def list_cases(
    intake: Intake,
    read_model: Projections,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.LIST_CASES))],
    stage: Stage | None = None,
    risk: RiskLevel | None = None,
    overdue: bool | None = Query(
        default=None, description="Only cases with (or without) an overdue deadline now."
    ),
    agency: AgencyFilter = None,
    caseworker: CaseworkerFilter = None,
    case_number: str | None = Query(
        default=None,
        max_length=LONGEST_AGENCY_CODE + 12,
        description="Only the case of this number (CD-KIN-2026-00042), as it was issued.",
    ),
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> CasePage:
    visible = authorize_listing(request, caller, Action.LIST_CASES, personal=True)
    where = CaseFilter(
        stage=stage,
        risk=risk,
        agency=agency,
        caseworker=caseworker,
        overdue=overdue,
        case_number=case_number,
        visible_agency=visible,
    )
    return listed(read_model, where, limit, offset, intake.clock())


def listed(
    read_model: CaseProjections, where: CaseFilter, limit: int, offset: int, now: dt.datetime
) -> CasePage:
    page = read_model.cases(where, limit, offset)
    return CasePage(
        items=[CaseSummary.of(row, now) for row in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


class CaseSearch(RequestModel):
    name: Text = Field(
        description="Words of the child's name, in any order, accents and case aside; each "
        "must be a whole word of the name. Personal: sent in the body, so that no URL or "
        "access log holds it."
    )
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


@router.post(
    "/search",
    summary="The case list, searched by the child's name (through a keyed blind index)",
)
def search_cases(
    search: CaseSearch,
    intake: Intake,
    read_model: Projections,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.LIST_CASES))],
) -> CasePage:
    visible = authorize_listing(request, caller, Action.LIST_CASES, personal=True)
    hashes = tuple(read_model.names.hashes(search.name))
    if not hashes:
        raise HTTPException(422, "Fix this: the name has no word to search by")
    where = CaseFilter(name_hashes=hashes, visible_agency=visible)
    return listed(read_model, where, search.limit, search.offset, intake.clock())


@router.get("/overdue", summary="Deadlines overdue now: handover, interim care, risk response")
def overdue_cases(
    intake: Intake,
    read_model: Projections,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.LIST_CASES))],
    agency: AgencyFilter = None,
) -> list[OverdueOut]:
    visible = authorize_listing(request, caller, Action.LIST_CASES)
    now = intake.clock()
    return [
        OverdueOut(
            case_id=UUID(case.case_id),
            case_number=case.case_number,
            registering_agency=case.registering_agency,
            caseworker=case.caseworker,
            stage=Stage(case.stage),
            kind=deadline.kind,
            due_at=deadline.due_at,
            overdue_hours=round((now - deadline.due_at).total_seconds() / 3600, 1),
        )
        for case, deadline in read_model.overdue(agency, visible)
    ]


@router.get("/{case_id}/timeline", summary="A case's recorded facts, newest first")
def timeline(case_id: UUID, intake: Intake, access: Reading) -> list[TimelineEntry]:
    history = intake.history(case_id)
    # Restricted fields open only for whoever holds them (the read itself is recorded once).
    restricted_open = decide(
        access.caller, Action.READ_SEXUAL_VIOLENCE, access.case.registering_agency
    ).allowed
    entries = []
    for event in reversed(history):
        form = CATALOGUE.form_of(event)
        if form is None:
            continue
        data = form.to_data(event)
        if not restricted_open:
            data.update({field: "[restricted]" for field in RESTRICTED_FIELDS if field in data})
        entries.append(
            TimelineEntry(
                version=event.originator_version,
                type=event_type("intake", form.name, form.version),
                recorded_at=event.timestamp,  # type: ignore[attr-defined]
                data=data,
            )
        )
    return entries


@router.get("/{case_id}", summary="A case's current state")
def get_case(intake: Intake, access: Reading) -> CaseOut:
    return case_out(intake, access.case)


@router.post(
    "/{case_id}/consents",
    status_code=status.HTTP_201_CREATED,
    summary="Record consent or assent for one purpose, to named agencies",
)
def give_consent(
    case_id: UUID, consent: ConsentIn, intake: Intake, access: Step, request: Request
) -> CaseOut:
    recorded_by, approved_by = access.caller.sub, None
    if consent.given_by == ConsentGiver.BEST_INTERESTS_DECISION:
        # A best-interests decision is the case's caseworker's proposal and its approval by
        # a supervisor who is someone else (four eyes): the caller approves it.
        agency = access.case.registering_agency
        for decision in (
            decide(access.caller, Action.DECIDE_BEST_INTERESTS, agency),
            decide_approval(access.caller, agency, access.case.caseworker),
        ):
            settle(
                request,
                access.caller,
                decision,
                not_found=str(CaseNotFound(case_id)),
                case_id=case_id,
            )
        recorded_by, approved_by = access.case.caseworker, access.caller.sub
    case = intake.give_consent(
        case_id, consent.version, consent.to_domain(recorded_by, approved_by)
    )
    return case_out(intake, case)


class ChildOfMotherIn(VersionedCommand):
    """The version is the mother's case's."""

    name: Text = Field(description="Personal.")
    sex: Sex
    date_of_birth: dt.date | None = Field(default=None, description="Personal.")
    estimated_age: int | None = Field(default=None, ge=0, le=17)

    def to_domain(self) -> ChildOfMother:
        return ChildOfMother(self.name, self.sex, self.date_of_birth, self.estimated_age)


class UnlinkIn(VersionedCommand):
    reason: Text = Field(description="Why the link was wrong. Personal.")


@router.post(
    "/{case_id}/children",
    status_code=status.HTTP_201_CREATED,
    summary="Register a child mother's child as a case of its own, linked to hers",
    description="Answers the child's new case. The child is registered with the mother's "
    "release (her agency, caseworker, group and date, or the date of birth when later) and "
    "the two cases are linked both ways (`CaseLinked`); erasing one leaves the other.",
)
def register_child_of_mother(
    case_id: UUID, child: ChildOfMotherIn, intake: Intake, access: Step
) -> CaseOut:
    case = intake.register_child_of(case_id, child.version, child.to_domain(), access.caller.sub)
    return case_out(intake, case)


@router.post(
    "/{case_id}/links/{linked_case_id}/removal",
    summary="Remove a link recorded in error, from both cases",
)
def unlink_cases(
    case_id: UUID, linked_case_id: UUID, unlink: UnlinkIn, intake: Intake, access: Step
) -> CaseOut:
    case = intake.unlink(case_id, unlink.version, linked_case_id, unlink.reason, access.caller.sub)
    return case_out(intake, case)


@router.post(
    "/{case_id}/corrections",
    summary="Correct registered facts (name, date of birth...), with the reason",
    description="Each corrected field is a `FieldCorrected` fact: the case shows the corrected "
    "value, the timeline keeps both, and the other services learn it through Kafka.",
)
def correct_case(case_id: UUID, correction: CorrectionIn, intake: Intake, access: Step) -> CaseOut:
    case = intake.correct(
        case_id,
        correction.version,
        correction.corrections(),
        correction.reason,
        access.caller.sub,
    )
    return case_out(intake, case)


@router.post(
    "/{case_id}/maturity-assessment",
    summary="Record whether the child is mature enough to consent alone (ages 12 to 14)",
)
def assess_maturity(
    case_id: UUID, assessment: MaturityAssessmentIn, intake: Intake, access: Step
) -> CaseOut:
    case = intake.assess_maturity(
        case_id, assessment.version, assessment.to_domain(access.caller.sub)
    )
    return case_out(intake, case)


@router.post(
    "/{case_id}/disclosure-refusals",
    status_code=status.HTTP_201_CREATED,
    summary="Record the child's refusal of a disclosure: it blocks it whatever consent says",
)
def refuse_disclosure(
    case_id: UUID, refusal: DisclosureRefusalIn, intake: Intake, access: Step
) -> CaseOut:
    case = intake.refuse_disclosure(case_id, refusal.version, refusal.to_domain(access.caller.sub))
    return case_out(intake, case)


@router.post(
    "/{case_id}/consents/{consent_id}/withdrawal",
    summary="Record that a consent was withdrawn; recipients are told to stop and delete",
)
def withdraw_consent(
    case_id: UUID, consent_id: UUID, withdrawal: WithdrawalIn, intake: Intake, access: Step
) -> CaseOut:
    case = intake.withdraw_consent(case_id, withdrawal.version, consent_id, access.caller.sub)
    return case_out(intake, case)


@router.post(
    "/{case_id}/erasure",
    summary="Erase the case's personal data everywhere (supervisor only)",
    description="Destroys the case's data key: every personal field of the case reads "
    "'[erased]' in every service, replay and export, while the history of facts stays.",
)
def erase_case(case_id: UUID, erasure: ErasureIn, intake: Intake, access: Erasure) -> CaseOut:
    intake.erase_case(case_id, erasure.version, erasure.reason, access.caller.sub)
    return case_out(intake, intake.get_case(case_id))


statistics = APIRouter(prefix="/statistics", tags=["statistics"])


class StageCounts(BaseModel):
    stages: dict[Stage, int | str]
    total: int | str


@statistics.get(
    "/stages",
    summary="How many cases are at each stage (no personal data)",
    description="For staff who may list the cases counted (their own agency's), the counts "
    "as they are; for anyone else (an auditor without the personal-data grant), under the "
    "reports' disclosure control: a count under the threshold reads '<5', and another is "
    "hidden ('x') so that it does not follow from the total.",
)
def stage_statistics(
    read_model: Projections,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.READ_STATISTICS))],
    agency: AgencyFilter = None,
) -> StageCounts:
    counts = read_model.stage_counts(
        agency, authorize_listing(request, caller, Action.READ_STATISTICS)
    )
    if permission(caller, Action.LIST_CASES).allowed:
        # Their own caseload, which they may list case by case: nothing to hide from them.
        return StageCounts(
            stages={Stage(stage): count for stage, count in counts.items()},
            total=sum(counts.values()),
        )
    threshold = ReportSettings().threshold
    grid = suppress(
        Grid(list(counts), ["cases"], [[count] for count in counts.values()], row_totals=False),
        threshold,
    )
    shown = [as_published(grid.label(r, 0, threshold)) for r in range(grid.height)]
    return StageCounts(
        stages={Stage(stage): label for stage, label in zip(counts, shown, strict=False)},
        total=shown[-1],
    )
