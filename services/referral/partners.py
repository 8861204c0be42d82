"""A partner's topics: where it reads its referrals and where it answers."""

from services.referral.domain import partner_referrals_topic, partner_replies_topic
from services.referral.messages import PARTNER_RETENTION
from shared.kafka import dead_letter_topic, ensure_topics

REFERRAL_PARTITIONS = 3  # keyed by case id: one child's referrals keep their order
# One partition for answers: a partner that sends them without a key still has them applied
# in the order it sent them (accepted before started before completed).
REPLY_PARTITIONS = 1


def ensure_partner_topics(bootstrap: str, agencies: list[str]) -> None:
    retention_ms = int(PARTNER_RETENTION.total_seconds() * 1000)
    referrals = [partner_referrals_topic(agency) for agency in agencies]
    replies = [
        topic
        for agency in agencies
        for topic in (
            partner_replies_topic(agency),
            dead_letter_topic(partner_replies_topic(agency)),
        )
    ]
    for topics, partitions in ((referrals, REFERRAL_PARTITIONS), (replies, REPLY_PARTITIONS)):
        if topics:
            ensure_topics(bootstrap, topics, partitions=partitions, retention_ms=retention_ms)
