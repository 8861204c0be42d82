"""A programme's time limits, and the deadlines that follow from a case's recorded dates.

Deadlines are never timers: they are derived, at the moment someone asks, from the dates in
the events and these limits, with the injected clock. The defaults follow the field notes
(handover 48 h; interim care 12 weeks; risk response: high 24 h, medium 3 days, low 7 days);
each programme may set its own through ``HOMEWARD_PROGRAMME_*`` variables.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.intake.domain import RiskLevel, start_of_day
from shared.consent import AgeTable


class Programme(AgeTable):
    """The age table (who decides about consent) and the time limits."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_PROGRAMME_", extra="ignore")

    handover_hours: float = Field(default=48, gt=0, description="From release to handover.")
    interim_care_weeks: float = Field(default=12, gt=0, description="A stay before extension.")
    high_risk_response_hours: float = Field(default=24, gt=0)
    medium_risk_response_hours: float = Field(default=72, gt=0)
    low_risk_response_hours: float = Field(default=168, gt=0)
    case_plan_review_weeks: float = Field(default=13, gt=0, description="About 3 months.")
    high_risk_case_plan_review_weeks: float = Field(
        default=4, gt=0, description="About a month, while the risk is high."
    )

    @property
    def handover_limit(self) -> timedelta:
        return timedelta(hours=self.handover_hours)

    @property
    def interim_care_limit(self) -> timedelta:
        return timedelta(weeks=self.interim_care_weeks)

    def risk_response_limit(self, level: RiskLevel) -> timedelta:
        hours = {
            RiskLevel.HIGH: self.high_risk_response_hours,
            RiskLevel.MEDIUM: self.medium_risk_response_hours,
            RiskLevel.LOW: self.low_risk_response_hours,
        }[level]
        return timedelta(hours=hours)

    # --- when each deadline falls -----------------------------------------------------------

    def handover_due(self, released_on: date) -> datetime:
        return start_of_day(released_on) + self.handover_limit

    def interim_care_due(self, entered_on: date, extended_until: date | None) -> datetime:
        """An extension, an explicit fact, allows the stay up to and including its day."""
        if extended_until is not None:
            return start_of_day(extended_until + timedelta(days=1))
        return start_of_day(entered_on) + self.interim_care_limit

    def risk_response_due(self, level: RiskLevel, set_at: datetime) -> datetime:
        return set_at + self.risk_response_limit(level)

    def case_plan_review_due(self, reviewed_on: date, risk: RiskLevel | None) -> datetime:
        weeks = (
            self.high_risk_case_plan_review_weeks
            if risk == RiskLevel.HIGH
            else self.case_plan_review_weeks
        )
        return start_of_day(reviewed_on) + timedelta(weeks=weeks)

    def deadlines(self, dates: "DeadlineDates") -> list["Deadline"]:
        """Handover always; interim care for the latest placement; risk response for the
        latest risk level; the next review of an agreed case plan (never met: each review
        sets the next)."""
        found = [
            Deadline(
                DeadlineKind.HANDOVER, self.handover_due(dates.released_on), dates.handed_over_at
            )
        ]
        if dates.care_entered_on is not None:
            left = dates.care_left_on
            found.append(
                Deadline(
                    DeadlineKind.INTERIM_CARE,
                    self.interim_care_due(dates.care_entered_on, dates.care_extended_until),
                    None if left is None else start_of_day(left),
                )
            )
        if dates.risk_level is not None and dates.risk_set_at is not None:
            found.append(
                Deadline(
                    DeadlineKind.RISK_RESPONSE,
                    self.risk_response_due(dates.risk_level, dates.risk_set_at),
                    dates.risk_responded_at,
                )
            )
        if dates.plan_reviewed_on is not None:
            found.append(
                Deadline(
                    DeadlineKind.CASE_PLAN_REVIEW,
                    self.case_plan_review_due(dates.plan_reviewed_on, dates.risk_level),
                    None,
                )
            )
        return found


@dataclass(frozen=True)
class DeadlineDates:
    """The recorded dates a case's deadlines follow from (in the case or in a projection)."""

    released_on: date
    handed_over_at: datetime | None = None
    care_entered_on: date | None = None
    care_extended_until: date | None = None
    care_left_on: date | None = None
    risk_level: RiskLevel | None = None
    risk_set_at: datetime | None = None
    risk_responded_at: datetime | None = None
    plan_reviewed_on: date | None = None  # agreed, or last reviewed


class DeadlineKind(StrEnum):
    HANDOVER = "handover"
    INTERIM_CARE = "interim_care"
    RISK_RESPONSE = "risk_response"
    CASE_PLAN_REVIEW = "case_plan_review"


class DeadlineStatus(StrEnum):
    PENDING = "pending"
    OVERDUE = "overdue"
    MET = "met"
    MET_LATE = "met_late"


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    due_at: datetime
    met_at: datetime | None

    def status(self, now: datetime) -> DeadlineStatus:
        if self.met_at is None:
            return DeadlineStatus.OVERDUE if now > self.due_at else DeadlineStatus.PENDING
        return DeadlineStatus.MET_LATE if self.met_at > self.due_at else DeadlineStatus.MET
