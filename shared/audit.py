"""``homeward audit verify``: does a service's store still hold what it recorded, and does its
topic carry exactly that?

Three comparisons, each naming what differs by position:

- the store against its own chain (:mod:`shared.chain`): each event against its link
  (altered, removed, inserted, reordered), each link against the one before it;
- the store against the checkpoints the service published on Kafka
  (:mod:`shared.checkpoints`): the hash its events give now at each checkpoint's position, which
  reveals a store rewritten links and all;
- with ``--topic``, the service's topic against the store: each message against the message
  the store's event makes now (its ``id`` is derived from the event's identity), sealed fields
  opened with the case's key, so that messages missing, altered or forged are named.
"""

import os
import time
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, Notification
from eventsourcing.utils import Environment, TopicError

from shared.application import ServiceApplication
from shared.chain import GENESIS, ChainLink, EventChain, chained_recorder, next_hash, record_digest
from shared.checkpoints import checkpoint_of
from shared.crypto import SealError
from shared.envelope import CloudEvent, MalformedMessage, event_id
from shared.kafka import KafkaConnection, read_to_end
from shared.persistence import configured_by_environment, event_store_env, sqlite_file
from shared.privacy import open_fields
from shared.publishing import EventCatalogue, NotPublished, check_published

PAGE = 1000
ENVELOPE = ("source", "type", "subject", "time", "dataschema", "sequence", "partitionkey", "caseid")
T = TypeVar("T")


class StoreNotFound(LookupError):
    """No event store where the settings point, or one without a chain."""


def store_environment(service: str, data_dir: Path) -> dict[str, str]:
    """The library's settings of a service's existing store, to read it: nothing is created
    (no SQLite file where the settings point at none, no table)."""
    if not configured_by_environment(service) and not sqlite_file(service, data_dir).exists():
        raise StoreNotFound(
            f"no event store of {service} at {sqlite_file(service, data_dir).resolve()}: set "
            "HOMEWARD_DATA_DIR to the platform's data folder (or PERSISTENCE_MODULE and its "
            "variables)"
        )
    env = Environment(service, {**os.environ, **event_store_env(service, data_dir)})
    env[env.create_keys("CREATE_TABLE")[0]] = "no"
    return dict(env)


@contextmanager
def opened_store(service: str, data_dir: Path) -> Iterator[EventChain]:
    """A service's event store, chained, for reading; its connections closed afterwards."""
    factory = InfrastructureFactory.construct(
        Environment(service, store_environment(service, data_dir))
    )
    try:
        store = chained_recorder(factory)
        if not isinstance(store, EventChain):
            raise StoreNotFound(f"the event store of {service} is in memory: it has no chain")
        yield store
    finally:
        factory.close()


@dataclass(frozen=True)
class Finding:
    kind: str  # altered, removed, inserted, reordered, replaced, unlinked, checkpoint, ...
    where: str  # "notification 17", "partition 2 offset 40"
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.upper()} at {self.where}: {self.detail}"


@dataclass
class StoreReport:
    events: int = 0
    links: int = 0
    last_notification: int = 0
    chain: str | None = None  # the hash of the first link (hex): the chain's name
    head: ChainLink | None = None
    # The hash the stored events give now, at the positions asked for (the checkpoints').
    recomputed: dict[int, bytes] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def _paged(fetch: Callable[[int], Sequence[T]], position: Callable[[T], int]) -> Iterator[T]:
    after = 0
    while page := fetch(after):
        yield from page
        after = position(page[-1])


def _notifications(store: ApplicationRecorder) -> Iterator[Notification]:
    return _paged(
        lambda after: store.select_notifications(start=after, limit=PAGE, inclusive_of_start=False),
        lambda notification: notification.id,
    )


def _aligned(
    store: EventChain,
) -> Iterator[tuple[int, Notification | None, ChainLink | None]]:
    """Stored events and links side by side, by notification id: one of them may be absent."""
    events = _notifications(store)
    links = _paged(lambda after: store.chain_links(after, PAGE), lambda link: link.notification_id)
    event, link = next(events, None), next(links, None)
    while event is not None or link is not None:
        ahead = [] if event is None else [event.id]
        position = min([*ahead, *([] if link is None else [link.notification_id])])
        here_event = event if event is not None and event.id == position else None
        here_link = link if link is not None and link.notification_id == position else None
        yield position, here_event, here_link
        if here_event is not None:
            event = next(events, None)
        if here_link is not None:
            link = next(links, None)


def describe(originator_id: UUID | str, version: int, topic: str = "") -> str:
    kind = topic.rpartition(":")[2]
    return f"{kind + ' ' if kind else ''}{originator_id} v{version}"


def walk_store(store: EventChain, positions: AbstractSet[int] = frozenset()) -> StoreReport:
    """Every stored event against its link, and every link against the one before it."""
    report = StoreReport()
    following = GENESIS  # the links as stored
    recomputed = GENESIS  # what the events as stored give now
    for position, event, link in _aligned(store):
        report.last_notification = position
        digest = None
        if event is not None:
            report.events += 1
            digest = record_digest(
                event.originator_id, event.originator_version, event.topic, event.state
            )
            recomputed = next_hash(recomputed, digest)
        if position in positions:
            report.recomputed[position] = recomputed
        where = f"notification {position}"
        if link is None:
            assert event is not None
            report.findings.append(
                Finding(
                    "inserted",
                    where,
                    f"{describe(event.originator_id, event.originator_version, event.topic)} "
                    "is in no link of the chain: the platform did not record it",
                )
            )
            continue
        report.links += 1
        report.chain = report.chain or link.hash.hex()
        report.head = link
        finding = _event_against_link(store, where, event, digest, link)
        if finding is not None:
            report.findings.append(finding)
        if next_hash(following, link.digest) != link.hash:
            report.findings.append(
                Finding(
                    "unlinked",
                    where,
                    f"the link of {link.names()} does not follow from the link before it: an "
                    "event was removed with its link just before it, or links were rewritten",
                )
            )
        following = link.hash
    return report


def _event_against_link(
    store: EventChain,
    where: str,
    event: Notification | None,
    digest: bytes | None,
    link: ChainLink,
) -> Finding | None:
    if event is None:
        originator_id = _as_id(link.originator_id)
        version = link.originator_version
        if store.select_events(originator_id, gt=version - 1, lte=version):
            return Finding(
                "reordered", where, f"{link.names()}, chained here, is stored at another position"
            )
        return Finding("removed", where, f"{link.names()}, chained here, is no longer stored")
    named = describe(event.originator_id, event.originator_version, event.topic)
    if (str(event.originator_id), event.originator_version) != (
        link.originator_id,
        link.originator_version,
    ):
        elsewhere = store.link_of(event.originator_id, event.originator_version)
        if elsewhere is not None:
            return Finding(
                "reordered",
                where,
                f"{named} stands here, chained at notification {elsewhere.notification_id}; "
                f"the chain has {link.names()} here",
            )
        return Finding(
            "replaced", where, f"{named}, in no link, stands where the chain has {link.names()}"
        )
    if digest != link.digest:
        return Finding("altered", where, f"{named}: its stored bytes differ from those chained")
    return None


def _as_id(text: str) -> UUID | str:
    try:
        return UUID(text)
    except ValueError:
        return text


# --- checkpoints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    where: str
    chain: str
    notification_id: int
    hash: bytes


def read_checkpoints(
    kafka: KafkaConnection, topic: str, service: str
) -> tuple[list[Checkpoint], list[Finding]]:
    """The service's checkpoints on ``topic``, and what on it claims to be one and is not."""
    checkpoints, findings = [], []
    for record in read_to_end(kafka, [topic]):
        where = f"{topic} partition {record.partition} offset {record.offset}"
        try:
            message = CloudEvent.from_bytes(record.value)
            check_published(message)
        except (MalformedMessage, NotPublished) as error:
            findings.append(Finding("forged", where, f"not a checkpoint: {error}"))
            continue
        checkpoint = checkpoint_of(message)
        if checkpoint is None:
            findings.append(Finding("forged", where, f"{message.type} is not a checkpoint"))
            continue
        named_service, chain, notification_id, hash_ = checkpoint
        if named_service != service:
            continue
        if message.source != f"/homeward/{service}":
            forged = f"a checkpoint of {service} from {message.source}"
            findings.append(Finding("forged", where, forged))
            continue
        checkpoints.append(Checkpoint(where, chain, notification_id, hash_))
    return checkpoints, findings


def compare_checkpoints(
    report: StoreReport, checkpoints: list[Checkpoint], service: str
) -> tuple[int, list[Finding]]:
    """How many checkpoints name this store's chain, and those the store no longer gives."""
    own = [checkpoint for checkpoint in checkpoints if checkpoint.chain == report.chain]
    findings = []
    if checkpoints and not own:
        findings.append(
            Finding(
                "checkpoint",
                "the chain's start",
                f"none of the {len(checkpoints)} checkpoints of {service} names this store's "
                f"chain ({(report.chain or 'empty')[:16]}…): it was rewritten from its first "
                "event, or the checkpoints come from another store",
            )
        )
    for checkpoint in own:
        position = checkpoint.notification_id
        now = report.recomputed.get(position)
        if position > report.last_notification:
            detail = (
                f"names notification {position}, past the store's last "
                f"({report.last_notification}): events were removed from its end"
            )
        elif now is None:
            detail = f"names notification {position}, which the store no longer holds"
        elif now != checkpoint.hash:
            detail = (
                f"recorded {checkpoint.hash.hex()[:16]}… at notification {position}; the "
                f"store's events give {now.hex()[:16]}… there: the store was changed at or "
                "before it"
            )
        else:
            continue
        findings.append(Finding("checkpoint", checkpoint.where, detail))
    return len(own), findings


# --- the topic -------------------------------------------------------------------------------


@dataclass
class TopicReport:
    messages: int = 0
    expected: int = 0  # stored events the relay publishes
    published_up_to: int = 0  # the relay's position: what must be on the topic
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class Published:
    notification_id: int
    originator_id: UUID
    version: int
    topic: str


def verify_topic(
    application: ServiceApplication,
    catalogue: EventCatalogue,
    kafka: KafkaConnection,
    topic: str,
    published_up_to: int,
) -> TopicReport:
    """Each message on ``topic`` against the message its stored event makes now; each stored
    event the relay has published (up to its position) found on the topic."""
    report = TopicReport(published_up_to=published_up_to)
    expected: dict[str, Published] = {}
    for notification in _notifications(application.recorder):
        if _published(catalogue, notification.topic):
            originator_id = UUID(str(notification.originator_id))
            version = notification.originator_version
            expected[str(event_id(originator_id, version))] = Published(
                notification.id, originator_id, version, notification.topic
            )
    report.expected = len(expected)
    seen: set[str] = set()
    for record in read_to_end(kafka, [topic]):
        report.messages += 1
        where = f"{topic} partition {record.partition} offset {record.offset}"
        try:
            message = CloudEvent.from_bytes(record.value)
        except MalformedMessage as error:
            report.findings.append(Finding("forged", where, str(error)))
            continue
        stored = expected.get(message.id)
        if stored is None:
            report.findings.append(
                Finding("forged", where, f"{message.type} {message.id} is no stored event's")
            )
            continue
        seen.add(message.id)
        difference = _difference(application, catalogue, stored, message, record.key)
        if difference is not None:
            named = describe(stored.originator_id, stored.version, stored.topic)
            report.findings.append(
                Finding(
                    "altered",
                    where,
                    f"{named} (notification {stored.notification_id}): {difference}",
                )
            )
    for message_id, stored in expected.items():
        if message_id not in seen and stored.notification_id <= published_up_to:
            report.findings.append(
                Finding(
                    "missing",
                    f"notification {stored.notification_id}",
                    f"{describe(stored.originator_id, stored.version, stored.topic)} was "
                    f"published (the relay is at {published_up_to}) and is not on {topic}",
                )
            )
    return report


def _published(catalogue: EventCatalogue, stored_topic: str) -> bool:
    try:
        return catalogue.publishes_stored(stored_topic)
    except TopicError:  # a class no code knows: the store walk names the event
        return False


def _difference(
    application: ServiceApplication,
    catalogue: EventCatalogue,
    stored: Published,
    message: CloudEvent,
    key: bytes | None,
) -> str | None:
    """What differs between a message and the one its stored event makes now, or None."""
    (notification,) = application.recorder.select_notifications(
        start=stored.notification_id, limit=1
    )
    # Where the schemas are served is the deployment's, not the event's: taken as published.
    schemas_at = (message.dataschema or "").rpartition("/schemas/")[0]
    wanted = catalogue.to_cloudevent(
        application.mapper.to_domain_event(notification), application, schemas_at
    )
    assert wanted is not None  # the catalogue publishes its type
    if key != (wanted.partitionkey or "").encode():
        return "its Kafka key differs"
    earlier = message.type != wanted.type and message.type in catalogue.earlier_types
    for name in ENVELOPE:
        if earlier and name in ("type", "dataschema"):
            continue
        if getattr(message, name) != getattr(wanted, name):
            return f"its {name} differs"
    if earlier:
        return None  # published before its type's last version: its envelope is compared
    case_key = None
    if wanted.case_id is not None:
        case_key = application.case_keys.for_opening(wanted.case_id, "audit verify")
    try:
        got = open_fields(message.data, case_key)
    except SealError:
        return "a sealed field does not open with its case's key"
    want: dict[str, Any] = open_fields(wanted.data, case_key)
    differing = sorted(name for name in got.keys() | want.keys() if got.get(name) != want.get(name))
    return f"data {', '.join(differing)} differ" if differing else None


def timed(work: Callable[[], T]) -> tuple[T, float]:
    began = time.perf_counter()
    return work(), time.perf_counter() - began
