"""The ``homeward`` command: run the platform, one service, or the local Kafka broker; set a
broker up for the platform; list and replay parked messages; make a partner's key pair or
Kafka credentials; sign a local token; verify that stores and topics hold what was recorded."""

import argparse
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from uuid import UUID

from pydantic import ValidationError

from services.intake.caseaudit import (
    FORMATS,
    REPORT_LANGUAGES,
    SOURCE_LANGUAGE,
    AuditRefused,
    Cut,
    account_of_case,
    registered_between,
    rendered,
)
from services.intake.programme import Programme
from services.intake.reports.projection import stored_cells
from services.intake.reports.render import write_report
from services.intake.reports.replay import report_from_topics
from services.intake.reports.tables import (
    ReportRefused,
    ReportSettings,
    Scope,
    build_report,
    scope_for,
)
from services.referral.demopartner import ensure_demo_partner
from services.referral.partnerside import (
    ANSWERABLE,
    PARTNER_CONFIG_FILE,
    PartnerLogin,
    PartnerSideError,
    answer,
    private_key,
    read_referrals,
    write_new_private_key,
)
from services.web.settings import WEB, WebSettings
from shared.access import Grant, Role
from shared.application import ServiceApplication
from shared.audit import (
    Finding,
    StoreNotFound,
    compare_checkpoints,
    opened_store,
    read_checkpoints,
    store_environment,
    timed,
    verify_topic,
    walk_store,
)
from shared.caseindex import KeyReader, open_case_index
from shared.catalogues import published_catalogues
from shared.database import Database
from shared.deadletters import NotParked, parked_messages, select
from shared.deadletters import replay as replay_parked
from shared.kafka import (
    ADMIN,
    AUDITOR,
    CHECKPOINT_TOPIC,
    SERVICES,
    KafkaConnection,
    KafkaLoginError,
    UnknownTopic,
    dead_letter_topic,
    event_topic,
    kafka_connection,
    platform_topics,
)
from shared.kafkaacl import KafkaAccessError, set_up_platform
from shared.keyring import CaseKeys, MasterKeyError, ensure_master_key_file, open_keyring
from shared.localkafka import BrokerError, LocalBroker, LocalCluster, fetch_jars
from shared.outbox import relay_name
from shared.partnerbox import PARTNER_KEY_FILE, encoded_key
from shared.persistence import utc_now
from shared.publishing import SCHEMA_FOLDER, schema_text
from shared.rebuild import rebuild_read_models, swap_in
from shared.refusals import NotFound
from shared.settings import REPO_ROOT, Settings
from shared.supervision import AlreadyRunning, DataDirLock, Supervised, die_with_parent
from shared.tokens import (
    AGENCY_CODE,
    LONGEST_LOCAL_TOKEN_MINUTES,
    InvalidToken,
    KeysUnavailable,
    LocalSignerRefused,
    TokenVerifier,
    ensure_local_signing_key,
    issue_local_token,
)
from shared.topicreader import READERS


def local_broker(settings: Settings) -> LocalBroker:
    return LocalBroker(settings.data_dir / "kafka", port=settings.local_broker_port)


def with_local_broker(settings: Settings, broker: LocalBroker) -> Settings:
    """The settings with the local broker as the platform's: its address, SASL on loopback,
    and the folder of its principals' password files."""
    kafka = broker.admin
    return settings.model_copy(
        update={
            "kafka_bootstrap": kafka.bootstrap,
            "kafka_security_protocol": kafka.security_protocol,
            "kafka_sasl_mechanism": kafka.sasl_mechanism,
            "kafka_credentials_dir": kafka.credentials_dir,
        }
    )


def kafka_env(settings: Settings) -> dict[str, str]:
    """The HOMEWARD_KAFKA_ variables that point another process at the settings' broker."""
    assert settings.kafka_bootstrap is not None
    env = {
        "HOMEWARD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "HOMEWARD_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "HOMEWARD_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
    }
    if settings.kafka_credentials_dir is not None:
        env["HOMEWARD_KAFKA_CREDENTIALS_DIR"] = str(settings.kafka_credentials_dir)
    return env


def kafka_settings(settings: Settings) -> Settings:
    """The settings of the broker a command talks to: the configured one, or else the local
    broker if it runs."""
    if settings.kafka_bootstrap:
        return settings
    broker = local_broker(settings)
    if broker.pid() is None:
        raise BrokerError("set HOMEWARD_KAFKA_BOOTSTRAP, or run the platform (make run)")
    return with_local_broker(settings, broker)


def local_master_key(settings: Settings) -> Path:
    """Where `homeward up` keeps the master key it makes for local use."""
    return settings.data_dir / "master.key"


def broker_command(action: str, nodes: int) -> int:
    settings = Settings()
    if nodes > 1:
        return cluster_command(action, local_cluster(settings, nodes))
    broker = local_broker(settings)
    if action == "fetch":
        print(f"Kafka jars in {fetch_jars()}")
    elif action == "start":
        broker.start()
        created = set_up_platform(broker.admin)
        print(f"Kafka broker {broker.status()}; topics created: {created or 'none (all exist)'}")
        print(f"Password files of its principals: {broker.credentials_dir}")
    elif action == "stop":
        broker.stop()
        print(f"Kafka broker {broker.status()}")
    else:
        print(f"Kafka broker {broker.status()}")
        return 0 if broker.pid() is not None else 3
    return 0


def local_cluster(settings: Settings, nodes: int) -> LocalCluster:
    return LocalCluster(
        settings.data_dir / "kafka-cluster", port=settings.local_broker_port, size=nodes
    )


def cluster_command(action: str, cluster: LocalCluster) -> int:
    if action == "fetch":
        print(f"Kafka jars in {fetch_jars()}")
        return 0
    if action == "start":
        cluster.start()
        created = set_up_platform(cluster.admin)
        print(f"Kafka cluster on {cluster.bootstrap}; topics created: {created or 'none'}")
    elif action == "stop":
        cluster.stop()
    running = 0
    for node in cluster.nodes:
        print(f"node {node.node_id}: {node.status()}")
        running += node.pid() is not None
    if action == "stop":
        return 0
    return 0 if running == cluster.size else 3


def serve(service: str, port: int | None, background: bool = True) -> int:
    """Run one service's API in this process, with its relays and consumers unless
    ``background`` is False (then `homeward work` runs them)."""
    import uvicorn

    module = importlib.import_module(f"services.{service}.service")
    # The forms read settings of their own (WebSettings: where people sign in).
    settings = getattr(module, "SETTINGS", Settings)()
    if service == WEB:
        app = module.create_app(module.build_runtime(settings))
    else:
        runtime = module.build_runtime(settings)
        runtime.background_in_worker = not background
        app = module.create_app(runtime)
    uvicorn.run(app, host=settings.host, port=port or settings.service_port(service))
    return 0


def work(service: str) -> int:
    """Run one service's relays, consumers and periodic jobs in this process, without its API:
    they then share neither a core's interpreter lock nor its thread pool with the requests.
    Every second the worker writes how they fare for the API's health report."""
    module = importlib.import_module(f"services.{service}.service")
    runtime = module.build_runtime(Settings())
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    runtime.start()
    try:
        while not stopping.is_set():
            runtime.write_worker_report()
            stopping.wait(1.0)
    finally:
        runtime.stop()
    return 0


def bench(arguments: list[str]) -> int:
    """Run ``bench/all.py``: the benchmarks live beside the code, in the checkout."""
    script = Path(__file__).resolve().parent.parent / "bench" / "all.py"
    if not script.exists():
        print(f"homeward: no benchmarks at {script}: run this from a checkout", file=sys.stderr)
        return 2
    return subprocess.run([sys.executable, str(script), *arguments], check=False).returncode


def rebuild(
    service: str, views: list[str] | None, into: Path | None, client: str, swap: bool
) -> int:
    """Rebuild a service's read models from the topics into a fresh database (a SQLite file in
    ``into``), print what was rebuilt, and with ``swap`` replace the live ones with them."""
    settings = kafka_settings(Settings())
    if settings.master_key is None and settings.master_key_file is None:
        settings = settings.model_copy(update={"master_key_file": local_master_key(settings)})
    module = importlib.import_module(f"services.{service}.service")
    live = module.build_runtime(settings)
    into = into or Path(tempfile.mkdtemp(prefix=f"homeward-rebuild-{service}-"))
    into.mkdir(parents=True, exist_ok=True)
    scratch = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(into / "rebuilt.sqlite3"),
    }
    fresh = module.build_runtime(settings, scratch, keyring=live.application.case_keys.keyring)
    report = rebuild_read_models(live, fresh, views, client)
    for model in report.read_models:
        print(
            f"{model.name}: {sum(model.rows.values())} rows {model.rows}, {model.messages} "
            f"messages ({model.applied} applied, {model.duplicates} duplicates, "
            f"{model.refused} refused) in {model.seconds:.1f} s"
        )
    print(f"rebuilt into {into / 'rebuilt.sqlite3'} with {client}")
    if swap:
        swap_in(live, fresh, report)
        print(f"swapped into the live database of {service}")
    return 0


def auditors_keys(settings: Settings) -> CaseKeys:
    """The case keys an auditor's command opens sealed fields with (the local master key
    file of `homeward up` when the settings name none)."""
    if settings.master_key is None and settings.master_key_file is None:
        settings = settings.model_copy(update={"master_key_file": local_master_key(settings)})
    return CaseKeys(open_keyring(settings), "audit")


def audit_accounts(
    chosen: Callable[[KafkaConnection], list[UUID]],
    cut: Cut,
    output_format: str,
    token: str | None,
    language: str = SOURCE_LANGUAGE,
) -> int:
    """Print the accounts of the ``chosen`` cases as the token's holder may read them; 1 for
    a case intake never registered (or a version it never had)."""
    if not token:
        print("homeward: give --token or HOMEWARD_AUDIT_TOKEN (an auditor's)", file=sys.stderr)
        return 2
    settings = kafka_settings(Settings())
    caller = TokenVerifier(settings).verify(token)
    kafka = kafka_connection(settings, AUDITOR)
    started = time.monotonic()
    case_keys = auditors_keys(settings)
    index = open_case_index(settings)
    reader = KeyReader(kafka)  # one client for every case asked
    try:
        cut = cut.for_format(output_format, utc_now())
        accounts = [
            account_of_case(reader, case_keys, Programme(), case, caller, cut, index)
            for case in chosen(kafka)
        ]
    except NotFound as error:
        print(f"homeward: {error}", file=sys.stderr)
        return 1
    finally:
        reader.close()
    print(rendered(accounts, output_format, language), end="")
    for account in accounts:
        if not account.verification.verified:
            print(
                f"homeward: case {account.case_id}: {account.verification.summary()}",
                file=sys.stderr,
            )
    entries = sum(len(account.entries) for account in accounts)
    verified = sum(account.verification.verified for account in accounts)
    print(
        f"homeward: {len(accounts)} case(s), {entries} entries from "
        f"{len(platform_topics())} topics in {time.monotonic() - started:.2f} s; "
        f"{verified} of {len(accounts)} verified",
        file=sys.stderr,
    )
    # Altered, forged or removed messages: the account is printed, and the command fails.
    return 0 if verified == len(accounts) else 3


@dataclass(frozen=True)
class ReplayChoice:
    """How ``homeward report --replay`` reads the topics."""

    client: str
    principal: str
    topics: list[str] | None


def programme_report(
    scope: Scope,
    threshold: int | None,
    out: Path,
    token: str | None,
    replay: ReplayChoice | None,
) -> int:
    """Write the report of ``scope`` (HTML, JSON, a CSV per table) into ``out``, as the
    token's holder may read it: from the counts intake keeps (its database, as ``GET
    /reports`` answers), or with ``replay`` from a replay of the event topics into a fresh
    projection held in memory."""
    if not token:
        print("homeward: give --token or HOMEWARD_REPORT_TOKEN", file=sys.stderr)
        return 2
    settings = kafka_settings(Settings())
    report_settings = ReportSettings()
    if threshold is not None and threshold < report_settings.threshold:
        print(
            f"homeward: the programme shows no count under {report_settings.threshold}",
            file=sys.stderr,
        )
        return 2
    scope = scope_for(TokenVerifier(settings).verify(token), scope)
    smallest = threshold or report_settings.threshold
    started = time.monotonic()
    if replay is None:
        database = Database.named("intake", store_environment("intake", settings.data_dir))
        report = build_report(stored_cells(database), scope, smallest, utc_now())
        read = f"the counts intake keeps, in {time.monotonic() - started:.2f} s"
    else:
        reader = READERS[replay.client](kafka_connection(settings, replay.principal))
        try:
            report, figures = report_from_topics(
                reader,
                auditors_keys(settings),
                scope,
                smallest,
                utc_now(),
                report_settings.coarsening(),
                Programme(),
                replay.topics,
            )
        finally:
            reader.close()
        read = (
            f"{figures.messages} messages read, {figures.applied} applied, "
            f"{figures.duplicates} duplicates, {figures.refused} refused, {figures.forged} "
            f"without their service's signature, in {figures.seconds:.1f} s"
        )
    for path in write_report(report, out):
        print(path)
    print(f"homeward: report made from {read}", file=sys.stderr)
    return 0


SHOWN_FINDINGS = 20


def audit_verify(
    services: list[str], topic: str | None, checkpoints_topic: str, principal: str
) -> int:
    """Walk each service's store against its chain and its checkpoints (and, with ``topic``,
    its topic against the store); 0 when nothing differs, 1 otherwise."""
    settings = kafka_settings(Settings())
    kafka = kafka_connection(settings, principal)
    findings = 0
    for service in services:
        findings += verify_service(service, settings, kafka, topic, checkpoints_topic)
    return 0 if findings == 0 else 1


def verify_service(
    service: str,
    settings: Settings,
    kafka: KafkaConnection,
    topic: str | None,
    checkpoints_topic: str,
) -> int:
    """Print what one service's verification found; return how many findings."""
    checkpoints, findings = read_checkpoints(kafka, checkpoints_topic, service)
    with opened_store(service, settings.data_dir) as store:
        report, seconds = timed(
            lambda: walk_store(store, {checkpoint.notification_id for checkpoint in checkpoints})
        )
    head = report.head
    at_head = (
        ""
        if head is None
        else f", head at notification {head.notification_id} ({head.hash.hex()[:16]}…)"
    )
    print(
        f"{service}: {report.events:,} events, {report.links:,} links{at_head}; "
        f"walked in {seconds:.2f} s"
    )
    own, against_checkpoints = compare_checkpoints(report, checkpoints, service)
    others = len(checkpoints) - own
    print(
        f"{service}: checkpoints of this chain on {checkpoints_topic}: {own}"
        + (f" (and {others} of other {service} stores, not compared)" if others else "")
    )
    findings += report.findings + against_checkpoints
    if topic is not None:
        findings += verify_service_topic(service, settings, kafka, topic or event_topic(service))
    for finding in findings[:SHOWN_FINDINGS]:
        print(f"{service}: {finding}")
    if len(findings) > SHOWN_FINDINGS:
        print(f"{service}: ... and {len(findings) - SHOWN_FINDINGS} more")
    if findings:
        print(f"{service}: changed since it was recorded; findings: {len(findings)}")
    else:
        print(f"{service}: clean")
    return len(findings)


def verify_service_topic(
    service: str, settings: Settings, kafka: KafkaConnection, topic: str
) -> list[Finding]:
    application_class = next(
        value
        for value in vars(importlib.import_module(f"services.{service}.app")).values()
        if isinstance(value, type)
        and issubclass(value, ServiceApplication)
        and value.name == service
    )
    catalogue = importlib.import_module(f"services.{service}.messages").CATALOGUE
    application = application_class(
        store_environment(service, settings.data_dir), utc_now, auditors_keys(settings)
    )
    try:
        relay = relay_name(application.name, event_topic(service))
        published_up_to = application.factory.tracking_recorder().max_tracking_id(relay) or 0
        report, seconds = timed(
            lambda: verify_topic(application, catalogue, kafka, topic, published_up_to)
        )
    finally:
        application.close()
    print(
        f"{service}: {report.messages:,} messages on {topic} against {report.expected:,} "
        f"published stored events (the relay at notification {published_up_to}); "
        f"compared in {seconds:.2f} s"
    )
    return report.findings


def up() -> int:
    """Run the whole platform on this machine until Ctrl-C, keeping each part alive."""
    settings = Settings()
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
    except AlreadyRunning as error:
        print(f"homeward: {error}", file=sys.stderr)
        return 1
    try:
        return _run_platform(settings)
    finally:
        lock.release()


def _run_platform(settings: Settings) -> int:
    # Ctrl-C while the broker starts stops the platform once it is up, as cleanly as later.
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    broker = None
    env = dict(os.environ)
    if not settings.kafka_bootstrap:
        broker = local_broker(settings)
        print(f"Starting a local Kafka broker in {broker.home} ...", flush=True)
        broker.start(supervisor=os.getpid())
        set_up_platform(broker.admin)
        settings = with_local_broker(settings, broker)
        env |= kafka_env(settings)
    bootstrap = settings.kafka_bootstrap
    if settings.master_key is None and settings.master_key_file is None:
        key_file = ensure_master_key_file(local_master_key(settings))
        env["HOMEWARD_MASTER_KEY_FILE"] = str(key_file)
        print(f"Master key: {key_file} (made for local use; keep it apart from backups)")
    if settings.signs_in_locally:
        signing_key = ensure_local_signing_key(settings)
        print(
            f"Token signer: {signing_key} (local use only); sign in with "
            "`homeward token --role caseworker --agency CD-KIN --sub cw-0412`"
        )

    def process(*command: str) -> Callable[[], subprocess.Popen[bytes]]:
        return lambda: subprocess.Popen(
            [sys.executable, "-m", "shared.cli", *command],
            env=env,
            preexec_fn=die_with_parent(os.getpid()),
        )

    # Each service in two processes: its API, and a worker for its relays and consumers, so
    # that publishing and consuming never hold the interpreter lock a request waits for.
    services = [
        *(Supervised(s, process("serve", s, "--without-background")) for s in SERVICES),
        *(Supervised(f"{s} worker", process("work", s)) for s in SERVICES),
        Supervised(WEB, process("serve", WEB)),
    ]
    for supervised in services:
        supervised.launch()
    print(f"Kafka: {bootstrap}")
    for service in SERVICES:
        url = f"http://{settings.host}:{settings.service_port(service)}"
        print(f"{service:9} {url}  (docs {url}/docs, health {url}/healthz)")
    forms = WebSettings()
    sign_in = "choose a demo user at its local sign-in" if forms.issues_locally else "sign in"
    print(f"{'forms':9} {forms.service_url(WEB)}  ({sign_in})")
    print("Ctrl-C stops everything.", flush=True)

    def say(line: str) -> None:
        print(line, flush=True)

    if settings.signs_in_locally:
        # A partner to refer to, for whoever tries the forms first.
        referral_url = f"http://{settings.host}:{settings.service_port('referral')}"
        threading.Thread(
            target=lambda: say(ensure_demo_partner(settings, referral_url)),
            name="demo-partner",
            daemon=True,
        ).start()

    while not stopping:
        if broker is not None and broker.pid() is None:
            say("the Kafka broker stopped; starting it again")
            try:
                broker.start(supervisor=os.getpid())
            except BrokerError as error:
                say(f"the Kafka broker could not start again ({error}); trying again")
        for supervised in services:
            supervised.check(say)
        time.sleep(0.5)
    for supervised in services:
        supervised.stop()
    if broker is not None:
        broker.stop()
    print("Homeward stopped.")
    return 0


def write_schemas() -> int:
    """Write the JSON Schemas the event declarations make into ``shared/schemas/``."""
    for catalogue in published_catalogues():
        for filename, schema in catalogue.generated_schemas().items():
            path = SCHEMA_FOLDER / filename
            text = schema_text(schema)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                print(f"wrote {path.relative_to(SCHEMA_FOLDER.parent.parent)}")
    return 0


def write_asyncapi() -> int:
    """Write the AsyncAPI document of the partners' and auditors' topics, made from the same
    declarations as the schemas."""
    from services.referral.asyncapi import ASYNCAPI_FILE, asyncapi_document

    text = schema_text(asyncapi_document())
    if not ASYNCAPI_FILE.exists() or ASYNCAPI_FILE.read_text() != text:
        ASYNCAPI_FILE.parent.mkdir(exist_ok=True)
        ASYNCAPI_FILE.write_text(text)
        print(f"wrote {ASYNCAPI_FILE.relative_to(REPO_ROOT)}")
    return 0


def partner_keygen(out: Path) -> int:
    """Make a partner's key pair: the private key into a file only its owner reads, the public
    key printed, to give at registration."""
    path = out / PARTNER_KEY_FILE
    try:
        private_key = write_new_private_key(path)
    except FileExistsError:
        print(f"homeward: {path} exists; keep it, or move it away first", file=sys.stderr)
        return 2
    print(f"Private key: {path} (keep it secret; it never leaves your agency)")
    print(
        f"Public key, to give as public_key at registration: {encoded_key(private_key.public_key)}"
    )
    return 0


def partner_read(config: Path, key: Path) -> int:
    """Print every message on the partner's referrals topic, opened, one JSON a line."""
    for event in read_referrals(PartnerLogin(config), private_key(key)):
        print(json.dumps(event, ensure_ascii=False))
    return 0


def partner_answer(
    config: Path, key: Path, referral_id: UUID, kind: str, reason: str | None
) -> int:
    """Send a partner's answer to one of its referrals on its replies topic."""
    sent = answer(PartnerLogin(config), private_key(key), referral_id, kind, reason)
    print(f"sent {sent['type']} for referral {referral_id} (answer id {sent['id']})")
    return 0


def partner_credentials(agency: str, principal: str) -> int:
    """Issue a partner's Kafka credentials (a new password: the previous one stops working)
    and its ACLs, and print them once, for an administrator to hand to the partner."""
    from services.referral.partners import issue_partner_credentials, partner_group_prefix

    settings = kafka_settings(Settings())
    kafka = kafka_connection(settings, principal)
    if not kafka.authenticates:
        print("homeward: this broker takes no passwords (PLAINTEXT)", file=sys.stderr)
        return 2
    password = issue_partner_credentials(kafka, agency, settings.kafka_timeout_seconds)
    print(f"Kafka credentials of {agency}; the password is shown this once and kept nowhere:")
    print(f"  username         {agency}")
    print(f"  password         {password}")
    print(f"  sasl_mechanism   {kafka.sasl_mechanism}")
    print(f"  consumer groups  {partner_group_prefix(agency)}<anything>")
    return 0


def kafka_setup(principal: str) -> int:
    """Put the platform on the configured broker: its topics, then Homeward's principals and
    their ACLs, as the broker's administrator ``principal``."""
    settings = kafka_settings(Settings())
    kafka = kafka_connection(settings, principal)
    created = set_up_platform(kafka)
    print(f"Topics created on {kafka.bootstrap}: {created or 'none (all exist)'}")
    if kafka.authenticates:
        print(
            "Principals and their ACLs set; their password files are in "
            f"{settings.kafka_credentials_dir}: give each service only its own."
        )
    return 0


def list_dead_letters(topic: str, principal: str) -> int:
    """Print the metadata of every message parked from ``topic``, never its data."""
    kafka = kafka_connection(kafka_settings(Settings()), principal)
    parked = parked_messages(kafka, topic)
    for message in parked:
        print(message.describe())
    print(f"{len(parked)} parked on {dead_letter_topic(topic)}")
    return 0


def replay_dead_letters(topic: str, principal: str, event_id: str | None, since: int | None) -> int:
    """Send parked messages of ``topic`` back to where they were read, for their consumers to
    try again."""
    settings = kafka_settings(Settings())
    kafka = kafka_connection(settings, principal)
    parked = parked_messages(kafka, topic)
    chosen = select(parked, event_id=event_id, since=since)
    replay_parked(kafka, chosen, settings.kafka_timeout_seconds)
    for message in chosen:
        print(f"resent {message.describe()}")
    print(f"resent {len(chosen)} of the {len(parked)} parked on {dead_letter_topic(topic)}")
    return 0


def token(role: Role, agency: str, sub: str, minutes: int, grants: list[Grant]) -> int:
    """Print a short-lived token from the local signer, for local use and tests."""
    print(
        issue_local_token(
            Settings(), sub=sub, role=role, agency=agency, grants=frozenset(grants), minutes=minutes
        )
    )
    return 0


def _agency_code(text: str) -> str:
    if not AGENCY_CODE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an agency code (e.g. CD-KIN)")
    return text


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _token_minutes(text: str) -> int:
    minutes = int(text)
    if not 1 <= minutes <= LONGEST_LOCAL_TOKEN_MINUTES:
        raise argparse.ArgumentTypeError(f"1 to {LONGEST_LOCAL_TOKEN_MINUTES} minutes")
    return minutes


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["bench"]:  # its options are bench/all.py's, which argparse would refuse
        return bench(given[1:])
    parser = argparse.ArgumentParser(prog="homeward", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up",
        help="run the broker (unless HOMEWARD_KAFKA_BOOTSTRAP is set) "
        "and the three services until Ctrl-C",
    )
    serve_parser = commands.add_parser("serve", help="run one service")
    serve_parser.add_argument("service", choices=[*SERVICES, WEB])
    serve_parser.add_argument("--port", type=int)
    serve_parser.add_argument(
        "--without-background",
        action="store_true",
        help="serve the API only; `homeward work SERVICE` runs its relays and consumers",
    )
    # Listed for --help only: main() hands `bench` and its options to bench/all.py first.
    commands.add_parser(
        "bench",
        help="run every benchmark beside its baseline (bench/all.py, from a checkout), print a "
        "table and write var/bench/results.json; --only SCRIPT... runs some",
    )
    work_parser = commands.add_parser(
        "work", help="run one service's relays, consumers and periodic jobs, without its API"
    )
    work_parser.add_argument("service", choices=SERVICES)
    rebuild_parser = commands.add_parser(
        "rebuild",
        help="rebuild a service's read models from the topics' first offset into a fresh "
        "database; --swap then replaces the live ones (stop the service first)",
    )
    rebuild_parser.add_argument("service", choices=SERVICES)
    rebuild_parser.add_argument(
        "--view", action="append", help="only this read model (repeatable): visits, projections"
    )
    rebuild_parser.add_argument("--into", type=Path, help="the folder of the fresh database")
    rebuild_parser.add_argument("--client", choices=sorted(READERS), default="kafka-python")
    rebuild_parser.add_argument("--swap", action="store_true")
    commands.add_parser(
        "schemas", help="write the published JSON Schemas from the event declarations"
    )
    commands.add_parser(
        "asyncapi",
        help="write docs/asyncapi.json (the partners' and auditors' topics) from the event "
        "declarations",
    )
    partner_parser = commands.add_parser("partner", help="a partner agency's own tools")
    partner_commands = partner_parser.add_subparsers(dest="partner_command", required=True)
    keygen_parser = partner_commands.add_parser(
        "keygen", help="make the key pair a partner's referrals are sealed to"
    )
    keygen_parser.add_argument(
        "--out", type=Path, default=Path(), help="folder for the private key file (default: .)"
    )
    read_parser = partner_commands.add_parser(
        "read",
        help="a partner's: every message its referrals topic keeps, from the earliest offset, "
        "opened with its key, one JSON a line (no consumer group; nothing committed)",
    )
    answer_parser = partner_commands.add_parser(
        "answer", help="a partner's: answer one of its referrals on its replies topic"
    )
    answer_parser.add_argument("referral_id", type=UUID)
    answer_parser.add_argument("answer", choices=ANSWERABLE)
    answer_parser.add_argument(
        "--reason", help="why (declined, service_discontinued): sealed to Homeward's reply key"
    )
    for partner_side in (read_parser, answer_parser):
        partner_side.add_argument(
            "--config",
            type=Path,
            default=Path(PARTNER_CONFIG_FILE),
            help=f"the partner's Kafka login, as Kafka's console tools read it "
            f"(default: ./{PARTNER_CONFIG_FILE})",
        )
        partner_side.add_argument(
            "--key",
            type=Path,
            default=Path(PARTNER_KEY_FILE),
            help=f"the partner's private key (default: ./{PARTNER_KEY_FILE})",
        )
    credentials_parser = partner_commands.add_parser(
        "credentials",
        help="an administrator's: issue a partner's Kafka password (replacing the previous "
        "one) and its ACLs, printed once",
    )
    credentials_parser.add_argument("agency", type=_agency_code)
    credentials_parser.add_argument(
        "--as", dest="principal", default=ADMIN, help=f"the broker's administrator ({ADMIN})"
    )
    kafka_parser = commands.add_parser("kafka", help="set a Kafka broker up for the platform")
    kafka_commands = kafka_parser.add_subparsers(dest="kafka_command", required=True)
    setup_parser = kafka_commands.add_parser(
        "setup",
        help="the platform's topics, Homeward's principals (passwords made into "
        "HOMEWARD_KAFKA_CREDENTIALS_DIR) and exactly their ACLs; safe to repeat",
    )
    setup_parser.add_argument(
        "--as", dest="principal", default=ADMIN, help=f"the broker's administrator ({ADMIN})"
    )
    token_parser = commands.add_parser(
        "token", help="print a short-lived token from the local signer (never in production)"
    )
    token_parser.add_argument("--role", type=Role, choices=list(Role), required=True)
    token_parser.add_argument("--agency", type=_agency_code, required=True)
    token_parser.add_argument("--sub", required=True, help="who signs in, e.g. cw-0412")
    token_parser.add_argument("--minutes", type=_token_minutes, default=15)
    token_parser.add_argument(
        "--grant",
        dest="grants",
        type=Grant,
        choices=list(Grant),
        action="append",
        default=[],
        help="an auditor's grant; repeat for several",
    )
    dlq_parser = commands.add_parser(
        "dlq", help="an administrator's: the messages consumers parked on a topic's .dlq"
    )
    dlq_commands = dlq_parser.add_subparsers(dest="dlq_command", required=True)
    dlq_list_parser = dlq_commands.add_parser(
        "list", help="each parked message's offset, origin, key, id, type and reason; no data"
    )
    dlq_replay_parser = dlq_commands.add_parser(
        "replay",
        help="send parked messages back to their topic after a fix: their consumers try "
        "them again, and those that applied them skip them (by CloudEvent id)",
    )
    for dlq_command in (dlq_list_parser, dlq_replay_parser):
        dlq_command.add_argument("topic", help="the topic they were read from")
        dlq_command.add_argument(
            "--as", dest="principal", default=ADMIN, help=f"the broker's administrator ({ADMIN})"
        )
    chosen = dlq_replay_parser.add_mutually_exclusive_group()
    chosen.add_argument("--id", dest="event_id", help="only the message of this CloudEvent id")
    chosen.add_argument(
        "--since", type=int, metavar="OFFSET", help="only those parked at this offset or later"
    )
    audit_parser = commands.add_parser("audit", help="an auditor's tools")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify_parser = audit_commands.add_parser(
        "verify",
        help="walk a service's store against its event chain and the checkpoints on Kafka; "
        "exit 0 when nothing was altered, removed, inserted or reordered",
    )
    verify_parser.add_argument("--service", choices=SERVICES, help="one service (default: all)")
    verify_parser.add_argument(
        "--topic",
        nargs="?",
        const="",
        metavar="TOPIC",
        help="also compare the service's topic (or TOPIC, a copy of it) with the store",
    )
    verify_parser.add_argument(
        "--checkpoints",
        default=CHECKPOINT_TOPIC,
        metavar="TOPIC",
        help=f"where the checkpoints are ({CHECKPOINT_TOPIC})",
    )
    verify_parser.add_argument(
        "--as", dest="principal", default=AUDITOR, help=f"the principal that reads ({AUDITOR})"
    )
    case_parser = audit_commands.add_parser(
        "case",
        help="one case's history across the services and the access log, in causal order, "
        "as your token may read it; with --as-of or --at-sequence, the case as it was then",
    )
    case_parser.add_argument("case_id", type=UUID)
    cut = case_parser.add_mutually_exclusive_group()
    cut.add_argument("--as-of", type=_moment, help="stop at this moment (ISO 8601, UTC if no zone)")
    cut.add_argument("--at-sequence", type=int, metavar="N", help="stop at the case's version N")
    cases_parser = audit_commands.add_parser(
        "cases", help="the same for every case registered from --from to --to (excluded)"
    )
    cases_parser.add_argument("--from", dest="since", type=_moment, required=True)
    cases_parser.add_argument("--to", dest="until", type=_moment, required=True)
    for account_parser in (case_parser, cases_parser):
        account_parser.add_argument(
            "--format",
            choices=FORMATS if account_parser is case_parser else FORMATS[:2],
            default="jsonl",
        )
        account_parser.add_argument(
            "--token",
            default=os.environ.get("HOMEWARD_AUDIT_TOKEN"),
            help="your token (default: $HOMEWARD_AUDIT_TOKEN); it decides what you see",
        )
    case_parser.add_argument(
        "--lang",
        choices=REPORT_LANGUAGES,
        default=SOURCE_LANGUAGE,
        help="the language of the HTML report's headings (the recorded values stay as recorded)",
    )
    report_parser = commands.add_parser(
        "report",
        help="a programme report (HTML with charts, JSON, a CSV per table) of the children "
        "released from --from to --to (months), under disclosure control, from the counts "
        "intake keeps (or, with --replay, from a replay of the event topics)",
    )
    report_parser.add_argument("--from", dest="first_month", required=True, metavar="YYYY-MM")
    report_parser.add_argument("--to", dest="last_month", required=True, metavar="YYYY-MM")
    report_parser.add_argument("--country", help="the first part of the agencies' codes: CD")
    report_parser.add_argument("--agency", type=_agency_code, help="one agency (programme)")
    report_parser.add_argument(
        "--threshold", type=int, help="the smallest count shown (the programme's, 5, or more)"
    )
    report_parser.add_argument("--out", type=Path, default=Path("report"), help="a folder")
    report_parser.add_argument(
        "--token",
        default=os.environ.get("HOMEWARD_REPORT_TOKEN"),
        help="your token (default: $HOMEWARD_REPORT_TOKEN): a supervisor's reads its agency",
    )
    report_parser.add_argument(
        "--replay",
        action="store_true",
        help="count from the event topics, read from their first offset, instead of intake's "
        "database: for whoever holds the keyring and a Kafka login but not that database, or "
        "to check the kept counts against the topics",
    )
    report_parser.add_argument("--client", choices=sorted(READERS), default="kafka-python")
    report_parser.add_argument(
        "--topic",
        action="append",
        help="with --replay: read this topic instead of the three event topics (repeatable; "
        "a copy of them)",
    )
    report_parser.add_argument(
        "--as",
        dest="principal",
        default=AUDITOR,
        help=f"with --replay: the principal that reads ({AUDITOR})",
    )
    broker_parser = commands.add_parser("broker", help="the local Kafka broker")
    broker_parser.add_argument("action", choices=["start", "stop", "status", "fetch"])
    broker_parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="a cluster of this many nodes (3: every partition three times, min.insync 2), "
        "on HOMEWARD_LOCAL_BROKER_PORT and the ports after it",
    )
    args = parser.parse_args(given)
    if args.command == "audit" and getattr(args, "topic", None) and args.service is None:
        parser.error("--topic TOPIC names one service's topic: give --service too")
    if args.command == "report" and args.topic and not args.replay:
        parser.error("--topic names what a replay reads: give --replay too")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    # kafka-python warns on every SASL_PLAINTEXT sign-in, though SCRAM never sends the
    # password; only the local broker's loopback listener is SASL_PLAINTEXT (production
    # settings refuse anything but SASL_SSL).
    logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
    try:
        if args.command == "up":
            return up()
        if args.command == "serve":
            return serve(args.service, args.port, background=not args.without_background)
        if args.command == "work":
            return work(args.service)
        if args.command == "rebuild":
            return rebuild(args.service, args.view, args.into, args.client, args.swap)
        if args.command == "schemas":
            return write_schemas()
        if args.command == "asyncapi":
            return write_asyncapi()
        if args.command == "partner" and args.partner_command == "keygen":
            return partner_keygen(args.out)
        if args.command == "partner" and args.partner_command == "read":
            return partner_read(args.config, args.key)
        if args.command == "partner" and args.partner_command == "answer":
            return partner_answer(args.config, args.key, args.referral_id, args.answer, args.reason)
        if args.command == "partner":
            return partner_credentials(args.agency, args.principal)
        if args.command == "kafka":
            return kafka_setup(args.principal)
        if args.command == "dlq" and args.dlq_command == "list":
            return list_dead_letters(args.topic, args.principal)
        if args.command == "dlq":
            return replay_dead_letters(args.topic, args.principal, args.event_id, args.since)
        if args.command == "audit" and args.audit_command == "case":
            return audit_accounts(
                lambda _: [args.case_id],
                Cut(args.as_of, args.at_sequence),
                args.format,
                args.token,
                args.lang,
            )
        if args.command == "audit" and args.audit_command == "cases":
            return audit_accounts(
                lambda kafka: registered_between(kafka, args.since, args.until),
                Cut(),
                args.format,
                args.token,
            )
        if args.command == "audit":
            services = [args.service] if args.service else list(SERVICES)
            return audit_verify(services, args.topic, args.checkpoints, args.principal)
        if args.command == "report":
            try:
                scope = Scope(args.first_month, args.last_month, args.country, args.agency)
            except ValueError as error:
                parser.error(str(error))
            replay = ReplayChoice(args.client, args.principal, args.topic) if args.replay else None
            return programme_report(scope, args.threshold, args.out, args.token, replay)
        if args.command == "token":
            return token(args.role, args.agency, args.sub, args.minutes, args.grants)
        return broker_command(args.action, args.nodes)
    except (
        BrokerError,
        MasterKeyError,
        LocalSignerRefused,
        KafkaLoginError,
        KafkaAccessError,
        UnknownTopic,
        NotParked,
        PartnerSideError,
        StoreNotFound,
        InvalidToken,
        KeysUnavailable,
        AuditRefused,
        ReportRefused,
    ) as error:
        print(f"homeward: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        # Only the messages: the values given may include the master key.
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc'])) or 'settings'}: {problem['msg']}"
            for problem in error.errors()
        )
        print(f"homeward: the HOMEWARD_ settings are wrong: {problems}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
