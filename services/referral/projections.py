"""What the referral service knows of intake, learnt from ``homeward.intake.events`` only.

- Consents: every ``ConsentGiven`` and ``ConsentWithdrawn``, to ask :func:`may_share`.
- The case file: what a partner may receive and what decides whether it may (the
  registration, the current age's sources, the maturity assessment, the child's refusals, the
  family located, where the child lives now, the restricted record), sealed again as one
  value with the case's key; whether the case is closed.
- On ``CaseErased`` every row about the case goes.
"""

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from shared.consent import ConsentGiver, ConsentRecord, DataCategory, Purpose
from shared.database import Database, Transaction
from shared.envelope import CloudEvent, event_type, event_types
from shared.keyring import CaseKeys

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
        sealed_data TEXT NOT NULL,
        closed INTEGER NOT NULL DEFAULT 0
    )""",
)

CONSENT_GIVEN = event_type("intake", "ConsentGiven", 1)
CONSENT_WITHDRAWN = event_type("intake", "ConsentWithdrawn", 1)
REGISTERED = event_types("intake", "ChildRegistered", 1, 2)
# What a registration holds that no partner is ever sent, so never kept here: the case
# agency's own notes (v2) and the child's free-text account (v1). A partner learns needs in
# the words a referral writes for it (services.referral.sharing.WrittenField).
KEPT_BY_THE_CASE_AGENCY = ("notes", "account")
CASE_ERASED = event_type("intake", "CaseErased", 1)
CASE_CLOSED = event_type("intake", "CaseClosed", 1)
CASE_REOPENED = event_type("intake", "CaseReopened", 1)
CASE_DATA_FIELD = "registration"  # what the sealed case file is bound to


def _where_the_child_lives(carer_field: str) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def note(case_file: dict[str, Any], data: dict[str, Any]) -> None:
        case_file["contact"] = {
            "lives_with": data[carer_field],
            "address": data["address"],
            "phone": None,
        }

    return note


def _reunified(case_file: dict[str, Any], data: dict[str, Any]) -> None:
    case_file["contact"] = {
        "lives_with": case_file.get("relationship") or "family",
        "address": data["address"],
        "phone": case_file.get("family_phone"),
    }


def _family_located(case_file: dict[str, Any], data: dict[str, Any]) -> None:
    case_file.update(
        family_members=data["family_members"],
        relationship=data["relationship"],
        family_phone=data["phone"],
    )


def _refused(case_file: dict[str, Any], data: dict[str, Any]) -> None:
    case_file.setdefault("objections", {})[data["refusal_id"]] = {
        name: data[name] for name in ("purpose", "recipients", "categories")
    }


# How each later intake fact changes the case file (the latest fact wins).
CASE_FILE_CHANGES: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    event_type("intake", "AgeAssessed", 1): lambda case_file, data: case_file.update(
        assessed_adult=data["result"] == "18_or_over"
    ),
    event_type("intake", "MaturityAssessed", 1): lambda case_file, data: case_file.update(
        maturity_assessed=data["mature"]
    ),
    event_type("intake", "DisclosureRefused", 1): _refused,
    event_type("intake", "FieldCorrected", 1): lambda case_file, data: case_file.update(
        {data["field"]: data["value"]}
    ),
    event_type("intake", "FamilyLocated", 1): _family_located,
    event_type("intake", "Reunified", 1): _reunified,
    # The child no longer lives there: no one may be sent to that address.
    event_type("intake", "ReunificationBrokeDown", 1): lambda case_file, _data: case_file.update(
        contact=None
    ),
    event_type("intake", "InterimCarePlaced", 1): _where_the_child_lives("carer"),
    event_type("intake", "AlternativeCareArranged", 1): _where_the_child_lives("carer"),
    event_type("intake", "NeedsAssessed", 1): lambda case_file, data: case_file.update(
        sexual_violence=data["sexual_violence"]
    ),
}


class IntakeView:
    def __init__(self, database: Database, case_keys: CaseKeys) -> None:
        self.database = database
        self.case_keys = case_keys
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
        elif message.type in REGISTERED:
            key = self.case_keys.for_opening(UUID(data["case_id"]), "referral case data")
            if key is None:
                return
            case_file = {
                name: value for name, value in data.items() if name not in KEPT_BY_THE_CASE_AGENCY
            }
            tx.execute(
                "INSERT INTO referral_case_data (case_id, sealed_data) VALUES (?, ?) "
                "ON CONFLICT (case_id) DO NOTHING",
                (data["case_id"], json.dumps(key.seal(CASE_DATA_FIELD, case_file))),
            )
        elif message.type in CASE_FILE_CHANGES:
            self._change_case_file(UUID(data["case_id"]), tx, CASE_FILE_CHANGES[message.type], data)
        elif message.type in (CASE_CLOSED, CASE_REOPENED):
            tx.execute(
                "UPDATE referral_case_data SET closed = ? WHERE case_id = ?",
                (int(message.type == CASE_CLOSED), data["case_id"]),
            )
        elif message.type == CASE_ERASED:
            tx.execute("DELETE FROM referral_case_data WHERE case_id = ?", (data["case_id"],))
            tx.execute("DELETE FROM referral_consents WHERE case_id = ?", (data["case_id"],))

    def _change_case_file(
        self,
        case_id: UUID,
        tx: Transaction,
        change: Callable[[dict[str, Any], dict[str, Any]], None],
        data: dict[str, Any],
    ) -> None:
        rows = tx.fetchall(
            "SELECT sealed_data FROM referral_case_data WHERE case_id = ?", (str(case_id),)
        )
        key = self.case_keys.for_opening(case_id, "referral case data")
        if not rows or key is None:
            return  # erased: nothing of it is kept any more
        case_file = key.open(CASE_DATA_FIELD, json.loads(rows[0][0]))
        change(case_file, data)
        tx.execute(
            "UPDATE referral_case_data SET sealed_data = ? WHERE case_id = ?",
            (json.dumps(key.seal(CASE_DATA_FIELD, case_file)), str(case_id)),
        )

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

    def case_data(self, case_id: UUID, purpose: str) -> tuple[dict[str, Any], bool] | None:
        """The case's registration, opened, and whether the case is closed; None for a case
        unknown here or erased."""
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT sealed_data, closed FROM referral_case_data WHERE case_id = ?",
                (str(case_id),),
            )
        if not rows:
            return None
        key = self.case_keys.for_opening(case_id, purpose)
        if key is None:
            return None
        return key.open(CASE_DATA_FIELD, json.loads(rows[0][0])), bool(rows[0][1])
