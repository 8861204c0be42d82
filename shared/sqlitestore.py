"""The eventsourcing library's SQLite persistence, with commits that do not wait on the disk.

In WAL mode with ``synchronous=NORMAL``, SQLite syncs the write-ahead log at checkpoints rather
than at every commit. A commit is still atomic, and durable if the process crashes or is
killed: only a power cut or an operating-system crash can undo the last few commits. Measured
here, a commit takes about 11 µs instead of 150 µs. A registration commits four times, so the
fsyncs were most of what the API spent on SQLite (bench/README.md).
``SQLITE_SYNCHRONOUS=FULL`` restores a sync at every commit; PostgreSQL, the production store,
keeps its own ``synchronous_commit``.
"""

from eventsourcing import sqlite
from eventsourcing.utils import Environment

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class SyncingPool(sqlite.SQLiteConnectionPool):
    """A pool whose connections sync as ``synchronous`` says."""

    def __init__(self, *, synchronous: str, **kwargs: object) -> None:
        self.synchronous = synchronous
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _create_connection(self) -> sqlite.SQLiteConnection:
        connection = super()._create_connection()
        if not self.is_sqlite_memory_mode:
            connection._sqlite_conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return connection


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
