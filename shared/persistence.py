"""Event stores: the eventsourcing library's own persistence modules and variables.

With nothing set, a service keeps its events in ``<data_dir>/<service>.sqlite3``. Setting
``PERSISTENCE_MODULE=eventsourcing.postgres`` with ``POSTGRES_DBNAME``, ``POSTGRES_HOST``,
``POSTGRES_PORT``, ``POSTGRES_USER`` and ``POSTGRES_PASSWORD`` (each may be prefixed with the
service's name, e.g. ``INTAKE_POSTGRES_DBNAME``) moves it to PostgreSQL.
"""

import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def event_store_env(service: str, data_dir: Path) -> dict[str, str]:
    """The library's settings for a service's event store, defaulting to a SQLite file."""
    keys = (f"{service.upper()}_PERSISTENCE_MODULE", "PERSISTENCE_MODULE")
    if any(os.environ.get(key) for key in keys):
        return {}
    data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(data_dir / f"{service}.sqlite3"),
        "SQLITE_LOCK_TIMEOUT": "10",
    }


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Application[UUID]):
    """The base of every service's application: its name prefixes its settings and relay."""

    env: ClassVar[dict[str, str]] = {"SQLITE_LOCK_TIMEOUT": "10"}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env)
        self.clock = clock

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
