"""Tamper evidence: every stored event of a service is chained to the one before it.

Each application recorder (SQLite and PostgreSQL) writes, in the transaction that stores the
events, one *link* per event into ``<prefix>_event_chain`` beside the events table:

- ``digest`` = SHA-256 of the stored record's canonical bytes: its originator id, originator
  version, topic and state, each preceded by its length (8 bytes, big-endian). The state is
  the bytes as stored, sealed fields included, so destroying a case's key (erasure) changes
  nothing that was chained.
- ``hash`` = SHA-256(hash of the previous link || digest), in notification order, starting
  from :data:`GENESIS`.

The link also names the event (originator id and version), so that an auditor can say which
event went missing. Nobody outside the recorder writes to the table; stores older than the
chain are chained from their first event once, when the table is created
(:meth:`EventChain.backfill`). The chain needs no secret: whoever can write to the database
could rewrite it from the event they change onwards, which the checkpoints published on Kafka
(:mod:`shared.audit`) reveal.

Inserts stay cheap: a link needs only the previous link's hash, read by primary key, never
the log. Inserts are serialised already (SQLite's one writer; on PostgreSQL the library's
EXCLUSIVE lock on the events table, taken before the notification ids are drawn), so the head
read inside the inserting transaction is the true predecessor.
"""

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore, SQLiteFactory
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Composed, Identifier

log = logging.getLogger("homeward.chain")

GENESIS = hashlib.sha256(b"homeward/event-chain/v1").digest()
BACKFILL_PAGE = 1000


def record_digest(
    originator_id: UUID | str, originator_version: int, topic: str, state: bytes
) -> bytes:
    """SHA-256 of a stored record's canonical bytes (length-prefixed, so no two records share
    them)."""
    digest = hashlib.sha256()
    for part in (str(originator_id).encode(), str(originator_version).encode(), topic.encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(len(state).to_bytes(8, "big") + bytes(state))
    return digest.digest()


def next_hash(previous: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(previous + digest).digest()


@dataclass(frozen=True)
class ChainLink:
    notification_id: int
    originator_id: str
    originator_version: int
    digest: bytes
    hash: bytes

    def names(self) -> str:
        return f"{self.originator_id} v{self.originator_version}"


def _link(row: Any) -> ChainLink:
    return ChainLink(
        notification_id=int(row["notification_id"]),
        originator_id=str(row["originator_id"]),
        originator_version=int(row["originator_version"]),
        digest=bytes(row["digest"]),
        hash=bytes(row["hash"]),
    )


class EventChain(ApplicationRecorder):
    """Mixed into a library application recorder before it: links events as they are
    inserted. Each backend sets the statements (its placeholders and identifiers)."""

    datastore: Any
    chain_table_name: str
    _select_head: str | Composed
    _insert_links: str | Composed
    _select_links_after: str | Composed
    _select_link_of: str | Composed
    _select_events_after: str | Composed  # id, originator_id, originator_version, topic, state

    def _extend_chain(self, cursor: Any, inserted: Iterable[tuple[int, StoredEvent]]) -> None:
        """Link events just inserted, in their notification order, to the chain's head."""
        cursor.execute(self._select_head)
        head = cursor.fetchone()
        previous = GENESIS if head is None else bytes(head["hash"])
        rows = []
        for notification_id, event in sorted(inserted, key=lambda pair: pair[0]):
            digest = record_digest(
                event.originator_id, event.originator_version, event.topic, event.state
            )
            previous = next_hash(previous, digest)
            rows.append(
                (
                    notification_id,
                    str(event.originator_id),
                    event.originator_version,
                    digest,
                    previous,
                )
            )
        cursor.executemany(self._insert_links, rows)

    def _backfill(self, cursor: Any) -> None:
        """Chain the events a store held before it had a chain, from its first: once, when
        the chain is empty (a chain that exists is never extended over events it lacks, which
        would vouch for rows written behind the platform's back)."""
        cursor.execute(self._select_head)
        if cursor.fetchone() is not None:
            return
        chained, after = 0, 0
        while True:
            cursor.execute(self._select_events_after, (after, BACKFILL_PAGE))
            page = [
                (
                    int(row["id"]),
                    StoredEvent(
                        originator_id=self._as_originator_id(row["originator_id"]),
                        originator_version=int(row["originator_version"]),
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    ),
                )
                for row in cursor.fetchall()
            ]
            if not page:
                break
            self._extend_chain(cursor, page)
            chained += len(page)
            after = page[-1][0]
        if chained:
            log.info(
                "%s: chained the %d events stored before the chain existed (a one-off "
                "backfill); head at notification %d",
                self.chain_table_name,
                chained,
                after,
            )

    def _as_originator_id(self, stored: Any) -> UUID | str:
        """An originator id as the recorder returns it (what inserts are chained with)."""
        return stored

    def chain_head(self) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._select_head)
            row = cursor.fetchone()
        return None if row is None else _link(row)

    def chain_links(self, after: int, limit: int) -> list[ChainLink]:
        """Links past notification ``after``, in order."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._select_links_after, (after, limit))
            return [_link(row) for row in cursor.fetchall()]

    def link_of(self, originator_id: UUID | str, originator_version: int) -> ChainLink | None:
        """Where the chain recorded an event (a scan: for naming what moved, not for paths
        that run often)."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._select_link_of, (str(originator_id), originator_version))
            row = cursor.fetchone()
        return None if row is None else _link(row)


def chain_table_name(events_table_name: str) -> str:
    """``intake_events`` → ``intake_event_chain`` (SQLite's ``stored_events`` →
    ``stored_event_chain``)."""
    return f"{events_table_name.removesuffix('s')}_chain"


class ChainedSQLiteApplicationRecorder(EventChain, SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        self.chain_table_name = chain_table_name(events_table_name)
        super().__init__(datastore, events_table_name)
        chain, events = self.chain_table_name, self.events_table_name
        columns = "notification_id, originator_id, originator_version, digest, hash"
        self._select_head = f"SELECT {columns} FROM {chain} ORDER BY notification_id DESC LIMIT 1"
        self._insert_links = f"INSERT INTO {chain} ({columns}) VALUES (?, ?, ?, ?, ?)"
        self._select_links_after = (
            f"SELECT {columns} FROM {chain} WHERE notification_id > ? "
            "ORDER BY notification_id LIMIT ?"
        )
        self._select_link_of = (
            f"SELECT {columns} FROM {chain} WHERE originator_id = ? AND originator_version = ?"
        )
        self._select_events_after = (
            "SELECT rowid AS id, originator_id, originator_version, topic, state "
            f"FROM {events} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.chain_table_name} ("
            "notification_id INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, digest BLOB NOT NULL, hash BLOB NOT NULL)",
        ]

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as cursor:
            self._backfill(cursor)

    def _as_originator_id(self, stored: Any) -> UUID | str:
        return self.convert_originator_id(stored)

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        assert notification_ids is not None  # the application recorder returns rowids
        self._extend_chain(c, zip(notification_ids, stored_events, strict=True))
        return notification_ids


class ChainedPostgresApplicationRecorder(EventChain, PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        if datastore.enable_db_functions:
            # The library's insert function bypasses the hooks below: events would go unchained.
            raise ValueError("a chained event store needs POSTGRES_ENABLE_DB_FUNCTIONS off")
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_table_name = chain_table_name(events_table_name)
        self.check_identifier_length(self.chain_table_name)
        names = {
            "schema": Identifier(datastore.schema),
            "chain": Identifier(self.chain_table_name),
            "events": Identifier(self.events_table_name),
        }
        columns = SQL("notification_id, originator_id, originator_version, digest, hash")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
                "notification_id bigint PRIMARY KEY, originator_id text NOT NULL, "
                "originator_version bigint NOT NULL, digest bytea NOT NULL, hash bytea NOT NULL)"
            ).format(**names)
        )
        self._select_head = SQL(
            "SELECT {columns} FROM {schema}.{chain} ORDER BY notification_id DESC LIMIT 1"
        ).format(columns=columns, **names)
        self._insert_links = SQL(
            "INSERT INTO {schema}.{chain} ({columns}) VALUES (%s, %s, %s, %s, %s)"
        ).format(columns=columns, **names)
        self._select_links_after = SQL(
            "SELECT {columns} FROM {schema}.{chain} WHERE notification_id > %s "
            "ORDER BY notification_id LIMIT %s"
        ).format(columns=columns, **names)
        self._select_link_of = SQL(
            "SELECT {columns} FROM {schema}.{chain} "
            "WHERE originator_id = %s AND originator_version = %s"
        ).format(columns=columns, **names)
        self._select_events_after = SQL(
            "SELECT notification_id AS id, originator_id, originator_version, topic, state "
            "FROM {schema}.{events} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(**names)

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as cursor:
            self._lock_table(cursor)  # no event is inserted while the backfill runs
            self._backfill(cursor)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Still inside the inserting transaction, under its lock on the events table.
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert notification_ids is not None
        # RETURNING gives the ids in the order of the rows inserted, as the library relies on.
        self._extend_chain(curs, zip(notification_ids, stored_events, strict=True))
        return notification_ids


def chained_recorder(factory: InfrastructureFactory[Any]) -> ApplicationRecorder:
    """The factory's application recorder, chained on SQLite and PostgreSQL (an in-memory
    store, for unit tests, has nothing to prove years later). It goes through the library's
    own setting for the recorder's class, so tables are named and created as the library
    names and creates them."""
    chained: type[EventChain] | None = None
    if isinstance(factory, SQLiteFactory):
        chained = ChainedSQLiteApplicationRecorder
    elif isinstance(factory, PostgresFactory):
        chained = ChainedPostgresApplicationRecorder
    if chained is not None:
        setting = factory.env.create_keys(factory.APPLICATION_RECORDER_TOPIC)[0]
        factory.env[setting] = get_topic(chained)
    return factory.application_recorder()
