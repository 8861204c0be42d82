"""A partner's topics (where it reads its referrals and where it answers) and its principal on
the broker, which may use those topics and no others."""

from kafka.admin import ACLOperation

from services.referral.domain import partner_referrals_topic, partner_replies_topic
from services.referral.messages import PARTNER_RETENTION
from shared.kafka import PARTNER_TOPIC_PREFIX, KafkaConnection, dead_letter_topic, ensure_topics
from shared.kafkaacl import Permission, in_group, issue_credentials, on_topic

REFERRAL_PARTITIONS = 3  # keyed by case id: one child's referrals keep their order
# One partition for answers: a partner that sends them without a key still has them applied
# in the order it sent them (accepted before started before completed).
REPLY_PARTITIONS = 1

# The referral service is granted every topic under the prefix (shared/kafkaacl.py).
assert partner_referrals_topic("X").startswith(PARTNER_TOPIC_PREFIX)
assert partner_replies_topic("X").startswith(PARTNER_TOPIC_PREFIX)


def ensure_partner_topics(kafka: KafkaConnection, agencies: list[str]) -> None:
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
            ensure_topics(kafka, topics, partitions=partitions, retention_ms=retention_ms)


def partner_group_prefix(agency: str) -> str:
    """A partner's consumer groups are named ``<agency>.<anything>``: a dot, because agency
    codes hold hyphens and never dots, so that one agency's prefix (``SCH-GOMA.``) never
    matches another's groups (``SCH-GOMA-2.``)."""
    return f"{agency}."


def partner_permissions(agency: str) -> set[Permission]:
    """Read its referrals, answer on its replies topic, read its refused answers (with the
    reasons) on the replies' dead-letter topic, in consumer groups of its own: nothing else,
    and no other partner's topics."""
    replies = partner_replies_topic(agency)
    return (
        on_topic(partner_referrals_topic(agency), ACLOperation.READ)
        | on_topic(replies, ACLOperation.WRITE)
        | on_topic(dead_letter_topic(replies), ACLOperation.READ)
        | in_group(partner_group_prefix(agency), prefixed=True)
    )


def issue_partner_credentials(
    registrar: KafkaConnection, agency: str, timeout_seconds: float = 10.0
) -> str:
    """The partner's principal (its agency code) with a new password, returned and kept
    nowhere, and the ACLs on its own topics."""
    return issue_credentials(registrar, agency, partner_permissions(agency), timeout_seconds)
