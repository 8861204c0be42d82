"""Test fixtures: a real Kafka broker and a real PostgreSQL cluster, started by the session.

Ports are apart from the development defaults, so tests run beside `make run`.
"""

import base64
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from shared.database import Database
from shared.kafka import ADMIN, kafka_connection
from shared.kafkaacl import set_up_platform
from shared.keyring import CaseKeys, SqlKeyring, generate_master_key
from shared.localkafka import LocalBroker
from shared.settings import REPO_ROOT, Settings
from tests.signin import Tokens

pytest_plugins = ["tests.browser"]

TEST_BROKER_PORT = int(os.environ.get("HOMEWARD_TEST_BROKER_PORT", "19092"))
TEST_POSTGRES_PORT = int(os.environ.get("HOMEWARD_TEST_PG_PORT", "55439"))
POSTGRES_SCRIPT = REPO_ROOT / "deploy" / "postgres" / "cluster"
POSTGRES_DIR = REPO_ROOT / "var" / f"test-postgres-{TEST_POSTGRES_PORT}"


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """The local broker as `homeward up` runs it: SASL/SCRAM sign-in, the ACL authoriser, the
    platform's topics and Homeward's principals with their ACLs."""
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"), port=TEST_BROKER_PORT)
    broker.start()
    set_up_platform(broker.admin)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "HOMEWARD_PG_DIR": str(POSTGRES_DIR),
        "HOMEWARD_PG_PORT": str(TEST_POSTGRES_PORT),
        "HOMEWARD_PG_DATABASES": "postgres",
    }
    subprocess.run([str(POSTGRES_SCRIPT), "start"], env=env, check=True, timeout=600)
    yield {"host": "127.0.0.1", "port": str(TEST_POSTGRES_PORT), "user": "postgres"}
    subprocess.run([str(POSTGRES_SCRIPT), "stop"], env=env, check=True, timeout=120)


def postgres_data_on_disk() -> Path:
    """The test cluster's data folder, once whatever was written is in its files."""
    with psycopg.connect(
        host="127.0.0.1", port=TEST_POSTGRES_PORT, user="postgres", dbname="postgres"
    ) as connection:
        connection.autocommit = True
        connection.execute("CHECKPOINT")
    return POSTGRES_DIR / "data"


def stored_uncompressed(store: dict[str, str]) -> None:
    """Make PostgreSQL keep every value of the store's tables as written: it compresses long
    values (TOAST), which would hide a plaintext marker from a test that greps the disk, and
    the control values the test looks for to know it reads the right files."""
    with psycopg.connect(
        host=store["POSTGRES_HOST"],
        port=store["POSTGRES_PORT"],
        user=store["POSTGRES_USER"],
        dbname=store["POSTGRES_DBNAME"],
    ) as connection:
        connection.autocommit = True
        columns = connection.execute(
            "SELECT c.relname, a.attname FROM pg_attribute a "
            "JOIN pg_class c ON a.attrelid = c.oid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 "
            "AND NOT a.attisdropped AND a.attstorage = 'x'"
        ).fetchall()
        for table, column in columns:
            connection.execute(
                f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET STORAGE EXTERNAL'
            )


def fresh_postgres_database(cluster: dict[str, str]) -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host=cluster["host"],
        port=cluster["port"],
        user=cluster["user"],
        dbname="postgres",
        autocommit=True,
    ) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name


@pytest.fixture(params=["sqlite", "postgres"])
def event_store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The eventsourcing library's settings for one fresh event store of each kind."""
    if request.param == "sqlite":
        return sqlite_store(tmp_path)
    return postgres_store(request.getfixturevalue("postgres_cluster"))


def postgres_store(cluster: dict[str, str]) -> dict[str, str]:
    """The library's settings for an event store in a fresh database of the test cluster."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": fresh_postgres_database(cluster),
        "POSTGRES_HOST": cluster["host"],
        "POSTGRES_PORT": cluster["port"],
        "POSTGRES_USER": cluster["user"],
        "POSTGRES_PASSWORD": "",
    }


def sqlite_store(folder: Path) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(folder / "events.sqlite3"),
    }


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return sqlite_store(tmp_path)


@pytest.fixture
def settings(kafka_broker: LocalBroker, tmp_path: Path) -> Settings:
    return platform_settings(kafka_broker, tmp_path)


def platform_settings(kafka_broker: LocalBroker, data_dir: Path) -> Settings:
    """The platform's settings on the test broker, with a fresh master key."""
    return Settings(
        kafka_bootstrap=kafka_broker.bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_credentials_dir=kafka_broker.credentials_dir,
        data_dir=data_dir,
        relay_poll_seconds=0.05,
        kafka_timeout_seconds=5,
        master_key=generate_master_key(),
    )


def as_admin(settings: Settings) -> dict[str, Any]:
    """The broker's super user's client arguments: how tests look at any topic."""
    return kafka_connection(settings, ADMIN).client_kwargs()


def in_memory_keyring() -> SqlKeyring:
    memory = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}
    master_key = base64.b64decode(generate_master_key())
    return SqlKeyring(Database.named("keyring", memory), master_key)


@pytest.fixture
def case_keys() -> CaseKeys:
    return CaseKeys(in_memory_keyring(), "test")


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    """Tokens the services built from ``settings`` accept: ``tokens.headers(role, agency, sub)``."""
    return Tokens(settings)
