"""An index of referrals, so that sweeps and lists read the few rows they need, not the log.

The index is a projection of the referral service's own notification log, with its position
stored beside its rows in one transaction: it is caught up before every read, so what it
answers is exactly what was recorded, and a crash between a save and the index's update
loses nothing (the next catch-up reads the event again). It holds no personal data: the
referral, case and agency ids, the service, and two flags read from the event types alone.
"""

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import get_topic

from services.referral.domain import Referral
from shared.database import Database, Transaction

INDEX_DDL = (
    """CREATE TABLE IF NOT EXISTS referral_index (
        referral_id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL,
        agency TEXT NOT NULL,
        service TEXT NOT NULL,
        made_at BIGINT NOT NULL,
        is_open INTEGER NOT NULL DEFAULT 1,
        data_withdrawn INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS referral_index_by_case ON referral_index (case_id)",
    "CREATE INDEX IF NOT EXISTS referral_index_by_agency ON referral_index (agency, made_at)",
    """CREATE TABLE IF NOT EXISTS referral_index_position (
        name TEXT PRIMARY KEY,
        position BIGINT NOT NULL
    )""",
)
BATCH = 1_000

MADE = get_topic(Referral.ReferralMade)
# What each later fact does to the two flags.
CLOSES = {
    get_topic(event_class)
    for event_class in (
        Referral.ReferralDeclined,
        Referral.ServiceCompleted,
        Referral.ServiceDiscontinued,
        Referral.ReferralWithdrawn,
        Referral.ReferralExpired,
    )
}
WITHDRAWS_DATA = get_topic(Referral.ReferralDataWithdrawn)
TOPICS = [MADE, *sorted(CLOSES), WITHDRAWS_DATA]


@dataclass(frozen=True)
class Where:
    """Which referrals a read wants; unset parts match every referral."""

    case_id: UUID | None = None
    agency: str | None = None
    service: str | None = None
    is_open: bool | None = None
    data_withdrawn: bool | None = None

    def sql(self) -> tuple[str, tuple[Any, ...]]:
        wanted = {
            "case_id": None if self.case_id is None else str(self.case_id),
            "agency": self.agency,
            "service": self.service,
            "is_open": None if self.is_open is None else int(self.is_open),
            "data_withdrawn": None if self.data_withdrawn is None else int(self.data_withdrawn),
        }
        named = {column: value for column, value in wanted.items() if value is not None}
        clause = " AND ".join(f"{column} = ?" for column in named) or "1 = 1"
        return clause, tuple(named.values())


class ReferralIndex:
    def __init__(self, database: Database, application: Application[UUID]) -> None:
        self.database = database
        self.application = application
        self._catching_up = threading.Lock()
        with database.transaction() as tx:
            for statement in INDEX_DDL:
                tx.execute(statement)

    def ids(self, where: Where, limit: int | None = None, offset: int = 0) -> list[UUID]:
        """The ids of the referrals ``where`` names, newest first."""
        self.catch_up()
        clause, values = where.sql()
        page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                f"SELECT referral_id FROM referral_index WHERE {clause} "
                f"ORDER BY made_at DESC{page}",
                values,
            )
        return [UUID(row[0]) for row in rows]

    def count(self, where: Where) -> int:
        self.catch_up()
        clause, values = where.sql()
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                f"SELECT COUNT(*) FROM referral_index WHERE {clause}",
                values,
            )
        return int(rows[0][0])

    def catch_up(self) -> None:
        """Apply every referral fact recorded since the index's position."""
        with self._catching_up:
            while True:
                with self.database.transaction() as tx:
                    position = self._position(tx)
                # Read with no transaction of ours open: the log's reader takes a connection
                # of the same pool, and asking for a second one while holding the writer
                # deadlocks with any thread queued for the writer, until the pool times out
                # (a 500 for a request caught in it). Applying twice is harmless: rows are
                # inserted once, flags only ever close, the position only moves forward.
                notifications = self.application.recorder.select_notifications(
                    start=position + 1, limit=BATCH, topics=TOPICS
                )
                with self.database.transaction() as tx:
                    self._apply(notifications, tx)
                if len(notifications) < BATCH:
                    return

    def _apply(self, notifications: Iterable[Any], tx: Transaction) -> None:
        last = None
        for notification in notifications:
            last = notification.id
            referral_id = str(notification.originator_id)
            if notification.topic == MADE:
                made = self.application.mapper.to_domain_event(notification)
                tx.execute(
                    "INSERT INTO referral_index (referral_id, case_id, agency, service, "
                    "made_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (referral_id) DO NOTHING",
                    (
                        referral_id,
                        str(made.case_id),  # type: ignore[attr-defined]
                        made.agency,  # type: ignore[attr-defined]
                        made.service,  # type: ignore[attr-defined]
                        notification.id,
                    ),
                )
            elif notification.topic in CLOSES:
                tx.execute(
                    "UPDATE referral_index SET is_open = 0 WHERE referral_id = ?", (referral_id,)
                )
            elif notification.topic == WITHDRAWS_DATA:
                tx.execute(
                    "UPDATE referral_index SET is_open = 0, data_withdrawn = 1 "
                    "WHERE referral_id = ?",
                    (referral_id,),
                )
        if last is not None:
            tx.execute(
                "INSERT INTO referral_index_position (name, position) VALUES ('log', ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position "
                # Another instance may have caught up further meanwhile.
                "WHERE referral_index_position.position < excluded.position",
                (last,),
            )

    @staticmethod
    def _position(tx: Transaction) -> int:
        rows = tx.fetchall("SELECT position FROM referral_index_position WHERE name = 'log'")
        return int(rows[0][0]) if rows else 0
