"""The access log: every read of a child's personal data, every export, every break-glass and
every denial, recorded as an event in the service's own event store.

The store is the outbox, so the log reaches ``homeward.audit.access`` through a relay of its
own and is never lost on a crash. A read is answered only once its record is committed, so no
data leaves without a trace; requests that arrive together share one commit (group commit),
which keeps the cost of the trace near one small write per burst of reads, not per read.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from shared.access import Caller
from shared.database import Database, Transaction
from shared.envelope import CloudEvent, event_type
from shared.publishing import EventCatalogue, published


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    BREAK_GLASS = "break_glass"  # allowed outside the caller's scope, flagged for review


class AccessRecord(Aggregate):
    """One access, as its own aggregate: concurrent requests never conflict, and the log only
    grows."""

    class AccessRecorded(Aggregate.Created):
        """Someone read, exported or was refused something; with a case id when the access
        was to one case."""

        # Staff, a route and a case id, never the child's data: nothing of it is sealed, so
        # it outlives the case's key, as an audit trail must.
        about_a_child: ClassVar = False
        service: str
        case_id: UUID | None
        accessed_by: str | None  # None only when no trustworthy token named anyone
        caller_role: str | None
        caller_agency: str | None
        action: str
        outcome: str
        purpose: str
        route: str
        client_address: str | None

    class BreakGlassJustified(Aggregate.Event):
        """The reason a supervisor gave for opening a case outside their scope: free text
        about the child, so sealed with the case's key."""

        case_id: UUID
        reason: str

    def justify(self, case_id: UUID, reason: str) -> None:
        self.trigger_event(self.BreakGlassJustified, case_id=case_id, reason=reason)


@dataclass(frozen=True)
class Access:
    """What a route tells the log about one request."""

    action: str
    outcome: Outcome
    route: str
    purpose: str
    caller: Caller | None = None
    case_id: UUID | None = None
    client_address: str | None = None
    break_glass_reason: str | None = None

    def record(self, service: str) -> AccessRecord:
        caller = self.caller
        record = AccessRecord._create(
            AccessRecord.AccessRecorded,
            id=uuid4(),
            service=service,
            case_id=self.case_id,
            accessed_by=caller and caller.sub,
            caller_role=caller and str(caller.role),
            caller_agency=caller and caller.agency,
            action=self.action,
            outcome=str(self.outcome),
            purpose=self.purpose,
            route=self.route,
            client_address=self.client_address,
        )
        if self.break_glass_reason is not None:
            if self.case_id is None:
                raise ValueError("break-glass opens one case: name it")
            record.justify(self.case_id, self.break_glass_reason)
        return record


@dataclass
class _Batch:
    records: list[AccessRecord] = field(default_factory=list)
    done: bool = False
    error: BaseException | None = None


class AccessLog:
    """Records accesses in the application's store, one commit per batch of concurrent
    requests. :meth:`record` returns once its record is committed and raises if the commit
    failed: a route must not answer with data whose access it could not record."""

    def __init__(self, service: str, save: Callable[..., object]) -> None:
        self._service = service
        self._save = save  # an application's save: the records given, in one transaction
        self._changed = threading.Condition()
        self._filling = _Batch()
        self._writing = False

    def record(self, access: Access) -> None:
        record = access.record(self._service)
        with self._changed:
            batch = self._filling
            batch.records.append(record)
            while not batch.done:
                if self._writing:
                    self._changed.wait()
                else:
                    self._write_filling_batch()
        if batch.error is not None:
            raise batch.error

    def _write_filling_batch(self) -> None:
        """Write whatever has gathered, outside the lock (called holding it), so that the
        requests that arrive meanwhile gather into the next batch."""
        batch, self._filling, self._writing = self._filling, _Batch(), True
        self._changed.release()
        try:
            self._save(*batch.records)
        except Exception as error:  # every request of the batch must hear of it
            batch.error = error
        finally:
            self._changed.acquire()
            batch.done, self._writing = True, False
            self._changed.notify_all()


CATALOGUE = EventCatalogue("audit", published(AccessRecord.AccessRecorded))


ACCESS_RECORDED = event_type("audit", "AccessRecorded", 1)
ACCESS_VIEW_DDL = (
    """CREATE TABLE IF NOT EXISTS audit_access (
        message_id TEXT PRIMARY KEY,
        recorded_at TEXT NOT NULL,
        case_id TEXT,
        accessed_by TEXT,
        caller_role TEXT,
        caller_agency TEXT,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        purpose TEXT NOT NULL,
        route TEXT NOT NULL,
        client_address TEXT,
        service TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_access_by_case ON audit_access (case_id, recorded_at)",
    "CREATE INDEX IF NOT EXISTS audit_access_by_user ON audit_access (accessed_by, recorded_at)",
)
ACCESS_COLUMNS = (
    "recorded_at",
    "case_id",
    "accessed_by",
    "caller_role",
    "caller_agency",
    "action",
    "outcome",
    "purpose",
    "route",
    "client_address",
    "service",
)


class AccessLogView:
    """Every service's access log, from ``homeward.audit.access``: what auditors ask of it
    ("who opened case X", "what did user Y open", "which break-glass opens await review")."""

    def __init__(self, database: Database) -> None:
        self.database = database
        with database.transaction() as tx:
            for statement in ACCESS_VIEW_DDL:
                tx.execute(statement)

    def apply(self, message: CloudEvent, tx: Transaction) -> None:
        if message.type != ACCESS_RECORDED:
            return
        data = message.data
        tx.execute(
            f"INSERT INTO audit_access (message_id, {', '.join(ACCESS_COLUMNS)}) "
            f"VALUES (?{', ?' * len(ACCESS_COLUMNS)}) ON CONFLICT (message_id) DO NOTHING",
            (
                message.id,
                (message.time or datetime.min).isoformat(),
                *(data[name] for name in ACCESS_COLUMNS[1:]),
            ),
        )

    def accesses(
        self,
        *,
        case_id: UUID | None = None,
        accessed_by: str | None = None,
        outcome: Outcome | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """The accesses that match every filter given, newest first."""
        filters = {"case_id": case_id and str(case_id), "accessed_by": accessed_by}
        filters["outcome"] = outcome and str(outcome)
        named = {column: value for column, value in filters.items() if value is not None}
        where = " AND ".join(f"{column} = ?" for column in named) or "1 = 1"
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                f"SELECT {', '.join(ACCESS_COLUMNS)} FROM audit_access WHERE {where} "
                "ORDER BY recorded_at DESC, message_id LIMIT ? OFFSET ?",
                (*named.values(), limit, offset),
            )
        return [dict(zip(ACCESS_COLUMNS, row, strict=True)) for row in rows]
