"""A service's own SQL tables (inbox, projections) beside its event store, in the same database.

It reuses the event store's datastore (the eventsourcing library's SQLite or PostgreSQL
connection handling), so one setting decides where everything of a service lives, and a
consumer's effect and its de-duplication record commit in one transaction.
"""

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import Environment

# How long a health probe waits for a connection: while PostgreSQL is down, the library's pool
# would keep a caller waiting for its whole connect timeout (30 s unless
# POSTGRES_CONNECT_TIMEOUT says otherwise), and a probe must answer "down" well before that.
PING_TIMEOUT_SECONDS = 2.0


class Transaction:
    """A cursor inside an open transaction; SQL is written with ``?`` placeholders."""

    def __init__(self, cursor: Any, placeholder: str) -> None:
        # The library wraps sqlite3's cursor without its rowcount; use the cursor itself.
        self._cursor = getattr(cursor, "sqlite_cursor", cursor)
        self._placeholder = placeholder

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        self._cursor.execute(sql.replace("?", self._placeholder), tuple(params))
        return int(self._cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cursor.executemany(sql.replace("?", self._placeholder), [tuple(r) for r in rows])

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.execute(sql, params)
        return [
            tuple(row.values()) if isinstance(row, dict) else tuple(row)
            for row in self._cursor.fetchall()
        ]


class Database:
    def __init__(self, datastore: Any) -> None:
        self._datastore = datastore
        self.is_sqlite = isinstance(self._datastore, SQLiteDatastore)
        self._placeholder = "?" if self.is_sqlite else "%s"

    @classmethod
    def of(cls, application: Application[Any]) -> "Database":
        """The database an application keeps its events in."""
        return cls(application.factory.datastore)  # type: ignore[attr-defined]

    @classmethod
    def named(cls, name: str, env: dict[str, str]) -> "Database":
        """A database configured like an event store, by the library's variables: ``env``
        overrides the process environment, and ``<NAME>_``-prefixed keys win."""
        factory = InfrastructureFactory.construct(Environment(name, {**os.environ, **env}))
        return cls(factory.datastore)  # type: ignore[attr-defined]

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Commit on success, roll back on any exception."""
        with self._datastore.transaction(commit=True) as cursor:
            yield Transaction(cursor, self._placeholder)

    def ping(self) -> None:
        """Raise unless the database answers within ``PING_TIMEOUT_SECONDS``."""
        if isinstance(self._datastore, PostgresDatastore):
            pool = self._datastore.pool
            pool.open()  # as the datastore opens it on first use
            with pool.connection(timeout=PING_TIMEOUT_SECONDS) as connection:
                connection.execute("SELECT 1")
            return
        with self.transaction() as tx:
            tx.fetchall("SELECT 1")
