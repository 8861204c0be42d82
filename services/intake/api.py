"""The intake service's HTTP routes and their request and response models."""

import datetime as dt
from typing import Annotated
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from services.intake.app import IntakeApplication
from services.intake.domain import (
    ArmedGroupKind,
    ChildCase,
    Handover,
    HowLeft,
    InvalidCaseData,
    Registration,
    Role,
    Sex,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
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


class CaseOut(BaseModel):
    case_id: UUID
    case_number: str
    version: int = Field(description="Send it back with a change, to detect concurrent edits.")
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
        )


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
    try:
        case = intake.register_child(registration.to_domain())
    except InvalidCaseData as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Fix this: {error}") from None
    return CaseOut.of(case)


@router.get("/{case_id}", summary="A case's current state")
def get_case(case_id: UUID, intake: Intake) -> CaseOut:
    try:
        return CaseOut.of(intake.get_case(case_id))
    except (AggregateNotFoundError, KeyError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No case {case_id}.") from None
