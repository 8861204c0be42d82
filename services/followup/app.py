"""The follow-up application: plans made on a child's return, visits, reviews and alerts."""

from datetime import date
from typing import ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.followup.domain import (
    FollowUpPlan,
    GoalsMet,
    PlanNotFound,
    ReturnKind,
    RiskLevel,
    Schedule,
    StalePlan,
    VisitFindings,
)
from shared.application import ServiceApplication


class FollowUpApplication(ServiceApplication):
    name = "followup"
    schedule: ClassVar[Schedule] = Schedule()

    def start_plan(
        self,
        case_id: UUID,
        returned_on: date,
        kind: ReturnKind,
        caseworker: str,
        risk: RiskLevel | None,
    ) -> FollowUpPlan | None:
        """One plan per case, made when the child first returns; a return after a breakdown
        re-bases it; any other return changes nothing (None)."""
        if FollowUpPlan.create_id(case_id) in self.repository:
            plan = self.get_plan(case_id)
            if not plan.rebase(returned_on, kind, self.schedule):
                return None
            self.save(plan)
            return plan
        plan = FollowUpPlan.start(case_id, returned_on, kind, caseworker, risk, self.schedule)
        try:
            self.save(plan)
        except IntegrityError:
            return None  # made meanwhile by a copy of the same message
        return plan

    def get_plan(self, case_id: UUID) -> FollowUpPlan:
        try:
            plan: object = self.repository.get(FollowUpPlan.create_id(case_id))
        except AggregateNotFoundError:
            raise PlanNotFound(case_id) from None
        assert isinstance(plan, FollowUpPlan)
        return plan

    def plan_at_version(self, case_id: UUID, version: int) -> FollowUpPlan:
        plan = self.get_plan(case_id)
        if plan.version != version:
            raise StalePlan(
                f"the plan of case {case_id} is at version {plan.version}, not {version}: "
                "reload it and try again",
                current_version=plan.version,
            )
        return plan

    def _save_plan(self, plan: FollowUpPlan) -> FollowUpPlan:
        try:
            self.save(plan)
        except IntegrityError:
            raise StalePlan(
                f"the plan of case {plan.case_id} changed while this command ran: "
                "reload it and try again",
                current_version=self.recorded_version(plan.id),
            ) from None
        return plan

    def complete_visit(
        self, case_id: UUID, version: int, number: int, findings: VisitFindings
    ) -> FollowUpPlan:
        plan = self.plan_at_version(case_id, version)
        plan.complete_visit(number, findings, self.clock().date(), self.schedule)
        return self._save_plan(plan)

    def miss_visit(self, case_id: UUID, version: int, number: int, reason: str) -> FollowUpPlan:
        plan = self.plan_at_version(case_id, version)
        plan.miss_visit(number, reason)
        return self._save_plan(plan)

    def reassess_risk(
        self, case_id: UUID, version: int, level: RiskLevel, reason: str
    ) -> FollowUpPlan:
        plan = self.plan_at_version(case_id, version)
        plan.reassess_risk(level, reason, self.clock().date(), self.schedule)
        return self._save_plan(plan)

    def review(
        self, case_id: UUID, version: int, goals_met: GoalsMet, reviewed_by: str
    ) -> FollowUpPlan:
        plan = self.plan_at_version(case_id, version)
        plan.review(goals_met, reviewed_by)
        return self._save_plan(plan)

    def note_breakdown(self, case_id: UUID, broke_down_on: date, reason: str) -> None:
        """The return broke down in intake: the visits still due at that home are called off."""
        if FollowUpPlan.create_id(case_id) not in self.repository:
            return
        plan = self.get_plan(case_id)
        if plan.note_breakdown(broke_down_on, reason):
            self.save(plan)

    def cancel_plan(self, case_id: UUID) -> None:
        """The case was erased: its plan stops, if it has one."""
        if FollowUpPlan.create_id(case_id) not in self.repository:
            return
        plan = self.get_plan(case_id)
        if plan.cancel():
            self.save(plan)

    def note_case_risk(self, case_id: UUID, level: RiskLevel) -> None:
        if FollowUpPlan.create_id(case_id) not in self.repository:
            return
        plan = self.get_plan(case_id)
        if plan.note_case_risk(level, self.clock().date(), self.schedule):
            self.save(plan)

    def reassign(self, case_id: UUID, caseworker: str) -> None:
        """The case's new caseworker takes the visits still due."""
        if FollowUpPlan.create_id(case_id) not in self.repository:
            return
        plan = self.get_plan(case_id)
        if plan.reassign(caseworker):
            self.save(plan)
