"""Registrations that a caseworker's retry cannot make twice.

A caseworker on a poor connection sends ``POST /cases`` again when the answer did not come back,
although the first request may have registered the child. With an ``Idempotency-Key`` header
(made by the client, one per child it registers), the case's id is derived from the agency and
the key, so the event store itself refuses a second case under it; a retry is answered with the
case already registered, recording nothing and taking no case number.

A key is bound to the first registration it came with: a fingerprint of that registration is
kept in a row per key, sealed with the case's data key, so that a different registration under
the same key is refused (a client's bug, never a retry) and the fingerprint becomes unreadable
with the rest of the case when the case is erased.
"""

import hashlib
import json
from dataclasses import asdict
from uuid import UUID, uuid5

from services.intake.domain import CaseRuleViolation, Registration
from shared.database import Database
from shared.keyring import CaseKeys

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"

# Fixed for good: another namespace would give a retry another case id, and register it again.
KEYED_CASES = UUID("5d0f4c1e-4b7a-4f3e-9a51-6c2f1b8e0a47")
SEALED_FIELD = "registration_fingerprint"

REGISTRATION_KEYS_DDL = """CREATE TABLE IF NOT EXISTS intake_registration_keys (
    case_id TEXT PRIMARY KEY,
    sealed_fingerprint TEXT NOT NULL
)"""


class IdempotencyKeyReused(CaseRuleViolation):
    """The key came earlier with another registration."""


def keyed_case_id(agency: str, idempotency_key: str) -> UUID:
    return uuid5(KEYED_CASES, f"{agency}/{idempotency_key}")


def fingerprint(registration: Registration) -> str:
    canonical = json.dumps(asdict(registration), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class RegistrationKeys:
    def __init__(self, database: Database, case_keys: CaseKeys) -> None:
        self.database = database
        self.case_keys = case_keys
        with database.transaction() as tx:
            tx.execute(REGISTRATION_KEYS_DDL)

    def bind(self, case_id: UUID, idempotency_key: str, registration: Registration) -> None:
        """Bind the key (whose case id is ``case_id``) to this registration, or check that it
        is the one the key was bound to; raises IdempotencyKeyReused if not. The binding of
        an erased case cannot be read any more: any registration passes."""
        wanted = fingerprint(registration)
        sealed = self._sealed(case_id)
        if sealed is None:
            mine = self.case_keys.for_sealing(case_id).seal(SEALED_FIELD, wanted)
            with self.database.transaction() as tx:
                inserted = tx.execute(
                    "INSERT INTO intake_registration_keys (case_id, sealed_fingerprint) "
                    "VALUES (?, ?) ON CONFLICT (case_id) DO NOTHING",
                    (str(case_id), json.dumps(mine)),
                )
            if inserted:
                return
            sealed = self._sealed(case_id)  # the same key, sent at the same moment
            assert sealed is not None
        data_key = self.case_keys.for_opening(case_id, purpose="idempotent registration")
        if data_key is not None and data_key.open(SEALED_FIELD, sealed) != wanted:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {idempotency_key!r} was sent earlier with another "
                f"registration at {registration.registering_agency}: a new child needs a new key"
            )

    def _sealed(self, case_id: UUID) -> dict[str, str] | None:
        with self.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT sealed_fingerprint FROM intake_registration_keys WHERE case_id = ?",
                (str(case_id),),
            )
        return json.loads(rows[0][0]) if rows else None
