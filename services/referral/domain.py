"""Partners and referrals, as facts (aggregates ``Partner`` and ``Referral``).

A referral follows the states field practice uses (Primero's in progress → accepted / rejected
→ done, plus revoked with a reason), with the service's own progress in between. Every answer
a partner sends carries its message id; a referral remembers the ids it applied, so the same
answer delivered twice changes nothing.
"""

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from shared.consent import DataCategory, Purpose
from shared.privacy import ErasableEvent
from shared.protections import PartnerKind, never_recipient
from shared.refusals import NotFound, RuleViolation


class ServiceKind(StrEnum):
    EDUCATION = "education"
    VOCATIONAL_TRAINING = "vocational_training"
    LIVELIHOOD = "livelihood"
    HEALTH = "health"
    PSYCHOSOCIAL = "psychosocial"
    LEGAL_AID = "legal_aid"
    FAMILY_TRACING = "family_tracing"
    SAFE_SHELTER = "safe_shelter"


# The purposes each service serves: a referral's purpose is one its service serves, so a
# consent to one purpose cannot be stretched to a service that pursues another.
SERVICE_PURPOSES: dict[ServiceKind, frozenset[Purpose]] = {
    ServiceKind.EDUCATION: frozenset({Purpose.EDUCATION}),
    ServiceKind.VOCATIONAL_TRAINING: frozenset({Purpose.EDUCATION, Purpose.LIVELIHOOD}),
    ServiceKind.LIVELIHOOD: frozenset({Purpose.LIVELIHOOD}),
    ServiceKind.HEALTH: frozenset({Purpose.HEALTH}),
    ServiceKind.PSYCHOSOCIAL: frozenset({Purpose.PSYCHOSOCIAL_SUPPORT}),
    ServiceKind.LEGAL_AID: frozenset({Purpose.LEGAL_AID}),
    ServiceKind.FAMILY_TRACING: frozenset({Purpose.FAMILY_TRACING, Purpose.TRACING_PUBLICITY}),
    ServiceKind.SAFE_SHELTER: frozenset({Purpose.SHELTER}),
}
assert set(SERVICE_PURPOSES) == set(ServiceKind)


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


# The states in which the partner may give each answer (its kind, as the replies name it).
ANSWERABLE_IN: dict[str, set[ReferralState]] = {
    "accepted": {ReferralState.AWAITING_ANSWER},
    "declined": {ReferralState.AWAITING_ANSWER},
    "service_started": {ReferralState.ACCEPTED},
    "milestone": {ReferralState.IN_SERVICE},
    "service_completed": {ReferralState.IN_SERVICE},
    "service_discontinued": {ReferralState.ACCEPTED, ReferralState.IN_SERVICE},
}
FINISHED = {
    ReferralState.DECLINED,
    ReferralState.COMPLETED,
    ReferralState.DISCONTINUED,
    ReferralState.WITHDRAWN,
    ReferralState.EXPIRED,
    ReferralState.DATA_WITHDRAWN,
}


class ReferralRuleViolation(RuleViolation):
    """A change that makes no sense in the referral's current state."""


class ReferralNotFound(NotFound):
    def __init__(self, referral_id: UUID) -> None:
        super().__init__(f"No referral {referral_id}.")


class PartnerNotFound(NotFound):
    def __init__(self, agency: str) -> None:
        super().__init__(f"No partner {agency} is registered.")


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
        kind: str
        country: str  # ISO 3166-1 alpha-2
        services: list[str]
        public_key: str  # base64 X25519: what is sent to this partner is sealed to it

        def apply(self, partner: "Partner") -> None:
            partner.agency = self.agency
            partner.name = self.name
            partner.kind = PartnerKind(self.kind)
            partner.country = self.country
            partner.services = self.services
            partner.public_key = self.public_key

    # Set by PartnerRegistered.apply, declared for the type checker only: eventsourcing turns an
    # aggregate with annotations into a dataclass whose __init__ would demand them.
    if TYPE_CHECKING:
        agency: str
        name: str
        kind: PartnerKind
        country: str
        services: list[str]
        public_key: str

    @classmethod
    def register(
        cls,
        agency: str,
        name: str,
        kind: PartnerKind,
        country: str,
        services: list[ServiceKind],
        public_key: str,
    ) -> "Partner":
        refused = never_recipient(kind)
        if refused:
            raise ReferralRuleViolation(f"partner {agency} refused: {refused}")
        return cls._create(
            cls.PartnerRegistered,
            agency=agency,
            name=name,
            kind=kind.value,
            country=country,
            services=[service.value for service in services],
            public_key=public_key,
        )

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
        referring_agency: str  # whose caseworkers may read and withdraw it

        def apply(self, referral: "Referral") -> None:
            referral.case_id = self.case_id
            referral.agency = self.agency
            referral.service = self.service
            referral.purpose = self.purpose
            referral.urgency = self.urgency
            referral.categories = self.categories
            referral.consent_ids = self.consent_ids
            referral.shared_data = self.shared_data
            referral.answer_by = self.answer_by
            referral.made_by = self.made_by
            referral.referring_agency = self.referring_agency
            referral.state = ReferralState.AWAITING_ANSWER
            referral.milestones = []
            referral.applied_messages = set()
            referral.closing_reason = None
            referral.withdrawal_cause = None
            referral.data_withdrawn_at = None
            referral.data_deleted_on = None

    class Answered(Aggregate.Event):
        """Base of the answers a partner sends; ``message_id`` makes each apply once."""

        message_id: str

        def apply(self, referral: "Referral") -> None:
            referral.applied_messages.add(self.message_id)

    class ReferralAccepted(Answered):
        """The partner accepted the referral."""

        def apply(self, referral: "Referral") -> None:
            super().apply(referral)
            referral.state = ReferralState.ACCEPTED

    class ReferralDeclined(Answered):
        """The partner declined the referral, with a reason."""

        reason: str

        def apply(self, referral: "Referral") -> None:
            super().apply(referral)
            referral.state = ReferralState.DECLINED
            referral.closing_reason = self.reason

    class ServiceStarted(Answered):
        """The partner started its service."""

        started_on: date

        def apply(self, referral: "Referral") -> None:
            super().apply(referral)
            referral.state = ReferralState.IN_SERVICE

    class MilestoneReported(Answered):
        """The partner reported a milestone (enrolled, trained, earning)."""

        milestone: str
        reported_on: date
        detail: str | None

        def apply(self, referral: "Referral") -> None:
            super().apply(referral)
            referral.milestones.append((self.milestone, self.reported_on))

    class ServiceCompleted(Answered):
        """The partner completed its service."""

        completed_on: date

        def apply(self, referral: "Referral") -> None:
            super().apply(referral)
            referral.state = ReferralState.COMPLETED

    class ServiceDiscontinued(Answered):
        """The partner stopped its service before the end, with a reason."""

        reason: str

        def apply(self, referral: "Referral") -> None:
            super().apply(referral)
            referral.state = ReferralState.DISCONTINUED
            referral.closing_reason = self.reason

    class ReferralWithdrawn(Aggregate.Event):
        """The referring agency withdrew the referral."""

        reason: str
        withdrawn_by: str

        def apply(self, referral: "Referral") -> None:
            referral.state = ReferralState.WITHDRAWN
            referral.closing_reason = self.reason

    class ReferralExpired(Aggregate.Event):
        """The partner did not answer in time."""

        answer_was_due: datetime

        def apply(self, referral: "Referral") -> None:
            referral.state = ReferralState.EXPIRED

    class ReferralDataWithdrawn(Aggregate.Event):
        """The partner must stop using and delete what it received for this referral. All in
        clear, so that it can be recorded after the case's key is destroyed."""

        withdrawal_cause: str
        consent_id: UUID | None

        def apply(self, referral: "Referral") -> None:
            referral.state = ReferralState.DATA_WITHDRAWN
            referral.closing_reason = self.withdrawal_cause
            referral.withdrawal_cause = self.withdrawal_cause
            referral.data_withdrawn_at = self.timestamp

    class ReferralDataDeleted(Answered):
        """The partner says it deleted what it received for this referral, after being told
        to. All in clear, so that it can be recorded after the case's key is destroyed."""

        deleted_on: date

        def apply(self, referral: "Referral") -> None:
            super().apply(referral)
            referral.data_deleted_on = self.deleted_on

    # Set by ReferralMade.apply, declared for the type checker only: eventsourcing turns an
    # aggregate with annotations into a dataclass whose __init__ would demand them.
    if TYPE_CHECKING:
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
        referring_agency: str
        state: ReferralState
        milestones: list[tuple[str, date]]
        applied_messages: set[str]
        closing_reason: str | None
        withdrawal_cause: str | None
        data_withdrawn_at: datetime | None
        data_deleted_on: date | None

    @classmethod
    def make(
        cls,
        case_id: UUID,
        agency: str,
        service: ServiceKind,
        purpose: Purpose,
        urgency: Urgency,
        categories: Iterable[DataCategory],
        consent_ids: list[UUID],
        shared_data: dict[str, Any],
        answer_by: datetime,
        made_by: str,
        referring_agency: str,
    ) -> "Referral":
        return cls._create(
            cls.ReferralMade,
            case_id=case_id,
            agency=agency,
            service=service.value,
            purpose=purpose.value,
            urgency=urgency.value,
            categories=[category.value for category in categories],
            consent_ids=consent_ids,
            shared_data=shared_data,
            answer_by=answer_by,
            made_by=made_by,
            referring_agency=referring_agency,
        )

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

    def answers_open(self) -> list[str]:
        """The partner's answers (their kinds) this referral takes now: each tried with its
        own check of the state, the one that refuses it."""
        checks: dict[str, Callable[[], None]] = {
            kind: partial(self._require, states, kind) for kind, states in ANSWERABLE_IN.items()
        }
        checks["data_deleted"] = self._may_acknowledge_deletion
        allowed = []
        for kind, check in checks.items():
            try:
                check()
            except ReferralRuleViolation:
                continue
            allowed.append(kind)
        return allowed

    def accept(self, message_id: str) -> None:
        self._require(ANSWERABLE_IN["accepted"], "accepted")
        self.trigger_event(self.ReferralAccepted, message_id=message_id)

    def decline(self, message_id: str, reason: str) -> None:
        self._require(ANSWERABLE_IN["declined"], "declined")
        if not reason.strip():
            raise ReferralRuleViolation("a decline needs a reason")
        self.trigger_event(self.ReferralDeclined, message_id=message_id, reason=reason)

    def start_service(self, message_id: str, started_on: date) -> None:
        self._require(ANSWERABLE_IN["service_started"], "started")
        self.trigger_event(self.ServiceStarted, message_id=message_id, started_on=started_on)

    def report_milestone(
        self, message_id: str, milestone: Milestone, reported_on: date, detail: str | None
    ) -> None:
        self._require(ANSWERABLE_IN["milestone"], "given a milestone")
        self.trigger_event(
            self.MilestoneReported,
            message_id=message_id,
            milestone=milestone.value,
            reported_on=reported_on,
            detail=detail,
        )

    def complete(self, message_id: str, completed_on: date) -> None:
        self._require(ANSWERABLE_IN["service_completed"], "completed")
        self.trigger_event(self.ServiceCompleted, message_id=message_id, completed_on=completed_on)

    def discontinue(self, message_id: str, reason: str) -> None:
        self._require(ANSWERABLE_IN["service_discontinued"], "discontinued")
        self.trigger_event(self.ServiceDiscontinued, message_id=message_id, reason=reason)

    def withdraw(self, reason: str, withdrawn_by: str) -> None:
        if self.state in FINISHED:
            raise ReferralRuleViolation(
                f"referral {self.id} is {self.state.value}: it cannot be withdrawn"
            )
        self.trigger_event(self.ReferralWithdrawn, reason=reason, withdrawn_by=withdrawn_by)

    def expire_if_unanswered(self, now: datetime) -> bool:
        if self.state != ReferralState.AWAITING_ANSWER or now <= self.answer_by:
            return False
        self.trigger_event(self.ReferralExpired, answer_was_due=self.answer_by)
        return True

    @property
    def data_withdrawn(self) -> bool:
        return self.state == ReferralState.DATA_WITHDRAWN

    def withdraw_data(self, cause: str, consent_id: UUID | None, now: datetime) -> bool:
        """Tell the partner to delete what it received; once is enough. Recorded at ``now``,
        the service's own clock, which the deletion deadline is then counted from."""
        if self.data_withdrawn:
            return False
        self.trigger_event(
            self.ReferralDataWithdrawn,
            withdrawal_cause=cause,
            consent_id=consent_id,
            timestamp=now,
        )
        return True

    def acknowledge_deletion(self, message_id: str, deleted_on: date) -> None:
        """The partner deleted what it received: only once it was told to, and once."""
        self._may_acknowledge_deletion()
        self.trigger_event(self.ReferralDataDeleted, message_id=message_id, deleted_on=deleted_on)

    def _may_acknowledge_deletion(self) -> None:
        self._require({ReferralState.DATA_WITHDRAWN}, "acknowledged as deleted")
        if self.data_deleted_on is not None:
            raise ReferralRuleViolation(
                f"referral {self.id}: its partner acknowledged the deletion already "
                f"({self.data_deleted_on.isoformat()})"
            )

    def deletion_due_by(self, ack_within: timedelta) -> datetime | None:
        """By when the partner must acknowledge the deletion; None while it was not told."""
        if self.data_withdrawn_at is None:
            return None
        return self.data_withdrawn_at + ack_within

    def deletion_overdue(self, now: datetime, ack_within: timedelta) -> bool:
        due_by = self.deletion_due_by(ack_within)
        return due_by is not None and self.data_deleted_on is None and now > due_by
