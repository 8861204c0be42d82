"""Two instances of the intake service on one PostgreSQL database serve the same API; exactly
one relay publishes at a time (a PostgreSQL advisory lock), and when its holder is killed the
other takes over: every stored event reaches the topic, none is lost."""

import signal
import time
import uuid

import httpx2 as httpx
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from shared.cli import kafka_env
from shared.envelope import CloudEvent
from shared.keyring import generate_master_key
from tests.conftest import as_admin, fresh_postgres_database
from tests.processes import serve, without_homeward_settings
from tests.samples import registration
from tests.signin import admin_headers, local_settings, staff_headers

PORTS = (18211, 18212)


def relay_of(port: int, admin: dict) -> dict:
    details = httpx.get(f"http://127.0.0.1:{port}/healthz/details", headers=admin, timeout=5)
    return details.json()["relay"]


def ids_about(records: list[ConsumerRecord], cases: set[str]) -> list[str]:
    """The CloudEvent ids of the records about ``cases``, in their order."""
    # Other tests' messages share the topic, poison among them: keys first.
    ours = [record for record in records if record.key is not None and record.key.decode() in cases]
    return [CloudEvent.from_bytes(record.value).id for record in ours]


def published_ids(client: dict, cases: set[str], wanted: int, timeout: float = 60) -> list[str]:
    """The ids of the messages about ``cases`` on the topic, as often as each is there."""
    consumer = KafkaConsumer(
        "homeward.intake.events",
        **client,
        group_id=str(uuid.uuid4()),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    ids: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(set(ids)) < wanted and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                ids.extend(ids_about(records, cases))
    finally:
        consumer.close(autocommit=False)
    return ids


def test_one_relay_publishes_and_the_other_takes_over_when_it_dies(
    settings, tmp_path, postgres_cluster
):
    database = fresh_postgres_database(postgres_cluster)
    env = without_homeward_settings() | {
        **kafka_env(settings),
        "HOMEWARD_DATA_DIR": str(tmp_path),
        "HOMEWARD_MASTER_KEY": generate_master_key(),
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": database,
        "POSTGRES_HOST": postgres_cluster["host"],
        "POSTGRES_PORT": postgres_cluster["port"],
        "POSTGRES_USER": postgres_cluster["user"],
        "POSTGRES_PASSWORD": "",
    }
    agency = f"CD-{uuid.uuid4().hex[:4].upper()}"
    log = (tmp_path / "instances.log").open("ab")
    instances = {port: serve("intake", port, env, log) for port in PORTS}
    signer = local_settings(tmp_path)
    staff = staff_headers(signer, agency=agency)
    admin = admin_headers(signer)
    try:
        holders = [port for port in PORTS if relay_of(port, admin)["holds_lease"]]
        deadline = time.monotonic() + 30
        while len(holders) != 1 and time.monotonic() < deadline:
            time.sleep(0.5)
            holders = [port for port in PORTS if relay_of(port, admin)["holds_lease"]]
        assert len(holders) == 1, f"relays holding the lease: {holders}"
        [holder] = holders
        [standby] = [port for port in PORTS if port != holder]

        def register(port: int) -> str:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/cases",
                json=registration(registering_agency=agency),
                headers=staff,
                timeout=20,
            )
            assert answer.status_code == 201, answer.text
            return answer.json()["case_id"]

        before = [register(PORTS[number % 2]) for number in range(10)]  # both serve the API
        instances[holder].send_signal(signal.SIGKILL)
        instances[holder].wait()
        after = [register(standby) for _ in range(10)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            relay = relay_of(standby, admin)
            if relay["holds_lease"] and relay["waiting"] == 0:
                break
            time.sleep(0.5)
        assert relay_of(standby, admin)["holds_lease"]

        stored = 2 * len(before + after)  # each registration: ChildRegistered and HandedOver
        ids = published_ids(as_admin(settings), set(before + after), stored)
        lost = stored - len(set(ids))
        print(
            f"\ntwo instances on PostgreSQL: {len(before + after)} cases registered through "
            f"both, holder on {holder} killed after {len(before)}; stored {stored} published "
            f"events, on the topic {len(set(ids))} distinct ({len(ids) - len(set(ids))} "
            f"published twice around the failover), lost {lost}"
        )
        assert lost == 0
    finally:
        for process in instances.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=30)
