"""A running service: its application, its own database, its outbox relay and its consumers.

Each service builds one of these in its composition root (``services/<name>/service.py``);
the FastAPI lifespan starts and stops it, and ``/healthz`` reports on it.
"""

import json
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from shared.accesslog import CATALOGUE as ACCESS_CATALOGUE
from shared.accesslog import AccessLog, AccessLogView
from shared.application import ServiceApplication
from shared.background import BackgroundWorker
from shared.caseindex import CaseOffsetIndex, KeyReader
from shared.chain import EventChain
from shared.checkpoints import CHECKPOINT_TYPE, Checkpointer
from shared.consumer import (
    CommandHandler,
    EventConsumer,
    Handler,
    UnacceptableMessage,
    published_only,
)
from shared.crypto import ERASED
from shared.database import Database, Transaction
from shared.envelope import CloudEvent, event_type
from shared.kafka import (
    ACCESS_TOPIC,
    CHECKPOINT_TOPIC,
    KafkaConnection,
    ensure_checkpoint_topic,
    ensure_topics,
    event_topic,
    kafka_connection,
    reliable_producer,
    service_principal,
)
from shared.kafkaacl import Permission, consumes, consumes_prefixed, publishes, require_granted
from shared.keyring import CaseKeys, Keyring, NoCaseKey, open_keyring
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay, Producer
from shared.persistence import Clock, event_store_env
from shared.privacy import has_sealed, open_fields
from shared.publishing import SHARED_DEFINITIONS, EventCatalogue
from shared.settings import Settings
from shared.signatures import SignatureCheck, Verdict


@dataclass(frozen=True)
class Subscription:
    """A handler for the messages of some topics (or of every topic a pattern matches), run
    by one consumer group: a projection ``handler``, a ``command_handler``, or both."""

    topics: list[str]
    handler: Handler | None = None
    name: str = ""
    command_handler: CommandHandler | None = None
    pattern: str | None = None
    # What every topic the pattern matches starts with: the topics the service may read.
    pattern_prefix: str | None = None
    # The tables a projection ``handler`` keeps: what ``homeward rebuild`` makes again.
    tables: tuple[str, ...] = ()
    # The projection also takes an erased case's messages, its sealed fields ``[erased]``, for
    # what they say in clear: a rebuild, reading them after the erasure, then keeps what the
    # live projection kept from before it.
    erased_cases_in_clear: bool = False
    # Only messages signed by the service that published them are applied; any other is
    # parked (``shared/signatures.py``): whoever may write a topic without being its service
    # cannot change what the projection keeps. A rebuild runs the same check.
    signed_only: bool = False


@dataclass(frozen=True)
class ReadModel:
    """Tables a service keeps from what it reads, which can be made again from nothing: by
    the ``consumer`` whose handler keeps them from Kafka, or ``from_store``, a function filling
    a database from the service's own event store (a projection of its notification log)."""

    name: str
    tables: tuple[str, ...]
    consumer: str | None = None
    from_store: Callable[[ServiceApplication, Database], None] | None = None


HandlerT = TypeVar("HandlerT", Handler, CommandHandler)
STOP_SECONDS = 10.0  # how long a stopping service waits for its background work
# A worker writes its report every second: older than this, it is stuck or gone.
WORKER_REPORT_MAX_AGE_SECONDS = 10.0


def kafka_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        except OSError:
            continue
    return False


@dataclass
class ServiceRuntime:
    service: str
    application: ServiceApplication
    catalogue: EventCatalogue
    settings: Settings
    views: Any = None  # the service's read models, for its API
    access_view: AccessLogView | None = None  # every service's access log, where kept
    case_index: CaseOffsetIndex | None = None  # where cases' messages lie, for their histories
    case_reader: KeyReader | None = None  # the client those histories are read with
    # True when the relays and consumers run in a worker process of their own (`homeward
    # work`), out of the API's way: this process then only serves requests.
    background_in_worker: bool = False

    def __post_init__(self) -> None:
        self.kafka: KafkaConnection = kafka_connection(
            self.settings, service_principal(self.service)
        )
        self.database = Database.of(self.application)
        self.topic = event_topic(self.service)
        self.kafka_uses: set[Permission] = set()  # what the wiring does on Kafka
        self.relays: list[OutboxRelay] = []
        self._other_schemas: set[str] = set()
        self.relay = self.add_relay(
            self.catalogue, self.topic, self._relay_producer, checkpointer=self._checkpointer()
        )
        # The service's reads and denials: in its own store, published to the audit topic.
        self.access_log = AccessLog(self.service, self.application.save)
        self.add_relay(ACCESS_CATALOGUE, ACCESS_TOPIC, lambda: self.reliable_producer("audit"))
        self.jobs: list[BackgroundWorker] = []
        self.consumers: list[EventConsumer] = []
        self.read_models: list[ReadModel] = []
        self.metrics = ServiceMetrics(self)

    def serve_schemas(self, names: Iterable[str]) -> None:
        """Serve, beside the schemas of what the service publishes, those of other types: what
        it accepts from outside, or what a document it serves refers to."""
        self._other_schemas.update(names)

    @property
    def schema_names(self) -> list[str]:
        """The schemas the service serves at ``/schemas/<name>``: of each type its relays
        publish (earlier versions included: the topics keep them), of the shared definitions
        those refer to, and the others it was given."""
        published = {name for relay in self.relays for name in relay.catalogue.types}
        return sorted(published | self._other_schemas) + list(SHARED_DEFINITIONS)

    def add_relay(
        self,
        catalogue: EventCatalogue,
        topic: str,
        producer_factory: Callable[[], Producer],
        route: Callable[[CloudEvent], str] | None = None,
        route_prefix: str | None = None,
        checkpointer: Checkpointer | None = None,
    ) -> OutboxRelay:
        """Publish the application's events, as ``catalogue`` maps them, to ``topic`` (or
        to where ``route`` sends each message, always a topic starting with
        ``route_prefix``), from a position of its own."""
        if route is None:
            self._use(publishes(topic))
        elif route_prefix is None:
            raise ValueError("a routed relay names the prefix of the topics it routes to")
        else:
            self._use(publishes(route_prefix, prefixed=True))
        relay = OutboxRelay(
            self.application,
            catalogue,
            topic,
            producer_factory,
            schemas_at=self.settings.service_url(self.service),
            route=route,
            batch_size=self.settings.relay_batch_size,
            poll_seconds=self.settings.relay_poll_seconds,
            ack_timeout_seconds=self.settings.kafka_timeout_seconds,
            checkpointer=checkpointer,
        )
        self.relays.append(relay)
        return relay

    def _checkpointer(self) -> Checkpointer | None:
        """The service's relay publishes its chain's checkpoints (an in-memory store for
        tests has no chain)."""
        self._use(publishes(CHECKPOINT_TOPIC))
        recorder = self.application.recorder
        if not isinstance(recorder, EventChain):
            return None
        self.serve_schemas([CHECKPOINT_TYPE])
        return Checkpointer(
            self.service,
            recorder,
            self.settings.audit_checkpoint_seconds,
            self.settings.service_url(self.service),
        )

    def subscribe(self, subscription: Subscription) -> None:
        """Run a handler over some topics in a consumer group of its own."""
        group = subscription.name or f"homeward.{self.service}"
        if subscription.pattern is None:
            self._use(consumes(group, *subscription.topics))
        elif subscription.pattern_prefix is None or not subscription.pattern.startswith(
            "^" + re.escape(subscription.pattern_prefix)
        ):
            raise ValueError(
                f"the pattern of {group} must start with its pattern_prefix, the topics read"
            )
        else:
            self._use(consumes_prefixed(group, subscription.pattern_prefix))
        if subscription.handler is not None:
            if not subscription.tables:
                raise ValueError(f"the projection of {group} names no tables it keeps")
            self.read_models.append(ReadModel(group, subscription.tables, consumer=group))
        self.consumers.append(self.consumer(subscription, self.kafka))

    def consumer(self, subscription: Subscription, kafka: KafkaConnection) -> EventConsumer:
        """The consumer that runs a subscription as this service runs it, reading as ``kafka``
        signs in (a test reads its own copy of the topics as another principal)."""
        check: Callable[[CloudEvent], None] | None = None
        if subscription.signed_only:
            check = signed_by_its_service(self.application.case_keys.keyring.signature_check())
        elif subscription.pattern is None:
            # The platform's own topics carry only published types; what partners send on
            # theirs is checked by its handler, which answers them on their own topic.
            check = published_only
        return EventConsumer(
            subscription.name or f"homeward.{self.service}",
            subscription.topics,
            kafka,
            self.database,
            self._opening(subscription.handler, subscription.erased_cases_in_clear),
            command_handler=self._opening(subscription.command_handler),
            pattern=subscription.pattern,
            check=check,
            kafka_timeout_seconds=self.settings.kafka_timeout_seconds,
        )

    def _use(self, permissions: set[Permission]) -> None:
        """Record what the wiring does on Kafka, refusing what the service's principal is
        not granted (``shared/kafkaacl.py``): at build time, not on the broker."""
        require_granted(self.service, permissions)
        self.kafka_uses |= permissions

    def _opening(
        self, handler: HandlerT | None, erased_cases_in_clear: bool = False
    ) -> HandlerT | None:
        if handler is None:
            return None
        return opening_sealed_fields(
            handler, self.application.case_keys, self.service, erased_cases_in_clear
        )

    def _relay_producer(self) -> Producer:
        ensure_topics(self.kafka, [self.topic])
        ensure_checkpoint_topic(self.kafka)
        return self.reliable_producer("relay")

    def reliable_producer(self, purpose: str) -> Producer:
        return reliable_producer(
            self.kafka,
            f"homeward.{self.service}.{purpose}",
            self.settings.kafka_timeout_seconds,
        )

    def start(self) -> None:
        if self.background_in_worker:
            return
        for relay in self.relays:
            relay.start()
        for consumer in self.consumers:
            consumer.start()
        for job in self.jobs:
            job.start()

    def stop(self) -> None:
        workers: list[BackgroundWorker] = [*self.jobs, *self.consumers, *self.relays]
        for worker in workers:  # all at once, so that their waits overlap
            worker.request_stop()
        deadline = time.monotonic() + STOP_SECONDS
        for worker in workers:
            worker.stop(timeout=max(deadline - time.monotonic(), 0.1))
        if self.case_reader is not None:
            self.case_reader.close()
        self.application.close()

    def health(self) -> dict[str, Any]:
        try:
            self.database.ping()
            database = "ok"
        except Exception as error:  # the report must not fail with what it reports on
            database = f"unreachable: {type(error).__name__}"
        bootstrap = self.kafka.bootstrap
        kafka = "ok" if kafka_reachable(bootstrap) else f"unreachable at {bootstrap}"
        if self.background_in_worker:
            background = self._worker_report()
        else:
            background = self.background_report(database_answers=database == "ok")
        degraded_because = background.pop("degraded_because")
        if database != "ok" or kafka != "ok":
            status = "down"
        elif degraded_because:
            status = "degraded"
        else:
            status = "ok"
        return {
            "service": self.service,
            "status": status,
            "degraded_because": degraded_because,
            "database": database,
            "kafka": kafka,
            **background,
        }

    def background_report(self, database_answers: bool) -> dict[str, Any]:
        """How the relays and consumers of this process fare, and what of it degrades the
        service."""
        # The relays' figures are read from the database: with the database down, asking would
        # keep the report waiting for the pool's connect timeout; they are unknown (None).
        waiting = {relay.name: relay.lag() if database_answers else None for relay in self.relays}
        # The service works, but something waits: events behind one the relay cannot publish
        # or behind a slow broker, messages behind a consumer that fails or falls behind.
        degraded_because = [
            *self._relay_troubles(waiting),
            *(trouble for c in self.consumers for trouble in self._consumer_troubles(c)),
        ]
        return {
            "degraded_because": degraded_because,
            "relay": {
                "running": self.relay.running,
                # False on a standby instance: another one publishes the shared store's events.
                "holds_lease": self.relay.lease.held,
                "position": self.relay.position if database_answers else None,
                "waiting": waiting[self.relay.name],
                "last_error": self.relay.last_error,
                **stuck_report(self.relay),
            },
            "other_relays": {
                relay.name: {
                    "holds_lease": relay.lease.held,
                    "waiting": waiting[relay.name],
                    "last_error": relay.last_error,
                    **stuck_report(relay),
                }
                for relay in self.relays[1:]
            },
            "consumers": {
                consumer.name: {
                    "running": consumer.running,
                    "last_error": consumer.last_error,
                    "failing_seconds": round(consumer.failing_for(), 1),
                    "lag": consumer.lag,
                }
                for consumer in self.consumers
            },
        }

    @property
    def worker_report_file(self) -> Path:
        """Where the service's worker process (``homeward work``) says how its relays and
        consumers fare, for the API process's health report."""
        return self.settings.data_dir / f"{self.service}.worker.json"

    def write_worker_report(self) -> None:
        answering = True
        try:
            self.database.ping()
        except Exception:  # said by the API's own ping; the relays' figures are then unknown
            answering = False
        report = self.background_report(database_answers=answering) | {"at": time.time()}
        written = self.worker_report_file.with_suffix(".tmp")
        written.write_text(json.dumps(report))
        written.replace(self.worker_report_file)  # whole, never half-written, for the reader

    def _worker_report(self) -> dict[str, Any]:
        try:
            report: dict[str, Any] = json.loads(self.worker_report_file.read_text())
        except (OSError, ValueError):
            return {"degraded_because": ["the worker process has not reported"]}
        age = time.time() - report.pop("at", 0)
        if age > WORKER_REPORT_MAX_AGE_SECONDS:
            report["degraded_because"].append(
                f"the worker process has not reported for {age:.0f} s"
            )
        return report

    def _relay_troubles(self, waiting: dict[str, int | None]) -> list[str]:
        troubles = []
        most = self.settings.health_max_relay_waiting
        for relay in self.relays:
            if relay.stuck is not None:
                troubles.append(
                    f"relay {relay.name} holds at notification {relay.stuck.position}, "
                    "which it cannot decode"
                )
            behind = waiting[relay.name]
            if behind is not None and behind > most:
                troubles.append(f"relay {relay.name} has {behind} events waiting (over {most})")
        return troubles

    def _consumer_troubles(self, consumer: EventConsumer) -> list[str]:
        troubles = []
        if consumer.died:
            troubles.append(f"consumer {consumer.name} stopped")
        failing = consumer.failing_for()
        if failing > self.settings.health_stuck_seconds:
            troubles.append(
                f"consumer {consumer.name} has failed for {failing:.0f} s "
                f"(over {self.settings.health_stuck_seconds:g}); see its last_error"
            )
        most = self.settings.health_max_consumer_lag
        for topic, behind in consumer.lag.items():
            if behind > most:
                troubles.append(
                    f"consumer {consumer.name} is {behind} messages behind on {topic} (over {most})"
                )
        return troubles


def stuck_report(relay: OutboxRelay) -> dict[str, Any]:
    """Where a relay holds at a stored event it cannot publish, and why; None when it is not."""
    stuck = relay.stuck
    return {
        "stuck_at": None if stuck is None else stuck.position,
        "stuck_error": None if stuck is None else stuck.error,
    }


class PeriodicJob(BackgroundWorker):
    """Work derived from recorded dates (expiring unanswered referrals, say), run every few
    seconds: losing a run only delays it, since each run looks at everything that is due."""

    def __init__(self, name: str, every_seconds: float, work: Callable[[], object]) -> None:
        super().__init__(name, retry_seconds=every_seconds)
        self.every_seconds = every_seconds
        self.work = work

    def step(self) -> float:
        self.work()
        return self.every_seconds


def signed_by_its_service(signatures: SignatureCheck) -> Callable[[CloudEvent], None]:
    """A check that takes a published type, meeting its schema, signed by its service."""

    def check(message: CloudEvent) -> None:
        published_only(message)
        verdict = signatures.verdict(message)
        if verdict is not Verdict.VALID:
            raise UnacceptableMessage(f"{message.type} {message.id}: signature {verdict}")

    return check


CASE_ERASED = event_type("intake", "CaseErased", 1)
log = logging.getLogger("homeward.runtime")


def opening_sealed_fields(
    handler: HandlerT, case_keys: CaseKeys, service: str, erased_cases_in_clear: bool = False
) -> HandlerT:
    """Give a handler its messages with their sealed fields opened with the case's key, in
    memory only. A case's erasure drops its cached key first; a message of an erased case
    whose fields can no longer be opened is not applied at all: no service acts on an erased
    case (``CaseErased`` itself is all in clear, so it reaches every handler). A projection
    ``erased_cases_in_clear`` gets it with ``[erased]`` in each sealed field instead."""

    def handle(message: CloudEvent, context: Transaction | str) -> None:
        try:
            apply_opened(message, context)
        except NoCaseKey as missing:  # opening here, or sealing and opening in the handler
            raise UnacceptableMessage(
                f"{message.type}: the keyring holds no key for case {missing.args[0]}"
            ) from None

    def apply_opened(message: CloudEvent, context: Transaction | str) -> None:
        case_id = message.case_id
        if message.type == CASE_ERASED and case_id is not None:
            case_keys.forget(case_id)
        if ERASED in message.data.values() and not erased_cases_in_clear:
            # Published after its case's key was destroyed: nothing in it can be applied.
            log.debug("%s of erased case %s not applied", message.type, case_id)
            return
        if has_sealed(message.data):
            if case_id is None:
                raise UnacceptableMessage(f"{message.type} has sealed fields and no case id")
            key = case_keys.for_opening(case_id, f"{service}: {message.type}")
            if key is None and not erased_cases_in_clear:
                log.debug("%s of erased case %s not applied", message.type, case_id)
                return
            message = message.model_copy(update={"data": open_fields(message.data, key)})
        handler(message, context)  # type: ignore[arg-type]

    return cast(HandlerT, handle)


def build_service_runtime(
    service: str,
    application_class: type[ServiceApplication],
    catalogue: EventCatalogue,
    settings: Settings,
    env: dict[str, str] | None,
    clock: Clock,
    keyring: Keyring | None,
) -> ServiceRuntime:
    """A service's runtime; with no ``env`` its event store, and with no ``keyring`` the
    platform's keyring, follow the settings and environment."""
    if env is None:
        env = event_store_env(service, settings.data_dir)
    if keyring is None:
        keyring = open_keyring(settings)
    application = application_class(env, clock, CaseKeys(keyring, service))
    return ServiceRuntime(service, application, catalogue, settings)
