"""An intake event store of any size, filled in seconds, for the relay and replay benchmarks.

Registering 200,000 children one by one through the application would take minutes and
measure registration, not the relay. A few thousand cases are registered for real (their
events are what a caseworker records, personal fields sealed with each case's key); then
each case is handed over again and again: copies of its own stored ``HandedOver`` event,
appended at its next versions, through the application's chained recorder in large batches.
The relay then meets realistic notifications (real stored states, sealed fields to open and
seal again, one key per case) of a realistic size.
"""

import base64
from datetime import UTC, date, datetime
from pathlib import Path

from eventsourcing.persistence import StoredEvent

from services.intake.app import IntakeApplication
from services.intake.domain import (
    ArmedGroupKind,
    Handover,
    HowLeft,
    NotePurpose,
    Registration,
    Role,
    Sex,
)
from shared.database import Database
from shared.keyring import CaseKeys, SqlKeyring, generate_master_key
from shared.persistence import utc_now
from shared.settings import Settings

SCHEMAS_AT = Settings().service_url("intake")
CASES = 2_000  # at most: registered for real
INSERT_BATCH = 10_000  # stored events per insert

# tests/samples.py's GIRL_ESCAPED, as the domain's types.
GIRL_ESCAPED = Registration(
    name="Amani Zawadi-Kuvuka",
    notes={
        NotePurpose.HEALTH: "A leg wound that has not healed; asks for a clinic visit.",
        NotePurpose.EDUCATION: "Left school in the fourth year of primary; wants to go back.",
    },
    how_left=HowLeft.ESCAPE,
    released_on=date(2026, 10, 3),
    release_place="Kalehe, near the river crossing",
    armed_group="Raia Mutomboki faction",
    armed_group_kind=ArmedGroupKind.NON_STATE_ARMED_GROUP,
    roles=(Role.SUPPORT, Role.SEXUAL_PURPOSES),
    sex=Sex.FEMALE,
    estimated_age=15,
    registering_agency="CD-KIN",
    caseworker="cw-0412",
    handover=Handover(
        "FARDC 34th military region", "CD-KIN", datetime(2026, 10, 4, 7, 30, tzinfo=UTC)
    ),
)


def keyring_in(folder: Path, master_key: str | None = None) -> SqlKeyring:
    """A keyring in ``folder``, under ``master_key`` (base64) or a new one."""
    return SqlKeyring(
        Database.named(
            "keyring",
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(folder / "keyring.sqlite3"),
            },
        ),
        base64.b64decode(master_key or generate_master_key()),
    )


def intake_application(folder: Path, keyring: SqlKeyring | None = None) -> IntakeApplication:
    """An intake application on a SQLite store in ``folder``, and a keyring of its own there
    unless given one."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    keyring = keyring or keyring_in(folder)
    return IntakeApplication(
        {**env, "SQLITE_DBNAME": str(folder / "intake.sqlite3")},
        utc_now,
        CaseKeys(keyring, "intake"),
    )


class GrowingStore:
    """An intake store that grows on demand, for measuring one log at several sizes."""

    def __init__(self, app: IntakeApplication) -> None:
        self.app = app
        self._handovers: list[StoredEvent] = []  # each case's last stored event
        self._rounds = 0

    def grow_to(self, events: int) -> int:
        """Record events until the log holds about ``events`` (three per registered case,
        then handovers); return how many notifications it holds."""
        recorder = self.app.recorder
        if not self._handovers:
            for _ in range(max(1, min(CASES, events // 50))):
                case_id = self.app.register_child(GIRL_ESCAPED).id
                self._handovers += recorder.select_events(case_id, desc=True, limit=1)
        left = events - (recorder.max_notification_id() or 0)
        batch: list[StoredEvent] = []
        while left > 0:
            self._rounds += 1
            # Case after case, so that one batch of the log spreads over every partition.
            for template in self._handovers[:left]:
                batch.append(
                    StoredEvent(
                        originator_id=template.originator_id,
                        originator_version=template.originator_version + self._rounds,
                        topic=template.topic,
                        state=template.state,
                    )
                )
                if len(batch) == INSERT_BATCH:
                    recorder.insert_events(batch)
                    batch = []
            left -= min(len(self._handovers), left)
        if batch:
            recorder.insert_events(batch)
        return recorder.max_notification_id() or 0


def fill(app: IntakeApplication, events: int) -> int:
    """Record about ``events`` events in an empty store; return how many it holds."""
    return GrowingStore(app).grow_to(events)
