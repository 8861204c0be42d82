"""A health probe of a PostgreSQL store that is down answers within seconds, not after the
library's 30-second wait for a connection."""

import socket
import time

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore

from shared.database import PING_TIMEOUT_SECONDS, Database


def a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_ping_of_a_postgresql_store_that_is_down_fails_within_its_timeout():
    datastore = PostgresDatastore(
        dbname="homeward",
        host="127.0.0.1",
        port=a_closed_port(),
        user="postgres",
        password="",
        connect_timeout=30,  # what the library's factory sets unless POSTGRES_CONNECT_TIMEOUT does
    )
    started = time.monotonic()
    try:
        with pytest.raises(psycopg.OperationalError):
            Database(datastore).ping()
    finally:
        datastore.close()
    assert time.monotonic() - started < PING_TIMEOUT_SECONDS + 2
