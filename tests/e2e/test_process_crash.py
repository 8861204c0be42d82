"""A real crash: the intake service's process is killed (SIGKILL) right after registrations
were committed and before its relay published them. Restarted, it publishes every one."""

import json
import signal
import subprocess
import time
import uuid

import httpx2 as httpx
from kafka import KafkaConsumer

from shared.cli import kafka_env
from shared.keyring import generate_master_key
from tests.conftest import as_admin
from tests.processes import serve, without_homeward_settings
from tests.samples import registration
from tests.signin import local_settings, staff_headers

PORT = 18011


def start_intake(env: dict, log) -> subprocess.Popen:
    return serve("intake", PORT, env, log)


def registered_on_topic(client: dict, case_ids: set[str], timeout: float = 60) -> set[str]:
    consumer = KafkaConsumer(
        "homeward.intake.events",
        **client,
        group_id=str(uuid.uuid4()),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while not case_ids <= seen and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    # Other tests' messages share the topic, poison among them: keys first.
                    if record.key is None or record.key.decode() not in case_ids:
                        continue
                    message = json.loads(record.value)
                    if ".intake.ChildRegistered.v" in message["type"]:
                        seen.add(message["caseid"])
    finally:
        consumer.close(autocommit=False)
    return seen & case_ids


def test_a_killed_service_publishes_everything_it_committed_when_restarted(settings, tmp_path):
    env = without_homeward_settings() | {
        **kafka_env(settings),
        "HOMEWARD_DATA_DIR": str(tmp_path),
        "HOMEWARD_MASTER_KEY": generate_master_key(),
        # A relay that waits long between rounds: the kill lands before it publishes.
        "HOMEWARD_RELAY_POLL_SECONDS": "30",
    }
    agency = f"CD-{uuid.uuid4().hex[:4].upper()}"
    log = (tmp_path / "intake.log").open("ab")
    service = start_intake(env, log)
    staff = staff_headers(local_settings(tmp_path), agency=agency)
    try:
        case_ids = {
            httpx.post(
                f"http://127.0.0.1:{PORT}/cases",
                timeout=10,
                json=registration(registering_agency=agency),
                headers=staff,
            ).json()["case_id"]
            for _ in range(20)
        }
    finally:
        service.send_signal(signal.SIGKILL)
        service.wait(timeout=10)
    assert len(case_ids) == 20
    assert registered_on_topic(as_admin(settings), case_ids, timeout=3) != case_ids

    restarted = start_intake({**env, "HOMEWARD_RELAY_POLL_SECONDS": "0.1"}, log)
    try:
        assert registered_on_topic(as_admin(settings), case_ids) == case_ids
    finally:
        restarted.terminate()
        try:
            restarted.wait(timeout=20)
        except subprocess.TimeoutExpired:
            restarted.kill()
            raise AssertionError((tmp_path / "intake.log").read_text()[-4000:]) from None
