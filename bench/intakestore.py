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
from uuid import UUID

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


def intake_application(folder: Path) -> IntakeApplication:
    """An intake application on a SQLite store and keyring of its own in ``folder``."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    keyring = SqlKeyring(
        Database.named("keyring", {**env, "SQLITE_DBNAME": str(folder / "keyring.sqlite3")}),
        base64.b64decode(generate_master_key()),
    )
    return IntakeApplication(
        {**env, "SQLITE_DBNAME": str(folder / "intake.sqlite3")},
        utc_now,
        CaseKeys(keyring, "intake"),
    )


def fill(app: IntakeApplication, events: int) -> int:
    """Record about ``events`` events (three per registered case, then handovers); return
    how many notifications the log holds."""
    cases = max(1, min(CASES, events // 50))
    registered = [app.register_child(GIRL_ESCAPED).id for _ in range(cases)]
    handovers: dict[UUID, StoredEvent] = {}
    for case_id in registered:
        (last,) = app.recorder.select_events(case_id, desc=True, limit=1)
        handovers[case_id] = last
    left = events - (app.recorder.max_notification_id() or 0)
    batch: list[StoredEvent] = []
    round_ = 0
    while left > 0:
        round_ += 1
        # Case after case, so that one batch of the log spreads over every partition.
        for case_id in registered[: min(cases, left)]:
            template = handovers[case_id]
            batch.append(
                StoredEvent(
                    originator_id=case_id,
                    originator_version=template.originator_version + round_,
                    topic=template.topic,
                    state=template.state,
                )
            )
            if len(batch) == INSERT_BATCH:
                app.recorder.insert_events(batch)
                batch = []
        left -= min(cases, left)
    if batch:
        app.recorder.insert_events(batch)
    return app.recorder.max_notification_id() or 0
