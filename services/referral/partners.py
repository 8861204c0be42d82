"""A partner's topics: where it reads its referrals and where it answers."""

from services.referral.domain import partner_referrals_topic, partner_replies_topic
from services.referral.messages import PARTNER_RETENTION
from shared.kafka import dead_letter_topic, ensure_topics

PARTNER_TOPIC_PARTITIONS = 3


def ensure_partner_topics(bootstrap: str, agencies: list[str]) -> None:
    topics = [
        topic
        for agency in agencies
        for topic in (
            partner_referrals_topic(agency),
            partner_replies_topic(agency),
            dead_letter_topic(partner_replies_topic(agency)),
        )
    ]
    if topics:
        ensure_topics(
            bootstrap,
            topics,
            partitions=PARTNER_TOPIC_PARTITIONS,
            retention_ms=int(PARTNER_RETENTION.total_seconds() * 1000),
        )
