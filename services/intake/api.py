"""The intake service's HTTP routes and their request and response models."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from services.intake.app import IntakeApplication
from services.intake.domain import (
    ArmedGroupKind,
    CaseRuleViolation,
    ChildCase,
    Consent,
    ErasureReason,
    Handover,
    HowLeft,
    InvalidCaseData,
    Registration,
    Role,
    Sex,
)
from shared.consent import ConsentGiver, DataCategory, Purpose

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
AgencyCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Z0-9]{2,8}(-[A-Z0-9]{2,8}){0,2}$"),
]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReleaseIn(RequestModel):
    date: dt.date = Field(description="The day the child left the armed force or group.")
    place: Text = Field(description="Where: personal data, protected like a name.")
    how_left: HowLeft


class ArmedGroupIn(RequestModel):
    name: Text
    kind: ArmedGroupKind


class HandoverIn(RequestModel):
    from_actor: Text = Field(description="The military or armed actor that held the child.")
    to_agency: Text = Field(description="The civilian child-protection agency.")
    at: AwareDatetime = Field(description="When custody passed, with its UTC offset.")


class ChildRegistration(RequestModel):
    name: Text = Field(description="As the child gives it. Personal: sealed per case.")
    date_of_birth: dt.date | None = Field(
        default=None, description="If known; otherwise the estimated age stands. Personal."
    )
    languages: list[LanguageCode] = Field(default_factory=list, max_length=10)
    account: LongText | None = Field(
        default=None, description="The child's own account, in free text. Personal."
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
    registering_agency: AgencyCode = Field(examples=["CD-KIN"])
    caseworker: Text
    handover: HandoverIn | None = None

    def to_domain(self) -> Registration:
        handover = None
        if self.handover is not None:
            handover = Handover(self.handover.from_actor, self.handover.to_agency, self.handover.at)
        return Registration(
            name=self.name,
            date_of_birth=self.date_of_birth,
            languages=tuple(self.languages),
            account=self.account,
            how_left=self.release.how_left,
            released_on=self.release.date,
            release_place=self.release.place,
            armed_group=self.armed_group.name,
            armed_group_kind=self.armed_group.kind,
            roles=tuple(dict.fromkeys(self.roles)),
            sex=self.sex,
            estimated_age=self.estimated_age,
            registering_agency=self.registering_agency,
            caseworker=self.caseworker,
            handover=handover,
        )


class HandoverOut(BaseModel):
    from_actor: str
    to_agency: str
    at: dt.datetime


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
    withdrawn: bool


class CaseOut(BaseModel):
    case_id: UUID
    case_number: str
    version: int = Field(description="Send it back with a change, to detect concurrent edits.")
    erased: bool = Field(description="Personal fields of an erased case read '[erased]'.")
    name: str
    date_of_birth: str | None
    languages: list[str]
    account: str | None
    how_left: str
    released_on: dt.date
    release_place: str
    armed_group: ArmedGroupIn
    roles: list[str]
    sex: str
    estimated_age: int
    registering_agency: str
    caseworker: str
    handover: HandoverOut | None
    consents: list[ConsentOut]

    @classmethod
    def of(cls, case: ChildCase) -> "CaseOut":
        handover = None
        if case.handover is not None:
            handover = HandoverOut(
                from_actor=case.handover.from_actor,
                to_agency=case.handover.to_agency,
                at=case.handover.handed_over_at,
            )
        return cls(
            case_id=case.id,
            case_number=case.case_number,
            version=case.version,
            erased=case.erased,
            name=case.name,
            date_of_birth=case.date_of_birth,
            languages=case.languages,
            account=case.account,
            how_left=case.how_left,
            released_on=case.released_on,
            release_place=case.release_place,
            armed_group=ArmedGroupIn(
                name=case.armed_group, kind=ArmedGroupKind(case.armed_group_kind)
            ),
            roles=case.roles,
            sex=case.sex,
            estimated_age=case.estimated_age,
            registering_agency=case.registering_agency,
            caseworker=case.caseworker,
            handover=handover,
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
                    withdrawn=consent_id in case.withdrawn_consents,
                )
                for consent_id, consent in case.consents.items()
            ],
        )


class VersionedCommand(RequestModel):
    version: int = Field(ge=1, description="The case version this change is based on.")


class ConsentIn(VersionedCommand):
    given_by: ConsentGiver
    purpose: Purpose
    recipients: list[AgencyCode] = Field(min_length=1, max_length=50)
    categories: list[DataCategory] = Field(min_length=1, max_length=len(DataCategory))
    given_on: dt.date
    expires_on: dt.date | None = None
    recorded_by: Text
    approved_by: Text | None = Field(
        default=None, description="Required for a best-interests decision: the supervisor."
    )

    def to_domain(self) -> Consent:
        return Consent(
            given_by=self.given_by,
            purpose=self.purpose,
            recipients=tuple(dict.fromkeys(self.recipients)),
            categories=tuple(dict.fromkeys(self.categories)),
            given_on=self.given_on,
            recorded_by=self.recorded_by,
            expires_on=self.expires_on,
            approved_by=self.approved_by,
        )


class WithdrawalIn(VersionedCommand):
    recorded_by: Text


class ErasureIn(VersionedCommand):
    reason: ErasureReason
    requested_by: Text = Field(description="The supervisor who orders the erasure.")


@contextmanager
def case_errors(case_id: UUID | None = None) -> Iterator[None]:
    """Domain refusals become HTTP answers that say what to fix, naming no personal data."""
    try:
        yield
    except InvalidCaseData as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Fix this: {error}") from None
    except CaseRuleViolation as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except (AggregateNotFoundError, KeyError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No case {case_id}.") from None


def intake_application(request: Request) -> IntakeApplication:
    application = request.app.state.runtime.application
    assert isinstance(application, IntakeApplication)
    return application


Intake = Annotated[IntakeApplication, Depends(intake_application)]

router = APIRouter(prefix="/cases", tags=["cases"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a child released from an armed force or group",
    responses={422: {"description": "A field is missing, malformed or impossible."}},
)
def register_child(registration: ChildRegistration, intake: Intake) -> CaseOut:
    with case_errors():
        case = intake.register_child(registration.to_domain())
    return CaseOut.of(case)


@router.get("/{case_id}", summary="A case's current state")
def get_case(case_id: UUID, intake: Intake) -> CaseOut:
    with case_errors(case_id):
        return CaseOut.of(intake.get_case(case_id))


@router.post(
    "/{case_id}/consents",
    status_code=status.HTTP_201_CREATED,
    summary="Record consent or assent for one purpose, to named agencies",
)
def give_consent(case_id: UUID, consent: ConsentIn, intake: Intake) -> CaseOut:
    with case_errors(case_id):
        return CaseOut.of(intake.give_consent(case_id, consent.version, consent.to_domain()))


@router.post(
    "/{case_id}/consents/{consent_id}/withdrawal",
    summary="Record that a consent was withdrawn; recipients are told to stop and delete",
)
def withdraw_consent(
    case_id: UUID, consent_id: UUID, withdrawal: WithdrawalIn, intake: Intake
) -> CaseOut:
    with case_errors(case_id):
        case = intake.withdraw_consent(
            case_id, withdrawal.version, consent_id, withdrawal.recorded_by
        )
    return CaseOut.of(case)


@router.post(
    "/{case_id}/erasure",
    summary="Erase the case's personal data everywhere (supervisor only)",
    description="Destroys the case's data key: every personal field of the case reads "
    "'[erased]' in every service, replay and export, while the history of facts stays.",
)
def erase_case(case_id: UUID, erasure: ErasureIn, intake: Intake) -> CaseOut:
    with case_errors(case_id):
        intake.erase_case(case_id, erasure.version, erasure.reason, erasure.requested_by)
        return CaseOut.of(intake.get_case(case_id))
