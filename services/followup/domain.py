"""Follow-up after a child's return, as facts (aggregate ``FollowUpPlan``, one per case).

Reintegration support lasts years (UN DDR guidance: at least 2 to 3): visits are scheduled from
the return date at the programme's intervals, earlier and more often when the risk is high.
A re-recruitment threat or a high risk seen on a visit raises an alert that intake turns into
the case's risk level.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from shared.privacy import ErasableEvent
from shared.refusals import InvalidData, NotFound, RuleViolation, VersionConflict


class ReturnKind(StrEnum):
    REUNIFIED = "reunified"
    ALTERNATIVE_CARE = "alternative_care"


class RiskLevel(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Rating(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


class VisitMode(StrEnum):
    """Where a visit took place, or how: what it could see follows from it (a phone call sees
    neither the home nor the child's face)."""

    HOME = "home"  # where the child lives now
    SCHOOL = "school"  # or the training or work place
    COMMUNITY = "community"  # a meeting place chosen with the child: a centre, a church
    OFFICE = "office"  # the agency's
    PHONE = "phone"  # when insecurity or distance keeps the caseworker away


class GoalsMet(StrEnum):
    MET = "met"
    PARTLY = "partly"
    NOT_MET = "not_met"


class AlertKind(StrEnum):
    RE_RECRUITMENT_THREAT = "re_recruitment_threat"
    HIGH_RISK = "high_risk"


class FollowUpRuleViolation(RuleViolation):
    pass


class StalePlan(FollowUpRuleViolation, VersionConflict):
    """The command was based on an older version of the plan than the one recorded."""


class InvalidVisitData(InvalidData):
    pass


class PlanNotFound(NotFound):
    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"Case {case_id} has no follow-up plan (not returned yet).")


@dataclass(frozen=True)
class Schedule:
    """Days after the return at which visits fall due (per programme)."""

    standard: tuple[int, ...] = (14, 30, 91, 182, 365, 547, 730)  # 2 w, 1, 3, 6, 12, 18, 24 m
    high_risk: tuple[int, ...] = (7, 14, 30, 61, 91, 122, 182, 273, 365, 547, 730)

    def offsets(self, risk: RiskLevel | None) -> tuple[int, ...]:
        return self.high_risk if risk == RiskLevel.HIGH else self.standard


@dataclass(frozen=True)
class VisitFindings:
    visited_on: date
    visited_by: str
    mode: VisitMode
    wellbeing: Rating
    attending_school: bool
    livelihood_status: str
    family_acceptance: Rating
    community_acceptance: Rating
    stigma_reported: bool
    security_threat: bool
    re_recruitment_threat: bool
    child_view: str | None = None


@dataclass
class Visit:
    number: int
    due_on: date
    status: str = "scheduled"  # scheduled, completed, missed, called_off
    done_on: date | None = None
    mode: str | None = None  # once completed; None for a visit recorded before modes
    stable: bool | None = None  # once completed: did it find the child well and accepted?


# A visit that has yet to take place: scheduled, or missed (it still has to happen).
STILL_DUE = ("scheduled", "missed")


class FollowUpPlan(Aggregate):
    class Event(ErasableEvent, Aggregate.Event):
        """A fact about a child's case, sealed with the case's key."""

    class PlanCreated(Aggregate.Created):
        """A follow-up plan was made on the child's return."""

        case_id: UUID
        returned_on: date
        return_kind: str
        caseworker: str

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.case_id = self.case_id
            plan.returned_on = self.returned_on
            plan.return_kind = self.return_kind
            plan.caseworker = self.caseworker
            plan.visits = {}
            plan.risk = None
            plan.alerts = []
            plan.reviews = []
            plan.closure_recommended = False
            plan.cancelled = False
            plan.broke_down_on = None

    class VisitScheduled(Aggregate.Event):
        """A follow-up visit fell due on a day."""

        number: int
        due_on: date

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.visits[self.number] = Visit(self.number, self.due_on)

    class VisitCompleted(Aggregate.Event):
        """A follow-up visit took place; what it found."""

        number: int
        visited_on: date
        visited_by: str
        mode: str | None  # a VisitMode; None only for a visit recorded in v1
        wellbeing: str
        attending_school: bool
        livelihood_status: str
        family_acceptance: str
        community_acceptance: str
        stigma_reported: bool
        security_threat: bool
        re_recruitment_threat: bool
        child_view: str | None

        # v2: how the visit was made.
        class_version: ClassVar = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A v1 visit did not say how it was made: not known."""
            state["mode"] = None

        def apply(self, plan: "FollowUpPlan") -> None:
            visit = plan.visits[self.number]
            visit.status, visit.done_on = "completed", self.visited_on
            visit.mode = self.mode
            visit.stable = (
                Rating.POOR
                not in (self.wellbeing, self.family_acceptance, self.community_acceptance)
                and not self.stigma_reported
                and not self.security_threat
                and not self.re_recruitment_threat
            )

    class VisitMissed(Aggregate.Event):
        """A follow-up visit did not take place; it stays due."""

        number: int
        reason: str

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.visits[self.number].status = "missed"

    class RiskReassessed(Aggregate.Event):
        """The risk level seen in follow-up changed."""

        level: str
        reason: str

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.risk = RiskLevel(self.level)

    class AlertRaised(Aggregate.Event):
        """A visit or a reassessment found a re-recruitment threat or a high risk."""

        kind: str
        visit_number: int | None

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.alerts.append(self.kind)

    class ReintegrationReviewed(Aggregate.Event):
        """The reintegration was reviewed against the case plan's goals."""

        goals_met: str
        reviewed_by: str

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.reviews.append(self.goals_met)

    class PlanReassigned(Aggregate.Event):
        """The case went to another caseworker: the visits still due go with it."""

        caseworker: str

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.caseworker = self.caseworker

    class ReturnBrokeDown(Aggregate.Event):
        """The child no longer lives where the plan's return took them (intake's
        ``ReunificationBrokeDown``): the visits still due there are called off."""

        broke_down_on: date
        reason: str

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.broke_down_on = self.broke_down_on
            plan.closure_recommended = False  # it was about a home the child has left
            for visit in plan.visits.values():
                if visit.status in STILL_DUE:
                    visit.status = "called_off"

    class PlanRebased(Aggregate.Event):
        """The child returned again after a breakdown (reunified or in alternative care):
        the visits of the schedule fall due from this return."""

        returned_on: date
        return_kind: str

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.returned_on = self.returned_on
            plan.return_kind = self.return_kind
            plan.broke_down_on = None

    class PlanCancelled(Aggregate.Event):
        """The case was erased: no visit is due any more and nothing more is recorded."""

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.cancelled = True

    class ClosureRecommended(Aggregate.Event):
        """Follow-up recommends closing the case."""

        because: str

        def apply(self, plan: "FollowUpPlan") -> None:
            plan.closure_recommended = True

    # Set by PlanCreated.apply, declared for the type checker only: eventsourcing turns an
    # aggregate with annotations into a dataclass whose __init__ would demand them.
    if TYPE_CHECKING:
        case_id: UUID
        returned_on: date
        return_kind: str
        caseworker: str
        visits: dict[int, Visit]
        risk: RiskLevel | None
        alerts: list[str]
        reviews: list[str]
        closure_recommended: bool
        cancelled: bool
        broke_down_on: date | None  # the return broke down; no new one yet

    @staticmethod
    def create_id(case_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"homeward:followup:plan/{case_id}")

    @classmethod
    def start(
        cls,
        case_id: UUID,
        returned_on: date,
        kind: ReturnKind,
        caseworker: str,
        risk: RiskLevel | None,
        schedule: Schedule,
    ) -> "FollowUpPlan":
        plan = cls._create(
            cls.PlanCreated,
            case_id=case_id,
            returned_on=returned_on,
            return_kind=kind.value,
            caseworker=caseworker,
        )
        if risk is not None:
            plan.trigger_event(
                plan.RiskReassessed, level=risk.value, reason="risk level known at return"
            )
        plan._schedule_visits(schedule.offsets(risk))
        return plan

    def _schedule_visits(self, offsets: tuple[int, ...]) -> None:
        """Visits at ``offsets`` days after the return, numbered after those already made."""
        for offset in offsets:
            self.trigger_event(
                self.VisitScheduled,
                number=max(self.visits, default=0) + 1,
                due_on=self.returned_on + timedelta(days=offset),
            )

    def note_breakdown(self, broke_down_on: date, reason: str) -> bool:
        """The return broke down: no one is visited at a home the child left. False when
        there is nothing to do (cancelled, or this breakdown already noted)."""
        if self.cancelled or self.broke_down_on is not None:
            return False
        self.trigger_event(self.ReturnBrokeDown, broke_down_on=broke_down_on, reason=reason)
        return True

    def rebase(self, returned_on: date, kind: ReturnKind, schedule: Schedule) -> bool:
        """A return after a breakdown: a new schedule from it, at the plan's risk. Any other
        return of a followed case changes nothing (False): one plan per case."""
        if self.cancelled or self.broke_down_on is None:
            return False
        self.trigger_event(self.PlanRebased, returned_on=returned_on, return_kind=kind.value)
        self._schedule_visits(schedule.offsets(self.risk))
        return True

    def cancel(self) -> bool:
        """Stop following a case that was erased; once is enough."""
        if self.cancelled:
            return False
        self.trigger_event(self.PlanCancelled)
        return True

    def refuse_if_cancelled(self) -> None:
        if self.cancelled:
            raise FollowUpRuleViolation(
                f"plan {self.id} was cancelled when its case was erased: nothing more is recorded"
            )

    def _visit(self, number: int, *, allowed: tuple[str, ...]) -> Visit:
        self.refuse_if_cancelled()
        visit = self.visits.get(number)
        if visit is None:
            raise FollowUpRuleViolation(f"plan {self.id} has no visit {number}")
        if visit.status not in allowed:
            raise FollowUpRuleViolation(f"visit {number} is already {visit.status}")
        return visit

    def complete_visit(
        self, number: int, findings: VisitFindings, today: date, schedule: Schedule
    ) -> None:
        # A missed visit still has to happen: it can be completed late.
        self._visit(number, allowed=STILL_DUE)
        if findings.visited_on > today:
            raise InvalidVisitData("visited_on is in the future")
        if findings.visited_on < self.returned_on:
            raise InvalidVisitData("visited_on is before the child's return")
        self.trigger_event(
            self.VisitCompleted,
            number=number,
            visited_on=findings.visited_on,
            visited_by=findings.visited_by,
            mode=findings.mode.value,
            wellbeing=findings.wellbeing.value,
            attending_school=findings.attending_school,
            livelihood_status=findings.livelihood_status,
            family_acceptance=findings.family_acceptance.value,
            community_acceptance=findings.community_acceptance.value,
            stigma_reported=findings.stigma_reported,
            security_threat=findings.security_threat,
            re_recruitment_threat=findings.re_recruitment_threat,
            child_view=findings.child_view,
        )
        if findings.re_recruitment_threat:
            self.trigger_event(
                self.AlertRaised, kind=AlertKind.RE_RECRUITMENT_THREAT.value, visit_number=number
            )
        elif findings.security_threat or findings.wellbeing == Rating.POOR:
            self._raise_risk(RiskLevel.HIGH, f"findings of visit {number}", today, schedule)
            self.trigger_event(
                self.AlertRaised, kind=AlertKind.HIGH_RISK.value, visit_number=number
            )
        self._recommend_closure_if_stable()

    def miss_visit(self, number: int, reason: str) -> None:
        self._visit(number, allowed=("scheduled",))
        self.trigger_event(self.VisitMissed, number=number, reason=reason)

    def reassess_risk(self, level: RiskLevel, reason: str, today: date, schedule: Schedule) -> None:
        """A caseworker's reassessment on the plan: a high risk alerts intake."""
        self.refuse_if_cancelled()
        self._raise_risk(level, reason, today, schedule)
        if level == RiskLevel.HIGH:
            self.trigger_event(self.AlertRaised, kind=AlertKind.HIGH_RISK.value, visit_number=None)

    def note_case_risk(self, level: RiskLevel, today: date, schedule: Schedule) -> bool:
        """The case's risk as intake set it: recorded, never alerted back (no echo)."""
        if level == self.risk:
            return False
        self._raise_risk(level, "risk level set on the case", today, schedule)
        return True

    def _raise_risk(self, level: RiskLevel, reason: str, today: date, schedule: Schedule) -> None:
        """Record the risk; a high one brings the closer visits of the high-risk schedule from
        today on, beside those already due (none is taken away)."""
        self.trigger_event(self.RiskReassessed, level=level.value, reason=reason)
        if level != RiskLevel.HIGH or self.broke_down_on is not None:
            return  # nothing closer to add; or no home to visit until the child returns
        due = {visit.due_on for visit in self.visits.values()}
        for offset in schedule.offsets(RiskLevel.HIGH):
            due_on = self.returned_on + timedelta(days=offset)
            if due_on > today and due_on not in due:
                self.trigger_event(
                    self.VisitScheduled, number=max(self.visits, default=0) + 1, due_on=due_on
                )

    def reassign(self, caseworker: str) -> bool:
        if self.cancelled or caseworker == self.caseworker:
            return False
        self.trigger_event(self.PlanReassigned, caseworker=caseworker)
        return True

    def review(self, goals_met: GoalsMet, reviewed_by: str) -> None:
        self.refuse_if_cancelled()
        self.trigger_event(
            self.ReintegrationReviewed, goals_met=goals_met.value, reviewed_by=reviewed_by
        )
        self._recommend_closure_if_stable()

    def _recommend_closure_if_stable(self) -> None:
        """Goals met, and the last two visits since the child's latest return found the child
        well, accepted by family and community, without stigma or threat."""
        if self.closure_recommended or not self.reviews or self.reviews[-1] != GoalsMet.MET:
            return
        if self.broke_down_on is not None:  # no home to judge until the child returns again
            return
        completed = sorted(
            (
                v
                for v in self.visits.values()
                if v.status == "completed" and (v.done_on or v.due_on) >= self.returned_on
            ),
            key=lambda v: (v.done_on or v.due_on, v.number),
        )
        last_two = completed[-2:]
        if len(last_two) == 2 and all(v.stable for v in last_two) and self.risk != RiskLevel.HIGH:
            self.trigger_event(
                self.ClosureRecommended, because="goals met and the last visits were stable"
            )
