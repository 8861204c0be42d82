"""What the referral service publishes (its Kafka wiring).

- ``homeward.referral.events``: every referral fact, sealed with the case's key but for the
  allow-listed fields.
- ``homeward.partner.<agency>.referrals``: what one partner needs (exactly the consented
  fields of its own referrals). Those topics keep messages for a bounded time only
  (``PARTNER_RETENTION``); a ``ReferralDataWithdrawn`` tells the partner to delete sooner.
- Partners answer on ``homeward.partner.<agency>.replies`` with the ``partner.*`` answer types.
"""

from datetime import timedelta
from typing import Any

from services.referral.domain import Referral
from shared.publishing import EventCatalogue, PublishedEvent, published

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
        )
    ),
)


class ReferralReceived(PublishedEvent):
    """A referral as its partner receives it: what to do, for whom, and where to answer."""

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


class DataWithdrawalNotice(PublishedEvent):
    """A referral's data withdrawn, as its partner receives it: with what to do."""

    def to_data(self, event: Any) -> dict[str, Any]:
        return super().to_data(event) | {
            "instruction": "Stop using and delete every personal data you received for this "
            "referral, including copies and derived records."
        }


def in_clear(data: dict[str, Any], _event: Any, _case_id: Any, _application: Any) -> dict[str, Any]:
    return data


PARTNER_CATALOGUE = EventCatalogue(
    "partner",
    ReferralReceived(Referral.ReferralMade, "ReferralReceived", 1, about="referral_id"),
    published(Referral.ReferralWithdrawn, about="referral_id"),
    published(Referral.ReferralExpired, about="referral_id"),
    DataWithdrawalNotice(
        Referral.ReferralDataWithdrawn, "ReferralDataWithdrawn", 1, about="referral_id"
    ),
    sealing=in_clear,
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
