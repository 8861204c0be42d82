"""Personal data is sealed per case wherever it rests, erasable despite immutable events, and
never in logs or error messages; without its master key a service refuses to start."""

import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.intake.service import build_runtime, create_app
from shared.kafka import AUDITOR, kafka_connection
from shared.keyring import CaseKeys, MasterKeyError, generate_master_key, open_keyring
from tests.conftest import as_admin, postgres_data_on_disk, stored_uncompressed
from tests.partner import as_json, read_messages
from tests.running import replay_case
from tests.samples import registration
from tests.signin import supervisor_headers

INTAKE_TOPIC = "homeward.intake.events"


def distinctive(tag: str) -> dict:
    """A registration whose personal fields hold strings found nowhere else."""
    marker = f"Qx{uuid.uuid4().hex[:10]}{tag}"
    control = f"cw-{uuid.uuid4().hex[:12]}"  # a caseworker id: not personal, stays readable
    body = registration(
        name=f"Neema {marker}", notes={"care": f"Afraid of the dark {marker}"}, caseworker=control
    )
    body["release"] = {**body["release"], "place": f"Hill {marker}"}
    return {"marker": marker, "control": control, "body": body}


def files_under(*roots: Path) -> list[Path]:
    return [path for root in roots for path in root.rglob("*") if path.is_file()]


def files_containing(needle: bytes, files: list[Path]) -> list[str]:
    found = []
    for path in files:
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            # Gone since it was listed: PostgreSQL drops and remakes caches of its own
            # (global/pg_internal.init) whenever it likes. What is gone holds nothing.
            continue
        if needle in content:
            found.append(str(path))
    return found


def wait_published(settings, case_id: str, expect: int) -> list:
    records = read_messages(as_admin(settings), INTAKE_TOPIC, key=case_id, expect=expect)
    assert len(records) >= expect
    return records


def store_files(event_store_env: dict, tmp_path: Path) -> list[Path]:
    """The bytes where this test's event store keeps its data, whichever kind it is."""
    if event_store_env["PERSISTENCE_MODULE"].endswith("sqlite"):
        return files_under(tmp_path)
    return files_under(postgres_data_on_disk())


def test_personal_data_is_nowhere_in_plaintext_on_disk(
    settings, event_store_env, kafka_broker, tmp_path
):
    child = distinctive("disk")
    runtime = build_runtime(settings, event_store_env)
    if event_store_env["PERSISTENCE_MODULE"].endswith("postgres"):
        stored_uncompressed(event_store_env)
    with TestClient(create_app(runtime), headers=supervisor_headers(settings)) as client:
        created = client.post("/cases", json=child["body"])
        assert created.status_code == 201
        case_id = created.json()["case_id"]
        assert client.get(f"/cases/{case_id}").json()["name"] == child["body"]["name"]
        wait_published(settings, case_id, expect=2)

    kafka_files = files_under(kafka_broker.data_dir)
    stored = store_files(event_store_env, tmp_path)
    # The files read are the right ones: the same event's non-personal fields are in them.
    assert files_containing(child["control"].encode(), kafka_files)
    assert files_containing(child["control"].encode(), stored)
    marker = child["marker"].encode()
    assert files_containing(marker, kafka_files) == []
    assert files_containing(marker, stored) == []
    assert files_containing(marker, files_under(tmp_path)) == []  # keyring and all


def test_erasure_leaves_the_history_and_removes_every_personal_field(
    settings, sqlite_env, kafka_broker, tmp_path
):
    erased_child, other_child = distinctive("erased"), distinctive("kept")
    runtime = build_runtime(settings, sqlite_env)
    with TestClient(create_app(runtime), headers=supervisor_headers(settings)) as client:
        case = client.post("/cases", json=erased_child["body"]).json()
        other = client.post("/cases", json=other_child["body"]).json()
        response = client.post(
            f"/cases/{case['case_id']}/erasure",
            json={"version": case["version"], "reason": "child_request"},
        )
        assert response.status_code == 200, response.text
        after = client.get(f"/cases/{case['case_id']}").json()
        again = client.post(
            f"/cases/{case['case_id']}/erasure",
            json={"version": after["version"], "reason": "child_request"},
        )
        kept = client.get(f"/cases/{other['case_id']}").json()
        records = wait_published(settings, case["case_id"], expect=3)

    assert after["erased"] is True
    assert after["name"] == after["release_place"] == after["notes"] == "[erased]"
    assert after["date_of_birth"] == "[erased]"
    # Sealed by default: the quasi-identifiers go with the name; ids, agency and stage stay.
    assert after["released_on"] == after["sex"] == after["estimated_age"] == "[erased]"
    assert after["armed_group"] == after["roles"] == "[erased]"
    assert after["handover"] is None
    assert after["case_number"] == case["case_number"]
    assert after["registering_agency"] == case["registering_agency"]
    assert again.status_code == 409
    assert "erased" in again.json()["detail"]
    assert kept["name"] == other_child["body"]["name"]
    assert as_json(records[-1])["type"] == "org.homeward.intake.CaseErased.v1"
    assert set(as_json(records[-1])["data"]) == {"case_id", "erasure_reason", "requested_by"}

    # A full replay from Kafka alone, with a fresh key cache as an auditor would have.
    auditor = CaseKeys(open_keyring(settings), "audit")
    topics = [INTAKE_TOPIC]
    audit = kafka_connection(settings, AUDITOR)
    history = replay_case(audit, topics, uuid.UUID(case["case_id"]), auditor)
    assert [entry["type"].split(".")[3] for entry in history] == [
        "ChildRegistered",
        "HandedOver",
        "CaseErased",
    ]
    registered = history[0]["data"]
    assert registered["name"] == registered["release_place"] == "[erased]"
    assert registered["how_left"] == "[erased]"
    assert registered["case_number"] == case["case_number"]
    other_history = replay_case(audit, topics, uuid.UUID(other["case_id"]), auditor)
    assert other_history[0]["data"]["name"] == other_child["body"]["name"]

    marker = erased_child["marker"].encode()
    assert files_containing(marker, files_under(kafka_broker.data_dir, tmp_path)) == []


def test_no_personal_data_in_logs_or_error_messages(settings, sqlite_env, caplog):
    child = distinctive("logs")
    runtime = build_runtime(settings, sqlite_env)
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(runtime), headers=supervisor_headers(settings)) as client:
        refused = [
            client.post("/cases", json={**child["body"], "name": child["marker"] * 30}),
            client.post("/cases", json={**child["body"], "estimated_age": child["marker"]}),
            client.post("/cases", json={**child["body"], "father": child["marker"]}),
        ]
        created = client.post("/cases", json=child["body"]).json()
        read_messages(as_admin(settings), INTAKE_TOPIC, key=created["case_id"], expect=2)
        time.sleep(0.5)
    assert [response.status_code for response in refused] == [422, 422, 422]
    for response in refused:
        assert child["marker"] not in response.text
    assert caplog.records, "the test must have captured the service's logs"
    assert child["marker"] not in caplog.text
    # Nor the service's Kafka password, which its clients (topic creation too) sign in with.
    assert runtime.kafka.password() not in caplog.text


def test_a_service_without_its_master_key_refuses_to_start(settings, sqlite_env, tmp_path):
    keyless = settings.model_copy(update={"master_key": None, "master_key_file": None})
    with pytest.raises(MasterKeyError, match="no master key"):
        build_runtime(keyless, sqlite_env)

    build_runtime(settings, sqlite_env).application.close()  # makes the keyring
    other_key = settings.model_copy(update={"master_key": SecretStr(generate_master_key())})
    with pytest.raises(MasterKeyError, match="does not open this keyring"):
        build_runtime(other_key, sqlite_env)

    lost_file = settings.model_copy(
        update={"master_key": None, "master_key_file": tmp_path / "gone.key"}
    )
    with pytest.raises(MasterKeyError, match="cannot read the master key file"):
        build_runtime(lost_file, sqlite_env)


def test_the_command_line_refuses_to_serve_without_a_master_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "serve", "intake", "--port", "18999"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOMEWARD_DATA_DIR": str(tmp_path),
            "HOMEWARD_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "no master key" in result.stderr
    assert not (tmp_path / "intake.sqlite3").exists(), "nothing may be written without a key"
