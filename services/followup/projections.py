"""The follow-up service's read models, each kept by consuming a topic.

- What it knows of cases (caseworker, risk), from ``homeward.intake.events``.
- Education and livelihood outcomes partners reported, from ``homeward.referral.events``:
  the child's reintegration record in one place.
- Visits due and overdue per caseworker, and alerts, from its own ``homeward.followup.events``.
Rows about a case go when it is erased.
"""

from datetime import date
from typing import Any
from uuid import UUID

from shared.consumer import UnacceptableMessage
from shared.database import Database, Transaction
from shared.envelope import CloudEvent, event_type, event_types

DDL = (
    """CREATE TABLE IF NOT EXISTS followup_cases (
        case_id TEXT PRIMARY KEY,
        caseworker TEXT NOT NULL,
        agency TEXT,
        risk TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS followup_referrals (
        referral_id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL,
        service TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS followup_outcomes (
        referral_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reported_on TEXT NOT NULL,
        case_id TEXT NOT NULL,
        PRIMARY KEY (referral_id, outcome, reported_on)
    )""",
    """CREATE TABLE IF NOT EXISTS followup_visits (
        case_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        due_on TEXT NOT NULL,
        status TEXT NOT NULL,
        caseworker TEXT NOT NULL,
        PRIMARY KEY (case_id, number)
    )""",
    """CREATE TABLE IF NOT EXISTS followup_alerts (
        event_id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        raised_at TEXT NOT NULL
    )""",
)


FORGOTTEN_ON_ERASURE = (
    "followup_referrals",
    "followup_outcomes",
    "followup_visits",
    "followup_alerts",
)


def case_named_by(message: CloudEvent) -> str:
    """The case a referral or follow-up message is about: its ``caseid`` (its subject is the
    referral or the plan)."""
    if message.case_id is None:
        raise UnacceptableMessage(f"{message.type} names no case")
    return str(message.case_id)


def _upsert_caseworker(
    tx: Transaction, case_id: str | None, caseworker: str, agency: str | None = None
) -> None:
    """Only the registration names the agency; a reassignment keeps it."""
    tx.execute(
        "INSERT INTO followup_cases (case_id, caseworker, agency) VALUES (?, ?, ?) "
        "ON CONFLICT (case_id) DO UPDATE SET caseworker = excluded.caseworker, "
        "agency = COALESCE(excluded.agency, followup_cases.agency)",
        (case_id, caseworker, agency),
    )


def intake_type(name: str) -> str:
    return event_type("intake", name, 1)


# The caseworker and agency are in both versions of a registration.
REGISTERED = event_types("intake", "ChildRegistered", 1, 2)


def followup_type(name: str) -> str:
    return event_type("followup", name, 1)


def referral_type(name: str) -> str:
    return event_type("referral", name, 1)


# The visit's number is in both versions.
VISIT_COMPLETED = event_types("followup", "VisitCompleted", 1, 2)


class FollowUpViews:
    def __init__(self, database: Database) -> None:
        self.database = database
        with database.transaction() as tx:
            for statement in DDL:
                tx.execute(statement)

    # From intake

    def apply_intake_event(self, message: CloudEvent, tx: Transaction) -> None:
        """Each case's caseworker, agency and risk; an erased case is forgotten. The plans are
        the command handler's (``services.followup.handlers``), run after this."""
        case_id, data = message.case_id, message.data
        if case_id is None:
            return
        if message.type in REGISTERED or message.type == intake_type("CaseAssigned"):
            _upsert_caseworker(tx, str(case_id), data["caseworker"], data.get("registering_agency"))
        elif message.type == intake_type("RiskLevelSet"):
            tx.execute(
                "UPDATE followup_cases SET risk = ? WHERE case_id = ?",
                (data["level"], str(case_id)),
            )
        elif message.type == intake_type("CaseErased"):
            self._forget_case(tx, str(case_id))

    def note_caseworker(self, case_id: UUID, caseworker: str, agency: str | None) -> None:
        with self.database.transaction() as tx:
            _upsert_caseworker(tx, str(case_id), caseworker, agency)

    def agency_of(self, case_id: UUID) -> str | None:
        """The agency that registered the case, as intake published it."""
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT agency FROM followup_cases WHERE case_id = ?", (str(case_id),)
            )
        return rows[0][0] if rows else None

    def case(self, case_id: UUID) -> tuple[str, str | None] | None:
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT caseworker, risk FROM followup_cases WHERE case_id = ?", (str(case_id),)
            )
        return (rows[0][0], rows[0][1]) if rows else None

    # From referral

    def apply_referral_event(self, message: CloudEvent, tx: Transaction) -> None:
        data = message.data
        if message.type == referral_type("ReferralMade"):
            tx.execute(
                "INSERT INTO followup_referrals (referral_id, case_id, service) VALUES (?, ?, ?) "
                "ON CONFLICT (referral_id) DO NOTHING",
                (data["referral_id"], data["case_id"], data["service"]),
            )
        elif message.type in (
            referral_type("MilestoneReported"),
            referral_type("ServiceCompleted"),
        ):
            outcome = data.get("milestone", "service_completed")
            reported_on = data.get("reported_on") or data["completed_on"]
            tx.execute(
                "INSERT INTO followup_outcomes (referral_id, outcome, reported_on, case_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (data["referral_id"], outcome, reported_on, case_named_by(message)),
            )

    def outcomes(self, case_id: UUID) -> list[dict[str, Any]]:
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT o.referral_id, r.service, o.outcome, o.reported_on "
                "FROM followup_outcomes o LEFT JOIN followup_referrals r "
                "ON r.referral_id = o.referral_id WHERE o.case_id = ? "
                "ORDER BY o.reported_on, o.outcome",
                (str(case_id),),
            )
        return [
            {
                "referral_id": referral_id,
                "service": service,
                "outcome": outcome,
                "reported_on": reported_on,
            }
            for referral_id, service, outcome, reported_on in rows
        ]

    # From follow-up itself

    def apply_own_event(self, message: CloudEvent, tx: Transaction) -> None:
        data, case_id = message.data, case_named_by(message)
        if message.type == followup_type("PlanCreated"):
            _upsert_caseworker(tx, case_id, data["caseworker"])
        elif message.type == followup_type("VisitScheduled"):
            tx.execute(
                "INSERT INTO followup_visits (case_id, number, due_on, status, caseworker) "
                "VALUES (?, ?, ?, 'scheduled', "
                "COALESCE((SELECT caseworker FROM followup_cases WHERE case_id = ?), '')) "
                "ON CONFLICT (case_id, number) DO NOTHING",
                (case_id, data["number"], data["due_on"], case_id),
            )
        elif message.type == followup_type("PlanReassigned"):
            tx.execute(
                "UPDATE followup_visits SET caseworker = ? "
                "WHERE case_id = ? AND status IN ('scheduled', 'missed')",
                (data["caseworker"], case_id),
            )
        elif message.type == followup_type("ReturnBrokeDown"):
            tx.execute(
                "UPDATE followup_visits SET status = 'called_off' "
                "WHERE case_id = ? AND status IN ('scheduled', 'missed')",
                (case_id,),
            )
        elif message.type == followup_type("PlanCancelled"):
            tx.execute("DELETE FROM followup_visits WHERE case_id = ?", (case_id,))
        elif message.type in VISIT_COMPLETED or message.type == followup_type("VisitMissed"):
            status = "completed" if message.type in VISIT_COMPLETED else "missed"
            tx.execute(
                "UPDATE followup_visits SET status = ? WHERE case_id = ? AND number = ?",
                (status, case_id, data["number"]),
            )
        elif message.type == followup_type("AlertRaised"):
            tx.execute(
                "INSERT INTO followup_alerts (event_id, case_id, kind, raised_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (message.id, case_id, data["kind"], (message.time or date.min).isoformat()),
            )

    @staticmethod
    def _forget_case(tx: Transaction, case_id: str) -> None:
        """An erased case: read models are not the record, so every row about it goes."""
        for table in FORGOTTEN_ON_ERASURE:
            tx.execute(f"DELETE FROM {table} WHERE case_id = ?", (case_id,))
        # The agency stays (it is in clear on every published event too): the cancelled
        # plan is still answered only within it.
        tx.execute(
            "UPDATE followup_cases SET caseworker = '', risk = NULL WHERE case_id = ?", (case_id,)
        )

    def due_visits(
        self, today: date, caseworker: str | None = None, agency: str | None = None
    ) -> list[dict[str, Any]]:
        """Visits due by ``today`` and not done: overdue once their day has passed, or when
        one was missed (it still has to happen); of one agency's cases, or of all."""
        sql = (
            "SELECT case_id, number, due_on, status, caseworker FROM followup_visits "
            "WHERE ((status = 'scheduled' AND due_on <= ?) OR status = 'missed')"
        )
        params: list[Any] = [today.isoformat()]
        if caseworker is not None:
            sql += " AND caseworker = ?"
            params.append(caseworker)
        if agency is not None:
            sql += " AND case_id IN (SELECT case_id FROM followup_cases WHERE agency = ?)"
            params.append(agency)
        with self.database.transaction() as tx:
            rows = tx.fetchall(sql + " ORDER BY due_on, case_id, number", params)
        return [
            {
                "case_id": case_id,
                "visit": number,
                "due_on": due_on,
                "caseworker": worker,
                "overdue": status == "missed" or due_on < today.isoformat(),
                "missed": status == "missed",
            }
            for case_id, number, due_on, status, worker in rows
        ]

    def alerts(self, case_id: UUID) -> list[str]:
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT kind FROM followup_alerts WHERE case_id = ? ORDER BY raised_at",
                (str(case_id),),
            )
        return [kind for (kind,) in rows]
