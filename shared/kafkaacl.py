"""Who may do what on Kafka: the one reviewed table of Homeward's principals and their
permissions, and how it (and a partner's) is put on a broker.

The broker's authoriser refuses whatever no ACL allows. Each service signs in as its own
principal and may write only its own topics (its events, the dead letters of what it reads;
the referral service, the partners' topics too); it reads only what it consumes, in consumer
groups of its own. A service's runtime checks its wiring against this table when it is built
(``shared/runtime.py``): a subscription added without its permission fails there, naming what
to add here, instead of failing later on the broker; and ``tests/unit/test_kafka_permissions``
fails for a permission here that no service uses.
"""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    UserScramCredentialUpsertion,
)

from shared.kafka import (
    ACCESS_TOPIC,
    AUDITOR,
    CHECKPOINT_TOPIC,
    PARTNER_TOPIC_PREFIX,
    REGISTRAR,
    SERVICES,
    KafkaConnection,
    dead_letter_topic,
    ensure_checkpoint_topic,
    ensure_dead_letter_topics,
    ensure_password_file,
    ensure_topics,
    event_topic,
    platform_topics,
    read_password,
    service_principal,
)

CLUSTER = "kafka-cluster"  # the name Kafka gives the one cluster resource


class KafkaAccessError(RuntimeError):
    """The broker refused to record a credential or an ACL; the message says which."""


@dataclass(frozen=True, order=True)
class Permission:
    """One operation on one resource (a topic, a consumer group, the cluster), or on every
    resource whose name starts with ``name`` when ``prefixed``."""

    operation: ACLOperation
    resource: ResourceType
    name: str
    prefixed: bool = False

    def covers(self, needed: "Permission") -> bool:
        if (self.operation, self.resource) != (needed.operation, needed.resource):
            return False
        if self.prefixed:
            return needed.name.startswith(self.name)
        return not needed.prefixed and needed.name == self.name

    def acl(self, principal: str) -> ACL:
        kind = ACLResourcePatternType.PREFIXED if self.prefixed else ACLResourcePatternType.LITERAL
        return ACL(
            f"User:{principal}",
            "*",
            self.operation,
            ACLPermissionType.ALLOW,
            ResourcePattern(self.resource, self.name, kind),
        )

    def __str__(self) -> str:
        name = f"{self.name}*" if self.prefixed else self.name
        return f"{self.operation.name} on {self.resource.name.lower()} {name}"


def on_topic(name: str, *operations: ACLOperation, prefixed: bool = False) -> set[Permission]:
    return {Permission(operation, ResourceType.TOPIC, name, prefixed) for operation in operations}


def in_group(name: str, *, prefixed: bool = False) -> set[Permission]:
    """Joining a consumer group and committing its offsets."""
    return {Permission(ACLOperation.READ, ResourceType.GROUP, name, prefixed)}


# WRITE and READ imply DESCRIBE (a topic's metadata); idempotent producers need nothing more
# than WRITE on a topic (Kafka 2.8+), so no cluster-wide permission is granted to any service.
def publishes(topic: str, *, prefixed: bool = False) -> set[Permission]:
    """Writing a topic, and making it (with its retention) if it does not exist yet."""
    return on_topic(topic, ACLOperation.WRITE, ACLOperation.CREATE, prefixed=prefixed)


def consumes(group: str, *topics: str) -> set[Permission]:
    """Reading topics in a consumer group, and parking what cannot be read on their
    dead-letter topics, which the consumer makes. The topics read are made by their owners
    (or the platform's set-up), never by a reader."""
    permissions = in_group(group)
    for topic in topics:
        permissions |= on_topic(topic, ACLOperation.READ) | publishes(dead_letter_topic(topic))
    return permissions


def consumes_prefixed(group: str, prefix: str) -> set[Permission]:
    """Reading every topic a pattern matches; their dead-letter topics share the prefix."""
    return in_group(group) | on_topic(prefix, ACLOperation.READ, ACLOperation.WRITE, prefixed=True)


INTAKE, REFERRAL, FOLLOWUP = (event_topic(service) for service in SERVICES)

# Every service relays its own access log to the one audit topic; intake keeps it for auditors.
# Every service publishes its event chain's checkpoints to another, which auditors read.
SERVICE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "intake": frozenset(
        publishes(INTAKE)
        | publishes(ACCESS_TOPIC)
        | publishes(CHECKPOINT_TOPIC)
        | consumes("homeward.intake.projections", INTAKE)
        | consumes("homeward.intake.followup-alerts", FOLLOWUP)
        | consumes("homeward.intake.access", ACCESS_TOPIC)
        # The programme reports' counts follow every case across the three services.
        | consumes("homeward.intake.statistics", INTAKE, REFERRAL, FOLLOWUP)
    ),
    "referral": frozenset(
        publishes(REFERRAL)
        | publishes(ACCESS_TOPIC)
        | publishes(CHECKPOINT_TOPIC)
        | consumes("homeward.referral.intake", INTAKE)
        # Every partner's referrals it sends and replies it reads; each partner's own
        # principal gets its two topics only (services/referral/partners.py).
        | publishes(PARTNER_TOPIC_PREFIX, prefixed=True)
        | consumes_prefixed("homeward.referral.replies", PARTNER_TOPIC_PREFIX)
    ),
    "followup": frozenset(
        publishes(FOLLOWUP)
        | publishes(ACCESS_TOPIC)
        | publishes(CHECKPOINT_TOPIC)
        | consumes("homeward.followup.intake", INTAKE)
        | consumes("homeward.followup.outcomes", REFERRAL)
        | consumes("homeward.followup.visits", FOLLOWUP)
    ),
}

# Homeward's principals other than the super user that sets them up (ADMIN).
PRINCIPALS: dict[str, frozenset[Permission]] = {
    **{service_principal(service): SERVICE_PERMISSIONS[service] for service in SERVICES},
    # Registering a partner records its SCRAM credential and its ACLs: Kafka allows both to
    # whoever may ALTER the cluster and to no one else. This principal could therefore grant
    # itself more; it is kept apart from the referral service's own so that every ACL it
    # makes is on record under its name, and so that it can be withheld (README).
    REGISTRAR: frozenset({Permission(ACLOperation.ALTER, ResourceType.CLUSTER, CLUSTER)}),
    AUDITOR: frozenset(
        on_topic(INTAKE, ACLOperation.READ)
        | on_topic(REFERRAL, ACLOperation.READ)
        | on_topic(FOLLOWUP, ACLOperation.READ)
        # Who opened a case belongs to its history (`homeward audit case`).
        | on_topic(ACCESS_TOPIC, ACLOperation.READ)
        | on_topic(CHECKPOINT_TOPIC, ACLOperation.READ)
    ),
}


class UngrantedKafkaAccess(ValueError):
    """A service is wired to do on Kafka what its principal is not granted."""


def require_granted(service: str, needed: Iterable[Permission]) -> None:
    granted = SERVICE_PERMISSIONS[service]
    missing = sorted(p for p in needed if not any(g.covers(p) for g in granted))
    if missing:
        raise UngrantedKafkaAccess(
            f"the {service} service is wired to use Kafka beyond what "
            f"{service_principal(service)} is granted ({', '.join(map(str, missing))}): add "
            "the permission to SERVICE_PERMISSIONS in shared/kafkaacl.py"
        )


def set_scram_password(
    admin: KafkaAdminClient, connection: KafkaConnection, principal: str, password: str
) -> None:
    """Record (or replace) a principal's SCRAM credential: the broker keeps a salted hash."""
    upsertion = UserScramCredentialUpsertion(principal, connection.sasl_mechanism, password)
    error = admin.alter_user_scram_credentials([upsertion]).get(principal)
    if error:
        raise KafkaAccessError(f"the broker refused the credential of {principal}: {error}")


def grant(
    admin: KafkaAdminClient,
    principal: str,
    permissions: Iterable[Permission],
    *,
    exactly: bool = False,
) -> None:
    """Create the principal's ACLs (those that exist already stay as they are); ``exactly``
    also takes away every other ACL of the principal, so that a permission removed from the
    table leaves no access behind."""
    wanted = {permission.acl(principal) for permission in permissions}
    if exactly:
        every_resource = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
        existing, _ = admin.describe_acls(
            ACLFilter(
                f"User:{principal}", None, ACLOperation.ANY, ACLPermissionType.ANY, every_resource
            )
        )
        stale = [acl for acl in existing if acl not in wanted]
        if stale:
            admin.delete_acls(stale)
        wanted -= set(existing)
    if wanted:
        result = admin.create_acls(sorted(wanted, key=str))
        if result["failed"]:
            raise KafkaAccessError(
                f"the broker refused ACLs of {principal}: {', '.join(map(str, result['failed']))}"
            )


def set_up_platform(admin_connection: KafkaConnection) -> list[str]:
    """Put the platform on a broker, as its super user: the platform's topics, then, on a
    broker that takes passwords, each of Homeward's principals with its SCRAM credential (a
    password made once into the credentials folder when it has none) and exactly the ACLs of
    the table. Safe to repeat; returns the topics it created."""
    created = ensure_topics(admin_connection, platform_topics())
    created += ensure_checkpoint_topic(admin_connection)
    created += ensure_dead_letter_topics(admin_connection, map(event_topic, SERVICES))
    credentials_dir = admin_connection.credentials_dir
    if not admin_connection.authenticates or credentials_dir is None:
        return created
    admin = KafkaAdminClient(**admin_connection.client_kwargs(), client_id="homeward-set-up")
    try:
        for principal, permissions in PRINCIPALS.items():
            ensure_password_file(credentials_dir, principal)
            password = read_password(credentials_dir, principal)
            set_scram_password(admin, admin_connection, principal, password)
            grant(admin, principal, permissions, exactly=True)
    finally:
        admin.close()
    return created


def issue_credentials(
    connection: KafkaConnection,
    principal: str,
    permissions: Iterable[Permission],
    timeout_seconds: float = 10.0,
) -> str:
    """A new password for ``principal`` (the previous one stops working) and its ACLs;
    returns the password, which is kept nowhere: the broker stores a salted hash."""
    password = secrets.token_urlsafe(32)
    timeout_ms = int(timeout_seconds * 1000)
    admin = KafkaAdminClient(
        **connection.client_kwargs(),
        client_id="homeward-registrar",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
    )
    try:
        set_scram_password(admin, connection, principal, password)
        grant(admin, principal, permissions)
    finally:
        admin.close()
    return password
