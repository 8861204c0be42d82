"""How the referral service reacts to what it reads on Kafka."""

import logging
from uuid import UUID

from jsonschema import ValidationError

from services.referral.app import ReferralApplication
from services.referral.domain import ReferralNotFound, ReferralRuleViolation
from services.referral.messages import PARTNER_ANSWER_ENVELOPE, PARTNER_ANSWERS
from services.referral.projections import CASE_ERASED, CONSENT_WITHDRAWN
from shared.consumer import CommandHandler, UnacceptableMessage
from shared.crypto import SealError
from shared.envelope import CloudEvent
from shared.publishing import checked_in_schema, validate_against, validate_data

log = logging.getLogger("homeward.referral")

REPLIES_PATTERN = r"^homeward\.partner\.[A-Z0-9-]+\.replies$"


def on_intake_event(application: ReferralApplication) -> CommandHandler:
    """When consent is withdrawn or a case erased, tell the partners who received its data to
    stop and delete (the view of intake has learnt it first, in its own inbox's transaction)."""

    def handle(message: CloudEvent, _topic: str) -> None:
        if message.type not in (CONSENT_WITHDRAWN, CASE_ERASED):
            return
        case_id = UUID(message.data["case_id"])
        consent_id = message.data.get("consent_id")
        told = application.withdraw_shared_data(
            case_id=case_id,
            consent_id=UUID(consent_id) if consent_id else None,
            cause="consent_withdrawn" if consent_id else "case_erased",
        )
        log.info("case %s: %d referral(s) told to delete their data", case_id, len(told))

    return handle


def agency_of_replies_topic(topic: str) -> str:
    return topic.removeprefix("homeward.partner.").removesuffix(".replies")


def check_answer_envelope(message: CloudEvent) -> None:
    """Refuse an answer that does not name the referral it answers (``subject``) and when it
    was given (``time``), as every answer's envelope requires."""
    try:
        validate_against(
            checked_in_schema(PARTNER_ANSWER_ENVELOPE),
            message.model_dump(mode="json", exclude_none=True),
        )
    except ValidationError as error:
        where = "".join(f" at {part}" for part in error.absolute_path)
        raise UnacceptableMessage(
            f"{message.type}: {error.message[:300]}{where} "
            f"(every answer's envelope: {PARTNER_ANSWER_ENVELOPE})"
        ) from None


def on_partner_reply(application: ReferralApplication) -> CommandHandler:
    """A partner's answer, from its own replies topic: the topic says who answers, the
    subject which referral. Its free text must come sealed to the service's reply key: the
    topic is on the broker's disks."""

    def handle(message: CloudEvent, topic: str) -> None:
        kind = PARTNER_ANSWERS.get(message.type)
        if kind is None:
            raise UnacceptableMessage(f"unknown answer type {message.type!r}")
        check_answer_envelope(message)
        name = message.type.split(".")[3]
        try:
            data = application.reply_key.opened_answer(message.data, sealed_only=True)
        except SealError as error:
            raise UnacceptableMessage(f"{message.type}: {error}") from None
        try:
            validate_data("partner", name, 1, data)
        except ValidationError as error:
            where = ".".join(str(part) for part in error.absolute_path) or "data"
            raise UnacceptableMessage(
                f"{message.type} does not match its schema at {where}: {error.validator} "
                f"{error.validator_value!r}"[:500]
            ) from None
        agency = agency_of_replies_topic(topic)
        referral_id = UUID(data["referral_id"])
        if UUID(str(message.subject)) != referral_id:
            raise UnacceptableMessage(
                f"{message.type}: subject {message.subject} is not data.referral_id "
                f"{referral_id}: an answer's subject is the referral it answers"
            )
        try:
            application.answer(agency, referral_id, message.id, {"kind": kind, **data})
        except ReferralNotFound:
            raise UnacceptableMessage(
                f"referral {referral_id} is not addressed to agency {agency}"
            ) from None
        except ReferralRuleViolation as error:
            raise UnacceptableMessage(str(error)) from None

    return handle
