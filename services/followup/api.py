"""The follow-up service's HTTP routes: plans, visits, reviews, and what is due."""

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field, StringConstraints

from services.followup.app import FollowUpApplication
from services.followup.domain import (
    FollowUpPlan,
    GoalsMet,
    PlanNotFound,
    Rating,
    RiskLevel,
    VisitFindings,
    VisitMode,
)
from services.followup.projections import FollowUpViews
from shared.access import Action, Caller
from shared.api import CaseworkerFilter, Erased, Text, VersionedCommand
from shared.auth import authorize, authorize_listing, requires

VisitNumber = Annotated[int, Path(ge=1, le=1000, description="More than any schedule has.")]


class VisitIn(VersionedCommand):
    visited_on: dt.date
    mode: VisitMode = Field(description="Where the visit took place, or by phone.")
    wellbeing: Rating
    attending_school: bool
    livelihood_status: Text
    family_acceptance: Rating
    community_acceptance: Rating
    stigma_reported: bool
    security_threat: bool
    re_recruitment_threat: bool
    child_view: Annotated[str, StringConstraints(max_length=5000)] | None = Field(
        default=None, description="The child's own view, in free text. Personal."
    )

    def findings(self, visited_by: str) -> VisitFindings:
        return VisitFindings(**self.model_dump(exclude={"version"}), visited_by=visited_by)


class MissedIn(VersionedCommand):
    reason: Text


class RiskIn(VersionedCommand):
    level: RiskLevel
    reason: Text


class ReviewIn(VersionedCommand):
    goals_met: GoalsMet


class VisitOut(BaseModel):
    number: int
    due_on: dt.date
    status: str
    done_on: dt.date | None
    mode: str | None = Field(description="How a completed visit was made; null if not known.")


class PlanOut(BaseModel):
    case_id: UUID
    version: int
    returned_on: dt.date | Erased
    return_kind: str
    caseworker: str
    risk: str | None
    visits: list[VisitOut]
    alerts: list[str]
    reviews: list[str]
    closure_recommended: bool
    cancelled: bool = Field(description="The case was erased: nothing more is recorded.")
    outcomes: list[dict[str, Any]] = Field(
        description="Education and livelihood outcomes partners reported for the child."
    )

    @classmethod
    def of(cls, plan: FollowUpPlan, outcomes: list[dict[str, Any]]) -> "PlanOut":
        return cls(
            case_id=plan.case_id,
            version=plan.version,
            returned_on=plan.returned_on,
            return_kind=plan.return_kind,
            caseworker=plan.caseworker,
            risk=plan.risk.value if plan.risk else None,
            visits=[
                VisitOut(
                    number=v.number,
                    due_on=v.due_on,
                    status=v.status,
                    done_on=v.done_on,
                    mode=v.mode,
                )
                for v in sorted(plan.visits.values(), key=lambda v: v.number)
            ],
            alerts=plan.alerts,
            reviews=plan.reviews,
            closure_recommended=plan.closure_recommended,
            cancelled=plan.cancelled,
            outcomes=outcomes,
        )


async def followup(request: Request) -> FollowUpApplication:  # no thread: see intake's
    application = request.app.state.runtime.application
    assert isinstance(application, FollowUpApplication)
    return application


async def views(request: Request) -> FollowUpViews:
    found = request.app.state.runtime.views
    assert isinstance(found, FollowUpViews)
    return found


FollowUp = Annotated[FollowUpApplication, Depends(followup)]
Views = Annotated[FollowUpViews, Depends(views)]

router = APIRouter(tags=["follow-up"])


def plan_caller(action: Action, *, personal: bool = False) -> Callable[..., Caller]:
    """The caller, once the plan's case is of their agency: the agency is what intake
    published when it registered the case; a case of no agency known here is not found."""

    def dependency(
        case_id: UUID,
        request: Request,
        read: Views,
        caller: Annotated[Caller, Depends(requires(action))],
    ) -> Caller:
        agency = read.agency_of(case_id)
        if agency is None:
            raise PlanNotFound(case_id)
        authorize(
            request,
            caller,
            action,
            agency,
            not_found=str(PlanNotFound(case_id)),
            case_id=case_id,
            personal=personal,
        )
        return caller

    return dependency


Reader = Annotated[Caller, Depends(plan_caller(Action.READ_CASE, personal=True))]
Staff = Annotated[Caller, Depends(plan_caller(Action.RECORD_STEP))]


@router.get("/plans/{case_id}", summary="A case's follow-up plan and reintegration record")
def get_plan(case_id: UUID, app: FollowUp, read: Views, _caller: Reader) -> PlanOut:
    return PlanOut.of(app.get_plan(case_id), read.outcomes(case_id))


@router.post("/plans/{case_id}/visits/{number}/completion", summary="Record a visit")
def complete_visit(
    case_id: UUID, number: VisitNumber, body: VisitIn, app: FollowUp, read: Views, caller: Staff
) -> PlanOut:
    plan = app.complete_visit(case_id, body.version, number, body.findings(caller.sub))
    return PlanOut.of(plan, read.outcomes(case_id))


@router.post("/plans/{case_id}/visits/{number}/missed", summary="Record a missed visit")
def miss_visit(
    case_id: UUID, number: VisitNumber, body: MissedIn, app: FollowUp, read: Views, _caller: Staff
) -> PlanOut:
    plan = app.miss_visit(case_id, body.version, number, body.reason)
    return PlanOut.of(plan, read.outcomes(case_id))


@router.post("/plans/{case_id}/risk", summary="Reassess the risk; high alerts intake")
def reassess(case_id: UUID, body: RiskIn, app: FollowUp, read: Views, _caller: Staff) -> PlanOut:
    plan = app.reassess_risk(case_id, body.version, body.level, body.reason)
    return PlanOut.of(plan, read.outcomes(case_id))


@router.post("/plans/{case_id}/review", summary="Review the reintegration goals")
def review(case_id: UUID, body: ReviewIn, app: FollowUp, read: Views, caller: Staff) -> PlanOut:
    plan = app.review(case_id, body.version, body.goals_met, caller.sub)
    return PlanOut.of(plan, read.outcomes(case_id))


@router.get("/visits/due", summary="Visits due and overdue, per caseworker")
def due_visits(
    app: FollowUp,
    read: Views,
    request: Request,
    caller: Annotated[Caller, Depends(requires(Action.LIST_CASES))],
    caseworker: CaseworkerFilter = None,
) -> list[dict[str, Any]]:
    visible = authorize_listing(request, caller, Action.LIST_CASES)
    return read.due_visits(app.clock().date(), caseworker, visible)
