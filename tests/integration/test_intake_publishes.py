"""A child registered over HTTP reaches `homeward.intake.events` as a CloudEvent that a partner
reads with a plain Kafka client; on SQLite and on PostgreSQL."""

import uuid
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from services.intake.messages import CATALOGUE
from services.intake.service import build_runtime, create_app
from shared.envelope import CloudEvent, event_id
from shared.publishing import load_schema
from tests.conftest import as_admin
from tests.partner import as_json, read_messages
from tests.samples import registration
from tests.signin import admin_headers, staff_headers


def test_registered_child_is_published_as_a_cloudevent(settings, event_store_env):
    runtime = build_runtime(settings, event_store_env)
    with TestClient(create_app(runtime), headers=staff_headers(runtime.settings)) as client:
        response = client.post("/cases", json=registration())
        assert response.status_code == 201, response.text
        case = response.json()
        records = read_messages(
            as_admin(settings), "homeward.intake.events", key=case["case_id"], expect=2
        )
        anonymous = client.get("/healthz", headers={"Authorization": ""}).json()
        health = client.get("/healthz/details", headers=admin_headers(settings)).json()
        # The schema a real message names, from the service that published it.
        dataschema = urlsplit(as_json(records[0])["dataschema"])
        served_schema = client.get(dataschema.path).json()

    assert [as_json(r)["type"] for r in records] == [
        "org.homeward.intake.ChildRegistered.v2",
        "org.homeward.intake.HandedOver.v2",
    ]
    registered = as_json(records[0])
    case_id = uuid.UUID(case["case_id"])
    assert registered["specversion"] == "1.0"
    assert registered["id"] == str(event_id(case_id, 1))
    assert registered["source"] == "/homeward/intake"
    assert registered["subject"] == case["case_id"]
    assert registered["partitionkey"] == case["case_id"]
    assert registered["sequence"] == "00000000000000000001"
    assert registered["dataschema"] == (
        "http://127.0.0.1:8001/schemas/org.homeward.intake.ChildRegistered.v2"
    )
    assert (dataschema.scheme, dataschema.netloc) == ("http", "127.0.0.1:8001")
    assert served_schema == load_schema("intake", "ChildRegistered", 2)
    assert registered["datacontenttype"] == "application/json"
    assert registered["time"].endswith("Z") or "+00:00" in registered["time"]
    assert dict(records[0].headers)["content-type"].startswith(b"application/cloudevents+json")
    assert registered["data"]["case_number"] == case["case_number"]
    sealed_place = registered["data"]["release_place"]
    assert sealed_place["alg"] == "A256GCM"
    case_key = runtime.application.case_keys.for_opening(case_id, "test")
    assert case_key.open("release_place", sealed_place) == "Kalehe, near the river crossing"
    assert case_key.open("name", registered["data"]["name"]) == "Amani Zawadi-Kuvuka"
    assert registered["caseid"] == case["case_id"]
    # Sealed by default: party, kind, age and sex are as sealed as the name.
    assert case_key.open("armed_group", registered["data"]["armed_group"]) == (
        "Raia Mutomboki faction"
    )
    for quasi_identifier in ("armed_group_kind", "estimated_age", "sex", "roles", "released_on"):
        assert registered["data"][quasi_identifier]["alg"] == "A256GCM", quasi_identifier
    assert registered["data"]["registering_agency"] == "CD-KIN"  # allow-listed
    # One case's events share a partition and keep their order.
    assert records[0].partition == records[1].partition
    assert as_json(records[1])["sequence"] == "00000000000000000002"
    for record in records:
        CATALOGUE.validate(CloudEvent.from_bytes(record.value))
    assert anonymous == {"status": "up"}
    assert health["status"] == "ok"
    assert health["relay"]["waiting"] == 0


def test_case_numbers_are_unique_per_agency(settings, sqlite_env):
    runtime = build_runtime(settings, sqlite_env)
    client = TestClient(
        create_app(runtime), headers=staff_headers(runtime.settings)
    )  # no lifespan: the relay need not run here
    numbers = [client.post("/cases", json=registration()).json()["case_number"] for _ in range(3)]
    other = client.post(
        "/cases",
        json=registration(registering_agency="SS-JUB"),
        headers=staff_headers(settings, agency="SS-JUB"),
    ).json()
    assert len(set(numbers)) == 3
    assert numbers[0].startswith("CD-KIN-")
    assert numbers[0].endswith("-00001")
    assert other["case_number"].startswith("SS-JUB-")
    assert other["case_number"].endswith("-00001")
    runtime.application.close()
