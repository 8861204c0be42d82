"""The eventsourcing library's SQLite persistence, with commits that do not wait on the disk.

In WAL mode with ``synchronous=NORMAL``, SQLite syncs the write-ahead log at checkpoints rather
than at every commit. A commit is still atomic, and durable if the process crashes or is
killed: only a power cut or an operating-system crash can undo the last few commits. Measured
here, a commit takes about 11 µs instead of 150 µs. A registration commits four times, so the
fsyncs were most of what the API spent on SQLite (bench/README.md).
``SQLITE_SYNCHRONOUS=FULL`` restores a sync at every commit; PostgreSQL, the production store,
keeps its own ``synchronous_commit``.

A service's API and its worker (``homeward work``) write to one file from two processes, which
the library's in-process writer lock does not order. A writing transaction therefore begins
``IMMEDIATE``: it waits its turn for the file's write lock (the busy timeout) before it reads
anything, where a deferred one that read first could be refused at once with "database is
locked" when the other process wrote in between.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing import sqlite
from eventsourcing.utils import Environment

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class ImmediateTransaction(sqlite.SQLiteTransaction):
    def __enter__(self) -> sqlite.SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE" if self.commit else "BEGIN")
        return cursor


class WritingConnection(sqlite.SQLiteConnection):
    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[sqlite.SQLiteCursor]:
        with ImmediateTransaction(self, commit=commit) as cursor, cursor:
            yield cursor


class SyncingPool(sqlite.SQLiteConnectionPool):
    """A pool whose connections sync as ``synchronous`` says and write from the start."""

    def __init__(self, *, synchronous: str, **kwargs: object) -> None:
        self.synchronous = synchronous
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _create_connection(self) -> sqlite.SQLiteConnection:
        connection = super()._create_connection()._sqlite_conn
        if not self.is_sqlite_memory_mode:
            connection.execute(f"PRAGMA synchronous={self.synchronous}")
        return WritingConnection(sqlite_conn=connection, max_age=self.max_age)


# The library finds a persistence module's factory as its one InfrastructureFactory subclass,
# hence the module import rather than importing SQLiteFactory by name.
class Factory(sqlite.SQLiteFactory):
    SQLITE_SYNCHRONOUS = "SQLITE_SYNCHRONOUS"

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        synchronous = (self.env.get(self.SQLITE_SYNCHRONOUS) or "NORMAL").upper()
        if synchronous not in SYNCHRONOUS_MODES:
            raise OSError(
                f"SQLITE_SYNCHRONOUS is {synchronous!r}: "
                f"choose one of {', '.join(SYNCHRONOUS_MODES)}"
            )
        library_pool = self.datastore.pool
        self.datastore.pool = SyncingPool(
            synchronous=synchronous,
            db_name=library_pool.db_name,
            lock_timeout=library_pool.lock_timeout,
        )
        library_pool.close()
