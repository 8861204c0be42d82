"""What the referral service publishes (its Kafka wiring).

- ``homeward.referral.events``: every referral fact, sealed with the case's key but for the
  allow-listed fields. On this topic and the partners', a message is about its referral
  (``subject``) and keyed by the referral's case (``caseid``).
- ``homeward.partner.<agency>.referrals``: what one partner needs (exactly the consented
  fields of its own referrals), every field but the allow-listed ones sealed to that
  partner's own public key (:mod:`shared.partnerbox`). Those topics keep messages for a
  bounded time only (``PARTNER_RETENTION``); a ``ReferralDataWithdrawn`` tells the partner to
  delete sooner.
- Partners answer on ``homeward.partner.<agency>.replies`` with the ``partner.*`` answer types,
  ``ReferralDataDeleted`` included: the acknowledgement of a ``ReferralDataWithdrawn``. Every
  answer is a CloudEvent whose ``subject`` is the referral answered and whose ``time`` says
  when (``partner-answer.json``).
"""

from datetime import timedelta
from typing import Any
from uuid import UUID

from services.referral.app import ReferralApplication
from services.referral.domain import Referral
from shared.application import ServiceApplication
from shared.envelope import CloudEvent
from shared.partnerbox import PARTNER_SEALED_FIELD_URI, sealed_fields_to
from shared.publishing import (
    SHARED_DEFINITIONS,
    EventCatalogue,
    PublishedEvent,
    SealedFieldSchema,
    published,
)

PARTNER_RETENTION = timedelta(days=30)

CATALOGUE = EventCatalogue(
    "referral",
    *(
        published(event_class, about="referral_id")
        for event_class in (
            Referral.ReferralMade,
            Referral.ReferralAccepted,
            Referral.ReferralDeclined,
            Referral.ServiceStarted,
            Referral.MilestoneReported,
            Referral.ServiceCompleted,
            Referral.ServiceDiscontinued,
            Referral.ReferralWithdrawn,
            Referral.ReferralExpired,
            Referral.ReferralDataWithdrawn,
            Referral.ReferralDataDeleted,
        )
    ),
)


class ReferralReceived(PublishedEvent):
    """A referral as its partner receives it: what to do, for whom, where to answer, and the
    key (reply_key) to seal the free text of the answers to."""

    SHARED = (
        "referral_id",
        "case_id",
        "agency",
        "service",
        "purpose",
        "urgency",
        "categories",
        "shared_data",
        "answer_by",
    )

    def to_data(self, event: Any) -> dict[str, Any]:
        made = super().to_data(event)
        return {name: made[name] for name in self.SHARED} | {
            "reply_topic": f"homeward.partner.{event.agency}.replies"
        }

    def service_data(self, application: ServiceApplication) -> dict[str, Any]:
        assert isinstance(application, ReferralApplication)
        return {"reply_key": application.reply_key.public_key}

    def fields(self) -> dict[str, Any]:
        made = super().fields()
        return {name: made[name] for name in self.SHARED} | {"reply_topic": str, "reply_key": str}


class DataWithdrawalNotice(PublishedEvent):
    """A referral's data withdrawn, as its partner receives it: with what to do."""

    def to_data(self, event: Any) -> dict[str, Any]:
        return super().to_data(event) | {
            "instruction": "Stop using and delete every personal data you received for this "
            "referral, including copies and derived records."
        }

    def fields(self) -> dict[str, Any]:
        return super().fields() | {"instruction": str}


def sealed_to_partner(
    data: dict[str, Any], event: Any, _case_id: UUID, application: ServiceApplication
) -> dict[str, Any]:
    """Every field but the allow-listed ones sealed to the public key of the partner the
    referral is addressed to. The case's key plays no part: after an erasure the partner is
    still told, in a message it alone opens, to delete what it received."""
    assert isinstance(application, ReferralApplication)
    return sealed_fields_to(application.partner_key_of_referral(event.originator_id), data)


PARTNER_CATALOGUE = EventCatalogue(
    "partner",
    ReferralReceived(Referral.ReferralMade, "ReferralReceived", 1, about="referral_id"),
    published(Referral.ReferralWithdrawn, about="referral_id"),
    published(Referral.ReferralExpired, about="referral_id"),
    DataWithdrawalNotice(
        Referral.ReferralDataWithdrawn, "ReferralDataWithdrawn", 1, about="referral_id"
    ),
    sealing=sealed_to_partner,
    sealed_field=SealedFieldSchema(
        PARTNER_SEALED_FIELD_URI, "Sealed to the partner's own public key."
    ),
)

# What every answer on a replies topic is, whatever its type: a CloudEvent naming the referral
# it answers (subject) and when it was given (time).
PARTNER_ANSWER_ENVELOPE = SHARED_DEFINITIONS["partner-answer"]


def partner_messages(
    application: ReferralApplication, referral_id: UUID, schemas_at: str
) -> list[CloudEvent]:
    """What the partner's topic carried for one referral, in order, as the relay made it (the
    same ids, every field sealed to the partner's key anew): for a partner that lost its
    offsets, or whose messages the topic no longer keeps."""
    stored = application.repository.event_store.get(referral_id)
    messages = (PARTNER_CATALOGUE.to_cloudevent(event, application, schemas_at) for event in stored)
    return [message for message in messages if message is not None]


# What partners send back on their replies topic: CloudEvent type → the answer it is.
PARTNER_ANSWERS = {
    "org.homeward.partner.ReferralAccepted.v1": "accepted",
    "org.homeward.partner.ReferralDeclined.v1": "declined",
    "org.homeward.partner.ServiceStarted.v1": "service_started",
    "org.homeward.partner.MilestoneReported.v1": "milestone",
    "org.homeward.partner.ServiceCompleted.v1": "service_completed",
    "org.homeward.partner.ServiceDiscontinued.v1": "service_discontinued",
    "org.homeward.partner.ReferralDataDeleted.v1": "data_deleted",
}
