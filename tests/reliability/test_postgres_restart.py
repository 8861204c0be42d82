"""PostgreSQL restarted under a consumer: no message dead-lettered, every one applied once.

Referral's consumer of ``homeward.intake.events`` (``homeward.referral.intake``) writes its view
of intake and its inbox row in one PostgreSQL transaction. While intake registers a stream of
cases, the PostgreSQL cluster under referral is stopped (fast shutdown: every session is cut)
for a few seconds and started again. Intake keeps its store and the keyring in SQLite, so the
stream goes on through the outage and referral's consumer meets messages while its database
is gone. Referral's relays (its access log's among them) hold their lease and read their
position on that cluster too: an access recorded after the restart must still be published.

The cluster is this module's own, started and stopped with ``deploy/postgres/cluster`` on the
port after the session's (``HOMEWARD_TEST_PG_PORT`` + 1, 55440 by default), in
``var/test-postgres-restart-<port>``: the session's cluster, which other tests use, is never
stopped.
"""

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.intake.service import build_runtime as build_intake
from services.intake.service import create_app as intake_api
from services.referral.service import build_runtime as build_referral
from services.referral.service import create_app as referral_api
from shared.access import Caller, Role
from shared.accesslog import Access, Outcome
from shared.consumer import EventConsumer
from shared.deadletters import parked_messages
from shared.envelope import CloudEvent
from shared.kafka import (
    ACCESS_TOPIC,
    ADMIN,
    event_topic,
    kafka_connection,
    move_consumer_group,
    read_to_end,
)
from shared.keyring import open_keyring
from shared.runtime import ServiceRuntime
from shared.settings import REPO_ROOT, Settings
from tests.conftest import (
    POSTGRES_SCRIPT,
    TEST_POSTGRES_PORT,
    as_admin,
    postgres_store,
    sqlite_store,
)
from tests.e2e.test_full_journey import wait_for
from tests.partner import read_messages
from tests.samples import registration
from tests.signin import staff_headers

RESTARTED_PORT = TEST_POSTGRES_PORT + 1
RESTARTED_DIR = REPO_ROOT / "var" / f"test-postgres-restart-{RESTARTED_PORT}"
OUTAGE_SECONDS = 4.0
CASES_BEFORE, CASES_DURING, CASES_AFTER = 10, 10, 10
CONSUMER = "homeward.referral.intake"


def cluster(command: str) -> None:
    """Run the project's script on this module's cluster."""
    env = {
        **os.environ,
        "HOMEWARD_PG_DIR": str(RESTARTED_DIR),
        "HOMEWARD_PG_PORT": str(RESTARTED_PORT),
        "HOMEWARD_PG_DATABASES": "postgres",
    }
    subprocess.run([str(POSTGRES_SCRIPT), command], env=env, check=True, timeout=600)


@pytest.fixture
def restartable_postgres() -> Iterator[dict[str, str]]:
    cluster("start")
    try:
        yield {"host": "127.0.0.1", "port": str(RESTARTED_PORT), "user": "postgres"}
    finally:
        cluster("stop")  # also when the test failed with the cluster stopped: a no-op then


@dataclass
class HealthWatch:
    """Referral's health, as ``/healthz`` reports it, and its consumer's last error, read every
    few tenths of a second on a thread of its own (a report waits a while for a database that
    does not answer), each with the time it was asked."""

    runtime: ServiceRuntime
    consumer: EventConsumer
    seen: list[tuple[float, float, str, str | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "HealthWatch":
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _watch(self) -> None:
        while not self._stop.wait(0.3):
            asked = time.monotonic()
            status = self.runtime.health()["status"]
            self.seen.append((asked, time.monotonic(), status, self.consumer.last_error))

    def between(self, start: float, end: float) -> list[tuple[str, str | None]]:
        """The reports asked before ``end`` and answered after ``start``: a report asked just
        before the outage may be answered in it, on a busy machine."""
        return [
            (status, error)
            for asked, answered, status, error in self.seen
            if asked <= end and answered >= start
        ]

    def longest_seconds(self) -> float:
        return max((answered - asked for asked, answered, _, _ in self.seen), default=0.0)


def register_cases(intake: TestClient, count: int) -> list[str]:
    cases = []
    for _ in range(count):
        registered = intake.post("/cases", json=registration())
        assert registered.status_code == 201, registered.text
        cases.append(registered.json()["case_id"])
    return cases


def rows(runtime: ServiceRuntime, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with runtime.database.transaction() as tx:
        return tx.fetchall(sql, params)


def cases_in_view(runtime: ServiceRuntime, cases: list[str]) -> int:
    found = rows(runtime, "SELECT case_id FROM referral_case_data")
    return len({case_id for (case_id,) in found} & set(cases))


def test_postgresql_restarted_under_a_consumer_drops_nothing_and_applies_nothing_twice(
    settings: Settings, tmp_path: Path, restartable_postgres: dict[str, str]
) -> None:
    keyring = open_keyring(settings)
    intake_runtime = build_intake(settings, sqlite_store(tmp_path), keyring=keyring)
    referral_runtime = build_referral(
        settings, postgres_store(restartable_postgres), keyring=keyring
    )
    consumer = next(c for c in referral_runtime.consumers if c.name == CONSUMER)
    admin = kafka_connection(settings, ADMIN)
    intake_topic = event_topic("intake")
    # Only this test's stream: what other tests left on the topic is not this consumer's work.
    move_consumer_group(admin, CONSUMER, [intake_topic], to_end=True)
    audit_relay = next(r for r in referral_runtime.relays if r.topic == ACCESS_TOPIC)
    probe_case = uuid.uuid4()
    probe_access = Access(
        "read_case",
        Outcome.ALLOWED,
        "GET /restart-probe",
        "case",
        Caller(sub="restart-probe", role=Role.CASEWORKER, agency="CD-KIN"),
        probe_case,
    )
    with (
        TestClient(intake_api(intake_runtime), headers=staff_headers(settings)) as intake,
        TestClient(referral_api(referral_runtime)),
        HealthWatch(referral_runtime, consumer) as health,
    ):
        cases = register_cases(intake, CASES_BEFORE)
        wait_for(lambda: cases_in_view(referral_runtime, cases) > 0, "the first case applied")
        stopping = time.monotonic()
        cluster("stop")
        down = time.monotonic()
        # Intake's stream goes on: referral's consumer meets these with its database gone.
        cases += register_cases(intake, CASES_DURING)
        time.sleep(max(OUTAGE_SECONDS - (time.monotonic() - down), 0))
        cluster("start")
        up = time.monotonic()
        cases += register_cases(intake, CASES_AFTER)
        referral_runtime.access_log.record(probe_access)
        wait_for(
            lambda: cases_in_view(referral_runtime, cases) == len(cases),
            "every case in referral's view",
            120,
        )
        caught_up = time.monotonic()
        # Read while referral runs: its relay publishes only then.
        published_probe = read_messages(
            as_admin(settings), ACCESS_TOPIC, key=str(probe_case), timeout=60
        )
        probe_published = time.monotonic()
        wait_for(lambda: referral_runtime.health()["status"] == "ok", "referral healthy again")
        inbox = rows(
            referral_runtime,
            "SELECT event_id FROM homeward_inbox WHERE consumer = ?",
            (CONSUMER,),
        )
        # The consumer's command handler runs after the view's commit, with an inbox of its own.
        commands_inbox = rows(
            referral_runtime,
            "SELECT event_id FROM homeward_inbox WHERE consumer = ?",
            (f"{CONSUMER}:commands",),
        )

    ours = {case_id.encode() for case_id in cases}
    sent_ids = {
        CloudEvent.from_bytes(r.value).id
        for r in read_to_end(admin, [intake_topic])
        if r.key in ours
    }
    applied_ids = {event_id for (event_id,) in inbox}
    parked = [
        m for m in parked_messages(admin, intake_topic) if m.consumer == CONSUMER and m.key in ours
    ]
    during_outage = health.between(down, up)

    assert parked == []
    assert sent_ids <= applied_ids, "a message sent was never applied"
    assert sent_ids <= {event_id for (event_id,) in commands_inbox}, "a command never handled"
    # Applied as the consumer counted, in a fresh database: a commit lost in the restart
    # would leave a count without its row, a message applied twice a second count.
    assert sum(consumer.applied.values()) == len(inbox)
    assert consumer.retried_messages > 0, "the outage was never felt: the test proves nothing"
    assert any(status == "down" for status, _ in during_outage), (
        during_outage,
        f"the longest health report took {health.longest_seconds():.1f} s",
    )
    assert any(error for _, error in during_outage), "no consumer error shown during the outage"
    assert len(published_probe) == 1, "an access recorded after the restart was not published"
    print(
        f"\nPostgreSQL under referral's consumer stopped {up - stopping:.1f} s: "
        f"sent {len(sent_ids)} intake messages for {len(cases)} cases, "
        f"applied {len(sent_ids & applied_ids)}, "
        f"applied twice 0, dead-lettered {len(parked)}, redelivered and skipped "
        f"{sum(consumer.duplicates.values())}, attempts retried {consumer.retried_messages}; "
        f"caught up {caught_up - up:.1f} s after the restart; {len(during_outage)} health "
        f"reports during the outage: {sorted({status for status, _ in during_outage})}; "
        f"the longest {health.longest_seconds():.1f} s; "
        f"audit relay rounds retried {audit_relay.failed_rounds}, an access recorded after "
        f"the restart published {probe_published - up:.1f} s after the restart"
    )
