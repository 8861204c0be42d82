"""Partners and referrals, as facts (aggregates ``Partner`` and ``Referral``).

A referral follows the states field practice uses (Primero's in progress → accepted / rejected
→ done, plus revoked with a reason), with the service's own progress in between. Every answer
a partner sends carries its message id; a referral remembers the ids it applied, so the same
answer delivered twice changes nothing.
"""

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.privacy import ErasableEvent


class ServiceKind(StrEnum):
    EDUCATION = "education"
    VOCATIONAL_TRAINING = "vocational_training"
    LIVELIHOOD = "livelihood"
    HEALTH = "health"
    PSYCHOSOCIAL = "psychosocial"
    LEGAL_AID = "legal_aid"
    FAMILY_TRACING = "family_tracing"
    SAFE_SHELTER = "safe_shelter"


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class Milestone(StrEnum):
    EDUCATION_ENROLLED = "education_enrolled"
    ATTENDANCE_REPORTED = "attendance_reported"
    TRAINING_COMPLETED = "training_completed"
    LIVELIHOOD_STARTED = "livelihood_started"
    INCOME_REPORTED = "income_reported"


class ReferralState(StrEnum):
    AWAITING_ANSWER = "awaiting_answer"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    IN_SERVICE = "in_service"
    COMPLETED = "completed"
    DISCONTINUED = "discontinued"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    DATA_WITHDRAWN = "data_withdrawn"


FINISHED = {
    ReferralState.DECLINED,
    ReferralState.COMPLETED,
    ReferralState.DISCONTINUED,
    ReferralState.WITHDRAWN,
    ReferralState.EXPIRED,
    ReferralState.DATA_WITHDRAWN,
}


class ReferralRuleViolation(Exception):
    """A change that makes no sense in the referral's current state."""


def partner_referrals_topic(agency: str) -> str:
    return f"homeward.partner.{agency}.referrals"


def partner_replies_topic(agency: str) -> str:
    return f"homeward.partner.{agency}.replies"


class Partner(Aggregate):
    class Event(Aggregate.Event):
        about_a_child: ClassVar = False  # an agency and what it offers

    class PartnerRegistered(Aggregate.Created):
        agency: str
        name: str
        services: list[str]
        public_key: str  # base64 X25519: what is sent to this partner is sealed to it

    @event(PartnerRegistered)
    def __init__(self, agency: str, name: str, services: list[str], public_key: str) -> None:
        self.agency = agency
        self.name = name
        self.services = services
        self.public_key = public_key

    @staticmethod
    def create_id(agency: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"homeward:referral:partner/{agency}")

    @property
    def referrals_topic(self) -> str:
        return partner_referrals_topic(self.agency)

    @property
    def replies_topic(self) -> str:
        return partner_replies_topic(self.agency)


class Referral(Aggregate):
    class Event(ErasableEvent, Aggregate.Event):
        """A fact about a child's case, sealed with the case's key."""

    class ReferralMade(Aggregate.Created):
        """A referral was made to a partner agency, sharing what the consent allowed."""

        case_id: UUID
        agency: str
        service: str
        purpose: str
        urgency: str
        categories: list[str]
        consent_ids: list[UUID]
        shared_data: dict[str, Any]
        answer_by: datetime
        made_by: str

    class Answered(Aggregate.Event):
        """Base of the answers a partner sends; ``message_id`` makes each apply once."""

        message_id: str

    class ReferralAccepted(Answered):
        """The partner accepted the referral."""

    class ReferralDeclined(Answered):
        """The partner declined the referral, with a reason."""

        reason: str

    class ServiceStarted(Answered):
        """The partner started its service."""

        started_on: date

    class MilestoneReported(Answered):
        """The partner reported a milestone (enrolled, trained, earning)."""

        milestone: str
        reported_on: date
        detail: str | None

    class ServiceCompleted(Answered):
        """The partner completed its service."""

        completed_on: date

    class ServiceDiscontinued(Answered):
        """The partner stopped its service before the end, with a reason."""

        reason: str

    class ReferralWithdrawn(Aggregate.Event):
        """The referring agency withdrew the referral."""

        reason: str
        withdrawn_by: str

    class ReferralExpired(Aggregate.Event):
        """The partner did not answer in time."""

        answer_was_due: datetime

    class ReferralDataWithdrawn(Aggregate.Event):
        """The partner must stop using and delete what it received for this referral. All in
        clear, so that it can be recorded after the case's key is destroyed."""

        withdrawal_cause: str
        consent_id: UUID | None

    @event(ReferralMade)
    def __init__(
        self,
        case_id: UUID,
        agency: str,
        service: str,
        purpose: str,
        urgency: str,
        categories: list[str],
        consent_ids: list[UUID],
        shared_data: dict[str, Any],
        answer_by: datetime,
        made_by: str,
    ) -> None:
        self.case_id = case_id
        self.agency = agency
        self.service = service
        self.purpose = purpose
        self.urgency = urgency
        self.categories = categories
        self.consent_ids = consent_ids
        self.shared_data = shared_data
        self.answer_by = answer_by
        self.made_by = made_by
        self.state = ReferralState.AWAITING_ANSWER
        self.milestones: list[tuple[str, date]] = []
        self.applied_messages: set[str] = set()
        self.closing_reason: str | None = None

    @staticmethod
    def answer_deadline(
        made_at: datetime, urgency: Urgency, routine: timedelta, urgent: timedelta
    ) -> datetime:
        return made_at + (urgent if urgency == Urgency.URGENT else routine)

    def has_applied(self, message_id: str) -> bool:
        return message_id in self.applied_messages

    def _require(self, allowed: set[ReferralState], change: str) -> None:
        if self.state not in allowed:
            raise ReferralRuleViolation(
                f"referral {self.id} is {self.state.value}: it cannot be {change}"
            )

    def accept(self, message_id: str) -> None:
        self._require({ReferralState.AWAITING_ANSWER}, "accepted")
        self._accept(message_id=message_id)

    @event(ReferralAccepted)
    def _accept(self, message_id: str) -> None:
        self.applied_messages.add(message_id)
        self.state = ReferralState.ACCEPTED

    def decline(self, message_id: str, reason: str) -> None:
        self._require({ReferralState.AWAITING_ANSWER}, "declined")
        if not reason.strip():
            raise ReferralRuleViolation("a decline needs a reason")
        self._decline(message_id=message_id, reason=reason)

    @event(ReferralDeclined)
    def _decline(self, message_id: str, reason: str) -> None:
        self.applied_messages.add(message_id)
        self.state = ReferralState.DECLINED
        self.closing_reason = reason

    def start_service(self, message_id: str, started_on: date) -> None:
        self._require({ReferralState.ACCEPTED}, "started")
        self._start(message_id=message_id, started_on=started_on)

    @event(ServiceStarted)
    def _start(self, message_id: str, started_on: date) -> None:
        self.applied_messages.add(message_id)
        self.state = ReferralState.IN_SERVICE

    def report_milestone(
        self, message_id: str, milestone: Milestone, reported_on: date, detail: str | None
    ) -> None:
        self._require({ReferralState.IN_SERVICE}, "given a milestone")
        self._report(
            message_id=message_id,
            milestone=milestone.value,
            reported_on=reported_on,
            detail=detail,
        )

    @event(MilestoneReported)
    def _report(
        self, message_id: str, milestone: str, reported_on: date, detail: str | None
    ) -> None:
        self.applied_messages.add(message_id)
        self.milestones.append((milestone, reported_on))

    def complete(self, message_id: str, completed_on: date) -> None:
        self._require({ReferralState.IN_SERVICE}, "completed")
        self._complete(message_id=message_id, completed_on=completed_on)

    @event(ServiceCompleted)
    def _complete(self, message_id: str, completed_on: date) -> None:
        self.applied_messages.add(message_id)
        self.state = ReferralState.COMPLETED

    def discontinue(self, message_id: str, reason: str) -> None:
        self._require({ReferralState.ACCEPTED, ReferralState.IN_SERVICE}, "discontinued")
        self._discontinue(message_id=message_id, reason=reason)

    @event(ServiceDiscontinued)
    def _discontinue(self, message_id: str, reason: str) -> None:
        self.applied_messages.add(message_id)
        self.state = ReferralState.DISCONTINUED
        self.closing_reason = reason

    def withdraw(self, reason: str, withdrawn_by: str) -> None:
        if self.state in FINISHED:
            raise ReferralRuleViolation(
                f"referral {self.id} is {self.state.value}: it cannot be withdrawn"
            )
        self._withdraw(reason=reason, withdrawn_by=withdrawn_by)

    @event(ReferralWithdrawn)
    def _withdraw(self, reason: str, withdrawn_by: str) -> None:
        self.state = ReferralState.WITHDRAWN
        self.closing_reason = reason

    def expire_if_unanswered(self, now: datetime) -> bool:
        if self.state != ReferralState.AWAITING_ANSWER or now <= self.answer_by:
            return False
        self._expire(answer_was_due=self.answer_by)
        return True

    @event(ReferralExpired)
    def _expire(self, answer_was_due: datetime) -> None:
        self.state = ReferralState.EXPIRED

    @property
    def data_withdrawn(self) -> bool:
        return self.state == ReferralState.DATA_WITHDRAWN

    def withdraw_data(self, cause: str, consent_id: UUID | None) -> bool:
        """Tell the partner to delete what it received; once is enough."""
        if self.data_withdrawn:
            return False
        self._withdraw_data(withdrawal_cause=cause, consent_id=consent_id)
        return True

    @event(ReferralDataWithdrawn)
    def _withdraw_data(self, withdrawal_cause: str, consent_id: UUID | None) -> None:
        self.state = ReferralState.DATA_WITHDRAWN
        self.closing_reason = withdrawal_cause
