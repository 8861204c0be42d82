"""What the referral service publishes (its Kafka wiring).

- ``homeward.referral.events``: every referral fact, the shared data sealed with the case key.
- ``homeward.partner.<agency>.referrals``: what one partner needs, in plaintext (exactly the
  consented fields of its own referrals), so that it can work with any Kafka client and no key.
  Those topics keep messages for a bounded time only (``PARTNER_RETENTION``), since plaintext
  cannot be crypto-shredded; a ``ReferralDataWithdrawn`` tells the partner to delete sooner.
- Partners answer on ``homeward.partner.<agency>.replies`` with the ``partner.*`` answer types.
"""

from datetime import timedelta
from typing import Any

from services.referral.domain import Referral
from shared.publishing import EventCatalogue, PublishedEvent, event_fields

PARTNER_RETENTION = timedelta(days=30)


def _referral_id(event: Any) -> dict[str, Any]:
    return {"referral_id": str(event.originator_id)}


def referral_made_v1(event: Referral.ReferralMade) -> dict[str, Any]:
    return {
        **_referral_id(event),
        "case_id": str(event.case_id),
        "agency": event.agency,
        "service": event.service,
        "purpose": event.purpose,
        "urgency": event.urgency,
        "categories": list(event.categories),
        "consent_ids": [str(consent_id) for consent_id in event.consent_ids],
        "shared_data": event.shared_data,
        "answer_by": event.answer_by.isoformat(),
        "made_by": event.made_by,
    }


def answered_v1(event: Referral.Answered) -> dict[str, Any]:
    """An answer as recorded: the fields its partner sent, beside the referral id."""
    return {**_referral_id(event), **event_fields(event)}


def withdrawn_v1(event: Referral.ReferralWithdrawn) -> dict[str, Any]:
    return {**_referral_id(event), "reason": event.reason, "withdrawn_by": event.withdrawn_by}


def expired_v1(event: Referral.ReferralExpired) -> dict[str, Any]:
    return {**_referral_id(event), "answer_was_due": event.answer_was_due.isoformat()}


def data_withdrawn_v1(event: Referral.ReferralDataWithdrawn) -> dict[str, Any]:
    return {
        **_referral_id(event),
        "cause": event.cause,
        "consent_id": None if event.consent_id is None else str(event.consent_id),
        "instruction": "Stop using and delete every personal data you received for this "
        "referral, including copies and derived records.",
    }


CATALOGUE = EventCatalogue(
    "referral",
    PublishedEvent(
        Referral.ReferralMade, "ReferralMade", 1, referral_made_v1, personal=("shared_data",)
    ),
    PublishedEvent(Referral.ReferralAccepted, "ReferralAccepted", 1, answered_v1),
    PublishedEvent(Referral.ReferralDeclined, "ReferralDeclined", 1, answered_v1),
    PublishedEvent(Referral.ServiceStarted, "ServiceStarted", 1, answered_v1),
    PublishedEvent(Referral.MilestoneReported, "MilestoneReported", 1, answered_v1),
    PublishedEvent(Referral.ServiceCompleted, "ServiceCompleted", 1, answered_v1),
    PublishedEvent(Referral.ServiceDiscontinued, "ServiceDiscontinued", 1, answered_v1),
    PublishedEvent(Referral.ReferralWithdrawn, "ReferralWithdrawn", 1, withdrawn_v1),
    PublishedEvent(Referral.ReferralExpired, "ReferralExpired", 1, expired_v1),
    PublishedEvent(Referral.ReferralDataWithdrawn, "ReferralDataWithdrawn", 1, data_withdrawn_v1),
)


def referral_received_v1(event: Referral.ReferralMade) -> dict[str, Any]:
    made = referral_made_v1(event)
    return {
        name: made[name]
        for name in (
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
    } | {"reply_topic": f"homeward.partner.{event.agency}.replies"}


PARTNER_CATALOGUE = EventCatalogue(
    "partner",
    PublishedEvent(Referral.ReferralMade, "ReferralReceived", 1, referral_received_v1),
    PublishedEvent(Referral.ReferralWithdrawn, "ReferralWithdrawn", 1, withdrawn_v1),
    PublishedEvent(Referral.ReferralExpired, "ReferralExpired", 1, expired_v1),
    PublishedEvent(Referral.ReferralDataWithdrawn, "ReferralDataWithdrawn", 1, data_withdrawn_v1),
)

# What partners send back on their replies topic: CloudEvent type → the answer it is.
PARTNER_ANSWERS = {
    "org.homeward.partner.ReferralAccepted.v1": "accepted",
    "org.homeward.partner.ReferralDeclined.v1": "declined",
    "org.homeward.partner.ServiceStarted.v1": "service_started",
    "org.homeward.partner.MilestoneReported.v1": "milestone",
    "org.homeward.partner.ServiceCompleted.v1": "service_completed",
    "org.homeward.partner.ServiceDiscontinued.v1": "service_discontinued",
}
