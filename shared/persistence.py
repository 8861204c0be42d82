"""Event stores: the eventsourcing library's own persistence modules and variables.

With nothing set, a service keeps its events in ``<data_dir>/<service>.sqlite3``. Setting
``PERSISTENCE_MODULE=eventsourcing.postgres`` with ``POSTGRES_DBNAME``, ``POSTGRES_HOST``,
``POSTGRES_PORT``, ``POSTGRES_USER`` and ``POSTGRES_PASSWORD`` (each may be prefixed with the
service's name, e.g. ``INTAKE_POSTGRES_DBNAME``) moves it to PostgreSQL.
"""

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def configured_by_environment(service: str) -> bool:
    """Whether the process environment chooses the service's store (else: a SQLite file)."""
    keys = (f"{service.upper()}_PERSISTENCE_MODULE", "PERSISTENCE_MODULE")
    return any(os.environ.get(key) for key in keys)


def sqlite_file(service: str, data_dir: Path) -> Path:
    """The SQLite file a service keeps its events in when the environment chooses nothing."""
    return data_dir / f"{service}.sqlite3"


def event_store_env(service: str, data_dir: Path) -> dict[str, str]:
    """The library's settings for a service's event store, defaulting to a SQLite file."""
    if configured_by_environment(service):
        return {}
    data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "shared.sqlitestore",
        "SQLITE_DBNAME": str(sqlite_file(service, data_dir)),
        "SQLITE_LOCK_TIMEOUT": "10",
    }
