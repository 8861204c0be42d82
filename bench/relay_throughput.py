"""How fast the intake service records registrations and its outbox relay publishes them.

Starts its own Kafka broker (port 19292) and a SQLite event store in a temporary directory,
then prints figures; it never asserts a timing. Run it with ``make bench`` or
``.venv/bin/python bench/relay_throughput.py --cases 2000``.
"""

import argparse
import base64
import logging
import resource
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from kafka import KafkaProducer

from services.intake.app import IntakeApplication
from services.intake.domain import (
    ArmedGroupKind,
    Handover,
    HowLeft,
    NotePurpose,
    Registration,
    Role,
    Sex,
)
from services.intake.messages import CATALOGUE
from shared.database import Database
from shared.envelope import CONTENT_TYPE
from shared.kafka import KafkaConnection, ensure_topics, event_topic, reliable_producer
from shared.keyring import CaseKeys, SqlKeyring, generate_master_key
from shared.localkafka import LocalBroker
from shared.outbox import OutboxRelay
from shared.persistence import utc_now
from shared.settings import Settings

BROKER_PORT = 19292
TOPIC = event_topic("intake")
HEADERS = [("content-type", CONTENT_TYPE.encode())]
Message = tuple[bytes, bytes]  # (key, value)

# tests/samples.py's GIRL_ESCAPED, as the domain's types.
GIRL_ESCAPED = Registration(
    name="Amani Zawadi-Kuvuka",
    notes={
        NotePurpose.HEALTH: "A leg wound that has not healed; asks for a clinic visit.",
        NotePurpose.EDUCATION: "Left school in the fourth year of primary; wants to go back.",
    },
    how_left=HowLeft.ESCAPE,
    released_on=date(2026, 10, 3),
    release_place="Kalehe, near the river crossing",
    armed_group="Raia Mutomboki faction",
    armed_group_kind=ArmedGroupKind.NON_STATE_ARMED_GROUP,
    roles=(Role.SUPPORT, Role.SEXUAL_PURPOSES),
    sex=Sex.FEMALE,
    estimated_age=15,
    registering_agency="CD-KIN",
    caseworker="cw-0412",
    handover=Handover(
        "FARDC 34th military region", "CD-KIN", datetime(2026, 10, 4, 7, 30, tzinfo=UTC)
    ),
)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


SCHEMAS_AT = Settings().service_url("intake")


def messages_in_log(app: IntakeApplication) -> list[Message]:
    """The messages the relay will publish, built the relay's way, to size the baseline."""
    messages: list[Message] = []
    start = 0
    while notifications := app.recorder.select_notifications(
        start=start, limit=500, inclusive_of_start=False
    ):
        for notification in notifications:
            message = CATALOGUE.to_cloudevent(
                app.mapper.to_domain_event(notification), app, SCHEMAS_AT
            )
            if message is not None:
                messages.append(((message.partitionkey or "").encode(), message.to_bytes()))
        start = notifications[-1].id
    return messages


def send_all(producer: KafkaProducer, messages: list[Message]) -> None:
    """One future per message, then wait for every acknowledgement."""
    futures = [producer.send(TOPIC, value=v, key=k, headers=HEADERS) for k, v in messages]
    for future in futures:
        future.get(timeout=30)


def bare_producer(kafka: KafkaConnection) -> KafkaProducer:
    return KafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="registrations (default 2000)")
    parser.add_argument("--batch-size", type=int, default=200, help="relay batch (default 200)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows: list[tuple[str, str, float, str]] = []

    def row(what: str, count: int, unit: str, seconds: float) -> None:
        rows.append((what, f"{count} {unit}", seconds, f"{count / seconds:,.0f} {unit}/s"))

    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as tmp:
        broker = LocalBroker(Path(tmp) / "kafka", port=BROKER_PORT)
        app: IntakeApplication | None = None
        try:
            broker.start()
            ensure_topics(broker.admin, [TOPIC])
            env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
            keyring = SqlKeyring(
                Database.named("keyring", {**env, "SQLITE_DBNAME": f"{tmp}/keyring.sqlite3"}),
                base64.b64decode(generate_master_key()),
            )
            app = IntakeApplication(
                {**env, "SQLITE_DBNAME": str(Path(tmp) / "intake.sqlite3")},
                utc_now,
                CaseKeys(keyring, "intake"),
            )

            # (1) Registrations, with no relay running; all at one agency, as in the sample.
            laps = [time.perf_counter()]
            for _ in range(args.cases):
                app.register_child(GIRL_ESCAPED)
                laps.append(time.perf_counter())
            tenth = max(args.cases // 10, 1)
            row("register (no relay)", args.cases, "cases", laps[-1] - laps[0])
            row("  first 10%", tenth, "cases", laps[tenth] - laps[0])
            row("  last 10%", tenth, "cases", laps[-1] - laps[-1 - tenth])

            messages = messages_in_log(app)
            with bare_producer(broker.admin) as warm_up:  # JVM and topic warm for both
                send_all(warm_up, messages[:200])

            # (2) The relay draining the backlog, batch after batch, until nothing waits.
            relay = OutboxRelay(
                app,
                CATALOGUE,
                TOPIC,
                lambda: reliable_producer(broker.admin, "bench-relay", 30),
                schemas_at=SCHEMAS_AT,
                batch_size=args.batch_size,
            )
            backlog = relay.lag()
            began = time.perf_counter()
            while relay.lag() > 0:
                relay.publish_pending()
            relay_seconds = time.perf_counter() - began
            relay.stop()
            row("relay: notifications", backlog, "notes", relay_seconds)
            row("relay: published", len(messages), "msgs", relay_seconds)

            # (3) Baseline: the same messages from a bare producer, all in flight at once.
            began = time.perf_counter()
            with bare_producer(broker.admin) as producer:
                send_all(producer, messages)
            baseline_seconds = time.perf_counter() - began
            row("baseline: bare producer", len(messages), "msgs", baseline_seconds)
        finally:
            if app is not None:
                app.close()
            broker.stop()

    size = sum(len(v) for _, v in messages) / max(len(messages), 1)
    print(f"\n{args.cases} cases, {len(messages)} messages of {size:,.0f} B on average")
    print(f"{'phase':<26}{'count':>14}{'seconds':>10}{'rate':>18}")
    for what, count, seconds, rate in rows:
        print(f"{what:<26}{count:>14}{seconds:>10.2f}{rate:>18}")
    print(f"relay / baseline messages/s: {baseline_seconds / relay_seconds:.2f}")
    print(f"peak RSS of this process:    {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
