"""Tamper evidence: a store that verifies clean, and every change to it or to its topic named
by position, on SQLite and PostgreSQL (`homeward audit verify`, run as an auditor runs it)."""

import logging
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from services.intake.app import IntakeApplication
from services.intake.service import build_runtime, create_app
from shared.audit import walk_store
from shared.chain import GENESIS, EventChain, next_hash, record_digest
from shared.cli import main
from shared.database import Database
from shared.envelope import CloudEvent
from shared.kafka import ADMIN, ensure_topics, kafka_connection, read_to_end
from shared.localkafka import LocalBroker
from shared.persistence import utc_now
from shared.settings import REPO_ROOT, Settings
from tests.conftest import fresh_postgres_database, platform_settings
from tests.processes import run_readme_command
from tests.samples import boy_formally_released, registration
from tests.signin import supervisor_headers
from tests.unit.test_child_case import REGISTRATION

INTAKE_TOPIC = "homeward.intake.events"
README = REPO_ROOT / "README.md"
CASES = 12


@dataclass
class RecordedStore:
    """One intake store as the platform left it, and how to reach copies of it to tamper with."""

    kind: str
    settings: Settings
    env: dict[str, str]  # the store's settings for `homeward audit verify`, beside the platform's
    case_ids: list[str]
    clone: Callable[[], dict[str, str]]  # a copy's settings, likewise
    pg: dict[str, str] | None = None

    @property
    def events_table(self) -> str:
        return "stored_events" if self.kind == "sqlite" else "intake_events"

    @property
    def chain_table(self) -> str:
        return "stored_event_chain" if self.kind == "sqlite" else "intake_event_chain"

    @property
    def id_column(self) -> str:
        return "rowid" if self.kind == "sqlite" else "notification_id"

    def connect(self, verify_env: dict[str, str]) -> sqlite3.Connection | psycopg.Connection:
        """A plain connection to a copy, as whoever can write to the database has."""
        if self.kind == "sqlite":
            return sqlite3.connect(Path(verify_env["HOMEWARD_DATA_DIR"]) / "intake.sqlite3")
        assert self.pg is not None
        return psycopg.connect(
            host=self.pg["host"],
            port=self.pg["port"],
            user=self.pg["user"],
            dbname=verify_env["INTAKE_POSTGRES_DBNAME"],
        )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def recorded(
    request: pytest.FixtureRequest,
    kafka_broker: LocalBroker,
    tmp_path_factory: pytest.TempPathFactory,
) -> RecordedStore:
    """Twelve registrations and one erasure, published by the relay, which checkpoints the
    chain when it stops; on each kind of store, recorded once for the tests that copy it."""
    kind = request.param
    data_dir = tmp_path_factory.mktemp(f"tamper-{kind}")
    settings = platform_settings(kafka_broker, data_dir)
    cluster = request.getfixturevalue("postgres_cluster") if kind == "postgres" else None
    if cluster is None:
        store_env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(data_dir / "intake.sqlite3"),
        }
    else:
        store_env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": fresh_postgres_database(cluster),
            "POSTGRES_HOST": cluster["host"],
            "POSTGRES_PORT": cluster["port"],
            "POSTGRES_USER": cluster["user"],
            "POSTGRES_PASSWORD": "",
        }
    runtime = build_runtime(settings, store_env)
    with TestClient(create_app(runtime), headers=supervisor_headers(settings)) as client:
        cases = [
            client.post("/cases", json=(registration if n % 2 else boy_formally_released)()).json()
            for n in range(CASES)
        ]
        erased = cases[3]
        answer = client.post(
            f"/cases/{erased['case_id']}/erasure",
            json={"version": erased["version"], "reason": "child_request"},
        )
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 30
        while runtime.relay.lag() > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runtime.relay.lag() == 0
    # The lifespan stopped the relay: its last checkpoint names the chain's head.

    copies = iter(range(100))

    def verify_env(store: dict[str, str]) -> dict[str, str]:
        if cluster is None:
            return {"HOMEWARD_DATA_DIR": store["SQLITE_DBNAME"].removesuffix("/intake.sqlite3")}
        return {f"INTAKE_{key}": value for key, value in store.items()}

    def clone() -> dict[str, str]:
        copy = next(copies)
        if cluster is None:
            folder = data_dir / f"copy-{copy}"
            folder.mkdir()
            with (
                sqlite3.connect(data_dir / "intake.sqlite3") as source,
                sqlite3.connect(folder / "intake.sqlite3") as target,
            ):
                source.backup(target)
            return verify_env({"SQLITE_DBNAME": str(folder / "intake.sqlite3")})
        name = f"{store_env['POSTGRES_DBNAME']}_copy{copy}"
        with psycopg.connect(
            host=cluster["host"], port=cluster["port"], user=cluster["user"], autocommit=True
        ) as connection:
            connection.execute(
                f'CREATE DATABASE "{name}" TEMPLATE "{store_env["POSTGRES_DBNAME"]}"'
            )
        return verify_env({**store_env, "POSTGRES_DBNAME": name})

    case_ids = [case["case_id"] for case in cases]
    return RecordedStore(kind, settings, verify_env(store_env), case_ids, clone, cluster)


def platform_env(store: RecordedStore) -> dict[str, str]:
    """The platform's settings, as an auditor's shell has them."""
    settings = store.settings
    assert settings.master_key is not None
    assert settings.kafka_credentials_dir is not None
    return {
        "HOMEWARD_DATA_DIR": str(settings.data_dir),
        "HOMEWARD_MASTER_KEY": settings.master_key.get_secret_value(),
        "HOMEWARD_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        "HOMEWARD_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "HOMEWARD_KAFKA_CREDENTIALS_DIR": str(settings.kafka_credentials_dir),
    }


def verify(
    store: RecordedStore,
    copy_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *arguments: str,
) -> tuple[int, list[str]]:
    """`homeward audit verify --service intake ARGUMENTS` with the platform's settings in the
    environment, from another folder; its exit code and lines."""
    for key, value in {**platform_env(store), **copy_env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir("/")
    capsys.readouterr()
    handlers = list(logging.root.handlers)
    code = main(["audit", "verify", "--service", "intake", *arguments])
    # The command logs to the stream it started with, which capsys closes after this test.
    logging.root.handlers = handlers
    lines = capsys.readouterr().out.splitlines()
    print("\n".join(lines))
    return code, lines


def findings(lines: list[str]) -> list[str]:
    return [line for line in lines if line.split(": ", 1)[1].split(" ", 1)[0].isupper()]


def notification_ids(store: RecordedStore, connection) -> list[int]:
    rows = connection.execute(
        f"SELECT {store.id_column} FROM {store.events_table} ORDER BY {store.id_column}"
    ).fetchall()
    return [row[0] for row in rows]


def sql(store: RecordedStore, statement: str) -> str:
    return statement if store.kind == "sqlite" else statement.replace("?", "%s")


def test_an_untouched_store_with_an_erased_case_verifies_clean(recorded, monkeypatch, capsys):
    began = time.perf_counter()
    code, lines = verify(recorded, recorded.env, monkeypatch, capsys)
    seconds = time.perf_counter() - began
    assert code == 0, lines
    assert lines[-1] == "intake: clean"
    events = int(lines[0].split(": ", 1)[1].split(" ", 1)[0].replace(",", ""))
    assert events > CASES
    assert not lines[1].endswith(": 0")
    print(f"{recorded.kind}: {events} events chained, verified in {seconds:.2f} s")


def figures_apart(lines: list[str]) -> list[str]:
    """Lines with their hashes, counts and timings taken out: what a README can promise (and
    the checkpoints of the other stores the test broker holds)."""
    others = r" \(and [0-9]+ of other [a-z]+ stores, not compared\)"
    without_hashes = [re.sub(r"[0-9a-f]{16}…", "H…", re.sub(others, "", line)) for line in lines]
    return [re.sub(r"[0-9]+(\.[0-9]+)?", "N", line) for line in without_hashes]


@pytest.mark.parametrize("recorded", ["sqlite"], indirect=True)
def test_the_readmes_verify_command_prints_what_the_readme_shows(recorded, tmp_path):
    section = README.read_text().split("Check that nothing was changed", 1)[1]
    command = section.split("```sh\n", 1)[1].split("```", 1)[0]
    shown = section.split("it prints, and exits 0:\n\n```\n", 1)[1].split("```", 1)[0]
    printed = run_readme_command(command, {**platform_env(recorded), **recorded.env}, tmp_path)
    print(printed)
    assert figures_apart(printed.splitlines()) == figures_apart(shown.splitlines())


@pytest.mark.parametrize("tampering", ["flip", "delete", "swap", "forge"])
def test_each_change_to_the_store_is_named_by_position(tampering, recorded, monkeypatch, capsys):
    copy = recorded.clone()
    with recorded.connect(copy) as connection:
        ids = notification_ids(recorded, connection)
        middle, later = ids[len(ids) // 2], ids[len(ids) // 2 + 3]
        table, id_column = recorded.events_table, recorded.id_column
        if tampering == "flip":
            (state,) = connection.execute(
                sql(recorded, f"SELECT state FROM {table} WHERE {id_column} = ?"), (middle,)
            ).fetchone()
            flipped = bytearray(state)
            flipped[len(flipped) // 2] ^= 0x01
            connection.execute(
                sql(recorded, f"UPDATE {table} SET state = ? WHERE {id_column} = ?"),
                (bytes(flipped), middle),
            )
            expected = f"ALTERED at notification {middle}"
        elif tampering == "delete":
            connection.execute(
                sql(recorded, f"DELETE FROM {table} WHERE {id_column} = ?"), (middle,)
            )
            expected = f"REMOVED at notification {middle}"
        elif tampering == "swap":
            for old, new in ((middle, -1), (later, middle), (-1, later)):
                connection.execute(
                    sql(recorded, f"UPDATE {table} SET {id_column} = ? WHERE {id_column} = ?"),
                    (new, old),
                )
            expected = f"REORDERED at notification {middle}"
        else:
            columns = "originator_id, originator_version, topic, state"
            forged_id = uuid.uuid4()
            connection.execute(
                sql(
                    recorded,
                    f"INSERT INTO {table} ({columns}) SELECT ?, 1, topic, state FROM {table} "
                    f"WHERE {id_column} = ?",
                ),
                (forged_id.hex if recorded.kind == "sqlite" else forged_id, middle),
            )
            expected = f"INSERTED at notification {ids[-1] + 1}"
        connection.commit()

    code, lines = verify(recorded, copy, monkeypatch, capsys)

    assert code == 1
    assert findings(lines)[0].startswith(f"intake: {expected}"), lines


def test_a_store_rewritten_links_and_all_is_named_by_its_checkpoint(recorded, monkeypatch, capsys):
    """Whoever alters an event and recomputes every link after it leaves a chain that holds
    together: the checkpoint on Kafka does not."""
    copy = recorded.clone()
    with recorded.connect(copy) as connection:
        ids = notification_ids(recorded, connection)
        middle = ids[len(ids) // 2]
        table, chain, id_column = recorded.events_table, recorded.chain_table, recorded.id_column
        (state,) = connection.execute(
            sql(recorded, f"SELECT state FROM {table} WHERE {id_column} = ?"), (middle,)
        ).fetchone()
        connection.execute(
            sql(recorded, f"UPDATE {table} SET state = ? WHERE {id_column} = ?"),
            (bytes(state).replace(b'"', b"'", 1), middle),
        )
        rows = connection.execute(
            f"SELECT {id_column}, originator_id, originator_version, topic, state "
            f"FROM {table} ORDER BY {id_column}"
        ).fetchall()
        previous = GENESIS
        for notification_id, originator_id, version, topic, stored in rows:
            as_uuid = uuid.UUID(str(originator_id))
            digest = record_digest(as_uuid, version, topic, bytes(stored))
            previous = next_hash(previous, digest)
            connection.execute(
                sql(recorded, f"UPDATE {chain} SET digest = ?, hash = ? WHERE notification_id = ?"),
                (digest, previous, notification_id),
            )
        connection.commit()

    code, lines = verify(recorded, copy, monkeypatch, capsys)

    assert code == 1
    named = findings(lines)  # the relay may have checkpointed before its last, on stopping
    assert all(
        line.startswith("intake: CHECKPOINT at homeward.audit.checkpoints partition 0")
        for line in named
    ), named
    last = named[-1]
    assert f"at notification {ids[-1]}" in last
    assert "changed at or before it" in last


def test_messages_missing_altered_or_forged_on_a_copy_of_the_topic_are_named(
    recorded, monkeypatch, capsys
):
    admin = kafka_connection(recorded.settings, ADMIN)
    ours = [
        record
        for record in read_to_end(admin, [INTAKE_TOPIC])
        if CloudEvent.from_bytes(record.value).subject in recorded.case_ids
    ]
    assert ours

    def copied(records: list[tuple[bytes, bytes]]) -> str:
        topic = f"test.tamper.{uuid.uuid4().hex[:8]}"
        ensure_topics(admin, [topic])
        producer = KafkaProducer(**admin.client_kwargs(), acks="all")
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
        producer.close()
        return topic

    untouched = copied([(record.key, record.value) for record in ours])
    code, lines = verify(
        recorded, recorded.env, monkeypatch, capsys, "--topic", untouched, "--as", ADMIN
    )
    assert code == 0, lines
    assert f"{len(ours)} messages on {untouched}" in lines[2]

    altered = next(
        record
        for record in ours
        if "registering_agency" in CloudEvent.from_bytes(record.value).data
    )
    dropped = next(record for record in reversed(ours) if record is not altered)
    changed = CloudEvent.from_bytes(altered.value)
    forged = changed.model_copy(update={"id": str(uuid.uuid4())})
    tampered = [
        (
            record.key,
            changed.model_copy(
                update={"data": {**changed.data, "registering_agency": "CD-XXX"}}
            ).to_bytes()
            if record is altered
            else record.value,
        )
        for record in ours
        if record is not dropped
    ]
    topic = copied([*tampered, (altered.key, forged.to_bytes())])
    code, lines = verify(
        recorded, recorded.env, monkeypatch, capsys, "--topic", topic, "--as", ADMIN
    )

    assert code == 1
    named = findings(lines)
    assert any(line.startswith("intake: MISSING at notification") for line in named), named
    assert any(
        line.startswith(f"intake: ALTERED at {topic}") and "data registering_agency" in line
        for line in named
    ), named
    assert any(
        line.startswith(f"intake: FORGED at {topic}") and forged.id in line for line in named
    ), named
    assert len(named) == 3, named


def test_a_store_from_before_the_chain_is_chained_from_its_first_event_on_first_start(
    event_store_env, case_keys, caplog
):
    """An upgrade: events stored without links are chained once, in order, when the service
    first starts on them; the store then verifies clean and goes on chaining."""
    first = IntakeApplication(event_store_env, utc_now, case_keys)
    for _ in range(5):
        first.register_child(REGISTRATION)
    assert isinstance(first.recorder, EventChain)
    stored_before = first.recorder.max_notification_id()
    with Database.of(first).transaction() as tx:
        tx.execute(f"DROP TABLE {first.recorder.chain_table_name}")
    first.close()

    with caplog.at_level(logging.INFO, logger="homeward.chain"):
        upgraded = IntakeApplication(event_store_env, utc_now, case_keys)
    upgraded.register_child(REGISTRATION)

    assert isinstance(upgraded.recorder, EventChain)
    report = walk_store(upgraded.recorder)
    assert report.findings == []
    assert report.events == report.links == upgraded.recorder.max_notification_id()
    (backfilled,) = [r.getMessage() for r in caplog.records if "backfill" in r.getMessage()]
    assert f"chained the {stored_before} events stored before the chain existed" in backfilled
    assert report.events > stored_before
    print(f"{event_store_env['PERSISTENCE_MODULE']}: backfilled {stored_before} events")
    upgraded.close()
