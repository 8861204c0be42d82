"""The referral application: partners, consent-gated referrals, and the partners' answers."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from nacl.public import PublicKey

from services.referral.domain import (
    SERVICE_PURPOSES,
    Milestone,
    Partner,
    PartnerNotFound,
    Referral,
    ReferralNotFound,
    ReferralRuleViolation,
    ServiceKind,
    Urgency,
)
from services.referral.index import ReferralIndex, Where
from services.referral.projections import IntakeView
from services.referral.replykey import ReplyKey
from services.referral.sharing import (
    WrittenField,
    child_standing,
    shared_fields,
    written_outside,
)
from shared.application import ServiceApplication
from shared.consent import AgeTable, DataCategory, Purpose, shareable_categories
from shared.partnerbox import public_key_from_text
from shared.protections import Displacement, PartnerKind, refoulement_risk


class ConsentMissing(ReferralRuleViolation):
    """The consent the service has seen does not cover this share."""


@dataclass(frozen=True)
class ReferralRequest:
    case_id: UUID
    agency: str
    service: ServiceKind
    purpose: Purpose
    urgency: Urgency
    categories: tuple[DataCategory, ...]
    made_by: str
    referring_agency: str
    written: dict[WrittenField, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AnswerDeadlines:
    routine: timedelta = timedelta(days=7)
    urgent: timedelta = timedelta(hours=24)
    # From the notice to delete (ReferralDataWithdrawn) to the partner's ReferralDataDeleted:
    # past it, the caseworker sees the deletion as overdue.
    deletion_ack_within: timedelta = timedelta(days=7)


class ReferralApplication(ServiceApplication):
    name = "referral"
    deadlines: ClassVar[AnswerDeadlines] = AnswerDeadlines()
    age_table: ClassVar[AgeTable] = AgeTable()  # the programme's, from HOMEWARD_PROGRAMME_*

    def attach_intake_view(self, view: IntakeView) -> None:
        self.intake = view

    def attach_index(self, index: ReferralIndex) -> None:
        self.index = index

    def attach_reply_key(self, reply_key: ReplyKey) -> None:
        self.reply_key = reply_key

    # Partners

    def register_partner(
        self,
        agency: str,
        name: str,
        kind: PartnerKind,
        country: str,
        services: list[ServiceKind],
        public_key: str,
    ) -> Partner:
        partner = Partner.register(agency, name, kind, country, services, public_key)
        try:
            self.save(partner)
        except IntegrityError:
            raise ReferralRuleViolation(f"partner {agency} is already registered") from None
        return partner

    def get_partner(self, agency: str) -> Partner:
        partner_id = Partner.create_id(agency)
        if partner_id not in self.repository:
            raise PartnerNotFound(agency)
        partner: object = self.repository.get(partner_id)
        assert isinstance(partner, Partner)
        return partner

    def partner_key_of_referral(self, referral_id: UUID) -> PublicKey:
        """The public key of the partner a referral is addressed to."""
        agency = self.get_referral(referral_id).agency
        return public_key_from_text(self.get_partner(agency).public_key)

    def partner_agencies(self) -> list[str]:
        """Every registered partner, read from the notification log itself."""
        topic = get_topic(Partner.PartnerRegistered)
        notifications = self.recorder.select_notifications(start=None, limit=10_000, topics=[topic])
        return [self.mapper.to_domain_event(n).agency for n in notifications]  # type: ignore[attr-defined]

    # Referrals

    def make_referral(self, request: ReferralRequest) -> tuple[Referral, bool]:
        """Share with a partner only what the consent the service has seen allows, now; the
        referral, and whether it is new (a repeat is answered with the open one)."""
        case = self.intake.case_data(request.case_id, f"referral to {request.agency}")
        if case is None:
            raise ReferralRuleViolation(
                f"case {request.case_id} is unknown here or erased: nothing can be shared"
            )
        opened, closed = case
        if closed:
            raise ReferralRuleViolation(
                f"rule 'no referral on a closed case': case {request.case_id} is closed; "
                "reopen it first"
            )
        partner = self.get_partner(request.agency)
        if request.service.value not in partner.services:
            raise ReferralRuleViolation(
                f"partner {request.agency} does not offer {request.service.value}"
            )
        if request.purpose not in SERVICE_PURPOSES[request.service]:
            raise ReferralRuleViolation(
                f"rule 'purpose bound to the service': {request.service.value} serves "
                + ", ".join(sorted(SERVICE_PURPOSES[request.service]))
                + f", not {request.purpose.value}"
            )
        risk = refoulement_risk(
            partner.kind,
            partner.country,
            opened.get("nationality"),
            None if opened.get("displacement") is None else Displacement(opened["displacement"]),
        )
        if risk:
            raise ReferralRuleViolation(f"referral to {request.agency} refused: {risk}")
        now = self.clock()
        decisions = shareable_categories(
            self.intake.consents(request.case_id),
            case_id=request.case_id,
            categories=request.categories,
            agency=request.agency,
            purpose=request.purpose,
            now=now,
            child=child_standing(opened, now.date(), self.age_table),
            table=self.age_table,
        )
        refused = [decision.reason for decision in decisions.values() if not decision]
        if refused:
            raise ConsentMissing("referral refused: " + "; ".join(refused))
        # A caseworker retrying (or two of them acting at once) must not send the partner the
        # child twice: one open referral per case, partner and service.
        for existing in self._referrals(
            Where(request.case_id, request.agency, request.service.value, is_open=True)
        ):
            return existing, False
        outside = written_outside(request.written, list(request.categories))
        if outside:
            raise ReferralRuleViolation("; ".join(outside))
        referral = Referral.make(
            case_id=request.case_id,
            agency=request.agency,
            service=request.service,
            purpose=request.purpose,
            urgency=request.urgency,
            categories=request.categories,
            consent_ids=sorted({i for d in decisions.values() for i in d.consent_ids}),
            shared_data=shared_fields(
                opened, request.written, list(request.categories), now.date(), self.age_table
            ),
            answer_by=Referral.answer_deadline(
                now, request.urgency, self.deadlines.routine, self.deadlines.urgent
            ),
            made_by=request.made_by,
            referring_agency=request.referring_agency,
        )
        self.save(referral)
        return referral, True

    def case_agency(self, case_id: UUID) -> str | None:
        """The agency that registered a case; None for a case unknown here or erased."""
        case = self.intake.case_data(case_id, "the scope of a referral")
        return None if case is None else str(case[0]["registering_agency"])

    def referrals_of_partner(
        self, agency: str, limit: int, offset: int
    ) -> tuple[list[Referral], int]:
        """A page of the referrals addressed to a partner, newest first, and their number."""
        mine = Where(agency=agency)
        return self._referrals(mine, limit, offset), self.index.count(mine)

    def referrals_of_case(self, case_id: UUID) -> list[Referral]:
        """Every referral of a case, newest first."""
        return self._referrals(Where(case_id=case_id))

    def get_referral(self, referral_id: UUID) -> Referral:
        try:
            referral: object = self.repository.get(referral_id)
        except AggregateNotFoundError:
            raise ReferralNotFound(referral_id) from None
        if not isinstance(referral, Referral):
            raise ReferralNotFound(referral_id)
        return referral

    def referral_of_partner(self, agency: str, referral_id: UUID) -> Referral:
        """A partner sees its own referrals only; another's is as if it did not exist."""
        referral = self.get_referral(referral_id)
        if referral.agency != agency:
            raise ReferralNotFound(referral_id)
        return referral

    def answer(
        self, agency: str, referral_id: UUID, message_id: str, answer: dict[str, Any]
    ) -> Referral:
        """Apply a partner's answer once, however often it arrives."""
        referral = self.referral_of_partner(agency, referral_id)
        if referral.has_applied(message_id):
            return referral
        kind = answer["kind"]
        if kind == "accepted":
            referral.accept(message_id)
        elif kind == "declined":
            referral.decline(message_id, answer["reason"])
        elif kind == "service_started":
            referral.start_service(message_id, date.fromisoformat(answer["started_on"]))
        elif kind == "milestone":
            referral.report_milestone(
                message_id,
                Milestone(answer["milestone"]),
                date.fromisoformat(answer["reported_on"]),
                answer.get("detail"),
            )
        elif kind == "service_completed":
            referral.complete(message_id, date.fromisoformat(answer["completed_on"]))
        elif kind == "service_discontinued":
            referral.discontinue(message_id, answer["reason"])
        elif kind == "data_deleted":
            referral.acknowledge_deletion(message_id, date.fromisoformat(answer["deleted_on"]))
        else:
            raise ReferralRuleViolation(f"unknown answer {kind!r}")
        self.save(referral)
        return referral

    def withdraw_referral(self, referral_id: UUID, reason: str, withdrawn_by: str) -> Referral:
        referral = self.get_referral(referral_id)
        referral.withdraw(reason, withdrawn_by)
        self.save(referral)
        return referral

    def expire_unanswered(self) -> list[UUID]:
        """Record the expiry of every referral whose answer is overdue now."""
        now = self.clock()
        expired = []
        for referral in self._referrals(Where(is_open=True)):
            if referral.expire_if_unanswered(now):
                self.save(referral)
                expired.append(referral.id)
        return expired

    def withdraw_shared_data(
        self, *, case_id: UUID, consent_id: UUID | None, cause: str
    ) -> list[UUID]:
        """Tell partners to delete what they received for a case (all of it, or what one
        consent allowed); idempotent."""
        told = []
        now = self.clock()
        for referral in self._referrals(Where(case_id=case_id, data_withdrawn=False)):
            if consent_id is not None and consent_id not in referral.consent_ids:
                continue
            if referral.withdraw_data(cause, consent_id, now):
                self.save(referral)
                told.append(referral.id)
        return told

    def withdraw_data_of_lapsed_consents(self) -> list[UUID]:
        """Tell partners to delete what they received under a consent that has expired, or
        that was withdrawn but whose withdrawal missed the referral: one saved between the
        consent check of :meth:`make_referral` and the scan of :meth:`withdraw_shared_data`.
        Run periodically, so that no referral is left without its notice; idempotent."""
        return [
            referral.id
            for referral in self._referrals(Where(data_withdrawn=False))
            if self._withdraw_data_if_consent_lapsed(referral)
        ]

    def withdraw_data_if_consent_lapsed(self, referral_id: UUID) -> Referral:
        """The same check for one referral just saved, so that a withdrawal that raced it is
        acted on at once rather than at the next sweep."""
        referral = self.get_referral(referral_id)
        self._withdraw_data_if_consent_lapsed(referral)
        return referral

    def _withdraw_data_if_consent_lapsed(self, referral: Referral) -> bool:
        now = self.clock()
        seen = {consent.consent_id: consent for consent in self.intake.consents(referral.case_id)}
        for consent_id in referral.consent_ids:
            consent = seen.get(consent_id)
            if consent is None:
                # The view forgets a case's consents, and its data, when the case is erased.
                if self.intake.case_data(referral.case_id, "erasure check") is not None:
                    continue
                cause, notice_consent = "case_erased", None
            elif consent.withdrawn_at is not None:
                cause, notice_consent = "consent_withdrawn", consent_id
            elif consent.expired(now.date()):
                cause, notice_consent = "consent_expired", consent_id
            else:
                continue
            referral.withdraw_data(cause, notice_consent, now)
            self.save(referral)
            return True
        return False

    def _referrals(self, where: Where, limit: int | None = None, offset: int = 0) -> list[Referral]:
        return [self.get_referral(i) for i in self.index.ids(where, limit, offset)]
