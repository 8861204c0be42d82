"""Which instance of a service does a one-at-a-time job (its outbox relay) now.

A lease is held by a session the operating system or the database ends when its holder dies,
however it dies, so a standby takes over without anyone cleaning up:

- on PostgreSQL, a session-level advisory lock on a connection of the lease's own;
- on a SQLite file, an exclusive ``flock`` on a lock file beside it (instances of a SQLite
  store share one machine);
- an in-memory store belongs to one process: its lease is always held.
"""

import fcntl
import hashlib
import logging
from pathlib import Path
from typing import IO, Any, Protocol

import psycopg
from eventsourcing.sqlite import SQLiteConnectionPool
from psycopg_pool import ConnectionPool

log = logging.getLogger("homeward.lease")


class Lease(Protocol):
    def hold(self) -> bool:
        """Hold the lease, or keep holding it; False while another holder has it."""
        ...

    def release(self) -> None: ...

    @property
    def held(self) -> bool: ...


class AlwaysHeld:
    held = True

    def hold(self) -> bool:
        return True

    def release(self) -> None:
        pass


class FileLease:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def hold(self) -> bool:
        if self._file is not None:
            return True
        handle = open(self.path, "a")  # noqa: SIM115 - held open as long as the lease
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        log.info("lease %s taken", self.path.name)
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the lock
            self._file = None


class AdvisoryLease:
    def __init__(self, connection_kwargs: dict[str, Any], name: str) -> None:
        self._connection_kwargs = connection_kwargs
        self.name = name
        # Advisory locks are keyed by a 64-bit integer: the name's hash, stable everywhere.
        self.key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._connection: psycopg.Connection[Any] | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def hold(self) -> bool:
        if self._connection is None:
            self._connection = psycopg.connect(**self._connection_kwargs, autocommit=True)
        if self._held:
            # The lock lives as long as the session: a session that still answers still has it.
            self._connection.execute("SELECT 1")
            return True
        row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        self._held = bool(row and row[0])
        if self._held:
            log.info("lease %s taken", self.name)
        return self._held

    def release(self) -> None:
        self._held = False
        if self._connection is not None:
            try:
                self._connection.close()  # ends the session, and its lock with it
            except psycopg.Error:
                log.debug("closing the lease's connection failed", exc_info=True)
            self._connection = None


def lease_for(application: Any, name: str) -> Lease:
    """The lease of ``name`` on the store ``application`` keeps its events in."""
    pool = getattr(getattr(application.factory, "datastore", None), "pool", None)
    if isinstance(pool, ConnectionPool) and isinstance(pool.kwargs, dict):  # PostgreSQL
        kwargs = {key: value for key, value in pool.kwargs.items() if key != "row_factory"}
        return AdvisoryLease(kwargs, name)
    if isinstance(pool, SQLiteConnectionPool) and not pool.is_sqlite_memory_mode:
        return FileLease(Path(f"{pool.db_name}.{name}.lease"))
    return AlwaysHeld()
