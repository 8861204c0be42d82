"""What the referral service knows of intake, learnt from ``homeward.intake.events`` only.

- Consents: every ``ConsentGiven`` and ``ConsentWithdrawn``, to ask :func:`may_share`.
- Case data: the ``ChildRegistered`` data as published (personal fields still sealed), to pick
  what a partner may receive; deleted when the case is erased.
"""

import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

from shared.consent import ConsentGiver, ConsentRecord, DataCategory, Purpose
from shared.database import Database, Transaction
from shared.envelope import CloudEvent, event_type

PROJECTION_DDL = (
    """CREATE TABLE IF NOT EXISTS referral_consents (
        consent_id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL,
        given_by TEXT NOT NULL,
        purpose TEXT NOT NULL,
        recipients TEXT NOT NULL,
        categories TEXT NOT NULL,
        given_on TEXT NOT NULL,
        expires_on TEXT,
        withdrawn_at TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS referral_case_data (
        case_id TEXT PRIMARY KEY,
        data TEXT NOT NULL
    )""",
)

CONSENT_GIVEN = event_type("intake", "ConsentGiven", 1)
CONSENT_WITHDRAWN = event_type("intake", "ConsentWithdrawn", 1)
CHILD_REGISTERED = event_type("intake", "ChildRegistered", 1)
CASE_ERASED = event_type("intake", "CaseErased", 1)


class IntakeView:
    def __init__(self, database: Database) -> None:
        self.database = database
        with database.transaction() as tx:
            for statement in PROJECTION_DDL:
                tx.execute(statement)

    def apply(self, message: CloudEvent, tx: Transaction) -> None:
        """Keep the view up to date with one intake message (idempotent)."""
        data = message.data
        if message.type == CONSENT_GIVEN:
            tx.execute(
                "INSERT INTO referral_consents (consent_id, case_id, given_by, purpose, "
                "recipients, categories, given_on, expires_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (consent_id) DO NOTHING",
                (
                    data["consent_id"],
                    data["case_id"],
                    data["given_by"],
                    data["purpose"],
                    json.dumps(data["recipients"]),
                    json.dumps(data["categories"]),
                    data["given_on"],
                    data["expires_on"],
                ),
            )
        elif message.type == CONSENT_WITHDRAWN:
            withdrawn_at = (message.time or datetime.min).isoformat()
            tx.execute(
                "UPDATE referral_consents SET withdrawn_at = ? "
                "WHERE consent_id = ? AND withdrawn_at IS NULL",
                (withdrawn_at, data["consent_id"]),
            )
        elif message.type == CHILD_REGISTERED:
            tx.execute(
                "INSERT INTO referral_case_data (case_id, data) VALUES (?, ?) "
                "ON CONFLICT (case_id) DO NOTHING",
                (data["case_id"], json.dumps(data)),
            )
        elif message.type == CASE_ERASED:
            tx.execute("DELETE FROM referral_case_data WHERE case_id = ?", (data["case_id"],))

    def consents(self, case_id: UUID) -> list[ConsentRecord]:
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT consent_id, given_by, purpose, recipients, categories, given_on, "
                "expires_on, withdrawn_at FROM referral_consents WHERE case_id = ?",
                (str(case_id),),
            )
        return [
            ConsentRecord(
                consent_id=UUID(consent_id),
                case_id=case_id,
                given_by=ConsentGiver(given_by),
                purpose=Purpose(purpose),
                recipients=frozenset(json.loads(recipients)),
                categories=frozenset(DataCategory(c) for c in json.loads(categories)),
                given_on=date.fromisoformat(given_on),
                expires_on=date.fromisoformat(expires_on) if expires_on else None,
                withdrawn_at=datetime.fromisoformat(withdrawn_at) if withdrawn_at else None,
            )
            for (
                consent_id,
                given_by,
                purpose,
                recipients,
                categories,
                given_on,
                expires_on,
                withdrawn_at,
            ) in rows
        ]

    def case_data(self, case_id: UUID) -> dict[str, Any] | None:
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT data FROM referral_case_data WHERE case_id = ?", (str(case_id),)
            )
        return json.loads(rows[0][0]) if rows else None
